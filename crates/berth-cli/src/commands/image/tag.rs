//! `docker tag`

use anyhow::Result;
use berth_api::Query;

use super::split_tag;
use crate::cli::Ctx;
use crate::commands::seg;

/// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
#[derive(Debug, clap::Args)]
#[command(override_usage = "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
pub struct Args {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let (repo, tag) = split_tag(&args.target);
    let q = Query::new()
        .add("repo", repo)
        .add("tag", tag.unwrap_or("latest"))
        .build();
    ctx.client
        .post(&format!("/images/{}/tag{q}", seg(&args.source)))
        .await?;
    Ok(())
}
