//! End-to-end networking: a real daemon per test with its own default bridge
//! (`--bridge`/`--bip`) so the tests run in parallel, driven through the
//! `berth` CLI (user networks through the API, as the CLI has no `network`
//! command yet). Needs root, nftables and Debian's busybox-static.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

struct Daemon {
    root: PathBuf,
    child: Option<Child>,
    bridge: String,
    bip: String,
}

impl Daemon {
    fn start(name: &str, bridge: &str, bip: &str) -> Daemon {
        let root = PathBuf::from(format!("/tmp/berth-net-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut d = Daemon {
            root,
            child: None,
            bridge: bridge.into(),
            bip: bip.into(),
        };
        d.spawn();
        d
    }

    fn sock_path(&self) -> PathBuf {
        self.root.join("exec/berth.sock")
    }

    fn sock(&self) -> String {
        format!("unix://{}", self.sock_path().display())
    }

    fn spawn(&mut self) {
        let child = Command::new(BERTH)
            .args(["daemon", "--data-root"])
            .arg(self.root.join("data"))
            .arg("--exec-root")
            .arg(self.root.join("exec"))
            .args([
                "-H",
                &self.sock(),
                "--bridge",
                &self.bridge,
                "--bip",
                &self.bip,
            ])
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

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
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
            "berth {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn busybox(&self) {
        let tar = busybox_tar(&self.root);
        self.ok(&["import", tar.to_str().unwrap(), "busybox:latest"]);
    }

    /// One request on the API socket; returns (status, body).
    fn api(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = UnixStream::connect(self.sock_path()).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        let status = resp[9..12].parse().unwrap();
        let body = resp
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// berth's nftables table of this daemon, as `nft` prints it.
    fn nft_rules(&self) -> String {
        let out = Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn switch_links(&self) -> String {
        let out = Command::new("nsenter")
            .arg(format!(
                "--net={}",
                self.root.join("exec/netns/switch").display()
            ))
            .args(["ip", "-o", "link"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let ids = self.cli(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).lines() {
            let _ = self.cli(&["rm", "-f", id]);
        }
        self.kill9();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .status();
        let table = format!("berth_{}", self.bridge.replace('-', "_"));
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &table])
            .status();
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.root.join("exec/netns/switch"))
            .status();
    }
}

/// A busybox rootfs tarball with the applets the tests use.
fn busybox_tar(dir: &Path) -> PathBuf {
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
    add("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644);
    add("etc/group", b"root:x:0:\n", 0o644);
    add("www/index.html", b"hello from berth\n", 0o644);
    for applet in [
        "sh", "cat", "sleep", "ip", "httpd", "wget", "nslookup", "grep", "hostname",
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
    b.finish().unwrap();
    path
}

fn http_get(addr: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            write!(s, "GET /index.html HTTP/1.0\r\n\r\n").ok()?;
            let mut out = String::new();
            if s.read_to_string(&mut out).is_ok() && !out.is_empty() {
                return Some(out);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn bridge_interface_route_and_published_port() {
    let d = Daemon::start("publish", "bnt-pub", "172.29.11.1/24");
    d.busybox();
    let out = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route",
    ]);
    assert!(out.contains("inet 172.29.11.2/24"), "{out}");
    assert!(out.contains("default via 172.29.11.1 dev eth0"), "{out}");

    let id = d.ok(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:18931:80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let id = id.trim().to_string();
    let inspect = |f: &str| d.ok(&["inspect", "-f", f, &id]).trim().to_string();
    let (ip, ep, key) = (
        inspect("{{.NetworkSettings.IPAddress}}"),
        inspect("{{.NetworkSettings.EndpointID}}"),
        inspect("{{.NetworkSettings.SandboxKey}}"),
    );
    let port = format!(": v{}", &ep[..12]);
    assert!(d.switch_links().contains(&port), "{}", d.switch_links());
    let page = http_get("127.0.0.1:18931").expect("published port not reachable");
    assert!(page.contains("hello from berth"), "{page}");
    let ports = d.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", &id]);
    assert_eq!(
        ports,
        r#"{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18931"}]}"#
    );
    assert!(d
        .nft_rules()
        .contains(&format!("dport 18931 dnat to {ip}:80")));

    d.ok(&["rm", "-f", &id]);
    assert!(
        !d.nft_rules().contains("dport 18931"),
        "port rule left after rm"
    );
    // Links and namespaces go in the background, shortly after `rm`.
    assert!(
        eventually(|| !d.switch_links().contains(&port)),
        "veth left after rm: {}",
        d.switch_links()
    );
    assert!(
        eventually(|| !std::path::Path::new(&key).exists()),
        "{key} left"
    );
}

/// Polls `cond` for up to 5 seconds.
fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

#[test]
fn user_network_dns_between_containers() {
    let d = Daemon::start("dns", "bnt-dns", "172.29.12.1/24");
    d.busybox();
    let (status, body) = d.api(
        "POST",
        "/networks/create",
        r#"{"Name":"tnet","IPAM":{"Config":[{"Subnet":"172.29.13.0/24"}]}}"#,
    );
    assert_eq!(status, 201, "{body}");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "srv",
        "--network",
        "tnet",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "tnet",
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf; wget -qO- http://srv/index.html",
    ]);
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert!(out.contains("hello from berth"), "{out}");
    // The default bridge has no embedded DNS: the name stays unknown there.
    let out = d.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "grep -q 127.0.0.11 /etc/resolv.conf",
    ]);
    assert!(!out.status.success());

    let (status, _) = d.api("DELETE", "/networks/tnet", "");
    assert_eq!(status, 403, "a network in use must not be removed");
    d.ok(&["rm", "-f", "srv"]);
    let (status, body) = d.api("DELETE", "/networks/tnet", "");
    assert_eq!(status, 204, "{body}");
    let (status, body) = d.api("GET", "/networks/tnet", "");
    assert_eq!(
        (status, body.trim()),
        (404, r#"{"message":"network tnet not found"}"#)
    );
}

#[test]
fn cleanup_after_daemon_restart_and_rm() {
    let mut d = Daemon::start("restart", "bnt-rst", "172.29.14.1/24");
    d.busybox();
    let id = d.ok(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:18932:80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    let id = id.trim().to_string();
    let ep = d.ok(&["inspect", "-f", "{{.NetworkSettings.EndpointID}}", &id]);
    let key = d.ok(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", &id]);
    let (port, key) = (format!(": v{}", &ep[..12]), key.trim().to_string());
    assert!(d.switch_links().contains(&port));
    d.kill9();
    d.spawn();
    // Still published after the restart: the rules are rebuilt from the records.
    let page = http_get("127.0.0.1:18932").expect("published port lost over restart");
    assert!(page.contains("hello from berth"));
    d.ok(&["rm", "-f", &id]);
    assert!(
        !d.nft_rules().contains("dport 18932"),
        "port rule left after rm"
    );
    assert!(
        eventually(|| !d.switch_links().contains(&port)),
        "veth left: {}",
        d.switch_links()
    );
    assert!(eventually(|| !std::path::Path::new(&key).exists()));
}

/// `-p a-b:port` takes the first free host port of the range; a range
/// mapped onto a range publishes every port; a full range fails the start.
#[test]
fn published_port_ranges() {
    let d = Daemon::start("ranges", "bnt-rng", "172.29.14.1/24");
    d.busybox();
    let run = |spec: &str| {
        d.ok(&[
            "run", "-d", "-p", spec, "busybox", "httpd", "-f", "-p", "80", "-h", "/www",
        ])
        .trim()
        .to_string()
    };
    let first = run("127.0.0.1:18951-18952:80");
    let second = run("127.0.0.1:18951-18952:80");
    let port_of = |id: &str| d.ok(&["port", id, "80/tcp"]).trim().to_string();
    assert_eq!(port_of(&first), "127.0.0.1:18951");
    assert_eq!(port_of(&second), "127.0.0.1:18952");
    assert!(http_get("127.0.0.1:18952")
        .unwrap()
        .contains("hello from berth"));
    let full = d.cli(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:18951-18952:80",
        "busybox",
        "true",
    ]);
    assert!(!full.status.success());
    assert!(
        String::from_utf8_lossy(&full.stderr).contains("port is already allocated"),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );

    let many = d.ok(&[
        "run",
        "-d",
        "-p",
        "127.0.0.1:18961-18963:8001-8003",
        "busybox",
        "sleep",
        "60",
    ]);
    let ports = d.ok(&["port", many.trim()]);
    for (c, h) in [(8001, 18961), (8002, 18962), (8003, 18963)] {
        assert!(
            ports.contains(&format!("{c}/tcp -> 127.0.0.1:{h}")),
            "{ports}"
        );
    }
}
