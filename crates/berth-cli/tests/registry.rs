//! End-to-end distribution: `berth registry serve` with htpasswd auth, two
//! daemons with private data roots, driven through the `berth` CLI (login,
//! push, pull by tag and digest, run). Needs root, overlayfs and Debian's
//! busybox-static.

mod common;

use common::{image_id, scratch, Daemon, Registry};

const HTPASSWD: &str = "tester:$2b$10$x4PqjbT8ZdFN9wW.k/1lwOHKiw7iqg6s60ekmok/JrOTB2Zf6jTkG\n";

/// `berth registry serve` on a free loopback port, with auth tester / s3cret.
fn registry(name: &str) -> Registry {
    let dir = scratch(&format!("reg-{name}-registry"));
    std::fs::write(dir.join("htpasswd"), HTPASSWD).unwrap();
    let htpasswd = dir.join("htpasswd").display().to_string();
    Registry::berth_in(dir, "127.0.0.1", &["--htpasswd", &htpasswd])
}

impl Daemon {
    fn login(&self, reg: &Registry) {
        let out = self.cli_in(
            &["login", "-u", "tester", "--password-stdin", &reg.addr],
            "s3cret\n",
        );
        assert!(
            out.status.success(),
            "login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded\n");
    }
}

#[test]
fn push_then_pull_by_tag_and_digest_into_another_daemon() {
    let reg = registry("roundtrip");
    let a = Daemon::start("reg-a");
    a.busybox();
    a.login(&reg);
    let image = format!("{}/e2e/bb:v1", reg.addr);
    a.ok(&["tag", "busybox", &image]);
    let out = a.ok(&["push", &image]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/e2e/bb]",
            reg.addr
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed\n"), "{out}");
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    // A second push finds every blob in place.
    let again = a.ok(&["push", &image]);
    assert!(again.contains(": Layer already exists\n"), "{again}");
    assert!(!again.contains(": Pushed\n"), "{again}");
    let pushed_digests = a.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &image]);
    assert!(
        pushed_digests.contains("/e2e/bb@sha256:"),
        "{pushed_digests}"
    );

    let b = Daemon::start("reg-b");
    b.login(&reg);
    let out = b.ok(&["pull", &image]);
    assert!(out.starts_with("v1: Pulling from e2e/bb\n"), "{out}");
    assert!(out.contains(": Pull complete\n"), "{out}");
    assert!(!out.contains("Downloading"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {image}\n")),
        "{out}"
    );
    assert!(out.ends_with(&format!("{image}\n")), "{out}");
    assert_eq!(
        b.ok(&["run", "--rm", &image, "echo", "pulled-ok"]),
        "pulled-ok\n"
    );
    // Same image id as the one pushed: the config bytes travelled unchanged.
    assert_eq!(
        b.ok(&["image", "inspect", "-f", "{{.Id}}", &image]),
        a.ok(&["image", "inspect", "-f", "{{.Id}}", &image])
    );
    let again = b.ok(&["pull", &image]);
    assert!(
        again.contains(&format!("Status: Image is up to date for {image}")),
        "{again}"
    );

    let digest = b.ok(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", &image]);
    let digest = digest.trim();
    assert!(
        digest.starts_with(&format!("{}/e2e/bb@sha256:", reg.addr)),
        "{digest}"
    );
    b.ok(&["rmi", &image]);
    b.ok(&["pull", "-q", digest]);
    assert_eq!(
        b.ok(&["run", "--rm", digest, "echo", "by-digest"]),
        "by-digest\n"
    );

    let missing = b.cli(&["pull", &format!("{}/e2e/nosuch:v1", reg.addr)]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("manifest unknown"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[test]
fn auth_is_refused_without_login() {
    let reg = registry("auth");
    let a = Daemon::start("reg-auth");
    a.busybox();
    let image = format!("{}/e2e/bb:v1", reg.addr);
    a.ok(&["tag", "busybox", &image]);
    let out = a.cli(&["push", &image]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no basic auth credentials"), "{err}");

    let bad = a.cli_in(
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        "wrong\n",
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            reg.addr
        )),
        "{err}"
    );
    a.login(&reg);
    a.ok(&["push", "-q", &image]);
    let out = a.ok(&["logout", &reg.addr]);
    assert_eq!(
        out,
        format!("Removing login credentials for {}\n", reg.addr)
    );
    a.ok(&["rmi", &image]);
    let out = a.cli(&["pull", &image]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no basic auth credentials"));
}

#[test]
fn corrupted_blob_is_rejected_on_pull() {
    let reg = registry("corrupt");
    let a = Daemon::start("reg-corrupt-a");
    a.busybox();
    a.login(&reg);
    let image = format!("{}/e2e/bb:v1", reg.addr);
    a.ok(&["tag", "busybox", &image]);
    a.ok(&["push", "-q", &image]);
    // The layer is the only big blob; flip its bytes in place.
    let layer = reg
        .blobs()
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut data = std::fs::read(&layer).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&layer, data).unwrap();

    let b = Daemon::start("reg-corrupt-b");
    b.login(&reg);
    let entries = |dir: &str| store_entries(&b, dir);
    let (snapshots, blobs) = (entries("overlay"), entries("content/sha256"));
    let out = b.cli(&["pull", &image]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("filesystem layer verification failed for digest sha256:"),
        "{err}"
    );
    assert!(!b.cli(&["image", "inspect", &image]).status.success());
    assert_eq!(
        b.ok(&["images", "-q"]).lines().count(),
        1,
        "only hello-world"
    );
    // The layer was streamed into the store: nothing of it is left.
    assert_eq!(entries("overlay"), snapshots);
    assert_eq!(entries("content/sha256"), blobs);
}

/// Builds `tag` in `d` on busybox with three more layers: random data in
/// each (so every layer blob is ~3 MB), and in the last one a file of the
/// first deleted (a whiteout) and a directory of the first replaced (an
/// opaque dir).
fn build_layered(d: &Daemon, tag: &str) {
    d.busybox();
    let ctx = d.root.join("layered");
    std::fs::create_dir_all(&ctx).unwrap();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(ctx.join("big.bin"), big).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\n\
         RUN mkdir -p /data/opq && echo one > /data/keep && echo gone > /data/gone \
             && echo old > /data/opq/old && head -c 3000000 /dev/urandom > /data/r1\n\
         COPY big.bin /data/big.bin\n\
         RUN rm /data/gone && rm -rf /data/opq && mkdir /data/opq && echo new > /data/opq/new \
             && echo three >> /data/keep && head -c 3000000 /dev/urandom > /data/r3\n",
    )
    .unwrap();
    d.ok(&["build", "-q", "-t", tag, ctx.to_str().unwrap()]);
    assert_eq!(
        d.ok(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", tag]),
        "4\n"
    );
}

/// What a container of the layered image sees.
const LAYERED_VIEW: &str = "cat /data/keep; ls -A /data/opq; test -e /data/gone || echo no-gone; \
     md5sum /data/big.bin /data/r1 /data/r3 | cut -d' ' -f1";

/// The layer blob digests of `reg`'s only image manifest, bottom first.
fn manifest_layers(reg: &Registry) -> Vec<String> {
    let manifest = reg
        .blobs()
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|b| b.len() < 64 << 10)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .find(|t| t.contains("\"schemaVersion\""))
        .expect("a manifest among the blobs");
    // The config descriptor comes first, then the layers in order.
    let digests: Vec<String> = manifest
        .match_indices("sha256:")
        .map(|(i, _)| manifest[i..i + 71].to_string())
        .collect();
    digests[1..].to_vec()
}

/// A layered image pushed to `berth registry serve` and pulled into a
/// fresh daemon, where every layer streams into a staged snapshot at once
/// and they are committed in order: the container sees the merged view
/// (whiteout and opaque dir included) exactly as the pushing daemon does.
#[test]
fn multi_layer_image_streams_into_a_fresh_daemon() {
    let reg = Registry::start("layered");
    let a = Daemon::start("reg-layered-a");
    let image = format!("{}/e2e/layered:v1", reg.addr);
    build_layered(&a, &image);
    a.ok(&["push", "-q", &image]);
    let want = a.ok(&["run", "--rm", &image, "sh", "-c", LAYERED_VIEW]);
    assert!(want.starts_with("one\nthree\nnew\nno-gone\n"), "{want}");
    assert_eq!(manifest_layers(&reg).len(), 4);

    let b = Daemon::start("reg-layered-b");
    let out = b.ok(&["pull", &image]);
    for status in ["Pulling fs layer", "Download complete", "Pull complete"] {
        assert_eq!(
            out.matches(&format!(": {status}\n")).count(),
            4,
            "{status}: {out}"
        );
    }
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {image}\n")),
        "{out}"
    );
    assert_eq!(image_id(&b, &image), image_id(&a, &image));
    assert_eq!(
        b.ok(&["run", "--rm", &image, "sh", "-c", LAYERED_VIEW]),
        want
    );
    // Layers already there are skipped: only the last one is pulled again.
    b.ok(&["rmi", &image]);
    let base = format!("{}/e2e/base:v1", reg.addr);
    a.ok(&["tag", "busybox", &base]);
    a.ok(&["push", "-q", &base]);
    b.ok(&["pull", "-q", &base]);
    let out = b.ok(&["pull", &image]);
    assert_eq!(out.matches(": Already exists\n").count(), 1, "{out}");
    assert_eq!(out.matches(": Pull complete\n").count(), 3, "{out}");
    assert_eq!(
        b.ok(&["run", "--rm", &image, "sh", "-c", LAYERED_VIEW]),
        want
    );
}

/// A corrupt 2nd or 3rd layer of four fails the pull while the others
/// stream beside it, and nothing of the pull stays: no snapshot dir, link,
/// layer or blob (the layer below it was already committed, and is removed
/// again). With the blob repaired the same daemon pulls the image.
#[test]
fn corrupt_middle_layer_fails_the_pull_and_keeps_nothing() {
    let reg = Registry::start("corrupt-mid");
    let a = Daemon::start("reg-corrupt-mid-a");
    let image = format!("{}/e2e/layered:v1", reg.addr);
    build_layered(&a, &image);
    a.ok(&["push", "-q", &image]);
    let layers = manifest_layers(&reg);
    assert_eq!(layers.len(), 4);

    let b = Daemon::start("reg-corrupt-mid-b");
    let entries = |dir: &str| store_entries(&b, dir);
    let before = (
        entries("overlay"),
        entries("overlay/l"),
        entries("content/sha256"),
    );
    for bad in [&layers[1], &layers[2]] {
        let path = reg
            .root
            .join("storage/blobs/sha256")
            .join(bad.trim_start_matches("sha256:"));
        let good = std::fs::read(&path).unwrap();
        let mut data = good.clone();
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        std::fs::write(&path, data).unwrap();

        let out = b.cli(&["pull", &image]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "filesystem layer verification failed for digest {bad}"
            )),
            "{err}"
        );
        assert!(!b.cli(&["image", "inspect", &image]).status.success());
        assert_eq!(
            b.ok(&["images", "-q"]).lines().count(),
            1,
            "only hello-world"
        );
        let after = (
            entries("overlay"),
            entries("overlay/l"),
            entries("content/sha256"),
        );
        assert_eq!(after, before, "corrupt {bad}");
        std::fs::write(&path, good).unwrap();
    }
    let out = b.ok(&["pull", &image]);
    assert_eq!(out.matches(": Pull complete\n").count(), 4, "{out}");
    assert_eq!(
        b.ok(&["run", "--rm", &image, "sh", "-c", LAYERED_VIEW]),
        a.ok(&["run", "--rm", &image, "sh", "-c", LAYERED_VIEW])
    );
}

/// The sorted names in `dir` below the daemon's data root (none if absent).
fn store_entries(d: &Daemon, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d.data().join(dir))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
