//! The crate's error type. Every variant that touches a file names it, because
//! "invalid argument" alone is useless when a container fails to start.
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("creating cgroup directory {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error("removing cgroup directory {path}: {source}")]
    Remove { path: PathBuf, source: io::Error },
    #[error("parsing {path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("no cgroup hierarchy found in /proc/self/mountinfo")]
    NoHierarchy,
    #[error("cgroup {0:?} does not exist")]
    NotFound(String),
    #[error("invalid cgroup path {0:?}")]
    InvalidPath(String),
    #[error("invalid resources for {path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("timed out waiting for {path} to become {state}")]
    FreezeTimeout { path: PathBuf, state: &'static str },
    #[error("device cgroup program for {path}: {msg}: {source}")]
    DeviceFilter {
        path: PathBuf,
        msg: String,
        source: io::Error,
    },
    #[error("sending signal {signal} to pid {pid}: {source}")]
    Signal {
        pid: i32,
        signal: i32,
        source: io::Error,
    },
}
