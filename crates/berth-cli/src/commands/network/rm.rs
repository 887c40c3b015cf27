//! `docker network rm`

use anyhow::Result;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::{api_error_text, StatusError};

/// Remove one or more networks
#[derive(Debug, clap::Args)]
#[command(override_usage = "NETWORK [NETWORK...]")]
pub struct Args {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let mut failed = false;
    for n in &args.networks {
        match ctx.client.delete(&format!("/networks/{}", seg(n))).await {
            Ok(()) => println!("{n}"),
            Err(e) if args.force && e.is_not_found() => {}
            Err(e) => {
                // docker prints each error as it goes, then exits 1 with
                // its bare status error ("exit status 1").
                eprintln!("{}", api_error_text(&e));
                failed = true;
            }
        }
    }
    if failed {
        Err(StatusError::new(1, "exit status 1").into())
    } else {
        Ok(())
    }
}
