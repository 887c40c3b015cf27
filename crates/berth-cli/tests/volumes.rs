//! End-to-end: volumes and mounts through the `berth` CLI against a real
//! daemon with a private data root (needs root, overlayfs, cgroups and
//! Debian's busybox-static). Named volumes persist across containers and a
//! daemon restart, refuse removal while used, get the image's content on
//! first mount; binds honour `ro`; `--volumes-from` shares; `rm -v` cleans up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Each test daemon gets its own bridge and /24: tests run in parallel.
fn private_network_args() -> Vec<String> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 200;
    vec![
        "--bridge".into(),
        format!("bv{}{n}", std::process::id() % 1000),
        "--bip".into(),
        format!("172.29.{}.1/24", n + 20),
    ]
}

struct Daemon {
    root: PathBuf,
    child: Option<Child>,
    /// Kept across restarts: the daemon's networks must stay the same.
    net: Vec<String>,
}

impl Daemon {
    fn start(name: &str) -> Daemon {
        let root = PathBuf::from(format!("/tmp/berth-vol-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut d = Daemon {
            root,
            child: None,
            net: private_network_args(),
        };
        d.spawn();
        d
    }

    fn sock(&self) -> String {
        format!("unix://{}/exec/berth.sock", self.root.display())
    }

    fn spawn(&mut self) {
        let child = Command::new(BERTH)
            .args(["daemon", "--data-root"])
            .arg(self.root.join("data"))
            .arg("--exec-root")
            .arg(self.root.join("exec"))
            .arg("-H")
            .arg(self.sock())
            .args(&self.net)
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

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM: a clean daemon shutdown, then a fresh start reads the state back.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BERTH)
            .arg("-H")
            .arg(self.sock())
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.cli(args);
        assert!(!out.status.success(), "berth {args:?} should fail");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn busybox(&self, extra: &[(&str, &[u8])], changes: &[&str], tag: &str) {
        let tar = busybox_tar(&self.root, extra);
        let mut args = vec!["import"];
        for c in changes {
            args.extend(["-c", c]);
        }
        args.extend([tar.to_str().unwrap(), tag]);
        self.ok(&args);
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        let ids = self.cli(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.cli(&["rm", "-f", id]);
        }
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A busybox rootfs tarball from Debian's static busybox, plus `extra` files.
fn busybox_tar(dir: &Path, extra: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join(format!("busybox-{}.tar", extra.len()));
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
    add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644);
    add("etc/group", b"root:x:0:\n", 0o644);
    for (name, data) in extra {
        add(name, data, 0o644);
    }
    for applet in [
        "sh", "echo", "cat", "ls", "sort", "tr", "touch", "sleep", "grep", "cut", "true",
    ] {
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
fn named_volume_lifecycle_copy_up_and_restart() {
    let mut d = Daemon::start("named");
    d.busybox(&[], &[], "busybox:latest");
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
    let d = Daemon::start("bind");
    d.busybox(&[], &[], "busybox:latest");
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
    let d = Daemon::start("anon");
    d.busybox(
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
