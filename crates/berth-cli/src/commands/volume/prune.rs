//! `docker volume prune`

use anyhow::Result;
use berth_api::Query;
use serde_json::Value;
use std::io::{BufRead, Write};

use crate::cli::Ctx;
use crate::commands::filters_json;
use crate::errors::StatusError;
use crate::humanize::human_size;

/// Remove unused local volumes
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let what = if args.all { "all" } else { "anonymous" };
    if !args.force && !confirm(what)? {
        return Ok(());
    }
    let mut filters = args.filter.clone();
    if args.all {
        filters.push("all=true".into());
    }
    let q = Query::new().opt("filters", filters_json(&filters)?).build();
    let resp: Value = ctx
        .client
        .post_json(&format!("/volumes/prune{q}"), None::<&Value>)
        .await?;
    let deleted: Vec<&str> = resp["VolumesDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Volumes:");
        for d in deleted {
            println!("{d}");
        }
        println!();
    }
    let space = resp["SpaceReclaimed"].as_i64().unwrap_or(0);
    println!("Total reclaimed space: {}", human_size(space));
    Ok(())
}

fn confirm(what: &str) -> Result<bool> {
    print!(
        "WARNING! This will remove {what} local volumes not used by at least one container.\nAre you sure you want to continue? [y/N] "
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| StatusError::new(1, e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}
