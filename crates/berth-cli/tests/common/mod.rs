//! The end-to-end harness shared by the test binaries: a real daemon per test
//! with a private data root, exec root, socket, bridge and subnet, driven
//! through the `berth` CLI. Needs root, overlayfs, cgroups, nftables and
//! Debian's busybox-static for the test image.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Tests of one binary run in parallel; each daemon gets its own bridge and
/// /24 so their networks never collide (binaries run one after another).
static NEXT_NET: AtomicU32 = AtomicU32::new(0);

fn private_network() -> (String, String) {
    let n = NEXT_NET.fetch_add(1, Ordering::SeqCst) % 200;
    (
        format!("bt{}{n}", std::process::id() % 1000),
        format!("172.31.{}.1/24", n + 20),
    )
}

/// Rewrites the daemon's command before it is spawned (e.g. to run it through a
/// wrapper that passes systemd-style sockets); stdio is set up afterwards.
pub type Wrap = std::sync::Arc<dyn Fn(Command) -> Command + Send + Sync>;

pub struct Daemon {
    pub root: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
    wrap: Option<Wrap>,
}

impl Daemon {
    pub fn start(name: &str) -> Daemon {
        Daemon::start_with(name, &[])
    }

    pub fn start_with(name: &str, extra: &[&str]) -> Daemon {
        Daemon::start_wrapped(name, extra, None)
    }

    pub fn start_wrapped(name: &str, extra: &[&str], wrap: Option<Wrap>) -> Daemon {
        let root = PathBuf::from(format!("/tmp/berth-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if !extra.iter().any(|a| a == "--bridge" || a == "-b") {
            let (bridge, bip) = private_network();
            extra.extend(["--bridge".into(), bridge, "--bip".into(), bip]);
        }
        let mut d = Daemon {
            root,
            child: None,
            extra,
            wrap,
        };
        d.spawn();
        d
    }

    /// The value given to daemon flag `flag` (e.g. the private `--bridge`).
    pub fn extra_value(&self, flag: &str) -> Option<String> {
        let i = self.extra.iter().position(|a| a == flag)?;
        self.extra.get(i + 1).cloned()
    }

    pub fn sock_path(&self) -> PathBuf {
        self.root.join("exec/berth.sock")
    }

    pub fn sock(&self) -> String {
        format!("unix://{}", self.sock_path().display())
    }

    pub fn spawn(&mut self) {
        let mut cmd = Command::new(BERTH);
        cmd.args(["daemon", "--data-root"])
            .arg(self.root.join("data"))
            .arg("--exec-root")
            .arg(self.root.join("exec"))
            .arg("-H")
            .arg(self.sock())
            .args(&self.extra);
        if let Some(wrap) = &self.wrap {
            cmd = wrap(cmd);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.root.join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.cli(&["version"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "daemon did not come up: {}",
            std::fs::read_to_string(self.root.join("daemon.log")).unwrap_or_default()
        );
    }

    /// SIGKILL: what a crash looks like to the containers.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child by pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    pub fn cli_in(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(BERTH)
            .arg("-H")
            .arg(self.sock())
            .args(args)
            .env("DOCKER_CONFIG", self.root.join("docker-config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_in(args, "")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn busybox(&self) {
        let tar = busybox_tar(&self.root);
        self.ok(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.cli(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).lines() {
                let _ = self.cli(&["rm", "-f", id]);
            }
            let _ = self.cli(&["network", "prune", "-f"]);
        }
        self.kill9();
        // The daemon keeps its network namespaces mounted for live restore;
        // a finished test takes them down with it.
        if let Ok(entries) = std::fs::read_dir(self.root.join("exec/netns")) {
            for e in entries.flatten() {
                use std::os::unix::ffi::OsStrExt;
                if let Ok(c) = std::ffi::CString::new(e.path().as_os_str().as_bytes()) {
                    // SAFETY: a valid NUL-terminated path.
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
            }
        }
        // Its nftables table and FORWARD accept rules go too.
        if let Some(i) = self.extra.iter().position(|a| a == "--bridge" || a == "-b") {
            if let Some(bridge) = self.extra.get(i + 1) {
                remove_nft_state(&format!("berth_{}", bridge.replace(['-', '.'], "_")));
            }
        }
    }
}

/// Deletes tables `ip <table>` and `ip6 <table>` and the rules tagged with
/// its name in `ip filter FORWARD` and `ip6 filter FORWARD`.
fn remove_nft_state(table: &str) {
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
        let _ = child.stdin.take().unwrap().write_all(script.as_bytes());
        let _ = child.wait();
    }
}

/// A busybox rootfs tarball from Debian's static busybox, with every applet linked.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let path = dir.join("busybox.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    add(
        "bin/busybox",
        &std::fs::read("/bin/busybox").expect("apt-get install busybox-static"),
        0o755,
    );
    add(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        0o644,
    );
    add("etc/group", b"root:x:0:\napp:x:1000:\n", 0o644);
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    b.into_inner().unwrap();
    path
}

pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
