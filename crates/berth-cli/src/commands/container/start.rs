//! `docker start`

use std::io::IsTerminal;

use anyhow::Result;
use berth_api::Query;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::{api_error_text, StatusError};
use crate::{stream, term};

/// Start one or more stopped containers
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER [CONTAINER...]")]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    if args.attach || args.interactive {
        if args.containers.len() > 1 {
            return Err(StatusError::new(
                1,
                "you cannot start and attach multiple containers at once",
            )
            .into());
        }
        return start_attached(ctx, &args).await;
    }
    let mut failed = Vec::new();
    for c in &args.containers {
        match ctx
            .client
            .post(&format!("/containers/{}/start", seg(c)))
            .await
        {
            Ok(()) => println!("{c}"),
            Err(e) => {
                eprintln!("{}", api_error_text(&e));
                failed.push(c.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(
            1,
            format!("Error: failed to start containers: {}", failed.join(", ")),
        )
        .into())
    }
}

/// `start -a/-i`: attach, register a wait, start, stream, exit with the code.
async fn start_attached(ctx: &Ctx, args: &Args) -> Result<()> {
    let name = &args.containers[0];
    let info: serde_json::Value = ctx
        .client
        .get_json(&format!("/containers/{}/json", seg(name)))
        .await?;
    let id = info["Id"].as_str().unwrap_or(name).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = args.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let auto_remove = info["HostConfig"]["AutoRemove"].as_bool().unwrap_or(false);
    let client = ctx.client.clone();
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
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let wait = super::run::start_wait(&client, &id, condition).await;
    let raw = if tty && stdin {
        term::RawMode::enable(0)
    } else {
        None
    };
    let io = tokio::spawn(stream::pump(conn, stdin, tty));
    if let Err(e) = client.post(&format!("/containers/{id}/start")).await {
        drop(raw);
        return Err(e.into());
    }
    if tty && std::io::stdout().is_terminal() {
        stream::spawn_resize(client.clone(), format!("/containers/{id}"));
    }
    if !tty {
        stream::spawn_sig_proxy(client.clone(), id.clone());
    }
    let _ = io.await;
    let status = wait.await;
    drop(raw);
    match status {
        Ok(0) => Ok(()),
        Ok(code) => Err(StatusError::silent(code).into()),
        Err(msg) => Err(StatusError::new(1, msg).into()),
    }
}
