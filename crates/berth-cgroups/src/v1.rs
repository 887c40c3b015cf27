//! cgroup v1 resource application, mirroring runc's libcontainer/cgroups/fs
//! (write order and special cases included, since Docker's behaviour follows it).
use crate::devices;
use crate::fsutil::{read, read_u64, write, write_if_exists};
use crate::CgroupError;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use std::path::{Path, PathBuf};

/// This cgroup's directory in each controller that takes resources.
#[derive(Debug, Default)]
pub(crate) struct Dirs<'a> {
    pub memory: Option<&'a Path>,
    pub cpu: Option<&'a Path>,
    pub cpuset: Option<&'a Path>,
    pub pids: Option<&'a Path>,
    pub blkio: Option<&'a Path>,
    pub devices: Option<&'a Path>,
    pub hugetlb: Option<&'a Path>,
    pub net_cls: Option<&'a Path>,
    pub net_prio: Option<&'a Path>,
}

/// `initial` is true on create: device rules are only written then, because
/// rewriting them on a live container opens a window where every device is
/// denied (runc avoids that with an emulator; `docker update` never changes them).
pub(crate) fn apply(d: &Dirs, res: &LinuxResources, initial: bool) -> Result<(), CgroupError> {
    if let (Some(dir), Some(m)) = (d.memory, res.memory()) {
        memory(dir, m)?;
    }
    if let (Some(dir), Some(c)) = (d.cpu, res.cpu()) {
        cpu(dir, c)?;
    }
    if let (Some(dir), Some(c)) = (d.cpuset, res.cpu()) {
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(dir, "cpuset.cpus", cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(dir, "cpuset.mems", mems)?;
        }
    }
    if let (Some(dir), Some(p)) = (d.pids, res.pids()) {
        write(dir, "pids.max", &pids_value(p.limit()))?;
    }
    if let (Some(dir), Some(b)) = (d.blkio, res.block_io()) {
        blkio(dir, b)?;
    }
    if initial {
        if let (Some(dir), Some(rules)) = (d.devices, res.devices()) {
            for r in rules {
                if devices::is_deny_all(r) {
                    write(dir, "devices.deny", "a")?;
                } else {
                    let file = if r.allow() {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    };
                    write(dir, file, &devices::rule_line(r))?;
                }
            }
        }
    }
    if let (Some(dir), Some(limits)) = (d.hugetlb, res.hugepage_limits()) {
        for l in limits {
            let file = format!("hugetlb.{}.limit_in_bytes", l.page_size());
            write(dir, &file, &l.limit().to_string())?;
        }
    }
    if let Some(net) = res.network() {
        if let (Some(dir), Some(id)) = (d.net_cls, net.class_id()) {
            write(dir, "net_cls.classid", &id.to_string())?;
        }
        if let (Some(dir), Some(prios)) = (d.net_prio, net.priorities()) {
            for p in prios {
                write(
                    dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
    }
    Ok(())
}

/// pids.max value: a positive limit as is, 0 or negative means unlimited.
pub(crate) fn pids_value(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    const SWAP: &str = "memory.memsw.limit_in_bytes";
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    // Unlimited memory without an explicit swap means unlimited swap too.
    if limit == -1 && swap == 0 && dir.join(SWAP).exists() {
        swap = -1;
    }
    let set_memory = |v: i64| -> Result<(), CgroupError> {
        if v == 0 {
            return Ok(());
        }
        write(dir, "memory.limit_in_bytes", &v.to_string()).map_err(|e| explain_busy(dir, v, e))
    };
    let set_swap = |v: i64| -> Result<(), CgroupError> {
        if v == 0 {
            return Ok(());
        }
        // Swap accounting may be compiled out or disabled (swapaccount=0).
        write_if_exists(dir, SWAP, &v.to_string()).map(|_| ())
    };
    // The kernel insists memsw >= memory at every moment, so when raising the
    // limits swap goes first, when lowering memory goes first.
    let mut swap_first = false;
    if limit != 0 && swap != 0 {
        let cur = read_u64(dir, "memory.limit_in_bytes")?;
        swap_first = swap == -1 || cur < swap as u64;
    }
    if swap_first {
        set_swap(swap)?;
        set_memory(limit)?;
    } else {
        set_memory(limit)?;
        set_swap(swap)?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(k) = m.kernel().filter(|&k| k != 0) {
        // Deprecated and removed from recent kernels; Docker only warns.
        write_if_exists(dir, "memory.kmem.limit_in_bytes", &k.to_string())?;
    }
    if let Some(k) = m.kernel_tcp().filter(|&k| k != 0) {
        write_if_exists(dir, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(dir, "memory.oom_control", "1")?;
    }
    if let Some(s) = m.swappiness() {
        // -1 (as u64: huge) means "leave the default".
        if s as i64 != -1 {
            if s > 100 {
                return Err(CgroupError::Invalid {
                    path: dir.join("memory.swappiness"),
                    msg: format!("swappiness {s} is not in 0..=100"),
                });
            }
            write(dir, "memory.swappiness", &s.to_string())?;
        }
    }
    Ok(())
}

/// EBUSY from memory.limit_in_bytes means usage is above the new limit; say so.
fn explain_busy(dir: &Path, v: i64, e: CgroupError) -> CgroupError {
    match e {
        CgroupError::Write { ref source, .. } if source.raw_os_error() == Some(libc::EBUSY) => {
            let usage = read(dir, "memory.usage_in_bytes").unwrap_or_default();
            CgroupError::Invalid {
                path: dir.join("memory.limit_in_bytes"),
                msg: format!(
                    "unable to set memory limit to {v} (current usage: {})",
                    usage.trim()
                ),
            }
        }
        e => e,
    }
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        write(dir, "cpu.shares", &shares.to_string())?;
        // The kernel clamps silently (2..=262144); runc reports it instead.
        let got = read_u64(dir, "cpu.shares")?;
        if got != shares {
            return Err(CgroupError::Invalid {
                path: dir.join("cpu.shares"),
                msg: format!("the maximum allowed cpu-shares is {got}, asked for {shares}"),
            });
        }
    }
    let quota = c.quota().unwrap_or(0);
    let mut period_pending = None;
    if let Some(p) = c.period().filter(|&p| p != 0) {
        if let Err(e) = write(dir, "cpu.cfs_period_us", &p.to_string()) {
            // A smaller period can be rejected (EINVAL) while the old quota is in
            // place; retry after writing the quota, like runc.
            let einval = matches!(&e, CgroupError::Write { source, .. } if source.raw_os_error() == Some(libc::EINVAL));
            if !einval || quota == 0 {
                return Err(e);
            }
            period_pending = Some(p);
        }
    }
    if quota != 0 {
        write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(p) = period_pending {
            write(dir, "cpu.cfs_period_us", &p.to_string())?;
        }
    }
    if let Some(b) = c.burst() {
        write_if_exists(dir, "cpu.cfs_burst_us", &b.to_string())?;
    }
    if let Some(p) = c.realtime_period().filter(|&p| p != 0) {
        write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r != 0) {
        write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(i) = c.idle() {
        write_if_exists(dir, "cpu.idle", &i.to_string())?;
    }
    Ok(())
}

fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // Under BFQ the weight lives in blkio.bfq.weight; with no proportional
    // scheduler neither file exists and Docker has already dropped the option
    // with a warning, so a missing file is not an error here.
    let weight_file = if dir.join("blkio.bfq.weight").exists() {
        "blkio.bfq.weight"
    } else {
        "blkio.weight"
    };
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        write_if_exists(dir, weight_file, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        write_if_exists(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight() {
            let file = if weight_file == "blkio.bfq.weight" {
                "blkio.bfq.weight_device"
            } else {
                "blkio.weight_device"
            };
            write_if_exists(dir, file, &format!("{}:{} {w}", wd.major(), wd.minor()))?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, list) in throttles {
        for t in list.iter().flatten() {
            write(
                dir,
                file,
                &format!("{}:{} {}", t.major(), t.minor(), t.rate()),
            )?;
        }
    }
    Ok(())
}

/// A fresh v1 cpuset cgroup has empty cpus/mems and refuses tasks, so every
/// level from the hierarchy root down to `leaf` gets its parent's values.
pub(crate) fn init_cpuset(root: &Path, rel: &Path) -> Result<(), CgroupError> {
    let mut parent = root.to_path_buf();
    for comp in rel.components() {
        let dir: PathBuf = parent.join(comp);
        crate::fsutil::mkdir_all(&dir)?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if read(&dir, file)?.trim().is_empty() {
                let v = read(&parent, file)?;
                write(&dir, file, v.trim())?;
            }
        }
        parent = dir;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_values() {
        assert_eq!(pids_value(50), "50");
        assert_eq!(pids_value(0), "max");
        assert_eq!(pids_value(-1), "max");
    }
}
