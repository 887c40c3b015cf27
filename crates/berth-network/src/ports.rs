//! Published ports: parsing Docker's "80/tcp" keys and picking host ports.

use crate::error::NetError;
use std::collections::HashSet;
use std::net::IpAddr;

/// Docker's ephemeral range for `-P` and `-p <container port>`.
pub const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// "80/tcp" -> (80, "tcp"); a bare "80" is tcp.
pub fn parse_key(key: &str) -> Option<(u16, String)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return None;
    }
    Some((port.parse().ok()?, proto))
}

/// Whether a host process could bind (ip, port) now: a published port DNATs
/// traffic away from such a process, so ports in use are not handed out.
pub fn host_port_free(ip: IpAddr, port: u16, proto: &str) -> bool {
    match proto {
        "udp" => std::net::UdpSocket::bind((ip, port)).is_ok(),
        _ => std::net::TcpListener::bind((ip, port)).is_ok(),
    }
}

/// A random free host port of the ephemeral range not in `used` (port, proto).
pub fn random_port(
    ip: IpAddr,
    proto: &str,
    used: &HashSet<(u16, String)>,
) -> Result<u16, NetError> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let span = u32::from(*EPHEMERAL.end() - *EPHEMERAL.start()) + 1;
    let start = rng.gen_range(0..span);
    for i in 0..span {
        let port = *EPHEMERAL.start() + ((start + i) % span) as u16;
        if !used.contains(&(port, proto.to_string())) && host_port_free(ip, port, proto) {
            return Ok(port);
        }
    }
    Err(NetError::Nft(format!("no free host port for {proto}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(parse_key("80/tcp"), Some((80, "tcp".into())));
        assert_eq!(parse_key("5353/UDP"), Some((5353, "udp".into())));
        assert_eq!(parse_key("22"), Some((22, "tcp".into())));
        assert_eq!(parse_key("x/tcp"), None);
        assert_eq!(parse_key("80/icmp"), None);
    }

    #[test]
    fn random_ports_are_in_range_and_skip_used() {
        let mut used = HashSet::new();
        for _ in 0..20 {
            let p = random_port(std::net::Ipv4Addr::LOCALHOST.into(), "tcp", &used).unwrap();
            assert!(EPHEMERAL.contains(&p));
            assert!(used.insert((p, "tcp".to_string())));
        }
    }
}
