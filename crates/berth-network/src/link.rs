//! Links, addresses and routes over rtnetlink.
//!
//! Layout: berth keeps one private "switch" namespace per daemon that holds a
//! Linux bridge per network. The host sees one veth per network (its name is
//! the network's bridge name, e.g. `berth0`) carrying the gateway address; its
//! peer is a port of the bridge. Containers' veths are ports of the same
//! bridge. Why not a bridge on the host: with br_netfilter loaded (Docker loads
//! it) every bridged frame on the host crosses iptables' FORWARD chain, whose
//! policy Docker sets to drop, so container-to-container traffic would die
//! unless berth edited Docker's rules. In the switch namespace
//! `bridge-nf-call-iptables` is 0 and bridging is plain L2.

use crate::error::{NetError, Result};
use crate::netns;
use futures_util::TryStreamExt;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// Whether the host (the daemon's namespace) has a bridge device `name`.
pub fn is_host_bridge(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('/')
        && Path::new("/sys/class/net")
            .join(name)
            .join("bridge")
            .is_dir()
}

/// The first IPv4 address of host interface `name` with its prefix length.
pub fn host_ipv4(name: &str) -> Option<(Ipv4Addr, u8)> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return None;
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: a NUL-terminated name and sockaddrs of the family they say.
        unsafe {
            if std::ffi::CStr::from_ptr(ifa.ifa_name).to_bytes() != name.as_bytes()
                || i32::from((*ifa.ifa_addr).sa_family) != libc::AF_INET
            {
                continue;
            }
            let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
            let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
            found = Some((
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u32::from_be(m.sin_addr.s_addr).count_ones() as u8,
            ));
        }
        break;
    }
    // SAFETY: the list getifaddrs allocated, freed once.
    unsafe { libc::freeifaddrs(head) };
    found
}

/// A netlink connection bound to one network namespace (None: the daemon's).
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    pub async fn open(ns: Option<&Path>) -> Result<Netlink> {
        let rt = tokio::runtime::Handle::current();
        let connect = move || -> std::io::Result<Handle> {
            // The socket belongs to the namespace of the thread creating it.
            let _guard = rt.enter();
            let (conn, handle, _) = rtnetlink::new_connection()?;
            rt.spawn(conn);
            Ok(handle)
        };
        let handle = match ns {
            Some(p) => netns::run_in(p, connect)?,
            None => connect(),
        }
        .map_err(|e| NetError::io("netlink socket", e))?;
        Ok(Netlink { handle })
    }

    /// The index of link `name`, None if there is no such link.
    pub async fn index(&self, name: &str) -> Result<Option<u32>> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Some(m.header.index)),
            Ok(None) => Ok(None),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
            Err(e) => Err(NetError::netlink(format!("get link {name}"), e)),
        }
    }

    async fn need(&self, name: &str) -> Result<u32> {
        self.index(name).await?.ok_or_else(|| {
            NetError::io(
                format!("link {name}"),
                std::io::Error::from_raw_os_error(libc::ENODEV),
            )
        })
    }

    pub async fn add_bridge(&self, name: &str) -> Result<u32> {
        if self.index(name).await?.is_none() {
            self.handle
                .link()
                .add(LinkBridge::new(name).up().build())
                .execute()
                .await
                .map_err(|e| NetError::netlink(format!("add bridge {name}"), e))?;
        }
        self.need(name).await
    }

    /// Creates a veth pair `name`/`peer` here and moves `peer` into `peer_ns`.
    pub async fn add_veth(&self, name: &str, peer: &str, peer_ns: &Path) -> Result<u32> {
        self.handle
            .link()
            .add(LinkVeth::new(name, peer).build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("add veth {name}"), e))?;
        let moved = async {
            let idx = self.need(peer).await?;
            let f = std::fs::File::open(peer_ns).map_err(|e| NetError::io("open netns", e))?;
            self.handle
                .link()
                .set(
                    LinkUnspec::new_with_index(idx)
                        .setns_by_fd(f.as_raw_fd())
                        .build(),
                )
                .execute()
                .await
                .map_err(|e| NetError::netlink(format!("move {peer} to namespace"), e))
        }
        .await;
        if let Err(e) = moved {
            let _ = self.delete(name).await;
            return Err(e);
        }
        self.need(name).await
    }

    /// Attaches link `idx` to `bridge` and brings it up, with `mtu` if given.
    pub async fn set_controller(&self, idx: u32, bridge: u32, mtu: Option<u32>) -> Result<()> {
        let mut b = LinkUnspec::new_with_index(idx).controller(bridge).up();
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(|e| NetError::netlink("attach port to bridge", e))
    }

    /// Marks bridge port `idx` isolated: it forwards only to ports that are
    /// not (the uplink), never to another isolated port.
    pub async fn isolate_port(&self, idx: u32) -> Result<()> {
        self.handle
            .link()
            .set_port(rtnetlink::LinkBridgePort::new(idx).isolated(true).build())
            .execute()
            .await
            .map_err(|e| NetError::netlink("isolate bridge port", e))
    }

    /// Renames, sets the MAC and MTU of and brings up link `idx`.
    pub async fn configure(
        &self,
        idx: u32,
        name: Option<&str>,
        mac: Option<[u8; 6]>,
        mtu: Option<u32>,
    ) -> Result<()> {
        let mut b = LinkUnspec::new_with_index(idx);
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        if let Some(n) = name {
            b = b.name(n.to_string());
        }
        if let Some(m) = mac {
            b = b.address(m.to_vec());
        }
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(|e| NetError::netlink("configure link", e))?;
        self.up(idx).await
    }

    pub async fn up(&self, idx: u32) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink("set link up", e))
    }

    pub async fn add_address(&self, idx: u32, ip: Ipv4Addr, prefix: u8) -> Result<()> {
        match self
            .handle
            .address()
            .add(idx, IpAddr::V4(ip), prefix)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
            Err(e) => Err(NetError::netlink(format!("add address {ip}/{prefix}"), e)),
        }
    }

    /// An IPv6 address without duplicate address detection (`nodad`), so
    /// it is usable at once, as Docker adds them.
    pub async fn add_address6(&self, idx: u32, ip: Ipv6Addr, prefix: u8) -> Result<()> {
        use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
        let mut req = self.handle.address().add(idx, IpAddr::V6(ip), prefix);
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
            Err(e) => Err(NetError::netlink(format!("add address {ip}/{prefix}"), e)),
        }
    }

    pub async fn add_default_route6(&self, gateway: Ipv6Addr) -> Result<()> {
        let msg = RouteMessageBuilder::<Ipv6Addr>::new()
            .gateway(gateway)
            .build();
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("add default route via {gateway}"), e))
    }

    pub async fn add_default_route(&self, gateway: Ipv4Addr) -> Result<()> {
        let msg = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        self.handle
            .route()
            .add(msg)
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("add default route via {gateway}"), e))
    }

    /// Deletes link `name` (a veth's peer goes with it); absent is fine.
    pub async fn delete(&self, name: &str) -> Result<()> {
        let Some(idx) = self.index(name).await? else {
            return Ok(());
        };
        match self.handle.link().del(idx).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(()),
            Err(e) => Err(NetError::netlink(format!("delete link {name}"), e)),
        }
    }

    /// Names of all links.
    pub async fn names(&self) -> Result<Vec<String>> {
        use rtnetlink::packet_route::link::LinkAttribute;
        let mut out = Vec::new();
        let mut s = self.handle.link().get().execute();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(|e| NetError::netlink("list links", e))?
        {
            for a in m.attributes {
                if let LinkAttribute::IfName(n) = a {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }
}
