//! Root command line: docker's global flags and the command tree.

use anyhow::Result;
use std::path::PathBuf;

use berth_api::{Client, Host};
use clap::{CommandFactory, FromArgMatches, Parser};

use crate::commands::Command;
use crate::config;
use crate::context::resolve::{self, Flags};
use crate::context::{Endpoint, Store, DEFAULT};
use crate::errors::{self, clap_errors};
use crate::tlsopts::TlsFlags;

/// Default daemon address when neither -H nor DOCKER_HOST nor a context gives one.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A self-sufficient runtime for containers
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    disable_help_subcommand = true,
    disable_version_flag = true,
    arg_required_else_help = true,
    override_usage = "[OPTIONS] COMMAND [ARG...]"
)]
pub struct Cli {
    /// Location of client config files (default "~/.docker")
    #[arg(long = "config", value_name = "string")]
    pub config: Option<PathBuf>,
    /// Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "docker context use")
    #[arg(short = 'c', long = "context", value_name = "string")]
    pub context: Option<String>,
    /// Daemon socket to connect to
    // Not `env = "DOCKER_HOST"`: the flag and the variable rank differently
    // against contexts (see `context::resolve`). A list, as docker's: a
    // second -H is refused (`TooManyHosts`), not taken in the first's place.
    #[arg(short = 'H', long = "host", value_name = "list")]
    pub host: Vec<String>,
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

/// `-H` given more than once: docker's flag is a list, but names one daemon.
#[derive(Debug)]
struct TooManyHosts;

impl std::fmt::Display for TooManyHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Specify only one -H")
    }
}

impl std::error::Error for TooManyHosts {}

/// Everything a command needs: the API client and the client configuration.
pub struct Ctx {
    pub client: Client,
    pub config: ClientConfig,
}

/// The client configuration of this invocation: the config dir and the
/// context the global flags and the environment choose.
pub struct ClientConfig {
    /// `--config`, `$DOCKER_CONFIG` or `~/.docker`.
    pub dir: PathBuf,
    /// The context in use (`default` included).
    pub context: String,
    /// The default context's endpoint (`-H`/`DOCKER_HOST`, `--tls*`).
    pub default_endpoint: Endpoint,
    /// `DOCKER_HOST` is set: it hides the current context, `context ls`/`use` warn.
    pub docker_host_env: bool,
}

impl ClientConfig {
    fn from_flags(cli: &Cli, env: impl Fn(&str) -> Option<String>) -> Result<ClientConfig> {
        let dir = config::dir(cli.config.as_deref(), &env);
        // As docker: a config.json that does not parse is warned about, not fatal.
        let current = match config::ConfigFile::load(&dir) {
            Ok(f) => f.current_context().map(str::to_string),
            Err(e) => {
                eprintln!("WARNING: {e:#}");
                None
            }
        };
        let flags = Flags {
            context: cli.context.as_deref(),
            host: cli.host.first().map(String::as_str),
        };
        let context = resolve::context_name(flags, &env, current.as_deref())?;
        let host = match cli.host.as_slice() {
            [] => None,
            [host] => Some(host.as_str()),
            _ => return Err(TooManyHosts.into()),
        };
        let tls = TlsFlags {
            tls: cli.tls,
            tlsverify: cli.tlsverify,
            tlscacert: cli.tlscacert.clone(),
            tlscert: cli.tlscert.clone(),
            tlskey: cli.tlskey.clone(),
        }
        .resolve(&env);
        Ok(ClientConfig {
            default_endpoint: resolve::default_endpoint(host, &env, tls),
            docker_host_env: env("DOCKER_HOST").is_some_and(|h| !h.is_empty()),
            dir,
            context,
        })
    }

    /// The contexts store in the config dir.
    pub fn store(&self) -> Store {
        Store::new(&self.dir)
    }

    /// Where the context in use connects.
    pub fn endpoint(&self) -> Result<Endpoint> {
        if self.context == DEFAULT {
            return Ok(self.default_endpoint.clone());
        }
        Endpoint::of_context(&self.store(), &self.context)
    }
}

/// The clap command tree, with docker's usage lines and pflag's flag rules.
pub fn command() -> clap::Command {
    crate::usage::with_docker_usage(crate::pflag::apply(Cli::command()))
}

/// Parses argv as docker would: its wording and exit status for mistakes.
fn parse(argv: &[String]) -> Result<Cli, i32> {
    let mut cmd = command();
    let parsed = cmd
        .try_get_matches_from_mut(argv)
        .and_then(|m| Cli::from_arg_matches(&m));
    let e = match parsed {
        Ok(cli) => return Ok(cli),
        Err(e) => e,
    };
    if let Some(status) = clap_errors::translate(&e, &mut cmd, argv) {
        eprintln!("{}", status.message);
        return Err(status.code);
    }
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            print_help(&e);
            Err(0)
        }
        ErrorKind::DisplayVersion => {
            let _ = e.print();
            Err(0)
        }
        // docker exits 125 on flag errors.
        _ => {
            let _ = e.print();
            Err(125)
        }
    }
}

/// Prints the help clap rendered for `e` where clap would, with bool flags
/// shown as docker shows them, and in color only on a terminal.
fn print_help(e: &clap::Error) {
    use std::io::{IsTerminal, Write};
    let rendered = e.render();
    let to_stderr = e.use_stderr();
    let terminal = if to_stderr {
        std::io::stderr().is_terminal()
    } else {
        std::io::stdout().is_terminal()
    };
    let colored = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let text = if colored {
        rendered.ansi().to_string()
    } else {
        rendered.to_string()
    };
    let text = crate::pflag::docker_help(&text);
    let _ = if to_stderr {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
}

/// Parses argv, runs the command and returns the process exit code.
pub fn run(argv: Vec<String>) -> i32 {
    let mut cli = match parse(&argv) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if cli.version {
        println!(
            "Docker version {}, build berth",
            crate::commands::system::version::CLIENT_VERSION
        );
        return 0;
    }
    let Some(command) = cli.command.take() else {
        // Only flags (`berth -D`, `berth -v=false`): docker shows its help.
        let help = command().render_help().to_string();
        print!("{}", crate::pflag::docker_help(&help));
        return 0;
    };
    let config = match ClientConfig::from_flags(&cli, |name| std::env::var(name).ok()) {
        Ok(c) => c,
        // docker resolves the daemon's endpoint as it starts, and says so,
        // for every command but those that only read the config dir.
        Err(e) if e.is::<TooManyHosts>() && !matches!(command, Command::Context(_)) => {
            let e = e.context("Failed to initialize: unable to resolve docker endpoint");
            return errors::report(&e);
        }
        Err(e) => return errors::report(&e),
    };
    let command = match command {
        // Context commands only read and write the config dir: they run whatever
        // the current context is (even a missing one) and need no daemon.
        Command::Context(sub) => {
            return match sub.run(&config) {
                Ok(()) => 0,
                Err(e) => errors::report(&e),
            }
        }
        command => command,
    };
    let endpoint = match config.endpoint() {
        Ok(ep) => ep,
        Err(e) => {
            let e = e.context("Failed to initialize: unable to resolve docker endpoint");
            return errors::report(&e);
        }
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
    match rt.block_on(dispatch(endpoint, config, command)) {
        Ok(()) => 0,
        Err(e) => errors::report(&e),
    }
}

/// A host that cannot be used, in docker's words: it fails while the CLI
/// initializes, before any command runs.
fn host_error(e: berth_api::Error) -> anyhow::Error {
    match e {
        berth_api::Error::InvalidHost(h) => anyhow::anyhow!(
            "Failed to initialize: unable to resolve docker endpoint: invalid bind address format: {h}"
        ),
        other => anyhow::anyhow!("Failed to initialize: {other}"),
    }
}

async fn dispatch(endpoint: Endpoint, config: ClientConfig, command: Command) -> Result<()> {
    let host = Host::parse(&endpoint.host).map_err(host_error)?;
    let mut client = Client::new(host);
    if let Some(tls) = endpoint.tls {
        client = client.with_tls(tls.connector()?);
    }
    let mut ctx = Ctx { client, config };
    // `version` prints the client half even when the daemon is down.
    if !command.is_offline() {
        ctx.client.negotiate().await?;
    }
    command.run(&mut ctx).await
}
