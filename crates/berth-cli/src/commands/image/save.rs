//! `docker save`

use anyhow::{bail, Result};
use berth_api::Query;
use hyper::Method;
use std::io::IsTerminal;

use crate::cli::Ctx;

/// Save one or more images to a tar archive (streamed to STDOUT by default)
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] IMAGE [IMAGE...]")]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let mut q = Query::new();
    for i in &args.images {
        q = q.add("names", i);
    }
    let mut body = ctx
        .client
        .stream(
            Method::GET,
            &format!("/images/get{}", q.build()),
            None,
            None,
        )
        .await?;
    match &args.output {
        Some(path) => {
            let mut f = tokio::fs::File::create(path).await?;
            tokio::io::copy(&mut body, &mut f).await?;
        }
        None => {
            tokio::io::copy(&mut body, &mut tokio::io::stdout()).await?;
        }
    }
    Ok(())
}
