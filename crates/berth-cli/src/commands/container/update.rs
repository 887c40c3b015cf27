//! `docker update`: change resources / restart policy of containers.

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::cli::Ctx;
use crate::commands::seg;
use crate::opts::units;

/// Update configuration of one or more containers
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER [CONTAINER...]")]
pub struct Args {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<u16>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int", allow_hyphen_values = true)]
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(
        long = "cpu-rt-runtime",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string")]
    pub restart: Option<String>,
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// The update body: only the flags given, as docker sends them.
pub fn body(a: &Args) -> Result<Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    if let Some(v) = a.blkio_weight {
        put("BlkioWeight", json!(v));
    }
    if let Some(v) = a.cpu_period {
        put("CpuPeriod", json!(v));
    }
    if let Some(v) = a.cpu_quota {
        put("CpuQuota", json!(v));
    }
    if let Some(v) = a.cpu_rt_period {
        put("CpuRealtimePeriod", json!(v));
    }
    if let Some(v) = a.cpu_rt_runtime {
        put("CpuRealtimeRuntime", json!(v));
    }
    if let Some(v) = a.cpu_shares {
        put("CpuShares", json!(v));
    }
    if let Some(v) = &a.cpus {
        put("NanoCpus", json!(units::parse_cpus(v)?));
    }
    if let Some(v) = &a.cpuset_cpus {
        put("CpusetCpus", json!(v));
    }
    if let Some(v) = &a.cpuset_mems {
        put("CpusetMems", json!(v));
    }
    if let Some(v) = &a.memory {
        put("Memory", json!(units::ram_in_bytes(v)?));
    }
    if let Some(v) = &a.memory_reservation {
        put("MemoryReservation", json!(units::ram_in_bytes(v)?));
    }
    if let Some(v) = &a.memory_swap {
        put("MemorySwap", json!(units::mem_swap(v)?));
    }
    if let Some(v) = a.pids_limit {
        put("PidsLimit", json!(v));
    }
    if let Some(v) = &a.restart {
        put(
            "RestartPolicy",
            serde_json::to_value(units::parse_restart(v)?)?,
        );
    }
    Ok(Value::Object(m))
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let body = body(&args)?;
    super::for_each(&args.containers, |c| {
        let path = format!("/containers/{}/update", seg(&c));
        let client = ctx.client.clone();
        let body = body.clone();
        async move {
            let warnings: Value = client.post_json(&path, Some(&body)).await?;
            if let Some(ws) = warnings["Warnings"].as_array() {
                for w in ws.iter().filter_map(Value::as_str) {
                    eprintln!("WARNING: {w}");
                }
            }
            Ok(())
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    #[test]
    fn only_given_flags_are_sent() {
        let t = T::try_parse_from([
            "update",
            "-m",
            "128m",
            "--memory-swap",
            "256m",
            "--restart",
            "always",
            "c1",
        ])
        .unwrap();
        assert_eq!(
            body(&t.a).unwrap(),
            json!({"Memory": 134217728, "MemorySwap": 268435456, "RestartPolicy": {"Name": "always"}})
        );
    }

    #[test]
    fn realtime_cpu_limits() {
        let t = T::try_parse_from([
            "update",
            "--cpu-rt-period",
            "1000",
            "--cpu-rt-runtime",
            "950",
            "c1",
        ])
        .unwrap();
        assert_eq!(
            body(&t.a).unwrap(),
            json!({"CpuRealtimePeriod": 1000, "CpuRealtimeRuntime": 950})
        );
    }
}
