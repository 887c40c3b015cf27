//! The HostConfig cgroup settings beyond plain limits, sent by the stock
//! docker CLI and checked inside the container and in the host's cgroups:
//! `--cgroup-parent`, `--cgroupns`, `--memory-swappiness`, `--oom-score-adj`,
//! `--device-cgroup-rule` and the per-device blkio throttles. Needs root,
//! cgroups (v1 controllers for the v1 files) and the docker CLI.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{text, Daemon};

fn ok(d: &Daemon, args: &[&str]) -> String {
    common::ok_output(&format!("docker {args:?}"), d.docker(args))
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn v1_mount(controller: &str) -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut post = post.split(' ');
        if post.next()? != "cgroup" {
            return None;
        }
        let opts = post.nth(1)?;
        opts.split(',')
            .any(|o| o == controller)
            .then(|| PathBuf::from(pre.split(' ').nth(4).unwrap()))
    })
}

/// A block device of this host: (its /dev path, "major:minor").
fn some_block_device() -> Option<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().find_map(|n| {
        let dev = std::fs::read_to_string(format!("/sys/block/{n}/dev")).ok()?;
        let path = format!("/dev/{n}");
        Path::new(&path)
            .exists()
            .then(|| (path, dev.trim().to_string()))
    })
}

#[test]
fn oom_score_swappiness_and_their_ranges() {
    let d = Daemon::start("cgset-mem");
    d.busybox();
    let adj = ok(
        &d,
        &[
            "run",
            "--rm",
            "--oom-score-adj",
            "500",
            "busybox",
            "cat",
            "/proc/self/oom_score_adj",
        ],
    );
    assert_eq!(adj.trim(), "500");
    let out = d.docker(&["run", "--rm", "--oom-score-adj", "1001", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        err(&out).contains("Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        "{}",
        err(&out)
    );
    // Nothing was created by the refused run.
    assert_eq!(ok(&d, &["ps", "-aq"]).trim(), "");

    if v1_mount("memory").is_some() {
        let s = ok(
            &d,
            &[
                "run",
                "--rm",
                "--memory-swappiness",
                "30",
                "busybox",
                "cat",
                "/sys/fs/cgroup/memory/memory.swappiness",
            ],
        );
        assert_eq!(s.trim(), "30");
    }
    // Through the API, past the CLI's own check.
    let (status, body) = d.api(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"MemorySwappiness":101}}"#,
    );
    if v1_mount("memory").is_some() {
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains("Invalid value: 101, valid memory swappiness range is 0-100"),
            "{body}"
        );
    }
    let (status, body) = d.api(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"CgroupnsMode":"shared"}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("invalid cgroup namespace mode: shared"),
        "{body}"
    );
}

#[test]
fn cgroup_parent_and_namespace() {
    let d = Daemon::start("cgset-parent");
    d.busybox();
    let parent = format!("berth-e2e-parent-{}", std::process::id());
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "--cgroup-parent",
            &format!("/{parent}"),
            "busybox",
            "sleep",
            "60",
        ],
    );
    let id = id.trim();
    // Host cgroupns (the default on a v1 or hybrid host): the container
    // sees its path under the parent.
    let cg = ok(&d, &["exec", id, "cat", "/proc/self/cgroup"]);
    let want = format!("/{parent}/{id}");
    assert!(cg.lines().any(|l| l.ends_with(&want)), "{cg}");
    let mode = ok(&d, &["inspect", "-f", "{{.HostConfig.CgroupnsMode}}", id]);
    if std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(" - cgroup ")
    {
        assert_eq!(mode.trim(), "host");
    }
    // The daemon finds the container's cgroup under the parent: top, stats
    // and pause work there.
    let top = ok(&d, &["top", id]);
    assert!(top.contains("sleep 60"), "{top}");
    let mem = ok(
        &d,
        &["stats", "--no-stream", "--format", "{{.MemUsage}}", id],
    );
    assert!(!mem.trim().starts_with("0B"), "{mem}");
    ok(&d, &["pause", id]);
    let state = ok(&d, &["inspect", "-f", "{{.State.Status}}", id]);
    assert_eq!(state.trim(), "paused");
    ok(&d, &["unpause", id]);
    let memory = v1_mount("memory");
    if let Some(m) = &memory {
        assert!(m.join(&parent).join(id).is_dir());
    }
    ok(&d, &["rm", "-f", id]);
    if let Some(m) = &memory {
        assert!(!m.join(&parent).join(id).exists(), "cgroup left behind");
    }
    // The parent itself is the administrator's, as with Docker: take it away.
    common::cleanup::remove_cgroup_parent(&parent);

    // A private cgroup namespace: the container's cgroup is its root.
    let cg = ok(
        &d,
        &[
            "run",
            "--rm",
            "--cgroupns",
            "private",
            "busybox",
            "cat",
            "/proc/self/cgroup",
        ],
    );
    assert!(cg.lines().all(|l| l.ends_with(":/")), "{cg}");
    let host = ok(&d, &["run", "--rm", "busybox", "cat", "/proc/self/cgroup"]);
    if mode.trim() == "host" {
        assert!(host.lines().any(|l| l.contains("/berth/")), "{host}");
    }
}

#[test]
fn device_rules_and_blkio_throttles() {
    let d = Daemon::start("cgset-dev");
    d.busybox();
    if v1_mount("devices").is_some() {
        let list = ok(
            &d,
            &[
                "run",
                "--rm",
                "--device-cgroup-rule",
                "c 42:* rmw",
                "busybox",
                "cat",
                "/sys/fs/cgroup/devices/devices.list",
            ],
        );
        assert!(list.lines().any(|l| l == "c 42:* rwm"), "{list}");
        let plain = ok(
            &d,
            &[
                "run",
                "--rm",
                "busybox",
                "cat",
                "/sys/fs/cgroup/devices/devices.list",
            ],
        );
        assert!(!plain.contains("c 42:"), "{plain}");
    }
    let (status, body) = d.api(
        "POST",
        "/containers/create",
        r#"{"Image":"busybox","HostConfig":{"DeviceCgroupRules":["x 1:2 r"]}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("invalid device cgroup rule format: 'x 1:2 r'"),
        "{body}"
    );

    let out = d.docker(&[
        "run",
        "--rm",
        "--device-read-bps",
        "/dev/berth-nonexistent:1mb",
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        err(&out).contains("stat /dev/berth-nonexistent: no such file or directory"),
        "{}",
        err(&out)
    );
    let Some((dev, numbers)) = some_block_device() else {
        eprintln!("skipping the throttle part: no block device");
        return;
    };
    if v1_mount("blkio").is_some() {
        let out = ok(
            &d,
            &[
                "run",
                "--rm",
                "--device-read-bps",
                &format!("{dev}:1mb"),
                "--device-write-iops",
                &format!("{dev}:77"),
                "busybox",
                "cat",
                "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device",
                "/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device",
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines,
            [format!("{numbers} 1048576"), format!("{numbers} 77")],
            "{out}"
        );
        // Where the host has no proportional blkio weights, Docker warns and
        // drops the weight device; the container still runs.
        let blkio = v1_mount("blkio").unwrap();
        if !blkio.join("blkio.weight_device").exists()
            && !blkio.join("blkio.bfq.weight_device").exists()
        {
            let out = d.docker(&[
                "run",
                "--rm",
                "--blkio-weight-device",
                &format!("{dev}:200"),
                "busybox",
                "echo",
                "ran",
            ]);
            assert!(out.status.success(), "{}", err(&out));
            assert_eq!(text(&out).trim(), "ran");
            assert!(
                err(&out).contains("Your kernel does not support Block I/O weight_device"),
                "{}",
                err(&out)
            );
        }
    }
}
