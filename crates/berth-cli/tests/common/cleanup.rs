//! What a test daemon leaves on the host, taken away after it is killed:
//! the processes of its containers (shims, container cgroups), every mount
//! under its root (network namespaces kept for live restore, rootfs and
//! volume mounts of containers that were not removed), its nftables tables
//! and the `ip`/`ip6 filter FORWARD` rules tagged with their name, the
//! bridge it made, its containers' cgroups and the root directory.
//! Best effort and never panicking: it runs in `Drop`, also while a failed
//! test unwinds.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Everything of the daemon rooted at `root`, after the daemon process is
/// gone. `bridge` is its default bridge (its nftables table is named after
/// it); `own_bridge` the bridge to delete, when the daemon made it.
pub fn tear_down(root: &Path, bridge: Option<&str>, own_bridge: Option<&str>) {
    let ids = container_ids(root);
    kill_processes(root, &ids);
    unmount_under(root);
    if let Some(table) = bridge.and_then(nft_table) {
        remove_nft_state(&table);
    }
    if let Some(b) = own_bridge {
        let _ = Command::new("ip")
            .args(["link", "del", b])
            .stderr(Stdio::null())
            .status();
    }
    remove_cgroups(&ids);
    if !super::keep_scratch() {
        let _ = std::fs::remove_dir_all(root);
    }
}

/// Takes away scratch roots (`/tmp/berth-<name>-<pid>`) that test
/// processes killed before their guards dropped left behind: those whose pid
/// is gone. Once per test binary; runs of a killed `cargo test` would else
/// pile up on the disk.
pub fn sweep_stale_scratch() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if super::keep_scratch() {
            return;
        }
        let Ok(entries) = std::fs::read_dir("/tmp") else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = stale_scratch_pid(&name.to_string_lossy()) else {
                continue;
            };
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && !Path::new("/proc").join(pid.to_string()).exists() {
                tear_down(&e.path(), None, None);
            }
        }
    });
}

/// The pid in a scratch root's name `berth-<name>-<pid>`.
fn stale_scratch_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("berth-")?;
    let (_, pid) = rest.rsplit_once('-')?;
    pid.parse().ok()
}

/// Removes the (empty) directory `parent` from every cgroup hierarchy: a
/// `--cgroup-parent` the daemon made for a test and, as Docker, left there.
pub fn remove_cgroup_parent(parent: &str) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in info.lines().filter(|l| l.contains(" - cgroup")) {
        if let Some(point) = l.split(' ').nth(4) {
            let _ = std::fs::remove_dir(Path::new(&unescape(point)).join(parent));
        }
    }
}

/// The nftables table of a daemon whose default bridge is `bridge`, as the
/// daemon names it; None for `berth0`, whose table (`berth`) belongs to the
/// host's daemon.
pub fn nft_table(bridge: &str) -> Option<String> {
    if bridge == "berth0" {
        return None;
    }
    let safe: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    Some(format!("berth_{safe}"))
}

fn container_ids(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("data/containers"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// SIGKILLs every process whose command line names a path under `root`
/// (the shims, `--bundle <root>/exec/containers/<id>`) or that lives in
/// the cgroup of one of the containers `ids`, and waits a little for them.
fn kill_processes(root: &Path, ids: &[String]) {
    let mut needle = root.as_os_str().as_bytes().to_vec();
    needle.push(b'/');
    let me = std::process::id();
    let mut killed = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in procs.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let by_path = cmdline.windows(needle.len()).any(|w| w == needle);
        let by_cgroup = !ids.is_empty()
            && std::fs::read_to_string(e.path().join("cgroup")).is_ok_and(|cg| {
                cg.lines()
                    .any(|l| ids.iter().any(|id| l.ends_with(&format!("/berth/{id}"))))
            });
        if by_path || by_cgroup {
            // SAFETY: kill(2) with a pid and a signal number.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            killed.push(pid);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && killed.iter().any(|p| running(*p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Lazily unmounts every mount point at or under `root`, deepest first,
/// until none is left (mounts may be stacked).
pub fn unmount_under(root: &Path) {
    for _ in 0..8 {
        let mut points = mounts_under(root);
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        for p in points {
            if let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) {
                // SAFETY: a valid NUL-terminated path.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

/// The mount points at or under `root`, from /proc/self/mountinfo.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(root))
        .collect()
}

/// mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |a, d| a * 8 + u32::from(d - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Deletes tables `ip <table>` and `ip6 <table>` and the rules tagged with
/// its name in `ip filter FORWARD` and `ip6 filter FORWARD`.
pub fn remove_nft_state(table: &str) {
    let mut script = String::new();
    for family in ["ip", "ip6"] {
        script.push_str(&format!(
            "table {family} {table} {{}}\ndelete table {family} {table}\n"
        ));
        let Ok(out) = Command::new("nft")
            .args(["-a", "list", "chain", family, "filter", "FORWARD"])
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let tag = format!("comment \"{table}\"");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.contains(&tag) {
                if let Some(h) = line.rsplit("# handle ").next() {
                    script.push_str(&format!(
                        "delete rule {family} filter FORWARD handle {}\n",
                        h.trim()
                    ));
                }
            }
        }
    }
    if let Ok(mut child) = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        use std::io::Write;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(script.as_bytes());
        }
        let _ = child.wait();
    }
}

/// Removes the cgroups `berth/<id>` of every hierarchy (the daemon removes
/// them with the container; these are what a killed daemon left).
fn remove_cgroups(ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let mut dirs = Vec::new();
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
        if let Ok(rd) = std::fs::read_dir(base) {
            for h in rd.flatten() {
                for id in ids {
                    let d = h.path().join("berth").join(id);
                    if d.is_dir() {
                        dirs.push(d);
                    }
                }
            }
        }
        for id in ids {
            let d = Path::new(base).join("berth").join(id);
            if d.is_dir() {
                dirs.push(d);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while !dirs.is_empty() && Instant::now() < deadline {
        dirs.retain(|d| std::fs::remove_dir(d).is_err() && d.is_dir());
        if !dirs.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The IPv4 routes of the host's main table as (destination, mask).
pub fn host_routes_v4() -> Vec<(u32, u32)> {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| u32::from_be_bytes(v.to_ne_bytes()))
    };
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((hex(f.get(1)?)?, hex(f.get(7)?)?))
        })
        .collect()
}

/// The end of a failed test's daemon log, before its root goes.
pub fn print_log_tail(log: &Path) {
    let Ok(text) = std::fs::read_to_string(log) else {
        return;
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(40)..];
    eprintln!(
        "--- last {} lines of {} ---\n{}\n---",
        tail.len(),
        log.display(),
        tail.join("\n")
    );
}
