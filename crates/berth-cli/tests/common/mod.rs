//! The end-to-end harness shared by the test binaries: a real daemon per test
//! with a private data root, exec root, socket, bridge and subnet, driven
//! through the `berth` CLI; registries (`berth registry serve`, Debian's
//! `docker-registry`); free ports and addresses. Everything a test starts
//! is torn down when its guard drops, also when the test panics. Needs
//! root, overlayfs, cgroups, nftables and Debian's busybox-static.
//!
//! - [`daemon`]: [`Daemon`], started and driven through the CLI.
//! - [`cleanup`]: what a dropped daemon leaves behind, taken away.
//! - [`image`]: busybox images for the tests.
//! - [`net`]: free ports, addresses on `lo`, HTTP probes.
//! - [`pki`]: [`Ca`], certificates for TLS tests.
//! - [`registry`]: [`Registry`] servers.
//!
//! Set `BERTH_E2E_KEEP=1` to keep the scratch directories (logs, data
//! roots) of the tests for a look afterwards.

// Each test binary uses a part of the harness.
#![allow(dead_code, unused_imports)]

pub mod cleanup;
pub mod daemon;
pub mod image;
pub mod net;
pub mod pki;
pub mod registry;

pub use daemon::{Daemon, Wrap};
pub use image::{append_file, busybox_tar, busybox_tar_with, image_id};
pub use net::{eventually, free_port, http_get, wait_for_port, HostAddr};
pub use pki::Ca;
pub use registry::Registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The stdout of a command that must have succeeded (`what` names it).
pub fn ok_output(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    text(&out)
}

/// Whether the scratch directories stay after the tests (`BERTH_E2E_KEEP`).
pub fn keep_scratch() -> bool {
    std::env::var_os("BERTH_E2E_KEEP").is_some_and(|v| !v.is_empty() && v != "0")
}

/// A fresh directory `/tmp/berth-<name>-<pid>`, removed on drop.
pub struct Scratch(Option<PathBuf>);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        cleanup::sweep_stale_scratch();
        let dir = PathBuf::from(format!("/tmp/berth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(Some(dir))
    }

    /// The path, no longer removed on drop: the caller takes it over.
    pub fn into_path(mut self) -> PathBuf {
        self.0.take().unwrap()
    }
}

/// A fresh scratch directory (see [`Scratch`]).
pub fn scratch(name: &str) -> Scratch {
    Scratch::new(name)
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.as_deref().unwrap()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            if !keep_scratch() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// The stock docker CLI that comparison tests run beside berth's. It is on
/// every machine these tests run on (CI included), so a missing one fails
/// the test instead of skipping what it checks.
pub fn require_docker() {
    let found = Command::new("docker")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "the stock docker CLI is not on PATH");
}
