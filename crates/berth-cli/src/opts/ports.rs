//! `-p/--publish` and `--expose` specs (docker's nat.ParsePortSpecs).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use berth_api::types::{EmptyObject, PortBinding};

/// Exposed ports and their bindings, as they go into the create body.
#[derive(Debug, Default, PartialEq)]
pub struct PortSpecs {
    pub exposed: BTreeMap<String, EmptyObject>,
    pub bindings: BTreeMap<String, Vec<PortBinding>>,
}

fn parse_range(s: &str, what: &str) -> Result<(u32, u32)> {
    let bad = || anyhow!("invalid {what}: {s}");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u32 = a.parse().map_err(|_| bad())?;
    let b: u32 = b.parse().map_err(|_| bad())?;
    if b < a || b > 65535 {
        return Err(bad());
    }
    Ok((a, b))
}

/// Adds one `-p [ip:][hostPort:]containerPort[/proto]` spec.
pub fn add_publish(specs: &mut PortSpecs, spec: &str) -> Result<()> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    // An IPv6 host address is bracketed: [::1]:80:80.
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, r) = r
            .split_once("]:")
            .ok_or_else(|| anyhow!("invalid IP address: {spec}"))?;
        (ip.to_string(), r)
    } else {
        (String::new(), rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match (ip.is_empty(), parts.as_slice()) {
        (true, [c]) => (String::new(), "", *c),
        (true, [h, c]) => (String::new(), *h, *c),
        (true, [i, h, c]) => (i.to_string(), *h, *c),
        (false, [h, c]) => (ip, *h, *c),
        _ => bail!("invalid port format for --publish: {spec}"),
    };
    if container.is_empty() {
        bail!("no port specified: {spec}<empty>");
    }
    let (cstart, cend) = parse_range(container, "containerPort")?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host, "hostPort")?)
    };
    if let Some((hs, he)) = host_range {
        // A host range for a single container port means "any port of the range".
        if cend != cstart && he - hs != cend - cstart {
            bail!("invalid ranges specified for container and host Ports: {container} and {host}");
        }
    }
    for (i, port) in (cstart..=cend).enumerate() {
        let key = format!("{port}/{proto}");
        let host_port = match host_range {
            None => String::new(),
            Some((hs, he)) if cstart == cend && hs != he => format!("{hs}-{he}"),
            Some((hs, _)) => (hs + i as u32).to_string(),
        };
        specs.exposed.insert(key.clone(), EmptyObject {});
        specs.bindings.entry(key).or_default().push(PortBinding {
            host_ip: ip.clone(),
            host_port,
        });
    }
    Ok(())
}

/// Adds one `--expose port[-range][/proto]`.
pub fn add_expose(specs: &mut PortSpecs, spec: &str) -> Result<()> {
    let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let (a, b) = parse_range(port, "range format for --expose")?;
    for p in a..=b {
        specs.exposed.insert(format!("{p}/{proto}"), EmptyObject {});
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortSpecs {
        let mut s = PortSpecs::default();
        add_publish(&mut s, spec).unwrap();
        s
    }

    #[test]
    fn publish_forms() {
        let s = one("8080:80");
        assert!(s.exposed.contains_key("80/tcp"));
        assert_eq!(
            s.bindings["80/tcp"],
            vec![PortBinding {
                host_ip: "".into(),
                host_port: "8080".into()
            }]
        );
        let s = one("127.0.0.1:8080:80/udp");
        assert_eq!(s.bindings["80/udp"][0].host_ip, "127.0.0.1");
        let s = one("80");
        assert_eq!(s.bindings["80/tcp"][0].host_port, "");
        let s = one("127.0.0.1::80");
        assert_eq!(s.bindings["80/tcp"][0].host_port, "");
        let s = one("8000-8001:80-81");
        assert_eq!(s.bindings["81/tcp"][0].host_port, "8001");
        let s = one("[::1]:8080:80");
        assert_eq!(s.bindings["80/tcp"][0].host_ip, "::1");
    }

    #[test]
    fn publish_errors() {
        let mut s = PortSpecs::default();
        assert!(add_publish(&mut s, "a:b").is_err());
        assert!(add_publish(&mut s, "80/foo").is_err());
        assert!(add_publish(&mut s, "1:2:3:4").is_err());
        assert!(add_publish(&mut s, "70000").is_err());
    }

    #[test]
    fn expose() {
        let mut s = PortSpecs::default();
        add_expose(&mut s, "90-91/udp").unwrap();
        assert!(s.exposed.contains_key("91/udp"));
        assert!(s.bindings.is_empty());
    }
}
