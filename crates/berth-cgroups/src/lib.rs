//! berth-cgroups: one `Cgroup` handle over cgroup v1, hybrid (v1 controllers plus
//! an empty unified tree) and pure v2 hosts. Resource mapping follows runc
//! (Docker 20.10), because that is what `docker run -m/--cpus/...` produces.
//!
//! Layout: `mountinfo` finds hierarchies, `v1`/`v2` write limits, `stats`
//! parses usage, `ops` holds freeze/kill/pids/destroy helpers, `devices_bpf`
//! is the v2 device cgroup (an eBPF program built from the device rules).
mod devices;
mod devices_bpf;
mod error;
mod fsutil;
mod mountinfo;
mod ops;
mod stats;
mod v1;
mod v2;

use mountinfo::{Mounts, V1Hierarchy};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

pub use error::CgroupError;
pub use oci_spec::runtime::LinuxResources;
pub use stats::{
    parse_blkio_v1, parse_flat_keyed, parse_io_stat_v2, parse_space_separated, BlkioEntry,
    BlkioStats, CpuStats, MemoryStats, PidsStats, Stats, ThrottlingData,
};

/// How the host mounts cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only v1 hierarchies.
    V1,
    /// v1 controllers plus a cgroup2 mount with no controllers (systemd's "hybrid").
    Hybrid,
    /// Everything in the unified hierarchy.
    V2,
}

fn mounts() -> &'static Mounts {
    static MOUNTS: OnceLock<Mounts> = OnceLock::new();
    MOUNTS.get_or_init(mountinfo::load)
}

fn mode_of(m: &Mounts) -> Mode {
    let real_v1 =
        m.v1.iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
    match (real_v1, m.unified.is_some()) {
        (true, true) => Mode::Hybrid,
        (false, true) => Mode::V2,
        _ => Mode::V1,
    }
}

/// Whether the host's cgroups have `file` (e.g. "blkio.weight_device") for
/// a v1 `controller`, or, on v2, whether the unified root delegates
/// `controller` (the v2 file names differ; callers check the v1 name only
/// on v1). Docker asks the same before it accepts a setting, and discards
/// what the host cannot do with a warning.
pub fn host_supports(controller: &str, file: &str) -> bool {
    let m = mounts();
    if mode_of(m) == Mode::V2 {
        let Some(root) = &m.unified else {
            return false;
        };
        let v2_name = if controller == "blkio" {
            "io"
        } else {
            controller
        };
        return std::fs::read_to_string(root.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|n| n == v2_name));
    }
    m.v1.iter()
        .find(|h| h.has(controller))
        .is_some_and(|h| h.mount_point.join(file).exists())
}

/// The host's cgroup mode, read once from /proc/self/mountinfo.
pub fn detect() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| mode_of(mounts()))
}

/// One v1 hierarchy and this cgroup's directory in it.
#[derive(Debug, Clone)]
struct V1Dir {
    hierarchy: V1Hierarchy,
    dir: PathBuf,
}

/// A container's cgroup across all hierarchies.
#[derive(Debug, Clone)]
pub struct Cgroup {
    rel: PathBuf,
    mode: Mode,
    v1: Vec<V1Dir>,
    /// This cgroup in the unified tree: the only directory on v2; on hybrid a
    /// best-effort extra (gives the container a real `0::` path and cgroup.kill).
    unified: Option<PathBuf>,
}

/// "berth/<id>" or "/berth/<id>" -> relative path without `..` tricks.
fn normalize(rel: &str) -> Result<PathBuf, CgroupError> {
    let mut out = PathBuf::new();
    for c in Path::new(rel).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            _ => return Err(CgroupError::InvalidPath(rel.to_string())),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(CgroupError::InvalidPath(rel.to_string()));
    }
    Ok(out)
}

impl Cgroup {
    fn layout(rel: &str) -> Result<Cgroup, CgroupError> {
        let m = mounts();
        let rel = normalize(rel)?;
        let mode = mode_of(m);
        let unified = m.unified.as_ref().map(|u| u.join(&rel));
        let v1: Vec<V1Dir> = if mode == Mode::V2 {
            Vec::new()
        } else {
            m.v1.iter()
                .map(|h| V1Dir {
                    dir: h.mount_point.join(&rel),
                    hierarchy: h.clone(),
                })
                .collect()
        };
        if v1.is_empty() && unified.is_none() {
            return Err(CgroupError::NoHierarchy);
        }
        Ok(Cgroup {
            rel,
            mode,
            v1,
            unified,
        })
    }

    /// Creates cgroup `rel` (e.g. "berth/<id>") in every hierarchy and applies `res`.
    /// On failure nothing is left behind.
    pub fn create(rel: &str, res: &LinuxResources) -> Result<Cgroup, CgroupError> {
        let mut cg = Cgroup::layout(rel)?;
        let result = cg.make_dirs().and_then(|_| cg.apply(res, true));
        if let Err(e) = result {
            let _ = cg.destroy();
            return Err(e);
        }
        Ok(cg)
    }

    fn make_dirs(&mut self) -> Result<(), CgroupError> {
        for d in &self.v1 {
            if d.hierarchy.has("cpuset") {
                v1::init_cpuset(&d.hierarchy.mount_point, &self.rel)?;
            } else {
                fsutil::mkdir_all(&d.dir)?;
            }
        }
        match self.mode {
            Mode::V2 => {
                let root = mounts().unified.as_ref().ok_or(CgroupError::NoHierarchy)?;
                v2::enable_controllers(root, &self.rel)?;
            }
            // Hybrid: the unified tree carries no controllers; joining it is a
            // nicety, so a failure only drops it.
            _ => {
                if let Some(u) = &self.unified {
                    if fsutil::mkdir_all(u).is_err() {
                        self.unified = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// Opens an existing cgroup (after a daemon restart).
    pub fn open(rel: &str) -> Result<Cgroup, CgroupError> {
        let mut cg = Cgroup::layout(rel)?;
        if cg.mode != Mode::V2 {
            if !cg.v1.iter().any(|d| d.dir.is_dir()) {
                return Err(CgroupError::NotFound(rel.to_string()));
            }
            if cg.unified.as_ref().is_some_and(|u| !u.is_dir()) {
                cg.unified = None;
            }
        } else if !cg.unified.as_ref().is_some_and(|u| u.is_dir()) {
            return Err(CgroupError::NotFound(rel.to_string()));
        }
        Ok(cg)
    }

    /// The cgroup path relative to the hierarchy roots, without a leading '/'.
    pub fn rel_path(&self) -> &Path {
        &self.rel
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// This cgroup's directory for a v1 controller (or the unified dir on v2).
    pub fn controller_dir(&self, controller: &str) -> Option<&Path> {
        if self.mode == Mode::V2 {
            return self.unified.as_deref();
        }
        self.v1
            .iter()
            .find(|d| d.hierarchy.has(controller))
            .map(|d| d.dir.as_path())
    }

    fn v1_dirs(&self) -> v1::Dirs<'_> {
        let d = |c| self.controller_dir(c);
        v1::Dirs {
            memory: d("memory"),
            cpu: d("cpu"),
            cpuset: d("cpuset"),
            pids: d("pids"),
            blkio: d("blkio"),
            devices: d("devices"),
            hugetlb: d("hugetlb"),
            net_cls: d("net_cls"),
            net_prio: d("net_prio"),
        }
    }

    fn apply(&self, res: &LinuxResources, initial: bool) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => {
                let dir = self.unified.as_deref().ok_or(CgroupError::NoHierarchy)?;
                v2::apply(dir, res)
            }
            _ => v1::apply(&self.v1_dirs(), res, initial),
        }
    }

    /// Moves `pid` into this cgroup in every hierarchy.
    pub fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for d in &self.v1 {
            fsutil::write(&d.dir, "cgroup.procs", &pid)?;
        }
        if let Some(u) = &self.unified {
            let r = fsutil::write(u, "cgroup.procs", &pid);
            // On hybrid the unified tree is optional (see `unified`).
            if self.mode == Mode::V2 {
                r?;
            }
        }
        Ok(())
    }

    /// This cgroup's `cgroup.procs` files opened for writing once, to move
    /// many processes in without a path walk, open and close per hierarchy
    /// each time (the shim's execs). Same rules as [`Cgroup::add_task`]:
    /// every v1 hierarchy is required; the unified one is required on v2 and
    /// optional on hybrid. The files pin nothing: the directories can still
    /// be removed, after which writes fail.
    pub fn procs_writer(&self) -> Result<ProcsWriter, CgroupError> {
        let mut files = Vec::with_capacity(self.v1.len() + 1);
        for d in &self.v1 {
            files.push(ProcsFile::open(&d.dir)?);
        }
        let mut unified = None;
        if let Some(u) = &self.unified {
            match ProcsFile::open(u) {
                Ok(f) => unified = Some(f),
                Err(e) if self.mode == Mode::V2 => return Err(e),
                Err(_) => {}
            }
        }
        Ok(ProcsWriter {
            files,
            unified,
            unified_required: self.mode == Mode::V2,
        })
    }

    /// Applies new limits to a live cgroup (`docker update`). v1 device rules
    /// are left alone (see v1::apply); on v2, device rules given here replace
    /// the cgroup's device program (the daemon passes none on update).
    pub fn update(&self, res: &LinuxResources) -> Result<(), CgroupError> {
        self.apply(res, false)
    }

    /// Freezes every task and waits until the kernel reports them frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.freezer() {
            Freezer::V1(dir) => ops::freeze_v1(dir),
            Freezer::V2(dir) => ops::freeze_v2(dir, true),
            Freezer::None => Err(CgroupError::NoHierarchy),
        }
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.freezer() {
            Freezer::V1(dir) => fsutil::write(dir, "freezer.state", "THAWED"),
            Freezer::V2(dir) => ops::freeze_v2(dir, false),
            Freezer::None => Err(CgroupError::NoHierarchy),
        }
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match self.freezer() {
            Freezer::V1(dir) => Ok(fsutil::read(dir, "freezer.state")?.trim() == "FROZEN"),
            Freezer::V2(dir) => ops::frozen_v2(dir),
            Freezer::None => Err(CgroupError::NoHierarchy),
        }
    }

    fn freezer(&self) -> Freezer<'_> {
        if self.mode == Mode::V2 {
            return self.unified.as_deref().map_or(Freezer::None, Freezer::V2);
        }
        self.controller_dir("freezer")
            .map_or(Freezer::None, Freezer::V1)
    }

    /// Directory whose cgroup.procs lists the container's processes.
    fn procs_dir(&self) -> Option<&Path> {
        if self.mode == Mode::V2 {
            return self.unified.as_deref();
        }
        ["pids", "freezer", "memory", "cpu"]
            .iter()
            .find_map(|c| self.controller_dir(c))
            .or_else(|| self.v1.first().map(|d| d.dir.as_path()))
    }

    /// Every process in this cgroup and its descendants.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let dir = self.procs_dir().ok_or(CgroupError::NoHierarchy)?;
        let mut out = Vec::new();
        ops::collect_pids(dir, &mut out)?;
        Ok(out)
    }

    /// How many times the kernel OOM-killed a task of this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let (dir, file) = if self.mode == Mode::V2 {
            (self.unified.as_deref(), "memory.events")
        } else {
            (self.controller_dir("memory"), "memory.oom_control")
        };
        let dir = dir.ok_or(CgroupError::NoHierarchy)?;
        let text = fsutil::read(dir, file)?;
        Ok(parse_flat_keyed(&text)
            .get("oom_kill")
            .copied()
            .unwrap_or(0))
    }

    /// Current usage, for `docker stats`.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        if self.mode == Mode::V2 {
            let dir = self.unified.as_deref().ok_or(CgroupError::NoHierarchy)?;
            ops::stats_v2(dir)
        } else {
            ops::stats_v1(
                self.controller_dir("cpuacct"),
                self.controller_dir("cpu"),
                self.controller_dir("memory"),
                self.controller_dir("pids"),
                self.controller_dir("blkio"),
            )
        }
    }

    /// (name under the container's /sys/fs/cgroup, host dir of this cgroup)
    /// for read-only bind mounts. v2: one entry ("", dir) = /sys/fs/cgroup itself.
    pub fn container_mounts(&self) -> Vec<(String, PathBuf)> {
        if self.mode == Mode::V2 {
            return self
                .unified
                .iter()
                .map(|u| (String::new(), u.clone()))
                .collect();
        }
        self.v1
            .iter()
            .map(|d| (d.hierarchy.dir_name(), d.dir.clone()))
            .collect()
    }

    /// Sends `signal` to every process. SIGKILL on v2 uses cgroup.kill; other
    /// cases freeze first so nothing forks past the signal, like runc.
    pub fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        if self.mode == Mode::V2 && signal == libc::SIGKILL {
            if let Some(u) = self.unified.as_deref() {
                if fsutil::write_if_exists(u, "cgroup.kill", "1")? {
                    return Ok(());
                }
            }
        }
        let frozen = self.freeze().is_ok();
        let result = self
            .pids()
            .and_then(|pids| pids.into_iter().try_for_each(|p| ops::signal(p, signal)));
        if frozen {
            self.thaw()?;
        }
        result
    }

    /// Removes the cgroup (and any sub-cgroups) everywhere. Already gone is fine.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let mut first_err = None;
        let dirs = self
            .v1
            .iter()
            .map(|d| d.dir.as_path())
            .chain(self.unified.as_deref());
        for dir in dirs {
            if let Err(e) = ops::remove_tree(dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// See [`Cgroup::procs_writer`].
#[derive(Debug)]
pub struct ProcsWriter {
    files: Vec<ProcsFile>,
    unified: Option<ProcsFile>,
    unified_required: bool,
}

#[derive(Debug)]
struct ProcsFile {
    file: std::fs::File,
    path: PathBuf,
}

impl ProcsFile {
    fn open(dir: &Path) -> Result<ProcsFile, CgroupError> {
        let path = dir.join("cgroup.procs");
        // std opens with O_CLOEXEC: forked container processes do not keep it.
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(file) => Ok(ProcsFile { file, path }),
            Err(source) => Err(CgroupError::Write {
                path,
                value: String::new(),
                source,
            }),
        }
    }

    fn write(&self, pid: &str) -> Result<(), CgroupError> {
        use std::os::unix::fs::FileExt;
        // One write(2) of the whole number; cgroupfs ignores the offset.
        match self.file.write_at(pid.as_bytes(), 0) {
            Ok(n) if n == pid.len() => Ok(()),
            Ok(_) => Err(CgroupError::Write {
                path: self.path.clone(),
                value: pid.to_string(),
                source: std::io::ErrorKind::WriteZero.into(),
            }),
            Err(source) => Err(CgroupError::Write {
                path: self.path.clone(),
                value: pid.to_string(),
                source,
            }),
        }
    }
}

impl ProcsWriter {
    /// Moves `pid` into the cgroup in every hierarchy ([`Cgroup::add_task`]
    /// through the files opened beforehand).
    pub fn add(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for f in &self.files {
            f.write(&pid)?;
        }
        if let Some(u) = &self.unified {
            let r = u.write(&pid);
            if self.unified_required {
                r?;
            }
        }
        Ok(())
    }
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
    None,
}

#[cfg(test)]
mod tests;
