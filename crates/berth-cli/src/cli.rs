//! Root command line: docker's global flags and the command tree.

use anyhow::Result;
use std::path::PathBuf;

use berth_api::{Client, Host, TlsOptions};
use clap::Parser;

use crate::commands::Command;
use crate::errors;
use crate::tlsopts::{TlsFlags, DEFAULT_TLS_HOST};

/// Default daemon address when neither -H nor DOCKER_HOST is given.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A self-sufficient runtime for containers
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    disable_help_subcommand = true,
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", env = "DOCKER_HOST", value_name = "list")]
    pub host: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set the logging level ("debug", "info", "warn", "error", "fatal")
    #[arg(
        short = 'l',
        long = "log-level",
        value_name = "string",
        default_value = "info"
    )]
    pub log_level: String,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// Use TLS; implied by --tlsverify
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(
        long,
        value_name = "bool",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub tlsverify: Option<bool>,
    /// Trust certs signed only by this CA (default "~/.docker/ca.pem")
    #[arg(long, value_name = "string")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file (default "~/.docker/cert.pem")
    #[arg(long, value_name = "string")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file (default "~/.docker/key.pem")
    #[arg(long, value_name = "string")]
    pub tlskey: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Everything a command needs: the API client.
pub struct Ctx {
    pub client: Client,
}

/// Parses argv, runs the command and returns the process exit code.
pub fn run(argv: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            let code = match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
                // docker exits 125 on flag errors.
                _ => 125,
            };
            let _ = e.print();
            return code;
        }
    };
    if cli.version {
        println!(
            "Docker version {}, build berth",
            crate::commands::system::version::CLIENT_VERSION
        );
        return 0;
    }
    let Some(command) = cli.command else {
        return 0;
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("failed to start runtime: {e}");
            return 1;
        }
    };
    let tls = TlsFlags {
        tls: cli.tls,
        tlsverify: cli.tlsverify,
        tlscacert: cli.tlscacert,
        tlscert: cli.tlscert,
        tlskey: cli.tlskey,
    }
    .resolve(|name| std::env::var(name).ok());
    let host = cli.host.filter(|h| !h.is_empty()).unwrap_or_else(|| {
        if tls.is_some() {
            DEFAULT_TLS_HOST.to_string()
        } else {
            DEFAULT_HOST.to_string()
        }
    });
    match rt.block_on(dispatch(&host, tls, command)) {
        Ok(()) => 0,
        Err(e) => errors::report(&e),
    }
}

async fn dispatch(host: &str, tls: Option<TlsOptions>, command: Command) -> Result<()> {
    let host = Host::parse(host)?;
    let mut client = Client::new(host);
    if let Some(tls) = tls {
        client = client.with_tls(tls.connector()?);
    }
    let mut ctx = Ctx { client };
    // `version` prints the client half even when the daemon is down.
    if !command.is_offline() {
        ctx.client.negotiate().await?;
    }
    command.run(&mut ctx).await
}
