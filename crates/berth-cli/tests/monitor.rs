//! End-to-end tests of observing and maintaining containers: update applied
//! live to the cgroup, stats, top, events across a daemon restart, healthchecks,
//! json-file log rotation and prune. A real daemon per test, as root.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::*;

impl Daemon {
    /// `docker inspect -f` on one container.
    fn inspect(&self, name: &str, format: &str) -> String {
        self.ok(&["inspect", "-f", format, name]).trim().to_string()
    }

    fn api_get(&self, path: &str) -> serde_json::Value {
        let sock = self.root.join("exec/berth.sock");
        let out = Command::new("curl")
            .args(["-sf", "--unix-socket"])
            .arg(&sock)
            .arg(format!("http://localhost{path}"))
            .output()
            .expect("curl");
        assert!(out.status.success(), "GET {path} failed");
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Polls until `f` holds, for at most `secs` seconds.
    fn wait_for(&self, secs: u64, what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if f() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}");
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn update_applies_live_and_records_when_stopped() {
    let d = Daemon::start("update");
    d.busybox();
    let id = d
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "u1",
            "-m",
            "64m",
            "busybox",
            "sleep",
            "100",
        ])
        .trim()
        .to_string();
    assert_eq!(
        d.ok(&[
            "update",
            "-m",
            "128m",
            "--memory-swap",
            "256m",
            "--pids-limit",
            "50",
            "u1"
        ])
        .trim(),
        "u1"
    );
    let cg = PathBuf::from(format!("/sys/fs/cgroup/memory/berth/{id}"));
    if cg.is_dir() {
        let limit = std::fs::read_to_string(cg.join("memory.limit_in_bytes")).unwrap();
        assert_eq!(limit.trim(), "134217728");
        let swap = std::fs::read_to_string(cg.join("memory.memsw.limit_in_bytes"));
        if let Ok(swap) = swap {
            assert_eq!(swap.trim(), "268435456");
        }
    } else {
        let limit =
            std::fs::read_to_string(format!("/sys/fs/cgroup/berth/{id}/memory.max")).unwrap();
        assert_eq!(limit.trim(), "134217728");
    }
    // What the container itself sees, as in compat core-update-stats-top.
    let seen = d.ok(&[
        "exec",
        "u1",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert_eq!(seen.trim(), "134217728");
    assert_eq!(
        d.inspect("u1", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"),
        "134217728 50"
    );

    // Docker's validation wording, and nothing recorded on failure.
    let out = d.cli(&["update", "-m", "1m", "u1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Minimum memory limit allowed is 6MB"));
    assert_eq!(d.inspect("u1", "{{.HostConfig.Memory}}"), "134217728");

    // A stopped container only records the change; it applies at next start.
    d.ok(&["stop", "-t", "0", "u1"]);
    d.ok(&[
        "update",
        "-m",
        "96m",
        "--memory-swap",
        "200m",
        "--restart",
        "on-failure:2",
        "u1",
    ]);
    assert_eq!(
        d.inspect(
            "u1",
            "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}"
        ),
        "100663296 on-failure"
    );
    d.ok(&["start", "u1"]);
    let seen = d.ok(&[
        "exec",
        "u1",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]);
    assert_eq!(seen.trim(), "100663296");

    d.ok(&["rm", "-f", "u1"]);
    let out = d.cli(&["update", "-m", "128m", "u1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container: u1"));
}

#[test]
fn stats_and_top_shapes() {
    let d = Daemon::start("stats");
    d.busybox();
    let id = d
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "s1",
            "busybox",
            "sleep",
            "100",
        ])
        .trim()
        .to_string();
    assert_eq!(
        d.ok(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            "s1"
        ]),
        "s1 1\n"
    );
    let table = d.ok(&["stats", "--no-stream"]);
    assert!(table.starts_with("CONTAINER ID   NAME "), "{table}");
    assert!(table.contains(&id[..12]));

    let s = d.api_get("/containers/s1/stats?stream=false");
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["name"], "/s1");
    assert_eq!(s["pids_stats"]["current"], 1);
    assert!(s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
    assert!(s["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    assert!(s["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    assert!(
        s["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0,
        "precpu filled without one-shot"
    );
    assert!(s["memory_stats"]["usage"].as_u64().unwrap() > 0);
    // Unlimited memory is reported as the host's memory, as Docker does.
    assert!(s["memory_stats"]["limit"].as_u64().unwrap() < 1 << 50);
    assert!(s["blkio_stats"]["io_service_bytes_recursive"].is_array());
    assert_ne!(
        s["preread"], "0001-01-01T00:00:00Z",
        "preread set after two readings"
    );
    let one = d.api_get("/containers/s1/stats?stream=false&one-shot=true");
    assert_eq!(one["preread"], "0001-01-01T00:00:00Z");

    let top = d.ok(&["top", "s1"]);
    let mut lines = top.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header.first(), Some(&"UID"));
    assert_eq!(header.last(), Some(&"CMD"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert!(rows[0].ends_with("sleep 100"));
    let custom = d.ok(&["top", "s1", "-o", "pid,comm"]);
    assert!(custom.starts_with("PID"));
    assert!(custom.lines().nth(1).unwrap().ends_with("sleep"));
    d.ok(&["stop", "-t", "0", "s1"]);
    let out = d.cli(&["top", "s1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));
}

#[test]
fn events_survive_a_daemon_restart() {
    let mut d = Daemon::start("events");
    d.busybox();
    let since = (unix_now() - 1).to_string();
    d.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "e1",
        "--label",
        "tier=db",
        "busybox",
        "true",
    ]);
    d.ok(&["rename", "e1", "e2"]);
    d.ok(&["rm", "e2"]);
    d.kill9();
    d.spawn();
    let until = (unix_now() + 1).to_string();
    let out = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        ["create e1", "start e1", "die e1", "rename e2", "destroy e2"],
        "{out}"
    );
    let out = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=die",
        "--filter",
        "label=tier=db",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(" container die "), "{out}");
    assert!(out.contains("exitCode=0"), "{out}");
    let out = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{json .}}",
        "--filter",
        "event=create",
    ]);
    let ev: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(ev["status"], "create");
    assert_eq!(ev["scope"], "local");
    assert_eq!(ev["Actor"]["Attributes"]["image"], "busybox");
    assert!(ev["timeNano"].as_i64().unwrap() > 0);
    let bad = d.cli(&["events", "--filter", "bogus=1", "--until", &until]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid filter 'bogus'"));
}

#[test]
fn healthcheck_goes_healthy_then_unhealthy() {
    let d = Daemon::start("health");
    d.busybox();
    let since = (unix_now() - 1).to_string();
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "h1",
        "--health-cmd",
        "cat /ok",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "busybox",
        "sh",
        "-c",
        "echo ok > /ok; sleep 2; busybox rm /ok; sleep 100",
    ]);
    let status = || d.inspect("h1", "{{.State.Health.Status}}");
    d.wait_for(10, "healthy", || status() == "healthy");
    let ps = d.ok(&["ps", "--filter", "name=h1", "--format", "{{.Status}}"]);
    assert!(ps.trim().ends_with("(healthy)"), "{ps}");
    d.wait_for(15, "unhealthy", || status() == "unhealthy");
    let ps = d.ok(&["ps", "--filter", "name=h1", "--format", "{{.Status}}"]);
    assert!(ps.trim().ends_with("(unhealthy)"), "{ps}");
    let h: serde_json::Value =
        serde_json::from_str(&d.inspect("h1", "{{json .State.Health}}")).unwrap();
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2);
    let log = h["Log"].as_array().unwrap();
    assert!(!log.is_empty() && log.len() <= 5);
    assert_ne!(log.last().unwrap()["ExitCode"], 0);
    assert!(log.last().unwrap()["Output"]
        .as_str()
        .unwrap()
        .contains("No such file"));
    let until = (unix_now() + 1).to_string();
    let out = d.ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["health_status: healthy", "health_status: unhealthy"]
    );

    // --no-healthcheck: no Health at all.
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "h2",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(d.inspect("h2", "{{json .State.Health}}"), "null");
}

#[test]
fn log_rotation_keeps_max_file_files() {
    let d = Daemon::start("logrot");
    d.busybox();
    let id = d
        .ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "l1",
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=3",
            "busybox",
            "sh",
            "-c",
            "for i in $(busybox seq 1 300); do echo line-$i; done",
        ])
        .trim()
        .to_string();
    d.ok(&["wait", "l1"]);
    let log = PathBuf::from(d.inspect("l1", "{{.LogPath}}"));
    assert!(log.to_string_lossy().contains(&id));
    let with = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
    assert!(log.exists() && with(1).exists() && with(2).exists());
    assert!(
        !with(3).exists(),
        "max-file=3 keeps the log and two rotated files"
    );
    for f in [&log, &with(1), &with(2)] {
        assert!(std::fs::metadata(f).unwrap().len() <= 1024);
    }
    // logs reads the rotated files oldest first: a consecutive run ending at 300.
    let out = d.ok(&["logs", "l1"]);
    let nums: Vec<u32> = out
        .lines()
        .map(|l| l.trim_start_matches("line-").parse().unwrap())
        .collect();
    assert_eq!(*nums.last().unwrap(), 300);
    assert!(nums.len() > 20 && nums.len() < 300, "{}", nums.len());
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(d.ok(&["logs", "--tail", "1", "l1"]), "line-300\n");
    assert_eq!(
        d.ok(&["logs", "--tail", "1", "--details", "l1"]),
        " line-300\n"
    );

    let out = d.cli(&[
        "run",
        "--network",
        "none",
        "--log-opt",
        "max-size=abc",
        "busybox",
        "true",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("failed to initialize logging driver: invalid size: 'abc'"));
    let out = d.cli(&["create", "--log-opt", "bogus=1", "busybox", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("unknown log opt 'bogus' for json-file log driver"));
}

#[test]
fn prune_and_df() {
    let d = Daemon::start("prune");
    d.busybox();
    d.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "p1",
        "busybox",
        "sh",
        "-c",
        "echo data > /f",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "p2",
        "busybox",
        "sleep",
        "100",
    ]);
    let df = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(df.contains("Containers 2 1"), "{df}");
    assert!(
        df.contains("Images 1 1") || df.contains("Images 2 1"),
        "{df}"
    );
    let out = d.ok(&["container", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains("Total reclaimed space: "));
    let names = d.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(names, "p2\n");
    let out = d.ok(&["container", "prune", "-f"]);
    assert_eq!(out, "Total reclaimed space: 0B\n");
}
