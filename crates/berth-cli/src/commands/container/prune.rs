//! `docker container prune`

use anyhow::Result;
use berth_api::Query;
use serde_json::Value;
use std::io::{BufRead, Write};

use crate::cli::Ctx;
use crate::commands::filters_json;
use crate::errors::StatusError;
use crate::humanize::human_size;

/// Remove all stopped containers
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// Asks `question` and reads y/N from stdin; anything else is a no.
pub fn confirm(question: &str) -> Result<bool> {
    print!("{question}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| StatusError::new(1, e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Prints the ids a prune removed; returns the bytes it reclaimed.
pub async fn prune(ctx: &Ctx, filters: &[String]) -> Result<i64> {
    let q = Query::new().opt("filters", filters_json(filters)?).build();
    let resp: Value = ctx
        .client
        .post_json(&format!("/containers/prune{q}"), None::<&Value>)
        .await?;
    let deleted: Vec<&str> = resp["ContainersDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in deleted {
            println!("{id}");
        }
        println!();
    }
    Ok(resp["SpaceReclaimed"].as_i64().unwrap_or(0))
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    if !args.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let space = prune(ctx, &args.filter).await?;
    println!("Total reclaimed space: {}", human_size(space));
    Ok(())
}
