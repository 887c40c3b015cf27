//! End-to-end: a real daemon with a private data root, exec root and socket per
//! test, driven through the `berth` CLI. Needs root, overlayfs and cgroups, and
//! Debian's busybox-static for the test image.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

mod common;
use common::*;

#[test]
fn run_output_exit_codes_and_user() {
    let d = Daemon::start("run");
    d.busybox();
    let out = d.cli(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo hello; echo err >&2; exit 3",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        d.cli(&["run", "--rm", "busybox", "/nonexistent"])
            .status
            .code(),
        Some(127)
    );
    assert_eq!(
        d.cli(&["run", "--rm", "busybox", "/etc/passwd"])
            .status
            .code(),
        Some(126)
    );
    assert_eq!(
        d.ok(&["run", "--rm", "-u", "app", "busybox", "id"]),
        "uid=1000(app) gid=1000(app) groups=1000(app)\n"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "busybox", "sh", "-c", "echo $$"]),
        "1\n"
    );
    // --rm leaves nothing behind.
    assert_eq!(d.ok(&["ps", "-aq"]), "");
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let d = Daemon::start("bad");
    d.busybox();
    let out = d.cli(&["create", "--name", "bad!", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid container name (bad!)"));
    let out = d.cli(&["create", "-m", "1k", "busybox", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Minimum memory limit allowed is 6MB"));
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    let containers = std::fs::read_dir(d.root.join("data/containers"))
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(containers, 0, "no container folder without its row");
    d.ok(&["create", "--name", "one", "busybox", "true"]);
    let out = d.cli(&["create", "--name", "one", "busybox", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is already in use by container"));
    let out = d.cli(&["start", "nosuch"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such container: nosuch"));
}

#[test]
fn second_daemon_on_same_data_root_is_refused() {
    let d = Daemon::start("lock");
    let out = Command::new(BERTH)
        .args(["daemon", "--data-root"])
        .arg(d.root.join("data"))
        .arg("--exec-root")
        .arg(d.root.join("exec2"))
        .arg("-H")
        .arg(format!("unix://{}/other.sock", d.root.display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("another berth daemon is already using data root"));
}

/// SIGKILL of the daemon loses nothing: containers keep running under their
/// shims, and the restarted daemon reattaches (ps, logs, exec, stop, wait), and
/// sees the real exit code of one that ended while it was down.
#[test]
fn live_restore_after_daemon_kill() {
    let mut d = Daemon::start("restore");
    d.busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'exit 7' TERM; while true; do sleep 0.1; done",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "short",
        "busybox",
        "sh",
        "-c",
        "sleep 1; echo bye; exit 5",
    ]);
    let pid = d
        .ok(&["inspect", "-f", "{{.State.Pid}}", "long"])
        .trim()
        .parse::<i32>()
        .unwrap();
    d.kill9();
    assert!(
        Path::new(&format!("/proc/{pid}")).exists(),
        "container died with the daemon"
    );
    std::thread::sleep(Duration::from_millis(1500));
    d.spawn();
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "short"
        ]),
        "exited 5\n"
    );
    assert_eq!(d.ok(&["logs", "short"]), "bye\n");
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "long"]),
        "running\n"
    );
    assert_eq!(d.ok(&["exec", "long", "echo", "from-exec"]), "from-exec\n");
    assert_eq!(d.ok(&["logs", "long"]), "started\n");
    d.ok(&["stop", "-t", "5", "long"]);
    assert_eq!(d.ok(&["wait", "long"]), "7\n");
}

/// The vfs driver (full copies, no overlay) runs containers too, and copy-on-
/// write is per container: a change in one is not seen by the next.
#[test]
fn vfs_storage_driver() {
    let d = Daemon::start_with("vfs", &["--storage-driver", "vfs"]);
    assert_eq!(d.ok(&["info", "--format", "{{.Driver}}"]), "vfs\n");
    d.busybox();
    d.ok(&[
        "run",
        "--name",
        "vw",
        "busybox",
        "sh",
        "-c",
        "echo changed > /etc/motd",
    ]);
    assert_eq!(d.ok(&["start", "-a", "vw"]), "");
    let out = d.cli(&["run", "--rm", "busybox", "cat", "/etc/motd"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a new container must not see another's writes"
    );
    assert_eq!(
        d.ok(&["run", "--rm", "busybox", "echo", "vfs-ok"]),
        "vfs-ok\n"
    );
}

/// Restart policies hold across a daemon crash: an `always` container that
/// exited while the daemon was down comes back, an `unless-stopped` one the
/// user stopped stays down.
#[test]
fn restart_policies_across_daemon_kill() {
    let mut d = Daemon::start("rpol");
    d.busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "alw",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 1; exit 3",
    ]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "uls",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "100",
    ]);
    d.ok(&["stop", "-t", "1", "uls"]);
    d.kill9();
    std::thread::sleep(Duration::from_millis(2500));
    d.spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = d.ok(&["inspect", "-f", "{{.RestartCount}}", "alw"]);
        if out.trim().parse::<i64>().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "always container was not restarted"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "uls"]),
        "exited\n"
    );
}

/// Network and image archive operations show up in `events`.
#[test]
fn network_and_image_events() {
    let d = Daemon::start("evts");
    d.busybox();
    let since = d.ok(&["info", "--format", "{{.SystemTime}}"]);
    d.ok(&["network", "create", "evnet"]);
    d.ok(&["network", "rm", "evnet"]);
    let tar = d.root.join("bb-save.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), "busybox"]);
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1100));
    let until = d.ok(&["info", "--format", "{{.SystemTime}}"]);
    let out = d.ok(&[
        "events",
        "--since",
        since.trim(),
        "--until",
        until.trim(),
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("image import"))
        .collect();
    assert_eq!(
        lines,
        vec![
            "network create evnet",
            "network destroy evnet",
            "image save busybox",
            "image load busybox:latest"
        ]
    );
}

/// A mount destination that passes through a symlink in the image resolves
/// inside the container's root: neither an absolute (`/escape -> /`) nor a
/// relative (`/rel -> ../../../..`) link can place a mount on the host.
#[test]
fn mount_destinations_cannot_escape_through_symlinks() {
    let d = Daemon::start("symdst");
    d.busybox();
    let ctx = d.root.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN ln -s / /escape && ln -s ../../../../../../../tmp /rel\n",
    )
    .unwrap();
    d.ok(&["build", "-q", "-t", "links:v1", ctx.to_str().unwrap()]);
    let host = d.root.join("hostdata");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("marker"), "inside\n").unwrap();
    for (via, name) in [("/escape/tmp", "abs"), ("/rel", "rel")] {
        let leaf = format!("berth-symdst-{name}-{}", std::process::id());
        let on_host = Path::new("/tmp").join(&leaf);
        let spec = format!("{}:{via}/{leaf}", host.display());
        let out = d.ok(&[
            "run",
            "--rm",
            "-v",
            &spec,
            "links:v1",
            "cat",
            &format!("/tmp/{leaf}/marker"),
        ]);
        assert_eq!(
            out, "inside\n",
            "the mount must appear inside the container at /tmp/{leaf}"
        );
        assert!(
            !on_host.exists(),
            "{} was created on the host",
            on_host.display()
        );
    }
}

/// A host beyond this one: a network namespace behind a veth, serving
/// HTTP on 10.231.<net>.2:8080; removed on drop.
struct Outside {
    ns: String,
    outer: String,
    server: std::process::Child,
    pub addr: String,
}

impl Outside {
    fn new(d: &Daemon, net: u8) -> Outside {
        let pid = std::process::id() % 10000;
        let ns = format!("berth-out-{pid}-{net}");
        let (outer, inner) = (format!("vo{pid}n{net}"), format!("vi{pid}n{net}"));
        let www = d.root.join(format!("www{net}"));
        std::fs::create_dir_all(&www).unwrap();
        std::fs::write(www.join("hello.txt"), "from outside\n").unwrap();
        let cmd = format!(
            "ip netns add {ns} && ip link add {outer} type veth peer name {inner} && \
             ip link set {inner} netns {ns} && ip addr add 10.231.{net}.1/24 dev {outer} && \
             ip link set {outer} up && ip -n {ns} addr add 10.231.{net}.2/24 dev {inner} && \
             ip -n {ns} link set {inner} up && ip -n {ns} link set lo up && \
             ip -n {ns} route add default via 10.231.{net}.1"
        );
        let st = Command::new("sh").args(["-c", &cmd]).status().unwrap();
        assert!(st.success(), "{cmd}");
        let server = Command::new("ip")
            .args([
                "netns", "exec", &ns, "busybox", "httpd", "-f", "-p", "8080", "-h",
            ])
            .arg(&www)
            .spawn()
            .unwrap();
        let addr = format!("10.231.{net}.2:8080");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        Outside {
            ns,
            outer,
            server,
            addr,
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!("ip link del {}; ip netns del {}", self.outer, self.ns),
            ])
            .status();
    }
}

/// `wget` of the outside host's page from a container (Debian's static
/// busybox wget crashes with -T, so a dead route fails by connect timeout).
fn fetch(d: &Daemon, extra: &[&str], url: &str) -> Output {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(extra);
    args.extend(["busybox", "wget", "-qO-", url]);
    d.cli(&args)
}

/// Egress through NAT to a host beyond this one. The packets are forwarded
/// by the host, so on hosts whose `ip filter FORWARD` policy is drop
/// (Docker's), this also proves berth's accept rules there.
#[test]
fn containers_reach_hosts_beyond_this_one() {
    let d = Daemon::start("egress");
    d.busybox();
    let out = Outside::new(&d, 77);
    let got = fetch(&d, &[], &format!("http://{}/hello.txt", out.addr));
    assert!(
        got.status.success(),
        "wget failed: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&got.stdout), "from outside\n");
}

/// `--internal` networks route nothing in or out; `enable_icc=false`
/// networks keep containers from reaching each other but not the outside.
#[test]
fn internal_networks_and_icc() {
    let d = Daemon::start("isolate");
    d.busybox();
    let out = Outside::new(&d, 78);
    let url = format!("http://{}/hello.txt", out.addr);
    d.ok(&[
        "network",
        "create",
        "--internal",
        "--subnet",
        "10.232.1.0/24",
        "inner",
    ]);
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.232.2.0/24",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "noicc",
    ]);
    // Internal: no way out, but its containers talk to each other.
    let srv = d.ok(&[
        "run",
        "-d",
        "--network",
        "inner",
        "--name",
        "isrv",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let blocked = Command::new("timeout")
        .args([
            "8",
            common::BERTH,
            "-H",
            &d.sock(),
            "run",
            "--rm",
            "--network",
            "inner",
        ])
        .args(["busybox", "wget", "-qO-", &url])
        .output()
        .unwrap();
    assert!(
        !blocked.status.success(),
        "an internal network reached {url}"
    );
    let inside = d.ok(&[
        "run",
        "--rm",
        "--network",
        "inner",
        "busybox",
        "wget",
        "-qO-",
        "http://isrv/hostname",
    ]);
    assert_eq!(inside.trim(), &srv.trim()[..12]);

    // No ICC: the outside is reachable, a neighbour is not.
    let got = fetch(&d, &["--network", "noicc"], &url);
    assert_eq!(String::from_utf8_lossy(&got.stdout), "from outside\n");
    d.ok(&[
        "run",
        "-d",
        "--network",
        "noicc",
        "--name",
        "nsrv",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let neighbour = Command::new("timeout")
        .args([
            "8",
            common::BERTH,
            "-H",
            &d.sock(),
            "run",
            "--rm",
            "--network",
            "noicc",
        ])
        .args(["busybox", "wget", "-qO-", "http://nsrv/hostname"])
        .output()
        .unwrap();
    assert!(
        !neighbour.status.success(),
        "ICC=false let a neighbour through"
    );
    drop(srv);
}

/// The daemon's default-bridge flags: `--icc=false`, `--ip`, `--ip-masq=false`,
/// and `--iptables=false` leaving nftables alone.
#[test]
fn default_bridge_daemon_flags() {
    let d = Daemon::start_with(
        "bflags",
        &["--icc=false", "--ip", "127.0.0.1", "--ip-masq=false"],
    );
    d.busybox();
    let opts = d.ok(&["network", "inspect", "-f", "{{json .Options}}", "bridge"]);
    assert!(
        opts.contains(r#""com.docker.network.bridge.enable_icc":"false""#),
        "{opts}"
    );
    assert!(
        opts.contains(r#""com.docker.network.bridge.host_binding_ipv4":"127.0.0.1""#),
        "{opts}"
    );
    let srv = d.ok(&[
        "run", "-d", "-p", "18971:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc",
    ]);
    assert_eq!(d.ok(&["port", srv.trim(), "80"]).trim(), "127.0.0.1:18971");
    let ip = d.ok(&[
        "inspect",
        "-f",
        "{{.NetworkSettings.IPAddress}}",
        srv.trim(),
    ]);
    let blocked = Command::new("timeout")
        .args([
            "8",
            BERTH,
            "-H",
            &d.sock(),
            "run",
            "--rm",
            "busybox",
            "wget",
            "-qO-",
        ])
        .arg(format!("http://{}/hostname", ip.trim()))
        .output()
        .unwrap();
    assert!(
        !blocked.status.success(),
        "--icc=false let a neighbour through"
    );
    let bridge = d.extra_value("--bridge").unwrap();
    let table = Command::new("nft")
        .args(["list", "table", "ip", &format!("berth_{bridge}")])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&table.stdout);
    assert!(rules.contains("dport 18971 dnat"), "{rules}");
    assert!(
        !rules.contains("oifname != "),
        "--ip-masq=false still masquerades: {rules}"
    );
    drop(d);

    let quiet = Daemon::start_with("bnoipt", &["--iptables=false"]);
    quiet.busybox();
    assert_eq!(quiet.ok(&["run", "--rm", "busybox", "echo", "ok"]), "ok\n");
    let bridge = quiet.extra_value("--bridge").unwrap();
    let table = Command::new("nft")
        .args(["list", "table", "ip", &format!("berth_{bridge}")])
        .output()
        .unwrap();
    assert!(!table.status.success(), "--iptables=false created a table");
}

/// `network create --ip-range` and the daemon's `--fixed-cidr` limit where
/// container addresses come from; `--mtu` sets the default bridge's links.
#[test]
fn ip_range_and_fixed_cidr() {
    let bridge = format!("bfc{}", std::process::id() % 10000);
    let d = Daemon::start_with(
        "fixedcidr",
        &[
            "--bridge",
            &bridge,
            "--bip",
            "172.31.250.1/24",
            "--fixed-cidr",
            "172.31.250.128/25",
            "--mtu",
            "1400",
        ],
    );
    d.busybox();
    let ip = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; cat /sys/class/net/eth0/mtu",
    ]);
    assert!(ip.contains("inet 172.31.250.128/24"), "{ip}");
    assert!(ip.ends_with("\n1400\n"), "--mtu 1400 not applied: {ip}");
    let host_mtu = std::fs::read_to_string(format!("/sys/class/net/{bridge}/mtu")).unwrap();
    assert_eq!(host_mtu, "1400\n");
    let cfg = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{json .IPAM.Config}}",
        "bridge",
    ]);
    assert!(cfg.contains(r#""IPRange":"172.31.250.128/25""#), "{cfg}");

    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.233.0.0/16",
        "--ip-range",
        "10.233.7.0/24",
        "ranged",
    ]);
    // As dockerd: without --gateway the gateway is the range's first
    // address, and containers get the ones after it.
    let ip = d.ok(&[
        "run",
        "--rm",
        "--network",
        "ranged",
        "busybox",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route show default",
    ]);
    assert!(ip.contains("inet 10.233.7.1/16"), "{ip}");
    assert!(ip.contains("default via 10.233.7.0"), "{ip}");
    let bad = d.cli(&[
        "network",
        "create",
        "--subnet",
        "10.234.0.0/16",
        "--ip-range",
        "10.235.0.0/24",
        "bad",
    ]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no matching subnet for range"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// `--privileged` gives the container the host's device nodes (and the
/// device cgroup lets it use them); without it they are absent.
#[test]
fn privileged_containers_see_host_devices() {
    let d = Daemon::start("privdev");
    d.busybox();
    // /dev/kmsg (1:11) is on every Linux host and not among the defaults.
    let dev = "/dev/kmsg";
    assert!(std::path::Path::new(dev).exists());
    let script = format!("test -c {dev} && head -c 16 {dev} | wc -c");
    let out = d.ok(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out.trim(), "16");
    let plain = d.cli(&["run", "--rm", "busybox", "test", "-e", dev]);
    assert!(
        !plain.status.success(),
        "{dev} visible without --privileged"
    );
}

/// Swarm and plugin endpoints answer as a Docker Engine outside any swarm
/// and without plugins, not as missing routes.
#[test]
fn swarm_and_plugin_endpoints_answer_as_docker_outside_a_swarm() {
    let d = Daemon::start("swarm");
    let not_manager = "This node is not a swarm manager. Use \\\"docker swarm init\\\" or \\\"docker swarm join\\\" to connect this node to swarm and try again.";
    for (method, path) in [
        ("GET", "/v1.47/swarm"),
        ("GET", "/v1.47/nodes"),
        ("GET", "/v1.47/services"),
        ("GET", "/v1.47/services/web"),
        ("GET", "/v1.47/tasks"),
        ("GET", "/v1.47/secrets"),
        ("POST", "/v1.47/configs/create"),
        ("GET", "/v1.47/swarm/unlockkey"),
    ] {
        let (code, body) = d.api(method, path, "");
        assert_eq!(code, 503, "{method} {path}: {body}");
        assert!(body.contains(not_manager), "{method} {path}: {body}");
    }
    let (code, body) = d.api("POST", "/v1.47/swarm/leave", "");
    assert_eq!(
        (code, body.trim()),
        (503, r#"{"message":"This node is not part of a swarm"}"#)
    );
    assert_eq!(d.api("POST", "/v1.47/swarm/init", "{}").0, 501);
    assert_eq!(d.api("GET", "/v1.47/plugins", "").1.trim(), "[]");
    let (code, body) = d.api("GET", "/v1.47/plugins/foo/json", "");
    assert_eq!(
        (code, body.trim()),
        (404, r#"{"message":"plugin \"foo\" not found"}"#)
    );
    let (code, _) = d.api("DELETE", "/v1.47/plugins/foo", "");
    assert_eq!(code, 404);
}
