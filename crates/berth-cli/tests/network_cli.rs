//! End-to-end `berth network ...` and `berth port` against a real daemon,
//! checking docker's output. Needs root, nftables and Debian's busybox-static.

mod common;
use common::*;

#[test]
fn network_lifecycle_and_port() {
    let d = Daemon::start("netcli");
    d.busybox();

    let id = d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.77.0.0/24",
        "--gateway",
        "10.77.0.1",
        "--label",
        "tier=web",
        "netcli1",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "create prints the full id: {id:?}");

    // The default table, sorted by name, with the 12-character id.
    let ls = d.ok(&["network", "ls"]);
    let mut lines = ls.lines();
    assert_eq!(
        lines.next().unwrap(),
        "NETWORK ID     NAME      DRIVER    SCOPE"
    );
    let names: Vec<&str> = lines
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default())
        .collect();
    assert_eq!(names, ["bridge", "host", "netcli1", "none"]);
    assert!(ls.contains(&format!("{}   netcli1   bridge    local", &id[..12])));

    assert_eq!(
        d.ok(&["network", "ls", "-q", "--filter", "label=tier=web"]),
        format!("{}\n", &id[..12])
    );
    assert_eq!(
        d.ok(&[
            "network",
            "ls",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Labels}}",
            "-f",
            "name=netcli1"
        ]),
        format!("{id} tier=web\n")
    );

    assert_eq!(
        d.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Id}}",
            "netcli1"
        ]),
        format!("netcli1 bridge {id}\n")
    );
    let out = d.cli(&["network", "inspect", "nosuchnet"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error response from daemon: network nosuchnet not found\n"
    );

    // A running container with a published port, connected to the network.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "busybox",
        "sleep",
        "300",
    ]);
    d.ok(&[
        "network",
        "connect",
        "--alias",
        "www",
        "--ip",
        "10.77.0.50",
        "netcli1",
        "web",
    ]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.netcli1.IPAddress}}",
            "web"
        ]),
        "10.77.0.50\n"
    );
    let attached = d.ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
        "netcli1",
    ]);
    assert_eq!(attached, "web 10.77.0.50/24\n");

    let all = d.ok(&["port", "web"]);
    assert!(all.starts_with("80/tcp -> 127.0.0.1:"), "{all:?}");
    let host_port: u16 = all.trim().rsplit(':').next().unwrap().parse().unwrap();
    assert!(host_port > 0);
    assert_eq!(
        d.ok(&["port", "web", "80"]),
        format!("127.0.0.1:{host_port}\n")
    );
    assert_eq!(
        d.ok(&["container", "port", "web", "80/tcp"]),
        format!("127.0.0.1:{host_port}\n")
    );
    let out = d.cli(&["port", "web", "81/tcp"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: No public port '81/tcp' published for web\n"
    );

    // In use: the daemon refuses; after a disconnect it goes.
    let out = d.cli(&["network", "rm", "netcli1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("Error response from daemon: "));
    d.ok(&["network", "disconnect", "netcli1", "web"]);
    assert_eq!(
        d.ok(&["network", "rm", "netcli1", "--force", "gone"]),
        "netcli1\n"
    );
    let out = d.cli(&["network", "rm", "netcli1"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error response from daemon: network netcli1 not found\nexit status 1\n"
    );
    assert!(!d.ok(&["network", "ls"]).contains("netcli1"));

    // prune removes only unused custom networks.
    d.ok(&["network", "create", "spare"]);
    assert_eq!(
        d.ok(&["network", "prune", "-f"]),
        "Deleted Networks:\nspare\n\n"
    );
    assert_eq!(d.ok(&["network", "prune", "-f"]), "");
}

/// Docker's refusals of user-chosen addresses: not on the default bridge,
/// only on networks with a user-configured subnet, and no IPv6 (berth's
/// networks have no IPv6 subnet).
#[test]
fn user_chosen_addresses_need_a_user_subnet() {
    let d = Daemon::start("userip");
    d.busybox();
    d.ok(&["network", "create", "autonet"]);
    d.ok(&["network", "create", "--subnet", "10.78.0.0/24", "ownnet"]);
    let cases: [(&[&str], &str); 4] = [
        (
            &["--ip", "172.31.250.9"],
            "supported on user defined networks only",
        ),
        (
            &["--network", "autonet", "--ip", "10.200.0.9"],
            "user configured subnets",
        ),
        (
            &["--network", "ownnet", "--ip6", "2001:db8::9"],
            "user configured subnets",
        ),
        (
            &["--ip6", "2001:db8::9"],
            "supported on user defined networks only",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let o = d.cli(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{flags:?}: {err}");
        assert!(err.contains(want), "{flags:?}: {err}");
    }
    assert_eq!(
        d.ok(&[
            "run",
            "--rm",
            "--network",
            "ownnet",
            "--ip",
            "10.78.0.9",
            // An id prefix of digits only is no name `hostname -i` resolves.
            "--hostname",
            "own",
            "busybox",
            "hostname",
            "-i"
        ])
        .trim(),
        "10.78.0.9"
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "", "a refused run left a container");

    // A /30 has one address besides the gateway: the second start finds
    // the pool empty (Docker's message and 500) and the first keeps its.
    d.ok(&["network", "create", "--subnet", "10.79.0.0/30", "tiny"]);
    d.ok(&[
        "run",
        "-d",
        "--name",
        "t1",
        "--network",
        "tiny",
        "busybox",
        "sleep",
        "60",
    ]);
    d.ok(&[
        "create",
        "--name",
        "t2",
        "--network",
        "tiny",
        "busybox",
        "true",
    ]);
    let id = d.ok(&["network", "inspect", "-f", "{{.Id}}", "tiny"]);
    let (code, body) = d.api("POST", "/v1.47/containers/t2/start", "");
    let want = format!(
        "no available IPv4 addresses on this network's address pools: tiny ({})",
        id.trim()
    );
    assert_eq!(code, 500, "{body}");
    assert!(body.contains(&want), "{body}");
    d.ok(&["rm", "-f", "t1", "t2"]);
}

/// `--mac-address` sets the interface's MAC (both CLIs); a malformed one is
/// refused before anything is created.
#[test]
fn mac_address_is_applied() {
    let d = Daemon::start("macaddr");
    d.busybox();
    let out = d.ok(&[
        "run",
        "--rm",
        "--mac-address",
        "92:d0:c6:0a:29:33",
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(out, "92:d0:c6:0a:29:33\n");
    let docker = std::process::Command::new("docker")
        .env("DOCKER_HOST", d.sock())
        .args([
            "run",
            "-d",
            "--mac-address",
            "92:d0:c6:0a:29:34",
            "busybox",
            "sleep",
            "30",
        ])
        .output()
        .unwrap();
    assert!(
        docker.status.success(),
        "{}",
        String::from_utf8_lossy(&docker.stderr)
    );
    let id = String::from_utf8_lossy(&docker.stdout).trim().to_string();
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.NetworkSettings.MacAddress}}", &id])
            .trim(),
        "92:d0:c6:0a:29:34"
    );
    let bad = d.cli(&[
        "run",
        "--rm",
        "--mac-address",
        "92:d0:zz",
        "busybox",
        "true",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid MAC address"));
}

/// `--network a --network b` (API 1.44+: several endpoints at create)
/// joins both networks from the start, through either CLI; a network
/// that does not exist is refused before anything is created.
#[test]
fn a_container_created_on_two_networks_joins_both() {
    let d = Daemon::start("twonets");
    d.busybox();
    d.ok(&["network", "create", "--subnet", "10.81.0.0/24", "na"]);
    d.ok(&["network", "create", "--subnet", "10.82.0.0/24", "nb"]);
    let addrs = "ip -o -4 addr show | grep -o 'inet 10\\.8[12]\\.0\\.[0-9]*' | sort";
    let out = d.ok(&[
        "run",
        "--rm",
        "--network",
        "na",
        "--ip",
        "10.81.0.7",
        "--network",
        "nb",
        "busybox",
        "sh",
        "-c",
        addrs,
    ]);
    assert_eq!(out, "inet 10.81.0.7\ninet 10.82.0.2\n");
    let out = common::ok_output(
        "docker run",
        d.docker(&[
            "run",
            "--rm",
            "--network",
            "nb",
            "--network",
            "na",
            "busybox",
            "sh",
            "-c",
            addrs,
        ]),
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    d.ok(&[
        "create",
        "--name",
        "two",
        "--network",
        "na",
        "--network",
        "nb",
        "busybox",
        "true",
    ]);
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.NetworkMode}} {{len .NetworkSettings.Networks}}",
            "two"
        ]),
        "na 2\n"
    );
    let (code, body) = d.api(
        "POST",
        "/v1.47/containers/create",
        r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"na"},"NetworkingConfig":{"EndpointsConfig":{"na":{},"nosuch":{}}}}"#,
    );
    assert_eq!(
        (code, body.trim()),
        (404, r#"{"message":"network nosuch not found"}"#)
    );
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), 1);
}
