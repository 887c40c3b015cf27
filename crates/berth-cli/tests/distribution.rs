//! End-to-end distribution against `berth registry serve` on loopback (no
//! auth): `pull -a` / `push -a` through the berth CLI and the stock docker
//! CLI, and peers (skopeo) reading and writing berth's registry. Needs root,
//! overlayfs and Debian's busybox-static; the skopeo cases need `skopeo`.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{image_id, ok_output, text, Daemon, HostAddr, Registry};

/// The stock docker CLI against a berth daemon.
fn docker(d: &Daemon, args: &[&str]) -> Output {
    d.docker(args)
}

/// busybox plus a second image with the same layer and another config.
fn two_images(d: &Daemon, repo: &str) {
    d.busybox();
    d.ok(&["tag", "busybox:latest", &format!("{repo}:v1")]);
    let tar = common::busybox_tar(&d.root);
    d.ok(&[
        "import",
        "-c",
        "ENV SECOND=1",
        tar.to_str().unwrap(),
        &format!("{repo}:v2"),
    ]);
}

#[test]
fn push_and_pull_all_tags_with_berth_and_docker() {
    let reg = Registry::start("alltags");
    let a = Daemon::start("dist-alltags-a");
    let repo = format!("{}/x", reg.addr);
    two_images(&a, &repo);

    let err = a.cli(&["push", "-a", &format!("{repo}:v1")]);
    assert!(!err.status.success());
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("tag can't be used with --all-tags/-a"),
        "{err:?}"
    );

    let out = a.ok(&["push", "-a", &repo]);
    assert_eq!(
        out.matches(&format!("The push refers to repository [{repo}]"))
            .count(),
        1,
        "{out}"
    );
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    assert!(out.contains("v2: digest: sha256:"), "{out}");
    assert!(!out.contains("Using default tag"), "{out}");
    let v1 = image_id(&a, &format!("{repo}:v1"));
    let v2 = image_id(&a, &format!("{repo}:v2"));
    assert_ne!(v1, v2);

    // The other daemon pulls every tag the registry lists.
    let b = Daemon::start("dist-alltags-b");
    let err = b.cli(&["pull", "-a", &format!("{repo}:v1")]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("tag can't be used with --all-tags/-a"));
    let out = b.ok(&["pull", "-a", &repo]);
    assert!(out.contains("v1: Pulling from x"), "{out}");
    assert!(out.contains("v2: Pulling from x"), "{out}");
    assert!(!out.contains("Using default tag"), "{out}");
    assert_eq!(out.matches("Digest: sha256:").count(), 2, "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {repo}\n")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some(repo.as_str()), "{out}");
    assert_eq!(image_id(&b, &format!("{repo}:v1")), v1);
    assert_eq!(image_id(&b, &format!("{repo}:v2")), v2);

    // The stock docker CLI: the same API without a tag.
    let out = ok_output("docker pull -a", docker(&b, &["pull", "-a", &repo]));
    assert!(
        out.contains(&format!("Status: Image is up to date for {repo}")),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some(repo.as_str()), "{out}");
    b.ok(&["rmi", &format!("{repo}:v2")]);
    let out = ok_output(
        "docker pull --all-tags",
        docker(&b, &["pull", "--all-tags", &repo]),
    );
    assert!(out.contains("v2: Pulling from x"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {repo}")),
        "{out}"
    );
    assert_eq!(image_id(&b, &format!("{repo}:v2")), v2);

    // docker push -a of a second repository from daemon b.
    let other = format!("{}/y", reg.addr);
    b.ok(&["tag", &format!("{repo}:v1"), &format!("{other}:one")]);
    b.ok(&["tag", &format!("{repo}:v2"), &format!("{other}:two")]);
    let out = ok_output("docker push -a", docker(&b, &["push", "-a", &other]));
    assert!(out.contains("one: digest: sha256:"), "{out}");
    assert!(out.contains("two: digest: sha256:"), "{out}");
    let out = a.ok(&["pull", "-a", &other]);
    assert!(out.contains("one: Pulling from y"), "{out}");
    assert_eq!(image_id(&a, &format!("{other}:two")), v2);

    // No local tag of a repository: Docker's message.
    let out = a.cli(&["push", "-a", &format!("{}/nothing", reg.addr)]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("An image does not exist locally with the tag"),
        "{out:?}"
    );
}

fn have_skopeo() -> bool {
    Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("skopeo");
    ok_output(&format!("skopeo {args:?}"), out)
}

fn repo_digest(d: &Daemon, name: &str, repo: &str) -> String {
    let out = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{range .RepoDigests}}{{println .}}{{end}}",
        name,
    ]);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{repo}@")))
        .unwrap_or_else(|| panic!("no RepoDigest for {repo} in {out:?}"))
        .to_string()
}

fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    let sum = text(&out);
    format!("sha256:{}", sum.split_whitespace().next().unwrap_or(""))
}

#[test]
fn skopeo_reads_what_berth_pushed() {
    if !have_skopeo() {
        eprintln!("skipping: skopeo is not installed");
        return;
    }
    let reg = Registry::start("skopeo-read");
    let d = Daemon::start("dist-skopeo-read");
    d.busybox();
    let repo = format!("{}/peer/bb", reg.addr);
    d.ok(&["tag", "busybox:latest", &format!("{repo}:t1")]);
    d.ok(&["push", &format!("{repo}:t1")]);
    let digest = repo_digest(&d, &format!("{repo}:t1"), &repo);

    let out = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{repo}:t1"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Digest"], digest.as_str(), "{out}");
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{repo}:t1"),
    ]);
    let raw: serde_json::Value = serde_json::from_str(&raw).unwrap();
    // The manifest's config is the image berth has.
    assert_eq!(
        raw["config"]["digest"].as_str().unwrap(),
        image_id(&d, &format!("{repo}:t1"))
    );

    let dir = d.root.join("oci-copy");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{repo}:t1"),
        &format!("oci:{}:t1", dir.display()),
    ]);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"].as_str().unwrap();
    let (_, hex) = m.split_once(':').unwrap();
    let mpath = dir.join("blobs/sha256").join(hex);
    // skopeo keeps the compressed layers as they are, so the manifest may
    // only differ in media types; every blob it names is stored and verified.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    assert_eq!(sha256_file(&mpath), m);
    for l in manifest["layers"].as_array().unwrap() {
        let d = l["digest"].as_str().unwrap();
        let p = dir.join("blobs/sha256").join(d.split_once(':').unwrap().1);
        assert_eq!(sha256_file(&p), d);
    }
    // Converting to an OCI manifest rewrites the config as OCI JSON, so
    // compare what it describes: the same layers.
    let config = manifest["config"]["digest"].as_str().unwrap();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dir.join("blobs/sha256")
                .join(config.split_once(':').unwrap().1),
        )
        .unwrap(),
    )
    .unwrap();
    let ours = d.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        &format!("{repo}:t1"),
    ]);
    let ours: serde_json::Value = serde_json::from_str(ours.trim()).unwrap();
    assert_eq!(config["rootfs"]["diff_ids"], ours);

    // `dir:` keeps the manifest as served: byte for byte the RepoDigest.
    let plain = d.root.join("dir-copy");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{repo}:t1"),
        &format!("dir:{}", plain.display()),
    ]);
    assert_eq!(sha256_file(&plain.join("manifest.json")), digest);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plain.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["config"]["digest"].as_str().unwrap(),
        image_id(&d, &format!("{repo}:t1"))
    );
}

#[test]
fn berth_pulls_what_skopeo_pushed() {
    if !have_skopeo() {
        eprintln!("skipping: skopeo is not installed");
        return;
    }
    let reg = Registry::start("skopeo-write");
    let d = Daemon::start("dist-skopeo-write");
    d.busybox();
    let id = image_id(&d, "busybox:latest");
    let archive = d.root.join("bb.tar");
    d.ok(&["save", "-o", archive.to_str().unwrap(), "busybox:latest"]);

    // A docker-archive from berth's save, and the OCI layout skopeo makes of it.
    let from_archive = format!("{}/peer/archive:1", reg.addr);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("docker-archive:{}", archive.display()),
        &format!("docker://{from_archive}"),
    ]);
    let layout = d.root.join("layout");
    skopeo(&[
        "copy",
        &format!("docker-archive:{}", archive.display()),
        &format!("oci:{}:bb", layout.display()),
    ]);
    let from_oci = format!("{}/peer/oci:1", reg.addr);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:bb", layout.display()),
        &format!("docker://{from_oci}"),
    ]);
    // A registry of its own: skopeo's blob cache would otherwise reuse the
    // gzip blob it just pushed instead of compressing with zstd.
    let zreg = Registry::start("skopeo-zstd");
    let zstd = format!("{}/peer/zstd:1", zreg.addr);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "oci",
        "--dest-compress-format",
        "zstd",
        "--dest-compress",
        &format!("docker-archive:{}", archive.display()),
        &format!("docker://{zstd}"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{zstd}"),
    ]);
    assert!(raw.contains("zstd"), "not zstd layers: {raw}");

    // A fresh daemon pulls and runs each.
    let p = Daemon::start("dist-skopeo-pull");
    for name in [&from_archive, &from_oci, &zstd] {
        let out = p.ok(&["pull", name]);
        assert!(out.contains("Status: Downloaded newer image"), "{out}");
        let got = image_id(&p, name);
        if name == &from_archive {
            // Same config bytes: same image id as the daemon that saved it
            // (an OCI manifest comes with skopeo's rewritten config).
            assert_eq!(got, id, "{name}");
        }
        let run = p.ok(&["run", "--rm", name, "cat", "/etc/group"]);
        assert!(run.contains("root:x:0:"), "{name}: {run}");
    }
}

#[test]
fn search_a_berth_registry_with_berth_and_docker() {
    let reg = Registry::start("search");
    let d = Daemon::start("dist-search");
    let tar = common::busybox_tar(&d.root);
    let long = "A small image with a rather long description that docker cuts";
    for (name, desc) in [("web/frontend", long), ("web/backend", "api"), ("db", "")] {
        let r = format!("{}/{name}:latest", reg.addr);
        let label = format!("LABEL org.opencontainers.image.description=\"{desc}\"");
        d.ok(&["import", "-c", &label, tar.to_str().unwrap(), &r]);
        d.ok(&["push", &r]);
    }
    let term = format!("{}/web", reg.addr);

    let out = d.ok(&["search", &term]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert!(
        lines[0].contains("DESCRIPTION")
            && lines[0].contains("STARS")
            && lines[0].contains("OFFICIAL")
    );
    assert!(
        out.contains("web/backend") && out.contains("web/frontend"),
        "{out}"
    );
    assert!(!out.contains("db"), "{out}");
    let cut: String = long.chars().take(44).collect();
    assert!(out.contains(&format!("{cut}…")), "{out}");
    assert!(!out.contains(long), "{out}");
    assert!(d.ok(&["search", "--no-trunc", &term]).contains(long));

    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["search", "--format", "{{.Name}}"];
        a.extend_from_slice(args);
        a.push(&term);
        let mut v: Vec<String> = d.ok(&a).lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["web/backend", "web/frontend"]);
    assert_eq!(names(&["--limit", "1"]).len(), 1);
    assert!(names(&["--filter", "stars=1"]).is_empty());
    assert_eq!(names(&["--filter", "stars=0"]).len(), 2);
    assert!(names(&["--filter", "is-official=true"]).is_empty());
    assert_eq!(names(&["--filter", "is-official=false"]).len(), 2);
    let fmt = d.ok(&[
        "search",
        "--format",
        "{{.Name}}|{{.StarCount}}|{{.IsOfficial}}|{{.Description}}",
        &format!("{}/backend", reg.addr),
    ]);
    assert_eq!(fmt, "web/backend|0||api\n");

    let bad = d.cli(&["search", "--limit", "101", &term]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("limit 101 is outside the range of [1, 100]"),
        "{bad:?}"
    );
    let bad = d.cli(&["search", "--filter", "color=red", &term]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalid filter 'color'"),
        "{bad:?}"
    );

    // The stock docker CLI renders the same answers.
    let berth_table = d.ok(&["search", &term]);
    let docker_table = ok_output("docker search", docker(&d, &["search", &term]));
    assert_eq!(docker_table, berth_table);
    let out = ok_output(
        "docker search --filter",
        docker(
            &d,
            &[
                "search",
                "--filter",
                "is-official=false",
                "--limit",
                "1",
                "--no-trunc",
                "--format",
                "{{.Name}} {{.Description}}",
                &term,
            ],
        ),
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    let out = ok_output(
        "docker search stars",
        docker(
            &d,
            &["search", "-f", "stars=3", "--format", "{{.Name}}", &term],
        ),
    );
    assert_eq!(out, "");
}

fn ids(d: &Daemon, args: &[&str]) -> Vec<String> {
    let mut a = vec!["images", "-q", "--no-trunc"];
    a.extend_from_slice(args);
    let mut v: Vec<String> = d.ok(&a).lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn image_prune_dangling_and_digests() {
    let reg = Registry::start("prune");
    let d = Daemon::start("dist-prune");
    d.busybox();
    // A container keeps its image from every prune below.
    d.ok(&["create", "--name", "user", "busybox", "true"]);
    let tar = common::busybox_tar(&d.root);
    let import = |changes: &str, name: &str| {
        d.ok(&["import", "-c", changes, tar.to_str().unwrap(), name]);
        image_id(&d, name)
    };
    // Re-tagging app:1 leaves the first image dangling.
    let old = import("ENV V=1", "app:1");
    let new = import("ENV V=2", "app:1");
    assert_ne!(old, new);
    assert_eq!(
        ids(&d, &["-f", "dangling=true"]),
        std::slice::from_ref(&old)
    );
    let table = d.ok(&["images"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("<none>") && l.contains(&old[7..19])),
        "{table}"
    );
    assert!(!ids(&d, &["-f", "dangling=false"]).contains(&old));

    // Plain prune: dangling only; tagged images stay.
    let out = d.ok(&["image", "prune", "-f"]);
    assert!(out.starts_with("Deleted Images:\n"), "{out}");
    assert!(out.contains(&format!("deleted: {old}")), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(ids(&d, &[]).contains(&new));
    assert!(ids(&d, &["-f", "dangling=true"]).is_empty());
    let out = d.ok(&["image", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");

    // Labels and until, with -a (unused tagged images too).
    let keep = import("LABEL tier=keep", "lab:keep");
    let drop = import("LABEL tier=drop", "lab:drop");
    let out = d.ok(&["image", "prune", "-a", "-f", "--filter", "label=tier=drop"]);
    assert!(out.contains("untagged: lab:drop"), "{out}");
    assert!(out.contains(&format!("deleted: {drop}")), "{out}");
    let all = ids(&d, &[]);
    assert!(!all.contains(&drop) && all.contains(&keep) && all.contains(&new));
    // Everything is younger than an hour: nothing goes.
    let out = d.ok(&["image", "prune", "-a", "-f", "--filter", "until=1h"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = d.ok(&["image", "prune", "-a", "-f", "--filter", "label!=tier=keep"]);
    assert!(out.contains(&format!("deleted: {new}")), "{out}");
    assert!(ids(&d, &[]).contains(&keep));

    let bb = image_id(&d, "busybox");
    std::thread::sleep(Duration::from_secs(2));
    let out = d.ok(&["image", "prune", "-a", "-f", "--filter", "until=1s"]);
    assert!(out.contains(&format!("deleted: {keep}")), "{out}");
    assert_eq!(ids(&d, &[]), std::slice::from_ref(&bb));

    // --digests: a pushed tag shows its repository digest, others <none>.
    let repo = format!("{}/dg", reg.addr);
    d.ok(&["tag", "busybox", &format!("{repo}:1")]);
    d.ok(&["push", &format!("{repo}:1")]);
    let digest = repo_digest(&d, &format!("{repo}:1"), &repo);
    let fmt = "{{.Repository}} {{.Tag}} {{.Digest}}";
    let out = d.ok(&["images", "--digests", "--format", fmt]);
    assert!(out.contains(&format!("{repo} 1 {digest}\n")), "{out}");
    assert!(out.contains("busybox latest <none>\n"), "{out}");
    let table = d.ok(&["images", "--digests"]);
    assert!(table.lines().next().unwrap().contains("DIGEST"), "{table}");
    // The docker CLI sees the same rows (in its map order: one image has
    // both repositories here).
    let theirs = ok_output(
        "docker images --digests",
        docker(&d, &["images", "--digests", "--format", fmt]),
    );
    let sorted = |s: &str| {
        let mut v: Vec<String> = s.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&theirs), sorted(&out));

    // An image known only by digest is listed with <none> as tag, counts as
    // dangling for prune (Docker deletes untagged images even with digests).
    d.ok(&["rm", "user"]);
    d.ok(&["rmi", &format!("{repo}:1")]);
    d.ok(&["pull", &format!("{repo}@{digest}")]);
    let out = d.ok(&["images", "--digests", "--format", fmt]);
    assert!(out.contains(&format!("{repo} <none> {digest}")), "{out}");
    let theirs = ok_output("docker image prune", docker(&d, &["image", "prune", "-f"]));
    let ours_now = ids(&d, &[]);
    assert_eq!(ours_now, [bb], "{theirs}");
}

/// `--insecure-registry` (a CIDR) lets the daemon speak plain HTTP to a
/// registry on a non-loopback address, which it otherwise reaches over
/// HTTPS only; `--registry-mirror` serves pulls of Docker Hub names (there
/// is no internet here, so only the mirror can answer); `info` shows both.
#[test]
fn insecure_registries_and_mirrors() {
    let ip = format!("198.18.{}.1", std::process::id() % 250);
    let _addr = HostAddr::add(&ip);
    let reg = Registry::berth("insecure", &ip, &[]);
    let plain = Daemon::start("dist-secure");
    plain.busybox();
    let mirror = format!("http://{}", reg.addr);
    let d = Daemon::start_with(
        "dist-insecure",
        &[
            "--insecure-registry",
            &format!("{ip}/24"),
            "--registry-mirror",
            &mirror,
        ],
    );
    d.busybox();
    let remote = format!("{}/t/bb:v1", reg.addr);

    plain.ok(&["tag", "busybox", &remote]);
    let refused = plain.cli(&["push", &remote]);
    assert!(
        !refused.status.success(),
        "pushed over HTTP without --insecure-registry"
    );

    d.ok(&["tag", "busybox", &remote]);
    d.ok(&["push", &remote]);
    d.ok(&["rmi", &remote]);
    d.ok(&["pull", &remote]);

    // Docker Hub's library/mirrored, served by the mirror alone.
    let hub_copy = format!("{}/library/mirrored:v1", reg.addr);
    d.ok(&["tag", "busybox", &hub_copy]);
    d.ok(&["push", &hub_copy]);
    let pulled = d.ok(&["pull", "mirrored:v1"]);
    assert!(pulled.contains("docker.io/library/mirrored:v1"), "{pulled}");
    let out = d.ok(&["run", "--rm", "mirrored:v1", "echo", "from-mirror"]);
    assert_eq!(out.trim(), "from-mirror");
    // Without a mirror Docker Hub cannot be reached here.
    assert!(!plain.cli(&["pull", "mirrored:v1"]).status.success());

    let info = d.ok(&["info", "--format", "{{json .RegistryConfig}}"]);
    assert!(info.contains(&format!("{ip}/24")), "{info}");
    assert!(info.contains(&format!("{mirror}/")), "{info}");
    // The stock docker CLI lists them too.
    let shown = ok_output("docker info", docker(&d, &["info"]));
    assert!(shown.contains("Insecure Registries"), "{shown}");
    assert!(shown.contains(&format!("{mirror}/")), "{shown}");
}

/// Debian's `docker-registry` (the reference distribution server) as the
/// peer: berth pushes to it and pulls back from it into another daemon.
#[test]
fn berth_pushes_to_and_pulls_from_the_reference_registry() {
    let reg = Registry::reference("refreg");
    let addr = &reg.addr;
    let a = Daemon::start("refreg-a");
    a.busybox();
    let image = format!("{addr}/peer/bb:v1");
    a.ok(&["tag", "busybox", &image]);
    a.ok(&["push", &image]);
    let pushed = repo_digest(&a, &image, &format!("{addr}/peer/bb"));
    let b = Daemon::start("refreg-b");
    b.ok(&["pull", &image]);
    assert_eq!(repo_digest(&b, &image, &format!("{addr}/peer/bb")), pushed);
    assert_eq!(
        b.ok(&["run", "--rm", &image, "echo", "peer"]).trim(),
        "peer"
    );
}

/// The registry's manifest for `reference`, as served (for its length).
fn served_manifest(reg: &Registry, path: &str, reference: &str) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sf", "-H"])
        .arg("Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json")
        .arg(format!("http://{}/v2/{path}/manifests/{reference}", reg.addr))
        .output()
        .unwrap();
    assert!(out.status.success(), "no manifest {path}:{reference}");
    out.stdout
}

#[test]
fn distribution_inspect_reads_manifests_and_indexes() {
    let reg = Registry::start("dist-inspect");
    let d = Daemon::start("dist-inspect");
    d.busybox();
    let repo = format!("{}/peer/bb", reg.addr);
    d.ok(&["tag", "busybox:latest", &format!("{repo}:t1")]);
    d.ok(&["push", &format!("{repo}:t1")]);
    let digest = repo_digest(&d, &format!("{repo}:t1"), &repo);
    let size = served_manifest(&reg, "peer/bb", "t1").len();

    // By tag and by digest: the descriptor of what the registry serves and
    // the platform its image config names.
    for name in [format!("{repo}:t1"), format!("{repo}@{digest}")] {
        let (status, body) = d.api("GET", &format!("/v1.47/distribution/{name}/json"), "");
        assert_eq!(status, 200, "{name}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["Descriptor"]["digest"], digest.as_str(), "{body}");
        assert_eq!(
            v["Descriptor"]["mediaType"],
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        assert_eq!(v["Descriptor"]["size"], size, "{body}");
        assert_eq!(
            v["Platforms"],
            serde_json::json!([{"architecture": "amd64", "os": "linux"}]),
            "{body}"
        );
    }

    // Docker's answers to a missing tag or repository, a bad name and an
    // image id.
    for name in [format!("{repo}:nope"), format!("{}/peer/none:1", reg.addr)] {
        let (status, body) = d.api("GET", &format!("/distribution/{name}/json"), "");
        assert_eq!(status, 404, "{body}");
        assert_eq!(body, r#"{"message":"manifest unknown: manifest unknown"}"#);
    }
    let (status, body) = d.api("GET", "/distribution/Bad:Name:x/json", "");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("invalid reference format: repository name must be lowercase"),
        "{body}"
    );
    let id = "0123456789012345678901234567890123456789012345678901234567890123";
    let (status, body) = d.api("GET", &format!("/distribution/{id}/json"), "");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("no manifest found for full image ID"),
        "{body}"
    );

    if !have_skopeo() {
        eprintln!("skipping the index part: skopeo is not installed");
        return;
    }
    // An OCI index with two platforms, pushed by skopeo: its entries are the
    // platforms, the descriptor is the index's.
    let layout = d.root.join("multi");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{repo}:t1"),
        &format!("oci:{}:one", layout.display()),
    ]);
    let index_path = layout.join("index.json");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let m = index["manifests"][0].clone();
    let entry = |arch: &str, variant: Option<&str>| {
        let mut e = serde_json::json!({
            "mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
            "platform": {"architecture": arch, "os": "linux"}
        });
        if let Some(v) = variant {
            e["platform"]["variant"] = v.into();
        }
        e
    };
    let multi = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry("amd64", None), entry("arm64", Some("v8"))]
    }))
    .unwrap();
    let blob = layout.join("multi.json");
    std::fs::write(&blob, &multi).unwrap();
    let multi_digest = sha256_file(&blob);
    std::fs::rename(
        &blob,
        layout
            .join("blobs/sha256")
            .join(multi_digest.split_once(':').unwrap().1),
    )
    .unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": multi_digest, "size": multi.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"}
        }]
    });
    std::fs::write(&index_path, serde_json::to_vec(&top).unwrap()).unwrap();
    skopeo(&[
        "copy",
        "--multi-arch",
        "all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{repo}:multi"),
    ]);
    // skopeo may rewrite the index on the way: compare with what is served.
    let served = served_manifest(&reg, "peer/bb", "multi");
    let served_path = d.root.join("served.json");
    std::fs::write(&served_path, &served).unwrap();
    let (status, body) = d.api("GET", &format!("/distribution/{repo}:multi/json"), "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["Descriptor"]["digest"],
        sha256_file(&served_path).as_str(),
        "{body}"
    );
    assert_eq!(
        v["Descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(v["Descriptor"]["size"], served.len());
    assert_eq!(
        v["Platforms"],
        serde_json::json!([
            {"architecture": "amd64", "os": "linux"},
            {"architecture": "arm64", "os": "linux", "variant": "v8"}
        ]),
        "{body}"
    );
}
