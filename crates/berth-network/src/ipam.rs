//! IP address management: choosing a subnet for a new network and an address
//! for a new endpoint. Pure functions over what is already in use; the daemon
//! persists the results (networks and endpoints), so the state is derived from
//! its records and cannot drift.

use crate::cidr::{Ipv4Net, Ipv6Net};
use crate::error::NetError;
use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Pools user-defined networks are carved from, as /16s. Docker's own
/// default (172.17.0.0/16 upwards) is left alone so both engines coexist;
/// routes already on the host are skipped too.
pub fn default_pools() -> Vec<Ipv4Net> {
    let mut pools = Vec::new();
    for b in 200..=250u8 {
        pools.push(Ipv4Net {
            addr: Ipv4Addr::new(10, b, 0, 0),
            prefix: 16,
        });
    }
    pools
}

/// The first pool that overlaps neither a network berth already has nor a
/// route of the host.
pub fn pick_subnet(pools: &[Ipv4Net], taken: &[Ipv4Net]) -> Result<Ipv4Net, NetError> {
    pools
        .iter()
        .find(|p| !taken.iter().any(|t| t.overlaps(p)))
        .copied()
        .ok_or(NetError::NoPool)
}

/// Subnets routed on the host (from /proc/net/route), default route excluded.
pub fn host_routes() -> Vec<Ipv4Net> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_proc_route(&text)
}

fn parse_proc_route(text: &str) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        // Little-endian hex as the kernel prints it.
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        // Byte order does not change the number of bits set.
        let prefix = mask.count_ones() as u8;
        if prefix == 0 {
            continue;
        }
        if let Ok(n) = Ipv4Net::new(Ipv4Addr::from(dst.swap_bytes()), prefix) {
            out.push(n);
        }
    }
    out
}

/// The gateway Docker gives a subnet: its first host address.
pub fn default_gateway(subnet: &Ipv4Net) -> Result<Ipv4Addr, NetError> {
    subnet
        .nth(1)
        .filter(|_| subnet.prefix <= 30)
        .ok_or_else(|| NetError::InvalidSubnet(subnet.to_string()))
}

/// The lowest free host address of `subnet`, skipping the gateway and `used`.
pub fn allocate(
    subnet: &Ipv4Net,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
) -> Result<Ipv4Addr, NetError> {
    allocate_in(subnet, None, gateway, used)
}

/// [`allocate`], limited to `range` (`--ip-range`, `--fixed-cidr`) when given:
/// the range's addresses that are host addresses of the subnet.
pub fn allocate_in(
    subnet: &Ipv4Net,
    range: Option<&Ipv4Net>,
    gateway: Ipv4Addr,
    used: &HashSet<Ipv4Addr>,
) -> Result<Ipv4Addr, NetError> {
    let last = subnet.size().saturating_sub(1);
    (1..last)
        .filter_map(|n| subnet.nth(n as u32))
        .filter(|ip| range.is_none_or(|r| r.contains(*ip)))
        .find(|ip| *ip != gateway && !used.contains(ip))
        .ok_or_else(|| NetError::SubnetFull(subnet.to_string()))
}

/// The IPv6 gateway Docker gives a subnet: its `::1`.
pub fn default_gateway6(subnet: &Ipv6Net) -> Result<Ipv6Addr, NetError> {
    subnet
        .nth(1)
        .filter(|_| subnet.prefix <= 126)
        .ok_or_else(|| NetError::InvalidSubnet(subnet.to_string()))
}

/// The lowest free IPv6 address of `subnet` (of `range` within it when
/// given), skipping the network address, the gateway and `used`: sequential
/// as Docker's allocator, never one that is in use.
pub fn allocate6_in(
    subnet: &Ipv6Net,
    range: Option<&Ipv6Net>,
    gateway: Ipv6Addr,
    used: &HashSet<Ipv6Addr>,
) -> Result<Ipv6Addr, NetError> {
    let base = range.unwrap_or(subnet);
    // Every used address rules out at most one candidate: this many suffice.
    let tries = used.len() as u128 + 3;
    (0..tries)
        .map_while(|n| base.nth(n))
        .filter(|ip| subnet.contains(*ip) && *ip != subnet.addr)
        .find(|ip| *ip != gateway && !used.contains(ip))
        .ok_or_else(|| NetError::SubnetFull(subnet.to_string()))
}

/// Docker derives the MAC from the IPv4 address: 02:42:a:b:c:d.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    #[test]
    fn allocation_stays_in_the_ip_range() {
        let subnet: Ipv4Net = "10.9.0.0/16".parse().unwrap();
        let range: Ipv4Net = "10.9.5.0/30".parse().unwrap();
        let gw = Ipv4Addr::new(10, 9, 0, 1);
        let mut used = HashSet::new();
        let a = allocate_in(&subnet, Some(&range), gw, &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 9, 5, 0));
        for ip in [a, Ipv4Addr::new(10, 9, 5, 1), Ipv4Addr::new(10, 9, 5, 2)] {
            used.insert(ip);
        }
        assert_eq!(
            allocate_in(&subnet, Some(&range), gw, &used).unwrap(),
            Ipv4Addr::new(10, 9, 5, 3)
        );
        used.insert(Ipv4Addr::new(10, 9, 5, 3));
        assert!(allocate_in(&subnet, Some(&range), gw, &used).is_err());
    }

    use super::*;

    #[test]
    fn allocation_skips_gateway_and_used() {
        let n: Ipv4Net = "10.200.0.0/30".parse().unwrap();
        let gw = default_gateway(&n).unwrap();
        assert_eq!(gw, Ipv4Addr::new(10, 200, 0, 1));
        let mut used = HashSet::new();
        let a = allocate(&n, gw, &used).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 200, 0, 2));
        used.insert(a);
        assert!(matches!(
            allocate(&n, gw, &used),
            Err(NetError::SubnetFull(_))
        ));
    }

    #[test]
    fn subnet_choice_avoids_taken() {
        let pools = default_pools();
        let taken = vec!["10.200.3.0/24".parse().unwrap()];
        assert_eq!(
            pick_subnet(&pools, &taken).unwrap().to_string(),
            "10.201.0.0/16"
        );
        assert!(matches!(pick_subnet(&pools, &pools), Err(NetError::NoPool)));
    }

    #[test]
    fn proc_route_parsing() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let r = parse_proc_route(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].to_string(), "172.17.0.0/16");
    }

    #[test]
    fn ipv6_allocation_is_sequential_and_skips_gateway_and_used() {
        let n: Ipv6Net = "fd00:db8:1::/64".parse().unwrap();
        let gw = default_gateway6(&n).unwrap();
        assert_eq!(gw, "fd00:db8:1::1".parse::<Ipv6Addr>().unwrap());
        let mut used = HashSet::new();
        let a = allocate6_in(&n, None, gw, &used).unwrap();
        assert_eq!(a, "fd00:db8:1::2".parse::<Ipv6Addr>().unwrap());
        used.insert(a);
        used.insert("fd00:db8:1::4".parse().unwrap());
        assert_eq!(
            allocate6_in(&n, None, gw, &used).unwrap(),
            "fd00:db8:1::3".parse::<Ipv6Addr>().unwrap()
        );
        used.insert("fd00:db8:1::3".parse().unwrap());
        assert_eq!(
            allocate6_in(&n, None, gw, &used).unwrap(),
            "fd00:db8:1::5".parse::<Ipv6Addr>().unwrap()
        );
        // A gateway elsewhere in the subnet: ::1 is a container's.
        let gw2: Ipv6Addr = "fd00:db8:1::fe".parse().unwrap();
        assert_eq!(
            allocate6_in(&n, None, gw2, &HashSet::new()).unwrap(),
            "fd00:db8:1::1".parse::<Ipv6Addr>().unwrap()
        );
        // Within an --ip-range, from its first address.
        let r: Ipv6Net = "fd00:db8:1:0:1::/80".parse().unwrap();
        assert_eq!(
            allocate6_in(&n, Some(&r), gw, &HashSet::new()).unwrap(),
            "fd00:db8:1:0:1::".parse::<Ipv6Addr>().unwrap()
        );
        // A full subnet says so.
        let small: Ipv6Net = "fd00:db8:9::/126".parse().unwrap();
        let gw = default_gateway6(&small).unwrap();
        let mut used = HashSet::new();
        for _ in 0..2 {
            used.insert(allocate6_in(&small, None, gw, &used).unwrap());
        }
        assert!(matches!(
            allocate6_in(&small, None, gw, &used),
            Err(NetError::SubnetFull(_))
        ));
    }

    #[test]
    fn mac_follows_ip() {
        assert_eq!(
            mac_string(mac_for(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
