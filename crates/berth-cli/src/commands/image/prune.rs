//! `docker image prune`: POST /images/prune with `dangling=true` unless `-a`.

use anyhow::Result;
use berth_api::Query;
use serde_json::Value;

use crate::cli::Ctx;
use crate::commands::container::prune::confirm;
use crate::commands::filters_json;
use crate::humanize::human_size;

/// Remove unused images
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !args.force && !confirm(warning)? {
        return Ok(());
    }
    let mut filters = args.filter.clone();
    filters.push(format!("dangling={}", !args.all));
    let q = Query::new().opt("filters", filters_json(&filters)?).build();
    let resp: Value = ctx
        .client
        .post_json(&format!("/images/prune{q}"), None::<&Value>)
        .await?;
    if let Some(list) = resp["ImagesDeleted"].as_array().filter(|a| !a.is_empty()) {
        println!("Deleted Images:");
        for r in list {
            // One of the two per entry, as the docker CLI prints them.
            match (r["Untagged"].as_str(), r["Deleted"].as_str()) {
                (Some(t), _) if !t.is_empty() => println!("untagged: {t}"),
                (_, Some(d)) => println!("deleted: {d}"),
                _ => {}
            }
        }
        println!();
    }
    let space = resp["SpaceReclaimed"].as_i64().unwrap_or(0);
    println!("Total reclaimed space: {}", human_size(space));
    Ok(())
}
