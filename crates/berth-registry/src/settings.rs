//! The daemon's registry settings: `--insecure-registry` (hosts and CIDRs
//! reached over plain HTTP, besides loopback) and `--registry-mirror`
//! (endpoints tried first for pulls of the default registry). Set once at
//! daemon start; the CLI and tests run with none.

use std::net::IpAddr;
use std::sync::OnceLock;

use crate::client::is_loopback;

#[derive(Debug, Default)]
pub struct RegistrySettings {
    /// `host[:port]` entries, matched exactly.
    hosts: Vec<String>,
    /// CIDR entries, matched against registries named by an IP address.
    cidrs: Vec<(IpAddr, u8)>,
    /// Mirror base URLs without a trailing slash.
    mirrors: Vec<String>,
}

static SETTINGS: OnceLock<RegistrySettings> = OnceLock::new();

impl RegistrySettings {
    /// Parses the flags' values, with Docker's rules: a CIDR or a
    /// `host[:port]` without scheme; mirrors are http(s) URLs.
    pub fn new(insecure: &[String], mirrors: &[String]) -> Result<RegistrySettings, String> {
        let mut s = RegistrySettings::default();
        for entry in insecure {
            if entry.contains("://") {
                return Err(format!(
                    "insecure registry {entry} should not contain '://'"
                ));
            }
            match entry.split_once('/') {
                Some((ip, bits)) => {
                    let ip: IpAddr = ip
                        .parse()
                        .map_err(|_| format!("invalid CIDR address: {entry}"))?;
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let bits: u8 = bits
                        .parse()
                        .ok()
                        .filter(|b| *b <= max)
                        .ok_or_else(|| format!("invalid CIDR address: {entry}"))?;
                    s.cidrs.push((ip, bits));
                }
                None => s.hosts.push(entry.trim_end_matches('/').to_string()),
            }
        }
        for m in mirrors {
            let m = m.trim_end_matches('/');
            let ok = (m.starts_with("http://") || m.starts_with("https://"))
                && m.split_once("://")
                    .is_some_and(|(_, rest)| !rest.is_empty());
            if !ok {
                return Err(format!(
                    "invalid mirror: unsupported scheme {m:?} in \"{m}\""
                ));
            }
            s.mirrors.push(m.to_string());
        }
        Ok(s)
    }

    /// Whether `domain` (`host[:port]`) is reached over plain HTTP.
    pub fn is_insecure(&self, domain: &str) -> bool {
        if is_loopback(domain) || self.hosts.iter().any(|h| h == domain) {
            return true;
        }
        let host = match domain.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
            _ => domain,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let Ok(ip) = host.parse::<IpAddr>() else {
            return false;
        };
        self.cidrs
            .iter()
            .any(|(net, bits)| in_cidr(ip, *net, *bits))
    }

    pub fn mirrors(&self) -> &[String] {
        &self.mirrors
    }

    /// `InsecureRegistryCIDRs` as `info` shows them (loopback first, as Docker).
    pub fn insecure_cidrs(&self) -> Vec<String> {
        let mut out = vec!["127.0.0.0/8".to_string()];
        out.extend(self.cidrs.iter().map(|(ip, b)| format!("{ip}/{b}")));
        out
    }

    /// The `host[:port]` entries, for `info`'s `IndexConfigs`.
    pub fn insecure_hosts(&self) -> &[String] {
        &self.hosts
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Installs the daemon's settings; only the first call counts.
pub fn install(s: RegistrySettings) {
    let _ = SETTINGS.set(s);
}

/// The installed settings (none: loopback only, no mirrors).
pub fn get() -> &'static RegistrySettings {
    SETTINGS.get_or_init(RegistrySettings::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_cidrs_make_registries_insecure() {
        let s = RegistrySettings::new(
            &["myreg:5000".into(), "10.1.0.0/16".into(), "fd00::/8".into()],
            &[],
        )
        .unwrap();
        assert!(s.is_insecure("myreg:5000"));
        assert!(!s.is_insecure("myreg:5001"));
        assert!(!s.is_insecure("myreg"));
        assert!(s.is_insecure("10.1.2.3:5000"));
        assert!(s.is_insecure("10.1.2.3"));
        assert!(!s.is_insecure("10.2.0.1:5000"));
        assert!(s.is_insecure("[fd00::5]:5000"));
        assert!(s.is_insecure("127.0.0.1:5000"));
        assert!(!s.is_insecure("registry.example.com"));
        assert_eq!(
            s.insecure_cidrs(),
            ["127.0.0.0/8", "10.1.0.0/16", "fd00::/8"]
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(RegistrySettings::new(&["http://myreg".into()], &[]).is_err());
        assert!(RegistrySettings::new(&["10.0.0.0/33".into()], &[]).is_err());
        assert!(RegistrySettings::new(&[], &["mirror.example".into()]).is_err());
        let s = RegistrySettings::new(&[], &["https://mirror.example/".into()]).unwrap();
        assert_eq!(s.mirrors(), ["https://mirror.example"]);
    }
}
