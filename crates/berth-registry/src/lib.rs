//! berth-registry: distribution (Docker Registry HTTP API v2 / OCI) client
//! for pull, push and login, and a registry server (`berth registry serve`).

pub mod manifest;
pub mod server;
