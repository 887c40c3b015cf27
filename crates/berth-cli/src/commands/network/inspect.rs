//! `docker network inspect`

use anyhow::Result;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::commands::system::inspect::{print_inspect, InspectOutcome};

/// Display detailed information on one or more networks
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] NETWORK [NETWORK...]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let q = if args.verbose { "?verbose=true" } else { "" };
    let mut outcomes = Vec::new();
    for n in &args.networks {
        // docker prints the daemon's "network NAME not found" here.
        outcomes.push(
            match ctx
                .client
                .get_bytes(&format!("/networks/{}{q}", seg(n)))
                .await
            {
                Ok(raw) => InspectOutcome::Found(raw.to_vec()),
                Err(e) => InspectOutcome::Failed(e),
            },
        );
    }
    print_inspect(outcomes, args.format.as_deref())
}
