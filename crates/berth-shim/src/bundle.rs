//! The bundle directory the daemon prepares for a shim: `config.json` (the OCI
//! spec, usable by any OCI runtime) and `shim.json` (how to run it).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootfsMount {
    pub fstype: String,
    pub source: String,
    pub data: String,
    pub chdir: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimOptions {
    pub id: String,
    pub tty: bool,
    pub open_stdin: bool,
    /// Close the container's stdin when the first stream's stdin closes.
    pub stdin_once: bool,
    /// json-file log to append to; None for `--log-driver none`.
    pub log_path: Option<PathBuf>,
    pub rootfs: Option<RootfsMount>,
    pub initial_size: Option<crate::protocol::WinSize>,
}

pub const CONFIG: &str = "config.json";
pub const OPTIONS: &str = "shim.json";
pub const SOCKET: &str = "shim.sock";
pub const EXIT: &str = "exit.json";
pub const PID: &str = "shim.pid";

pub fn socket_path(bundle: &Path) -> PathBuf {
    bundle.join(SOCKET)
}

pub fn exit_path(bundle: &Path) -> PathBuf {
    bundle.join(EXIT)
}

/// Writes `path` atomically (temp file + rename) so a crash never leaves half a file.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

pub fn read_exit(bundle: &Path) -> Option<crate::protocol::ExitStatus> {
    let data = std::fs::read(exit_path(bundle)).ok()?;
    serde_json::from_slice(&data).ok()
}
