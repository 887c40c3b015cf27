//! The shim end to end with a terminal (needs root): `docker run -t` and
//! `docker exec -t` see a terminal of the container's own devpts, and the
//! log holds what the line discipline made of the output ("\r\n").

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_shim::protocol::{parse_header, FRAME_EXIT, FRAME_STDOUT, HEADER_LEN};
use serde_json::{json, Value};

fn busybox_root(dir: &Path) -> std::path::PathBuf {
    let out = Command::new("/work/shared/compat/fixtures/busybox-rootfs.sh")
        .output()
        .expect("run busybox-rootfs.sh");
    assert!(out.status.success(), "busybox-rootfs.sh failed");
    let root = dir.join("rootfs");
    fs::create_dir(&root).unwrap();
    let mut tar = Command::new("tar")
        .args(["-xf", "-", "-C", root.to_str().unwrap()])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    tar.stdin.take().unwrap().write_all(&out.stdout).unwrap();
    assert!(tar.wait().unwrap().success());
    root
}

fn spec(root: &Path, args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin:/usr/bin"],
            "cwd": "/"
        },
        "root": {"path": root},
        "hostname": "tty",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}
        ],
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "uts"}, {"type": "ipc"}]
        }
    })
}

/// Log lines' "log" fields, once the shim recorded the exit.
fn wait_log(bundle: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !bundle.join("exit.json").exists() {
        assert!(Instant::now() < deadline, "container did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    fs::read_to_string(bundle.join("log.json"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["log"].as_str().unwrap().to_string()
        })
        .collect()
}

/// One `exec -t` through the shim socket: the stdout frames until the exit.
fn exec_tty(bundle: &Path, args: &[&str]) -> String {
    let mut sock = UnixStream::connect(bundle.join("shim.sock")).unwrap();
    let req = json!({
        "op": "exec",
        "process": {"terminal": true, "user": {"uid": 0, "gid": 0}, "args": args, "env": ["PATH=/bin"], "cwd": "/"},
        "stdin": false
    });
    let mut line = serde_json::to_vec(&req).unwrap();
    line.push(b'\n');
    sock.write_all(&line).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut out = Vec::new();
    loop {
        let mut h = [0u8; HEADER_LEN];
        sock.read_exact(&mut h).unwrap();
        let (kind, len) = parse_header(&h);
        let mut payload = vec![0u8; len];
        sock.read_exact(&mut payload).unwrap();
        match kind {
            FRAME_STDOUT => out.extend_from_slice(&payload),
            FRAME_EXIT => break,
            _ => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn run_shim_test() {
    let dir = tempfile::tempdir().unwrap();
    let root = busybox_root(dir.path());
    let bundle = dir.path().join("bundle");
    fs::create_dir(&bundle).unwrap();
    let script = "tty; echo one; echo two; sleep 2";
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&spec(&root, &["sh", "-c", script])).unwrap(),
    )
    .unwrap();
    let opts = json!({
        "id": "ttytest", "tty": true, "open_stdin": false, "stdin_once": false,
        "log_path": bundle.join("log.json"), "rootfs": null,
        "initial_size": {"height": 30, "width": 100}
    });
    fs::write(bundle.join("shim.json"), opts.to_string()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut shim = Command::new(exe)
        .args(["--shim-child", "--bundle", bundle.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut report = String::new();
    BufReader::new(shim.stdout.take().unwrap())
        .read_line(&mut report)
        .unwrap();
    let report: Value = serde_json::from_str(&report).unwrap();
    assert!(report["pid"].is_i64(), "{report}");

    // The init holds /dev/pts/0, so an exec gets the next one, with no size
    // of its own; the init's size came from initial_size.
    assert_eq!(
        exec_tty(&bundle, &["sh", "-c", "tty; stty size </dev/pts/0"]),
        "/dev/pts/1\r\n30 100\r\n"
    );
    assert_eq!(wait_log(&bundle), ["/dev/pts/0\r\n", "one\r\n", "two\r\n"]);
    let _ = shim.kill();
    let _ = shim.wait();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--shim-child") {
        if let Err(e) = berth_shim::main(args[1..].to_vec()) {
            eprintln!("shim: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let ok = std::panic::catch_unwind(run_shim_test).is_ok();
    println!("test shim_tty ... {}", if ok { "ok" } else { "FAILED" });
    if !ok {
        std::process::exit(1);
    }
}
