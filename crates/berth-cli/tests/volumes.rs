//! End-to-end: volumes and mounts through the `berth` CLI against a real
//! daemon with a private data root (needs root, overlayfs, cgroups and
//! Debian's busybox-static). Named volumes persist across containers and a
//! daemon restart, refuse removal while used, get the image's content on
//! first mount; binds honour `ro`; `--volumes-from` shares; `rm -v` cleans up.

mod common;

use common::Daemon;

/// A busybox image `tag` whose /etc knows root only (the copy-up test reads
/// the image's /etc back), plus `extra` files and `import -c` `changes`.
fn busybox(d: &Daemon, extra: &[(&str, &[u8])], changes: &[&str], tag: &str) {
    let mut files: Vec<(&str, &[u8])> = vec![
        ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
        ("etc/group", b"root:x:0:\n"),
    ];
    files.extend_from_slice(extra);
    d.import_busybox(&files, changes, tag);
}

#[test]
fn named_volume_lifecycle_copy_up_and_restart() {
    let mut d = Daemon::start("vol-named");
    busybox(&d, &[], &[], "busybox:latest");
    assert_eq!(d.ok(&["volume", "create", "--label", "k=v", "v1"]), "v1\n");
    assert_eq!(
        d.ok(&[
            "volume",
            "ls",
            "--filter",
            "name=v1",
            "--format",
            "{{.Name}} {{.Driver}} {{.Labels}}"
        ]),
        "v1 local k=v\n"
    );
    assert_eq!(
        d.ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Scope}}",
            "v1"
        ]),
        "v1 local local\n"
    );
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "v1:/data",
        "busybox",
        "sh",
        "-c",
        "echo persisted > /data/f",
    ]);
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "v1:/data", "busybox", "cat", "/data/f"]),
        "persisted\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.data().join("volumes/v1/_data/f")).unwrap(),
        "persisted\n"
    );

    // In use (even by a stopped container): refused with Docker's words.
    let id = d.ok(&[
        "create", "--name", "user", "-v", "v1:/data", "busybox", "true",
    ]);
    let (code, err) = d.fails(&["volume", "rm", "v1"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        format!(
            "Error response from daemon: remove v1: volume is in use - [{}]",
            id.trim()
        )
    );
    assert_eq!(
        d.ok(&["volume", "ls", "-q", "--filter", "dangling=true"]),
        ""
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Mode}} {{.RW}}{{end}}",
            "user"
        ]),
        "volume v1 /data z true\n"
    );

    // Survives a daemon restart, still referenced.
    d.stop();
    d.spawn();
    assert_eq!(
        d.ok(&["run", "--rm", "-v", "v1:/data", "busybox", "cat", "/data/f"]),
        "persisted\n"
    );
    assert!(!d.cli(&["volume", "rm", "v1"]).status.success());
    d.ok(&["rm", "user"]);
    assert_eq!(d.ok(&["volume", "rm", "v1"]), "v1\n");
    assert!(!d.data().join("volumes/v1").exists());
    let (_, err) = d.fails(&["volume", "inspect", "v1"]);
    assert!(err.contains("get v1: no such volume"), "{err}");

    // Copy-up: an empty volume over /etc gets the image's /etc (and Docker's mtab).
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "autovol:/etc",
            "busybox",
            "sh",
            "-c",
            "ls /etc | sort | tr '\\n' ' '"
        ]),
        "group hostname hosts mtab passwd resolv.conf "
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            "autovol:/etc",
            "busybox",
            "cat",
            "/etc/passwd"
        ]),
        "root:x:0:0:root:/root:/bin/sh\n"
    );
    d.ok(&["volume", "rm", "autovol"]);

    // Bad names and drivers are refused before anything is made.
    let (_, err) = d.fails(&["volume", "create", "-d", "foo", "x1"]);
    assert!(err.contains("plugin \"foo\" not found"), "{err}");
    let (code, err) = d.fails(&["run", "--rm", "-v", "bad name:/x", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("includes invalid characters for a local volume name"),
        "{err}"
    );
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn binds_tmpfs_and_mount_flag() {
    let d = Daemon::start("vol-bind");
    busybox(&d, &[], &[], "busybox:latest");
    let host = d.root.join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("h.txt"), "from-host\n").unwrap();
    let hs = host.to_str().unwrap();

    let rw = format!("{hs}:/mnt");
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "-v",
            &rw,
            "busybox",
            "sh",
            "-c",
            "cat /mnt/h.txt; echo c > /mnt/c.txt"
        ]),
        "from-host\n"
    );
    assert_eq!(std::fs::read_to_string(host.join("c.txt")).unwrap(), "c\n");

    let ro = format!("{hs}:/mnt:ro");
    let out = d.cli(&["run", "--rm", "-v", &ro, "busybox", "touch", "/mnt/x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Read-only file system"));
    assert!(!host.join("x").exists());

    let m = format!("type=bind,src={hs},dst=/m,readonly");
    assert_eq!(
        d.ok(&["run", "--rm", "--mount", &m, "busybox", "cat", "/m/h.txt"]),
        "from-host\n"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,dst=/t",
            "busybox",
            "sh",
            "-c",
            "grep ' /t ' /proc/mounts | cut -d' ' -f3"
        ]),
        "tmpfs\n"
    );

    // --mount refuses a missing source; -v creates it, as Docker does.
    let (code, err) = d.fails(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,src=/nonexistent-berth-vol,dst=/x",
        "busybox",
        "true",
    ]);
    assert_eq!(code, 125);
    assert!(
        err.contains("invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth-vol"),
        "{err}"
    );
    let missing = d.root.join("made-by-v");
    let spec = format!("{}:/mnt", missing.display());
    d.ok(&["run", "--rm", "-v", &spec, "busybox", "ls", "/mnt"]);
    assert!(missing.is_dir());

    let ins = d.ok(&["create", "-v", &ro, "busybox", "true"]);
    let mounts: serde_json::Value =
        serde_json::from_str(&d.ok(&["inspect", "-f", "{{json .Mounts}}", ins.trim()])).unwrap();
    assert_eq!(
        mounts,
        serde_json::json!([{"Type": "bind", "Source": hs, "Destination": "/mnt", "Mode": "ro", "RW": false, "Propagation": "rprivate"}])
    );
}

#[test]
fn anonymous_volumes_volumes_from_and_rm_v() {
    let d = Daemon::start("vol-anon");
    busybox(
        &d,
        &[("data/seed", b"seeded\n")],
        &["VOLUME /data"],
        "vimg:latest",
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--name",
            "va",
            "vimg",
            "sh",
            "-c",
            "cat /data/seed; echo written > /data/w"
        ]),
        "seeded\n"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Type}} {{.Destination}} {{.RW}}{{end}}",
            "va"
        ]),
        "volume /data true\n"
    );
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--volumes-from",
            "va",
            "vimg",
            "cat",
            "/data/w"
        ]),
        "written\n"
    );
    let (_, err) = d.fails(&[
        "run",
        "--rm",
        "--volumes-from",
        "va:ro",
        "vimg",
        "touch",
        "/data/x",
    ]);
    assert!(err.contains("Read-only file system"), "{err}");
    let (code, err) = d.fails(&["run", "--rm", "--volumes-from", "nope", "vimg", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("No such container: nope"), "{err}");

    let vname = d.ok(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "va"]);
    let vname = vname.trim();
    assert_eq!(vname.len(), 64);
    // Plain rm keeps the anonymous volume (prune takes it later); rm -v removes it.
    d.ok(&["rm", "va"]);
    assert!(d.cli(&["volume", "inspect", vname]).status.success());
    assert_eq!(
        d.ok(&["volume", "prune", "-f"]),
        format!("Deleted Volumes:\n{vname}\n\nTotal reclaimed space: 15B\n")
    );

    d.ok(&["create", "--name", "vb", "-v", "/scratch", "vimg", "true"]);
    let vname = d.ok(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "vb"]);
    d.ok(&["rm", "-v", "vb"]);
    assert!(!d.cli(&["volume", "inspect", vname.trim()]).status.success());

    // run --rm takes its anonymous volumes with it, but never named ones.
    d.ok(&[
        "run", "--rm", "-v", "/tmpvol", "-v", "keep:/k", "vimg", "true",
    ]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]), "keep\n");
}
