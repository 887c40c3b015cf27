//! Network objects: create, list, inspect, remove, connect, disconnect, prune.

use super::model::{Attachment, NetworkRec};
use super::{bridge_spec, now, random_id, Networks};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use berth_network::{ipam, Ipv4Net, Ipv6Net, NetError};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

fn forbidden(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, m)
}

/// POST /networks/create body (the parts berth implements).
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub labels: Map<String, Value>,
    pub options: Map<String, Value>,
    pub internal: bool,
    pub attachable: bool,
    /// `EnableIPv6` (`--ipv6`).
    pub enable_ipv6: bool,
    /// The IPv6 entry of IPAM.Config: subnet, gateway, ip range.
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    pub ip_range6: Option<String>,
}

impl CreateRequest {
    pub fn from_json(v: &Value) -> ApiResult<CreateRequest> {
        let name = v
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // One IPv4 and one IPv6 entry, told apart by the subnet's family.
        let configs: Vec<&Value> = v
            .get("IPAM")
            .and_then(|i| i.get("Config"))
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let is_v6 = |c: &&Value| {
            let f = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
            f("Subnet").contains(':') || (f("Subnet").is_empty() && f("Gateway").contains(':'))
        };
        let cfg = configs.iter().find(|c| !is_v6(c)).copied();
        let cfg6 = configs.iter().find(|c| is_v6(c)).copied();
        let s = |o: Option<&Value>, k: &str| {
            o.and_then(|o| o.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Ok(CreateRequest {
            name,
            driver: s(Some(v), "Driver").unwrap_or_else(|| "bridge".into()),
            subnet: s(cfg, "Subnet"),
            gateway: s(cfg, "Gateway"),
            ip_range: s(cfg, "IPRange"),
            labels: v
                .get("Labels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            options: v
                .get("Options")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            internal: v.get("Internal").and_then(Value::as_bool).unwrap_or(false),
            enable_ipv6: v
                .get("EnableIPv6")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            subnet6: s(cfg6, "Subnet"),
            gateway6: s(cfg6, "Gateway"),
            ip_range6: s(cfg6, "IPRange"),
            attachable: v
                .get("Attachable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

fn bad(e: NetError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

/// The IPv6 subnet, gateway and range of a new network, checked as Docker
/// checks them. `--ipv6` needs a subnet (berth has no default IPv6 pool); an
/// IPv6 subnet without `--ipv6` is kept and shown but not wired, as Docker.
#[allow(clippy::type_complexity)]
fn check_v6(
    req: &CreateRequest,
    networks: &[NetworkRec],
) -> ApiResult<(Option<Ipv6Net>, Option<Ipv6Addr>, Option<Ipv6Net>)> {
    let Some(s) = &req.subnet6 else {
        if req.enable_ipv6 {
            return Err(forbidden(
                "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network",
            ));
        }
        if let Some(g) = &req.gateway6 {
            return Err(forbidden(format!(
                "failed to allocate gateway ({g}): Address out of range"
            )));
        }
        return Ok((None, None, None));
    };
    let net: Ipv6Net = s.parse().map_err(bad)?;
    if let Some(t) = networks.iter().find(|n| {
        n.subnet6
            .as_deref()
            .and_then(|x| x.parse::<Ipv6Net>().ok())
            .is_some_and(|x| x.overlaps(&net))
    }) {
        return Err(forbidden(format!(
            "invalid pool request: Pool overlaps with other one on this address space ({})",
            t.name
        )));
    }
    let gateway = match &req.gateway6 {
        Some(g) => {
            let ip: Ipv6Addr = g
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid gateway address {g}")))?;
            if !net.contains(ip) || ip == net.addr {
                return Err(forbidden(format!(
                    "failed to allocate gateway ({g}): Address out of range"
                )));
            }
            ip
        }
        None => ipam::default_gateway6(&net).map_err(bad)?,
    };
    let range = match &req.ip_range6 {
        Some(r) => {
            let range: Ipv6Net = r.parse().map_err(bad)?;
            if !(net.contains(range.addr) && range.prefix >= net.prefix) {
                return Err(forbidden(format!(
                    "invalid pool request: ip-range {range} is not contained in subnet {net}"
                )));
            }
            Some(range)
        }
        None => None,
    };
    Ok((Some(net), Some(gateway), range))
}

impl Networks {
    pub fn find_json(&self, key: &str) -> ApiResult<Value> {
        let st = self.st();
        let n = st
            .find(key)
            .ok_or_else(|| ApiError::not_found(format!("network {key} not found")))?;
        Ok(n.to_json(self.containers_of(&st, &n.id)))
    }

    fn containers_of(&self, st: &super::NetState, net_id: &str) -> Value {
        let mut m = Map::new();
        for s in st.sandboxes.values() {
            for e in s.endpoints.iter().filter(|e| e.network_id == net_id) {
                let prefix = st
                    .by_id(net_id)
                    .and_then(|n| bridge_spec(n).ok())
                    .map(|s| s.subnet.prefix)
                    .unwrap_or(0);
                let v6 = match (e.ip6, st.by_id(net_id).and_then(|n| n.v6())) {
                    (Some(ip), Some((net6, _))) => format!("{ip}/{}", net6.prefix),
                    _ => String::new(),
                };
                m.insert(
                    s.container_id.clone(),
                    json!({"Name": s.name, "EndpointID": e.id, "MacAddress": e.mac,
                           "IPv4Address": format!("{}/{prefix}", e.ip), "IPv6Address": v6}),
                );
            }
        }
        Value::Object(m)
    }

    /// GET /networks with filters (name, id, driver, label, type).
    pub fn list_json(&self, filters: &HashMap<String, Vec<String>>) -> ApiResult<Vec<Value>> {
        for k in filters.keys() {
            if !matches!(
                k.as_str(),
                "name" | "id" | "driver" | "label" | "type" | "scope" | "dangling"
            ) {
                return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
            }
        }
        let st = self.st();
        let mut out = Vec::new();
        for n in &st.networks {
            let ok = filters.iter().all(|(k, vals)| {
                vals.is_empty()
                    || vals.iter().any(|v| match k.as_str() {
                        "name" => n.name.contains(v.as_str()),
                        "id" => n.id.starts_with(v.as_str()),
                        "driver" => &n.driver == v,
                        "scope" => v == "local",
                        "type" => (v == "builtin") == n.is_predefined(),
                        "label" => match v.split_once('=') {
                            Some((lk, lv)) => n.labels.get(lk).and_then(Value::as_str) == Some(lv),
                            None => n.labels.contains_key(v.as_str()),
                        },
                        _ => true,
                    })
            });
            if ok {
                out.push(n.to_json(json!({})));
            }
        }
        Ok(out)
    }

    /// POST /networks/create
    pub async fn create(&self, req: CreateRequest) -> ApiResult<(String, String)> {
        if req.name.is_empty() {
            return Err(ApiError::bad_request("network name cannot be empty"));
        }
        if req.driver != "bridge" {
            return Err(ApiError::not_found(format!(
                "could not find plugin {} in v1 plugin registry: plugin not found",
                req.driver
            )));
        }
        let _op = self.op.lock().await;
        let rec = {
            let st = self.st();
            if st.networks.iter().any(|n| n.name == req.name) {
                return Err(ApiError::conflict(format!(
                    "network with name {} already exists",
                    req.name
                )));
            }
            let taken: Vec<Ipv4Net> = st
                .networks
                .iter()
                .filter_map(|n| n.subnet.as_deref()?.parse().ok())
                .chain(ipam::host_routes())
                .collect();
            let (subnet, user_subnet) = match &req.subnet {
                Some(s) => {
                    let net: Ipv4Net = s.parse().map_err(bad)?;
                    if let Some(t) = st.networks.iter().find(|n| {
                        n.subnet
                            .as_deref()
                            .and_then(|x| x.parse::<Ipv4Net>().ok())
                            .map(|x| x.overlaps(&net))
                            .unwrap_or(false)
                    }) {
                        return Err(forbidden(format!(
                            "invalid pool request: Pool overlaps with other one on this address space ({})",
                            t.name
                        )));
                    }
                    (net, true)
                }
                None => (
                    ipam::pick_subnet(&ipam::default_pools(), &taken).map_err(bad)?,
                    false,
                ),
            };
            let ip_range = match &req.ip_range {
                Some(r) => {
                    let range: Ipv4Net = r.parse().map_err(bad)?;
                    if !(subnet.contains(range.addr) && range.prefix >= subnet.prefix) {
                        return Err(forbidden(format!(
                            "invalid pool request: ip-range {range} is not contained in subnet {subnet}"
                        )));
                    }
                    Some(range)
                }
                None => None,
            };
            let gateway = match &req.gateway {
                Some(g) => {
                    let ip: Ipv4Addr = g.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid gateway address {g}"))
                    })?;
                    if !subnet.contains(ip) {
                        return Err(forbidden(format!(
                            "failed to allocate gateway ({g}): Address out of range"
                        )));
                    }
                    ip
                }
                // Docker takes the gateway from the range when there is one:
                // its first address that is a host of the subnet.
                None => match ip_range {
                    Some(r) if r.addr != subnet.addr => r.addr,
                    Some(r) => r.nth(1).ok_or_else(|| {
                        ApiError::bad_request(format!("ip-range {r} has no host address"))
                    })?,
                    None => ipam::default_gateway(&subnet).map_err(bad)?,
                },
            };
            let (subnet6, gateway6, ip_range6) = check_v6(&req, &st.networks)?;
            let id = random_id();
            let options = req.options.clone();
            let host_if = options
                .get("com.docker.network.bridge.name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("br-{}", &id[..12]));
            // An existing bridge of that name is the administrator's: used, not replaced.
            let host_bridge = berth_network::link::is_host_bridge(&host_if);
            NetworkRec {
                id,
                name: req.name.clone(),
                driver: req.driver.clone(),
                created: now(),
                subnet: Some(subnet.to_string()),
                gateway: Some(gateway),
                host_if: Some(host_if),
                labels: req.labels.clone(),
                options,
                internal: req.internal,
                attachable: req.attachable,
                user_subnet,
                ip_range: ip_range.map(|r| r.to_string()),
                host_bridge,
                enable_ipv6: req.enable_ipv6,
                subnet6: subnet6.map(|n| n.to_string()),
                gateway6,
                ip_range6: ip_range6.map(|r| r.to_string()),
            }
        };
        // Wire first, then the record: a failure leaves nothing behind.
        if let Err(e) = self.wire_network(&rec).await {
            if let (Ok(t), Ok(spec)) = (self.topo(), bridge_spec(&rec)) {
                let _ = t.remove_network(&spec).await;
            }
            return Err(e);
        }
        if let Err(e) = self.db.put_network(&rec) {
            if let (Ok(t), Ok(spec)) = (self.topo(), bridge_spec(&rec)) {
                let _ = t.remove_network(&spec).await;
            }
            return Err(e.into());
        }
        self.st().networks.push(rec.clone());
        if let Err(e) = self.apply_rules() {
            tracing::error!("nftables after creating {}: {e}", rec.name);
        }
        Ok((rec.id, rec.name))
    }

    /// DELETE /networks/{id}
    pub async fn remove(&self, key: &str) -> ApiResult<(String, String)> {
        let _op = self.op.lock().await;
        let n = {
            let st = self.st();
            let n = st
                .find(key)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("network {key} not found")))?;
            if n.is_predefined() {
                return Err(forbidden(format!(
                    "{} is a pre-defined network and cannot be removed",
                    n.name
                )));
            }
            let active = st
                .sandboxes
                .values()
                .any(|s| s.endpoints.iter().any(|e| e.network_id == n.id))
                || st
                    .attachments
                    .values()
                    .flatten()
                    .any(|a| a.network_id == n.id);
            if active {
                return Err(forbidden(format!(
                    "error while removing network: network {} id {} has active endpoints",
                    n.name, n.id
                )));
            }
            n
        };
        self.db.delete_network(&n.id)?;
        self.st().networks.retain(|x| x.id != n.id);
        if let (Ok(t), Ok(spec)) = (self.topo(), bridge_spec(&n)) {
            if let Err(e) = t.remove_network(&spec).await {
                tracing::warn!("removing links of {}: {e}", n.name);
            }
        }
        if let Err(e) = self.apply_rules() {
            tracing::error!("nftables after removing {}: {e}", n.name);
        }
        Ok((n.id, n.name))
    }

    /// POST /networks/prune: user networks no container uses.
    pub async fn prune(&self) -> ApiResult<Vec<String>> {
        let candidates: Vec<String> = self
            .st()
            .networks
            .iter()
            .filter(|n| !n.is_predefined())
            .map(|n| n.id.clone())
            .collect();
        let mut removed = Vec::new();
        for id in candidates {
            if let Ok((_, name)) = self.remove(&id).await {
                removed.push(name);
            }
        }
        Ok(removed)
    }

    /// POST /networks/{id}/connect
    pub async fn connect(
        &self,
        d: &Daemon,
        key: &str,
        container: &str,
        cfg: Option<&Value>,
    ) -> ApiResult<()> {
        let e = d.lookup(container)?;
        let c = e.get();
        let net = self
            .st()
            .find(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("network {key} not found")))?;
        if net.driver != "bridge"
            || !matches!(super::sandbox::mode_of(&c), super::sandbox::Mode::Networks)
        {
            return Err(forbidden(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if self
            .st()
            .attachments
            .get(&c.id)
            .map(|a| a.iter().any(|a| a.network_id == net.id))
            .unwrap_or(false)
        {
            return Err(forbidden(format!(
                "endpoint with name {} already exists in network {}",
                c.name.trim_start_matches('/'),
                net.name
            )));
        }
        let aliases: Vec<String> = cfg
            .and_then(|c| c.get("Aliases"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let (ipv4, ipv6) = super::sandbox::requested_ips(cfg, &net)?;
        let a = Attachment {
            network_id: net.id.clone(),
            aliases,
            ipv4,
            ipv6,
            mac: None,
        };
        let _op = self.op.lock().await;
        let ns = self.st().sandboxes.get(&c.id).and_then(|s| s.netns.clone());
        if let (Some(ns), true) = (ns, c.state.status.is_running()) {
            self.plug(&c, &ns, &a, None).await?;
            if let Some(sb) = self.st().sandboxes.get(&c.id).cloned() {
                self.db.put_sandbox(&sb)?;
            }
            self.db.put_attachment(&c.id, &a)?;
            self.st()
                .attachments
                .entry(c.id.clone())
                .or_default()
                .push(a);
            self.write_etc(d, &c)?;
            if net.has_dns() {
                self.start_dns(&c.id, &ns)?;
            }
            self.apply_rules()?;
        } else {
            self.db.put_attachment(&c.id, &a)?;
            self.st()
                .attachments
                .entry(c.id.clone())
                .or_default()
                .push(a);
        }
        Ok(())
    }

    /// POST /networks/{id}/disconnect
    pub async fn disconnect(&self, d: &Daemon, key: &str, container: &str) -> ApiResult<()> {
        let e = d.lookup(container)?;
        let c = e.get();
        let net = self
            .st()
            .find(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("network {key} not found")))?;
        let _op = self.op.lock().await;
        let attached = self
            .st()
            .attachments
            .get(&c.id)
            .map(|a| a.iter().any(|a| a.network_id == net.id))
            .unwrap_or(false);
        if !attached {
            return Err(forbidden(format!(
                "container {} is not connected to network {}",
                c.id, net.name
            )));
        }
        let ep = self.st().sandboxes.get_mut(&c.id).and_then(|s| {
            let i = s.endpoints.iter().position(|e| e.network_id == net.id)?;
            Some(s.endpoints.remove(i))
        });
        if let Some(ep) = ep {
            self.topo()?.detach(ep.short_id()).await?;
            if let Some(sb) = self.st().sandboxes.get(&c.id).cloned() {
                self.db.put_sandbox(&sb)?;
            }
        }
        self.db.delete_attachment(&c.id, &net.id)?;
        if let Some(a) = self.st().attachments.get_mut(&c.id) {
            a.retain(|a| a.network_id != net.id);
        }
        if c.state.status.is_running() {
            self.write_etc(d, &c)?;
        }
        self.apply_rules()
    }
}
