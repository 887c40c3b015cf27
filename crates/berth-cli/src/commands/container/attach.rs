//! `docker attach`

use std::io::IsTerminal;

use anyhow::Result;
use berth_api::Query;
use clap::ArgAction;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::StatusError;
use crate::{stream, term};

/// Attach local standard input, output, and error streams to a running container
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER")]
pub struct Args {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(
        long = "sig-proxy",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub sig_proxy: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let info: serde_json::Value = ctx
        .client
        .get_json(&format!("/containers/{}/json", seg(&args.container)))
        .await?;
    if !info["State"]["Running"].as_bool().unwrap_or(false) {
        return Err(StatusError::new(
            1,
            "You cannot attach to a stopped container, start it first",
        )
        .into());
    }
    if info["State"]["Paused"].as_bool().unwrap_or(false) {
        return Err(StatusError::new(
            1,
            "You cannot attach to a paused container, unpause it first",
        )
        .into());
    }
    let id = info["Id"].as_str().unwrap_or(&args.container).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !args.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let client = ctx.client.clone();
    let wait = super::run::start_wait(&client, &id, "not-running").await;
    let q = Query::new()
        .add("stream", "1")
        .flag("stdin", stdin)
        .add("stdout", "1")
        .add("stderr", "1")
        .opt("detachKeys", args.detach_keys.as_deref())
        .build();
    let conn = client
        .hijack(&format!("/containers/{id}/attach{q}"), None)
        .await?;
    let raw = if tty && stdin && std::io::stdin().is_terminal() {
        term::RawMode::enable(0)
    } else {
        None
    };
    if tty && std::io::stdout().is_terminal() {
        stream::spawn_resize(client.clone(), format!("/containers/{id}"));
    }
    if args.sig_proxy && !tty {
        stream::spawn_sig_proxy(client.clone(), id.clone());
    }
    let res = stream::pump(conn, stdin, tty).await;
    drop(raw);
    res?;
    match wait.await {
        Ok(0) => Ok(()),
        Ok(code) => Err(StatusError::silent(code).into()),
        Err(msg) => Err(StatusError::new(1, msg).into()),
    }
}
