//! Network records and Docker's JSON shapes for them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRec {
    pub id: String,
    pub name: String,
    /// "bridge", "host" or "null".
    pub driver: String,
    pub created: String,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// Host-side interface carrying the gateway (bridge driver only).
    #[serde(default)]
    pub host_if: Option<String>,
    #[serde(default)]
    pub labels: Map<String, Value>,
    #[serde(default)]
    pub options: Map<String, Value>,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    /// Whether the subnet was given by the user (shown as IPAM config).
    #[serde(default)]
    pub user_subnet: bool,
    /// `--ip-range` (or the daemon's `--fixed-cidr` for the default bridge):
    /// where container addresses are allocated.
    #[serde(default)]
    pub ip_range: Option<String>,
    /// `host_if` is an existing bridge of the administrator's (`-b br0`):
    /// used as it is, never created or deleted by berth.
    #[serde(default)]
    pub host_bridge: bool,
    /// `--ipv6` (`EnableIPv6`): containers get an address of `subnet6` too.
    #[serde(default)]
    pub enable_ipv6: bool,
    /// The IPv6 IPAM config (shown even without `EnableIPv6`, as Docker).
    #[serde(default)]
    pub subnet6: Option<String>,
    #[serde(default)]
    pub gateway6: Option<Ipv6Addr>,
    #[serde(default)]
    pub ip_range6: Option<String>,
}

impl NetworkRec {
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    /// User-defined bridge networks get the embedded DNS server.
    pub fn has_dns(&self) -> bool {
        self.driver == "bridge" && self.name != "bridge"
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    pub fn ipam_json(&self) -> Value {
        let mut config = Vec::new();
        if let (Some(s), Some(g)) = (&self.subnet, self.gateway) {
            let mut c = json!({"Subnet": s, "Gateway": g.to_string()});
            if let Some(r) = &self.ip_range {
                c["IPRange"] = json!(r);
            }
            config.push(c);
        }
        if let Some(s) = &self.subnet6 {
            let mut c = json!({"Subnet": s});
            if let Some(g) = self.gateway6 {
                c["Gateway"] = json!(g.to_string());
            }
            if let Some(r) = &self.ip_range6 {
                c["IPRange"] = json!(r);
            }
            config.push(c);
        }
        json!({"Driver": "default", "Options": if self.name == "bridge" { Value::Null } else { json!({}) }, "Config": config})
    }

    /// The IPv6 subnet and gateway when IPv6 is enabled.
    pub fn v6(&self) -> Option<(berth_network::Ipv6Net, Ipv6Addr)> {
        if !self.enable_ipv6 {
            return None;
        }
        Some((self.subnet6.as_deref()?.parse().ok()?, self.gateway6?))
    }

    /// GET /networks/{id}; `containers` as Docker lists them.
    pub fn to_json(&self, containers: Value) -> Value {
        json!({
            "Name": self.name,
            "Id": self.id,
            "Created": self.created,
            "Scope": "local",
            "Driver": self.driver,
            "EnableIPv4": true,
            "EnableIPv6": self.enable_ipv6,
            "IPAM": self.ipam_json(),
            "Internal": self.internal,
            "Attachable": self.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": containers,
            "Options": self.options,
            "Labels": self.labels,
        })
    }
}

/// A network a container is to join, with its endpoint settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub network_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Requested address (`--ip`), if any.
    #[serde(default)]
    pub ipv4: Option<Ipv4Addr>,
    /// Requested IPv6 address (`--ip6`), if any.
    #[serde(default)]
    pub ipv6: Option<Ipv6Addr>,
    /// Requested MAC (`--mac-address`), lower-case, if any.
    #[serde(default)]
    pub mac: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub network_id: String,
    pub ifname: String,
    pub ip: Ipv4Addr,
    /// The address on a network with IPv6.
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    pub mac: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl Endpoint {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PortBinding {
    pub container_port: u16,
    pub proto: String,
    /// As given: "" for all addresses.
    pub host_ip: String,
    pub host_port: u16,
}

impl PortBinding {
    /// For a binding NAT cannot serve, where the userland proxy listens and
    /// where it forwards: a port on the IPv6 loopback (the kernel never
    /// routes `::1` off `lo`), or an IPv6 host address for a container with
    /// IPv4 only. `ep` is the sandbox's first endpoint, as for NAT.
    pub fn proxied(&self, ep: &Endpoint) -> Option<(SocketAddr, SocketAddr)> {
        let IpAddr::V6(host) = self.host_ip.parse::<IpAddr>().ok()? else {
            return None;
        };
        let to: IpAddr = match (host.is_loopback(), ep.ip6) {
            (true, Some(ip6)) => ip6.into(),
            (_, None) => ep.ip.into(),
            // Any other IPv6 address reaches an IPv6 container through NAT.
            (false, Some(_)) => return None,
        };
        Some((
            SocketAddr::new(host.into(), self.host_port),
            SocketAddr::new(to, self.container_port),
        ))
    }

    /// The IPv6 half of a binding on all addresses (`-p 80:80`) for a
    /// container with IPv4 only: Docker's proxy listens on `[::]` too, and
    /// NAT cannot turn IPv6 into IPv4, so berth's userland proxy does (for
    /// TCP and UDP; SCTP stays IPv4 as with Docker's proxy).
    pub fn v6_companion(&self, ep: &Endpoint) -> Option<(SocketAddr, SocketAddr)> {
        let proxyable = matches!(self.proto.as_str(), "tcp" | "udp");
        (proxyable && self.host_ip.is_empty() && ep.ip6.is_none() && host_has_ipv6()).then(|| {
            (
                SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), self.host_port),
                SocketAddr::new(ep.ip.into(), self.container_port),
            )
        })
    }

    /// The addresses shown by `docker port`, `ps` and inspect: a binding on
    /// all addresses shows `0.0.0.0` and, where the host has IPv6, `::`,
    /// as Docker does.
    pub fn shown_ips(&self) -> Vec<&str> {
        match self.host_ip.as_str() {
            "" if host_has_ipv6() && self.proto != "sctp" => vec!["0.0.0.0", "::"],
            "" => vec!["0.0.0.0"],
            ip => vec![ip],
        }
    }
}

/// Whether the host has IPv6 at all (the module loaded and not disabled).
pub fn host_has_ipv6() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        std::path::Path::new("/proc/net/if_inet6").exists()
            && std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
                .map(|v| v.trim() == "0")
                .unwrap_or(false)
    })
}

/// The network state of a running container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sandbox {
    pub container_id: String,
    /// Container name without the slash, for DNS and `Containers` lists.
    pub name: String,
    /// Bound namespace file; None for host mode and `container:` mode.
    pub netns: Option<PathBuf>,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<PortBinding>,
}
