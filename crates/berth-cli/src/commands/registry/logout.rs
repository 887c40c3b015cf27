//! `docker logout`: forgets the stored credentials of a registry.

use anyhow::Result;

use super::credentials;
use crate::cli::Ctx;

/// Log out from a registry
#[derive(Debug, clap::Args)]
#[command(override_usage = "[SERVER]")]
pub struct Args {
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let server = args
        .server
        .unwrap_or_else(|| credentials::INDEX_SERVER.into());
    let key = credentials::server_key(&server);
    if credentials::erase(&ctx.config.dir, &server)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(())
}
