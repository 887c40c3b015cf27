//! The wiring of networks and endpoints (see `link` for the layout): one
//! call per change, each undoing its partial work when a step fails.

use crate::cidr::{Ipv4Net, Ipv6Net};
use crate::error::{NetError, Result};
use crate::link::Netlink;
use crate::netns;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// What the wiring needs to know of a bridge network.
#[derive(Debug, Clone)]
pub struct BridgeSpec {
    /// 12 hex characters of the network ID: names links in the switch.
    pub short_id: String,
    /// The host-side interface carrying the gateway (`berth0`, `br-<id>`).
    pub host_if: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    /// Inter-container communication (`enable_icc`). Without it, container
    /// ports are isolated bridge ports: they reach the uplink (the gateway
    /// and beyond) but not each other, with no packet filter involved.
    pub icc: bool,
    /// `com.docker.network.driver.mtu` (the daemon's `--mtu` on the default
    /// bridge) when not the kernel's default 1500.
    pub mtu: Option<u32>,
    /// `host_if` is a bridge the administrator made (`-b br0`): berth plugs
    /// its uplink into it through a veth (`h<short_id>`) and never creates,
    /// renames or deletes the bridge itself.
    pub host_bridge: bool,
    /// The IPv6 subnet and gateway of a network with IPv6 enabled.
    pub v6: Option<(Ipv6Net, Ipv6Addr)>,
}

impl BridgeSpec {
    pub fn bridge(&self) -> String {
        format!("b{}", self.short_id)
    }
    pub fn uplink(&self) -> String {
        format!("u{}", self.short_id)
    }
    /// The host end of the uplink veth: the gateway interface itself, or a
    /// port of the administrator's bridge.
    pub fn host_end(&self) -> String {
        if self.host_bridge {
            format!("h{}", self.short_id)
        } else {
            self.host_if.clone()
        }
    }
}

/// One interface of a container on a network.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    /// 12 hex characters of the endpoint ID.
    pub short_id: String,
    /// Name inside the container: eth0, eth1...
    pub ifname: String,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
    /// The network's gateway becomes the default route (first network only).
    pub default_route: Option<Ipv4Addr>,
    /// The endpoint's IPv6 address on a network with IPv6.
    pub ip6: Option<Ipv6Addr>,
    /// The IPv6 default route (first network with IPv6 only).
    pub default_route6: Option<Ipv6Addr>,
}

impl EndpointSpec {
    /// The switch-side end of the endpoint's veth.
    pub fn switch_if(&self) -> String {
        format!("v{}", self.short_id)
    }
}

#[derive(Debug, Clone)]
pub struct Topology {
    switch_ns: PathBuf,
}

impl Topology {
    /// Creates (or finds) the switch namespace at `switch_ns`.
    pub fn init(switch_ns: &Path) -> Result<Topology> {
        netns::create(switch_ns)?;
        netns::run_in(switch_ns, || {
            // Absent when br_netfilter is not loaded: then nothing to turn off.
            for k in ["iptables", "ip6tables", "arptables"] {
                let _ = netns::sysctl(&format!("net.bridge.bridge-nf-call-{k}"), "0");
            }
        })?;
        Ok(Topology {
            switch_ns: switch_ns.to_path_buf(),
        })
    }

    pub fn switch_ns(&self) -> &Path {
        &self.switch_ns
    }

    /// Brings up the network's bridge and its host-side gateway interface.
    pub async fn ensure_network(&self, net: &BridgeSpec) -> Result<()> {
        let sw = Netlink::open(Some(&self.switch_ns)).await?;
        let host = Netlink::open(None).await?;
        // The administrator's bridge must be there; berth never makes one.
        let host_bridge = if net.host_bridge {
            Some(host.index(&net.host_if).await?.ok_or_else(|| {
                NetError::io(
                    format!("bridge device {}", net.host_if),
                    std::io::Error::from_raw_os_error(libc::ENODEV),
                )
            })?)
        } else {
            None
        };
        let bridge = sw.add_bridge(&net.bridge()).await?;
        let end = net.host_end();
        // An interface of that name whose peer is not in our switch belongs to
        // another daemon's switch (or is a leftover): take the name over.
        let end_idx = match (host.index(&end).await?, sw.index(&net.uplink()).await?) {
            (Some(i), Some(_)) => i,
            (existing, _) => {
                if existing.is_some() {
                    host.delete(&end).await?;
                }
                host.add_veth(&end, &net.uplink(), &self.switch_ns).await?
            }
        };
        let wired = async {
            let up = sw.index(&net.uplink()).await?.ok_or_else(|| {
                NetError::io(
                    net.uplink(),
                    std::io::Error::from_raw_os_error(libc::ENODEV),
                )
            })?;
            sw.set_controller(up, bridge, net.mtu).await?;
            let gw_idx = match host_bridge {
                Some(br) => {
                    host.set_controller(end_idx, br, net.mtu).await?;
                    br
                }
                None => {
                    if net.mtu.is_some() {
                        host.configure(end_idx, None, None, net.mtu).await?;
                    }
                    end_idx
                }
            };
            // Already there on an administrator's bridge that has an address.
            host.add_address(gw_idx, net.gateway, net.subnet.prefix)
                .await?;
            if let Some((subnet6, gw6)) = net.v6 {
                // Off when the host's default says so; the gateway needs it.
                let _ = netns::sysctl(&format!("net.ipv6.conf.{}.disable_ipv6", net.host_if), "0");
                host.add_address6(gw_idx, gw6, subnet6.prefix).await?;
            }
            host.up(gw_idx).await?;
            // Port publishing DNATs 127.0.0.1 to containers: the kernel routes
            // loopback-sourced packets out of this interface only with this on.
            netns::sysctl(
                &format!("net.ipv4.conf.{}.route_localnet", net.host_if),
                "1",
            )
            .map_err(|e| NetError::io(format!("route_localnet on {}", net.host_if), e))
        }
        .await;
        if let Err(e) = wired {
            let _ = host.delete(&end).await;
            let _ = sw.delete(&net.bridge()).await;
            return Err(e);
        }
        Ok(())
    }

    /// Deletes the network's links; an administrator's bridge stays.
    pub async fn remove_network(&self, net: &BridgeSpec) -> Result<()> {
        let host = Netlink::open(None).await?;
        host.delete(&net.host_end()).await?;
        let sw = Netlink::open(Some(&self.switch_ns)).await?;
        sw.delete(&net.uplink()).await?;
        sw.delete(&net.bridge()).await
    }

    /// Plugs the container's namespace into the network's bridge.
    pub async fn attach(
        &self,
        net: &BridgeSpec,
        container_ns: &Path,
        ep: &EndpointSpec,
    ) -> Result<()> {
        self.prepare_port(net, container_ns, &ep.short_id).await?;
        if let Err(e) = self.configure_endpoint(net, container_ns, ep).await {
            let _ = self.detach(&ep.short_id).await;
            return Err(e);
        }
        Ok(())
    }

    /// The costly half of [`Topology::attach`], which needs nothing of the
    /// container: a veth whose switch end (`v<short_id>`) is a port of the
    /// bridge, up, and whose other end (`t<short_id>`, down) waits in
    /// `container_ns`. Adding a bridge port waits out an RCU grace period,
    /// so the daemon keeps a few of these ready (see the sandbox pool).
    pub async fn prepare_port(
        &self,
        net: &BridgeSpec,
        container_ns: &Path,
        short_id: &str,
    ) -> Result<()> {
        let sw = Netlink::open(Some(&self.switch_ns)).await?;
        let bridge = sw.index(&net.bridge()).await?.ok_or_else(|| {
            NetError::io(
                net.bridge(),
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })?;
        let switch_if = format!("v{short_id}");
        let port = sw
            .add_veth(&switch_if, &format!("t{short_id}"), container_ns)
            .await?;
        let plugged = async {
            sw.set_controller(port, bridge, net.mtu).await?;
            if !net.icc {
                sw.isolate_port(port).await?;
            }
            Ok::<(), NetError>(())
        }
        .await;
        if let Err(e) = plugged {
            let _ = sw.delete(&switch_if).await;
            return Err(e);
        }
        Ok(())
    }

    /// The cheap half: the waiting end becomes the container's interface,
    /// with its name, MAC, address and (first network) default route.
    pub async fn configure_endpoint(
        &self,
        net: &BridgeSpec,
        container_ns: &Path,
        ep: &EndpointSpec,
    ) -> Result<()> {
        let temp = format!("t{}", ep.short_id);
        let c = Netlink::open(Some(container_ns)).await?;
        let idx = c.index(&temp).await?.ok_or_else(|| {
            NetError::io(
                temp.clone(),
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })?;
        c.configure(idx, Some(&ep.ifname), Some(ep.mac), net.mtu)
            .await?;
        c.add_address(idx, ep.ip, net.subnet.prefix).await?;
        if let Some(gw) = ep.default_route {
            c.add_default_route(gw).await?;
        }
        if let (Some(ip6), Some((subnet6, _))) = (ep.ip6, net.v6) {
            c.add_address6(idx, ip6, subnet6.prefix).await?;
            if let Some(gw6) = ep.default_route6 {
                c.add_default_route6(gw6).await?;
            }
        }
        Ok(())
    }

    /// Unplugs an endpoint; deleting the switch end removes the pair.
    pub async fn detach(&self, ep_short_id: &str) -> Result<()> {
        let sw = Netlink::open(Some(&self.switch_ns)).await?;
        sw.delete(&format!("v{ep_short_id}")).await
    }

    /// Switch-side endpoint interfaces currently present (for reconciling).
    pub async fn endpoint_ports(&self) -> Result<Vec<String>> {
        let sw = Netlink::open(Some(&self.switch_ns)).await?;
        Ok(sw
            .names()
            .await?
            .into_iter()
            .filter_map(|n| n.strip_prefix('v').map(str::to_string))
            .collect())
    }
}

/// Brings up `lo` in a container's namespace (every mode but host has one).
pub async fn loopback_up(ns: &Path) -> Result<()> {
    let c = Netlink::open(Some(ns)).await?;
    if let Some(idx) = c.index("lo").await? {
        c.up(idx).await?;
    }
    Ok(())
}
