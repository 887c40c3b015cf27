//! NAT for berth's networks in berth's own nftables table: masquerade of
//! container traffic leaving a network and DNAT of published ports. The whole
//! table is rebuilt in one `nft -f` transaction per change, so a failed change
//! leaves the previous rules in place and no other table is ever touched.
//!
//! Published ports are DNAT rules, not a userland proxy: traffic from other
//! hosts (prerouting) and from the host itself (output, including 127.0.0.1,
//! with `route_localnet` on the gateway interface and a masquerade so replies
//! come back) reaches the container without a process per port.

use crate::cidr::{Ipv4Net, Ipv6Net};
use crate::error::NetError;
use std::fmt::Write;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, PartialEq)]
pub struct NetRule {
    pub host_if: String,
    pub subnet: Ipv4Net,
    /// `--internal`: no traffic routed in or out, no masquerade.
    pub internal: bool,
    /// `enable_ip_masquerade`: traffic leaving the host is masqueraded.
    pub masquerade: bool,
    /// The IPv6 subnet of a network with IPv6: same rules in `ip6 <table>`.
    pub subnet6: Option<Ipv6Net>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortRule {
    /// None: every local address (of `container_ip`'s family).
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    /// "tcp", "udp" or "sctp".
    pub proto: String,
    /// IPv4 rules go to `ip <table>`, IPv6 ones to `ip6 <table>`.
    pub container_ip: IpAddr,
    pub container_port: u16,
}

#[derive(Debug, Clone, Default)]
pub struct Ruleset {
    pub networks: Vec<NetRule>,
    pub ports: Vec<PortRule>,
}

impl Ruleset {
    /// The `nft -f` script replacing tables `ip <table>` and, when a network
    /// has IPv6, `ip6 <table>` with these rules (an `ip6` table no network
    /// needs is deleted).
    pub fn render(&self, table: &str) -> String {
        let mut s = self.render_family("ip", table);
        let v6 = self.networks.iter().any(|n| n.subnet6.is_some())
            || self.ports.iter().any(|p| p.container_ip.is_ipv6());
        if v6 {
            s.push_str(&self.render_family("ip6", table));
        } else {
            let _ = writeln!(s, "table ip6 {table} {{}}\ndelete table ip6 {table}");
        }
        s
    }

    fn render_family(&self, family: &str, table: &str) -> String {
        let v6 = family == "ip6";
        let mut s = String::new();
        // Declaring first makes the delete succeed when the table is new.
        let _ = writeln!(
            s,
            "table {family} {table} {{}}\ndelete table {family} {table}"
        );
        let _ = writeln!(s, "table {family} {table} {{");
        s.push_str("  chain ports {\n");
        for p in self.ports.iter().filter(|p| p.container_ip.is_ipv6() == v6) {
            let daddr = p
                .host_ip
                .map(|ip| format!("{family} daddr {ip} "))
                .unwrap_or_default();
            let to = match p.container_ip {
                IpAddr::V4(ip) => format!("{ip}:{}", p.container_port),
                IpAddr::V6(ip) => format!("[{ip}]:{}", p.container_port),
            };
            let _ = writeln!(
                s,
                "    {daddr}{proto} dport {hp} dnat to {to}",
                proto = p.proto,
                hp = p.host_port,
            );
        }
        s.push_str("  }\n");
        s.push_str("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump ports\n  }\n");
        s.push_str("  chain output {\n    type nat hook output priority -100; policy accept;\n    fib daddr type local jump ports\n  }\n");
        let nets: Vec<(&NetRule, String)> = self
            .networks
            .iter()
            .filter_map(|n| match (v6, n.subnet6) {
                (false, _) => Some((n, n.subnet.to_string())),
                (true, Some(s6)) => Some((n, s6.to_string())),
                (true, None) => None,
            })
            .collect();
        // Internal networks: nothing is routed from or to them (the host
        // itself stays reachable, as on Docker's internal networks).
        s.push_str(
            "  chain forward {\n    type filter hook forward priority filter; policy accept;\n",
        );
        for (n, _) in nets.iter().filter(|(n, _)| n.internal) {
            let _ = writeln!(
                s,
                "    iifname \"{i}\" drop\n    oifname \"{i}\" drop",
                i = n.host_if
            );
        }
        s.push_str("  }\n");
        s.push_str("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n");
        for (n, sub) in nets.iter().filter(|(n, _)| !n.internal) {
            if n.masquerade {
                let _ = writeln!(
                    s,
                    "    {family} saddr {sub} oifname != \"{i}\" masquerade",
                    i = n.host_if
                );
            }
            // Published ports reached on 127.0.0.1 need this whatever
            // --ip-masq says. IPv6 has no such thing: ::1 never leaves lo.
            if !v6 {
                let _ = writeln!(
                    s,
                    "    oifname \"{i}\" ip saddr 127.0.0.0/8 masquerade",
                    i = n.host_if
                );
            }
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
    sync_forward("ip", tag, host_ifs)
}

/// [`sync_host_forward`] for `ip6 filter FORWARD` (ip6tables-nft's), for the
/// interfaces of networks with IPv6.
pub fn sync_host_forward6(tag: &str, host_ifs: &[String]) -> Result<(), NetError> {
    sync_forward("ip6", tag, host_ifs)
}

fn sync_forward(family: &str, tag: &str, host_ifs: &[String]) -> Result<(), NetError> {
    let Some(listing) = list_forward_chain(family) else {
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
            let _ = writeln!(
                script,
                "delete rule {family} filter FORWARD handle {}",
                h.trim()
            );
        }
    }
    for i in host_ifs {
        let _ = writeln!(
            script,
            "insert rule {family} filter FORWARD oifname \"{i}\" ct state related,established counter accept {comment}"
        );
        let _ = writeln!(
            script,
            "insert rule {family} filter FORWARD iifname \"{i}\" counter accept {comment}"
        );
    }
    run_nft(&script)
}

/// `nft -a list chain <family> filter FORWARD`, or None when there is no such chain.
fn list_forward_chain(family: &str) -> Option<String> {
    let out = Command::new("nft")
        .args(["-a", "list", "chain", family, "filter", "FORWARD"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes berth's tables (ip and ip6); absent is fine.
pub fn delete_table(table: &str) -> Result<(), NetError> {
    run_nft(&format!(
        "table ip {table} {{}}\ndelete table ip {table}\ntable ip6 {table} {{}}\ndelete table ip6 {table}\n"
    ))
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
    use std::net::Ipv4Addr;

    #[test]
    fn renders_ports_and_masquerade() {
        let r = Ruleset {
            networks: vec![
                NetRule {
                    host_if: "berth0".into(),
                    subnet: "172.30.0.0/16".parse().unwrap(),
                    internal: false,
                    masquerade: true,
                    subnet6: None,
                },
                NetRule {
                    host_if: "br-2".into(),
                    subnet: "172.31.0.0/24".parse().unwrap(),
                    internal: true,
                    masquerade: true,
                    subnet6: None,
                },
            ],
            ports: vec![PortRule {
                host_ip: Some(Ipv4Addr::LOCALHOST.into()),
                host_port: 18080,
                proto: "tcp".into(),
                container_ip: Ipv4Addr::new(172, 30, 0, 2).into(),
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
        // No network with IPv6: no ip6 table.
        assert!(s.ends_with("table ip6 berth {}\ndelete table ip6 berth\n"));
    }

    #[test]
    fn renders_ipv6_table() {
        let r = Ruleset {
            networks: vec![
                NetRule {
                    host_if: "br-6".into(),
                    subnet: "10.200.0.0/16".parse().unwrap(),
                    internal: false,
                    masquerade: true,
                    subnet6: Some("fd00:db8:1::/64".parse().unwrap()),
                },
                NetRule {
                    host_if: "br-7".into(),
                    subnet: "10.201.0.0/16".parse().unwrap(),
                    internal: true,
                    masquerade: true,
                    subnet6: Some("fd00:db8:2::/64".parse().unwrap()),
                },
                NetRule {
                    host_if: "br-4".into(),
                    subnet: "10.202.0.0/16".parse().unwrap(),
                    internal: false,
                    masquerade: true,
                    subnet6: None,
                },
            ],
            ports: vec![
                PortRule {
                    host_ip: None,
                    host_port: 8080,
                    proto: "tcp".into(),
                    container_ip: "10.200.0.2".parse().unwrap(),
                    container_port: 80,
                },
                PortRule {
                    host_ip: None,
                    host_port: 8080,
                    proto: "tcp".into(),
                    container_ip: "fd00:db8:1::2".parse().unwrap(),
                    container_port: 80,
                },
            ],
        };
        let s = r.render("berth_t");
        let (v4, v6) = s.split_at(s.find("table ip6 berth_t {}").unwrap());
        assert!(v4.contains("tcp dport 8080 dnat to 10.200.0.2:80"));
        assert!(!v4.contains("fd00"));
        assert!(v6.contains("tcp dport 8080 dnat to [fd00:db8:1::2]:80"));
        assert!(v6.contains("ip6 saddr fd00:db8:1::/64 oifname != \"br-6\" masquerade"));
        assert!(!v6.contains("fd00:db8:2::/64 oifname"));
        assert!(v6.contains("iifname \"br-7\" drop"));
        assert!(!v6.contains("br-4") && !v6.contains("127.0.0.0/8"));
    }
}
