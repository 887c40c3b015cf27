//! End-to-end distribution: `berth registry serve` with htpasswd auth, two
//! daemons with private data roots, driven through the `berth` CLI (login,
//! push, pull by tag and digest, run). Needs root, overlayfs and Debian's
//! busybox-static.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const HTPASSWD: &str = "tester:$2b$10$x4PqjbT8ZdFN9wW.k/1lwOHKiw7iqg6s60ekmok/JrOTB2Zf6jTkG\n";

fn scratch(name: &str) -> PathBuf {
    let root = PathBuf::from(format!("/tmp/berth-reg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

/// A registry on a free loopback port, with auth tester / s3cret.
struct Registry {
    root: PathBuf,
    addr: String,
    child: Child,
}

impl Registry {
    fn start(name: &str) -> Registry {
        let root = scratch(&format!("{name}-registry"));
        std::fs::write(root.join("htpasswd"), HTPASSWD).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(BERTH)
            .args(["registry", "serve", "--addr", &addr, "--root"])
            .arg(root.join("storage"))
            .arg("--htpasswd")
            .arg(root.join("htpasswd"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("registry.log")).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "registry did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { root, addr, child }
    }

    /// Paths of every stored blob.
    fn blobs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.root.join("storage/blobs/sha256"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Each test daemon gets its own bridge and /24: tests run in parallel.
fn private_network_args() -> Vec<String> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 200;
    vec![
        "--bridge".into(),
        format!("bg{}{n}", std::process::id() % 1000),
        "--bip".into(),
        format!("172.28.{}.1/24", n + 20),
    ]
}

struct Daemon {
    root: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn start(name: &str) -> Daemon {
        let root = scratch(name);
        let child = Command::new(BERTH)
            .args(["daemon", "--data-root"])
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}/exec/berth.sock", root.display()))
            .args(private_network_args())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.join("daemon.log")).unwrap())
            .spawn()
            .unwrap();
        let d = Daemon {
            root,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !d.cli(&["version"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "daemon did not come up: {}",
                std::fs::read_to_string(d.root.join("daemon.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Runs the CLI with its own docker config dir (credentials).
    fn cli_in(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new(BERTH)
            .arg("-H")
            .arg(format!("unix://{}/exec/berth.sock", self.root.display()))
            .args(args)
            .env("DOCKER_CONFIG", self.root.join("docker-config"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.cli_in(args, "")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn login(&self, reg: &Registry) {
        let out = self.cli_in(
            &["login", "-u", "tester", "--password-stdin", &reg.addr],
            "s3cret\n",
        );
        assert!(
            out.status.success(),
            "login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "Login Succeeded\n");
    }

    fn busybox(&self) {
        let tar = busybox_tar(&self.root);
        self.ok(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let ids = self.cli(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.cli(&["rm", "-f", id]);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn busybox_tar(dir: &Path) -> PathBuf {
    let path = dir.join("busybox.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&path).unwrap());
    let mut h = tar::Header::new_gnu();
    let data = std::fs::read("/bin/busybox").expect("apt-get install busybox-static");
    h.set_size(data.len() as u64);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .unwrap();
    for applet in ["sh", "echo", "cat"] {
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

#[test]
fn push_then_pull_by_tag_and_digest_into_another_daemon() {
    let reg = Registry::start("roundtrip");
    let a = Daemon::start("reg-a");
    a.busybox();
    a.login(&reg);
    let image = format!("{}/e2e/bb:v1", reg.addr);
    a.ok(&["tag", "busybox", &image]);
    let out = a.ok(&["push", &image]);
    assert!(
        out.contains(&format!(
            "The push refers to repository [{}/e2e/bb]",
            reg.addr
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed\n"), "{out}");
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    // A second push finds every blob in place.
    let again = a.ok(&["push", &image]);
    assert!(again.contains(": Layer already exists\n"), "{again}");
    assert!(!again.contains(": Pushed\n"), "{again}");
    let pushed_digests = a.ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &image]);
    assert!(
        pushed_digests.contains("/e2e/bb@sha256:"),
        "{pushed_digests}"
    );

    let b = Daemon::start("reg-b");
    b.login(&reg);
    let out = b.ok(&["pull", &image]);
    assert!(out.starts_with("v1: Pulling from e2e/bb\n"), "{out}");
    assert!(out.contains(": Pull complete\n"), "{out}");
    assert!(!out.contains("Downloading"), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {image}\n")),
        "{out}"
    );
    assert!(out.ends_with(&format!("{image}\n")), "{out}");
    assert_eq!(
        b.ok(&["run", "--rm", &image, "echo", "pulled-ok"]),
        "pulled-ok\n"
    );
    // Same image id as the one pushed: the config bytes travelled unchanged.
    assert_eq!(
        b.ok(&["image", "inspect", "-f", "{{.Id}}", &image]),
        a.ok(&["image", "inspect", "-f", "{{.Id}}", &image])
    );
    let again = b.ok(&["pull", &image]);
    assert!(
        again.contains(&format!("Status: Image is up to date for {image}")),
        "{again}"
    );

    let digest = b.ok(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", &image]);
    let digest = digest.trim();
    assert!(
        digest.starts_with(&format!("{}/e2e/bb@sha256:", reg.addr)),
        "{digest}"
    );
    b.ok(&["rmi", &image]);
    b.ok(&["pull", "-q", digest]);
    assert_eq!(
        b.ok(&["run", "--rm", digest, "echo", "by-digest"]),
        "by-digest\n"
    );

    let missing = b.cli(&["pull", &format!("{}/e2e/nosuch:v1", reg.addr)]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("manifest unknown"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}

#[test]
fn auth_is_refused_without_login() {
    let reg = Registry::start("auth");
    let a = Daemon::start("reg-auth");
    a.busybox();
    let image = format!("{}/e2e/bb:v1", reg.addr);
    a.ok(&["tag", "busybox", &image]);
    let out = a.cli(&["push", &image]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no basic auth credentials"), "{err}");

    let bad = a.cli_in(
        &["login", "-u", "tester", "--password-stdin", &reg.addr],
        "wrong\n",
    );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains(&format!(
            "login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
            reg.addr
        )),
        "{err}"
    );
    a.login(&reg);
    a.ok(&["push", "-q", &image]);
    let out = a.ok(&["logout", &reg.addr]);
    assert_eq!(
        out,
        format!("Removing login credentials for {}\n", reg.addr)
    );
    a.ok(&["rmi", &image]);
    let out = a.cli(&["pull", &image]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no basic auth credentials"));
}

#[test]
fn corrupted_blob_is_rejected_on_pull() {
    let reg = Registry::start("corrupt");
    let a = Daemon::start("reg-corrupt-a");
    a.busybox();
    a.login(&reg);
    let image = format!("{}/e2e/bb:v1", reg.addr);
    a.ok(&["tag", "busybox", &image]);
    a.ok(&["push", "-q", &image]);
    // The layer is the only big blob; flip its bytes in place.
    let layer = reg
        .blobs()
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut data = std::fs::read(&layer).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&layer, data).unwrap();

    let b = Daemon::start("reg-corrupt-b");
    b.login(&reg);
    let entries = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(b.root.join("data").join(dir))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let (snapshots, blobs) = (entries("overlay"), entries("content/sha256"));
    let out = b.cli(&["pull", &image]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("filesystem layer verification failed for digest sha256:"),
        "{err}"
    );
    assert!(!b.cli(&["image", "inspect", &image]).status.success());
    assert_eq!(
        b.ok(&["images", "-q"]).lines().count(),
        1,
        "only hello-world"
    );
    // The layer was streamed into the store: nothing of it is left.
    assert_eq!(entries("overlay"), snapshots);
    assert_eq!(entries("content/sha256"), blobs);
}
