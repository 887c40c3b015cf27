//! `docker exec`: create an exec instance, start it hijacked (or detached),
//! then exit with its exit code.

use std::io::IsTerminal;

use anyhow::Result;
use berth_api::json_body;
use berth_api::types::{ExecConfig, ExecInspect, ExecStartConfig, IdResponse};

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::StatusError;
use crate::opts::env;
use crate::{stream, term};

/// Execute a command in a running container
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER COMMAND [ARG...]")]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(
        value_name = "COMMAND",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let mut envs = Vec::new();
    for f in &args.env_file {
        envs.extend(env::read_env_file(f)?);
    }
    envs.extend(
        args.env
            .iter()
            .filter_map(|e| env::resolve_env(e, |k| std::env::var(k).ok())),
    );
    let attach_stdin = args.interactive && !args.detach;
    let config = ExecConfig {
        attach_stdin,
        attach_stdout: !args.detach,
        attach_stderr: !args.detach,
        detach_keys: args.detach_keys.clone(),
        tty: args.tty,
        env: envs,
        cmd: args.command.clone(),
        privileged: args.privileged,
        user: args.user.clone().unwrap_or_default(),
        working_dir: args.workdir.clone().unwrap_or_default(),
    };
    let client = ctx.client.clone();
    let created: IdResponse = client
        .post_json(
            &format!("/containers/{}/exec", seg(&args.container)),
            Some(&config),
        )
        .await?;
    let id = created.id;
    let start = ExecStartConfig {
        detach: args.detach,
        tty: args.tty,
    };
    if args.detach {
        client
            .request(
                hyper::Method::POST,
                &format!("/exec/{id}/start"),
                Some(json_body(&start)?),
                None,
            )
            .await?;
        return Ok(());
    }
    if attach_stdin && args.tty && !std::io::stdin().is_terminal() {
        return Err(StatusError::new(1, "the input device is not a TTY").into());
    }
    let conn = client
        .hijack(&format!("/exec/{id}/start"), Some(json_body(&start)?))
        .await?;
    let raw = if args.tty && attach_stdin {
        term::RawMode::enable(0)
    } else {
        None
    };
    if args.tty && std::io::stdout().is_terminal() {
        stream::spawn_resize(client.clone(), format!("/exec/{id}"));
    }
    let res = stream::pump(conn, attach_stdin, args.tty).await;
    drop(raw);
    res?;
    let inspect: ExecInspect = client.get_json(&format!("/exec/{id}/json")).await?;
    match inspect.exit_code.unwrap_or(0) {
        0 => Ok(()),
        code => Err(StatusError::silent(code as i32).into()),
    }
}
