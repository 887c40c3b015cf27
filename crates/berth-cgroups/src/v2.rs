//! cgroup v2 (unified) resource application, mirroring runc's fs2 manager.
use crate::fsutil::{read, write, write_if_exists};
use crate::v1::pids_value;
use crate::CgroupError;
use oci_spec::runtime::{LinuxMemory, LinuxResources};
use std::path::Path;

/// Enables every controller available at each level above `leaf` in that
/// level's cgroup.subtree_control, so the leaf gets its interface files.
/// Controllers are enabled one by one: one refusal (e.g. "cpu" while a
/// realtime task sits in the parent) must not cost the others.
pub(crate) fn enable_controllers(root: &Path, rel: &Path) -> Result<(), CgroupError> {
    let mut dir = root.to_path_buf();
    for comp in rel.components() {
        let available = read(&dir, "cgroup.controllers")?;
        let enabled = read(&dir, "cgroup.subtree_control").unwrap_or_default();
        for c in available.split_whitespace() {
            if !enabled.split_whitespace().any(|e| e == c) {
                // Best effort: a refusal just leaves that controller's files absent.
                let _ = write(&dir, "cgroup.subtree_control", &format!("+{c}"));
            }
        }
        dir = dir.join(comp);
        crate::fsutil::mkdir_all(&dir)?;
    }
    Ok(())
}

/// runc's conversion of v1 cpu.shares (2..262144) to v2 cpu.weight (1..10000).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        0
    } else {
        1 + (shares.saturating_sub(2) * 9999) / 262142
    }
}

/// runc's conversion of OCI memory+swap to memory.swap.max (swap only).
/// Returns None when nothing is to be written.
pub(crate) fn swap_max(swap: i64, limit: i64, dir: &Path) -> Result<Option<String>, CgroupError> {
    let invalid = |msg: String| CgroupError::Invalid {
        path: dir.join("memory.swap.max"),
        msg,
    };
    if limit == -1 && swap == 0 {
        return Ok(Some("max".into()));
    }
    match swap {
        0 => Ok(None),
        -1 => Ok(Some("max".into())),
        _ if limit == 0 || limit == -1 => Err(invalid(
            "unable to set swap limit without memory limit".into(),
        )),
        _ if swap < limit => Err(invalid(format!(
            "memory+swap limit {swap} should be >= memory limit {limit}"
        ))),
        _ => Ok(Some((swap - limit).to_string())),
    }
}

fn limit_value(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

pub(crate) fn apply(dir: &Path, res: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = res.memory() {
        memory(dir, m)?;
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares().filter(|&s| s != 0) {
            write(dir, "cpu.weight", &shares_to_weight(s).to_string())?;
        }
        let quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        if quota != 0 || period != 0 {
            let mut v = if quota > 0 {
                quota.to_string()
            } else {
                "max".to_string()
            };
            if period != 0 {
                v.push_str(&format!(" {period}"));
            }
            write(dir, "cpu.max", &v)?;
        }
        if let Some(b) = c.burst() {
            write_if_exists(dir, "cpu.max.burst", &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            write_if_exists(dir, "cpu.idle", &i.to_string())?;
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(dir, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(dir, "cpuset.mems", mems)?;
        }
    }
    if let Some(p) = res.pids() {
        write(dir, "pids.max", &pids_value(p.limit()))?;
    }
    if let Some(b) = res.block_io() {
        if let Some(w) = b.weight().filter(|&w| w != 0) {
            // io.weight is 1..10000, blkio.weight 10..1000: runc's linear map.
            let v = 1 + (u64::from(w).saturating_sub(10)) * 9999 / 990;
            if !write_if_exists(dir, "io.bfq.weight", &w.to_string())? {
                write_if_exists(dir, "io.weight", &format!("default {v}"))?;
            }
        }
        let throttles = [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ];
        for (key, list) in throttles {
            for t in list.iter().flatten() {
                let v = format!("{}:{} {key}={}", t.major(), t.minor(), t.rate());
                write(dir, "io.max", &v)?;
            }
        }
    }
    for l in res.hugepage_limits().iter().flatten() {
        let file = format!("hugetlb.{}.max", l.page_size());
        write(dir, &file, &limit_value(l.limit()))?;
    }
    if let Some(rules) = res.devices() {
        // No devices controller on v2: the rules become an eBPF program. A new
        // program replaces the old one without a window that allows more.
        crate::devices_bpf::apply(dir, rules)?;
    }
    for (k, v) in res.unified().iter().flatten() {
        // Keys are file names; refuse anything that would escape the cgroup.
        if k.contains('/') || k.starts_with('.') {
            return Err(CgroupError::Invalid {
                path: dir.to_path_buf(),
                msg: format!("invalid unified key {k:?}"),
            });
        }
        write(dir, k, v)?;
    }
    Ok(())
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    // Swap first: memory.swap.max is independent of memory.max on v2, but
    // validate before touching anything.
    if let Some(v) = swap_max(swap, limit, dir)? {
        write_if_exists(dir, "memory.swap.max", &v)?;
    }
    if limit != 0 {
        write(dir, "memory.max", &limit_value(limit))?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        write(dir, "memory.low", &limit_value(r))?;
    }
    // disable_oom_killer has no v2 equivalent; runc ignores it too.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(shares_to_weight(0), 0);
    }

    #[test]
    fn swap_conversion() {
        let d = Path::new("/x");
        assert_eq!(swap_max(0, 0, d).unwrap(), None);
        assert_eq!(swap_max(-1, 100, d).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_max(0, -1, d).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_max(300, 100, d).unwrap().as_deref(), Some("200"));
        assert!(swap_max(50, 100, d).is_err());
        assert!(swap_max(50, 0, d).is_err());
    }
}
