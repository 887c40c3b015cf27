//! `docker network ls`

use anyhow::Result;
use berth_api::Query;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::commands::filters_json;
use crate::formatter::{write_list, Format};

/// List networks
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

const DEFAULT_TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let q = Query::new()
        .opt("filters", filters_json(&args.filter)?)
        .build();
    let resp: Value = ctx.client.get_json(&format!("/networks{q}")).await?;
    let mut nets: Vec<Value> = resp.as_array().cloned().unwrap_or_default();
    nets.sort_by(|a, b| {
        super::natural_cmp(
            a["Name"].as_str().unwrap_or_default(),
            b["Name"].as_str().unwrap_or_default(),
        )
    });
    let rows: Vec<Value> = nets.iter().map(|n| row(n, !args.no_trunc)).collect();
    let format = if args.quiet {
        Format::Raw("{{.ID}}".into())
    } else {
        Format::parse(args.format.as_deref().unwrap_or(""), DEFAULT_TABLE)
    };
    write_list(&mut std::io::stdout(), &format, &headers(), &rows)
}

fn headers() -> Value {
    json!({
        "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
        "IPv4": "IPV4", "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS",
        "CreatedAt": "CREATED AT",
    })
}

/// The fields docker's network formatter offers (booleans as "true"/"false").
fn row(n: &Value, trunc: bool) -> Value {
    let s = |k: &str| n[k].as_str().unwrap_or_default().to_string();
    let b = |k: &str, default: bool| n[k].as_bool().unwrap_or(default).to_string();
    let mut id = s("Id");
    if trunc && id.len() > 12 {
        id.truncate(12);
    }
    let labels = n["Labels"]
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
    json!({
        "ID": id, "Name": s("Name"), "Driver": s("Driver"), "Scope": s("Scope"),
        "IPv4": b("EnableIPv4", true), "IPv6": b("EnableIPv6", false),
        "Internal": b("Internal", false), "Labels": labels,
        "CreatedAt": go_time(&s("Created")),
    })
}

/// An RFC 3339 UTC time as Go's `time.Time.String()` prints it:
/// `2026-11-23 20:00:11.659569268 +0000 UTC`.
fn go_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            let mut frac = format!("{:09}", t.timestamp_subsec_nanos());
            while frac.ends_with('0') {
                frac.pop();
            }
            let frac = if frac.is_empty() {
                String::new()
            } else {
                format!(".{frac}")
            };
            format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
        }
        Err(_) => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> Value {
        json!({
            "Name": "n1", "Id": "c660c86d3be1d0c199d2d043418e72810800fe93cc8a61b807284fc2914dc75a",
            "Driver": "bridge", "Scope": "local", "EnableIPv4": true, "EnableIPv6": false,
            "Internal": false, "Labels": {"b": "2", "a": "1"},
            "Created": "2026-11-23T20:00:11.659569260Z",
        })
    }

    #[test]
    fn rows_match_docker_formatter() {
        let r = row(&net(), true);
        assert_eq!(r["ID"], "c660c86d3be1");
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["IPv4"], "true");
        assert_eq!(r["Internal"], "false");
        assert_eq!(r["CreatedAt"], "2026-11-23 20:00:11.65956926 +0000 UTC");
        assert_eq!(row(&net(), false)["ID"].as_str().unwrap().len(), 64);
        assert_eq!(
            go_time("2026-11-23T20:00:11Z"),
            "2026-11-23 20:00:11 +0000 UTC"
        );
    }

    #[test]
    fn default_table_layout() {
        let mut out = Vec::new();
        write_list(
            &mut out,
            &Format::parse("", DEFAULT_TABLE),
            &headers(),
            &[row(&net(), true)],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NETWORK ID     NAME      DRIVER    SCOPE\nc660c86d3be1   n1        bridge    local\n"
        );
    }
}
