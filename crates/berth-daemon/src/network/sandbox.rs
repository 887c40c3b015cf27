//! A container's network life: attachments chosen at create, the sandbox
//! wired before its init starts (namespace, endpoints, ports, hosts and
//! resolv.conf, DNS), torn down when it exits or is removed, and reconciled
//! at daemon start.

use super::model::{Attachment, Endpoint, NetworkRec, PortBinding, Sandbox};
use super::{bridge_spec, etc, random_id, Networks};
use crate::container::Container;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use berth_network::topology::EndpointSpec;
use berth_network::{ipam, netns, ports, NetError};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// How a container's network is set up.
pub enum Mode {
    Host,
    None,
    Container(String),
    Networks,
}

pub fn mode_of(c: &Container) -> Mode {
    let m = c
        .host_config
        .get("NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or("default");
    match m {
        "host" => Mode::Host,
        "none" => Mode::None,
        _ => match m.strip_prefix("container:") {
            Some(other) => Mode::Container(other.to_string()),
            None => Mode::Networks,
        },
    }
}

/// A network by name or id that containers can join.
fn find_bridge<'a>(st: &'a super::NetState, name: &str) -> ApiResult<&'a NetworkRec> {
    let net = st
        .find(name)
        .ok_or_else(|| ApiError::not_found(format!("network {name} not found")))?;
    if net.driver != "bridge" {
        return Err(ApiError::bad_request(
            "container cannot be disconnected from host network or connected to host network",
        ));
    }
    Ok(net)
}

/// A container's attachment to `net` from its endpoint settings: aliases
/// (not on the default bridge), addresses, and the MAC (the endpoint's, or
/// `config_mac` from the container config of older clients).
fn attachment(
    net: &NetworkRec,
    cfg: Option<&Value>,
    config_mac: Option<&str>,
) -> ApiResult<Attachment> {
    let aliases = strs(cfg.and_then(|c| c.get("Aliases")));
    if !aliases.is_empty() && net.name == "bridge" {
        return Err(ApiError::bad_request(
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    let (ipv4, ipv6) = requested_ips(cfg, net)?;
    let mac = cfg
        .and_then(|c| c.get("MacAddress"))
        .and_then(Value::as_str)
        .or(config_mac)
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse_mac(s)
                .map(ipam::mac_string)
                .ok_or_else(|| ApiError::bad_request(format!("invalid MAC address: {s}")))
        })
        .transpose()?;
    Ok(Attachment {
        network_id: net.id.clone(),
        aliases,
        ipv4,
        ipv6,
        mac,
    })
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

impl Networks {
    /// The networks a new container joins: its NetworkMode's, then every
    /// other network of `NetworkingConfig.EndpointsConfig` (API 1.44+ lets a
    /// create name several, as `docker run --network a --network b`), each
    /// with its aliases and addresses. Unknown networks are refused before
    /// anything is created.
    pub fn resolve_create(
        &self,
        host_config: &Map<String, Value>,
        networking: Option<&Value>,
        config_mac: Option<&str>,
    ) -> ApiResult<Vec<Attachment>> {
        let mode = host_config
            .get("NetworkMode")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let endpoints = networking
            .and_then(|n| n.get("EndpointsConfig"))
            .and_then(Value::as_object);
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            // Docker refuses to combine these with other networks.
            if endpoints.is_some_and(|e| e.keys().any(|k| k != mode)) {
                return Err(ApiError::bad_request(
                    "container cannot be disconnected from host network or connected to host network",
                ));
            }
            return Ok(Vec::new());
        }
        let name = if mode == "default" { "bridge" } else { mode };
        let st = self.st();
        let primary = find_bridge(&st, name)?;
        let cfg_of = |net: &NetworkRec, key: &str| {
            endpoints.and_then(|e| {
                e.get(&net.name)
                    .or_else(|| e.get(&net.id))
                    .or_else(|| e.get(key))
            })
        };
        let mut out = vec![attachment(primary, cfg_of(primary, mode), config_mac)?];
        let mut others: Vec<&String> = endpoints
            .into_iter()
            .flat_map(|e| e.keys())
            .filter(|k| !matches!(k.as_str(), "default" | "bridge") || name != "bridge")
            .collect();
        others.sort();
        for key in others {
            let net = find_bridge(&st, key)?;
            if out.iter().any(|a| a.network_id == net.id) {
                continue;
            }
            out.push(attachment(net, cfg_of(net, key), None)?);
        }
        Ok(out)
    }

    pub fn save_attachments(&self, cid: &str, atts: Vec<Attachment>) -> ApiResult<()> {
        for a in &atts {
            self.db.put_attachment(cid, a)?;
        }
        self.st().attachments.insert(cid.to_string(), atts);
        Ok(())
    }

    /// Wires the container's network before its init starts. Returns the
    /// namespace file the runtime must join, None for host mode.
    pub async fn setup(&self, d: &Daemon, c: &Container) -> ApiResult<Option<PathBuf>> {
        let _op = self.op.lock().await;
        // A stale sandbox (crash between start and exit) goes first.
        self.teardown_locked(&c.id).await;
        match mode_of(c) {
            Mode::Host => Ok(None),
            Mode::Container(other) => {
                let e = d.lookup(&other)?;
                let target = e.get();
                if !target.state.status.is_running() {
                    return Err(ApiError::conflict(format!(
                        "cannot join network of a non running container: {}",
                        target.id
                    )));
                }
                let path = self
                    .st()
                    .sandboxes
                    .get(&target.id)
                    .and_then(|s| s.netns.clone());
                match path {
                    Some(p) => Ok(Some(p)),
                    // The target runs in the host's namespace.
                    None => Ok(Some(PathBuf::from(format!(
                        "/proc/{}/ns/net",
                        target.state.pid
                    )))),
                }
            }
            // The runtime creates a fresh namespace and brings its loopback
            // up, as runc does: nothing to wire or tear down here, and
            // `container:` joiners use /proc/<pid>/ns/net.
            Mode::None => Ok(None),
            Mode::Networks => {
                let first_net = self
                    .st()
                    .attachments
                    .get(&c.id)
                    .and_then(|a| a.first())
                    .map(|a| a.network_id.clone());
                let pooled = match first_net {
                    Some(n) if self.default_bridge().is_some_and(|b| b.id == n) => self.pool.take(),
                    _ => None,
                };
                let ns = match &pooled {
                    Some(p) => {
                        self.refill_pool();
                        p.ns.clone()
                    }
                    None => {
                        let ns = self.netns_dir().join(&c.id);
                        netns::create(&ns)?;
                        ns
                    }
                };
                self.record_and_wire(d, c, &ns, pooled.map(|p| p.endpoint_id))
                    .await?;
                Ok(Some(ns))
            }
        }
    }

    /// [`Networks::setup`] for a container on networks with a user namespace
    /// of its own (`--userns-remap`): its network namespace must belong to
    /// that user namespace, so that the container's root holds
    /// CAP_NET_ADMIN over it (`--cap-add NET_ADMIN`, `net.*` sysctls) as
    /// under Docker. The runtime creates it together with the user
    /// namespace and the daemon wires it from the shim's handshake
    /// ([`Networks::wire_late`]) before the init goes on. No pooled sandbox
    /// fits (those belong to the host's user namespace); here only a stale
    /// sandbox goes.
    pub async fn setup_late(&self, c: &Container) {
        let _op = self.op.lock().await;
        self.teardown_locked(&c.id).await;
    }

    /// The init `pid` of a container prepared by [`Networks::setup_late`]
    /// exists and waits: its network namespace is bound at
    /// `<exec-root>/netns/<id>` (so DNS, connect/disconnect, exec and a
    /// restarted daemon find it by path as any other sandbox) and wired as
    /// [`Networks::setup`] wires one the daemon made. The host's root
    /// holds every capability over namespaces of descendant user
    /// namespaces, so nothing else changes.
    pub async fn wire_late(&self, d: &Daemon, c: &Container, pid: i32) -> ApiResult<()> {
        let _op = self.op.lock().await;
        let ns = self.netns_dir().join(&c.id);
        netns::bind(Path::new(&format!("/proc/{pid}/ns/net")), &ns)?;
        self.record_and_wire(d, c, &ns, None).await
    }

    /// Records an empty sandbox for the namespace at `ns` (so a crash from
    /// here on is cleaned up at start) and wires it; on failure everything
    /// is undone. The caller holds `op`.
    async fn record_and_wire(
        &self,
        d: &Daemon,
        c: &Container,
        ns: &Path,
        pooled: Option<String>,
    ) -> ApiResult<()> {
        let sb = Sandbox {
            container_id: c.id.clone(),
            name: c.name.trim_start_matches('/').to_string(),
            netns: Some(ns.to_path_buf()),
            endpoints: Vec::new(),
            ports: Vec::new(),
        };
        self.db.put_sandbox(&sb)?;
        self.st().sandboxes.insert(c.id.clone(), sb);
        if let Err(e) = self.wire_sandbox(d, c, ns, pooled).await {
            self.teardown_locked(&c.id).await;
            return Err(e);
        }
        Ok(())
    }

    /// `pooled`: the endpoint id of a pooled sandbox's waiting veth, used
    /// for the first attachment (its loopback is already up).
    async fn wire_sandbox(
        &self,
        d: &Daemon,
        c: &Container,
        ns: &Path,
        mut pooled: Option<String>,
    ) -> ApiResult<()> {
        if pooled.is_none() {
            berth_network::topology::loopback_up(ns).await?;
        }
        let atts = self
            .st()
            .attachments
            .get(&c.id)
            .cloned()
            .unwrap_or_default();
        for a in &atts {
            self.plug(c, ns, a, pooled.take()).await?;
        }
        let ports = self.publish(c)?;
        let sb = {
            let mut st = self.st();
            let sb = st
                .sandboxes
                .get_mut(&c.id)
                .ok_or_else(|| ApiError::internal("sandbox vanished"))?;
            sb.ports = ports;
            sb.clone()
        };
        self.db.put_sandbox(&sb)?;
        self.write_etc(d, c)?;
        if self.uses_dns(&c.id) {
            self.start_dns(&c.id, ns)?;
        }
        self.start_proxies(&c.id, &sb.name)?;
        self.apply_rules()
    }

    fn uses_dns(&self, cid: &str) -> bool {
        let st = self.st();
        st.sandboxes
            .get(cid)
            .map(|s| {
                s.endpoints.iter().any(|e| {
                    st.by_id(&e.network_id)
                        .map(|n| n.has_dns())
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false)
    }

    /// Allocates an address on the attachment's network and plugs a veth.
    pub(super) async fn plug(
        &self,
        c: &Container,
        ns: &Path,
        a: &Attachment,
        pooled: Option<String>,
    ) -> ApiResult<Endpoint> {
        let is_pooled = pooled.is_some();
        let (net, ep, first, first6) = {
            let mut st = self.st();
            let net = st.by_id(&a.network_id).cloned().ok_or_else(|| {
                ApiError::not_found(format!("network {} not found", a.network_id))
            })?;
            let spec = bridge_spec(&net)?;
            let used: HashSet<Ipv4Addr> = st
                .sandboxes
                .values()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| e.network_id == net.id)
                .map(|e| e.ip)
                .chain(st.releasing.iter().filter_map(|(n, ip)| match ip {
                    IpAddr::V4(ip) if *n == net.id => Some(*ip),
                    _ => None,
                }))
                .collect();
            let used6: HashSet<Ipv6Addr> = st
                .sandboxes
                .values()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| e.network_id == net.id)
                .filter_map(|e| e.ip6)
                .chain(st.releasing.iter().filter_map(|(n, ip)| match ip {
                    IpAddr::V6(ip) if *n == net.id => Some(*ip),
                    _ => None,
                }))
                .collect();
            let ip6 = match (spec.v6, a.ipv6) {
                (None, _) => None,
                (Some((subnet6, _)), Some(ip)) if !subnet6.contains(ip) || ip == subnet6.addr => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid address {ip}: It does not belong to any of this network's subnets"
                    )))
                }
                (Some((_, gw6)), Some(ip)) if used6.contains(&ip) || ip == gw6 => {
                    return Err(ApiError::new(
                        axum::http::StatusCode::FORBIDDEN,
                        "Address already in use",
                    ))
                }
                (Some(_), Some(ip)) => Some(ip),
                (Some((subnet6, gw6)), None) => {
                    let range = net.ip_range6.as_deref().and_then(|r| r.parse().ok());
                    let ip = ipam::allocate6_in(&subnet6, range.as_ref(), gw6, &used6);
                    Some(ip.map_err(|e| pool_error(e, "IPv6", &net))?)
                }
            };
            let ip = match a.ipv4 {
                Some(ip) if !spec.subnet.contains(ip) || ip == spec.gateway => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid address {ip}: It does not belong to any of this network's subnets"
                    )))
                }
                Some(ip) if used.contains(&ip) => {
                    return Err(ApiError::new(
                        axum::http::StatusCode::FORBIDDEN,
                        "Address already in use",
                    ))
                }
                Some(ip) => ip,
                None => {
                    let range = net.ip_range.as_deref().and_then(|r| r.parse().ok());
                    ipam::allocate_in(&spec.subnet, range.as_ref(), spec.gateway, &used)
                        .map_err(|e| pool_error(e, "IPv4", &net))?
                }
            };
            let sb = st
                .sandboxes
                .get_mut(&c.id)
                .ok_or_else(|| ApiError::internal("no sandbox"))?;
            let first = sb.endpoints.is_empty();
            // The IPv6 default route goes via the first network with IPv6.
            let first6 = ip6.is_some() && !sb.endpoints.iter().any(|e| e.ip6.is_some());
            let ifname = (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !sb.endpoints.iter().any(|e| &e.ifname == n))
                .unwrap_or_default();
            let mut aliases = a.aliases.clone();
            if net.has_dns() {
                aliases.push(c.id[..12].to_string());
            }
            let ep = Endpoint {
                id: pooled.unwrap_or_else(random_id),
                network_id: net.id.clone(),
                ifname,
                ip,
                ip6,
                mac: a
                    .mac
                    .clone()
                    .unwrap_or_else(|| ipam::mac_string(ipam::mac_for(ip))),
                aliases,
            };
            // Recorded before wiring so a concurrent allocation cannot take the IP.
            sb.endpoints.push(ep.clone());
            (net, ep, first, first6)
        };
        let spec = bridge_spec(&net)?;
        // Cheap when all is in place; repairs a gateway interface lost meanwhile.
        self.wire_network(&net).await?;
        let ep_spec = EndpointSpec {
            short_id: ep.short_id().to_string(),
            ifname: ep.ifname.clone(),
            ip: ep.ip,
            mac: parse_mac(&ep.mac).unwrap_or_else(|| ipam::mac_for(ep.ip)),
            default_route: first.then_some(spec.gateway),
            ip6: ep.ip6,
            default_route6: spec.v6.filter(|_| first6).map(|(_, gw6)| gw6),
        };
        let topo = self.topo()?;
        let wired = if is_pooled {
            topo.configure_endpoint(&spec, ns, &ep_spec).await
        } else {
            topo.attach(&spec, ns, &ep_spec).await
        };
        if let Err(e) = wired {
            if is_pooled {
                let _ = topo.detach(ep.short_id()).await;
            }
            if let Some(sb) = self.st().sandboxes.get_mut(&c.id) {
                sb.endpoints.retain(|x| x.id != ep.id);
            }
            return Err(e.into());
        }
        Ok(ep)
    }

    /// The network's `host_binding_ipv4` (the daemon's `--ip` on the default
    /// bridge): where ports published without an address listen.
    fn default_host_ip(&self, c: &Container) -> Option<String> {
        let mode = c
            .host_config
            .get("NetworkMode")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = if mode == "default" { "bridge" } else { mode };
        let st = self.st();
        let n = st
            .networks
            .iter()
            .find(|n| n.name == name || n.id == name)?;
        n.options
            .get("com.docker.network.bridge.host_binding_ipv4")
            .and_then(Value::as_str)
            .filter(|ip| !ip.is_empty() && *ip != "0.0.0.0")
            .map(str::to_string)
    }

    /// Host ports for PortBindings and, with -P, every exposed port.
    fn publish(&self, c: &Container) -> ApiResult<Vec<PortBinding>> {
        let mut wanted: Vec<WantedPort> = Vec::new();
        if let Some(b) = c.host_config.get("PortBindings").and_then(Value::as_object) {
            for (key, list) in b {
                let (port, proto) = ports::parse_key(key).ok_or_else(|| {
                    ApiError::bad_request(format!("invalid port specification: \"{key}\""))
                })?;
                for e in list.as_array().into_iter().flatten() {
                    let ip = e
                        .get("HostIp")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let hp = e.get("HostPort").and_then(Value::as_str).unwrap_or("");
                    let hp = host_port_range(hp)?;
                    wanted.push((port, proto.clone(), ip, hp));
                }
            }
        }
        let publish_all = c
            .host_config
            .get("PublishAllPorts")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if publish_all {
            for key in c
                .config
                .get("ExposedPorts")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                if let Some((port, proto)) = ports::parse_key(key) {
                    if !wanted.iter().any(|w| w.0 == port && w.1 == proto) {
                        wanted.push((port, proto, String::new(), None));
                    }
                }
            }
        }
        let mut used: HashSet<(u16, String)> = self
            .st()
            .sandboxes
            .values()
            .filter(|s| s.container_id != c.id)
            .flat_map(|s| s.ports.iter().map(|p| (p.host_port, p.proto.clone())))
            .collect();
        let default_ip = self.default_host_ip(c);
        let mut out = Vec::new();
        for (port, proto, mut ip, hp) in wanted {
            if ip.is_empty() {
                ip = default_ip.clone().unwrap_or_default();
            }
            let bind_ip: IpAddr = if ip.is_empty() {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                ip.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid IP address: {ip}")))?
            };
            let host_port = match hp {
                // `8000-8010:80`: the first free port of the range, as Docker.
                Some((lo, hi)) => {
                    let free = |p: u16| {
                        !used.contains(&(p, proto.clone()))
                            && ports::host_port_free(bind_ip, p, &proto)
                    };
                    let Some(p) = (lo..=hi).find(|p| free(*p)) else {
                        let shown = if ip.is_empty() {
                            "0.0.0.0"
                        } else {
                            ip.as_str()
                        };
                        let ports = if lo == hi {
                            lo.to_string()
                        } else {
                            format!("{lo}-{hi}")
                        };
                        return Err(ApiError::internal(format!(
                            "driver failed programming external connectivity on endpoint {}: Bind for {shown}:{ports} failed: port is already allocated",
                            c.name.trim_start_matches('/')
                        )));
                    };
                    p
                }
                None => ports::random_port(bind_ip, &proto, &used)?,
            };
            used.insert((host_port, proto.clone()));
            out.push(PortBinding {
                container_port: port,
                proto,
                host_ip: ip,
                host_port,
            });
        }
        Ok(out)
    }

    /// Rewrites /etc/hosts (own addresses, links) and, on user-defined
    /// networks, resolv.conf for the embedded DNS server.
    pub(super) fn write_etc(&self, d: &Daemon, c: &Container) -> ApiResult<()> {
        let paths = d.paths(&c.id);
        let hostname = c
            .config
            .get("Hostname")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut links = Vec::new();
        for l in strs(c.host_config.get("Links")) {
            // "name:alias" from the CLI, "/name:/container/alias" as stored by Docker.
            let (target, alias) = l.split_once(':').unwrap_or((&l, &l));
            let alias = alias.rsplit('/').next().unwrap_or(alias).to_string();
            let e = d.lookup(target.trim_start_matches('/'))?;
            let t = e.get();
            let ip = self.primary_ip(&t.id).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Cannot link to a non running container: {} AS {}/{alias}",
                    t.name, c.name
                ))
            })?;
            let th = t
                .config
                .get("Hostname")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            links.push((
                ip,
                vec![alias, th, t.name.trim_start_matches('/').to_string()],
            ));
        }
        let own: Vec<IpAddr> = self
            .st()
            .sandboxes
            .get(&c.id)
            .map(|s| {
                s.endpoints
                    .iter()
                    .flat_map(|e| std::iter::once(IpAddr::V4(e.ip)).chain(e.ip6.map(IpAddr::V6)))
                    .collect()
            })
            .unwrap_or_default();
        let extra = strs(c.host_config.get("ExtraHosts"));
        let io = |e: std::io::Error| {
            ApiError::internal(format!("writing {}: {e}", paths.hosts.display()))
        };
        etc::write_in_place(&paths.hosts, &etc::hosts(&extra, &links, &own, &hostname))
            .map_err(io)?;
        if self.uses_dns(&c.id) && strs(c.host_config.get("Dns")).is_empty() {
            let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            let r = etc::resolv_embedded(
                &host,
                &strs(c.host_config.get("DnsSearch")),
                &strs(c.host_config.get("DnsOptions")),
            );
            etc::write_in_place(&paths.resolv_conf, &r).map_err(io)?;
        }
        Ok(())
    }

    fn primary_ip(&self, cid: &str) -> Option<Ipv4Addr> {
        self.st()
            .sandboxes
            .get(cid)
            .and_then(|s| s.endpoints.first())
            .map(|e| e.ip)
    }

    /// Undoes a container's sandbox (it exited, failed to start, or is removed).
    pub async fn release(&self, cid: &str) {
        let _op = self.op.lock().await;
        if self.teardown_locked(cid).await {
            if let Err(e) = self.apply_rules() {
                tracing::error!("nftables after releasing {cid}: {e}");
            }
        }
    }

    /// For a container being removed: its sandbox and its attachments.
    pub async fn forget(&self, cid: &str) {
        self.release(cid).await;
        self.st().attachments.remove(cid);
        if let Err(e) = self.db.delete_attachments(cid) {
            tracing::error!("network attachments of {cid}: {e}");
        }
    }

    /// Removes veths, DNS server and namespace file; true if there was a sandbox.
    async fn teardown_locked(&self, cid: &str) -> bool {
        self.stop_dns(cid);
        self.stop_proxies(cid);
        let sb = self.st().sandboxes.remove(cid);
        let Some(sb) = sb else {
            return false;
        };
        if let Err(err) = self.db.delete_sandbox(cid) {
            tracing::error!("network sandbox of {cid}: {err}");
        }
        // Deleting a veth waits for an RCU grace period in the kernel (10-20
        // ms here), so links and namespace go in the background, off the
        // path of `rm` and `run --rm`; their addresses stay reserved until
        // then. After a crash, `reconcile` removes what is left.
        let held: Vec<(String, IpAddr)> = sb
            .endpoints
            .iter()
            .flat_map(|e| {
                std::iter::once(IpAddr::V4(e.ip))
                    .chain(e.ip6.map(IpAddr::V6))
                    .map(|ip| (e.network_id.clone(), ip))
            })
            .collect();
        self.st().releasing.extend(held.iter().cloned());
        let topo = self.topo().ok().cloned();
        let state = self.state.clone();
        let cid = cid.to_string();
        tokio::spawn(async move {
            if let Some(t) = topo {
                for e in &sb.endpoints {
                    if let Err(err) = t.detach(e.short_id()).await {
                        tracing::warn!("detach {} of {cid}: {err}", e.ifname);
                    }
                }
            }
            if let Some(ns) = &sb.netns {
                if let Err(err) = netns::remove(ns) {
                    tracing::warn!("{err}");
                }
            }
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            for h in &held {
                st.releasing.remove(h);
            }
        });
        true
    }

    /// At daemon start, after shims are reconnected: sandboxes of containers
    /// still running get their DNS server and port proxies back, the others are torn down;
    /// namespace files and switch ports nobody owns are removed.
    pub async fn reconcile(&self, running: &HashSet<String>) {
        let _op = self.op.lock().await;
        let ids: Vec<String> = self.st().sandboxes.keys().cloned().collect();
        for id in ids {
            if !running.contains(&id) {
                self.teardown_locked(&id).await;
                continue;
            }
            if self.uses_dns(&id) {
                let ns = self.st().sandboxes.get(&id).and_then(|s| s.netns.clone());
                if let Some(ns) = ns {
                    if let Err(e) = self.start_dns(&id, &ns) {
                        tracing::warn!("DNS server of {id}: {e}");
                    }
                }
            }
            let name = self.st().sandboxes.get(&id).map(|s| s.name.clone());
            if let Err(e) = self.start_proxies(&id, &name.unwrap_or_default()) {
                tracing::warn!("port proxies of {id}: {}", e.message);
            }
        }
        // Sandboxes from the pool keep their pool-<id> file name.
        let owned: HashSet<PathBuf> = self
            .st()
            .sandboxes
            .values()
            .filter_map(|s| s.netns.clone())
            .collect();
        if let Ok(rd) = std::fs::read_dir(self.netns_dir()) {
            for f in rd.flatten() {
                let path = f.path();
                if f.file_name() != "switch" && !owned.contains(&path) && !self.pool.owns_ns(&path)
                {
                    let _ = netns::remove(&path);
                }
            }
        }
        let ports: HashSet<String> = self
            .st()
            .sandboxes
            .values()
            .flat_map(|s| s.endpoints.iter().map(|e| e.short_id().to_string()))
            .collect();
        if let Ok(t) = self.topo() {
            if let Ok(present) = t.endpoint_ports().await {
                for p in present
                    .into_iter()
                    .filter(|p| !ports.contains(p) && !self.pool.owns_port(p))
                {
                    let _ = t.detach(&p).await;
                }
            }
        }
        if let Err(e) = self.apply_rules() {
            tracing::error!("nftables: {e}");
        }
        self.refill_pool();
    }

    /// The default bridge network's id.
    fn default_bridge(&self) -> Option<NetworkRec> {
        self.st()
            .networks
            .iter()
            .find(|n| n.name == "bridge" && n.driver == "bridge")
            .cloned()
    }

    /// Tops up the pool of ready sandboxes for the default bridge.
    fn refill_pool(&self) {
        let spec = self.default_bridge().and_then(|n| bridge_spec(&n).ok());
        if let (Some(spec), Ok(topo)) = (spec, self.topo()) {
            self.pool.refill(topo.clone(), spec, self.netns_dir());
        }
    }
}

/// Points the spec's network namespace at `path` (joined, not created).
pub fn apply_to_spec(spec: &mut oci_spec::runtime::Spec, path: &Path) {
    use oci_spec::runtime::LinuxNamespaceType;
    if let Some(nss) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut())
    {
        for ns in nss.iter_mut() {
            if ns.typ() == LinuxNamespaceType::Network {
                ns.set_path(Some(path.to_path_buf()));
            }
        }
    }
}

/// Writes the spec's `net.*` sysctls into the namespace at `path` from the
/// daemon and removes them from the spec, for a namespace the daemon made
/// before the init (it is wired and complete when the init starts). Under
/// `--userns-remap` the runtime makes the namespace inside the container's
/// user namespace ([`Networks::setup_late`]) and the init writes them, as
/// runc does.
pub fn take_net_sysctls(spec: &mut oci_spec::runtime::Spec, path: &Path) -> Result<(), String> {
    let Some(all) = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.sysctl_mut().as_mut())
    else {
        return Ok(());
    };
    let net: Vec<(String, String)> = all
        .iter()
        .filter(|(k, _)| k.starts_with("net."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if net.is_empty() {
        return Ok(());
    }
    all.retain(|k, _| !k.starts_with("net."));
    let written = netns::run_in(path, move || {
        for (k, v) in &net {
            let file = Path::new("/proc/sys").join(k.replace('.', "/"));
            std::fs::write(&file, v)
                .map_err(|e| format!("write sysctl key {k}: open {}: {e}", file.display()))?;
        }
        Ok::<(), String>(())
    });
    written.map_err(|e| e.to_string())?
}

/// The addresses an endpoint config asks for on `net` (`--ip`, `--ip6`),
/// checked as Docker checks user-chosen addresses: an IPv4 one needs a user
/// subnet, an IPv6 one a network with IPv6.
#[allow(clippy::type_complexity)]
pub(super) fn requested_ips(
    cfg: Option<&Value>,
    net: &NetworkRec,
) -> ApiResult<(Option<Ipv4Addr>, Option<Ipv6Addr>)> {
    let ipam = cfg.and_then(|c| c.get("IPAMConfig"));
    let field = |k: &str| {
        ipam.and_then(|i| i.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let ipv4 = field("IPv4Address")
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv4 address: {s}")))
        })
        .transpose()?;
    let ipv6 = field("IPv6Address")
        .map(|s| {
            s.parse::<Ipv6Addr>()
                .map_err(|_| ApiError::bad_request(format!("invalid IPv6 address: {s}")))
        })
        .transpose()?;
    if (ipv4.is_some() || ipv6.is_some()) && net.name == "bridge" {
        return Err(ApiError::bad_request(
            "user specified IP address is supported on user defined networks only",
        ));
    }
    if (ipv4.is_some() && !net.user_subnet) || (ipv6.is_some() && net.v6().is_none()) {
        return Err(ApiError::bad_request(
            "user specified IP address is supported only when connecting to networks with user configured subnets",
        ));
    }
    Ok((ipv4, ipv6))
}

/// `02:42:ac:11:00:02` as bytes.
fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(parts) {
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// A port to publish: container port, protocol, host address, host port range.
type WantedPort = (u16, String, String, Option<(u16, u16)>);

/// A binding's `HostPort`: empty (any port), `8080`, or a range `8000-8010`.
fn host_port_range(hp: &str) -> ApiResult<Option<(u16, u16)>> {
    if hp.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::bad_request(format!("invalid port specification: \"{hp}\""));
    let (lo, hi) = hp.split_once('-').unwrap_or((hp, hp));
    let lo: u16 = lo.parse().map_err(|_| bad())?;
    let hi: u16 = hi.parse().map_err(|_| bad())?;
    if lo > hi {
        return Err(bad());
    }
    Ok(Some((lo, hi)))
}

/// A network out of addresses, in Docker's words (500, as Docker).
fn pool_error(e: NetError, family: &str, net: &NetworkRec) -> ApiError {
    match e {
        NetError::SubnetFull(_) => ApiError::internal(format!(
            "no available {family} addresses on this network's address pools: {} ({})",
            net.name, net.id
        )),
        other => other.into(),
    }
}
