//! `docker rm`

use anyhow::Result;
use berth_api::Query;

use crate::cli::Ctx;
use crate::commands::seg;

/// Remove one or more containers
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER [CONTAINER...]")]
pub struct Args {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let q = Query::new()
        .flag("force", args.force)
        .flag("v", args.volumes)
        .flag("link", args.link)
        .build();
    let force = args.force;
    super::for_each(&args.containers, |c| {
        let path = format!("/containers/{}{q}", seg(&c));
        let client = ctx.client.clone();
        async move {
            match client.delete(&path).await {
                // `rm -f` of something already gone is not an error for docker.
                Err(e) if force && e.is_not_found() => Ok(()),
                other => other,
            }
        }
    })
    .await
}
