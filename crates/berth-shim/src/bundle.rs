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
    /// `--log-opt max-size=/max-file=`: rotate the json-file log.
    #[serde(default)]
    pub log_rotate: Option<LogRotate>,
    pub rootfs: Option<RootfsMount>,
    pub initial_size: Option<crate::protocol::WinSize>,
    /// The daemon configures the container's new network namespace itself
    /// (it belongs to the container's user namespace, so only exists once
    /// the init is cloned): the shim reports `created` and waits for the
    /// daemon's line on its stdin before the init goes on.
    #[serde(default)]
    pub net_handshake: bool,
}

/// json-file rotation: past `max_size` bytes the log moves to `<log>.1`
/// (older ones shift up) and at most `max_files` files are kept in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRotate {
    pub max_size: u64,
    pub max_files: u32,
}

pub const CONFIG: &str = "config.json";
pub const OPTIONS: &str = "shim.json";
pub const SOCKET: &str = "shim.sock";
pub const EXIT: &str = "exit.json";
pub const PID: &str = "shim.pid";

pub fn socket_path(bundle: &Path) -> PathBuf {
    bundle.join(SOCKET)
}

/// Room in `sockaddr_un.sun_path`, less the terminating NUL.
const SUN_PATH_MAX: usize = 107;

/// A path to the shim socket that fits in a `sockaddr_un`. Long bundle paths
/// (deep exec roots) go through `/proc/self/fd/N/` of an open handle on the
/// bundle directory; keep the returned handle alive while using the path.
pub fn connectable_socket_path(bundle: &Path) -> std::io::Result<(Option<std::fs::File>, PathBuf)> {
    let full = socket_path(bundle);
    if full.as_os_str().len() <= SUN_PATH_MAX {
        return Ok((None, full));
    }
    let dir = std::fs::File::open(bundle)?;
    let short = PathBuf::from(format!(
        "/proc/self/fd/{}/{SOCKET}",
        std::os::fd::AsRawFd::as_raw_fd(&dir)
    ));
    Ok((Some(dir), short))
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
