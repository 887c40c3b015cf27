//! `docker rename`

use anyhow::{bail, Result};
use berth_api::Query;

use crate::cli::Ctx;
use crate::commands::seg;

/// Rename a container
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTAINER NEW_NAME")]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let new_name = args.new_name.trim();
    if new_name.is_empty() || args.container.trim().is_empty() {
        bail!("Error: neither old nor new names may be empty");
    }
    let q = Query::new().add("name", new_name).build();
    ctx.client
        .post(&format!("/containers/{}/rename{q}", seg(&args.container)))
        .await?;
    Ok(())
}
