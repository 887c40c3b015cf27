//! End-to-end distribution: `berth registry serve` with htpasswd auth, two
//! daemons with private data roots, driven through the `berth` CLI (login,
//! push, pull by tag and digest, run). Needs root, overlayfs and Debian's
//! busybox-static.

mod common;

use common::{scratch, Daemon, Registry};

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
    let entries = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(b.root.join("data").join(dir))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
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
