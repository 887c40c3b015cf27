//! The network service: networks (bridge, host, none and user-defined
//! bridges), each container's attachments, and the sandbox (namespace,
//! endpoints, published ports, DNS server) of running containers. The
//! mechanisms live in `berth-network`; this module keeps the records and
//! decides what to wire when.

mod etc;
mod model;
pub mod objects;
mod pool;
mod sandbox;
mod settings;
mod store;

use model::{Attachment, NetworkRec, Sandbox};
pub use sandbox::{apply_to_spec, mode_of, take_net_sysctls, Mode};

use crate::error::ApiError;
use berth_network::topology::{BridgeSpec, Topology};
use berth_network::{Ipv4Net, Ipv6Net, NetError};
use serde_json::{json, Map};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

impl From<NetError> for ApiError {
    fn from(e: NetError) -> ApiError {
        ApiError::internal(e.to_string())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        ApiError::internal(format!("network store: {e}"))
    }
}

#[derive(Default)]
pub struct NetState {
    pub networks: Vec<NetworkRec>,
    pub attachments: HashMap<String, Vec<Attachment>>,
    pub sandboxes: HashMap<String, Sandbox>,
    /// (network id, address) of endpoints whose links are still being
    /// deleted in the background: not handed out again until they are gone.
    pub releasing: HashSet<(String, IpAddr)>,
}

impl NetState {
    pub fn find(&self, key: &str) -> Option<&NetworkRec> {
        self.networks
            .iter()
            .find(|n| n.name == key || n.id == key)
            .or_else(|| {
                let mut m = self
                    .networks
                    .iter()
                    .filter(|n| !key.is_empty() && n.id.starts_with(key));
                let first = m.next();
                if m.next().is_some() {
                    None
                } else {
                    first
                }
            })
    }

    pub fn by_id(&self, id: &str) -> Option<&NetworkRec> {
        self.networks.iter().find(|n| n.id == id)
    }
}

pub struct Networks {
    db: store::NetDb,
    exec_root: PathBuf,
    /// berth's nftables table (one per default bridge name, so test daemons
    /// with their own bridges do not share rules).
    table: String,
    state: Arc<Mutex<NetState>>,
    topo: OnceLock<Topology>,
    dns: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// Userland proxies of the published ports NAT cannot serve, by container.
    proxies: Mutex<HashMap<String, Vec<berth_network::proxy::Proxy>>>,
    /// Serialises wiring: IPAM choices and the nftables rebuild.
    op: tokio::sync::Mutex<()>,
    /// The ruleset last loaded into nftables. Running `nft` costs ~100 ms,
    /// and most container starts (no published ports) leave the rules as
    /// they were, so an unchanged ruleset is not loaded again.
    applied_rules: Mutex<Option<String>>,
    /// `--iptables=false`: no nftables rules at all (no NAT, no publishing).
    iptables: bool,
    /// Sandboxes wired in advance for the default bridge.
    pool: pool::SandboxPool,
    /// `--ip-forward`: also turns on IPv6 forwarding once a network has IPv6.
    ip_forward: bool,
}

pub fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn now() -> String {
    crate::container::rfc3339(chrono::Utc::now())
}

/// The daemon's flags for its default bridge and packet filtering.
#[derive(Debug, Clone)]
pub struct BridgeFlags {
    /// `--icc`: containers on the default bridge reach each other.
    pub icc: bool,
    /// `--ip-masq`: the default bridge's traffic is masqueraded.
    pub ip_masq: bool,
    /// `--ip-forward`: net.ipv4.ip_forward is turned on at start.
    pub ip_forward: bool,
    /// `--iptables`: berth manages nftables rules at all.
    pub iptables: bool,
    /// `--ip`: default host address of published ports.
    pub host_ip: Option<String>,
    /// `--fixed-cidr`: the default bridge's containers get addresses here.
    pub fixed_cidr: Option<String>,
    /// `--mtu` of the default bridge's links.
    pub mtu: Option<u32>,
    /// `--ipv6`: the default bridge has IPv6, on `--fixed-cidr-v6`.
    pub ipv6: bool,
    /// `--fixed-cidr-v6`: the default bridge's IPv6 subnet.
    pub fixed_cidr_v6: Option<String>,
}

impl Default for BridgeFlags {
    fn default() -> Self {
        BridgeFlags {
            icc: true,
            ip_masq: true,
            ip_forward: true,
            iptables: true,
            host_ip: None,
            fixed_cidr: None,
            mtu: None,
            ipv6: false,
            fixed_cidr_v6: None,
        }
    }
}

/// An option of a network's record that is "true" unless set to "false".
fn option_on(n: &NetworkRec, key: &str) -> bool {
    n.options.get(key).and_then(|v| v.as_str()) != Some("false")
}

impl Networks {
    /// Loads the records and makes sure the predefined networks exist. The
    /// default bridge is `bridge` (interface name) on `bip` (gateway/prefix).
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        bridge: Option<&str>,
        bip: Option<&str>,
        flags: &BridgeFlags,
    ) -> Result<Networks, String> {
        if let Some(ip) = &flags.host_ip {
            ip.parse::<Ipv4Addr>()
                .map_err(|_| format!("invalid --ip {ip}: expected an IPv4 address"))?;
        }
        let fixed_cidr: Option<Ipv4Net> = match &flags.fixed_cidr {
            Some(r) => {
                let range: Ipv4Net = r
                    .parse()
                    .map_err(|e| format!("invalid --fixed-cidr {r}: {e}"))?;
                Some(range)
            }
            None => None,
        };
        let v6: Option<(Ipv6Net, std::net::Ipv6Addr)> = match &flags.fixed_cidr_v6 {
            Some(c) => {
                let net: Ipv6Net = c
                    .parse()
                    .map_err(|e| format!("invalid --fixed-cidr-v6 {c}: {e}"))?;
                let gw = berth_network::ipam::default_gateway6(&net)
                    .map_err(|e| format!("invalid --fixed-cidr-v6 {c}: {e}"))?;
                Some((net, gw))
            }
            None if flags.ipv6 => {
                return Err("--ipv6 on the default bridge: could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network (give --fixed-cidr-v6)".into())
            }
            None => None,
        };
        if flags.ip_forward {
            if let Err(e) = berth_network::netns::sysctl("net.ipv4.ip_forward", "1") {
                tracing::warn!("turning on net.ipv4.ip_forward: {e}");
            }
        }
        let db = store::NetDb::open(data_root).map_err(|e| format!("network store: {e}"))?;
        let loaded = db.load().map_err(|e| format!("network store: {e}"))?;
        let host_if = bridge.unwrap_or("berth0").to_string();
        // `-b` naming a bridge that exists (the administrator's, as with
        // dockerd): its address gives the subnet and it is never replaced.
        // A name with no such device is berth's own to create.
        let host_bridge = bridge.is_some_and(berth_network::link::is_host_bridge);
        let (gw, subnet) = if host_bridge {
            if bip.is_some() {
                return Err(
                    "You specified -b & --bip, mutually exclusive options. Please specify only one"
                        .into(),
                );
            }
            match berth_network::link::host_ipv4(&host_if) {
                Some((ip, prefix)) => (ip, Ipv4Net::new(ip, prefix).map_err(|e| e.to_string())?),
                None => {
                    // No address yet: one from the pools, given to the bridge.
                    let taken: Vec<Ipv4Net> = loaded
                        .networks
                        .iter()
                        .filter(|n| n.name != "bridge")
                        .filter_map(|n| n.subnet.as_deref()?.parse().ok())
                        .chain(berth_network::ipam::host_routes())
                        .collect();
                    let net = berth_network::ipam::pick_subnet(
                        &berth_network::ipam::default_pools(),
                        &taken,
                    )
                    .map_err(|e| format!("an address for bridge {host_if}: {e}"))?;
                    let gw =
                        berth_network::ipam::default_gateway(&net).map_err(|e| e.to_string())?;
                    (gw, net)
                }
            }
        } else {
            parse_bip(bip.unwrap_or("172.30.0.1/16"))?
        };
        if let Some(r) = &fixed_cidr {
            if !(subnet.contains(r.addr) && r.prefix >= subnet.prefix) {
                return Err(format!(
                    "--fixed-cidr {r} is not contained in the default bridge's subnet {subnet}"
                ));
            }
        }
        let mut st = NetState {
            networks: loaded.networks,
            ..Default::default()
        };
        for (cid, a) in loaded.attachments {
            st.attachments.entry(cid).or_default().push(a);
        }
        for s in loaded.sandboxes {
            st.sandboxes.insert(s.container_id.clone(), s);
        }
        let mtu = flags.mtu.unwrap_or(1500).to_string();
        if let Some(m) = flags.mtu.filter(|m| !(68..=65535).contains(m)) {
            return Err(format!("invalid --mtu {m}: must be between 68 and 65535"));
        }
        let mut options = Map::new();
        for (k, v) in [
            ("com.docker.network.bridge.default_bridge", "true"),
            ("com.docker.network.bridge.enable_icc", bool_text(flags.icc)),
            (
                "com.docker.network.bridge.enable_ip_masquerade",
                bool_text(flags.ip_masq),
            ),
            (
                "com.docker.network.bridge.host_binding_ipv4",
                flags.host_ip.as_deref().unwrap_or("0.0.0.0"),
            ),
            ("com.docker.network.bridge.name", host_if.as_str()),
            ("com.docker.network.driver.mtu", mtu.as_str()),
        ] {
            options.insert(k.into(), json!(v));
        }
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            let existing = st.networks.iter().position(|n| n.name == name);
            let mut rec = match existing {
                Some(i) => st.networks[i].clone(),
                None => NetworkRec {
                    id: random_id(),
                    name: name.into(),
                    driver: driver.into(),
                    created: now(),
                    subnet: None,
                    gateway: None,
                    host_if: None,
                    labels: Map::new(),
                    options: Map::new(),
                    internal: false,
                    attachable: false,
                    user_subnet: false,
                    ip_range: None,
                    host_bridge: false,
                    enable_ipv6: false,
                    subnet6: None,
                    gateway6: None,
                    ip_range6: None,
                },
            };
            if name == "bridge" {
                rec.subnet = Some(subnet.to_string());
                rec.gateway = Some(gw);
                rec.host_if = Some(host_if.clone());
                rec.options = options.clone();
                rec.ip_range = fixed_cidr.map(|r| r.to_string());
                rec.host_bridge = host_bridge;
                rec.enable_ipv6 = flags.ipv6;
                rec.subnet6 = v6.map(|(n, _)| n.to_string());
                rec.gateway6 = v6.map(|(_, g)| g);
            }
            db.put_network(&rec)
                .map_err(|e| format!("network store: {e}"))?;
            match existing {
                Some(i) => st.networks[i] = rec,
                None => st.networks.push(rec),
            }
        }
        let table = nft_table(&host_if);
        Ok(Networks {
            db,
            exec_root: exec_root.to_path_buf(),
            table,
            state: Arc::new(Mutex::new(st)),
            topo: OnceLock::new(),
            dns: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
            applied_rules: Mutex::new(None),
            op: tokio::sync::Mutex::new(()),
            iptables: flags.iptables,
            pool: pool::SandboxPool::default(),
            ip_forward: flags.ip_forward,
        })
    }

    fn st(&self) -> std::sync::MutexGuard<'_, NetState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// At a clean shutdown: sandboxes released just before finish going
    /// (their links and namespaces are removed by background tasks, which
    /// the runtime's shutdown would cut short; up to 2 s), then the pool's
    /// ready sandboxes go. Running containers keep theirs.
    pub async fn shutdown(&self) {
        for _ in 0..200 {
            if self.st().releasing.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.pool.drain().await;
    }

    pub fn netns_dir(&self) -> PathBuf {
        self.exec_root.join("netns")
    }

    fn topo(&self) -> Result<&Topology, ApiError> {
        if let Some(t) = self.topo.get() {
            return Ok(t);
        }
        let t = Topology::init(&self.netns_dir().join("switch"))?;
        Ok(self.topo.get_or_init(|| t))
    }

    /// At daemon start: brings up every bridge network.
    pub async fn start(&self) {
        let nets: Vec<NetworkRec> = self.st().networks.clone();
        for n in nets.iter().filter(|n| n.driver == "bridge") {
            if let Err(e) = self.wire_network(n).await {
                tracing::error!("network {}: {e}", n.name);
            }
        }
    }

    async fn wire_network(&self, n: &NetworkRec) -> Result<(), ApiError> {
        let spec = bridge_spec(n)?;
        if spec.v6.is_some() && self.ip_forward {
            // As dockerd does once IPv6 is in use: the host routes for containers.
            if let Err(e) = berth_network::netns::sysctl("net.ipv6.conf.all.forwarding", "1") {
                tracing::warn!("turning on net.ipv6.conf.all.forwarding: {e}");
            }
        }
        self.topo()?.ensure_network(&spec).await?;
        Ok(())
    }

    /// Rebuilds berth's nftables table from the records.
    fn apply_rules(&self) -> Result<(), ApiError> {
        use berth_network::nft::{NetRule, PortRule, Ruleset};
        if !self.iptables {
            return Ok(());
        }
        let st = self.st();
        let mut rules = Ruleset::default();
        for n in st.networks.iter().filter(|n| n.driver == "bridge") {
            if let Ok(spec) = bridge_spec(n) {
                rules.networks.push(NetRule {
                    host_if: spec.host_if,
                    subnet: spec.subnet,
                    internal: n.internal,
                    masquerade: option_on(n, "com.docker.network.bridge.enable_ip_masquerade"),
                    subnet6: spec.v6.map(|(net, _)| net),
                });
            }
        }
        for s in st.sandboxes.values() {
            let Some(ep) = s.endpoints.first() else {
                continue;
            };
            for p in s.ports.iter().filter(|p| p.proxied(ep).is_none()) {
                // No address: both families, as Docker binds 0.0.0.0 and ::.
                let (v4, v6, host_ip) = match p.host_ip.as_str() {
                    "" => (true, true, None),
                    "0.0.0.0" => (true, false, None),
                    "::" => (false, true, None),
                    ip => match ip.parse::<IpAddr>() {
                        Ok(ip) => (ip.is_ipv4(), ip.is_ipv6(), Some(ip)),
                        Err(_) => continue,
                    },
                };
                let mut to = Vec::new();
                if v4 {
                    to.push(IpAddr::V4(ep.ip));
                }
                if let (true, Some(ip6)) = (v6, ep.ip6) {
                    to.push(IpAddr::V6(ip6));
                }
                for container_ip in to {
                    rules.ports.push(PortRule {
                        host_ip,
                        host_port: p.host_port,
                        proto: p.proto.clone(),
                        container_ip,
                        container_port: p.container_port,
                    });
                }
            }
        }
        drop(st);
        // Sandboxes live in a HashMap: order the rules so equal sets render equal.
        rules.ports.sort_by(|a, b| {
            (a.host_port, &a.proto, a.container_ip).cmp(&(b.host_port, &b.proto, b.container_ip))
        });
        let text = rules.render(&self.table);
        let mut applied = self.applied_rules.lock().unwrap_or_else(|e| e.into_inner());
        if applied.as_deref() == Some(text.as_str()) {
            return Ok(());
        }
        rules.apply(&self.table)?;
        *applied = Some(text);
        let ifs: Vec<String> = rules
            .networks
            .iter()
            .filter(|n| !n.internal)
            .map(|n| n.host_if.clone())
            .collect();
        if let Err(e) = berth_network::nft::sync_host_forward(&self.table, &ifs) {
            tracing::warn!(
                "accepting forwarded traffic of berth's networks in ip filter FORWARD: {e}"
            );
        }
        let ifs6: Vec<String> = rules
            .networks
            .iter()
            .filter(|n| !n.internal && n.subnet6.is_some())
            .map(|n| n.host_if.clone())
            .collect();
        if let Err(e) = berth_network::nft::sync_host_forward6(&self.table, &ifs6) {
            tracing::warn!(
                "accepting forwarded traffic of berth's networks in ip6 filter FORWARD: {e}"
            );
        }
        Ok(())
    }

    /// The DNS lookup of container `cid`: names and aliases of containers
    /// sharing one of its user-defined networks.
    fn lookup_for(&self, cid: &str) -> berth_network::dns::Lookup {
        let state = Arc::downgrade(&self.state);
        let cid = cid.to_string();
        Arc::new(move |name: &str| {
            let state = state.upgrade()?;
            let st = state.lock().unwrap_or_else(|e| e.into_inner());
            let mine = st.sandboxes.get(&cid)?;
            let nets: Vec<&str> = mine
                .endpoints
                .iter()
                .filter(|e| {
                    st.by_id(&e.network_id)
                        .map(|n| n.has_dns())
                        .unwrap_or(false)
                })
                .map(|e| e.network_id.as_str())
                .collect();
            let mut ips = Vec::new();
            for s in st.sandboxes.values() {
                for e in s
                    .endpoints
                    .iter()
                    .filter(|e| nets.contains(&e.network_id.as_str()))
                {
                    let hit = s.name.eq_ignore_ascii_case(name)
                        || s.container_id.get(..12) == Some(name)
                        || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
                    if !hit {
                        continue;
                    }
                    let v6 = st.by_id(&e.network_id).is_some_and(|n| n.v6().is_some());
                    let addrs = std::iter::once(IpAddr::V4(e.ip))
                        .chain(e.ip6.filter(|_| v6).map(IpAddr::V6));
                    for ip in addrs {
                        if !ips.contains(&ip) {
                            ips.push(ip);
                        }
                    }
                }
            }
            (!ips.is_empty()).then_some(ips)
        })
    }

    /// Starts the userland proxies of `cid`'s published ports that NAT
    /// cannot serve (see [`PortBinding::proxied`]); none twice.
    fn start_proxies(&self, cid: &str, name: &str) -> Result<(), ApiError> {
        let wanted: Vec<(std::net::SocketAddr, std::net::SocketAddr, String)> = {
            let st = self.st();
            let Some(s) = st.sandboxes.get(cid) else {
                return Ok(());
            };
            let Some(ep) = s.endpoints.first() else {
                return Ok(());
            };
            s.ports
                .iter()
                .flat_map(|p| {
                    p.proxied(ep)
                        .into_iter()
                        .chain(p.v6_companion(ep))
                        .map(|(l, t)| (l, t, p.proto.clone()))
                })
                .collect()
        };
        let mut map = self.proxies.lock().unwrap_or_else(|e| e.into_inner());
        if wanted.is_empty() || map.contains_key(cid) {
            return Ok(());
        }
        let mut running = Vec::new();
        for (listen, target, proto) in wanted {
            let p = berth_network::proxy::start(listen, target, &proto).map_err(|e| {
                ApiError::internal(format!(
                    "driver failed programming external connectivity on endpoint {name}: \
                     Error starting userland proxy: listen {proto}6 {listen}: bind: {e}"
                ))
            })?;
            running.push(p);
        }
        map.insert(cid.to_string(), running);
        Ok(())
    }

    fn stop_proxies(&self, cid: &str) {
        self.proxies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cid);
    }

    fn stop_dns(&self, cid: &str) {
        if let Some(h) = self
            .dns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(cid)
        {
            h.abort();
        }
    }

    fn start_dns(&self, cid: &str, ns: &Path) -> Result<(), ApiError> {
        if self
            .dns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(cid)
        {
            return Ok(());
        }
        let sock = berth_network::dns::bind_in(ns)?;
        let upstreams = berth_network::dns::host_upstreams()
            .into_iter()
            .filter(|a| !a.ip().is_loopback())
            .collect();
        let h = berth_network::dns::serve(sock, self.lookup_for(cid), upstreams)?;
        self.dns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cid.to_string(), h);
        Ok(())
    }
}

/// `berth` for the default bridge; daemons with another bridge (tests,
/// side-by-side installs) get a table of their own, so one daemon's rebuild
/// never drops another's rules. Daemons sharing a bridge name share the
/// interface too, so sharing its table adds no conflict.
fn nft_table(host_if: &str) -> String {
    if host_if == "berth0" {
        return "berth".into();
    }
    let safe: String = host_if
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("berth_{safe}")
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn parse_bip(bip: &str) -> Result<(Ipv4Addr, Ipv4Net), String> {
    let (ip, prefix) = bip
        .split_once('/')
        .ok_or_else(|| format!("invalid --bip {bip}: expected an address/prefix"))?;
    let gw: Ipv4Addr = ip.parse().map_err(|_| format!("invalid --bip {bip}"))?;
    let prefix: u8 = prefix.parse().map_err(|_| format!("invalid --bip {bip}"))?;
    let net = Ipv4Net::new(gw, prefix).map_err(|e| e.to_string())?;
    Ok((gw, net))
}

pub fn bridge_spec(n: &NetworkRec) -> Result<BridgeSpec, ApiError> {
    let subnet: Ipv4Net = n
        .subnet
        .as_deref()
        .unwrap_or("")
        .parse()
        .map_err(|e: NetError| ApiError::internal(e.to_string()))?;
    Ok(BridgeSpec {
        short_id: n.short_id().to_string(),
        host_if: n
            .host_if
            .clone()
            .unwrap_or_else(|| format!("br-{}", n.short_id())),
        subnet,
        gateway: n
            .gateway
            .ok_or_else(|| ApiError::internal(format!("network {} has no gateway", n.name)))?,
        icc: option_on(n, "com.docker.network.bridge.enable_icc"),
        mtu: n
            .options
            .get("com.docker.network.driver.mtu")
            .and_then(|v| v.as_str())
            .and_then(|m| m.parse::<u32>().ok())
            .filter(|m| *m != 1500),
        host_bridge: n.host_bridge,
        v6: n.v6(),
    })
}
