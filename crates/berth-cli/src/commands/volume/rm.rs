//! `docker volume rm`

use anyhow::Result;
use berth_api::Query;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::{api_error_text, StatusError};

/// Remove one or more volumes
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] VOLUME [VOLUME...]")]
pub struct Args {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let q = Query::new().flag("force", args.force).build();
    let mut errors = Vec::new();
    for v in &args.volumes {
        match ctx.client.delete(&format!("/volumes/{}{q}", seg(v))).await {
            Ok(()) => println!("{v}"),
            Err(e) => errors.push(api_error_text(&e)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}
