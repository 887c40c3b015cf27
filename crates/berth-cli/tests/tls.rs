//! End-to-end: the daemon's remote API security. TLS with and without client
//! verification (stock docker CLI and berth CLI, flags and DOCKER_* variables,
//! hijacked streams over TLS), refused handshakes, the unix socket's mode and
//! group, CORS headers and systemd socket activation (`-H fd://`).
//! Certificates are made at test time with rcgen. Needs root and busybox-static.

use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::ExtendedKeyUsagePurpose;

mod common;
use common::*;

const DOCKER: &str = "/usr/local/bin/docker";

/// Certificates for one test, each set in its own docker-style directory.
struct Pki {
    /// Server key pair (SANs 127.0.0.1 and localhost) with the CA.
    server: PathBuf,
    /// A good client key pair with the same CA.
    client: PathBuf,
    /// A client key pair from an unrelated CA (with our CA as ca.pem).
    other: PathBuf,
    /// An expired client key pair from our CA.
    expired: PathBuf,
    /// Only ca.pem: a client with no certificate.
    nocert: PathBuf,
}

fn pki(root: &Path) -> Pki {
    let dir = root.join("pki");
    let ca = Ca::new("berth test CA");
    let other_ca = Ca::new("unrelated CA");
    let p = Pki {
        server: dir.join("server"),
        client: dir.join("client"),
        other: dir.join("other"),
        expired: dir.join("expired"),
        nocert: dir.join("nocert"),
    };
    ca.issue(
        &p.server,
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
        false,
    );
    ca.issue(&p.client, &[], ExtendedKeyUsagePurpose::ClientAuth, false);
    ca.issue(&p.expired, &[], ExtendedKeyUsagePurpose::ClientAuth, true);
    other_ca.issue(&p.other, &[], ExtendedKeyUsagePurpose::ClientAuth, false);
    // The client trusts our CA even when its own certificate comes from elsewhere.
    std::fs::copy(p.server.join("ca.pem"), p.other.join("ca.pem")).unwrap();
    std::fs::create_dir_all(&p.nocert).unwrap();
    std::fs::copy(p.server.join("ca.pem"), p.nocert.join("ca.pem")).unwrap();
    p
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Server flags for a key pair directory.
fn server_flags(dir: &Path) -> Vec<String> {
    vec![
        "--tlscacert".into(),
        s(&dir.join("ca.pem")).into(),
        "--tlscert".into(),
        s(&dir.join("cert.pem")).into(),
        "--tlskey".into(),
        s(&dir.join("key.pem")).into(),
    ]
}

/// `--tlsverify` client flags for a key pair directory.
fn verify_flags(dir: &Path) -> Vec<String> {
    let mut f = vec!["--tlsverify".to_string()];
    f.extend(server_flags(dir));
    f
}

/// Runs a client binary (docker or berth) with a private config dir and none of
/// the caller's DOCKER_* settings.
fn client(bin: &str, d: &Daemon, args: &[String], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin);
    c.args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", d.root.join("docker-config"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn args(pre: &[String], rest: &[&str]) -> Vec<String> {
    pre.iter()
        .cloned()
        .chain(rest.iter().map(|s| s.to_string()))
        .collect()
}

fn assert_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text(out)
}

fn assert_refused(out: &Output, what: &str) {
    assert!(
        !out.status.success(),
        "{what} should have been refused: {}",
        text(out)
    );
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl")
}

#[test]
fn tlsverify_accepts_good_clients_and_refuses_the_rest() {
    let port = free_port("127.0.0.1");
    // A second listener on another loopback address: the server certificate does
    // not name 127.0.0.2, so verifying clients must refuse it.
    let port2 = free_port("127.0.0.2");
    let tmp = PathBuf::from(format!("/tmp/berth-e2e-tls-pki-{}", std::process::id()));
    let pki = pki(&tmp);
    let host = format!("tcp://127.0.0.1:{port}");
    let host2 = format!("tcp://127.0.0.2:{port2}");
    let mut extra = vec![
        "-H".to_string(),
        host.clone(),
        "-H".into(),
        host2.clone(),
        "--tlsverify".into(),
    ];
    extra.extend(server_flags(&pki.server));
    let extra_refs: Vec<&str> = extra.iter().map(String::as_str).collect();
    let d = Daemon::start_with("tlsverify", &extra_refs);
    d.busybox();

    for bin in [DOCKER, BERTH] {
        // Flags.
        let pre = args(&verify_flags(&pki.client), &["-H", &host]);
        let v = assert_ok(
            &client(bin, &d, &args(&pre, &["version"]), &[]),
            "version with flags",
        );
        assert!(v.contains("Server"), "{bin}: {v}");
        let out = client(
            bin,
            &d,
            &args(&pre, &["run", "--rm", "busybox", "echo", "hi"]),
            &[],
        );
        assert_eq!(assert_ok(&out, "run over TLS"), "hi\n", "{bin}");
        // Environment: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH.
        let env = [
            ("DOCKER_HOST", host.as_str()),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", s(&pki.client)),
        ];
        let out = client(
            bin,
            &d,
            &args(&[], &["run", "--rm", "busybox", "echo", "hi"]),
            &env,
        );
        assert_eq!(assert_ok(&out, "run with DOCKER_* env"), "hi\n", "{bin}");
        // Exec is hijacked too.
        let id = assert_ok(
            &client(
                bin,
                &d,
                &args(&[], &["run", "-d", "busybox", "sleep", "60"]),
                &env,
            ),
            "run -d",
        );
        let id = id.trim();
        let out = client(
            bin,
            &d,
            &args(&[], &["exec", id, "echo", "from-exec"]),
            &env,
        );
        assert_eq!(assert_ok(&out, "exec over TLS"), "from-exec\n", "{bin}");
        let _ = client(bin, &d, &args(&[], &["rm", "-f", id]), &env);

        // Refused: no client certificate, a certificate of another CA, an expired one.
        for (dir, what) in [
            (&pki.nocert, "no client certificate"),
            (&pki.other, "certificate of another CA"),
            (&pki.expired, "expired certificate"),
        ] {
            let env = [
                ("DOCKER_HOST", host.as_str()),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", s(dir)),
            ];
            let out = client(bin, &d, &args(&[], &["version"]), &env);
            assert_refused(&out, &format!("{bin} with {what}"));
        }
        // Refused by the client: the server certificate does not name 127.0.0.2.
        let pre = args(&verify_flags(&pki.client), &["-H", &host2]);
        let out = client(bin, &d, &args(&pre, &["version"]), &[]);
        assert_refused(
            &out,
            &format!("{bin} to a host the certificate does not name"),
        );
    }
    let err = client(
        BERTH,
        &d,
        &args(&verify_flags(&pki.expired), &["-H", &host, "version"]),
        &[],
    );
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("TLS handshake"),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );

    // curl: with the client pair it works; plain HTTP and no certificate do not.
    let ok = curl(&[
        "--cacert",
        s(&pki.client.join("ca.pem")),
        "--cert",
        s(&pki.client.join("cert.pem")),
        "--key",
        s(&pki.client.join("key.pem")),
        &format!("https://127.0.0.1:{port}/_ping"),
    ]);
    assert_eq!(assert_ok(&ok, "curl with client cert"), "OK");
    let plain = curl(&[&format!("http://127.0.0.1:{port}/_ping")]);
    assert_refused(&plain, "plain HTTP to the TLS port");
    assert!(!text(&plain).contains("OK"));
    let nocert = curl(&[
        "--cacert",
        s(&pki.client.join("ca.pem")),
        &format!("https://127.0.0.1:{port}/_ping"),
    ]);
    assert_refused(&nocert, "curl without client cert");

    let log = std::fs::read_to_string(d.root.join("daemon.log")).unwrap();
    assert!(log.contains("TLS handshake from 127.0.0.1"), "{log}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn tls_without_verify_from_config_file() {
    let port = free_port("127.0.0.1");
    let tmp = PathBuf::from(format!("/tmp/berth-e2e-tlsonly-pki-{}", std::process::id()));
    let pki = pki(&tmp);
    let host = format!("tcp://127.0.0.1:{port}");
    let config = tmp.join("daemon.json");
    std::fs::write(
        &config,
        serde_json::json!({
            "tls": true,
            "tlscert": pki.server.join("cert.pem"),
            "tlskey": pki.server.join("key.pem"),
        })
        .to_string(),
    )
    .unwrap();
    let d = Daemon::start_with("tlsonly", &["-H", &host, "--config-file", s(&config)]);

    // No client certificate needed; the docker CLI's --tls does not verify the server.
    // docker reads the default ca.pem even when it does not verify: give it one.
    let cert_path = [("DOCKER_CERT_PATH", s(&pki.nocert))];
    for bin in [DOCKER, BERTH] {
        let out = client(
            bin,
            &d,
            &args(&[], &["--tls", "-H", &host, "version"]),
            &cert_path,
        );
        assert!(assert_ok(&out, "--tls version").contains("Server"), "{bin}");
    }
    // Verifying clients still check the server against their CA and name.
    let env = [
        ("DOCKER_HOST", host.as_str()),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", s(&pki.nocert)),
    ];
    for bin in [DOCKER, BERTH] {
        let out = client(bin, &d, &args(&[], &["version"]), &env);
        assert_ok(&out, "DOCKER_TLS_VERIFY without a client certificate");
    }
    let ping = curl(&[
        "-i",
        "--cacert",
        s(&pki.nocert.join("ca.pem")),
        &format!("https://localhost:{port}/_ping"),
    ]);
    let head = assert_ok(&ping, "curl https without client cert");
    assert!(head.ends_with("OK"), "{head}");
    // CORS is off unless asked for.
    assert!(
        !head.to_ascii_lowercase().contains("access-control"),
        "{head}"
    );
    assert_refused(
        &curl(&[&format!("http://127.0.0.1:{port}/_ping")]),
        "plain HTTP",
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn unix_socket_mode_group_and_cors() {
    let group = nix_group("daemon");
    let d = Daemon::start_with(
        "sockperm",
        &["-G", "daemon", "--api-cors-header", "https://ui.example"],
    );
    let meta = std::fs::metadata(d.sock_path()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    assert_eq!(meta.uid(), 0);
    assert_eq!(meta.gid(), group);

    let sock = s(&d.sock_path()).to_string();
    let head = text(&curl(&[
        "-i",
        "--unix-socket",
        &sock,
        "http://localhost/_ping",
    ]));
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("access-control-allow-origin: https://ui.example"),
        "{head}"
    );
    assert!(
        lower.contains(
            "access-control-allow-headers: origin, x-requested-with, content-type, accept, x-registry-auth"
        ),
        "{head}"
    );
    assert!(
        lower.contains("access-control-allow-methods: head, get, post, delete, put, options"),
        "{head}"
    );
    // A preflight on any path is answered by the CORS layer.
    let pre = text(&curl(&[
        "-i",
        "-X",
        "OPTIONS",
        "--unix-socket",
        &sock,
        "http://localhost/v1.47/containers/create",
    ]));
    assert!(pre.starts_with("HTTP/1.1 200"), "{pre}");
    assert!(pre
        .to_ascii_lowercase()
        .contains("access-control-allow-origin"));

    // Without -G the socket goes to the default group, or root when it is missing.
    let d2 = Daemon::start("sockdefault");
    let meta = std::fs::metadata(d2.sock_path()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o660);
    let expect = group_gid("berth").unwrap_or(0);
    assert_eq!(meta.gid(), expect);
    let plain = text(&curl(&[
        "-i",
        "--unix-socket",
        s(&d2.sock_path()),
        "http://localhost/_ping",
    ]));
    assert!(
        !plain.to_ascii_lowercase().contains("access-control"),
        "{plain}"
    );

    // An explicit group that does not exist is an error, before anything starts.
    let root = PathBuf::from(format!("/tmp/berth-e2e-badgroup-{}", std::process::id()));
    let out = Command::new(BERTH)
        .args(["daemon", "--data-root"])
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .args([
            "-H",
            &format!("unix://{}", root.join("exec/berth.sock").display()),
        ])
        .args(["-G", "no-such-group-berth"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("group no-such-group-berth"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}

fn group_gid(name: &str) -> Option<u32> {
    let groups = std::fs::read_to_string("/etc/group").unwrap();
    groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name)).then(|| f[2].parse().unwrap())
    })
}

fn nix_group(name: &str) -> u32 {
    group_gid(name).unwrap_or_else(|| panic!("group {name} missing from /etc/group"))
}

#[test]
fn fd_socket_activation() {
    // What systemd would hand over: a unix and a TCP listening socket as fds 3 and 4.
    let root = PathBuf::from(format!("/tmp/berth-e2e-fdsock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let unix_path = root.join("activated.sock");
    let unix = std::os::unix::net::UnixListener::bind(&unix_path).unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let fds = [unix.as_raw_fd(), tcp.as_raw_fd()];
    let wrap: Wrap = Arc::new(move |cmd: Command| {
        // LISTEN_PID must be the daemon's pid: a shell exports its own and execs.
        let mut sh = Command::new("/bin/sh");
        sh.arg("-c")
            .arg(r#"export LISTEN_PID=$$ LISTEN_FDS=2; exec "$0" "$@""#)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            sh.pre_exec(move || {
                // Move both out of the way first, so dup2 cannot clobber one with the other.
                let mut high = [0; 2];
                for (i, fd) in fds.iter().enumerate() {
                    high[i] = libc::fcntl(*fd, libc::F_DUPFD, 100);
                    if high[i] < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (i, fd) in high.iter().enumerate() {
                    if libc::dup2(*fd, 3 + i as i32) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        sh
    });
    let d = Daemon::start_wrapped("fdact", &["-H", "fd://"], Some(wrap));
    drop((unix, tcp));

    let host = format!("unix://{}", unix_path.display());
    let out = Command::new(BERTH)
        .args(["-H", &host, "version", "--format", "{{.Server.Version}}"])
        .output()
        .unwrap();
    assert!(!assert_ok(&out, "version over the activated unix socket")
        .trim()
        .is_empty());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ping = curl(&[&format!("http://127.0.0.1:{port}/_ping")]);
        if text(&ping) == "OK" {
            break;
        }
        assert!(Instant::now() < deadline, "activated TCP socket not served");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(d);

    // fd:// outside socket activation says why it cannot work.
    let out = Command::new(BERTH)
        .args(["daemon", "--data-root"])
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .args([
            "-H",
            "fd://",
            "--bridge",
            "btfdnone",
            "--bip",
            "172.31.239.1/24",
        ])
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LISTEN_FDS is not set"), "{err}");
    let _ = std::fs::remove_dir_all(&root);
}
