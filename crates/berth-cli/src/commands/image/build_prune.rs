//! `docker builder prune`: POST /build/prune, printing what the docker CLI
//! prints (the removed cache objects, then the space reclaimed).

use anyhow::Result;
use berth_api::Query;
use serde_json::Value;

use crate::cli::Ctx;
use crate::commands::container::prune::confirm;
use crate::commands::filters_json;
use crate::humanize::human_size;

/// Remove build cache
#[derive(Debug, clap::Args)]
#[command(override_usage = "")]
pub struct Args {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Amount of disk space to keep for cache (accepted, not honoured)
    #[arg(long = "keep-storage", value_name = "bytes")]
    pub keep_storage: Option<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let warning = if args.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let q = Query::new()
        .flag("all", args.all)
        .opt("filters", filters_json(&args.filter)?)
        .build();
    let resp: Value = ctx
        .client
        .post_json(&format!("/build/prune{q}"), None::<&Value>)
        .await?;
    if let Some(list) = resp["CachesDeleted"].as_array().filter(|a| !a.is_empty()) {
        println!("Deleted build cache objects:");
        for id in list.iter().filter_map(Value::as_str) {
            println!("{id}");
        }
        println!();
    }
    let space = resp["SpaceReclaimed"].as_i64().unwrap_or(0);
    println!("Total reclaimed space: {}", human_size(space));
    Ok(())
}
