//! berth-shim: the per-container supervisor process (`berth shim`).
//!
//! The daemon starts one shim per running container. The shim creates the
//! container through `berth-runtime`, then stays its parent: it writes the
//! logs, serves attach/exec/kill/resize on a unix socket in the bundle and
//! records the exit status in `exit.json`. Containers and their logs thus
//! survive a daemon restart; the daemon reconnects to the socket.

pub mod bundle;
pub mod logfile;
pub mod protocol;
mod server;

use anyhow::Context;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

/// Entry point of `berth shim --bundle DIR [--stream-fd N]`.
///
/// Prints one [`protocol::StartReport`] JSON line on stdout once the container
/// runs or failed to start, then keeps supervising it.
pub fn main(args: Vec<String>) -> anyhow::Result<()> {
    let mut bundle = None;
    let mut stream_fd = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--bundle" => bundle = it.next().map(PathBuf::from),
            "--stream-fd" => stream_fd = it.next().and_then(|v| v.parse::<i32>().ok()),
            other => anyhow::bail!("shim: unknown argument {other}"),
        }
    }
    let bundle = bundle.context("shim: --bundle is required")?;
    let opts: bundle::ShimOptions = serde_json::from_slice(
        &std::fs::read(bundle.join(bundle::OPTIONS)).context("read shim options")?,
    )
    .context("parse shim options")?;
    let spec: oci_spec::runtime::Spec = serde_json::from_slice(
        &std::fs::read(bundle.join(bundle::CONFIG)).context("read config.json")?,
    )
    .context("parse config.json")?;
    // SAFETY: the daemon passes this descriptor to us and nothing else owns it.
    let initial_stream = stream_fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    let _ = std::fs::write(bundle.join(bundle::PID), std::process::id().to_string());

    let launch = server::Launch {
        bundle,
        opts,
        spec,
        initial_stream,
    };
    let mut server = match server::Server::start(launch) {
        Ok(s) => s,
        Err(e) => {
            report(&protocol::StartReport {
                error: Some(format!("{e:#}")),
                ..Default::default()
            });
            std::process::exit(1);
        }
    };
    report(&protocol::StartReport {
        pid: Some(server.init_pid()),
        ..Default::default()
    });
    // The daemon reads our stdout only until the report, and writes our
    // stdin (a pipe with `net_handshake`) only before it; detach from both.
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0);
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
    }
    let _ = server.bundle();
    server.run()
}

pub(crate) fn report(r: &protocol::StartReport) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, r);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}
