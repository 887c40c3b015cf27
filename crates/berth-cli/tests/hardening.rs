//! Hardening end to end: the confinement Docker applies by default
//! (capabilities, seccomp, no_new_privs, masked and read-only paths, the
//! device cgroup, security options) and regression tests for the known
//! container-escape classes, each of which really attacks and must fail.
//! Needs root, overlayfs, cgroups and Debian's busybox-static.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

mod common;
use common::*;

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value of one `Name:\t<value>` line of a /proc/<pid>/status text.
fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

fn run_status(d: &Daemon, opts: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["busybox", "cat", "/proc/self/status"]);
    d.ok(&args)
}

/// Docker's default capabilities as CapEff/CapBnd bits.
const DOCKER_DEFAULT_CAPS: &str = "00000000a80425fb";

#[test]
fn capabilities_are_dockers() {
    let d = Daemon::start("hcaps");
    d.busybox();
    let s = run_status(&d, &[]);
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&s, f), DOCKER_DEFAULT_CAPS, "{f}");
    }
    assert_eq!(status_field(&s, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&s, "CapAmb"), "0000000000000000");

    let s = run_status(&d, &["--cap-drop", "ALL"]);
    assert_eq!(status_field(&s, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&s, "CapBnd"), "0000000000000000");

    // NET_ADMIN is bit 12.
    let s = run_status(&d, &["--cap-add", "NET_ADMIN"]);
    assert_eq!(status_field(&s, "CapEff"), "00000000a80435fb");
    let s = run_status(&d, &["--cap-drop", "ALL", "--cap-add", "CHOWN"]);
    assert_eq!(status_field(&s, "CapEff"), "0000000000000001");
    let s = run_status(&d, &["--cap-drop", "NET_RAW"]);
    assert_eq!(status_field(&s, "CapEff"), "00000000a80405fb");

    // --privileged: every capability the host's own bounding set allows.
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    let s = run_status(&d, &["--privileged"]);
    assert_eq!(status_field(&s, "CapEff"), status_field(&ours, "CapBnd"));
    assert_eq!(status_field(&s, "CapBnd"), status_field(&ours, "CapBnd"));

    // A non-root user gets the bounding set but no effective capabilities.
    let s = run_status(&d, &["-u", "app"]);
    assert_eq!(status_field(&s, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&s, "CapBnd"), DOCKER_DEFAULT_CAPS);

    // exec gets the container's set too.
    d.ok(&["run", "-d", "--name", "ctr", "busybox", "sleep", "300"]);
    let s = d.ok(&["exec", "ctr", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&s, "CapEff"), DOCKER_DEFAULT_CAPS);

    let out = d.cli(&["run", "--rm", "--cap-add", "BOGUS", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(err(&out).contains("BOGUS"), "{}", err(&out));
}

#[test]
fn seccomp_default_custom_and_unconfined() {
    let d = Daemon::start("hseccomp");
    d.busybox();
    let s = run_status(&d, &[]);
    assert_eq!(status_field(&s, "Seccomp"), "2");
    // Docker's profile refuses new user namespaces (and keyctl, add_key...)
    // without CAP_SYS_ADMIN: EPERM.
    let out = d.cli(&["run", "--rm", "busybox", "unshare", "-U", "true"]);
    assert!(!out.status.success());
    assert!(
        err(&out).contains("Operation not permitted"),
        "{}",
        err(&out)
    );

    let s = run_status(&d, &["--security-opt", "seccomp=unconfined"]);
    assert_eq!(status_field(&s, "Seccomp"), "0");
    d.ok(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "unshare",
        "-U",
        "true",
    ]);
    // --privileged runs without a filter, as Docker's.
    assert_eq!(
        status_field(&run_status(&d, &["--privileged"]), "Seccomp"),
        "0"
    );

    // A Docker-format profile file.
    let profile = d.root.join("nomkdir.json");
    std::fs::write(
        &profile,
        r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
  ]
}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = d.cli(&[
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "mkdir",
        "/newdir",
    ]);
    assert!(!out.status.success());
    assert!(
        err(&out).contains("Operation not permitted"),
        "{}",
        err(&out)
    );
    assert_eq!(
        status_field(&run_status(&d, &["--security-opt", &opt]), "Seccomp"),
        "2"
    );
    // Without the profile the same mkdir works.
    d.ok(&["run", "--rm", "busybox", "mkdir", "/newdir"]);

    // exec processes are filtered like the init.
    d.ok(&["run", "-d", "--name", "ctr", "busybox", "sleep", "300"]);
    let s = d.ok(&["exec", "ctr", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&s, "Seccomp"), "2");
    assert!(!d
        .cli(&["exec", "ctr", "unshare", "-U", "true"])
        .status
        .success());
}

#[test]
fn bad_security_options_create_nothing() {
    let d = Daemon::start("hsecopt");
    d.busybox();
    let out = d.cli(&[
        "run",
        "--rm",
        "--security-opt",
        "foo=bar",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        err(&out).contains(r#"Error response from daemon: invalid --security-opt 2: "foo=bar""#),
        "{}",
        err(&out)
    );
    let out = d.cli(&[
        "create",
        "--security-opt",
        "no-new-privileges=maybe",
        "busybox",
        "true",
    ]);
    assert!(
        err(&out).contains(r#"invalid --security-opt 2: "no-new-privileges=maybe""#),
        "{}",
        err(&out)
    );
    let out = d.cli(&["create", "--security-opt", "foo", "busybox", "true"]);
    assert!(
        err(&out).contains(r#"Invalid --security-opt: "foo""#),
        "{}",
        err(&out)
    );

    // Malformed profile JSON: refused by the client, as docker's.
    let bad = d.root.join("bad.json");
    std::fs::write(&bad, "{\"defaultAction\": ").unwrap();
    let out = d.cli(&[
        "run",
        "--security-opt",
        &format!("seccomp={}", bad.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        err(&out).contains("compacting json for seccomp profile"),
        "{}",
        err(&out)
    );
    // Well-formed JSON that is no profile: refused by the daemon at create.
    let wrong = d.root.join("wrong.json");
    std::fs::write(&wrong, r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).unwrap();
    let out = d.cli(&[
        "run",
        "--security-opt",
        &format!("seccomp={}", wrong.display()),
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125), "{}", err(&out));
    assert!(err(&out).contains("seccomp"), "{}", err(&out));
    // The raw API refuses the same body.
    assert_eq!(d.ok(&["ps", "-aq"]), "", "a container was created");
}

#[test]
fn no_new_privileges() {
    let d = Daemon::start("hnnp");
    d.busybox();
    assert_eq!(status_field(&run_status(&d, &[]), "NoNewPrivs"), "0");
    let s = run_status(&d, &["--security-opt", "no-new-privileges"]);
    assert_eq!(status_field(&s, "NoNewPrivs"), "1");
    assert_eq!(status_field(&s, "Seccomp"), "2");
    let s = run_status(&d, &["--security-opt", "no-new-privileges=true"]);
    assert_eq!(status_field(&s, "NoNewPrivs"), "1");
    let s = run_status(&d, &["--security-opt", "no-new-privileges=false"]);
    assert_eq!(status_field(&s, "NoNewPrivs"), "0");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ctr",
        "--security-opt",
        "no-new-privileges",
        "busybox",
        "sleep",
        "300",
    ]);
    let s = d.ok(&["exec", "ctr", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&s, "NoNewPrivs"), "1");
}

/// Prints, per path, `path:<state>` where state is `absent`, `empty` (a file
/// reading zero bytes or an empty directory) or `data`.
const PROBE_MASKED: &str = r#"for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/latency_stats /proc/acpi /proc/scsi /proc/asound /sys/firmware; do
  if [ ! -e $p ]; then echo "$p:absent";
  elif [ -d $p ]; then if [ -z "$(ls -A $p)" ]; then echo "$p:empty"; else echo "$p:data"; fi;
  elif [ -z "$(head -c 1 $p 2>/dev/null)" ]; then echo "$p:empty"; else echo "$p:data"; fi
done"#;

/// Prints, per path, `path:ro` or `path:rw` by opening it for appending
/// (nothing is ever written, so a failure of the protection is harmless).
const PROBE_READONLY: &str = r#"for p in /proc/sys/kernel/domainname /proc/sysrq-trigger /proc/irq /proc/bus /proc/fs; do
  if [ -d $p ]; then t=$p/.berth-probe; if touch $t 2>/dev/null; then rm -f $t; echo "$p:rw"; else echo "$p:ro"; fi;
  elif true 2>/dev/null >>$p; then echo "$p:rw"; else echo "$p:ro"; fi
done"#;

#[test]
fn masked_and_readonly_paths() {
    let d = Daemon::start("hmask");
    d.busybox();
    let out = d.ok(&["run", "--rm", "busybox", "sh", "-c", PROBE_MASKED]);
    for line in out.lines() {
        assert!(
            line.ends_with(":absent") || line.ends_with(":empty"),
            "masked path shows content: {line}"
        );
    }
    // These exist on every kernel berth supports (kcore does not): really
    // masked, not absent.
    for p in ["/proc/keys", "/proc/timer_list"] {
        assert!(out.contains(&format!("{p}:empty")), "{p}: {out}");
    }
    let out = d.ok(&["run", "--rm", "busybox", "sh", "-c", PROBE_READONLY]);
    for line in out.lines() {
        assert!(line.ends_with(":ro"), "writable: {line}");
    }
    // /proc/sys itself is a read-only mount.
    let out = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "grep -E ' /proc/(sys|sysrq-trigger|bus|fs|irq) ' /proc/self/mountinfo",
    ]);
    assert!(out.contains(" /proc/sys "), "{out}");
    for line in out.lines() {
        assert!(line.split(' ').nth(5).unwrap().starts_with("ro"), "{line}");
    }

    // --privileged unmasks everything and leaves /proc writable.
    let out = d.ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "head -c 5 /proc/timer_list; echo; grep -c ' /proc/timer_list ' /proc/self/mountinfo; true >>/proc/sys/kernel/domainname && echo rw",
    ]);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("Timer"),
        "/proc/timer_list still masked: {out}"
    );
    assert_eq!(
        lines.next(),
        Some("0"),
        "/proc/timer_list still a mount: {out}"
    );
    assert_eq!(lines.next(), Some("rw"), "{out}");
    // exec sees the init's masks (same mount namespace).
    d.ok(&["run", "-d", "--name", "ctr", "busybox", "sleep", "300"]);
    let out = d.ok(&["exec", "ctr", "sh", "-c", PROBE_MASKED]);
    assert!(out.contains("/proc/timer_list:empty"), "{out}");
}

#[test]
fn device_cgroup_allows_only_dockers_defaults() {
    let d = Daemon::start("hdev");
    d.busybox();
    // A block device made inside the container cannot be opened (loop0 is
    // 7:0, sda 8:0): EPERM from the device cgroup, not ENXIO.
    for (name, major, minor) in [("sda", 8, 0), ("loop", 7, 0)] {
        let script = format!(
            "mkdir -p /tmp && mknod /tmp/{name} b {major} {minor} && cat /tmp/{name} >/dev/null"
        );
        let out = d.cli(&["run", "--rm", "busybox", "sh", "-c", &script]);
        assert!(!out.status.success(), "{name} opened");
        assert!(
            err(&out).contains("Operation not permitted"),
            "{name}: {}",
            err(&out)
        );
    }
    // ... nor a character device outside the list (1:1 is /dev/mem).
    let out = d.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /tmp && mknod /tmp/mem c 1 1 && head -c 1 /tmp/mem",
    ]);
    assert!(
        err(&out).contains("Operation not permitted"),
        "{}",
        err(&out)
    );
    // The standard nodes work.
    let out = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo x >/dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && head -c 4 /dev/random | wc -c && echo y >/dev/full; ls /dev/tty && echo ok",
    ]);
    assert_eq!(out, "4\n4\n4\n/dev/tty\nok\n");
    // /dev/tty is usable with a terminal.
    let out = d.ok(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "echo via-tty >/dev/tty",
    ]);
    assert!(out.contains("via-tty"), "{out}");
    // --device adds exactly that one.
    if Path::new("/dev/loop0").exists() {
        d.ok(&[
            "run",
            "--rm",
            "--device",
            "/dev/loop0",
            "busybox",
            "sh",
            "-c",
            "true </dev/loop0",
        ]);
        let out = d.cli(&[
            "run",
            "--rm",
            "--device",
            "/dev/loop0",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /tmp && mknod /tmp/l1 b 7 1 && true </tmp/l1",
        ]);
        assert!(
            err(&out).contains("Operation not permitted"),
            "{}",
            err(&out)
        );
    }
    // --privileged allows any device.
    d.ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /tmp && mknod /tmp/l b 7 0 && true </tmp/l",
    ]);
}

#[test]
fn mac_security_options_are_accepted_and_info_reports_the_host() {
    let d = Daemon::start("hmac");
    d.busybox();
    let apparmor = Path::new("/sys/kernel/security/apparmor").exists();
    for opt in [
        "apparmor=unconfined",
        "label=disable",
        "label=level:s0:c100,c200",
        "label=type:svirt_apache_t",
    ] {
        d.ok(&["run", "--rm", "--security-opt", opt, "busybox", "true"]);
    }
    if !apparmor {
        // Docker ignores a profile name on a host without AppArmor.
        d.ok(&[
            "run",
            "--rm",
            "--security-opt",
            "apparmor=berth-test-profile",
            "busybox",
            "true",
        ]);
    }
    let id = d.ok(&[
        "create",
        "--security-opt",
        "apparmor=unconfined",
        "busybox",
        "true",
    ]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.AppArmorProfile}}", id.trim()]),
        "unconfined\n"
    );
    let opts = d.ok(&["info", "-f", "{{json .SecurityOptions}}"]);
    let opts: Vec<String> = serde_json::from_str(opts.trim()).unwrap();
    assert!(
        opts.contains(&"name=seccomp,profile=builtin".to_string()),
        "{opts:?}"
    );
    assert_eq!(
        opts.iter().any(|o| o == "name=apparmor"),
        apparmor,
        "{opts:?}"
    );
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    assert_eq!(
        opts.iter().any(|o| o == "name=selinux"),
        selinux,
        "{opts:?}"
    );
}

/// CVE-2024-21626 class: no descriptor of the daemon, shim or runtime
/// reaches the container, and a working directory through
/// /proc/self/fd/<n> can never be a directory outside the container.
#[test]
fn no_host_fd_leaks_and_no_cwd_outside() {
    let d = Daemon::start("hfds");
    d.busybox();
    let fds = |o: &str| -> Vec<String> {
        let mut v: Vec<String> = o.split_whitespace().map(String::from).collect();
        v.sort();
        v
    };
    // `ls /proc/self/fd` opens one descriptor of its own (3).
    let out = d.ok(&["run", "--rm", "busybox", "ls", "/proc/self/fd"]);
    assert_eq!(fds(&out), ["0", "1", "2", "3"], "run: {out}");
    let out = d.ok(&["run", "--rm", "-t", "busybox", "ls", "/proc/self/fd"]);
    assert_eq!(fds(&out), ["0", "1", "2", "3"], "run -t: {out}");
    d.ok(&["run", "-d", "--name", "ctr", "busybox", "sleep", "300"]);
    let out = d.ok(&["exec", "ctr", "ls", "/proc/self/fd"]);
    assert_eq!(fds(&out), ["0", "1", "2", "3"], "exec: {out}");
    let out = d.ok(&["exec", "-t", "ctr", "ls", "/proc/self/fd"]);
    assert_eq!(fds(&out), ["0", "1", "2", "3"], "exec -t: {out}");
    let out = d.ok(&["exec", "ctr", "ls", "/proc/1/fd"]);
    assert_eq!(fds(&out), ["0", "1", "2"], "init: {out}");

    // Climbing up from the working directory lists only the container's
    // tree: never the host's, where the test root holds a marker.
    std::fs::write(d.root.join("HOST-MARKER"), "").unwrap();
    let climb = "pwd -P; for i in 1 2 3 4 5 6 7 8 9 10; do ls -a .; cd ..; done";
    for n in 3..=10 {
        let w = format!("/proc/self/fd/{n}");
        for out in [
            d.cli(&["run", "--rm", "-w", &w, "busybox", "sh", "-c", climb]),
            d.cli(&["exec", "-w", &w, "ctr", "sh", "-c", climb]),
        ] {
            let text = text(&out);
            assert!(
                !text.contains("HOST-MARKER")
                    && !text.contains("berth-e2e-")
                    && !text.contains("(unreachable)"),
                "-w {w} reached outside the container: {text}"
            );
        }
    }
    // Sanity: a normal -w still works.
    assert_eq!(
        d.ok(&["run", "--rm", "-w", "/tmp/new/dir", "busybox", "pwd"]),
        "/tmp/new/dir\n"
    );
}

fn sha256_of(path: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// busybox plus the shared libraries the berth binary needs (so the berth
/// binary can run inside it, as runc could in the original attack) and
/// `/evil`, a script whose interpreter is `/proc/self/exe`.
fn attack_image(d: &Daemon) {
    let tar_path = busybox_tar(&d.root);
    let ldd = std::process::Command::new("ldd")
        .arg(BERTH)
        .output()
        .unwrap();
    let mut libs: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/.../libc.so.6 (0x..)" or "/lib64/ld-linux... (0x..)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(p.to_string());
        }
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tar_path)
        .unwrap();
    // Append to the busybox archive: drop its two zero end blocks first.
    let len = file.metadata().unwrap().len();
    let mut end = len;
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = &file;
        let mut block = [0u8; 512];
        while end >= 512 {
            f.seek(SeekFrom::Start(end - 512)).unwrap();
            f.read_exact(&mut block).unwrap();
            if block.iter().any(|b| *b != 0) {
                break;
            }
            end -= 512;
        }
        f.set_len(end).unwrap();
        f.seek(SeekFrom::Start(end)).unwrap();
    }
    let mut b = tar::Builder::new(file);
    let mut add = |name: &str, data: &[u8], mode: u32| {
        append_file(&mut b, name.trim_start_matches('/'), data, mode)
    };
    for lib in &libs {
        add(lib, &std::fs::read(lib).unwrap(), 0o755);
    }
    add("/evil", b"#!/proc/self/exe logs\n", 0o755);
    b.into_inner().unwrap();
    d.ok(&["import", tar_path.to_str().unwrap(), "attack:latest"]);
}

/// Scans every process of the container and tries to open its exe for
/// writing, directly and by re-opening a read descriptor through
/// /proc/self/fd (the O_PATH trick of the original exploit). Appending
/// opens only: if the protection failed nothing would be written anyway.
const ATTACKER: &str = r#"mkdir -p /tmp
end=$(( $(date +%s) + 12 ))
while [ $(date +%s) -lt $end ]; do
  for p in /proc/[0-9]*; do
    [ "$p" = "/proc/$$" ] && continue
    t=$(readlink $p/exe 2>/dev/null)
    [ -n "$t" ] && [ "$t" != /bin/busybox ] && echo "REACHED $p $t" >>/tmp/log
    if true 2>>/tmp/errs >>$p/exe; then echo "OPENED $p $(readlink $p/exe)" >>/tmp/log; fi
    { if true 2>>/tmp/errs >>/proc/self/fd/3; then echo "REOPENED $p" >>/tmp/log; fi; } 3<$p/exe 2>/dev/null
  done
done
echo finished >>/tmp/log
sleep 300"#;

/// CVE-2019-5736 class: container processes attack the runtime binary
/// through /proc/<pid>/exe of processes that enter the container (exec'd
/// processes before their execve, and a program whose interpreter is
/// /proc/self/exe, which makes the runtime binary itself run inside the
/// container).
#[test]
fn runtime_binary_cannot_be_overwritten_from_a_container() {
    let d = Daemon::start("h5736");
    d.busybox();
    attack_image(&d);
    let before = sha256_of(BERTH);
    d.ok(&[
        "run", "-d", "--name", "victim", "attack", "sh", "-c", ATTACKER,
    ]);
    // A listener that accepts and never answers keeps the berth binary
    // (running as /evil's interpreter) alive inside the container.
    d.ok(&[
        "exec",
        "-d",
        "victim",
        "sh",
        "-c",
        "sleep 300 | nc -l -p 2375",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let mut hanging = std::process::Command::new(BERTH)
        .args(["-H", &d.sock(), "exec", "-e"])
        .arg("DOCKER_HOST=tcp://127.0.0.1:2375")
        .args(["victim", "/evil"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Meanwhile, many short execs: each is the shim's fork inside the
    // container's pid namespace until it execs.
    for _ in 0..15 {
        d.ok(&["exec", "victim", "true"]);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    let log = loop {
        let log = text(&d.cli(&["exec", "victim", "cat", "/tmp/log"]));
        if log.contains("finished") || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let _ = hanging.kill();
    let _ = hanging.wait();
    let errs = text(&d.cli(&["exec", "victim", "cat", "/tmp/errs"]));
    assert!(
        log.contains("finished"),
        "the attacker did not finish: {log}"
    );
    assert!(
        !log.contains("OPENED"),
        "a runtime binary was opened for writing: {log}"
    );
    // The attack reached the berth binary running inside the container...
    let reached: Vec<&str> = log.lines().filter(|l| l.starts_with("REACHED")).collect();
    assert!(
        !reached.is_empty(),
        "the berth binary was never reached: {log}"
    );
    // ... which was not the host's file but the sealed read-only mount of
    // it (writes through it fail with EROFS once nothing runs it; while
    // something does, ETXTBSY comes first).
    for l in &reached {
        assert!(!l.contains(BERTH), "host binary exposed: {l}");
    }
    eprintln!(
        "refusals seen: EACCES (non-dumpable exec) {}, ETXTBSY {}, EROFS {}",
        errs.matches("Permission denied").count(),
        errs.matches("Text file busy").count(),
        errs.matches("Read-only file system").count()
    );
    assert_eq!(sha256_of(BERTH), before, "the berth binary changed");
}

/// Swaps `<dir>/x` between a directory and a symlink to `/` as fast as a
/// shell can, for `secs` seconds.
fn swapper(dir: &str, secs: u32) -> String {
    format!(
        "end=$(( $(date +%s) + {secs} )); while [ $(date +%s) -lt $end ]; do \
         rm -rf {dir}/x; mkdir -p {dir}/x/tmp; rm -rf {dir}/x; ln -s / {dir}/x; done; sleep 300"
    )
}

fn host_mounts_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// CVE-2021-30465 class: a container sharing a volume swaps a directory on
/// the path of another container's mount destination for a symlink to `/`
/// while that container is started again and again. The mount and the
/// mount point must always be made inside the second container's root.
#[test]
fn racing_symlink_swaps_cannot_move_mounts_out() {
    let d = Daemon::start("hrace");
    d.busybox();
    let tag = format!("berth-race-{}", std::process::id());
    // A host directory the escaped mount would land on, and a name that
    // escaped mkdir calls would create.
    let target = Path::new("/tmp").join(format!("{tag}-target"));
    let fresh = Path::new("/tmp").join(format!("{tag}-new"));
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("marker"), "host\n").unwrap();
    let _ = std::fs::remove_dir_all(&fresh);
    let src = d.root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("payload"), "payload\n").unwrap();
    d.ok(&["volume", "create", "shared"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "swapper",
        "-v",
        "shared:/vol",
        "busybox",
        "sh",
        "-c",
        &swapper("/vol", 25),
    ]);
    let before = host_mounts_mentioning(&tag);
    assert!(before.is_empty(), "{before:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (mut ok, mut runs) = (0, 0);
    while std::time::Instant::now() < deadline && runs < 40 {
        runs += 1;
        let b1 = format!("{}:/data/x/tmp/{tag}-target", src.display());
        let b2 = format!("{}:/data/x/tmp/{tag}-new/sub", src.display());
        let out = d.cli(&[
            "run",
            "--rm",
            "-v",
            "shared:/data",
            "-v",
            &b1,
            "-v",
            &b2,
            "busybox",
            "sh",
            "-c",
            &format!("cat /tmp/{tag}-target/payload /tmp/{tag}-new/sub/payload 2>/dev/null || cat /data/x/tmp/{tag}-target/payload"),
        ]);
        if out.status.success() {
            ok += 1;
            assert!(text(&out).contains("payload"), "{}", text(&out));
        }
        assert!(
            host_mounts_mentioning(&tag).is_empty(),
            "a mount escaped to the host: {:?}",
            host_mounts_mentioning(&tag)
        );
        assert!(
            !fresh.exists(),
            "{} was created on the host",
            fresh.display()
        );
    }
    assert!(ok > 0, "no run succeeded in {runs}");
    let entries: Vec<_> = std::fs::read_dir(&target).unwrap().collect();
    assert_eq!(entries.len(), 1, "the host directory changed");
    assert_eq!(
        std::fs::read_to_string(target.join("marker")).unwrap(),
        "host\n"
    );
    let _ = std::fs::remove_dir_all(&target);
}

/// CVE-2018-15664 class: `cp` into and out of a running container while
/// the container swaps the path's directory for a symlink to `/`.
#[test]
fn racing_symlink_swaps_cannot_redirect_cp() {
    let d = Daemon::start("hcprace");
    d.busybox();
    let tag = format!("berth-cprace-{}", std::process::id());
    d.ok(&[
        "run",
        "-d",
        "--name",
        "swapper",
        "busybox",
        "sh",
        "-c",
        &format!(
            "mkdir -p /w/x/etc && cp /etc/passwd /w/x/etc/; {}",
            swapper("/w", 20)
        ),
    ]);
    let payload = d.root.join("payload");
    std::fs::write(&payload, "payload\n").unwrap();
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let out_file = d.root.join("out");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut copies = 0;
    while std::time::Instant::now() < deadline && copies < 60 {
        copies += 1;
        let _ = d.cli(&[
            "cp",
            payload.to_str().unwrap(),
            &format!("swapper:/w/x/tmp/{tag}"),
        ]);
        let _ = d.cli(&[
            "cp",
            payload.to_str().unwrap(),
            &format!("swapper:/w/x/etc/{tag}"),
        ]);
        assert!(
            !Path::new("/tmp").join(&tag).exists(),
            "cp wrote to host /tmp"
        );
        assert!(
            !Path::new("/etc").join(&tag).exists(),
            "cp wrote to host /etc"
        );
        let _ = std::fs::remove_file(&out_file);
        if d.cli(&["cp", "swapper:/w/x/etc/passwd", out_file.to_str().unwrap()])
            .status
            .success()
        {
            let got = std::fs::read_to_string(&out_file).unwrap_or_default();
            assert!(
                got != host_passwd || got.starts_with("root:x:0:0:root:/root:/bin/sh\napp:"),
                "cp read the host's /etc/passwd"
            );
        }
    }
    let _ = std::fs::remove_file(Path::new("/tmp").join(&tag));
    let _ = std::fs::remove_file(Path::new("/etc").join(&tag));
}

/// Docker's sysctls for containers with their own network namespace: a
/// user without capabilities may bind ports below 1024 and ping. The host's
/// namespace is left alone with `--network host`, and `--sysctl` wins.
#[test]
fn unprivileged_ports_and_ping_as_docker() {
    let d = Daemon::start("hsysctl");
    d.busybox();
    let read =
        "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range";
    for net in ["bridge", "none"] {
        let out = d.ok(&["run", "--rm", "--network", net, "busybox", "sh", "-c", read]);
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["0", "0", "2147483647"],
            "{net}: {out}"
        );
    }
    // A user with no capabilities at all serves on port 80.
    let out = d.ok(&[
        "run",
        "--rm",
        "-u",
        "1000",
        "--cap-drop",
        "ALL",
        "busybox",
        "sh",
        "-c",
        "httpd -p 80 && echo listening",
    ]);
    assert_eq!(out.trim(), "listening");
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert_eq!(out.trim(), host.trim());
    let out = d.ok(&[
        "run",
        "--rm",
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=500",
        "busybox",
        "cat",
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
    ]);
    assert_eq!(out.trim(), "500");
}

/// Sysctls of a namespace the container shares with the host are refused
/// at start (runc's rules, in the daemon and again in the runtime), and the
/// host's value is left alone; namespaced ones of private namespaces apply.
#[test]
fn host_sysctls_are_never_written() {
    let d = Daemon::start("hsysctlhost");
    d.busybox();
    let host =
        |k: &str| std::fs::read_to_string(format!("/proc/sys/{}", k.replace('.', "/"))).unwrap();
    let syncookies = host("net.ipv4.tcp_syncookies");
    let flipped = if syncookies.trim() == "1" { "0" } else { "1" };
    let out = d.cli(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--sysctl",
        &format!("net.ipv4.tcp_syncookies={flipped}"),
        "busybox",
        "true",
    ]);
    assert!(!out.status.success());
    assert!(
        err(&out).contains("not allowed in host network namespace"),
        "{}",
        err(&out)
    );
    assert_eq!(host("net.ipv4.tcp_syncookies"), syncookies);
    let out = d.cli(&[
        "run",
        "--rm",
        "--ipc",
        "host",
        "--sysctl",
        "kernel.shmmni=1000",
        "busybox",
        "true",
    ]);
    assert!(
        err(&out).contains("is not allowed in the hosts ipc namespace"),
        "{}",
        err(&out)
    );
    // The CLI refuses what is not namespaced, as the docker CLI does ...
    let out = d.cli(&[
        "run",
        "--rm",
        "--sysctl",
        "kernel.panic=7",
        "busybox",
        "true",
    ]);
    assert!(
        err(&out).contains("sysctl 'kernel.panic=7' is not allowed"),
        "{}",
        err(&out)
    );
    // ... and the daemon refuses it from any API client.
    let panic = host("kernel.panic");
    let body =
        r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Sysctls":{"kernel.panic":"7"}}}"#;
    let created = d.api_raw("POST", "/containers/create?name=kpanic", body);
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    let started = d.api_raw("POST", "/containers/kpanic/start", "");
    assert!(
        started.contains("is not in a separate kernel namespace"),
        "{started}"
    );
    assert_eq!(host("kernel.panic"), panic);
    // A private IPC namespace takes its own value.
    let out = d.ok(&[
        "run",
        "--rm",
        "--sysctl",
        "kernel.shmmni=1000",
        "busybox",
        "cat",
        "/proc/sys/kernel/shmmni",
    ]);
    assert_eq!(out.trim(), "1000");
}

/// AppArmor as berth detects it: module enabled, securityfs, the parser.
fn host_has_apparmor() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.starts_with('Y'))
        && Path::new("/sys/kernel/security/apparmor").is_dir()
        && ["/sbin", "/usr/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join("apparmor_parser").is_file())
}

/// Docker's default AppArmor profile, berth's way: where the host runs
/// AppArmor, containers without an explicit profile run under
/// `berth-default` (loaded by the daemon), privileged ones unconfined, and
/// `info` lists `name=apparmor`; elsewhere (this test host's kernel has no
/// AppArmor) nothing is confined, `inspect` shows an empty profile unless
/// one was asked for, and `info` says nothing of it, as the reference
/// engine on the same host. SELinux labels are accepted unchecked on a host
/// without SELinux, as Docker does.
#[test]
fn default_apparmor_profile_only_where_the_host_has_it() {
    let d = Daemon::start("happarmor");
    d.busybox();
    let aa = host_has_apparmor();
    let profile = |opts: &[&str]| {
        let mut args = vec!["create"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["busybox", "true"]);
        let id = d.ok(&args);
        let p = d.ok(&["inspect", "-f", "{{.AppArmorProfile}}", id.trim()]);
        d.ok(&["rm", id.trim()]);
        p.trim().to_string()
    };
    let (default, privileged) = if aa {
        ("berth-default", "unconfined")
    } else {
        ("", "")
    };
    assert_eq!(profile(&[]), default);
    assert_eq!(profile(&["--privileged"]), privileged);
    assert_eq!(
        profile(&["--security-opt", "apparmor=berth-other"]),
        "berth-other"
    );
    assert_eq!(
        profile(&["--security-opt", "apparmor=unconfined"]),
        "unconfined"
    );
    let current = d.cli(&["run", "--rm", "busybox", "cat", "/proc/self/attr/current"]);
    if aa {
        assert_eq!(text(&current).trim(), "berth-default (enforce)");
        let loaded = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap();
        assert!(
            loaded.lines().any(|l| l.starts_with("berth-default ")),
            "{loaded}"
        );
    } else {
        // No LSM answers there (Docker's containers show the same).
        assert!(!current.status.success(), "{}", text(&current));
        assert!(!d.root.join("exec/apparmor").exists());
    }
    let opts = d.ok(&["info", "-f", "{{json .SecurityOptions}}"]);
    let opts: Vec<String> = serde_json::from_str(opts.trim()).unwrap();
    assert_eq!(opts.iter().any(|o| o == "name=apparmor"), aa, "{opts:?}");
    if !Path::new("/sys/fs/selinux/enforce").exists() {
        assert!(!opts.iter().any(|o| o.contains("selinux")), "{opts:?}");
        for opt in [
            "label=bogus",
            "label=foo:bar",
            "label=nested",
            "label=user:u",
        ] {
            d.ok(&["run", "--rm", "--security-opt", opt, "busybox", "true"]);
        }
    }
}
