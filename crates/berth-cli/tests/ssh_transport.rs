//! End-to-end: `ssh://` hosts. A fake `ssh`, first in the client's PATH, logs
//! and checks its arguments (docker's argv), then runs the remote command here
//! with `docker` standing for berth: `berth system dial-stdio` relays to a test
//! daemon as it would on a remote host. The berth CLI (`-H`, `DOCKER_HOST`,
//! contexts, a socket path in the URL) and the stock docker CLI go through it;
//! failures read as docker's, and no ssh process outlives its connection.
//! Needs root, busybox-static and the docker CLI at /usr/local/bin/docker.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rcgen::ExtendedKeyUsagePurpose;

mod common;
use common::*;

const DOCKER: &str = "/usr/local/bin/docker";

/// The host every test names; the fake ssh refuses any other argv.
const URL: &str = "ssh://user@fakehost:2222";

/// docker's ssh arguments for [`URL`], as the fake logs them (`[arg]` each).
const ARGV_PREFIX: &str = "[-o ConnectTimeout=30][-T][-l][user][-p][2222][--][fakehost]";

/// A fake `ssh` in a scratch directory, with a config dir for the clients.
struct FakeSsh {
    dir: Scratch,
    /// Set in the environment of every process the fake runs, to find them.
    marker: String,
}

impl FakeSsh {
    /// Runs the remote command against `daemon_host` (`DOCKER_HOST` there).
    fn new(name: &str, daemon_host: &str) -> FakeSsh {
        let dir = scratch(name);
        let marker = format!("{name}-{}", std::process::id());
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("config")).unwrap();
        let script = format!(
            r#"#!/bin/sh
# Stands in for ssh: logs its arguments, checks them, runs the remote command here.
args=$(for a in "$@"; do printf '[%s]' "$a"; done)
printf '%s\n' "$args" >> {log}
case "$args" in
  '{ARGV_PREFIX}'*) ;;
  *) echo "fake ssh: unexpected arguments: $args" >&2; exit 255 ;;
esac
shift 8
if [ "$1" != docker ]; then echo "sh: 1: $1: not found" >&2; exit 127; fi
shift
export DOCKER_HOST={daemon_host} BERTH_TEST_FAKE_SSH={marker}
exec {berth} "$@"
"#,
            log = dir.join("argv.log").display(),
            berth = BERTH,
        );
        write_executable(&dir.join("bin/ssh"), &script);
        FakeSsh { dir, marker }
    }

    /// PATH with the fake first (for the client process only).
    fn path(&self) -> OsString {
        let mut p = OsString::from(self.dir.join("bin"));
        p.push(":");
        p.push(std::env::var_os("PATH").unwrap_or_default());
        p
    }

    fn config(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// `bin` (berth or docker) with the fake in PATH, its own config dir and
    /// none of the caller's DOCKER_* settings.
    fn client(&self, bin: &str, args: &[&str]) -> Command {
        let mut c = Command::new(bin);
        c.args(args)
            .env("PATH", self.path())
            .env("DOCKER_CONFIG", self.config())
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, bin: &str, args: &[&str]) -> Output {
        self.client(bin, args).output().unwrap()
    }

    /// The stdout of a command that must succeed.
    fn ok(&self, bin: &str, args: &[&str]) -> String {
        ok_output(&format!("{bin} {args:?}"), self.run(bin, args))
    }

    /// `bin -H URL args...` must succeed; its stdout.
    fn ok_ssh(&self, bin: &str, args: &[&str]) -> String {
        let mut all = vec!["-H", URL];
        all.extend(args);
        self.ok(bin, &all)
    }

    /// Runs with `input` on stdin.
    fn run_in(&self, mut cmd: Command, input: &str) -> Output {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs `cmd` with a stdin that stays open (a terminal's): the command
    /// must end on its own when the container does, within 30 seconds.
    fn run_stdin_open(&self, mut cmd: Command) -> Output {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        for _ in 0..300 {
            if child.try_wait().unwrap().is_some() {
                drop(stdin);
                return child.wait_with_output().unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        panic!("{cmd:?} waited for its stdin to close");
    }

    /// Every ssh command line run so far.
    fn invocations(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("argv.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Processes the fake started that are still running. (Zombies have no
    /// environment to tell them by: [`lasting_zombies`] looks for those.)
    fn leftovers(&self) -> Vec<u32> {
        let needle = format!("BERTH_TEST_FAKE_SSH={}", self.marker);
        proc_pids()
            .into_iter()
            .filter(|pid| {
                let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                env.split(|b| *b == 0).any(|v| v == needle.as_bytes())
            })
            .collect()
    }

    /// No process of the fake's is left, within a few seconds.
    fn assert_none_left(&self) {
        assert!(
            eventually(|| self.leftovers().is_empty()),
            "ssh processes left behind: {:?}",
            self.leftovers()
        );
    }
}

fn proc_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// `(state, ppid)` of a process, from /proc/PID/stat.
fn stat(pid: u32) -> Option<(char, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    let mut rest = s[s.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid))
}

/// The children of `parent` that are zombies now and still are a moment later
/// (one can be caught between its exit and its reaping).
fn lasting_zombies(parent: u32) -> Vec<u32> {
    let zombies = || -> Vec<u32> {
        proc_pids()
            .into_iter()
            .filter(|p| stat(*p) == Some(('Z', parent)))
            .collect()
    };
    let first = zombies();
    std::thread::sleep(Duration::from_millis(300));
    let second = zombies();
    first.into_iter().filter(|p| second.contains(p)).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts every logged ssh argv is docker's for [`URL`] running `remote`.
fn assert_argv(fake: &FakeSsh, remote: &[&str]) {
    let calls = fake.invocations();
    assert!(!calls.is_empty(), "ssh was never run");
    let tails: Vec<String> = remote.iter().map(|r| format!("{ARGV_PREFIX}{r}")).collect();
    for call in &calls {
        assert!(tails.contains(call), "unexpected ssh argv {call}");
    }
}

#[test]
fn berth_cli_over_ssh() {
    let d = Daemon::start("ssh-berth");
    d.busybox();
    let fake = FakeSsh::new("ssh-berth", &d.sock());
    let berth = |args: &[&str]| fake.ok_ssh(BERTH, args);

    let version = berth(&["version", "--format", "{{.Server.Version}}"]);
    assert!(!version.trim().is_empty(), "no server version: {version:?}");
    assert!(berth(&["ps", "--format", "{{.Names}}"]).trim().is_empty());
    // Attach (a hijacked connection) and the container's exit through ssh.
    assert_eq!(berth(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    berth(&[
        "run",
        "-d",
        "--name",
        "sshc",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 300",
    ]);
    assert_eq!(berth(&["ps", "--format", "{{.Names}}"]), "sshc\n");
    assert_eq!(berth(&["exec", "sshc", "echo", "from-exec"]), "from-exec\n");
    // stdin's end reaches the process through ssh's half-close.
    let mut exec_i = fake.client(BERTH, &["-H", URL, "exec", "-i", "sshc", "cat"]);
    exec_i.stdin(Stdio::piped());
    let out = fake.run_in(exec_i, "through ssh\n");
    assert_eq!(ok_output("exec -i", out), "through ssh\n");
    assert!(eventually(|| berth(&["logs", "sshc"]) == "started\n"));

    // DOCKER_HOST and a context name the same host.
    let out = fake
        .client(BERTH, &["ps", "--format", "{{.Names}}"])
        .env("DOCKER_HOST", URL)
        .output()
        .unwrap();
    assert_eq!(ok_output("DOCKER_HOST=ssh://", out), "sshc\n");
    fake.ok(
        BERTH,
        &[
            "context",
            "create",
            "overssh",
            "--docker",
            &format!("host={URL}"),
        ],
    );
    assert_eq!(
        fake.ok(
            BERTH,
            &["--context", "overssh", "ps", "--format", "{{.Names}}"]
        ),
        "sshc\n"
    );
    // TLS settings mean nothing to an ssh host (docker ignores them too).
    let pki = fake.dir.join("pki");
    Ca::new("ssh test CA").issue(&pki, &[], ExtendedKeyUsagePurpose::ClientAuth, false);
    let tls = |f: &str| pki.join(f).display().to_string();
    let (ca, cert, key) = (tls("ca.pem"), tls("cert.pem"), tls("key.pem"));
    let tls_flags = [
        "--tlsverify",
        "--tlscacert",
        &ca,
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
    ];
    let mut args = tls_flags.to_vec();
    args.extend(["-H", URL, "ps", "--format", "{{.Names}}"]);
    assert_eq!(fake.ok(BERTH, &args), "sshc\n");

    // A path in the URL is the remote daemon's socket: `docker --host unix://PATH`.
    let with_path = format!("{URL}{}", d.sock_path().display());
    let out = fake.ok(BERTH, &["-H", &with_path, "ps", "--format", "{{.Names}}"]);
    assert_eq!(out, "sshc\n");
    let socket_arg = format!("[docker][--host][{}][system][dial-stdio]", d.sock());
    assert_argv(&fake, &["[docker][system][dial-stdio]", &socket_arg]);

    // One ssh per connection, each reaped as it closes: none lingers as a
    // zombie while the CLI runs, none is left once it is done.
    let mut long = fake
        .client(BERTH, &["-H", URL, "run", "--rm", "busybox", "sleep", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lasting_zombies(long.id()), Vec::<u32>::new());
    assert!(long.wait().unwrap().success());
    fake.assert_none_left();
}

#[test]
fn docker_cli_over_berth_dial_stdio() {
    let d = Daemon::start("ssh-docker");
    d.busybox();
    let fake = FakeSsh::new("ssh-docker", &d.sock());
    let docker = |args: &[&str]| fake.ok_ssh(DOCKER, args);

    let version = docker(&["version", "--format", "{{.Server.Version}}"]);
    assert!(!version.trim().is_empty(), "no server version: {version:?}");
    assert!(docker(&["ps", "--format", "{{.Names}}"]).trim().is_empty());
    assert_eq!(docker(&["run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    // The daemon's end of an attach ends the remote dial-stdio although its
    // stdin is still open; docker's client then ends too. (berth's client is
    // not run so: with stdin left open it waits for it after the container
    // ends, over any transport.)
    let attach_i = fake.client(
        DOCKER,
        &["-H", URL, "run", "-i", "--rm", "busybox", "echo", "bye"],
    );
    assert_eq!(
        ok_output("docker run -i", fake.run_stdin_open(attach_i)),
        "bye\n"
    );
    docker(&[
        "run",
        "-d",
        "--name",
        "dockerc",
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 300",
    ]);
    assert_eq!(
        docker(&["exec", "dockerc", "echo", "from-exec"]),
        "from-exec\n"
    );
    let mut exec_i = fake.client(DOCKER, &["-H", URL, "exec", "-i", "dockerc", "cat"]);
    exec_i.stdin(Stdio::piped());
    let out = fake.run_in(exec_i, "through ssh\n");
    assert_eq!(ok_output("docker exec -i", out), "through ssh\n");
    assert!(eventually(|| docker(&["logs", "dockerc"]) == "started\n"));
    // A context berth made drives docker.
    fake.ok(
        BERTH,
        &[
            "context",
            "create",
            "overssh",
            "--docker",
            &format!("host={URL}"),
        ],
    );
    assert_eq!(
        fake.ok(
            DOCKER,
            &["--context", "overssh", "ps", "--format", "{{.Names}}"]
        ),
        "dockerc\n"
    );
    assert_argv(&fake, &["[docker][system][dial-stdio]"]);
    fake.assert_none_left();
}

#[test]
fn failures_read_as_dockers() {
    // The "remote" daemon is not there: the remote dial-stdio fails, and its
    // words come back through ssh's stderr.
    let fake = FakeSsh::new("ssh-fail", "unix:///nonexistent/berth.sock");
    let berth = fake.run(BERTH, &["-H", URL, "ps"]);
    let docker = fake.run(DOCKER, &["-H", URL, "ps"]);
    assert_eq!(berth.status.code(), Some(1));
    let (b, k) = (stderr(&berth), stderr(&docker));
    let expected = "command [ssh -o ConnectTimeout=30 -T -l user -p 2222 -- fakehost docker \
                    system dial-stdio] has exited with exit status 1, make sure the URL is \
                    valid, and Docker 18.09 or later is installed on the remote host: \
                    stderr=failed to open the raw stream connection: Cannot connect to the \
                    Docker daemon at unix:///nonexistent/berth.sock. Is the docker daemon running?";
    assert!(
        b.starts_with("error during connect: Get \"http://docker.example.com/"),
        "{b}"
    );
    assert!(b.trim_end().ends_with(expected), "{b}");
    assert!(k.trim_end().ends_with(expected), "docker said: {k}");

    // No ssh at all.
    let out = fake
        .client(BERTH, &["-H", URL, "ps"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains(": exec: \"ssh\": executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );

    // URLs docker refuses, refused in its words.
    for (url, reason) in [
        (
            "ssh://user@fakehost?x=1",
            "query parameters are not allowed: \"x=1\"",
        ),
        (
            "ssh://user:pw@fakehost",
            "plain-text password is not supported",
        ),
        ("ssh://", "hostname is empty"),
    ] {
        let out = fake.run(BERTH, &["-H", url, "ps"]);
        assert_eq!(out.status.code(), Some(1));
        let msg = format!("ssh host connection is not valid: invalid SSH URL: {reason}");
        assert!(stderr(&out).contains(&msg), "{url}: {}", stderr(&out));
        assert!(stderr(&fake.run(DOCKER, &["-H", url, "ps"])).contains(&msg));
    }
    fake.assert_none_left();
}

/// Writes an executable script through a child `sh`, so this process never
/// holds the file open for writing: a test thread forking meanwhile would
/// pass such a descriptor on, and running the script would then fail with
/// ETXTBSY ("Text file busy") until that child execs.
fn write_executable(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "writing {}",
        path.display()
    );
}
