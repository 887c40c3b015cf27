//! `system dial-stdio`: relays stdin/stdout to a connection to the daemon the
//! flags, environment and context name. It is what the far end of an `ssh://`
//! host runs (`ssh host docker system dial-stdio`), for berth's CLI and the
//! docker CLI alike; hidden from help, as in docker.

use std::io::Read;

use anyhow::{anyhow, Context as _, Result};
use berth_api::client::Duplex;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

use crate::cli::Ctx;

/// Proxy the stdio stream to the daemon connection. Should not be invoked manually.
#[derive(Debug, clap::Args)]
#[command(override_usage = "")]
pub struct Args {}

pub async fn run(ctx: &mut Ctx, _args: Args) -> Result<()> {
    let conn = ctx
        .client
        .dial()
        .await
        .map_err(|e| anyhow!("failed to open the raw stream connection: {e}"))?;
    relay(conn, stdin_chunks(), tokio::io::stdout()).await
}

/// Copies `input` to `conn` and `conn` to `output`. Ends when the daemon has
/// said all it will: when the input ends first the daemon is told so (a
/// half-close) and keeps answering; when the daemon ends first there is no
/// waiting for the input, which may never end (a terminal's). docker's rules.
async fn relay<W: AsyncWrite + Unpin>(
    conn: Box<dyn Duplex>,
    input: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    output: W,
) -> Result<()> {
    let (from_daemon, to_daemon) = tokio::io::split(conn);
    let upstream = forward_input(input, to_daemon);
    let downstream = forward_output(from_daemon, output);
    tokio::pin!(upstream, downstream);
    tokio::select! {
        res = &mut downstream => res,
        res = &mut upstream => {
            res?;
            downstream.await
        }
    }
}

/// Input chunks to the daemon, then the half-close.
async fn forward_input(
    mut input: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    mut to_daemon: WriteHalf<Box<dyn Duplex>>,
) -> Result<()> {
    while let Some(chunk) = input.recv().await {
        let chunk = chunk.context("error while reading stdin")?;
        to_daemon
            .write_all(&chunk)
            .await
            .context("error while Copy (stdin to stream)")?;
    }
    to_daemon
        .shutdown()
        .await
        .context("error while CloseWrite (stdin to stream)")
}

/// The daemon's bytes to `output` until the daemon closes.
async fn forward_output<W: AsyncWrite + Unpin>(
    mut from_daemon: ReadHalf<Box<dyn Duplex>>,
    mut output: W,
) -> Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = from_daemon
            .read(&mut buf)
            .await
            .context("error while Copy (stream to stdout)")?;
        if n == 0 {
            break;
        }
        // Flushed chunk by chunk: the peer waits for each answer.
        output.write_all(&buf[..n]).await?;
        output.flush().await?;
    }
    Ok(())
}

/// Stdin, read on a thread of its own. A read(2) cannot be cancelled: parked
/// in tokio's blocking pool it would hold up the runtime's shutdown until the
/// peer closes our stdin, while the peer waits for us to exit to see the end.
/// A plain thread is simply left behind when the process exits.
fn stdin_chunks() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let chunk = match stdin.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => Ok(buf[..n].to_vec()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One end of a socket pair as the "daemon connection", the other kept by the test.
    fn daemon_pair() -> (Box<dyn Duplex>, tokio::net::UnixStream) {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        (Box::new(a), b)
    }

    #[tokio::test]
    async fn input_end_half_closes_and_answers_still_flow() {
        let (conn, mut daemon) = daemon_pair();
        let (tx, rx) = mpsc::channel(4);
        let (out_w, mut out_r) = tokio::io::duplex(1024);
        let relay = tokio::spawn(relay(conn, rx, out_w));
        tx.send(Ok(b"request".to_vec())).await.unwrap();
        drop(tx);
        // The daemon reads the request, then EOF: the half-close.
        let mut got = Vec::new();
        daemon.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"request");
        // Its answer still comes through, and the relay ends when it closes.
        daemon.write_all(b"answer").await.unwrap();
        drop(daemon);
        relay.await.unwrap().unwrap();
        let mut out = Vec::new();
        out_r.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"answer");
    }

    #[tokio::test]
    async fn daemon_end_does_not_wait_for_input() {
        let (conn, mut daemon) = daemon_pair();
        // Input that never ends (a terminal's).
        let (_tx, rx) = mpsc::channel(4);
        let relay = tokio::spawn(relay(conn, rx, tokio::io::sink()));
        daemon.write_all(b"bye").await.unwrap();
        drop(daemon);
        tokio::time::timeout(std::time::Duration::from_secs(5), relay)
            .await
            .expect("the relay ended with the daemon's side")
            .unwrap()
            .unwrap();
    }
}
