//! `docker container inspect`

use anyhow::Result;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::commands::system::inspect::{print_inspect, InspectOutcome};

/// Display detailed information on one or more containers
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER [CONTAINER...]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let size = if args.size { "?size=1" } else { "" };
    let mut outcomes = Vec::new();
    for c in &args.containers {
        let r = ctx
            .client
            .get_bytes(&format!("/containers/{}/json{size}", seg(c)))
            .await;
        outcomes.push(match r {
            Ok(raw) => InspectOutcome::Found(raw.to_vec()),
            Err(e) if e.is_not_found() => {
                InspectOutcome::Missing(format!("No such container: {c}"))
            }
            Err(e) => InspectOutcome::Failed(e),
        });
    }
    print_inspect(outcomes, args.format.as_deref())
}
