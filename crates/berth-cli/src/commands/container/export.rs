//! `docker export`

use anyhow::{bail, Result};
use hyper::Method;
use std::io::IsTerminal;

use crate::cli::Ctx;
use crate::commands::seg;

/// Export a container's filesystem as a tar archive
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER")]
pub struct Args {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", value_name = "string")]
    pub output: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let path = format!("/containers/{}/export", seg(&args.container));
    let mut body = ctx.client.stream(Method::GET, &path, None, None).await?;
    match &args.output {
        Some(p) => {
            let mut f = tokio::fs::File::create(p).await?;
            tokio::io::copy(&mut body, &mut f).await?;
        }
        None => {
            tokio::io::copy(&mut body, &mut tokio::io::stdout()).await?;
        }
    }
    Ok(())
}
