//! `docker stats`: live resource usage, computed from the daemon's stats
//! JSON exactly as the docker CLI does (CPU % from the cpu/system deltas,
//! memory without the inactive page cache).

use anyhow::Result;
use berth_api::types::ContainerSummary;
use berth_api::Query;
use serde_json::{json, Value};
use std::io::Write;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::{api_error_text, StatusError};
use crate::formatter::{write_list, Format};
use crate::humanize::{bytes_size, human_size_precision};

/// Display a live stream of container(s) resource usage statistics
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] [CONTAINER...]")]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

const DEFAULT_TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn headers() -> Value {
    json!({
        "Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
        "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
        "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
    })
}

fn u(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// The docker CLI's calculateCPUPercentUnix.
pub fn cpu_percent(s: &Value) -> f64 {
    let cpu = u(&s["cpu_stats"]["cpu_usage"]["total_usage"])
        - u(&s["precpu_stats"]["cpu_usage"]["total_usage"]);
    let system = u(&s["cpu_stats"]["system_cpu_usage"]) - u(&s["precpu_stats"]["system_cpu_usage"]);
    let mut online = u(&s["cpu_stats"]["online_cpus"]);
    if online == 0.0 {
        online = s["cpu_stats"]["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, |a| a.len()) as f64;
    }
    if system > 0.0 && cpu > 0.0 {
        cpu / system * online * 100.0
    } else {
        0.0
    }
}

/// Usage minus inactive file cache (cgroup v1 total_inactive_file, v2 inactive_file).
pub fn mem_usage(s: &Value) -> f64 {
    let m = &s["memory_stats"];
    let usage = u(&m["usage"]);
    let stats = &m["stats"];
    let inactive = stats
        .get("total_inactive_file")
        .or_else(|| stats.get("inactive_file"))
        .map_or(0.0, u);
    if inactive < usage {
        usage - inactive
    } else {
        usage
    }
}

fn io_sum(s: &Value, op: &str) -> f64 {
    s["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .map_or(0.0, |a| {
            a.iter()
                .filter(|e| e["op"].as_str().is_some_and(|o| o.eq_ignore_ascii_case(op)))
                .map(|e| u(&e["value"]))
                .sum()
        })
}

/// One table row from one stats reading.
pub fn row(given: &str, s: &Value, trunc: bool) -> Value {
    let id = s["id"].as_str().unwrap_or("");
    let id = if trunc { &id[..id.len().min(12)] } else { id };
    let name = s["name"].as_str().unwrap_or("").trim_start_matches('/');
    let mem = mem_usage(s);
    let limit = u(&s["memory_stats"]["limit"]);
    let mem_perc = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s["networks"].as_object() {
        for n in nets.values() {
            rx += u(&n["rx_bytes"]);
            tx += u(&n["tx_bytes"]);
        }
    }
    let pids = s["pids_stats"]["current"].as_u64().unwrap_or(0);
    json!({
        "Container": given,
        "ID": id,
        "Name": name,
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "MemUsage": format!("{} / {}", bytes_size(mem), bytes_size(limit)),
        "MemPerc": format!("{mem_perc:.2}%"),
        "NetIO": format!("{} / {}", human_size_precision(rx, 3), human_size_precision(tx, 3)),
        "BlockIO": format!("{} / {}", human_size_precision(io_sum(s, "read"), 3), human_size_precision(io_sum(s, "write"), 3)),
        "PIDs": pids.to_string(),
    })
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let named = !args.containers.is_empty();
    let names = if named {
        args.containers.clone()
    } else {
        let q = Query::new().flag("all", args.all).build();
        let list: Vec<ContainerSummary> =
            ctx.client.get_json(&format!("/containers/json{q}")).await?;
        list.into_iter().map(|c| c.id[..12].to_string()).collect()
    };
    let format = match &args.format {
        Some(f) => Format::parse(f, DEFAULT_TABLE),
        None => Format::Table(DEFAULT_TABLE.into()),
    };
    let mut out = std::io::stdout();
    loop {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        for name in &names {
            // stream=false answers with two readings a second apart, so the
            // CPU delta is real even for a single shot.
            let path = format!("/containers/{}/stats?stream=false", seg(name));
            match ctx.client.get_json::<Value>(&path).await {
                Ok(s) => rows.push(row(name, &s, !args.no_trunc)),
                Err(e) if named => errors.push(api_error_text(&e)),
                Err(_) => {}
            }
        }
        if !errors.is_empty() {
            return Err(StatusError::new(1, errors.join("\n")).into());
        }
        if !args.no_stream {
            // Clear the screen and home the cursor, as the docker CLI does.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write_list(&mut out, &format, &headers(), &rows)?;
        if args.no_stream {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_like_docker() {
        let s = json!({
            "id": "0123456789abcdef", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 3145728, "limit": 8388608, "stats": {"total_inactive_file": 1048576}},
            "pids_stats": {"current": 3},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
        });
        let r = row("web", &s, true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 8MiB");
        assert_eq!(r["MemPerc"], "25.00%");
        assert_eq!(r["NetIO"], "1.5kB / 0B");
        assert_eq!(r["BlockIO"], "4.1kB / 0B");
        assert_eq!(r["PIDs"], "3");
    }
}
