//! `docker load`

use anyhow::{anyhow, Result};
use berth_api::{reader_body, Query};
use hyper::Method;

use crate::cli::Ctx;

/// Load an image from a tar archive or STDIN
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input", value_name = "string")]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let body = match &args.input {
        Some(p) => reader_body(
            tokio::fs::File::open(p)
                .await
                .map_err(|e| anyhow!("open {p}: {}", super::import::io_reason(&e)))?,
        ),
        None => reader_body(tokio::io::stdin()),
    };
    let q = Query::new().flag("quiet", args.quiet).build();
    let stream = ctx
        .client
        .stream(
            Method::POST,
            &format!("/images/load{q}"),
            Some(body),
            Some("application/x-tar"),
        )
        .await?;
    // docker prints the "Loaded image" lines even with -q (quiet only drops progress).
    berth_api::jsonmessage::display_stream(stream, &mut std::io::stdout(), false, |_| {})
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
