//! A `berth daemon` per test, with its own data root, exec root, socket,
//! bridge and subnet, driven through the `berth` CLI; torn down on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::cleanup;
use super::BERTH;

/// Tests of one binary run in parallel; each daemon gets its own bridge and
/// /24 so their networks never collide: a /24 of 172.31.20-219 that this
/// binary has not handed out yet and the host routes nowhere (other test
/// binaries and other daemons may run at the same time).
static NEXT_NET: AtomicU32 = AtomicU32::new(0);
static TAKEN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn private_network() -> (String, String) {
    let pid = std::process::id();
    let n = NEXT_NET.fetch_add(1, Ordering::SeqCst) % 200;
    let routed = cleanup::host_routes_v4();
    let mut taken = TAKEN.lock().unwrap_or_else(|e| e.into_inner());
    let third = (0..200)
        .map(|k| 20 + (pid + n + k) % 200)
        .find(|t| {
            let net = u32::from_be_bytes([172, 31, *t as u8, 0]);
            !taken.contains(t)
                && !routed
                    .iter()
                    .any(|(dst, mask)| (dst & mask) == (net & mask) && *mask != 0)
        })
        .unwrap_or(20 + (pid + n) % 200);
    taken.push(third);
    (
        format!("bt{}{n}", pid % 1000),
        format!("172.31.{third}.1/24"),
    )
}

/// Rewrites the daemon's command before it is spawned (e.g. to run it through a
/// wrapper that passes systemd-style sockets); stdio is set up afterwards.
pub type Wrap = std::sync::Arc<dyn Fn(Command) -> Command + Send + Sync>;

/// A daemon under `/tmp/berth-e2e-<name>-<pid>`. On drop (also when the test
/// panics) its containers and networks are removed, the daemon killed, and
/// what it leaves on the host taken away: processes of its containers, mounts
/// under its root, its nftables tables and FORWARD rules, the bridge it made,
/// the root itself (see [`cleanup`]).
pub struct Daemon {
    pub root: PathBuf,
    child: Option<Child>,
    extra: Vec<String>,
    wrap: Option<Wrap>,
    /// The default bridge when the daemon made it (a bridge that existed
    /// before, `-b`, is the administrator's and stays).
    own_bridge: Option<String>,
}

impl Daemon {
    pub fn start(name: &str) -> Daemon {
        Daemon::start_with(name, &[])
    }

    /// With extra daemon flags; `--bridge`/`-b` there replace the private network.
    pub fn start_with(name: &str, extra: &[&str]) -> Daemon {
        Daemon::start_wrapped(name, extra, None)
    }

    pub fn start_wrapped(name: &str, extra: &[&str], wrap: Option<Wrap>) -> Daemon {
        cleanup::sweep_stale_scratch();
        let root = PathBuf::from(format!("/tmp/berth-e2e-{name}-{}", std::process::id()));
        cleanup::unmount_under(&root);
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
            own_bridge: None,
        };
        d.own_bridge = d
            .bridge()
            .filter(|b| !Path::new("/sys/class/net").join(b).exists());
        d.spawn();
        d
    }

    /// The value given to daemon flag `flag` (e.g. the private `--bridge`).
    pub fn extra_value(&self, flag: &str) -> Option<String> {
        let i = self.extra.iter().position(|a| a == flag)?;
        self.extra.get(i + 1).cloned()
    }

    /// The daemon's default bridge (`--bridge` or `-b`).
    pub fn bridge(&self) -> Option<String> {
        self.extra_value("--bridge")
            .or_else(|| self.extra_value("-b"))
    }

    pub fn data(&self) -> PathBuf {
        self.root.join("data")
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
            .arg(self.data())
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

    /// The CLI against this daemon, with its own docker config dir
    /// (credentials); `stdin` is fed to it.
    pub fn cli_in(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .cli_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    fn cli_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("-H")
            .arg(self.sock())
            .args(args)
            .env("DOCKER_CONFIG", self.root.join("docker-config"));
        c
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_in(args, "")
    }

    /// The stock docker CLI against this daemon (same config dir as `cli`).
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.sock())
            .env("DOCKER_CONFIG", self.root.join("docker-config"))
            .stdin(Stdio::null())
            .output()
            .expect("the docker CLI")
    }

    /// The stdout of a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The exit code and stderr of a command that must fail.
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.cli(args);
        assert!(!out.status.success(), "berth {args:?} should fail");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `busybox:latest` from Debian's static busybox.
    pub fn busybox(&self) {
        let tar = super::busybox_tar(&self.root);
        self.ok(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    }

    /// A busybox image `tag` with `extra` files (replacing the default
    /// `etc/passwd`/`etc/group` when named so) and `import -c` `changes`.
    pub fn import_busybox(&self, extra: &[(&str, &[u8])], changes: &[&str], tag: &str) {
        let tar = super::busybox_tar_with(&self.root, extra);
        let mut args = vec!["import"];
        for c in changes {
            args.extend(["-c", c]);
        }
        args.extend([tar.to_str().unwrap(), tag]);
        self.ok(&args);
    }

    /// One HTTP/1.1 request on the daemon's socket; the raw response.
    pub fn api_raw(&self, method: &str, path: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(self.sock_path()).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// One request on the API socket; (status, body).
    pub fn api(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let resp = self.api_raw(method, path, body);
        let status = resp[9..12].parse().unwrap();
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// The CLI, for at most `secs` seconds (teardown must not hang on a
    /// wedged daemon); None when it could not run or took too long.
    fn cli_bounded(&self, args: &[&str], secs: u64) -> Option<Output> {
        let mut child = self
            .cli_command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        while child.try_wait().ok()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            cleanup::print_log_tail(&self.root.join("daemon.log"));
        }
        if self.child.is_some() {
            if let Some(out) = self.cli_bounded(&["ps", "-aq"], 30) {
                let ids = String::from_utf8_lossy(&out.stdout).into_owned();
                let mut args = vec!["rm", "-f"];
                args.extend(ids.lines().filter(|l| !l.is_empty()));
                if args.len() > 2 {
                    let _ = self.cli_bounded(&args, 60);
                }
            }
            let _ = self.cli_bounded(&["network", "prune", "-f"], 30);
        }
        self.kill9();
        cleanup::tear_down(
            &self.root,
            self.bridge().as_deref(),
            self.own_bridge.as_deref(),
        );
    }
}
