//! IPv4 subnets ("172.30.0.0/16"): parsing, membership, host addresses.

use crate::error::NetError;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    /// The network address (host bits cleared).
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Net {
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Ipv4Net, NetError> {
        if prefix > 32 {
            return Err(NetError::InvalidSubnet(format!("{addr}/{prefix}")));
        }
        let mask = Self::mask_of(prefix);
        Ok(Ipv4Net {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            prefix,
        })
    }

    fn mask_of(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix as u32)
        }
    }

    pub fn mask(&self) -> u32 {
        Self::mask_of(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The `n`th address of the subnet (0 is the network address).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let size = self.size();
        (u64::from(n) < size).then(|| Ipv4Addr::from(u32::from(self.addr) + n))
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix as u32)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
}

impl FromStr for Ipv4Net {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Ipv4Net, NetError> {
        let bad = || NetError::InvalidSubnet(s.to_string());
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Ipv4Net::new(ip, prefix).map_err(|_| bad())
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An IPv6 subnet ("fd00:db8:1::/64").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Net {
    /// The network address (host bits cleared).
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

impl Ipv6Net {
    pub fn new(addr: Ipv6Addr, prefix: u8) -> Result<Ipv6Net, NetError> {
        if prefix > 128 {
            return Err(NetError::InvalidSubnet(format!("{addr}/{prefix}")));
        }
        Ok(Ipv6Net {
            addr: Ipv6Addr::from(u128::from(addr) & Self::mask_of(prefix)),
            prefix,
        })
    }

    fn mask_of(prefix: u8) -> u128 {
        if prefix == 0 {
            0
        } else {
            u128::MAX << (128 - prefix as u32)
        }
    }

    pub fn mask(&self) -> u128 {
        Self::mask_of(self.prefix)
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & self.mask() == u128::from(self.addr)
    }

    pub fn overlaps(&self, other: &Ipv6Net) -> bool {
        let m = self.mask() & other.mask();
        u128::from(self.addr) & m == u128::from(other.addr) & m
    }

    /// The number of addresses, None when it does not fit a u128 (a /0).
    pub fn size(&self) -> Option<u128> {
        1u128.checked_shl(128 - self.prefix as u32)
    }

    /// The `n`th address of the subnet (0 is the network address).
    pub fn nth(&self, n: u128) -> Option<Ipv6Addr> {
        if self.size().is_some_and(|s| n >= s) {
            return None;
        }
        Some(Ipv6Addr::from(u128::from(self.addr) + n))
    }
}

impl FromStr for Ipv6Net {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Ipv6Net, NetError> {
        let bad = || NetError::InvalidSubnet(s.to_string());
        let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
        let ip: Ipv6Addr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Ipv6Net::new(ip, prefix).map_err(|_| bad())
    }
}

impl fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_math() {
        let n: Ipv4Net = "172.30.5.9/16".parse().unwrap();
        assert_eq!(n.to_string(), "172.30.0.0/16");
        assert!(n.contains("172.30.255.1".parse().unwrap()));
        assert!(!n.contains("172.31.0.1".parse().unwrap()));
        assert_eq!(n.nth(1), Some("172.30.0.1".parse().unwrap()));
        assert_eq!(n.broadcast(), "172.30.255.255".parse::<Ipv4Addr>().unwrap());
        let m: Ipv4Net = "172.30.8.0/24".parse().unwrap();
        assert!(n.overlaps(&m) && m.overlaps(&n));
        assert!(!m.overlaps(&"172.30.9.0/24".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Ipv4Net>().is_err());
        assert!("10.0.0/8".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn ipv6_parse_and_math() {
        let n: Ipv6Net = "fd00:db8:1::5/64".parse().unwrap();
        assert_eq!(n.to_string(), "fd00:db8:1::/64");
        assert!(n.contains("fd00:db8:1::ffff".parse().unwrap()));
        assert!(!n.contains("fd00:db8:2::1".parse().unwrap()));
        assert_eq!(n.nth(1), Some("fd00:db8:1::1".parse().unwrap()));
        let m: Ipv6Net = "fd00:db8:1::/80".parse().unwrap();
        assert!(n.overlaps(&m) && m.overlaps(&n));
        assert!(!n.overlaps(&"fd00:db8:2::/64".parse().unwrap()));
        let tiny: Ipv6Net = "fd00::/127".parse().unwrap();
        assert_eq!(tiny.nth(2), None);
        assert!("fd00::/129".parse::<Ipv6Net>().is_err());
        assert!("10.0.0.0/8".parse::<Ipv6Net>().is_err());
        assert_eq!("::/0".parse::<Ipv6Net>().unwrap().size(), None);
    }
}
