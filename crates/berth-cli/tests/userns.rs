//! End-to-end: a daemon started with `--userns-remap` (needs root, overlayfs,
//! cgroups, nftables and Debian's busybox-static). Container root is uid 0
//! inside and the remapped uid on the host; image and container files, and
//! named volumes, belong to the remapped root on the host; archives made
//! from the container (commit, save, export, cp) show container ids again;
//! `--userns host` opts out and `--privileged` needs it, as with Docker.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{text, Daemon};

/// The test's own remap user and ranges, independent of the host's.
const USER: &str = "berthtest-remap";
const BASE: u32 = 300000;
const RANGE: u32 = 65536;

/// Creates [`USER`] and its /etc/subuid, /etc/subgid ranges once
/// (idempotent across runs: existing entries are kept).
fn remap_user() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| add_remap_user(USER, &[(BASE, RANGE)]));
}

/// A second test user with two ranges in each file.
const MULTI_USER: &str = "berthtest-remap2";
const MULTI_RANGES: [(u32, u32); 2] = [(500000, 1000), (600000, 65536)];

/// Creates `user` with `ranges` in /etc/subuid and /etc/subgid, unless it
/// has entries there already. Callers serialise through a `Once` each; the
/// two users' edits of the files are serialised here.
fn add_remap_user(user: &str, ranges: &[(u32, u32)]) {
    static FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = FILES.lock().unwrap_or_else(|e| e.into_inner());
    let exists = Command::new("id")
        .arg(user)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let out = Command::new("useradd")
            .args(["-r", "-s", "/bin/false", user])
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd: {}", text(&out));
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        let cur = std::fs::read_to_string(file).unwrap_or_default();
        if !cur.lines().any(|l| l.starts_with(&format!("{user}:"))) {
            let mut new = cur.clone();
            if !new.is_empty() && !new.ends_with('\n') {
                new.push('\n');
            }
            for (start, size) in ranges {
                new.push_str(&format!("{user}:{start}:{size}\n"));
            }
            std::fs::write(file, new).unwrap();
        }
    }
}

/// A remapped daemon with busybox, on a bridge and /24 of this binary's own
/// (other test binaries may run at the same time).
fn remapped(name: &str) -> (Daemon, String) {
    remapped_with(name, &[])
}

fn remapped_with(name: &str, extra: &[&str]) -> (Daemon, String) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    remap_user();
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let bridge = format!("bu{}{n}", std::process::id() % 1000);
    let subnet = format!("172.26.{}.", n + 10);
    let bip = format!("{subnet}1/24");
    let mut args = vec!["--userns-remap", USER, "--bridge", &bridge, "--bip", &bip];
    args.extend_from_slice(extra);
    let d = Daemon::start_with(name, &args);
    d.busybox();
    (d, subnet)
}

fn host_uid_of_pid(pid: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// (name, uid, gid) of every entry of a tar.
fn tar_owners(bytes: &[u8]) -> Vec<(String, u64, u64)> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            (
                e.path().unwrap().to_string_lossy().into_owned(),
                h.uid().unwrap(),
                h.gid().unwrap(),
            )
        })
        .collect()
}

/// Files of a tar by name.
fn tar_files(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut a = tar::Archive::new(bytes);
    let mut out = HashMap::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

fn owner_of(path: &str) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    (m.uid(), m.gid())
}

#[test]
fn container_root_is_the_remapped_uid_on_the_host() {
    let (d, subnet) = remapped("userns-root");
    assert_eq!(d.ok(&["run", "--rm", "busybox", "id", "-u"]).trim(), "0");
    let map = d.ok(&["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]);
    let fields: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(fields, ["0", "300000", "65536"], "uid_map: {map}");
    let gid_map = d.ok(&["run", "--rm", "busybox", "cat", "/proc/self/gid_map"]);
    assert_eq!(gid_map.split_whitespace().collect::<Vec<_>>(), fields);

    // Named: an id prefix of digits only is no name `hostname -i` resolves.
    let id = d.ok(&[
        "run",
        "-d",
        "--hostname",
        "remapped",
        "busybox",
        "sleep",
        "300",
    ]);
    let id = id.trim();
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", id]);
    assert_eq!(host_uid_of_pid(pid.trim()), BASE);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.UsernsMode}}", id])
            .trim(),
        ""
    );
    // exec joins the user namespace: root inside, the remapped uid outside.
    assert_eq!(d.ok(&["exec", id, "id", "-u"]).trim(), "0");
    let exec_pid = d.ok(&["exec", id, "sh", "-c", "cat /proc/self/uid_map"]);
    assert!(exec_pid.contains("300000"), "{exec_pid}");
    // Networking: eth0 has its address on the daemon's bridge.
    let addr = d.ok(&["exec", id, "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {subnet}")), "{addr}");
    assert!(d
        .ok(&["exec", id, "hostname", "-i"])
        .trim()
        .starts_with(&subnet));
    // /sys is a sysfs of the container's own, read-only, as with Docker
    // (its network namespace belongs to its user namespace); /proc is the
    // container's.
    let mounts = d.ok(&["exec", id, "cat", "/proc/self/mounts"]);
    let sys = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/sys"))
        .unwrap_or_else(|| panic!("no /sys in {mounts}"));
    assert!(sys.starts_with("sysfs /sys sysfs ro,"), "{sys}");
    let nets = d.ok(&["exec", id, "ls", "/sys/class/net"]);
    assert_eq!(
        nets.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "lo"],
        "{nets}"
    );
    assert_eq!(d.ok(&["exec", id, "cat", "/proc/1/comm"]).trim(), "sleep");
    // The container can edit its own /etc/hosts, as under Docker.
    d.ok(&[
        "exec",
        id,
        "sh",
        "-c",
        "echo '10.9.9.9 extra' >> /etc/hosts",
    ]);
    // A terminal works too (devpts and the console in the user namespace).
    let out = d.ok(&["run", "--rm", "-t", "busybox", "tty"]);
    assert!(out.trim().starts_with("/dev/pts/"), "{out}");

    // State lives under <data-root>/<uid>.<gid>, 0710 root:<gid>.
    let remapped = d.root.join("data/300000.300000");
    let m = std::fs::metadata(&remapped).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, BASE, 0o710));
    let info = d.ok(&["info", "-f", "{{.DockerRootDir}}"]);
    assert_eq!(info.trim(), remapped.to_str().unwrap());
}

#[test]
fn image_container_and_volume_files_belong_to_the_remapped_root() {
    let (d, _) = remapped("userns-files");
    let id = d.ok(&["run", "-d", "busybox", "sh", "-c", "touch /x && sleep 300"]);
    let id = id.trim();
    // Wait for the touch.
    let upper = d.ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", id]);
    let upper = upper.trim();
    let x = format!("{upper}/x");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::path::Path::new(&x).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(owner_of(&x), (BASE, BASE));
    // A file made for uid 1000 inside is 301000 outside.
    d.ok(&["exec", id, "sh", "-c", "echo hi > /y && chown 1000:1000 /y"]);
    assert_eq!(owner_of(&format!("{upper}/y")), (BASE + 1000, BASE + 1000));
    // The image's files (unpacked from a tar of uid 0) are the remapped root's.
    let lower = d.ok(&["inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", id]);
    let bottom = lower.trim().split(':').next_back().unwrap().to_string();
    assert_eq!(owner_of(&format!("{bottom}/bin/busybox")), (BASE, BASE));
    assert_eq!(owner_of(&format!("{bottom}/bin/sh")), (BASE, BASE));
    // The built-in hello-world image too.
    let hello = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.GraphDriver.Data.UpperDir}}",
        "hello-world",
    ]);
    assert_eq!(owner_of(&format!("{}/hello", hello.trim())), (BASE, BASE));
    assert!(d
        .ok(&["run", "--rm", "hello-world"])
        .contains("Hello from berth!"));

    // A named volume is writable by the container's root.
    d.ok(&["volume", "create", "data"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo stored > /data/f && cat /data/f && ls -ln /data/f",
    ]);
    assert!(out.starts_with("stored\n"), "{out}");
    assert!(out.contains(" 0 "), "owner inside should be 0: {out}");
    let mp = d.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "data"]);
    assert_eq!(owner_of(mp.trim()), (BASE, BASE));
    assert_eq!(owner_of(&format!("{}/f", mp.trim())), (BASE, BASE));
    // An anonymous volume filled from the image (copy-up) is usable too.
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "/etc",
        "busybox",
        "sh",
        "-c",
        "touch /etc/new && echo ok",
    ]);
    assert_eq!(out.trim(), "ok");
}

#[test]
fn userns_host_opts_out_and_privileged_needs_it() {
    let (d, _) = remapped("userns-host");
    let id = d.ok(&["run", "-d", "--userns", "host", "busybox", "sleep", "300"]);
    let id = id.trim();
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", id]);
    assert_eq!(host_uid_of_pid(pid.trim()), 0);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.HostConfig.UsernsMode}}", id])
            .trim(),
        "host"
    );
    let map = d.ok(&["exec", id, "cat", "/proc/self/uid_map"]);
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );

    let out = d.cli(&["run", "--rm", "--privileged", "busybox", "true"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode"),
        "{err}"
    );
    let out = d.ok(&[
        "run",
        "--rm",
        "--privileged",
        "--userns",
        "host",
        "busybox",
        "id",
        "-u",
    ]);
    assert_eq!(out.trim(), "0");
}

#[test]
fn commit_save_export_and_cp_show_container_ids() {
    let (d, _) = remapped("userns-archives");
    d.ok(&[
        "run",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo a > /made && echo b > /owned && chown 1000:1000 /owned",
    ]);
    d.ok(&["commit", "src", "snap:1"]);
    // save: the committed layer's tar has the container's ids.
    let out = Command::new(common::BERTH)
        .args(["-H", &d.sock(), "save", "snap:1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = tar_files(&out.stdout);
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    let top = layers.last().unwrap().as_str().unwrap();
    let owners = tar_owners(&files[top]);
    let find = |n: &str| owners.iter().find(|(p, _, _)| p == n).cloned();
    assert_eq!(find("made").map(|o| (o.1, o.2)), Some((0, 0)), "{owners:?}");
    assert_eq!(find("owned").map(|o| (o.1, o.2)), Some((1000, 1000)));
    for (_, uid, gid) in tar_owners(&files[layers[0].as_str().unwrap()]) {
        assert_eq!((uid, gid), (0, 0));
    }
    // The committed image runs with the same owners inside.
    let ls = d.ok(&["run", "--rm", "snap:1", "ls", "-ln", "/owned", "/made"]);
    assert!(ls.contains(" 1000 ") && ls.contains(" 0 "), "{ls}");

    // export: every entry within the container's ids.
    let out = Command::new(common::BERTH)
        .args(["-H", &d.sock(), "export", "src"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let owners = tar_owners(&out.stdout);
    assert!(owners.iter().any(|(p, _, _)| p == "made"));
    for (p, uid, gid) in &owners {
        assert!(
            *uid < RANGE as u64 && *gid < RANGE as u64,
            "{p}: {uid}:{gid}"
        );
    }
    assert!(owners.iter().any(|(p, u, _)| p == "owned" && *u == 1000));

    // cp out shows uid 0; cp in lands as the remapped root on the host.
    let out = Command::new(common::BERTH)
        .args(["-H", &d.sock(), "cp", "src:/made", "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(tar_owners(&out.stdout)[0].1, 0);
    let local = d.root.join("cpin");
    std::fs::write(&local, b"in").unwrap();
    d.ok(&["cp", local.to_str().unwrap(), "src:/cpin"]);
    let upper = d.ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", "src"]);
    assert_eq!(owner_of(&format!("{}/cpin", upper.trim())), (BASE, BASE));
}

#[test]
fn stock_docker_cli_sees_userns() {
    let (d, _) = remapped("userns-docker");
    let docker = |args: &[&str]| {
        Command::new("/usr/local/bin/docker")
            .arg("-H")
            .arg(d.sock())
            .args(args)
            .env("DOCKER_CONFIG", d.root.join("docker-config"))
            .output()
            .unwrap()
    };
    let out = docker(&["info", "--format", "{{json .SecurityOptions}}"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text(&out).contains("name=userns"), "{}", text(&out));
    let out = docker(&["run", "--rm", "busybox", "id", "-u"]);
    assert_eq!(
        text(&out).trim(),
        "0",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The runtime writes the score from outside the user namespace, where
    // the container's root may not (the CLI always sends one, 0 by default).
    let out = docker(&[
        "run",
        "--rm",
        "--oom-score-adj",
        "300",
        "busybox",
        "cat",
        "/proc/self/oom_score_adj",
    ]);
    assert_eq!(
        text(&out).trim(),
        "300",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = docker(&["run", "--rm", "--privileged", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains(
        "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode"
    ));
}

#[test]
fn vfs_storage_driver_under_remap() {
    // vfs: the rootfs is a full copy, bound (open_tree) by the parent.
    let (d, _) = remapped_with("userns-vfs", &["--storage-driver", "vfs"]);
    let out = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "id -u && touch /new && ls -ln /new",
    ]);
    assert!(out.starts_with("0\n"), "{out}");
    assert!(out.contains(" 0 "), "{out}");
    let vfs = d.root.join("data/300000.300000/vfs");
    assert!(vfs.is_dir());
}

/// COPY, ADD and WORKDIR under a remapped daemon write files owned by the
/// remapped ids on the host, which the container sees as root (or the
/// `--chown` user).
#[test]
fn build_copies_are_owned_by_the_remapped_ids() {
    let (d, _user) = remapped("build");
    let ctx = d.root.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("f.txt"), "copied\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nWORKDIR /made/here\nCOPY f.txt /copied/f.txt\nCOPY --chown=5:6 f.txt /owned.txt\n",
    )
    .unwrap();
    d.ok(&["build", "-q", "-t", "remapbuild", ctx.to_str().unwrap()]);
    let out = d.ok(&[
        "run",
        "--rm",
        "remapbuild",
        "stat",
        "-c",
        "%u:%g %n",
        "/made/here",
        "/copied",
        "/copied/f.txt",
        "/owned.txt",
    ]);
    assert_eq!(
        out,
        "0:0 /made/here\n0:0 /copied\n0:0 /copied/f.txt\n5:6 /owned.txt\n"
    );
}

/// The IPC namespace is made by the container's root inside its user
/// namespace, so /dev/mqueue (whose root inode takes its creator's ids)
/// belongs to root inside, not to an unmapped host id shown as nobody.
#[test]
fn mqueue_belongs_to_the_container_root() {
    let (d, _) = remapped("userns-mqueue");
    let out = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "stat -c '%u:%g %a' /dev/mqueue && readlink /proc/self/ns/ipc && touch /dev/mqueue/q && stat -c '%u:%g' /dev/mqueue/q",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "0:0 1777", "{out}");
    // Still a private IPC namespace, not the host's.
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    assert_ne!(lines[1], host_ipc.to_str().unwrap());
    assert_eq!(lines[2], "0:0", "{out}");
    // exec joins the same IPC namespace and sees the same queue.
    let id = d.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "touch /dev/mqueue/init && sleep 300",
    ]);
    let id = id.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let listed = loop {
        let ls = d.ok(&["exec", id, "ls", "/dev/mqueue"]);
        if ls.contains("init") || std::time::Instant::now() > deadline {
            break ls;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(listed.trim(), "init");
}

/// Every subordinate range of the remap user is mapped, container ids
/// contiguous across them (Docker's order): 0..999 are the first range,
/// 1000.. the second.
#[test]
fn all_subordinate_ranges_are_mapped() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| add_remap_user(MULTI_USER, &MULTI_RANGES));
    let d = Daemon::start_with("userns-multi", &["--userns-remap", MULTI_USER]);
    d.busybox();
    let want = "0 500000 1000\n1000 600000 65536";
    for file in ["uid_map", "gid_map"] {
        let map = d.ok(&[
            "run",
            "--rm",
            "busybox",
            "cat",
            &format!("/proc/self/{file}"),
        ]);
        let got: Vec<String> = map
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(got.join("\n"), want, "{file}: {map}");
    }
    // A file of uid 1500 inside is 600500 on the host; one of 999 is 500999.
    let id = d.ok(&[
        "run",
        "-d",
        "busybox",
        "sh",
        "-c",
        "touch /a /b && chown 999:999 /a && chown 1500:1500 /b && touch /done && sleep 300",
    ]);
    let id = id.trim();
    let upper = d.ok(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", id]);
    let upper = upper.trim();
    let done = format!("{upper}/done");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::path::Path::new(&done).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(owner_of(&format!("{upper}/a")), (500999, 500999));
    assert_eq!(owner_of(&format!("{upper}/b")), (600500, 600500));
    assert_eq!(owner_of(&format!("{upper}/done")), (500000, 500000));
    // A process can switch to an id of the second range.
    let out = d.ok(&["exec", "-u", "2000:2000", id, "id"]);
    assert!(
        out.contains("uid=2000") && out.contains("gid=2000"),
        "{out}"
    );
    // Archives shift back through both ranges.
    let out = Command::new(common::BERTH)
        .args(["-H", &d.sock(), "cp", &format!("{id}:/b"), "-"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let owners = tar_owners(&out.stdout);
    assert_eq!((owners[0].1, owners[0].2), (1500, 1500), "{owners:?}");
}

/// The container's network namespace belongs to its user namespace, so its
/// root writes the `net.*` sysctls: `--sysctl net.*` works under remap, and
/// Docker's default `ip_unprivileged_port_start=0` lets the remapped root
/// serve on port 80.
#[test]
fn net_sysctls_and_low_ports_work_under_remap() {
    let (d, _) = remapped("userns-netsysctl");
    let out = d.ok(&[
        "run",
        "--rm",
        "--sysctl",
        "net.ipv4.tcp_syncookies=0",
        "busybox",
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/tcp_syncookies /proc/sys/net/ipv4/ip_unprivileged_port_start \
         && httpd -p 80 && echo listening",
    ]);
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "listening"],
        "{out}"
    );
    // A sysctl the kernel does not have fails the start with its name.
    let bad = d.cli(&[
        "run",
        "--rm",
        "--sysctl",
        "net.ipv4.no_such_key=1",
        "busybox",
        "true",
    ]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    // Docker's (runc's) message names the file: "open
    // /proc/sys/net/ipv4/no_such_key: no such file or directory".
    assert!(
        stderr.contains("/proc/sys/net/ipv4/no_such_key"),
        "{stderr}"
    );
    // The failed start left no running container behind.
    assert_eq!(d.ok(&["ps", "-q"]).trim(), "");
}

/// The user namespace owning the namespace file `ns` (ioctl NS_GET_USERNS),
/// as the inode number `/proc/<pid>/ns/user` links to.
fn owner_userns(ns: &str) -> u64 {
    const NS_GET_USERNS: libc::c_ulong = 0xb701;
    let f = std::fs::File::open(ns).unwrap_or_else(|e| panic!("{ns}: {e}"));
    // SAFETY: ioctl on a descriptor we own; it returns a new descriptor.
    let fd = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&f), NS_GET_USERNS) };
    assert!(
        fd >= 0,
        "NS_GET_USERNS {ns}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: the ioctl returned a fresh descriptor nobody else owns.
    let owner = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    owner.metadata().unwrap().ino()
}

fn userns_ino(pid: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/user"))
        .unwrap()
        .ino()
}

/// GET / from `addr`, retried for a few seconds while the server starts.
fn http_get(addr: &str) -> Option<String> {
    use std::io::Write;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .ok()?;
            write!(s, "GET /index.html HTTP/1.0\r\n\r\n").ok()?;
            let mut out = String::new();
            if s.read_to_string(&mut out).is_ok() && !out.is_empty() {
                return Some(out);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

/// As under Docker with `--userns-remap`: the network namespace of a
/// remapped container belongs to the container's user namespace (on
/// `none`, the default bridge and user-defined networks), so `--cap-add
/// NET_ADMIN` lets its root configure interfaces; without the capability
/// it cannot.
#[test]
fn net_admin_configures_the_network_under_remap() {
    let (d, subnet) = remapped("userns-netadmin");
    let script = "ip addr add 10.9.9.9/32 dev lo && ip link set lo down && echo done";
    d.ok(&["network", "create", "unet"]);
    for net in ["none", "bridge", "unet"] {
        let out = d.ok(&[
            "run",
            "--rm",
            "--network",
            net,
            "--cap-add",
            "NET_ADMIN",
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        assert_eq!(out.trim(), "done", "--network {net}");
        let denied = d.cli(&[
            "run",
            "--rm",
            "--network",
            net,
            "busybox",
            "sh",
            "-c",
            script,
        ]);
        assert!(
            !denied.status.success(),
            "--network {net} without NET_ADMIN: {}",
            text(&denied)
        );
    }
    // The namespace's owner is the container's user namespace.
    for net in ["none", "bridge", "unet"] {
        let id = d.ok(&["run", "-d", "--network", net, "busybox", "sleep", "300"]);
        let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", id.trim()]);
        let pid = pid.trim();
        assert_eq!(
            owner_userns(&format!("/proc/{pid}/ns/net")),
            userns_ino(pid),
            "--network {net}"
        );
        assert_ne!(userns_ino(pid), userns_ino("self"));
        // The sandbox file the daemon keeps is that same namespace.
        if net != "none" {
            let key = d.ok(&[
                "inspect",
                "-f",
                "{{.NetworkSettings.SandboxKey}}",
                id.trim(),
            ]);
            let a = std::fs::metadata(key.trim()).unwrap().ino();
            let b = std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .unwrap()
                .ino();
            assert_eq!(a, b, "sandbox {key}");
        }
        d.ok(&["rm", "-f", id.trim()]);
    }
    // The gateway answers (ICMP from the remapped root, CAP_NET_RAW over
    // its own namespace).
    let gw = format!("{subnet}1");
    let out = d.ok(&["run", "--rm", "busybox", "ping", "-c", "1", "-W", "5", &gw]);
    assert!(out.contains("1 packets received"), "{out}");
}

/// Bridge networking of remapped containers otherwise works as before:
/// published ports, DNS names on a user-defined network, `--sysctl net.*`,
/// exec, `network connect`, and all of it after a daemon restart.
#[test]
fn remapped_networking_survives_a_daemon_restart() {
    let (mut d, subnet) = remapped("userns-netrestart");
    d.ok(&["network", "create", "rnet"]);
    let web = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--network",
        "rnet",
        "-p",
        "127.0.0.1::80",
        "--sysctl",
        "net.ipv4.ip_forward=1",
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo hello remapped > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let web = web.trim().to_string();
    let port = d.ok(&["port", &web, "80/tcp"]);
    let addr = port.trim().to_string();
    let page = http_get(&addr).expect("published port");
    assert!(page.contains("hello remapped"), "{page}");
    assert_eq!(
        d.ok(&["exec", &web, "cat", "/proc/sys/net/ipv4/ip_forward"])
            .trim(),
        "1"
    );
    let resolve = |d: &common::Daemon| {
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "rnet",
            "busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://web/",
        ])
    };
    assert!(resolve(&d).contains("hello remapped"));
    // A running remapped container joins the default bridge too.
    d.ok(&["network", "connect", "bridge", &web]);
    let eth1 = d.ok(&["exec", &web, "ip", "-4", "addr", "show", "eth1"]);
    assert!(eth1.contains(&format!("inet {subnet}")), "{eth1}");
    // Another container shares its network (and sees its interfaces).
    let shared = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://127.0.0.1/",
    ]);
    assert!(shared.contains("hello remapped"), "{shared}");

    d.kill9();
    d.spawn();
    let page = http_get(&addr).expect("published port after the restart");
    assert!(page.contains("hello remapped"), "{page}");
    assert!(resolve(&d).contains("hello remapped"));
    let eth1 = d.ok(&["exec", &web, "ip", "-4", "addr", "show", "eth1"]);
    assert!(eth1.contains(&format!("inet {subnet}")), "{eth1}");
    // Disconnect after the restart finds the namespace by path.
    d.ok(&["network", "disconnect", "bridge", &web]);
    let links = d.ok(&["exec", &web, "ls", "/sys/class/net"]);
    assert_eq!(
        links.split_whitespace().collect::<Vec<_>>(),
        ["eth0", "lo"],
        "{links}"
    );
    let key = d.ok(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", &web]);
    d.ok(&["rm", "-f", &web]);
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        !std::path::Path::new(key.trim()).exists()
    });
    assert!(gone, "sandbox {} left after rm", key.trim());
}

/// `--network container:<x>` under remap joins `x`'s user namespace too, as
/// Docker does (its network namespace belongs to that user namespace), so
/// `--cap-add NET_ADMIN` works there as well; the joiner's other namespaces
/// are its own (its pid 1, its /proc). A `--userns host` target keeps the
/// joiner in a user namespace of its own.
#[test]
fn network_container_joins_the_user_namespace_too() {
    let (d, _) = remapped("userns-netcontainer");
    let web = d.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "300"]);
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", web.trim()]);
    let pid = pid.trim();
    let host_link = |n: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{n}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:web",
        "--cap-add",
        "NET_ADMIN",
        "busybox",
        "sh",
        "-c",
        "for n in user net pid; do readlink /proc/self/ns/$n; done; id -u; \
         cat /proc/1/comm; ip link set lo down && ip link set lo up && echo done",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(lines[0], host_link("user"), "{out}");
    assert_eq!(lines[1], host_link("net"), "{out}");
    assert_ne!(lines[2], host_link("pid"), "{out}");
    assert_eq!(&lines[3..], ["0", "sh", "done"], "{out}");
    // exec into the joiner works as into any remapped container.
    let joiner = d.ok(&[
        "run",
        "-d",
        "--network",
        "container:web",
        "busybox",
        "sleep",
        "300",
    ]);
    let ip = d.ok(&["exec", joiner.trim(), "ip", "-4", "addr", "show", "eth0"]);
    assert!(ip.contains("inet 172.26."), "{ip}");
    assert_eq!(d.ok(&["exec", joiner.trim(), "id", "-u"]).trim(), "0");

    let hosty = d.ok(&[
        "run", "-d", "--userns", "host", "--name", "hosty", "busybox", "sleep", "300",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "container:hosty",
        "busybox",
        "readlink",
        "/proc/self/ns/user",
    ]);
    let own = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_ne!(out.trim(), own.to_string_lossy(), "{out}");
    d.ok(&["rm", "-f", web.trim(), joiner.trim(), hosty.trim()]);
}

/// True when a mount point whose path ends with `suffix` is in the host's
/// mount table.
fn mounted(suffix: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|p| p.ends_with(suffix)))
}

/// `--pid container:<x>` and `--ipc container:<x>` under remap join `x`'s
/// user namespace too, as Docker does (its pid and IPC namespaces belong to
/// it), alone, together and with `--network container:<x>`: the joiner sees
/// `x`'s processes, its IPC sysctls and /dev/shm (a shareable donor's tmpfs,
/// mounted by the daemon, gone when it stops). A `--userns host` target is
/// not joined: its pid/IPC namespaces are refused to a remapped joiner with
/// a clear message (Docker fails in runc) and work with `--userns host`.
#[test]
fn pid_and_ipc_container_join_the_user_namespace_too() {
    let (d, _) = remapped("userns-pidipc");
    let web = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--ipc",
        "shareable",
        "--sysctl",
        "kernel.msgmax=12345",
        "busybox",
        "sh",
        "-c",
        "echo hi > /dev/shm/f; exec sleep 300",
    ]);
    let web = web.trim();
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", web]);
    let pid = pid.trim().to_string();
    let link = |pid: &str, n: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/{n}"))
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let shm = format!("/containers/{web}/mounts/shm");
    assert!(mounted(&shm), "no shareable /dev/shm for {web}");

    let out = d.ok(&[
        "run",
        "--rm",
        "--pid",
        "container:web",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/user; readlink /proc/self/ns/pid; id -u; ps -o pid,args",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], link(&pid, "user"), "{out}");
    assert_eq!(lines[1], link(&pid, "pid"), "{out}");
    assert_eq!(lines[2], "0", "{out}");
    assert!(
        lines.iter().any(|l| l.trim() == "1 sleep 300"),
        "web's init not seen: {out}"
    );

    let out = d.ok(&[
        "run",
        "--rm",
        "--ipc",
        "container:web",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/user; readlink /proc/self/ns/ipc; \
         cat /proc/sys/kernel/msgmax /dev/shm/f; echo back > /dev/shm/g",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], link(&pid, "user"), "{out}");
    assert_eq!(lines[1], link(&pid, "ipc"), "{out}");
    assert_eq!(&lines[2..], ["12345", "hi"], "{out}");
    assert_eq!(d.ok(&["exec", web, "cat", "/dev/shm/g"]).trim(), "back");

    // All three at once, and exec into such a joiner.
    let joiner = d.ok(&[
        "run",
        "-d",
        "--pid",
        "container:web",
        "--ipc",
        "container:web",
        "--network",
        "container:web",
        "busybox",
        "sleep",
        "300",
    ]);
    let joiner = joiner.trim();
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.PidMode}} {{.HostConfig.IpcMode}}",
            joiner
        ])
        .trim(),
        format!("container:{web} container:{web}")
    );
    let out = d.ok(&[
        "exec",
        joiner,
        "sh",
        "-c",
        "for n in user pid ipc net; do readlink /proc/self/ns/$n; done; \
         id -u; cat /dev/shm/f; ps -o args | grep -c '^sleep 300'",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 7, "{out}");
    for (i, n) in ["user", "pid", "ipc", "net"].iter().enumerate() {
        assert_eq!(lines[i], link(&pid, n), "{n}: {out}");
    }
    assert_eq!(&lines[4..], ["0", "hi", "2"], "{out}");

    // A private (non-shareable) IPC namespace is not joined, as with Docker.
    d.ok(&["run", "-d", "--name", "lonely", "busybox", "sleep", "300"]);
    let out = d.cli(&[
        "run",
        "--rm",
        "--ipc",
        "container:lonely",
        "busybox",
        "true",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains(
                "non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
            ),
        "{err}"
    );
    // Targets in two different user namespaces cannot be combined.
    let out = d.cli(&[
        "run",
        "--rm",
        "--pid",
        "container:lonely",
        "--ipc",
        "container:web",
        "busybox",
        "true",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("different user namespaces"),
        "{err}"
    );

    // A --userns host target: not joined.
    d.ok(&[
        "run",
        "-d",
        "--userns",
        "host",
        "--ipc",
        "shareable",
        "--name",
        "hosty",
        "busybox",
        "sleep",
        "300",
    ]);
    for mode in ["--pid", "--ipc"] {
        let out = d.cli(&["run", "--rm", mode, "container:hosty", "busybox", "true"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && err.contains("runs in the host's user namespace (--userns host)"),
            "{mode}: {err}"
        );
    }
    let out = d.ok(&[
        "run",
        "--rm",
        "--userns",
        "host",
        "--pid",
        "container:hosty",
        "--ipc",
        "container:hosty",
        "busybox",
        "sh",
        "-c",
        "readlink /proc/self/ns/user; ps -o pid,args | grep -c ' sleep 300$'",
    ]);
    let own = std::fs::read_link("/proc/self/ns/user").unwrap();
    assert_eq!(out, format!("{}\n1\n", own.to_string_lossy()));

    // The shareable /dev/shm goes with its container's stop.
    d.ok(&["rm", "-f", joiner]);
    d.ok(&["stop", "-t", "0", web]);
    assert!(!mounted(&shm), "{shm} still mounted after stop");
    let out = d.cli(&["run", "--rm", "--pid", "container:web", "busybox", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(&format!("container {web} is not running")),
        "{err}"
    );
    d.ok(&["rm", "-f", web, "lonely", "hosty"]);
}

/// The same modes without remap: pid and IPC namespaces shared, no user
/// namespace anywhere; `container:<name>` is checked and stored by id at
/// create, as Docker does.
#[test]
fn pid_and_ipc_container_without_remap() {
    let d = Daemon::start("userns-pidipc-plain");
    d.busybox();
    let out = d.cli(&["create", "--pid", "container:nope", "busybox", "true"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No such container: nope"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let web = d.ok(&[
        "run",
        "-d",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo hi > /dev/shm/f; exec sleep 300",
    ]);
    let web = web.trim();
    let out = d.ok(&[
        "run",
        "--rm",
        "--pid",
        &format!("container:{}", &web[..12]),
        "--ipc",
        &format!("container:{web}"),
        "busybox",
        "sh",
        "-c",
        "cat /dev/shm/f; ps -o pid,args | grep -c '^ *1 sleep 300$'",
    ]);
    assert_eq!(out, "hi\n1\n");
    d.ok(&["rm", "-f", web]);
}
