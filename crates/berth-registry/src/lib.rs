//! berth-registry: distribution (Docker Registry HTTP API v2 / OCI) client
//! for pull, push and login, and a registry server (`berth registry serve`).

pub mod auth;
mod client;
pub mod coalesce;
pub mod error;
pub mod gzip;
pub mod inspect;
pub mod login;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod server;
pub mod settings;

pub use auth::AuthConfig;
pub use client::{is_loopback, registry_base, resolve_base};
pub use error::RegistryError;
pub use progress::Progress;
pub use pull::{pull, PullOptions, PullOutcome};
pub use push::{push, PushOptions, PushOutcome};
