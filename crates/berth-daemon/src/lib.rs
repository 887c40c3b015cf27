#![recursion_limit = "256"]
//! berth-daemon: the Engine API server and the services behind it.

pub mod api;
mod apparmor;
mod build;
mod builtin_image;
mod cgroup_opts;
pub mod container;
mod cors;
mod create;
pub mod daemon;
mod db;
mod detach;
pub mod error;
mod events;
mod exec;
mod extras;
mod fsops;
#[doc(hidden)]
pub mod fuzz_api;
mod health;
mod humanize;
mod listeners;
mod logopts;
mod logrotate;
mod logs;
mod names;
mod network;
mod nsjoin;
mod prune;
mod restart;
mod sealed_exe;
mod security_opts;
mod server;
mod shimctl;
mod signals;
mod spec;
mod stats;
pub mod store;
mod tls;
mod top;
mod update;
mod userns;
mod users;
mod volumes;

pub use server::main;
