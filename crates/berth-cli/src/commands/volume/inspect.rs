//! `docker volume inspect`

use anyhow::Result;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::commands::system::inspect::{print_inspect, InspectOutcome};

/// Display detailed information on one or more volumes
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] VOLUME [VOLUME...]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let mut outcomes = Vec::new();
    for v in &args.volumes {
        // docker prints the daemon's "get NAME: no such volume" here.
        outcomes.push(
            match ctx.client.get_bytes(&format!("/volumes/{}", seg(v))).await {
                Ok(raw) => InspectOutcome::Found(raw.to_vec()),
                Err(e) => InspectOutcome::Failed(e),
            },
        );
    }
    print_inspect(outcomes, args.format.as_deref())
}
