//! Parsers for flag values, shared by commands (units, env files, ports, mounts...).

pub mod csv;
pub mod devices;
pub mod env;
pub mod mounts;
pub mod ports;
pub mod units;
