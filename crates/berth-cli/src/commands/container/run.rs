//! `docker run`: create (pulling if needed), attach before start, wait, start,
//! then pass on the container's exit code.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Result;
use berth_api::types::ContainerWaitResponse;
use berth_api::{Client, Query};
use clap::ArgAction;
use http_body_util::BodyExt;
use hyper::Method;

use super::create::{create_container, with_help};
use super::opts::{to_create_request, ContainerOpts};
use crate::cli::Ctx;
use crate::errors::{api_error_text, StatusError};
use crate::{stream, term};

/// Create and run a new container from an image
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    override_usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]"
)]
pub struct Args {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(
        long = "sig-proxy",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub opts: ContainerOpts,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let o = &args.opts;
    let req = to_create_request(o, args.detach, &|k| std::env::var(k).ok())
        .map_err(|e| with_help(&e, "run", 125))?;
    let id = create_container(ctx, o, &req)
        .await
        .map_err(|e| with_help(&e, "run", 125))?;
    let client = ctx.client.clone();
    if args.detach {
        client
            .post(&format!("/containers/{id}/start"))
            .await
            .map_err(|e| start_error(&e))?;
        println!("{id}");
        return Ok(());
    }
    let (stdin, stdout, stderr) = (
        req.config.attach_stdin,
        req.config.attach_stdout,
        req.config.attach_stderr,
    );
    let tty = o.tty;
    if stdin && tty && !std::io::stdin().is_terminal() {
        return Err(StatusError::new(1, "the input device is not a TTY").into());
    }

    // Attach before start so no output is lost.
    let conn = if stdin || stdout || stderr {
        let q = Query::new()
            .add("stream", "1")
            .flag("stdin", stdin)
            .flag("stdout", stdout)
            .flag("stderr", stderr)
            .opt("detachKeys", args.detach_keys.as_deref())
            .build();
        Some(
            client
                .hijack(&format!("/containers/{id}/attach{q}"), None)
                .await
                .map_err(|e| with_help(&e.into(), "run", 125))?,
        )
    } else {
        None
    };

    let condition = if o.rm { "removed" } else { "next-exit" };
    let wait = start_wait(&client, &id, condition).await;

    let raw = if tty && stdin {
        term::RawMode::enable(0)
    } else {
        None
    };
    let io = conn.map(|c| tokio::spawn(stream::pump(c, stdin, tty)));

    if let Err(e) = client.post(&format!("/containers/{id}/start")).await {
        drop(raw);
        return Err(start_error(&e));
    }
    if tty && std::io::stdout().is_terminal() {
        stream::spawn_resize(client.clone(), format!("/containers/{id}"));
    }
    if args.sig_proxy && !tty {
        stream::spawn_sig_proxy(client.clone(), id.clone());
    }
    if let Some(io) = io {
        if let Ok(Err(e)) = io.await {
            drop(raw);
            return Err(StatusError::new(125, format!("berth: {e:#}")).into());
        }
    }
    let status = wait.await;
    drop(raw);
    match status {
        Ok(0) => Ok(()),
        Ok(code) => Err(StatusError::silent(code).into()),
        Err(msg) => Err(StatusError::new(125, msg).into()),
    }
}

/// Maps a start failure to docker's exit codes: 127 command not found,
/// 126 not executable, 125 anything else.
fn start_error(e: &berth_api::Error) -> anyhow::Error {
    let msg = api_error_text(e);
    let code =
        if msg.contains("executable file not found") || msg.contains("no such file or directory") {
            127
        } else if msg.contains("permission denied") || msg.contains("is a directory") {
            126
        } else {
            125
        };
    StatusError::new(
        code,
        format!("berth: {msg}\n\nRun 'berth run --help' for more information"),
    )
    .into()
}

/// Sends POST /containers/{id}/wait and returns a future of the exit code.
/// Waits (briefly) for the daemon to acknowledge the request so the wait is
/// registered before the container starts.
pub async fn start_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> impl std::future::Future<Output = Result<i32, String>> {
    let (ack_tx, ack_rx) = tokio::sync::oneshot::channel();
    let client = client.clone();
    let path = format!(
        "/containers/{id}/wait{}",
        Query::new().add("condition", condition).build()
    );
    let task = tokio::spawn(async move {
        let resp = client.request(Method::POST, &path, None, None).await;
        let _ = ack_tx.send(());
        let resp = resp.map_err(|e| api_error_text(&e))?;
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("error waiting for container: {e}"))?
            .to_bytes();
        let w: ContainerWaitResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("error waiting for container: {e}"))?;
        if let Some(err) = w.error.filter(|e| !e.message.is_empty()) {
            return Err(format!("error waiting for container: {}", err.message));
        }
        Ok(w.status_code as i32)
    });
    // A daemon that holds the headers until exit must not block the start.
    let _ = tokio::time::timeout(Duration::from_millis(300), ack_rx).await;
    async move {
        match task.await {
            Ok(r) => r,
            Err(e) => Err(e.to_string()),
        }
    }
}
