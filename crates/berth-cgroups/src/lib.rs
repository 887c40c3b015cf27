//! berth-cgroups: cgroup v1, hybrid and v2 managers (skeleton; filled in next).
use std::path::PathBuf;

pub use oci_spec::runtime::LinuxResources;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    V1,
    Hybrid,
    V2,
}

pub fn detect() -> Mode {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Mode::V2
    } else {
        Mode::Hybrid
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cgroup operation not implemented yet: {0}")]
    Unsupported(&'static str),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {}

#[derive(Debug, Clone)]
pub struct Cgroup {
    rel: String,
}

impl Cgroup {
    pub fn create(rel: &str, _res: &LinuxResources) -> Result<Cgroup, CgroupError> {
        Ok(Cgroup { rel: rel.to_string() })
    }
    pub fn open(rel: &str) -> Result<Cgroup, CgroupError> {
        Ok(Cgroup { rel: rel.to_string() })
    }
    pub fn add_task(&self, _pid: i32) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported("add_task"))
    }
    pub fn update(&self, _res: &LinuxResources) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported("update"))
    }
    pub fn freeze(&self) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported("freeze"))
    }
    pub fn thaw(&self) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported("thaw"))
    }
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        Err(CgroupError::Unsupported("is_frozen"))
    }
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        Err(CgroupError::Unsupported("pids"))
    }
    pub fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        Err(CgroupError::Unsupported("oom_kill_count"))
    }
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        Err(CgroupError::Unsupported("stats"))
    }
    pub fn container_mounts(&self) -> Vec<(String, PathBuf)> {
        let _ = &self.rel;
        Vec::new()
    }
    pub fn kill_all(&self, _signal: i32) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported("kill_all"))
    }
    pub fn destroy(&self) -> Result<(), CgroupError> {
        Err(CgroupError::Unsupported("destroy"))
    }
}
