//! IPv6 on bridge networks, end to end on the real kernel: `network create
//! --ipv6`, `--ip6`, container-to-container and host-to-container traffic,
//! AAAA answers of the embedded DNS server, ports published over IPv6, the
//! default bridge's `--ipv6 --fixed-cidr-v6` (flags and daemon.json), and
//! Docker's errors for bad input. Needs root, nftables and Debian's
//! busybox-static.

mod common;
use common::*;
use std::process::Command;

/// A /64 of fd00:db8::/32 of this test binary's own (the host may have
/// fd00::/64), `n` telling the tests of one binary apart.
fn prefix(n: u32) -> String {
    format!("fd00:db8:{:x}:{n:x}", std::process::id() % 0xffff)
}

fn err(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli(args);
    assert!(!out.status.success(), "berth {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn host_ok(args: &[&str]) -> String {
    let out = Command::new("/bin/busybox").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "busybox {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn nft_has_table(family: &str, table: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", family, table])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn ipv6_network_end_to_end() {
    let d = Daemon::start("ipv6net");
    d.busybox();
    let p = prefix(1);
    let subnet = format!("{p}::/64");
    let id = d.ok(&["network", "create", "--ipv6", "--subnet", &subnet, "v6net"]);
    let id = id.trim().to_string();
    let shown = d.ok(&[
        "network",
        "inspect",
        "v6net",
        "--format",
        "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}},{{.Gateway}} {{end}}",
    ]);
    // Dual stack: an IPv4 subnet from the pool, then the IPv6 one.
    assert!(shown.starts_with("true 10."), "{shown}");
    assert!(
        shown.trim().ends_with(&format!(" {subnet},{p}::1")),
        "{shown}"
    );

    d.ok(&[
        "run",
        "-d",
        "--name",
        "web6",
        "--network",
        "v6net",
        "--ip6",
        &format!("{p}::99"),
        "-p",
        "80",
        "busybox",
        "sh",
        "-c",
        "echo hello-v6 > /index.html && exec httpd -f -p 80 -h /",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cli6",
        "--network",
        "v6net",
        "busybox",
        "sleep",
        "300",
    ]);

    let net = d.ok(&[
        "inspect",
        "--format",
        "{{json .NetworkSettings.Networks.v6net}}",
        "web6",
    ]);
    for want in [
        format!("\"IPAMConfig\":{{\"IPv6Address\":\"{p}::99\"}}"),
        format!("\"GlobalIPv6Address\":\"{p}::99\""),
        "\"GlobalIPv6PrefixLen\":64".to_string(),
        format!("\"IPv6Gateway\":\"{p}::1\""),
    ] {
        assert!(net.contains(&want), "{want} not in {net}");
    }
    // Sequential from the subnet, the gateway skipped.
    let cli_ip = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.Networks.v6net.GlobalIPv6Address}}",
        "cli6",
    ]);
    assert_eq!(cli_ip.trim(), format!("{p}::2"));
    let members = d.ok(&[
        "network",
        "inspect",
        "v6net",
        "--format",
        "{{json .Containers}}",
    ]);
    assert!(
        members.contains(&format!("\"IPv6Address\":\"{p}::99/64\"")),
        "{members}"
    );

    // Inside: the address (usable at once), the default route, /etc/hosts.
    let addr = d.ok(&["exec", "web6", "ip", "-6", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet6 {p}::99/64")), "{addr}");
    assert!(!addr.contains(&format!("{p}::99/64 scope global tentative")));
    let route = d.ok(&["exec", "web6", "ip", "-6", "route"]);
    assert!(
        route.contains(&format!("default via {p}::1 dev eth0")),
        "{route}"
    );
    let hosts = d.ok(&["exec", "cli6", "cat", "/etc/hosts"]);
    assert!(hosts.contains(&format!("\n{p}::2\t")), "{hosts}");

    // Container to container, by address and by name (AAAA).
    let ping = d.ok(&[
        "exec",
        "cli6",
        "ping6",
        "-c",
        "1",
        "-W",
        "5",
        &format!("{p}::99"),
    ]);
    assert!(ping.contains("1 packets received"), "{ping}");
    let ns = d.ok(&[
        "exec",
        "cli6",
        "nslookup",
        "-type=AAAA",
        "web6",
        "127.0.0.11",
    ]);
    assert!(ns.contains(&format!("Address: {p}::99")), "{ns}");
    let ping = d.ok(&["exec", "cli6", "ping6", "-c", "1", "-W", "5", "web6"]);
    assert!(
        ping.contains(&format!("({p}::99)")) && ping.contains("1 packets received"),
        "{ping}"
    );
    let page = d.ok(&[
        "exec",
        "cli6",
        "wget",
        "-qO-",
        &format!("http://[{p}::99]/index.html"),
    ]);
    assert_eq!(page, "hello-v6\n");

    // The host reaches the container's address, and its published port on
    // an IPv6 address of the host.
    let ping = host_ok(&["ping", "-c", "1", "-W", "5", &format!("{p}::99")]);
    assert!(ping.contains("1 packets received"), "{ping}");
    let port = d.ok(&["port", "web6", "80"]);
    let host_port = port
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .unwrap()
        .trim()
        .to_string();
    let page = host_ok(&[
        "wget",
        "-qO-",
        &format!("http://[{p}::1]:{host_port}/index.html"),
    ]);
    assert_eq!(page, "hello-v6\n");
    let page = host_ok(&[
        "wget",
        "-qO-",
        &format!("http://127.0.0.1:{host_port}/index.html"),
    ]);
    assert_eq!(
        page, "hello-v6\n",
        "IPv4 publishing on a dual-stack network"
    );

    // Addresses are never handed out twice (a container's, the gateway's),
    // and one outside the subnets is refused.
    let cases = [
        (format!("{p}::99"), "Address already in use".to_string()),
        (format!("{p}::1"), "Address already in use".to_string()),
        (
            "fd00:dead::5".to_string(),
            "Invalid address fd00:dead::5: It does not belong to any of this network's subnets"
                .to_string(),
        ),
    ];
    for (ip6, want) in &cases {
        let e = err(
            &d,
            &[
                "run",
                "--rm",
                "--network",
                "v6net",
                "--ip6",
                ip6,
                "busybox",
                "true",
            ],
        );
        assert!(e.contains(want.as_str()), "--ip6 {ip6}: {e}");
    }
    d.ok(&["network", "disconnect", "v6net", "cli6"]);
    d.ok(&[
        "network",
        "connect",
        "--ip6",
        &format!("{p}::2"),
        "v6net",
        "cli6",
    ]);
    let addr = d.ok(&["exec", "cli6", "ip", "-6", "addr"]);
    assert!(addr.contains(&format!("inet6 {p}::2/64")), "{addr}");

    // rm releases everything: links, nftables rules.
    let bridge = d.extra_value("--bridge").unwrap();
    let table = format!("berth_{}", bridge.replace(['-', '.'], "_"));
    assert!(nft_has_table("ip6", &table));
    d.ok(&["rm", "-f", "web6", "cli6"]);
    d.ok(&["network", "rm", "v6net"]);
    let gw_if = format!("br-{}", &id[..12]);
    assert!(!std::path::Path::new("/sys/class/net").join(&gw_if).exists());
    assert!(!nft_has_table("ip6", &table), "ip6 table left behind");
    let ruleset = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    let ruleset = String::from_utf8_lossy(&ruleset.stdout);
    assert!(!ruleset.contains(&p), "rules for {subnet} left behind");
}

#[test]
fn ipv6_bad_input_is_refused() {
    let d = Daemon::start("ipv6bad");
    d.busybox();
    let p = prefix(2);
    let e = err(&d, &["network", "create", "--ipv6", "nosub"]);
    assert!(
        e.contains("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"),
        "{e}"
    );
    let e = err(
        &d,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            &format!("{p}::/64"),
            "--gateway",
            "fd00:dead::1",
            "badgw",
        ],
    );
    assert!(e.contains("fd00:dead::1"), "{e}");
    d.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &format!("{p}::/64"),
        "first6",
    ]);
    let e = err(
        &d,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            &format!("{p}::/80"),
            "second6",
        ],
    );
    assert!(
        e.contains("Pool overlaps with other one on this address space"),
        "{e}"
    );
    let e = err(
        &d,
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:db8:ffff::/64",
            "--ip-range",
            "fd00:db8:fffe::/80",
            "badrange",
        ],
    );
    assert!(e.contains("fd00:db8:fffe::/80"), "{e}");
    assert!(!d.ok(&["network", "ls"]).contains("badrange"));

    // --ip6 needs a network with IPv6, at run and at connect.
    d.ok(&["network", "create", "--subnet", "10.231.0.0/24", "only4"]);
    let e = err(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "only4",
            "--ip6",
            &format!("{p}::7"),
            "busybox",
            "true",
        ],
    );
    assert!(
        e.contains("user specified IP address is supported only when connecting to networks with user configured subnets"),
        "{e}"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "c4",
        "--network",
        "first6",
        "busybox",
        "sleep",
        "300",
    ]);
    let e = err(
        &d,
        &[
            "network",
            "connect",
            "--ip6",
            &format!("{p}::8"),
            "only4",
            "c4",
        ],
    );
    assert!(
        e.contains("user specified IP address is supported only when connecting to networks with user configured subnets"),
        "{e}"
    );
    let e = err(
        &d,
        &[
            "network",
            "connect",
            "--ip6",
            "not-an-address",
            "only4",
            "c4",
        ],
    );
    assert!(e.contains("not-an-address"), "{e}");
    d.ok(&["rm", "-f", "c4"]);
}

/// `--ipv6 --fixed-cidr-v6` as flags, then as daemon.json keys.
#[test]
fn default_bridge_ipv6() {
    let p = prefix(3);
    let cidr = format!("{p}::/64");
    let d = Daemon::start_with("ipv6flags", &["--ipv6", "--fixed-cidr-v6", &cidr]);
    check_default_bridge(&d, &p);
    drop(d);

    let p = prefix(4);
    let dir = std::env::temp_dir().join(format!("berth-ipv6-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("daemon.json");
    std::fs::write(
        &conf,
        format!("{{\"ipv6\": true, \"fixed-cidr-v6\": \"{p}::/64\"}}"),
    )
    .unwrap();
    let d = Daemon::start_with("ipv6conf", &["--config-file", conf.to_str().unwrap()]);
    check_default_bridge(&d, &p);
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

fn check_default_bridge(d: &Daemon, p: &str) {
    d.busybox();
    let shown = d.ok(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{.EnableIPv6}} {{json .IPAM.Config}}",
    ]);
    assert!(shown.starts_with("true "), "{shown}");
    assert!(
        shown.contains(&format!("\"Subnet\":\"{p}::/64\"")),
        "{shown}"
    );
    let id = d.ok(&["run", "-d", "busybox", "sleep", "300"]);
    let id = id.trim();
    let top = d.ok(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.GlobalIPv6Address}} {{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}",
        id,
    ]);
    assert_eq!(top.trim(), format!("{p}::2 64 {p}::1"));
    let ping = d.ok(&[
        "exec",
        id,
        "ping6",
        "-c",
        "1",
        "-W",
        "5",
        &format!("{p}::1"),
    ]);
    assert!(ping.contains("1 packets received"), "{ping}");
    let ping = host_ok(&["ping", "-c", "1", "-W", "5", &format!("{p}::2")]);
    assert!(ping.contains("1 packets received"), "{ping}");
    d.ok(&["rm", "-f", id]);
}

/// A free TCP port on the IPv6 loopback.
fn free_v6_port() -> u16 {
    free_port("::1")
}

/// Ports published on `[::1]` (which NAT cannot reach: the kernel never
/// routes `::1` off `lo`) and on IPv6 addresses of an IPv4-only container
/// are served by the daemon's userland proxy, as Docker's docker-proxy
/// serves them; the port is held while the container runs and freed after.
#[test]
fn ipv6_loopback_and_v4_only_publishing_go_through_the_proxy() {
    let d = Daemon::start("ip6proxy");
    d.busybox();
    let lo = free_v6_port();
    let any = free_v6_port();
    let id = d.ok(&[
        "run",
        "-d",
        "-p",
        &format!("[::1]:{lo}:80"),
        "-p",
        &format!("[::]:{any}:80"),
        "busybox",
        "sh",
        "-c",
        "echo via-proxy > /index.html && exec httpd -f -p 80 -h /",
    ]);
    let id = id.trim();
    let fetch = |url: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let out = Command::new("/bin/busybox")
                .args(["wget", "-qO-", url])
                .output()
                .unwrap();
            if out.status.success() || std::time::Instant::now() > deadline {
                break String::from_utf8_lossy(&out.stdout).into_owned();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    };
    // The default bridge has no IPv6: both go to the container's IPv4.
    assert_eq!(
        fetch(&format!("http://[::1]:{lo}/index.html")),
        "via-proxy\n"
    );
    assert_eq!(
        fetch(&format!("http://[::1]:{any}/index.html")),
        "via-proxy\n"
    );
    let ports = d.ok(&["port", id, "80"]);
    assert!(
        ports.contains(&format!("[::1]:{lo}")) || ports.contains(&format!("::1:{lo}")),
        "{ports}"
    );
    // The port is taken while the container runs.
    let out = d.cli(&[
        "run",
        "-d",
        "-p",
        &format!("[::1]:{lo}:80"),
        "busybox",
        "sleep",
        "5",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already"), "{stderr}");
    d.ok(&["rm", "-f", id]);
    // Freed with the container.
    assert!(std::net::TcpListener::bind(("::1", lo)).is_ok());
    assert!(std::net::TcpStream::connect(("::1", any)).is_err());
}

/// `-p PORT:80` on an IPv4-only container is published on both families,
/// as Docker's proxy binds `0.0.0.0` and `[::]`: `port`, `ps` and inspect
/// list both, `[::1]` reaches the container through the userland proxy,
/// and the IPv6 listener goes away with the container.
#[test]
fn all_address_publishing_covers_ipv6_for_an_ipv4_container() {
    let d = Daemon::start("ip6dual");
    d.busybox();
    let port = free_v6_port();
    let id = d.ok(&[
        "run",
        "-d",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo dual > /index.html && exec httpd -f -p 80 -h /",
    ]);
    let id = id.trim();
    let shown = d.ok(&["port", id, "80"]);
    assert_eq!(
        shown.lines().collect::<Vec<_>>(),
        [format!("0.0.0.0:{port}"), format!("[::]:{port}")],
        "{shown}"
    );
    let ps = d.ok(&[
        "ps",
        "--filter",
        &format!("id={id}"),
        "--format",
        "{{.Ports}}",
    ]);
    assert_eq!(
        ps.trim(),
        format!("0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp")
    );
    let inspect = d.ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", id]);
    assert_eq!(
        inspect.trim(),
        format!(
            r#"{{"80/tcp":[{{"HostIp":"0.0.0.0","HostPort":"{port}"}},{{"HostIp":"::","HostPort":"{port}"}}]}}"#
        )
    );
    for url in [
        format!("http://[::1]:{port}/index.html"),
        format!("http://127.0.0.1:{port}/index.html"),
    ] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let page = loop {
            let out = Command::new("/bin/busybox")
                .args(["wget", "-qO-", &url])
                .output()
                .unwrap();
            if out.status.success() || std::time::Instant::now() > deadline {
                break String::from_utf8_lossy(&out.stdout).into_owned();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert_eq!(page, "dual\n", "{url}");
    }
    d.ok(&["rm", "-f", id]);
    assert!(std::net::TcpStream::connect(("::1", port)).is_err());
}
