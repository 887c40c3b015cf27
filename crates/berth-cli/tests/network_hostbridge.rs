//! `-b/--bridge` naming a bridge the administrator made: berth uses it as it
//! is (its address gives the default network's subnet and gateway), plugs its
//! switch into it, and leaves it in place when the daemon stops. Needs root,
//! nftables and Debian's busybox-static.

mod common;

use common::{Daemon, BERTH};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The test's bridge, deleted however the test ends.
struct HostBridge(String);

impl HostBridge {
    fn create(name: &str, cidr: &str) -> HostBridge {
        let _ = Command::new("ip").args(["link", "del", name]).status();
        ip(&["link", "add", name, "type", "bridge"]);
        let b = HostBridge(name.to_string());
        ip(&["addr", "add", cidr, "dev", name]);
        ip(&["link", "set", name, "up"]);
        b
    }
}

impl Drop for HostBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

#[test]
fn existing_bridge_is_used_and_kept() {
    let name = format!("bx{}", std::process::id() % 100_000);
    let br = HostBridge::create(&name, "172.31.231.1/24");

    // -b and --bip together are refused, as dockerd refuses them.
    let root = std::env::temp_dir().join(format!("berth-e2e-hbbip-{}", std::process::id()));
    let mut child = Command::new(BERTH)
        .args(["daemon", "--data-root"])
        .arg(root.join("data"))
        .arg("--exec-root")
        .arg(root.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", root.join("exec/berth.sock").display()))
        .args(["-b", &name, "--bip", "172.31.232.1/24"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&root);
    assert!(!out.status.success(), "-b with --bip was accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("You specified -b & --bip, mutually exclusive options"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut d = Daemon::start_with("hostbridge", &["-b", &name]);
    d.busybox();
    let ipam = d.ok(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{json .IPAM.Config}} {{index .Options \"com.docker.network.bridge.name\"}}",
    ]);
    assert!(
        ipam.contains("\"Subnet\":\"172.31.231.0/24\"")
            && ipam.contains("\"Gateway\":\"172.31.231.1\"")
            && ipam.trim().ends_with(&name),
        "{ipam}"
    );
    let out = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ip -4 addr show eth0 && ip route && ping -c 1 -W 5 172.31.231.1",
    ]);
    assert!(out.contains("inet 172.31.231."), "{out}");
    assert!(out.contains("default via 172.31.231.1"), "{out}");
    assert!(out.contains("1 packets received"), "{out}");

    // The host reaches a container through its own bridge.
    let id = d.ok(&["run", "-d", "busybox", "sleep", "300"]);
    let id = id.trim();
    let cip = d.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", id]);
    let cip = cip.trim();
    assert!(cip.starts_with("172.31.231."), "{cip}");
    let ping = Command::new("/bin/busybox")
        .args(["ping", "-c", "1", "-W", "5", cip])
        .output()
        .unwrap();
    assert!(ping.status.success(), "host cannot ping {cip}");
    d.ok(&["rm", "-f", id]);

    // A daemon restart finds its port on the bridge and goes on.
    d.stop();
    assert!(ip(&["-4", "addr", "show", "dev", &name]).contains("172.31.231.1/24"));
    d.spawn();
    let out = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "5",
        "172.31.231.1",
    ]);
    assert!(out.contains("1 packets received"), "{out}");
    d.stop();
    // A clean shutdown drops the pool's ready sandboxes (namespace mounts).
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    let root = d.root.display().to_string();
    let pooled: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(&root) && l.contains("/netns/pool-"))
        .collect();
    assert!(pooled.is_empty(), "{pooled:?}");
    drop(d);

    // Still there, with its address, after the daemon is gone.
    let shown = ip(&["-4", "addr", "show", "dev", &name]);
    assert!(shown.contains("172.31.231.1/24"), "{shown}");
    assert!(std::path::Path::new("/sys/class/net")
        .join(&name)
        .join("bridge")
        .is_dir());
    drop(br);
}
