//! Root command line: docker's global flags and the command tree.

use anyhow::Result;
use berth_api::{Client, Host};
use clap::Parser;

use crate::commands::Command;
use crate::errors;

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
    let host = cli.host.unwrap_or_else(|| DEFAULT_HOST.to_string());
    match rt.block_on(dispatch(&host, command)) {
        Ok(()) => 0,
        Err(e) => errors::report(&e),
    }
}

async fn dispatch(host: &str, command: Command) -> Result<()> {
    let host = Host::parse(host)?;
    let client = Client::new(host);
    let mut ctx = Ctx { client };
    // `version` prints the client half even when the daemon is down.
    if !command.is_offline() {
        ctx.client.negotiate().await?;
    }
    command.run(&mut ctx).await
}
