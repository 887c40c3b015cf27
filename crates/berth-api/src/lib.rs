//! berth-api: the Docker Engine API as seen by a client.
//!
//! - [`client::Client`] speaks HTTP/1.1 to the daemon over a unix socket or TCP
//!   (optionally TLS, see [`tls`]) or through an ssh process ([`ssh`]),
//!   negotiates the API version, maps `{"message": ...}` error bodies to
//!   [`Error::Daemon`], and hijacks connections for attach/exec.
//! - [`stdcopy`] demultiplexes Docker's 8-byte-header stream framing.
//! - [`jsonmessage`] decodes the progress streams of pull/import/push.
//! - [`types`] holds the serde shapes, named as the API spec names them.

pub mod client;
pub mod error;
pub mod jsonmessage;
pub mod ssh;
pub mod stdcopy;
pub mod tls;
pub mod types;

pub use client::{empty_body, json_body, reader_body, Body, Client, Host, Query, API_VERSION};
pub use error::Error;
pub use tls::{TlsConnector, TlsOptions};
