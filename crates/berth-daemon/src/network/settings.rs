//! A container's `NetworkSettings` (inspect) and `Ports` (list), in Docker's shapes.

use super::sandbox::{mode_of, Mode};
use super::Networks;
use crate::container::Container;
use serde_json::{json, Map, Value};

impl Networks {
    /// Exposed ports ("80/tcp") and their host bindings while running.
    fn ports_map(&self, c: &Container) -> Value {
        let mut m = Map::new();
        let st = self.st();
        let Some(sb) = st.sandboxes.get(&c.id) else {
            return json!({});
        };
        if matches!(mode_of(c), Mode::Networks) {
            for k in c
                .config
                .get("ExposedPorts")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                m.insert(k.clone(), Value::Null);
            }
        }
        for p in &sb.ports {
            let key = format!("{}/{}", p.container_port, p.proto);
            for ip in p.shown_ips() {
                let entry = json!({"HostIp": ip, "HostPort": p.host_port.to_string()});
                match m.get_mut(&key) {
                    Some(Value::Array(a)) => a.push(entry),
                    _ => {
                        m.insert(key.clone(), json!([entry]));
                    }
                }
            }
        }
        Value::Object(m)
    }

    /// GET /containers/{id}/json: NetworkSettings.
    pub fn settings_json(&self, c: &Container) -> Value {
        let ports = self.ports_map(c);
        let st = self.st();
        let sb = st.sandboxes.get(&c.id);
        let mut networks = Map::new();
        let mut top = json!({"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": ""});
        let empty = |id: &str| {
            json!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "", "DriverOpts": null,
                "GwPriority": 0, "NetworkID": id, "EndpointID": "", "Gateway": "", "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": null,
            })
        };
        match mode_of(c) {
            Mode::Host | Mode::None => {
                let name = if matches!(mode_of(c), Mode::Host) {
                    "host"
                } else {
                    "none"
                };
                if let Some(n) = st.find(name) {
                    networks.insert(name.into(), empty(&n.id));
                }
            }
            Mode::Container(_) => {}
            Mode::Networks => {
                for a in st.attachments.get(&c.id).into_iter().flatten() {
                    let Some(n) = st.by_id(&a.network_id) else {
                        continue;
                    };
                    let mut v = empty(&n.id);
                    // What the user asked for (`--ip`, `--ip6`), as Docker shows it.
                    let mut ipam = serde_json::Map::new();
                    if let Some(ip) = a.ipv4 {
                        ipam.insert("IPv4Address".into(), json!(ip.to_string()));
                    }
                    if let Some(ip) = a.ipv6 {
                        ipam.insert("IPv6Address".into(), json!(ip.to_string()));
                    }
                    if !ipam.is_empty() {
                        v["IPAMConfig"] = Value::Object(ipam);
                    }
                    if n.has_dns() {
                        v["Aliases"] = json!(a.aliases);
                    }
                    if let Some(ep) =
                        sb.and_then(|s| s.endpoints.iter().find(|e| e.network_id == n.id))
                    {
                        let prefix = super::bridge_spec(n).map(|s| s.subnet.prefix).unwrap_or(0);
                        let gw = n.gateway.map(|g| g.to_string()).unwrap_or_default();
                        let (ip6, prefix6, gw6) = match (ep.ip6, n.v6()) {
                            (Some(ip), Some((net6, gw6))) => {
                                (ip.to_string(), net6.prefix, gw6.to_string())
                            }
                            _ => (String::new(), 0, String::new()),
                        };
                        for (k, val) in [
                            ("EndpointID", json!(ep.id)),
                            ("Gateway", json!(gw)),
                            ("IPAddress", json!(ep.ip.to_string())),
                            ("IPPrefixLen", json!(prefix)),
                            ("MacAddress", json!(ep.mac)),
                            ("GlobalIPv6Address", json!(ip6)),
                            ("GlobalIPv6PrefixLen", json!(prefix6)),
                            ("IPv6Gateway", json!(gw6)),
                        ] {
                            v[k] = val.clone();
                            if n.name == "bridge" {
                                top[k] = val;
                            }
                        }
                        if n.has_dns() {
                            let mut names = vec![json!(c.name.trim_start_matches('/'))];
                            names.extend(ep.aliases.iter().map(|a| json!(a)));
                            v["DNSNames"] = json!(names);
                        }
                    }
                    networks.insert(n.name.clone(), v);
                }
            }
        }
        let key = sb
            .and_then(|s| s.netns.as_ref())
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        let sandbox_id = if sb.is_some() {
            c.id.clone()
        } else {
            String::new()
        };
        let mut out = json!({
            "Bridge": "", "SandboxID": sandbox_id, "SandboxKey": key, "Ports": ports,
            "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "",
            "Networks": networks,
        });
        if let (Value::Object(o), Value::Object(t)) = (&mut out, top) {
            o.extend(t);
        }
        out
    }

    /// GET /containers/json: Ports and NetworkSettings.Networks of a summary.
    pub fn summary_ports(&self, c: &Container) -> Value {
        let st = self.st();
        let mut out = Vec::new();
        let published = st
            .sandboxes
            .get(&c.id)
            .map(|s| s.ports.clone())
            .unwrap_or_default();
        for p in &published {
            for ip in p.shown_ips() {
                out.push(json!({"IP": ip, "PrivatePort": p.container_port, "PublicPort": p.host_port, "Type": p.proto}));
            }
        }
        for k in c
            .config
            .get("ExposedPorts")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            if let Some((port, proto)) = berth_network::ports::parse_key(k) {
                if !published
                    .iter()
                    .any(|p| p.container_port == port && p.proto == proto)
                {
                    out.push(json!({"PrivatePort": port, "Type": proto}));
                }
            }
        }
        Value::Array(out)
    }
}
