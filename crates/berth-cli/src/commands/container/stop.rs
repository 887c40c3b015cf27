//! `docker stop`

use anyhow::Result;
use berth_api::Query;

use crate::cli::Ctx;
use crate::commands::seg;

/// Stop one or more running containers
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER [CONTAINER...]")]
pub struct Args {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub timeout: Option<i64>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let q = Query::new()
        .opt("signal", args.signal.as_deref())
        .opt("t", args.timeout.map(|t| t.to_string()))
        .build();
    super::for_each(&args.containers, |c| {
        let path = format!("/containers/{}/stop{q}", seg(&c));
        let client = ctx.client.clone();
        async move { client.post(&path).await }
    })
    .await
}
