//! End-to-end networking: a real daemon per test with its own default bridge
//! (`--bridge`/`--bip`) so the tests run in parallel, driven through the
//! `berth` CLI (user networks through the API, as the CLI has no `network`
//! command yet). Needs root, nftables and Debian's busybox-static.

mod common;

use common::{eventually, http_get, Daemon};
use std::process::Command;

/// A daemon whose default bridge is `bridge` on `bip`.
fn daemon(name: &str, bridge: &str, bip: &str) -> Daemon {
    Daemon::start_with(&format!("net-{name}"), &["--bridge", bridge, "--bip", bip])
}

/// busybox with the page the tests serve, /www/index.html.
fn busybox(d: &Daemon) {
    d.import_busybox(
        &[("www/index.html", b"hello from berth\n")],
        &[],
        "busybox:latest",
    );
}

impl Daemon {
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

#[test]
fn bridge_interface_route_and_published_port() {
    let d = daemon("publish", "bnt-pub", "172.29.11.1/24");
    busybox(&d);
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
        ports.trim(),
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

#[test]
fn user_network_dns_between_containers() {
    let d = daemon("dns", "bnt-dns", "172.29.12.1/24");
    busybox(&d);
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
    let mut d = daemon("restart", "bnt-rst", "172.29.14.1/24");
    busybox(&d);
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
    let d = daemon("ranges", "bnt-rng", "172.29.14.1/24");
    busybox(&d);
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
