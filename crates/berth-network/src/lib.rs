//! berth-network: the mechanisms behind container networking. Bridges, veths,
//! addresses and routes over rtnetlink (`link`, `topology`), namespaces bound
//! to files (`netns`), address management (`ipam`), NAT and published ports in
//! nftables (`nft`), the embedded DNS server (`dns`). The daemon owns the
//! records (networks, endpoints) and calls these.

pub mod cidr;
pub mod dns;
pub mod error;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod proxy;
pub mod topology;

pub use cidr::{Ipv4Net, Ipv6Net};
pub use error::NetError;
