//! `docker unpause`

use anyhow::Result;

use crate::cli::Ctx;
use crate::commands::seg;

/// Unpause all processes within one or more containers
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTAINER [CONTAINER...]")]
pub struct Args {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    super::for_each(&args.containers, |c| {
        let path = format!("/containers/{}/unpause", seg(&c));
        let client = ctx.client.clone();
        async move { client.post(&path).await }
    })
    .await
}
