//! `docker volume ls`

use anyhow::Result;
use berth_api::Query;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::commands::filters_json;
use crate::formatter::{write_list, Format};
use crate::humanize::go_human_size;

/// List volumes
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

const DEFAULT_TABLE: &str = "{{.Driver}}\t{{.Name}}";

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let q = Query::new()
        .opt("filters", filters_json(&args.filter)?)
        .build();
    let resp: Value = ctx.client.get_json(&format!("/volumes{q}")).await?;
    let mut rows: Vec<Value> = resp["Volumes"]
        .as_array()
        .map(|a| a.iter().map(row).collect())
        .unwrap_or_default();
    rows.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    let format = if args.quiet {
        Format::Raw("{{.Name}}".into())
    } else {
        Format::parse(args.format.as_deref().unwrap_or(""), DEFAULT_TABLE)
    };
    write_list(&mut std::io::stdout(), &format, &headers(), &rows)
}

fn headers() -> Value {
    json!({
        "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
        "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Availability": "AVAILABILITY",
        "Group": "GROUP", "Status": "STATUS",
    })
}

/// The fields docker's volume formatter offers. Links and Size come from
/// the volume's UsageData, which only `system df` asks the daemon for.
pub fn row(v: &Value) -> Value {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let labels = v["Labels"]
        .as_object()
        .map(|m| {
            let mut kv: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect();
            kv.sort();
            kv.join(",")
        })
        .unwrap_or_default();
    let usage = |key: &str, show: fn(i64) -> String| {
        v["UsageData"][key]
            .as_i64()
            .map_or_else(|| "N/A".to_string(), show)
    };
    json!({
        "Name": s("Name"), "Driver": s("Driver"), "Scope": s("Scope"), "Mountpoint": s("Mountpoint"),
        "Labels": labels, "Links": usage("RefCount", |n| n.to_string()),
        "Size": usage("Size", go_human_size), "Availability": "N/A", "Group": "N/A",
        "Status": "N/A",
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_join_labels_like_docker() {
        let r = super::row(
            &serde_json::json!({"Name": "v", "Driver": "local", "Labels": {"y": "", "x": "1"}}),
        );
        assert_eq!(r["Labels"], "x=1,y=");
        assert_eq!(r["Size"], "N/A");
        let r = super::row(&serde_json::json!({
            "Name": "v", "UsageData": {"RefCount": 2, "Size": 1_984_291},
        }));
        assert_eq!(
            (r["Links"].as_str(), r["Size"].as_str()),
            (Some("2"), Some("1.984MB"))
        );
    }
}
