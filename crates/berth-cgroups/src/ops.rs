//! Operations on a cgroup's directories: freezing, listing, signalling,
//! removal and stats collection.
use crate::fsutil::{read, read_opt, read_u64, read_u64_opt, write};
use crate::stats::{
    parse_blkio_v1, parse_flat_keyed, parse_io_stat_v2, parse_space_separated, ticks_to_ns,
    BlkioEntry, Stats,
};
use crate::CgroupError;
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

const FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// v1: the state passes through FREEZING; rewriting FROZEN nudges tasks that
/// were mid-fork. On timeout we thaw again rather than leave a half-frozen group.
pub(crate) fn freeze_v1(dir: &Path) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        write(dir, "freezer.state", "FROZEN")?;
        if read(dir, "freezer.state")?.trim() == "FROZEN" {
            return Ok(());
        }
        if start.elapsed() > FREEZE_TIMEOUT {
            let _ = write(dir, "freezer.state", "THAWED");
            return Err(CgroupError::FreezeTimeout {
                path: dir.join("freezer.state"),
                state: "FROZEN",
            });
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// v2: write cgroup.freeze, then wait for cgroup.events to report the result.
pub(crate) fn freeze_v2(dir: &Path, freeze: bool) -> Result<(), CgroupError> {
    write(dir, "cgroup.freeze", if freeze { "1" } else { "0" })?;
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    while frozen_v2(dir)? != freeze {
        if start.elapsed() > FREEZE_TIMEOUT {
            if freeze {
                let _ = write(dir, "cgroup.freeze", "0");
            }
            return Err(CgroupError::FreezeTimeout {
                path: dir.join("cgroup.events"),
                state: if freeze { "frozen" } else { "thawed" },
            });
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
    Ok(())
}

pub(crate) fn frozen_v2(dir: &Path) -> Result<bool, CgroupError> {
    let events = read(dir, "cgroup.events")?;
    Ok(parse_flat_keyed(&events).get("frozen") == Some(&1))
}

/// Appends the pids in `dir`'s cgroup.procs and all sub-cgroups.
pub(crate) fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let procs = read(dir, "cgroup.procs")?;
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for sub in subdirs(dir)? {
        collect_pids(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<std::path::PathBuf>, CgroupError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    Ok(rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
}

/// kill(2), treating an already-exited process as success.
pub(crate) fn signal(pid: i32, sig: i32) -> Result<(), CgroupError> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        return Ok(());
    }
    let source = std::io::Error::last_os_error();
    if source.raw_os_error() == Some(libc::ESRCH) {
        return Ok(());
    }
    Err(CgroupError::Signal {
        pid,
        signal: sig,
        source,
    })
}

/// rmdir children first. A cgroup whose last task just exited can report
/// EBUSY for a moment, so retry briefly (runc does the same).
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let mut delay = Duration::from_millis(10);
    for attempt in 0.. {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 6 => {
                sleep(delay);
                delay *= 2;
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
    Ok(())
}

pub(crate) fn stats_v1(
    cpuacct: Option<&Path>,
    cpu: Option<&Path>,
    memory: Option<&Path>,
    pids: Option<&Path>,
    blkio: Option<&Path>,
) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(d) = cpuacct {
        s.cpu.total_usage = read_u64(d, "cpuacct.usage")?;
        s.cpu.percpu_usage = parse_space_separated(&read(d, "cpuacct.usage_percpu")?);
        // cpuacct.stat is in USER_HZ ticks; Docker reports nanoseconds.
        let st = parse_flat_keyed(&read(d, "cpuacct.stat")?);
        s.cpu.usage_in_usermode = ticks_to_ns(st.get("user").copied().unwrap_or(0));
        s.cpu.usage_in_kernelmode = ticks_to_ns(st.get("system").copied().unwrap_or(0));
    }
    if let Some(d) = cpu {
        let st = parse_flat_keyed(&read(d, "cpu.stat")?);
        s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(d) = memory {
        s.memory.usage = read_u64(d, "memory.usage_in_bytes")?;
        s.memory.max_usage = read_u64(d, "memory.max_usage_in_bytes")?;
        s.memory.limit = read_u64(d, "memory.limit_in_bytes")?;
        s.memory.failcnt = read_u64(d, "memory.failcnt")?;
        s.memory.stats = parse_flat_keyed(&read(d, "memory.stat")?);
    }
    if let Some(d) = pids {
        s.pids.current = read_u64(d, "pids.current")?;
        s.pids.limit = read_u64(d, "pids.max").map(|v| (v != u64::MAX).then_some(v))?;
    }
    if let Some(d) = blkio {
        // Like runc: CFQ files, then BFQ, then the throttle files (always there).
        s.blkio.io_service_bytes_recursive = first_blkio(
            d,
            &[
                "blkio.io_service_bytes_recursive",
                "blkio.bfq.io_service_bytes_recursive",
                "blkio.throttle.io_service_bytes_recursive",
            ],
        )?;
        s.blkio.io_serviced_recursive = first_blkio(
            d,
            &[
                "blkio.io_serviced_recursive",
                "blkio.bfq.io_serviced_recursive",
                "blkio.throttle.io_serviced_recursive",
            ],
        )?;
    }
    Ok(s)
}

fn first_blkio(dir: &Path, files: &[&str]) -> Result<Vec<BlkioEntry>, CgroupError> {
    for f in files {
        if let Some(text) = read_opt(dir, f)? {
            let e = parse_blkio_v1(&text);
            if !e.is_empty() {
                return Ok(e);
            }
        }
    }
    Ok(Vec::new())
}

/// v2: files of controllers not enabled for this cgroup are simply absent,
/// which leaves those figures at zero.
pub(crate) fn stats_v2(d: &Path) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(text) = read_opt(d, "cpu.stat")? {
        let st = parse_flat_keyed(&text);
        let us = |k: &str| st.get(k).copied().unwrap_or(0).saturating_mul(1000);
        s.cpu.total_usage = us("usage_usec");
        s.cpu.usage_in_usermode = us("user_usec");
        s.cpu.usage_in_kernelmode = us("system_usec");
        s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = us("throttled_usec");
    }
    if let Some(u) = read_u64_opt(d, "memory.current")? {
        s.memory.usage = u;
        s.memory.limit = read_u64_opt(d, "memory.max")?.unwrap_or(u64::MAX);
        s.memory.max_usage = read_u64_opt(d, "memory.peak")?.unwrap_or(0);
        s.memory.stats = parse_flat_keyed(&read(d, "memory.stat")?);
    }
    if let Some(c) = read_u64_opt(d, "pids.current")? {
        s.pids.current = c;
        s.pids.limit = read_u64_opt(d, "pids.max")?.filter(|&v| v != u64::MAX);
    }
    if let Some(text) = read_opt(d, "io.stat")? {
        let (bytes, ios) = parse_io_stat_v2(&text);
        s.blkio.io_service_bytes_recursive = bytes;
        s.blkio.io_serviced_recursive = ios;
    }
    Ok(s)
}
