//! End-to-end tests of container filesystem operations (diff, cp, export,
//! commit) and image archives (save/load) through the `berth` CLI against a
//! private daemon. Needs root, overlayfs and Debian's busybox-static.

use std::path::Path;
use std::time::Duration;

mod common;
use common::*;

#[test]
fn diff_cp_export_on_a_stopped_container() {
    let d = Daemon::start("fsdiff");
    d.busybox();
    d.ok(&[
        "run", "--name", "c1", "busybox", "sh", "-c",
        "busybox mkdir /newdir; echo inside > /newdir/f; busybox rm /bin/true; echo extra >> /etc/passwd",
    ]);
    let mut diff: Vec<String> = d.ok(&["diff", "c1"]).lines().map(String::from).collect();
    diff.sort();
    assert_eq!(
        diff,
        [
            "A /newdir",
            "A /newdir/f",
            "C /bin",
            "C /etc",
            "C /etc/passwd",
            "D /bin/true"
        ]
    );

    let out = d.root.join("out");
    std::fs::create_dir_all(&out).unwrap();
    d.ok(&["cp", "c1:/newdir/f", out.join("f").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(out.join("f")).unwrap(), "inside\n");
    d.ok(&["cp", "c1:/newdir", out.join("d").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("d/f")).unwrap(),
        "inside\n"
    );
    d.ok(&["cp", "c1:/newdir/.", out.to_str().unwrap()]);
    assert!(out.join("f").exists());

    // Into the stopped container, then read back by running it.
    let h = d.root.join("h");
    std::fs::write(&h, "host-data\n").unwrap();
    d.ok(&["cp", h.to_str().unwrap(), "c1:/newdir/h"]);
    let back = d.cli(&["cp", "c1:/newdir/h", "-"]);
    let mut a = tar::Archive::new(&back.stdout[..]);
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["h"]);
    d.ok(&["rm", "c1"]);
    d.ok(&["create", "--name", "c2", "busybox", "cat", "/newdir/h"]);
    d.ok(&["cp", h.to_str().unwrap(), "c2:/"]);
    let err = d.cli(&["cp", h.to_str().unwrap(), "c2:/nope/x"]);
    assert!(!err.status.success());
    assert_eq!(
        String::from_utf8_lossy(&d.cli(&["cp", "c2:/nope", "-"]).stderr).trim(),
        "Error response from daemon: Could not find the file /nope in container c2"
    );
    d.ok(&["cp", h.to_str().unwrap(), "c2:/newdir"]);
    let h2 = d.root.join("h2");
    d.ok(&["cp", "c2:/newdir", h2.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&h2).unwrap(), "host-data\n");

    let export = d.cli(&["export", "c2"]);
    assert!(export.status.success());
    let mut a = tar::Archive::new(&export.stdout[..]);
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"bin/busybox".to_string()), "{names:?}");
    assert!(names.contains(&"newdir".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("proc/")), "{names:?}");
}

/// Symlinks in a container pointing at `/`, `/etc` or up through `..` are
/// resolved inside the container, both reading and writing, running or not.
#[test]
fn cp_never_escapes_through_container_symlinks() {
    let d = Daemon::start("fsesc");
    d.busybox();
    let marker = format!("berth-escape-{}", std::process::id());
    let setup = "busybox ln -s / /hostroot; busybox ln -s ../../../../../../etc /dots; busybox ln -s /etc /etclink";
    d.ok(&["run", "--name", "stopped", "busybox", "sh", "-c", setup]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "running",
        "busybox",
        "sh",
        "-c",
        &format!("{setup}; sleep 100"),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let container_passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n";
    let host_file = d.root.join("payload");
    std::fs::write(&host_file, "payload\n").unwrap();
    for c in ["stopped", "running"] {
        for p in ["/hostroot/etc/passwd", "/dots/passwd", "/etclink/passwd"] {
            let dst = d.root.join(format!("read-{c}"));
            let _ = std::fs::remove_file(&dst);
            d.ok(&["cp", &format!("{c}:{p}"), dst.to_str().unwrap()]);
            assert_eq!(
                std::fs::read_to_string(&dst).unwrap(),
                container_passwd,
                "{c}:{p}"
            );
        }
        for p in ["/dots/", "/hostroot/etc/", "/etclink"] {
            let target = format!("{c}:{p}/{marker}");
            d.ok(&["cp", host_file.to_str().unwrap(), &target]);
            assert!(
                !Path::new("/etc").join(&marker).exists(),
                "cp {target} wrote to the host"
            );
            // It landed in the container's /etc.
            d.ok(&["cp", &format!("{c}:/etc/{marker}"), "-"]);
        }
    }
    let _ = std::fs::remove_file(Path::new("/etc").join(&marker));
}

#[test]
fn commit_makes_a_runnable_image_with_history() {
    let d = Daemon::start("fscommit");
    d.busybox();
    d.ok(&[
        "run",
        "--name",
        "cm",
        "busybox",
        "sh",
        "-c",
        "echo committed-content > /hello; busybox rm /bin/ps",
    ]);
    let id = d.ok(&[
        "commit",
        "-a",
        "A. Author",
        "-m",
        "add hello",
        "-c",
        r#"CMD ["cat","/hello"]"#,
        "cm",
        "cmimg:v1",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(d.ok(&["run", "--rm", "cmimg:v1"]), "committed-content\n");
    // The whiteout of /bin/ps was committed as a deletion.
    assert!(!d
        .cli(&["run", "--rm", "cmimg:v1", "ls", "/bin/ps"])
        .status
        .success());
    assert_eq!(
        d.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Author}}|{{.Comment}}|{{len .RootFS.Layers}}",
            "cmimg:v1"
        ]),
        "A. Author|add hello|2\n"
    );
    assert_eq!(
        d.ok(&["history", "--format", "{{.Comment}}", "cmimg:v1"])
            .lines()
            .next(),
        Some("add hello")
    );
    // A bad reference fails before anything is created.
    let before = d.ok(&["images", "-q"]);
    assert!(!d.cli(&["commit", "cm", "Bad:Ref"]).status.success());
    assert_eq!(d.ok(&["images", "-q"]), before);
}

#[test]
fn save_load_round_trip() {
    let d = Daemon::start("fssave");
    d.busybox();
    d.ok(&["tag", "busybox", "saved:v1"]);
    let tar_path = d.root.join("saved.tar");
    d.ok(&["save", "-o", tar_path.to_str().unwrap(), "saved:v1"]);
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "saved:v1"]);
    d.ok(&["rmi", "saved:v1"]);
    assert_eq!(
        d.ok(&["load", "-i", tar_path.to_str().unwrap()]),
        "Loaded image: saved:v1\n"
    );
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "saved:v1"]), id);
    assert_eq!(
        d.ok(&["run", "--rm", "saved:v1", "echo", "loaded-ok"]),
        "loaded-ok\n"
    );
    let mut a = tar::Archive::new(std::fs::File::open(&tar_path).unwrap());
    let names: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    for n in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
    // A corrupted layer is refused and nothing is registered.
    let bad = d.root.join("bad.tar");
    {
        let mut out = tar::Builder::new(std::fs::File::create(&bad).unwrap());
        let mut a = tar::Archive::new(std::fs::File::open(&tar_path).unwrap());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            let mut h = e.header().clone();
            if data.len() > 100_000 {
                data[50_000] ^= 0xff;
            }
            out.append_data(&mut h, e.path().unwrap(), &data[..])
                .unwrap();
        }
        out.into_inner().unwrap();
    }
    d.ok(&["rmi", "saved:v1"]);
    let out = d.cli(&["load", "-i", bad.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!d.cli(&["image", "inspect", "saved:v1"]).status.success());
}

/// Snapshot dirs of the overlay driver (layers and rw layers).
fn snapshot_dirs(d: &Daemon) -> usize {
    std::fs::read_dir(d.root.join("data/overlay"))
        .map(|r| r.count())
        .unwrap_or(0)
}

/// A layer big enough to be unpacked while the archive streams in: it
/// loads with its content, an archive whose big layer was altered is
/// refused, and a big tar no manifest names is dropped, all leaving no
/// staged snapshot behind.
#[test]
fn big_layers_load_while_streaming() {
    let d = Daemon::start("fsbig");
    d.busybox();
    let ctx = d.root.join("bigctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let data: Vec<u8> = (0..6u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(ctx.join("big"), &data).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY big /big\n").unwrap();
    d.ok(&["build", "-q", "-t", "big:v1", ctx.to_str().unwrap()]);
    let sum = d.ok(&["run", "--rm", "big:v1", "md5sum", "/big"]);
    let id = d.ok(&["image", "inspect", "-f", "{{.Id}}", "big:v1"]);
    let tar_path = d.root.join("big.tar");
    d.ok(&["save", "-o", tar_path.to_str().unwrap(), "big:v1"]);
    d.ok(&["rmi", "big:v1"]);
    let dirs = snapshot_dirs(&d);

    // Rewrites the archive: `alter` may change an entry's data, `extra` is
    // appended as one more file.
    let rewrite = |name: &str, alter: &dyn Fn(&mut Vec<u8>), extra: Option<(&str, Vec<u8>)>| {
        let out_path = d.root.join(name);
        let mut out = tar::Builder::new(std::fs::File::create(&out_path).unwrap());
        let mut a = tar::Archive::new(std::fs::File::open(&tar_path).unwrap());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            alter(&mut data);
            let mut h = e.header().clone();
            out.append_data(&mut h, e.path().unwrap(), &data[..])
                .unwrap();
        }
        if let Some((path, data)) = extra {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            out.append_data(&mut h, path, &data[..]).unwrap();
        }
        out.into_inner().unwrap();
        out_path
    };

    // A byte flipped inside the big layer: its digest no longer matches.
    let bad = rewrite(
        "bad.tar",
        &|data: &mut Vec<u8>| {
            if data.len() > 5 << 20 {
                data[3 << 20] ^= 0xff;
            }
        },
        None,
    );
    let out = d.cli(&["load", "-i", bad.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!d.cli(&["image", "inspect", "big:v1"]).status.success());
    assert_eq!(snapshot_dirs(&d), dirs, "no staged snapshot left");

    // An extra big tar nothing names, which does not even unpack (its
    // header's owner fields are empty): loaded without it.
    let mut stray = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    stray.append_data(&mut h, "stray", &data[..]).unwrap();
    let good = rewrite(
        "good.tar",
        &|_| {},
        Some(("extra/layer.tar", stray.into_inner().unwrap())),
    );
    assert_eq!(
        d.ok(&["load", "-i", good.to_str().unwrap()]),
        "Loaded image: big:v1\n"
    );
    assert_eq!(d.ok(&["image", "inspect", "-f", "{{.Id}}", "big:v1"]), id);
    assert_eq!(d.ok(&["run", "--rm", "big:v1", "md5sum", "/big"]), sum);
    // Busybox's layer was there already; the big one is the only new dir.
    assert_eq!(snapshot_dirs(&d), dirs + 1);
}

/// `SizeRw` (the bytes a container added or changed, a hard link once, a
/// deletion nothing) and `SizeRootFs` (that plus the image) in `ps -s`,
/// `inspect -s` and `system df`, whose volumes carry their usage.
#[test]
fn container_and_volume_sizes() {
    let d = Daemon::start("fssizes");
    d.busybox();
    d.ok(&["volume", "create", "sized"]);
    d.ok(&[
        "run", "--name", "big", "-v", "sized:/vol", "busybox", "sh", "-c",
        "head -c 300000 /dev/zero > /big; ln /big /big2; busybox rm /bin/true; head -c 5000 /dev/zero > /vol/f",
    ]);
    let image: i64 = d
        .ok(&["image", "inspect", "-f", "{{.Size}}", "busybox"])
        .trim()
        .parse()
        .unwrap();
    let (code, body) = d.api("GET", "/v1.47/containers/json?all=1&size=1", "");
    assert_eq!(code, 200, "{body}");
    let want_rw = "\"SizeRw\":300000";
    let want_root = format!("\"SizeRootFs\":{}", 300000 + image);
    assert!(
        body.contains(want_rw) && body.contains(&want_root),
        "{body}"
    );
    let (_, body) = d.api("GET", "/v1.47/containers/json?all=1", "");
    assert!(!body.contains("SizeRw"), "{body}");
    let (_, body) = d.api("GET", "/v1.47/containers/big/json?size=1", "");
    assert!(
        body.contains(want_rw) && body.contains(&want_root),
        "{body}"
    );
    let shown = d.docker(&["ps", "-a", "-s", "--format", "{{.Size}}"]);
    assert!(
        text(&shown).starts_with("300kB (virtual "),
        "{}",
        text(&shown)
    );

    let (_, body) = d.api("GET", "/v1.47/system/df", "");
    assert!(body.contains(want_rw), "{body}");
    assert!(
        body.contains(r#""Name":"sized""#)
            && body.contains(r#""UsageData":{"RefCount":1,"Size":5000}"#),
        "{body}"
    );
}
