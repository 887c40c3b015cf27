//! Hijacked-stream plumbing shared by run, start -a, attach and exec: copying
//! stdin in, stdout/stderr out (demuxed unless TTY), terminal resize and
//! signal proxying.

use std::os::fd::AsRawFd;

use anyhow::Result;
use berth_api::client::Duplex;
use berth_api::{Client, Query};
use tokio::io::AsyncWriteExt;

/// Copies between the local stdio and a hijacked connection until the
/// container side closes its output.
pub async fn pump(conn: Box<dyn Duplex>, stdin: bool, tty: bool) -> Result<()> {
    let (rd, mut wr) = tokio::io::split(conn);
    if stdin {
        tokio::spawn(async move {
            let mut input = tokio::io::stdin();
            let _ = tokio::io::copy(&mut input, &mut wr).await;
            // Half-close so the container sees EOF on its stdin.
            let _ = wr.shutdown().await;
        });
    }
    let mut out = std::io::stdout();
    let res = if tty {
        berth_api::stdcopy::raw_copy(rd, &mut out).await
    } else {
        let mut err = std::io::stderr();
        berth_api::stdcopy::demux(rd, &mut out, &mut err).await
    };
    match res {
        Ok(()) => Ok(()),
        // The daemon closing the connection abruptly still means "done".
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Sends the local terminal size to `{prefix}/resize` now and on every SIGWINCH.
/// `prefix` is `/containers/{id}` or `/exec/{id}`.
pub fn spawn_resize(client: Client, prefix: String) {
    tokio::spawn(async move {
        let mut last = None;
        let mut sig =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
        loop {
            let size = crate::term::window_size(std::io::stdout().as_raw_fd());
            if size.is_some() && size != last {
                if let Some((h, w)) = size {
                    let q = Query::new()
                        .add("h", h.to_string())
                        .add("w", w.to_string())
                        .build();
                    // Resize can race with container exit; a failure is harmless.
                    let _ = client.post(&format!("{prefix}/resize{q}")).await;
                }
                last = size;
            }
            match sig.as_mut() {
                Some(s) => {
                    if s.recv().await.is_none() {
                        return;
                    }
                }
                None => return,
            }
        }
    });
}

/// Forwards the usual termination signals to the container (`--sig-proxy`).
pub fn spawn_sig_proxy(client: Client, id: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let signals = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ];
    for (kind, name) in signals {
        let Ok(mut s) = signal(kind) else { continue };
        let client = client.clone();
        let id = id.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                let q = Query::new().add("signal", name).build();
                let _ = client.post(&format!("/containers/{id}/kill{q}")).await;
            }
        });
    }
}
