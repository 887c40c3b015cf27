//! Resource usage in the shape Docker's stats JSON needs, plus parsers for the
//! cgroupfs text formats they come from (kept pure so they are unit-tested).
use std::collections::BTreeMap;

/// Usage of one cgroup. Times are nanoseconds, sizes bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub cpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Total CPU time consumed (cpu_usage.total_usage).
    pub total_usage: u64,
    /// Per-CPU time (cpu_usage.percpu_usage); empty on v2, as in Docker.
    pub percpu_usage: Vec<u64>,
    pub usage_in_kernelmode: u64,
    pub usage_in_usermode: u64,
    pub throttling: ThrottlingData,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThrottlingData {
    pub periods: u64,
    pub throttled_periods: u64,
    /// Nanoseconds.
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub usage: u64,
    /// v1 memory.max_usage_in_bytes; v2 memory.peak when the kernel has it.
    pub max_usage: u64,
    /// The limit as the kernel reports it: huge (v1 ~2^63, v2 u64::MAX) when
    /// unlimited. Docker's daemon clamps it to the machine's memory.
    pub limit: u64,
    pub failcnt: u64,
    /// memory.stat, key -> value.
    pub stats: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidsStats {
    pub current: u64,
    /// None when unlimited ("max").
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioStats {
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One row of Docker's blkio stats: op is "Read", "Write", "Sync", "Async",
/// "Discard" or "Total" (capitalised as Docker prints them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// "key value" per line (memory.stat, cpu.stat, cpuacct.stat, memory.events).
/// Lines that do not parse are skipped: kernels add fields over time.
pub fn parse_flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// cpuacct.usage_percpu: space-separated nanoseconds.
pub fn parse_space_separated(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// v1 blkio.*_recursive: "8:0 Read 4096" lines plus a trailing "Total N".
pub fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() != 3 {
                return None;
            }
            let (maj, min) = f[0].split_once(':')?;
            Some(BlkioEntry {
                major: maj.parse().ok()?,
                minor: min.parse().ok()?,
                op: f[1].to_string(),
                value: f[2].parse().ok()?,
            })
        })
        .collect()
}

/// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" ->
/// (bytes, ios) entries in Docker's v1-like shape, as Docker does for v2.
pub fn parse_io_stat_v2(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some((maj, min)) = it.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (maj.parse::<u64>(), min.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse::<u64>() else {
                continue;
            };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    (bytes, ios)
}

/// Clock ticks (USER_HZ) to nanoseconds, for cpuacct.stat.
pub(crate) fn ticks_to_ns(ticks: u64) -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    ticks.saturating_mul(1_000_000_000) / hz
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed() {
        let m = parse_flat_keyed(
            "cache 4096\nrss 8192\nbogus\nhierarchical_memory_limit 9223372036854771712\n",
        );
        assert_eq!(m["cache"], 4096);
        assert_eq!(m["rss"], 8192);
        assert_eq!(m["hierarchical_memory_limit"], 9223372036854771712);
        assert!(!m.contains_key("bogus"));
    }

    #[test]
    fn percpu() {
        assert_eq!(parse_space_separated("12 34 \n"), vec![12, 34]);
    }

    #[test]
    fn blkio_v1() {
        let e = parse_blkio_v1("8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n");
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[1],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 512
            }
        );
    }

    #[test]
    fn io_stat_v2() {
        let (b, i) =
            parse_io_stat_v2("259:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n");
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].op, "read");
        assert_eq!(b[1].value, 200);
        assert_eq!(i[1].value, 2);
        assert_eq!(i[0].major, 259);
    }

    #[test]
    fn ticks() {
        // SAFETY: see ticks_to_ns.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        assert_eq!(ticks_to_ns(hz), 1_000_000_000);
    }
}
