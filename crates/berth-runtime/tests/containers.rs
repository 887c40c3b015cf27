//! Real containers (needs root): a busybox root filesystem mounted with
//! overlay, a spec shaped like the one Docker generates, output compared with
//! what Docker prints for the same command (../shared/compat/cases/core-*).
//!
//! Own runner (harness = false): the runtime forks, so tests run one after
//! the other on the main thread.

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth_runtime::{
    create_and_start, exec, ExecContext, PtySize, RootfsMount, RuntimeError, Spec, Started, Stdio,
};
use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{pipe2, Pid};
use serde_json::{json, Value};

const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The busybox tree every container's overlay uses as its lower layer.
fn base_rootfs() -> &'static Path {
    static BASE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &BASE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let tar = dir.path().join("rootfs.tar");
            let out = std::process::Command::new("/work/shared/compat/fixtures/busybox-rootfs.sh")
                .output()
                .expect("run busybox-rootfs.sh");
            assert!(out.status.success(), "busybox-rootfs.sh failed");
            fs::write(&tar, out.stdout).unwrap();
            let base = dir.path().join("base");
            fs::create_dir(&base).unwrap();
            let st = std::process::Command::new("tar")
                .args(["-xf", tar.to_str().unwrap(), "-C", base.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(st.success());
            (dir, base)
        })
        .1
}

/// A container bundle: overlay dirs, the files Docker bind-mounts, a spec.
struct Bundle {
    dir: tempfile::TempDir,
    spec: Value,
}

impl Bundle {
    fn new(args: &[&str]) -> Bundle {
        let dir = tempfile::tempdir().unwrap();
        for d in ["upper", "work", "rootfs"] {
            fs::create_dir(dir.path().join(d)).unwrap();
        }
        // Relative lowerdir, resolved through RootfsMount::chdir.
        std::os::unix::fs::symlink(base_rootfs(), dir.path().join("l")).unwrap();
        fs::write(dir.path().join("hostname"), "myhost\n").unwrap();
        fs::write(dir.path().join("hosts"), "127.0.0.1\tlocalhost\n").unwrap();
        fs::write(dir.path().join("resolv.conf"), "nameserver 10.0.0.1\n").unwrap();
        let spec = docker_like_spec(dir.path(), &dir.path().join("rootfs"), args);
        Bundle { dir, spec }
    }

    fn rootfs_mount(&self) -> RootfsMount {
        RootfsMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            data: "lowerdir=l,upperdir=upper,workdir=work".into(),
            chdir: Some(self.dir.path().to_path_buf()),
        }
    }

    fn spec(&self) -> Spec {
        serde_json::from_value(self.spec.clone()).unwrap()
    }

    fn start(&self, stdio: Stdio) -> Result<Started, RuntimeError> {
        create_and_start(&self.spec(), Some(&self.rootfs_mount()), stdio)
    }

    /// Runs to completion: (exit code, stdout, stderr).
    fn run(&self) -> (i32, String, String) {
        let (stdio, out, err) = pipes();
        let started = self.start(stdio).expect("container starts");
        collect(started.pid, out, err)
    }
}

/// The spec Docker 20.10 generates for `docker run busybox <args>`.
fn docker_like_spec(bundle: &Path, rootfs: &Path, args: &[&str]) -> Value {
    let bind = |src: &str, dst: &str| json!({"destination": dst, "type": "bind", "source": bundle.join(src), "options": ["rbind", "rprivate"]});
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0, "additionalGids": [0]},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=myhost", "HOME=/root"],
            "cwd": "/",
            "capabilities": {"bounding": DOCKER_CAPS, "effective": DOCKER_CAPS, "permitted": DOCKER_CAPS},
            "oomScoreAdj": 0,
            "noNewPrivileges": false
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": "myhost",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
            bind("resolv.conf", "/etc/resolv.conf"),
            bind("hostname", "/etc/hostname"),
            bind("hosts", "/etc/hosts")
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}],
            "maskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// Pipes for a container: (its Stdio, our read end of stdout, of stderr).
fn pipes() -> (Stdio, OwnedFd, OwnedFd) {
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).unwrap();
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).unwrap();
    let stdin: OwnedFd = fs::File::open("/dev/null").unwrap().into();
    (
        Stdio::Pipes {
            stdin,
            stdout: out_w,
            stderr: err_w,
        },
        out_r,
        err_r,
    )
}

fn collect(pid: i32, out: OwnedFd, err: OwnedFd) -> (i32, String, String) {
    let mut o = String::new();
    let mut e = String::new();
    fs::File::from(out).read_to_string(&mut o).unwrap();
    fs::File::from(err).read_to_string(&mut e).unwrap();
    let code = match waitpid(Pid::from_raw(pid), None).unwrap() {
        WaitStatus::Exited(_, c) => c,
        WaitStatus::Signaled(_, s, _) => 128 + s as i32,
        other => panic!("unexpected wait status {other:?}"),
    };
    (code, o, e)
}

fn run(args: &[&str]) -> (i32, String, String) {
    Bundle::new(args).run()
}

fn run_ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "exit code, stderr: {err}");
    out
}

// ---- tests ----

fn pid_is_1() {
    assert_eq!(run_ok(&["sh", "-c", "echo pid $$"]), "pid 1\n");
    assert_eq!(
        run_ok(&["ps", "-o", "pid,comm"]),
        "PID   COMMAND\n    1 ps\n"
    );
}

fn hostname_and_etc_hostname() {
    assert_eq!(run_ok(&["hostname"]), "myhost\n");
    assert_eq!(run_ok(&["cat", "/etc/hostname"]), "myhost\n");
}

fn dev_listing_matches_docker() {
    let out = run_ok(&["sh", "-c", "ls /dev | sort | tr '\\n' ' '"]);
    assert_eq!(
        out,
        "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
    );
    assert_eq!(
        run_ok(&[
            "sh",
            "-c",
            "echo hi > /dev/null && head -c 3 /dev/zero | wc -c"
        ]),
        "3\n"
    );
}

fn mounts_match_docker() {
    let script = "for m in / /proc /sys /dev /dev/pts /dev/shm /dev/mqueue /etc/hosts /etc/hostname /etc/resolv.conf; do grep -q \" $m \" /proc/mounts && echo \"$m mounted\" || echo \"$m MISSING\"; done";
    let out = run_ok(&["sh", "-c", script]);
    assert!(!out.contains("MISSING"), "{out}");
    assert_eq!(
        run_ok(&[
            "sh",
            "-c",
            "grep ' /sys ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1"
        ]),
        "ro\n"
    );
    assert_eq!(
        run_ok(&["sh", "-c", "df -k /dev/shm | tail -1 | awk '{print $2}'"]),
        "65536\n"
    );
    assert_eq!(
        run_ok(&["cat", "/etc/resolv.conf"]),
        "nameserver 10.0.0.1\n"
    );
    // /sys/fs/cgroup is a read-only tmpfs here (no cgroup given).
    assert_eq!(
        run_ok(&[
            "sh",
            "-c",
            "grep ' /sys/fs/cgroup ' /proc/mounts | cut -d' ' -f3,4 | cut -d, -f1"
        ]),
        "tmpfs ro\n"
    );
}

fn default_capabilities() {
    let out = run_ok(&["grep", "-E", "^Cap(Prm|Eff|Bnd)", "/proc/self/status"]);
    assert_eq!(
        out,
        "CapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"
    );
    assert_eq!(
        run_ok(&[
            "sh",
            "-c",
            "mount -t tmpfs none /mnt 2>/dev/null && echo mounted || echo mount denied"
        ]),
        "mount denied\n"
    );
}

fn cap_drop_all_and_add_one() {
    let mut b = Bundle::new(&["grep", "-E", "^Cap(Prm|Eff|Bnd)", "/proc/self/status"]);
    b.spec["process"]["capabilities"] = json!({"bounding": [], "effective": [], "permitted": []});
    let (_, out, _) = b.run();
    assert_eq!(
        out,
        "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
    );
    let one = ["CAP_NET_BIND_SERVICE"];
    b.spec["process"]["capabilities"] =
        json!({"bounding": one, "effective": one, "permitted": one});
    b.spec["process"]["args"] = json!(["grep", "CapEff", "/proc/self/status"]);
    assert_eq!(b.run().1, "CapEff:\t0000000000000400\n");
}

fn non_root_user() {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "id; grep -E '^Cap(Prm|Eff)' /proc/self/status; echo $HOME",
    ]);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [1000]});
    // Docker gives a non-root user only the bounding set.
    b.spec["process"]["capabilities"] = json!({"bounding": DOCKER_CAPS});
    b.spec["process"]["env"] = json!(["PATH=/bin", "HOME=/home/app"]);
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "uid=1000(app) gid=1000(app) groups=1000(app)\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n/home/app\n"
    );
    b.spec["process"]["user"] = json!({"uid": 4242, "gid": 4343, "additionalGids": [4343]});
    b.spec["process"]["args"] = json!(["id"]);
    assert_eq!(b.run().1, "uid=4242 gid=4343 groups=4343\n");
}

fn read_only_root() {
    let mut b = Bundle::new(&["touch", "/x"]);
    b.spec["root"]["readonly"] = json!(true);
    let (code, _, err) = b.run();
    assert_eq!(code, 1);
    assert_eq!(err, "touch: /x: Read-only file system\n");
    // --tmpfs /tmp stays writable under --read-only.
    b.spec["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec"]}),
    );
    b.spec["process"]["args"] = json!(["sh", "-c", "touch /tmp/x && echo tmp writable"]);
    assert_eq!(b.run().1, "tmp writable\n");
}

fn user_tmpfs_and_proc_sys_read_only() {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "grep ' /scratch ' /proc/mounts | cut -d' ' -f3,4",
    ]);
    b.spec["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    let (_, out, _) = b.run();
    assert!(out.starts_with("tmpfs rw,"), "{out}");
    let (code, _, err) = run(&["sh", "-c", "echo 1 > /proc/sys/vm/drop_caches"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "sh: can't create /proc/sys/vm/drop_caches: Read-only file system\n"
    );
    // Masked: files read as empty (/dev/null), directories are empty and read-only.
    assert_eq!(
        run_ok(&[
            "sh",
            "-c",
            "wc -c < /proc/timer_list; ls /sys/firmware | wc -l"
        ]),
        "0\n0\n"
    );
    let (code, _, _) = run(&["touch", "/sys/firmware/x"]);
    assert_eq!(code, 1);
}

fn workdir_env_and_rlimits() {
    let mut b = Bundle::new(&["sh", "-c", "pwd; cd .. && pwd; ulimit -n"]);
    b.spec["process"]["cwd"] = json!("/tmp/new/dir");
    b.spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1234}]);
    assert_eq!(b.run().1, "/tmp/new/dir\n/tmp/new\n1234\n");
    let mut b = Bundle::new(&["env"]);
    b.spec["process"]["env"] = json!(["PATH=/bin", "A=1", "B=two words"]);
    assert_eq!(b.run().1, "PATH=/bin\nA=1\nB=two words\n");
}

fn clean_signals_and_sysctl() {
    // The test process ignores SIGPIPE (Rust does); the container must not.
    let out = run_ok(&["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"]);
    assert_eq!(
        out,
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n"
    );
    let mut b = Bundle::new(&[
        "cat",
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/kernel/domainname",
    ]);
    b.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    b.spec["domainname"] = json!("example.org");
    assert_eq!(b.run().1, "1\nexample.org\n");
}

fn seccomp_default_profile() {
    let caps: Vec<String> = DOCKER_CAPS.iter().map(|c| c.to_string()).collect();
    let profile = serde_json::to_value(berth_seccomp::default_profile(&caps).unwrap()).unwrap();
    let mut b = Bundle::new(&["grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"]);
    b.spec["linux"]["seccomp"] = profile;
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "NoNewPrivs:\t0\nSeccomp:\t2\n");
    // With no_new_privs the filter goes on last, right before execve.
    b.spec["process"]["noNewPrivileges"] = json!(true);
    assert_eq!(b.run().1, "NoNewPrivs:\t1\nSeccomp:\t2\n");
    // Denied by the profile (and by the missing CAP_SYS_ADMIN): new namespaces.
    b.spec["process"]["args"] = json!(["unshare", "-U", "true"]);
    assert_ne!(b.run().0, 0);
}

/// Removes a test cgroup even when the test fails.
struct CgroupGuard(String);

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        if let Ok(cg) = berth_cgroups::Cgroup::open(&self.0) {
            let _ = cg.kill_all(libc::SIGKILL);
            let _ = cg.destroy();
        }
        // The shared parent goes too once empty (remove_dir fails otherwise).
        if let Ok(parent) = berth_cgroups::Cgroup::open("berth-runtime-test") {
            for (_, dir) in parent.container_mounts() {
                let _ = fs::remove_dir(dir);
            }
        }
    }
}

fn cgroup_limits_visible_inside() {
    let rel = format!("berth-runtime-test/{}", std::process::id());
    let _guard = CgroupGuard(rel.clone());
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; touch /sys/fs/cgroup/memory/x 2>/dev/null || echo ro",
    ]);
    b.spec["linux"]["cgroupsPath"] = json!(rel);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "67108864\nro\n");
    // exec joins the same cgroup as the init.
    b.spec["process"]["args"] = json!(["sleep", "30"]);
    let (stdio, o, e) = pipes();
    let init = b.start(stdio).unwrap().pid;
    let spec = b.spec();
    let mut process = spec.process().clone().unwrap();
    process.set_args(Some(vec!["cat".into(), "/proc/self/cgroup".into()]));
    let (estdio, eo, ee) = pipes();
    let started = exec(init, &spec, &process, estdio).unwrap();
    let theirs = collect(started.pid, eo, ee).1;
    let init_cg = fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    assert_eq!(theirs, init_cg);
    assert!(init_cg.contains(&rel), "{init_cg}");
    // --cgroupns private: the container's cgroup is its namespace root.
    let mut c = Bundle::new(&["cat", "/proc/self/cgroup"]);
    c.spec["linux"] = b.spec["linux"].clone();
    c.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    let (code, out, err) = c.run();
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().all(|l| l.ends_with(":/")), "{out}");
    kill(Pid::from_raw(init), Signal::SIGKILL).unwrap();
    collect(init, o, e);
}

/// `--pid container:<a>`: the new container joins a's pid namespace by path,
/// yet stays a direct child of the caller.
fn join_pid_namespace_of_other_container() {
    let a = Bundle::new(&["sleep", "30"]);
    let (stdio, o, e) = pipes();
    let init = a.start(stdio).unwrap().pid;
    let mut b = Bundle::new(&["ps", "-o", "pid,comm"]);
    b.spec["linux"]["namespaces"][3] =
        json!({"type": "pid", "path": format!("/proc/{init}/ns/pid")});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1], "    1 sleep", "{out}");
    assert!(lines[2].ends_with(" ps"), "{out}");
    // The caller's own pid namespace for children is back to normal.
    assert_eq!(
        fs::read_link("/proc/self/ns/pid_for_children").unwrap(),
        fs::read_link("/proc/self/ns/pid").unwrap()
    );
    kill(Pid::from_raw(init), Signal::SIGKILL).unwrap();
    collect(init, o, e);
}

fn no_new_privs_flag() {
    let out = run_ok(&["grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status"]);
    assert_eq!(out, "NoNewPrivs:\t0\nSeccomp:\t0\n");
    let mut b = Bundle::new(&["grep", "NoNewPrivs", "/proc/self/status"]);
    b.spec["process"]["noNewPrivileges"] = json!(true);
    assert_eq!(b.run().1, "NoNewPrivs:\t1\n");
}

fn namespaces_isolated_or_shared() {
    let script = "for n in pid mnt uts ipc net; do readlink /proc/self/ns/$n; done";
    let host: Vec<String> = ["pid", "mnt", "uts", "ipc", "net"]
        .iter()
        .map(|n| {
            fs::read_link(format!("/proc/self/ns/{n}"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    let out = run_ok(&["sh", "-c", script]);
    for (line, h) in out.lines().zip(&host) {
        assert_ne!(line, h, "namespace not isolated");
    }
    // --pid host --uts host --ipc host: drop them from the list.
    let mut b = Bundle::new(&["sh", "-c", script]);
    b.spec["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "network"}]);
    b.spec["hostname"] = Value::Null;
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], host[0]);
    assert_eq!(lines[2], host[2]);
    assert_eq!(lines[3], host[3]);
    assert_ne!(lines[4], host[4]);
    // Joining by path: the net namespace of this test process.
    let mut b = Bundle::new(&["readlink", "/proc/self/ns/net"]);
    b.spec["linux"]["namespaces"][1] = json!({"type": "network", "path": "/proc/self/ns/net"});
    assert_eq!(b.run().1.trim(), host[4]);
}

fn exec_errors_use_runc_wording() {
    let start = |args: &[&str]| {
        let (stdio, _o, _e) = pipes();
        Bundle::new(args)
            .start(stdio)
            .expect_err("start fails")
            .to_string()
    };
    assert_eq!(
        start(&["/nonexistent"]),
        "exec: \"/nonexistent\": stat /nonexistent: no such file or directory"
    );
    assert_eq!(
        start(&["foo"]),
        "exec: \"foo\": executable file not found in $PATH"
    );
    assert_eq!(
        start(&["/etc/passwd"]),
        "exec: \"/etc/passwd\": permission denied"
    );
    assert_eq!(start(&["/etc"]), "exec: \"/etc\": permission denied");
}

fn exec_into_running_container() {
    let b = Bundle::new(&["sleep", "30"]);
    let (stdio, out, err) = pipes();
    let init = b.start(stdio).expect("start sleep").pid;
    let spec = b.spec();
    let mut process = spec.process().clone().unwrap();
    process.set_args(Some(vec!["ps".into(), "-o".into(), "pid,comm".into()]));
    let (estdio, eout, eerr) = pipes();
    let started = exec(init, &spec, &process, estdio).expect("exec ps");
    let (code, ps, perr) = collect(started.pid, eout, eerr);
    assert_eq!(code, 0, "{perr}");
    let lines: Vec<&str> = ps.lines().collect();
    assert_eq!(lines[0], "PID   COMMAND");
    assert_eq!(lines[1], "    1 sleep");
    assert!(lines[2].ends_with(" ps"), "{ps}");
    // Same hostname and root filesystem view as the init.
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "hostname; cat /etc/hostname; pwd".into(),
    ]));
    process.set_cwd("/tmp".into());
    let (estdio, eout, eerr) = pipes();
    let started = exec(init, &spec, &process, estdio).expect("exec sh");
    assert_eq!(collect(started.pid, eout, eerr).1, "myhost\nmyhost\n/tmp\n");
    // A missing program is reported like for the init.
    process.set_args(Some(vec!["nosuch".into()]));
    let (estdio, _o, _e) = pipes();
    let e = exec(init, &spec, &process, estdio).expect_err("exec fails");
    assert_eq!(
        e.to_string(),
        "exec: \"nosuch\": executable file not found in $PATH"
    );
    kill(Pid::from_raw(init), Signal::SIGKILL).unwrap();
    let (code, _, _) = collect(init, out, err);
    assert_eq!(code, 128 + 9);
}

/// A `sleep 30` container in a cgroup of its own under Docker's seccomp
/// profile, to exec into; [`ExecTarget::stop`] kills it.
struct ExecTarget {
    rel: String,
    init: i32,
    spec: oci_spec::runtime::Spec,
    out: OwnedFd,
    err: OwnedFd,
    _guard: CgroupGuard,
}

impl ExecTarget {
    fn start(tag: &str) -> ExecTarget {
        let rel = format!("berth-runtime-test/{tag}-{}", std::process::id());
        let guard = CgroupGuard(rel.clone());
        let caps: Vec<String> = DOCKER_CAPS.iter().map(|c| c.to_string()).collect();
        let mut b = Bundle::new(&["sleep", "30"]);
        b.spec["linux"]["cgroupsPath"] = json!(rel);
        b.spec["linux"]["seccomp"] =
            serde_json::to_value(berth_seccomp::default_profile(&caps).unwrap()).unwrap();
        let (stdio, out, err) = pipes();
        let init = b.start(stdio).expect("start sleep").pid;
        ExecTarget {
            rel,
            init,
            spec: b.spec(),
            out,
            err,
            _guard: guard,
        }
    }

    fn stop(self) {
        kill(Pid::from_raw(self.init), Signal::SIGKILL).unwrap();
        assert_eq!(collect(self.init, self.out, self.err).0, 128 + 9);
    }
}

/// One context, many execs: each lands in the init's namespaces and cgroup
/// under the seccomp filter, with the caller's ignored signals and mask
/// left behind, whatever the previous exec did.
fn exec_context_serves_many_execs() {
    let target = ExecTarget::start("ctx");
    let (rel, init, spec) = (&target.rel, target.init, &target.spec);
    // Ignored and blocked in the caller when the context is made: the
    // container must not inherit either (SIGPIPE is ignored by Rust).
    // SAFETY: SIG_IGN for a signal this test process does not use.
    unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
    let mut block = nix::sys::signal::SigSet::empty();
    block.add(Signal::SIGTERM);
    block.thread_block().unwrap();
    let ctx = ExecContext::new(init, spec).expect("exec context");
    assert_eq!(ctx.init_pid(), init);
    let init_view = format!(
        "{}{}",
        fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap(),
        fs::read_link(format!("/proc/{init}/ns/mnt"))
            .unwrap()
            .display()
    );
    let mut process = spec.process().clone().unwrap();
    let script = "cat /proc/self/cgroup; readlink /proc/self/ns/mnt; \
                  grep -E '^(SigBlk|SigIgn|Seccomp):' /proc/self/status; \
                  hostname; pwd; echo $X";
    process.set_args(Some(vec!["sh".into(), "-c".into(), script.into()]));
    for i in 0..3 {
        process.set_env(Some(vec!["PATH=/bin".into(), format!("X=run{i}")]));
        process.set_cwd(if i == 1 { "/tmp" } else { "/" }.into());
        let (estdio, eo, ee) = pipes();
        let started = ctx.exec(&process, estdio).expect("exec");
        let (code, got, gerr) = collect(started.pid, eo, ee);
        assert_eq!(code, 0, "{gerr}");
        let (cgroup_and_ns, rest) = got.split_at(init_view.len());
        assert_eq!(cgroup_and_ns, init_view, "{got}");
        assert!(init_view.contains(rel.as_str()), "{init_view}");
        let cwd = if i == 1 { "/tmp" } else { "/" };
        assert_eq!(
            rest,
            format!(
                "\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSeccomp:\t2\nmyhost\n{cwd}\nrun{i}\n"
            )
        );
    }
    // Errors keep runc's wording and leave the context usable.
    process.set_args(Some(vec!["nosuch".into()]));
    let (estdio, _o, _e) = pipes();
    let e = ctx.exec(&process, estdio).expect_err("exec fails");
    assert_eq!(
        e.to_string(),
        "exec: \"nosuch\": executable file not found in $PATH"
    );
    process.set_args(Some(vec!["true".into()]));
    let (estdio, eo, ee) = pipes();
    let started = ctx.exec(&process, estdio).expect("exec after an error");
    assert_eq!(collect(started.pid, eo, ee).0, 0);
    block.thread_unblock().unwrap();
    // SAFETY: back to the default.
    unsafe { libc::signal(libc::SIGUSR2, libc::SIG_DFL) };
    drop(ctx);
    target.stop();
}

/// Exec children share the caller's memory until execve: whatever they
/// allocate and still hold at execve would stay allocated in the caller,
/// once per exec. Many execs must leave the caller's heap as it was; and
/// the caller is non-dumpable, the flag belonging to the shared memory.
fn exec_children_leave_the_callers_heap_alone() {
    let target = ExecTarget::start("heap");
    let (init, spec) = (target.init, &target.spec);
    let ctx = ExecContext::new(init, spec).expect("exec context");
    // SAFETY: prctl with integer arguments only.
    assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }, 0);
    let mut process = spec.process().clone().unwrap();
    // A PATH search with misses, and argument and environment lists.
    process.set_args(Some(vec!["true".into(), "a".into(), "b".into()]));
    let env: Vec<String> = (0..20).map(|i| format!("V{i}=value{i}")).collect();
    process.set_env(Some(
        [vec!["PATH=/nowhere:/sbin:/bin".to_string()], env].concat(),
    ));
    let run = |n: usize| {
        for _ in 0..n {
            let (estdio, eo, ee) = pipes();
            let started = ctx.exec(&process, estdio).expect("exec");
            assert_eq!(collect(started.pid, eo, ee).0, 0);
        }
    };
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let in_use = || unsafe { libc::mallinfo2() }.uordblks;
    run(5);
    let before = in_use();
    run(200);
    let grown = in_use().saturating_sub(before);
    assert!(
        grown < 2048,
        "the caller's heap grew by {grown} bytes over 200 execs"
    );
    drop(ctx);
    // SAFETY: as above; back to dumpable for the tests that follow.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
    target.stop();
}

fn pty_is_controlling_terminal() {
    let pty = nix::pty::openpty(None, None).unwrap();
    let b = Bundle::new(&["sh", "-c", "tty; ls /dev/console"]);
    let mut b = b;
    b.spec["process"]["terminal"] = json!(true);
    let started = b
        .start(Stdio::Pty { slave: pty.slave })
        .expect("start with pty");
    let mut out = Vec::new();
    let mut master = fs::File::from(pty.master);
    // EIO once the slave side is closed by the exiting process.
    let _ = master.read_to_end(&mut out);
    let _ = waitpid(Pid::from_raw(started.pid), None);
    let text = String::from_utf8_lossy(&out);
    // The slave is both the controlling terminal and /dev/console (the
    // container's own devpts instance does not hold it, so that is the name
    // ttyname finds).
    assert_eq!(text, "/dev/console\r\n/dev/console\r\n");
}

/// Reads a terminal master until every slave is gone (EIO), then reaps `pid`.
fn read_master(pid: i32, master: OwnedFd) -> String {
    let mut out = Vec::new();
    let _ = fs::File::from(master).read_to_end(&mut out);
    let _ = waitpid(Pid::from_raw(pid), None);
    String::from_utf8_lossy(&out).into_owned()
}

/// `docker run -t`: the terminal comes from the container's own devpts, so
/// it has a name there (/dev/pts/0, as with runc), is also /dev/console,
/// belongs to the process's user and group tty, has the requested size, and
/// the line discipline turns "\n" into "\r\n".
fn new_pty_from_container_devpts() {
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "tty; stty size; stat -c '%u:%g %a' /dev/pts/0; echo one; echo two",
    ]);
    b.spec["process"]["terminal"] = json!(true);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let size = PtySize { rows: 24, cols: 80 };
    let started = b
        .start(Stdio::NewPty { size: Some(size) })
        .expect("start with a new pty");
    let master = started.pty_master.expect("pty master returned");
    let text = read_master(started.pid, master);
    assert_eq!(text, "/dev/pts/0\r\n24 80\r\n1000:5 620\r\none\r\ntwo\r\n");

    // exec -t: a second terminal of the same devpts instance.
    b.spec["process"]["args"] = json!(["sleep", "30"]);
    b.spec["process"]["user"] = json!({"uid": 0, "gid": 0});
    let init = b.start(Stdio::NewPty { size: None }).expect("start init");
    let init_master = init.pty_master.expect("init pty master");
    let spec = b.spec();
    let mut process = spec.process().clone().unwrap();
    process.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "tty; readlink /proc/1/fd/0".into(),
    ]));
    let started = exec(init.pid, &spec, &process, Stdio::NewPty { size: None }).expect("exec -t");
    let master = started.pty_master.expect("exec pty master");
    assert_eq!(
        read_master(started.pid, master),
        "/dev/pts/1\r\n/dev/pts/0\r\n"
    );
    kill(Pid::from_raw(init.pid), Signal::SIGKILL).unwrap();
    read_master(init.pid, init_master);
}

/// The start path (rootfs mount, all spec mounts, /dev, pivot_root, exec of
/// `true`, reaped): printed for the record, asserted only against a bound
/// that catches a pathological regression on this shared, loaded machine.
fn start_latency() {
    let b = Bundle::new(&["true"]);
    let mut times = Vec::new();
    for _ in 0..10 {
        let t = std::time::Instant::now();
        let (code, _, _) = b.run();
        times.push(t.elapsed());
        assert_eq!(code, 0);
    }
    times.sort();
    println!("start_latency: median {:?}, min {:?}", times[5], times[0]);
    assert!(times[5] < std::time::Duration::from_secs(1));
}

/// No RootfsMount: root.path itself (bound onto itself) is the root.
fn plain_directory_root() {
    let mut b = Bundle::new(&["sh", "-c", "echo $$; cat /etc/hostname"]);
    b.spec["root"]["path"] = json!(base_rootfs());
    let (stdio, o, e) = pipes();
    let pid = create_and_start(&b.spec(), None, stdio).unwrap().pid;
    assert_eq!(collect(pid, o, e).1, "1\nmyhost\n");
}

fn hooks_run_around_start() {
    let mut b = Bundle::new(&["true"]);
    let pre = b.dir.path().join("pre.json");
    let post = b.dir.path().join("post.json");
    let hook = |file: &Path| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", file.display())]});
    b.spec["hooks"] = json!({"prestart": [hook(&pre)], "poststart": [hook(&post)]});
    b.spec["annotations"] = json!({berth_runtime::ID_ANNOTATION: "c1"});
    let (stdio, o, e) = pipes();
    let pid = b.start(stdio).unwrap().pid;
    collect(pid, o, e);
    let pre: Value = serde_json::from_slice(&fs::read(pre).unwrap()).unwrap();
    let post: Value = serde_json::from_slice(&fs::read(post).unwrap()).unwrap();
    assert_eq!(
        (pre["pid"].as_i64(), pre["status"].as_str()),
        (Some(pid as i64), Some("created"))
    );
    assert_eq!(
        (post["pid"].as_i64(), post["status"].as_str()),
        (Some(pid as i64), Some("running"))
    );
    assert_eq!(pre["id"], "c1");
    // A failing prestart hook stops the start.
    b.spec["hooks"] = json!({"prestart": [{"path": "/bin/false"}]});
    let (stdio, _o, _e) = pipes();
    assert!(b.start(stdio).is_err());
}

fn main() {
    let tests: &[(&str, fn())] = &[
        ("pid_is_1", pid_is_1),
        ("hostname_and_etc_hostname", hostname_and_etc_hostname),
        ("dev_listing_matches_docker", dev_listing_matches_docker),
        ("mounts_match_docker", mounts_match_docker),
        ("default_capabilities", default_capabilities),
        ("cap_drop_all_and_add_one", cap_drop_all_and_add_one),
        ("non_root_user", non_root_user),
        ("read_only_root", read_only_root),
        (
            "user_tmpfs_and_proc_sys_read_only",
            user_tmpfs_and_proc_sys_read_only,
        ),
        ("workdir_env_and_rlimits", workdir_env_and_rlimits),
        ("no_new_privs_flag", no_new_privs_flag),
        ("seccomp_default_profile", seccomp_default_profile),
        ("cgroup_limits_visible_inside", cgroup_limits_visible_inside),
        (
            "join_pid_namespace_of_other_container",
            join_pid_namespace_of_other_container,
        ),
        ("clean_signals_and_sysctl", clean_signals_and_sysctl),
        (
            "namespaces_isolated_or_shared",
            namespaces_isolated_or_shared,
        ),
        ("exec_errors_use_runc_wording", exec_errors_use_runc_wording),
        ("exec_into_running_container", exec_into_running_container),
        (
            "exec_context_serves_many_execs",
            exec_context_serves_many_execs,
        ),
        (
            "exec_children_leave_the_callers_heap_alone",
            exec_children_leave_the_callers_heap_alone,
        ),
        ("pty_is_controlling_terminal", pty_is_controlling_terminal),
        (
            "new_pty_from_container_devpts",
            new_pty_from_container_devpts,
        ),
        ("plain_directory_root", plain_directory_root),
        ("hooks_run_around_start", hooks_run_around_start),
        ("start_latency", start_latency),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, f) in tests {
        if !filter.is_empty() && !filter.iter().any(|p| name.contains(p.as_str())) {
            continue;
        }
        ran += 1;
        let ok = std::panic::catch_unwind(f).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {} passed; {} failed",
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(1);
    }
}
