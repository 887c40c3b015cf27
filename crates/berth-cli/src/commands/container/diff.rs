//! `docker diff`

use anyhow::Result;
use serde::Deserialize;

use crate::cli::Ctx;
use crate::commands::seg;

/// Inspect changes to files or directories on a container's filesystem
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTAINER")]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Deserialize)]
struct Change {
    #[serde(rename = "Path")]
    path: String,
    #[serde(rename = "Kind")]
    kind: u8,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let changes: Option<Vec<Change>> = ctx
        .client
        .get_json(&format!("/containers/{}/changes", seg(&args.container)))
        .await?;
    for c in changes.unwrap_or_default() {
        let k = match c.kind {
            0 => "C",
            1 => "A",
            _ => "D",
        };
        println!("{k} {}", c.path);
    }
    Ok(())
}
