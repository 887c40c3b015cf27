//! `docker network disconnect`

use anyhow::Result;
use serde_json::json;

use crate::cli::Ctx;
use crate::commands::seg;

/// Disconnect a container from a network
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] NETWORK CONTAINER")]
pub struct Args {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let body = json!({ "Container": args.container, "Force": args.force });
    super::post_ignore(
        ctx,
        &format!("/networks/{}/disconnect", seg(&args.network)),
        &body,
    )
    .await
}
