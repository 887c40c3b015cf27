//! `docker system prune`: stopped containers, unused networks, dangling
//! images (all unused ones with -a) and build cache.

use anyhow::Result;
use berth_api::Query;
use serde_json::Value;

use crate::cli::Ctx;
use crate::commands::container::prune::{confirm, prune as prune_containers};
use crate::commands::filters_json;
use crate::humanize::human_size;

/// Remove unused data
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long = "volumes")]
    pub volumes: bool,
}

fn warning(all: bool, volumes: bool) -> String {
    let mut items = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if volumes {
        items.push("all anonymous volumes not used by at least one container");
    }
    items.push(if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    items.push(if all {
        "all build cache"
    } else {
        "unused build cache"
    });
    let list: Vec<String> = items.iter().map(|i| format!("  - {i}")).collect();
    format!("WARNING! This will remove:\n{}\n", list.join("\n"))
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    if !args.force && !confirm(&warning(args.all, args.volumes))? {
        return Ok(());
    }
    let mut space = prune_containers(ctx, &args.filter).await?;
    let filters = filters_json(&args.filter)?;
    // Networks and volumes first so images they pinned can go too; a daemon
    // without those endpoints simply has nothing to prune there.
    if let Ok(resp) = ctx
        .client
        .post_json::<_, Value>(
            &format!(
                "/networks/prune{}",
                Query::new().opt("filters", filters.clone()).build()
            ),
            None::<&Value>,
        )
        .await
    {
        if let Some(list) = resp["NetworksDeleted"].as_array().filter(|a| !a.is_empty()) {
            println!("Deleted Networks:");
            for n in list.iter().filter_map(Value::as_str) {
                println!("{n}");
            }
            println!();
        }
    }
    if args.volumes {
        if let Ok(resp) = ctx
            .client
            .post_json::<_, Value>(
                &format!(
                    "/volumes/prune{}",
                    Query::new().opt("filters", filters.clone()).build()
                ),
                None::<&Value>,
            )
            .await
        {
            if let Some(list) = resp["VolumesDeleted"].as_array().filter(|a| !a.is_empty()) {
                println!("Deleted Volumes:");
                for n in list.iter().filter_map(Value::as_str) {
                    println!("{n}");
                }
                println!();
            }
            space += resp["SpaceReclaimed"].as_i64().unwrap_or(0);
        }
    }
    let mut image_filters = args.filter.clone();
    if args.all {
        image_filters.push("dangling=false".into());
    }
    let q = Query::new()
        .opt("filters", filters_json(&image_filters)?)
        .build();
    let resp: Value = ctx
        .client
        .post_json(&format!("/images/prune{q}"), None::<&Value>)
        .await?;
    if let Some(list) = resp["ImagesDeleted"].as_array().filter(|a| !a.is_empty()) {
        println!("Deleted Images:");
        for r in list {
            if let Some(t) = r["Untagged"].as_str() {
                println!("untagged: {t}");
            }
            if let Some(d) = r["Deleted"].as_str() {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    space += resp["SpaceReclaimed"].as_i64().unwrap_or(0);
    println!("Total reclaimed space: {}", human_size(space));
    Ok(())
}
