//! `docker system df`: disk usage by images, containers, volumes and build cache.

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::formatter::{write_list, Format};
use crate::humanize::human_size;

/// Show docker disk usage
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
}

const DEFAULT_TABLE: &str = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

fn headers() -> Value {
    json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"})
}

/// "123B (45%)" as the docker CLI prints reclaimable space.
fn reclaimable(part: i64, total: i64, with_percent: bool) -> String {
    if with_percent && total > 0 {
        format!("{} ({}%)", human_size(part), part * 100 / total)
    } else {
        human_size(part)
    }
}

fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

pub fn rows(df: &Value) -> Vec<Value> {
    let empty = Vec::new();
    let images = df["Images"].as_array().unwrap_or(&empty);
    let img_size: i64 = images.iter().map(|x| i(&x["Size"])).sum();
    let img_active = images.iter().filter(|x| i(&x["Containers"]) > 0).count();
    let img_unused: i64 = images
        .iter()
        .filter(|x| i(&x["Containers"]) == 0)
        .map(|x| i(&x["Size"]))
        .sum();
    let containers = df["Containers"].as_array().unwrap_or(&empty);
    let c_size: i64 = containers.iter().map(|x| i(&x["SizeRw"])).sum();
    let running = |x: &&Value| {
        matches!(
            x["State"].as_str(),
            Some("running") | Some("paused") | Some("restarting")
        )
    };
    let c_active = containers.iter().filter(running).count();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|x| !running(x))
        .map(|x| i(&x["SizeRw"]))
        .sum();
    let volumes = df["Volumes"].as_array().unwrap_or(&empty);
    let v_size: i64 = volumes
        .iter()
        .map(|x| i(&x["UsageData"]["Size"]).max(0))
        .sum();
    let v_active = volumes
        .iter()
        .filter(|x| i(&x["UsageData"]["RefCount"]) > 0)
        .count();
    let v_reclaim: i64 = volumes
        .iter()
        .filter(|x| i(&x["UsageData"]["RefCount"]) == 0)
        .map(|x| i(&x["UsageData"]["Size"]).max(0))
        .sum();
    let cache = df["BuildCache"].as_array().unwrap_or(&empty);
    let b_size: i64 = cache.iter().map(|x| i(&x["Size"])).sum();
    let b_active = cache
        .iter()
        .filter(|x| x["InUse"].as_bool() == Some(true))
        .count();
    vec![
        json!({"Type": "Images", "TotalCount": images.len(), "Active": img_active, "Size": human_size(img_size), "Reclaimable": reclaimable(img_unused, img_size, true)}),
        json!({"Type": "Containers", "TotalCount": containers.len(), "Active": c_active, "Size": human_size(c_size), "Reclaimable": reclaimable(c_reclaim, c_size, true)}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len(), "Active": v_active, "Size": human_size(v_size), "Reclaimable": reclaimable(v_reclaim, v_size, true)}),
        json!({"Type": "Build Cache", "TotalCount": cache.len(), "Active": b_active, "Size": human_size(b_size), "Reclaimable": reclaimable(b_size, b_size, false)}),
    ]
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let df: Value = ctx.client.get_json("/system/df").await?;
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
            "Images": [{"Size": 1000, "Containers": 1}, {"Size": 1000, "Containers": 0}],
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
