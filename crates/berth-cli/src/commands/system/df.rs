//! `docker system df`: disk usage by images, containers, volumes and build cache.

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::formatter::{write_list, Format};
use crate::humanize::go_human_size;

mod verbose;

/// Show docker disk usage
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

const DEFAULT_TABLE: &str = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

fn headers() -> Value {
    json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"})
}

/// "1.2kB (45%)" as the docker CLI prints reclaimable space: go-units'
/// HumanSize and Go's integer division for the share.
fn reclaimable(part: i64, total: i64, with_percent: bool) -> String {
    if with_percent && total > 0 {
        format!("{} ({}%)", go_human_size(part), part * 100 / total)
    } else {
        go_human_size(part)
    }
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The summary rows, by the docker CLI's `diskUsage*Context` rules.
pub fn rows(df: &Value) -> Vec<Value> {
    let empty = Vec::new();
    let list = |key: &str| df[key].as_array().unwrap_or(&empty);
    vec![
        images_row(list("Images"), i(&df["LayersSize"])),
        containers_row(list("Containers")),
        volumes_row(list("Volumes")),
        build_cache_row(list("BuildCache")),
    ]
}

/// Images take the layers' size; what no container's image holds on its
/// own (beyond what it shares) is reclaimable. -1 marks a size unknown.
fn images_row(images: &[Value], layers_size: i64) -> Value {
    let used: i64 = images
        .iter()
        .filter(|x| i(&x["Containers"]) != 0)
        .filter(|x| i(&x["Size"]) != -1 && i(&x["SharedSize"]) != -1)
        .map(|x| i(&x["Size"]) - i(&x["SharedSize"]))
        .sum();
    let active = images.iter().filter(|x| i(&x["Containers"]) > 0).count();
    json!({
        "Type": "Images", "TotalCount": images.len(), "Active": active,
        "Size": go_human_size(layers_size),
        "Reclaimable": reclaimable(layers_size - used, layers_size, true),
    })
}

fn containers_row(containers: &[Value]) -> Value {
    let active = |x: &Value| {
        let state = x["State"].as_str().unwrap_or_default();
        ["running", "paused", "restarting"]
            .iter()
            .any(|s| state.contains(s))
    };
    let size: i64 = containers.iter().map(|x| i(&x["SizeRw"])).sum();
    let idle: i64 = containers
        .iter()
        .filter(|x| !active(x))
        .map(|x| i(&x["SizeRw"]))
        .sum();
    json!({
        "Type": "Containers", "TotalCount": containers.len(),
        "Active": containers.iter().filter(|x| active(x)).count(),
        "Size": go_human_size(size), "Reclaimable": reclaimable(idle, size, true),
    })
}

/// Volumes whose size the daemon did not compute (-1) count for nothing.
fn volumes_row(volumes: &[Value]) -> Value {
    let usage = |x: &Value, key: &str| i(&x["UsageData"][key]);
    let sized = || volumes.iter().filter(|x| usage(x, "Size") != -1);
    let size: i64 = sized().map(|x| usage(x, "Size")).sum();
    let unused: i64 = sized()
        .filter(|x| usage(x, "RefCount") == 0)
        .map(|x| usage(x, "Size"))
        .sum();
    json!({
        "Type": "Local Volumes", "TotalCount": volumes.len(),
        "Active": volumes.iter().filter(|x| usage(x, "RefCount") > 0).count(),
        "Size": go_human_size(size), "Reclaimable": reclaimable(unused, size, true),
    })
}

/// The build cache takes what its records do not share; all of it but the
/// records in use is reclaimable.
fn build_cache_row(cache: &[Value]) -> Value {
    let flag = |x: &Value, key: &str| x[key].as_bool() == Some(true);
    let size: i64 = cache
        .iter()
        .filter(|x| !flag(x, "Shared"))
        .map(|x| i(&x["Size"]))
        .sum();
    let in_use: i64 = cache
        .iter()
        .filter(|x| flag(x, "InUse") && !flag(x, "Shared"))
        .map(|x| i(&x["Size"]))
        .sum();
    json!({
        "Type": "Build Cache", "TotalCount": cache.len(),
        "Active": cache.iter().filter(|x| flag(x, "InUse")).count(),
        "Size": go_human_size(size), "Reclaimable": reclaimable(size - in_use, size, false),
    })
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let df: Value = ctx.client.get_json("/system/df").await?;
    if args.verbose {
        let now = chrono::Utc::now().timestamp();
        return verbose::write(&mut std::io::stdout(), args.format.as_deref(), &df, now);
    }
    let format = match &args.format {
        Some(f) => Format::parse(f, DEFAULT_TABLE),
        None => Format::Table(DEFAULT_TABLE.into()),
    };
    write_list(&mut std::io::stdout(), &format, &headers(), &rows(&df))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_usage() {
        let df = json!({
            "LayersSize": 2000,
            "Images": [{"Size": 1000, "SharedSize": 0, "Containers": 1}, {"Size": 1000, "SharedSize": 0, "Containers": 0}],
            "Containers": [{"SizeRw": 10, "State": "running"}, {"SizeRw": 30, "State": "exited"}],
            "Volumes": [], "BuildCache": [],
        });
        let r = rows(&df);
        assert_eq!(r[0]["Reclaimable"], "1kB (50%)");
        assert_eq!(r[1]["Active"], 1);
        assert_eq!(r[1]["Reclaimable"], "30B (75%)");
        assert_eq!(r[3]["Reclaimable"], "0B");
    }
}
