//! `docker context show`

use anyhow::Result;

use crate::cli::ClientConfig;

/// Print the name of the current context
#[derive(Debug, clap::Args)]
#[command(override_usage = "")]
pub struct Args {}

/// Prints the name only: like docker, a context that does not exist is no error here.
pub fn run(config: &ClientConfig, _args: Args) -> Result<()> {
    println!("{}", config.context);
    Ok(())
}
