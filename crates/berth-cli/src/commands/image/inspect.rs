//! `docker image inspect`

use anyhow::Result;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::commands::system::inspect::{print_inspect, InspectOutcome};

/// Display detailed information on one or more images
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] IMAGE [IMAGE...]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let mut outcomes = Vec::new();
    for image in &args.images {
        let r = ctx
            .client
            .get_bytes(&format!("/images/{}/json", seg(image)))
            .await;
        outcomes.push(match r {
            Ok(raw) => InspectOutcome::Found(raw.to_vec()),
            Err(e) if e.is_not_found() => {
                InspectOutcome::Missing(format!("No such image: {image}"))
            }
            Err(e) => InspectOutcome::Failed(e),
        });
    }
    print_inspect(outcomes, args.format.as_deref())
}
