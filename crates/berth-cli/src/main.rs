//! The `berth` binary: a docker-compatible client, plus the daemon and shim
//! entry points (the same binary re-executed, see DESIGN.md).

mod cli;
mod commands;
mod config;
mod context;
mod errors;
mod formatter;
mod humanize;
mod opts;
mod pflag;
mod stream;
mod term;
#[cfg(test)]
mod testenv;
mod tlsopts;
mod usage;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    // Dispatch before any heavy init: the daemon builds its own tokio runtime and
    // the shim must stay single-threaded, so neither may inherit one from us.
    if let Some(entry) = internal_entry(&argv) {
        return match entry {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("{err:#}");
                ExitCode::FAILURE
            }
        };
    }
    let code = cli::run(argv);
    let _ = std::io::stdout().flush();
    // Exit right away: a blocking stdin reader thread may still be parked in read(2),
    // and dropping the runtime would wait for it.
    std::process::exit(code)
}

/// Runs `berth daemon`, `berthd` or `berth shim` when argv asks for one of them.
fn internal_entry(argv: &[String]) -> Option<anyhow::Result<()>> {
    let prog = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("berth");
    if prog == "berthd" {
        return Some(berth_daemon::main(argv[1..].to_vec()));
    }
    match argv.get(1).map(String::as_str) {
        Some("daemon") => Some(berth_daemon::main(argv[2..].to_vec())),
        Some("shim") => Some(berth_shim::main(argv[2..].to_vec())),
        Some("registry") => {
            Some(berth_registry::server::main(argv[2..].to_vec()).map_err(Into::into))
        }
        _ => None,
    }
}
