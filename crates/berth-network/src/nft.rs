//! NAT for berth's networks in berth's own nftables table: masquerade of
//! container traffic leaving a network and DNAT of published ports. The whole
//! table is rebuilt in one `nft -f` transaction per change, so a failed change
//! leaves the previous rules in place and no other table is ever touched.
//!
//! Published ports are DNAT rules, not a userland proxy: traffic from other
//! hosts (prerouting) and from the host itself (output, including 127.0.0.1,
//! with `route_localnet` on the gateway interface and a masquerade so replies
//! come back) reaches the container without a process per port.

use crate::cidr::Ipv4Net;
use crate::error::NetError;
use std::fmt::Write;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq)]
pub struct NetRule {
    pub host_if: String,
    pub subnet: Ipv4Net,
    /// `--internal`: no traffic routed in or out, no masquerade.
    pub internal: bool,
    /// `enable_ip_masquerade`: traffic leaving the host is masqueraded.
    pub masquerade: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortRule {
    /// None: every local address.
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    /// "tcp", "udp" or "sctp".
    pub proto: String,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    pub networks: Vec<NetRule>,
    pub ports: Vec<PortRule>,
}

impl Ruleset {
    /// The `nft -f` script replacing table `ip <table>` with these rules.
    pub fn render(&self, table: &str) -> String {
        let mut s = String::new();
        // Declaring first makes the delete succeed when the table is new.
        let _ = writeln!(s, "table ip {table} {{}}\ndelete table ip {table}");
        let _ = writeln!(s, "table ip {table} {{");
        s.push_str("  chain ports {\n");
        for p in &self.ports {
            let daddr = p
                .host_ip
                .map(|ip| format!("ip daddr {ip} "))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "    {daddr}{proto} dport {hp} dnat to {cip}:{cp}",
                proto = p.proto,
                hp = p.host_port,
                cip = p.container_ip,
                cp = p.container_port
            );
        }
        s.push_str("  }\n");
        s.push_str("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }\n");
        s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump ports\n  }\n");
        // Internal networks: nothing is routed from or to them (the host
        // itself stays reachable, as on Docker's internal networks).
        s.push_str(
            "  chain forward {\n    type filter hook forward priority filter; policy accept;\n",
        );
        for n in self.networks.iter().filter(|n| n.internal) {
            let _ = writeln!(
                s,
                "    iifname \"{i}\" drop\n    oifname \"{i}\" drop",
                i = n.host_if
            );
        }
        s.push_str("  }\n");
        s.push_str("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        for n in self.networks.iter().filter(|n| !n.internal) {
            if n.masquerade {
                let _ = writeln!(
                    s,
                    "    ip saddr {sub} oifname != \"{i}\" masquerade",
                    sub = n.subnet,
                    i = n.host_if
                );
            }
            // Published ports reached on 127.0.0.1 need this whatever --ip-masq says.
            let _ = writeln!(
                s,
                "    oifname \"{i}\" ip saddr 127.0.0.0/8 masquerade",
                i = n.host_if
            );
        }
        s.push_str("  }\n}\n");
        s
    }

    pub fn apply(&self, table: &str) -> Result<(), NetError> {
        run_nft(&self.render(table))
    }
}

/// Accepts forwarded traffic of berth's host interfaces in the `ip filter`
/// table's `FORWARD` chain, when that chain exists (iptables-nft, as Docker
/// and firewalls create it, often with policy drop). A drop in any base
/// chain of the forward hook is final, so an accept in berth's own table
/// could not let containers reach beyond the host; this is the one place
/// berth writes outside its table. The rules carry the comment `tag`, so
/// they are found again to be replaced or removed.
pub fn sync_host_forward(tag: &str, host_ifs: &[String]) -> Result<(), NetError> {
    let Some(listing) = list_forward_chain() else {
        return Ok(()); // no such chain: nothing filters forwarding there
    };
    let comment = format!("comment \"{tag}\"");
    let mine: Vec<&str> = listing.lines().filter(|l| l.contains(&comment)).collect();
    let present = |i: &String| mine.iter().any(|l| l.contains(&format!("iifname \"{i}\"")));
    if mine.len() == host_ifs.len() * 2 && host_ifs.iter().all(present) {
        return Ok(());
    }
    let mut script = String::new();
    for line in &mine {
        if let Some(h) = line
            .rsplit("# handle ")
            .next()
            .filter(|h| h.trim().parse::<u64>().is_ok())
        {
            let _ = writeln!(script, "delete rule ip filter FORWARD handle {}", h.trim());
        }
    }
    for i in host_ifs {
        let _ = writeln!(
            script,
            "insert rule ip filter FORWARD oifname \"{i}\" ct state related,established counter accept {comment}"
        );
        let _ = writeln!(
            script,
            "insert rule ip filter FORWARD iifname \"{i}\" counter accept {comment}"
        );
    }
    run_nft(&script)
}

/// `nft -a list chain ip filter FORWARD`, or None when there is no such chain.
fn list_forward_chain() -> Option<String> {
    let out = Command::new("nft")
        .args(["-a", "list", "chain", "ip", "filter", "FORWARD"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes berth's table; absent is fine.
pub fn delete_table(table: &str) -> Result<(), NetError> {
    run_nft(&format!("table ip {table} {{}}\ndelete table ip {table}\n"))
}

fn run_nft(script: &str) -> Result<(), NetError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            NetError::Nft(format!(
                "running nft (is Debian's nftables installed?): {e}"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| NetError::Nft(format!("writing rules: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Nft(e.to_string()))?;
    if !out.status.success() {
        return Err(NetError::Nft(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_ports_and_masquerade() {
        let r = Ruleset {
            networks: vec![
                NetRule {
                    host_if: "berth0".into(),
                    subnet: "172.30.0.0/16".parse().unwrap(),
                    internal: false,
                    masquerade: true,
                },
                NetRule {
                    host_if: "br-2".into(),
                    subnet: "172.31.0.0/24".parse().unwrap(),
                    internal: true,
                    masquerade: true,
                },
            ],
            ports: vec![PortRule {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 18080,
                proto: "tcp".into(),
                container_ip: Ipv4Addr::new(172, 30, 0, 2),
                container_port: 80,
            }],
        };
        let s = r.render("berth");
        assert!(s.starts_with("table ip berth {}\ndelete table ip berth\n"));
        assert!(s.contains("iifname \"br-2\" drop\n    oifname \"br-2\" drop"));
        assert!(!s.contains("ip saddr 172.31.0.0/24 oifname != \"br-2\" masquerade"));
        assert!(s.contains("ip saddr 172.30.0.0/16 oifname != \"berth0\" masquerade"));
        assert!(s.contains("ip daddr 127.0.0.1 tcp dport 18080 dnat to 172.30.0.2:80"));
        assert!(s.contains("ip saddr 172.30.0.0/16 oifname != \"berth0\" masquerade"));
    }
}
