//! Errors of network setup, with the operation and object they concern.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("invalid subnet {0}")]
    InvalidSubnet(String),
    #[error("invalid IP address {0}")]
    InvalidAddress(String),
    #[error("no available IPv4 address in subnet {0}")]
    SubnetFull(String),
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoPool,
    #[error("netlink {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("nft: {0}")]
    Nft(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl NetError {
    pub fn netlink(op: impl Into<String>, source: rtnetlink::Error) -> NetError {
        NetError::Netlink {
            op: op.into(),
            source,
        }
    }
    pub fn io(context: impl Into<String>, source: std::io::Error) -> NetError {
        NetError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;
