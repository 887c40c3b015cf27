//! The last stretch of every container process, shared by the init and by
//! `exec`: rlimits, user, capabilities, cwd, no_new_privs, seccomp, execve.
//! Everything is computed from the spec before fork ([`ProcessPlan::new`]) so
//! the child only issues system calls.

use std::path::PathBuf;
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{chdir, setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::{PosixRlimitType, Process, Spec};

use crate::capabilities::{self, CapMasks};
use crate::error::{Context, Result, RuntimeError};
use crate::program::{self, Command, ProgramPath};

/// runc's umask when the spec gives none.
const DEFAULT_UMASK: u32 = 0o022;

/// What to do to turn the forked child into `process`.
pub(crate) struct ProcessPlan {
    pub command: Command,
    pub cwd: PathBuf,
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    pub umask: Mode,
    pub caps: Option<CapMasks>,
    pub last_cap: u32,
    pub rlimits: Vec<(Resource, u64, u64)>,
    pub no_new_privs: bool,
    pub seccomp: Option<Arc<berth_seccomp::Program>>,
    pub oom_score_adj: Option<i32>,
    /// AppArmor profile to switch to at execve (spec.process.apparmorProfile).
    pub apparmor: Option<String>,
}

/// Annotation naming a directory where compiled seccomp filters are cached
/// (berth's daemon sets it; other callers simply compile every time).
pub const SECCOMP_CACHE_ANNOTATION: &str = "berth.seccomp.cache";

/// The part of a [`ProcessPlan`] that depends on the container only: the
/// compiled seccomp filter and the host's last capability. `exec` computes
/// it once per container ([`crate::ExecContext`]).
#[derive(Debug, Clone)]
pub(crate) struct ContainerPlan {
    pub seccomp: Option<Arc<berth_seccomp::Program>>,
    pub last_cap: u32,
}

impl ContainerPlan {
    /// Compiles (or loads from the cache) seccomp from `spec.linux`.
    pub fn new(spec: &Spec) -> Result<ContainerPlan> {
        let cache = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(SECCOMP_CACHE_ANNOTATION));
        let seccomp = match (
            spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
            cache,
        ) {
            (Some(s), Some(dir)) => {
                Some(berth_seccomp::compile_cached(s, std::path::Path::new(dir))?)
            }
            (Some(s), None) => Some(berth_seccomp::compile(s)?),
            (None, _) => None,
        };
        Ok(ContainerPlan {
            seccomp: seccomp.map(Arc::new),
            last_cap: capabilities::last_cap(),
        })
    }
}

impl ProcessPlan {
    /// Validates and converts `process` (with seccomp from `spec.linux`).
    /// Compiling seccomp here keeps it off the child's path.
    pub fn new(spec: &Spec, process: &Process) -> Result<ProcessPlan> {
        ProcessPlan::with(&ContainerPlan::new(spec)?, process)
    }

    /// Validates and converts `process` for a container whose own part is
    /// already computed.
    pub fn with(container: &ContainerPlan, process: &Process) -> Result<ProcessPlan> {
        let args = process.args().clone().unwrap_or_default();
        let env = process.env().clone().unwrap_or_default();
        let user = process.user();
        let cwd = process.cwd().clone();
        if !cwd.is_absolute() {
            return Err(RuntimeError::InvalidSpec(format!(
                "process.cwd {cwd:?} is not an absolute path"
            )));
        }
        Ok(ProcessPlan {
            command: Command::new(&args, &env)?,
            cwd,
            uid: Uid::from_raw(user.uid()),
            gid: Gid::from_raw(user.gid()),
            groups: user
                .additional_gids()
                .iter()
                .flatten()
                .map(|g| Gid::from_raw(*g))
                .collect(),
            umask: Mode::from_bits_truncate(user.umask().unwrap_or(DEFAULT_UMASK)),
            caps: process.capabilities().as_ref().map(CapMasks::from_spec),
            last_cap: container.last_cap,
            rlimits: process
                .rlimits()
                .iter()
                .flatten()
                .map(|r| (resource(r.typ()), r.soft(), r.hard()))
                .collect(),
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            seccomp: container.seccomp.clone(),
            oom_score_adj: process.oom_score_adj(),
            apparmor: process.apparmor_profile().clone().filter(|p| !p.is_empty()),
        })
    }

    /// Runs in the child, inside the container's namespaces and root. Returns
    /// only with the error that prevented execve.
    pub fn finish(&self) -> RuntimeError {
        match self.prepare() {
            Ok(program) => self.command.exec_path(&program),
            Err(e) => e,
        }
    }

    /// Everything up to execve. Allocation-free when it succeeds, as a child
    /// sharing the caller's memory needs (see spawn.rs, `spawn_vm`), but for
    /// the oom_score_adj and AppArmor writes, whose buffers are freed again.
    fn prepare(&self) -> Result<ProgramPath> {
        if let Some(adj) = self.oom_score_adj {
            std::fs::write("/proc/self/oom_score_adj", adj.to_string())
                .ctx(|| "write /proc/self/oom_score_adj")?;
        }
        if let Some(profile) = &self.apparmor {
            apparmor_on_exec(profile)?;
        }
        for (res, soft, hard) in &self.rlimits {
            setrlimit(*res, *soft, *hard).ctx(|| format!("setrlimit {res:?}"))?;
        }
        // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which
        // the capability step below usually drops: so install it now (runc
        // does the same). The filter must then allow the calls that follow.
        if !self.no_new_privs {
            self.install_seccomp()?;
        }
        self.switch_user()?;
        umask(self.umask);
        chdir(&self.cwd).ctx(|| format!("chdir to cwd {:?} set in config.json", self.cwd))?;
        check_cwd_inside_root(&self.cwd)?;
        let mut program = ProgramPath::new();
        program::resolve_into(
            &self.command.arg0,
            self.command.path_var.as_deref(),
            &mut program,
        )?;
        close_inherited_fds()?;
        if self.no_new_privs {
            // SAFETY: prctl with integer arguments only.
            if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
                return Err(RuntimeError::sys("set no_new_privs", Errno::last()));
            }
            // As late as possible: the filter only needs to allow execve now.
            self.install_seccomp()?;
        }
        Ok(program)
    }

    fn install_seccomp(&self) -> Result<()> {
        if let Some(prog) = &self.seccomp {
            berth_seccomp::install(prog)?;
        }
        Ok(())
    }

    /// setgroups/setgid/setuid keeping the permitted set across the uid
    /// change (PR_SET_KEEPCAPS), then the spec's capability sets.
    fn switch_user(&self) -> Result<()> {
        if let Some(caps) = &self.caps {
            capabilities::drop_bounding(caps.bounding, self.last_cap)?;
            set_keepcaps(true)?;
        }
        setgroups(&self.groups).ctx(|| format!("setgroups {:?}", self.groups))?;
        setresgid(self.gid, self.gid, self.gid).ctx(|| format!("setgid {}", self.gid))?;
        setresuid(self.uid, self.uid, self.uid).ctx(|| format!("setuid {}", self.uid))?;
        if let Some(caps) = &self.caps {
            set_keepcaps(false)?;
            capabilities::apply(caps)?;
        }
        Ok(())
    }
}

/// A cwd reached through a descriptor the process still holds (`-w
/// /proc/self/fd/<n>` naming a directory of the host) lies outside the
/// container's root: the kernel's getcwd then answers "(unreachable)/..."
/// (CVE-2024-21626). Refuse to start the process there.
fn check_cwd_inside_root(cwd: &std::path::Path) -> Result<()> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: the raw syscall writes at most buf.len() bytes into buf.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    // ENAMETOOLONG and the like: a deep but legitimate directory.
    if r < 0 && Errno::last() != Errno::ENOENT {
        return Ok(());
    }
    let unreachable = r < 0 || buf.starts_with(b"(unreachable)") || buf[0] != b'/';
    if unreachable {
        return Err(RuntimeError::Child(format!(
            "current working directory {cwd:?} is outside of the container's root: possible container breakout detected"
        )));
    }
    Ok(())
}

/// Asks AppArmor to confine the next execve with `profile`, as runc does:
/// "exec <profile>" into the task's exec attribute (the per-LSM file first,
/// the legacy shared one on kernels without it). Still privileged here, so
/// the change is allowed; it takes effect with the container's program.
fn apparmor_on_exec(profile: &str) -> Result<()> {
    let value = format!("exec {profile}");
    let r = std::fs::write("/proc/self/attr/apparmor/exec", &value)
        .or_else(|_| std::fs::write("/proc/self/attr/exec", &value));
    r.ctx(|| format!("apply AppArmor profile {profile}"))
}

fn set_keepcaps(on: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, libc::c_ulong::from(on), 0, 0, 0) } != 0 {
        return Err(RuntimeError::sys("prctl PR_SET_KEEPCAPS", Errno::last()));
    }
    Ok(())
}

/// Marks every fd above stderr close-on-exec so nothing the caller had open
/// leaks into the container (the error pipe is CLOEXEC already).
fn close_inherited_fds() -> Result<()> {
    // SAFETY: close_range with integer arguments only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        )
    };
    if r != 0 {
        return Err(RuntimeError::sys("close_range", Errno::last()));
    }
    Ok(())
}

fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{PosixRlimitBuilder, ProcessBuilder, UserBuilder};

    #[test]
    fn plan_converts_user_rlimits_and_defaults() {
        let process = ProcessBuilder::default()
            .args(vec!["sh".to_string()])
            .env(vec!["PATH=/bin".to_string()])
            .cwd("/")
            .no_new_privileges(false)
            .user(
                UserBuilder::default()
                    .uid(1000u32)
                    .gid(1000u32)
                    .additional_gids(vec![1000u32, 5])
                    .build()
                    .unwrap(),
            )
            .rlimits(vec![PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .soft(1024u64)
                .hard(2048u64)
                .build()
                .unwrap()])
            .build()
            .unwrap();
        let mut spec = Spec::default();
        spec.linux_mut().as_mut().unwrap().set_seccomp(None);
        let plan = ProcessPlan::new(&spec, &process).unwrap();
        assert_eq!(plan.uid, Uid::from_raw(1000));
        assert_eq!(plan.groups, vec![Gid::from_raw(1000), Gid::from_raw(5)]);
        assert_eq!(plan.rlimits, vec![(Resource::RLIMIT_NOFILE, 1024, 2048)]);
        assert_eq!(plan.umask, Mode::from_bits_truncate(0o022));
        assert!(!plan.no_new_privs);
        assert!(plan.seccomp.is_none());
    }

    #[test]
    fn apparmor_profile_is_carried_to_the_child() {
        let process = ProcessBuilder::default()
            .args(vec!["sh".to_string()])
            .cwd("/")
            .apparmor_profile("berth-test")
            .build()
            .unwrap();
        let mut spec = Spec::default();
        spec.linux_mut().as_mut().unwrap().set_seccomp(None);
        let plan = ProcessPlan::new(&spec, &process).unwrap();
        assert_eq!(plan.apparmor.as_deref(), Some("berth-test"));
    }

    #[test]
    fn relative_cwd_is_rejected() {
        let process = ProcessBuilder::default()
            .args(vec!["sh".to_string()])
            .cwd("tmp")
            .build()
            .unwrap();
        let err = ProcessPlan::new(&Spec::default(), &process).err().unwrap();
        assert!(matches!(err, RuntimeError::InvalidSpec(_)));
    }
}
