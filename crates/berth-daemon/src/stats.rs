//! `GET /containers/{id}/stats`: Docker's stats JSON built from the
//! container's cgroup usage, the host's /proc/stat and the container's
//! network interfaces (/proc/<pid>/net/dev).

use crate::container::{rfc3339, Container, ZERO_TIME};
use berth_cgroups::{BlkioEntry, Stats};
use serde_json::{json, Map, Value};

/// One reading: the cgroup numbers plus the host CPU time at that moment.
pub struct Sample {
    pub read: String,
    pub cgroup: Stats,
    pub system_cpu_usage: u64,
    pub networks: Map<String, Value>,
}

/// Reads the container's usage now; None when it has no cgroup (not running).
pub fn sample(c: &Container) -> Option<Sample> {
    if !c.state.status.is_running() {
        return None;
    }
    let cg = berth_cgroups::Cgroup::open(&crate::cgroup_opts::cgroup_path(c)).ok()?;
    let cgroup = cg.stats().ok()?;
    Some(Sample {
        read: rfc3339(chrono::Utc::now()),
        cgroup,
        system_cpu_usage: system_cpu_usage().unwrap_or(0),
        networks: networks(c.state.pid),
    })
}

/// Host CPU time in nanoseconds: the sum of /proc/stat's first line, which is
/// in USER_HZ ticks (Docker's getSystemCPUUsage).
fn system_cpu_usage() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Some(ticks * (1_000_000_000 / hz))
}

fn online_cpus() -> u64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
}

/// MemTotal in bytes: Docker's limit when the container has none.
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let l = t.lines().find(|l| l.starts_with("MemTotal:"))?;
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// Interfaces other than loopback in the container's network namespace.
fn networks(pid: i32) -> Map<String, Value> {
    let mut out = Map::new();
    if pid <= 0 {
        return out;
    }
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/dev")) else {
        return out;
    };
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({
                "rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11],
            }),
        );
    }
    out
}

fn blkio(entries: &[BlkioEntry]) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect(),
    )
}

fn cpu_json(s: Option<&Sample>) -> Value {
    let Some(s) = s else {
        return json!({
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        });
    };
    let c = &s.cgroup.cpu;
    let mut usage = json!({
        "total_usage": c.total_usage,
        "usage_in_kernelmode": c.usage_in_kernelmode,
        "usage_in_usermode": c.usage_in_usermode,
    });
    if !c.percpu_usage.is_empty() {
        usage["percpu_usage"] = json!(c.percpu_usage);
    }
    json!({
        "cpu_usage": usage,
        "system_cpu_usage": s.system_cpu_usage,
        "online_cpus": online_cpus(),
        "throttling_data": {
            "periods": c.throttling.periods,
            "throttled_periods": c.throttling.throttled_periods,
            "throttled_time": c.throttling.throttled_time,
        },
    })
}

/// Docker's stats object for `cur`, with `pre` as the previous reading
/// (precpu_stats); both None for a container that is not running.
pub fn to_json(c: &Container, cur: Option<&Sample>, pre: Option<&Sample>) -> Value {
    let blkio_keys = [
        "io_service_bytes_recursive",
        "io_serviced_recursive",
        "io_queue_recursive",
        "io_service_time_recursive",
        "io_wait_time_recursive",
        "io_merged_recursive",
        "io_time_recursive",
        "sectors_recursive",
    ];
    let mut v = json!({
        "read": cur.map_or(ZERO_TIME, |s| s.read.as_str()),
        "preread": pre.map_or(ZERO_TIME, |s| s.read.as_str()),
        "pids_stats": {},
        "blkio_stats": blkio_keys.iter().map(|k| (k.to_string(), Value::Null)).collect::<Map<_, _>>(),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_json(cur),
        "precpu_stats": cpu_json(pre),
        "memory_stats": {},
        "name": c.name,
        "id": c.id,
    });
    let Some(s) = cur else {
        return v;
    };
    let st = &s.cgroup;
    v["pids_stats"] = json!({"current": st.pids.current});
    if let Some(limit) = st.pids.limit {
        v["pids_stats"]["limit"] = json!(limit);
    }
    for k in blkio_keys {
        v["blkio_stats"][k] = json!([]);
    }
    v["blkio_stats"]["io_service_bytes_recursive"] = blkio(&st.blkio.io_service_bytes_recursive);
    v["blkio_stats"]["io_serviced_recursive"] = blkio(&st.blkio.io_serviced_recursive);
    let host = host_memory();
    let limit = if host > 0 {
        st.memory.limit.min(host)
    } else {
        st.memory.limit
    };
    let mut mem = json!({
        "usage": st.memory.usage,
        "stats": st.memory.stats,
        "limit": limit,
    });
    if st.memory.max_usage > 0 {
        mem["max_usage"] = json!(st.memory.max_usage);
    }
    if st.memory.failcnt > 0 {
        mem["failcnt"] = json!(st.memory.failcnt);
    }
    v["memory_stats"] = mem;
    if !s.networks.is_empty() {
        v["networks"] = Value::Object(s.networks.clone());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_numbers_are_read() {
        assert!(system_cpu_usage().unwrap() > 0);
        assert!(host_memory() > 0);
        assert!(online_cpus() >= 1);
    }
}
