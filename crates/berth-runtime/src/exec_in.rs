//! Running another process inside a running container (`docker exec`).

use std::os::fd::OwnedFd;

use berth_cgroups::{Cgroup, ProcsWriter};
use oci_spec::runtime::{Process, Spec};

use crate::error::{Result, RuntimeError};
use crate::namespaces::{own_pid_for_children, NamespacePlan, PidNsSwitch};
use crate::process::{ContainerPlan, ProcessPlan};
use crate::spawn::{abort_child, spawn, spawn_vm, Signals};
use crate::{Started, Stdio};

/// What [`crate::exec`] needs of a running container, prepared once for many
/// execs: [`ExecContext::new`]`(init_pid, spec)` compiles (or loads) the
/// seccomp filter, reads the host's last capability, opens the init's
/// namespaces that differ from the caller's, opens the cgroup's
/// `cgroup.procs` files and notes which signals the caller does not leave
/// at SIG_DFL (the child resets those only, so the caller must not change
/// its signal dispositions afterwards); [`ExecContext::exec`]`(process,
/// stdio)` then converts only the process and runs it as [`crate::exec`] does.
///
/// The context holds the container's namespaces open (mounts included):
/// drop it as soon as the init has exited, and make a new one for another
/// init (it is bound to [`ExecContext::init_pid`]).
#[derive(Debug)]
pub struct ExecContext {
    init_pid: i32,
    container: ContainerPlan,
    ns: NamespacePlan,
    /// The caller's own pid namespace for children, to return to after each
    /// fork into the container's (with `ns.join_pid` only).
    own_pid_ns: Option<OwnedFd>,
    cgroup: Option<ProcsWriter>,
    signals: Signals,
    /// Children share the caller's memory until execve ([`spawn_vm`]); not
    /// when they must enter a user namespace.
    shares_vm: bool,
}

impl ExecContext {
    /// Prepares execs into the container whose init is `init_pid`.
    pub fn new(init_pid: i32, spec: &Spec) -> Result<ExecContext> {
        let linux = spec
            .linux()
            .as_ref()
            .ok_or_else(|| RuntimeError::InvalidSpec("the linux section is missing".into()))?;
        let container = ContainerPlan::new(spec)?;
        let ns = NamespacePlan::for_exec(init_pid, linux)?;
        let own_pid_ns = match ns.join_pid {
            Some(_) => Some(own_pid_for_children()?),
            None => None,
        };
        let cgroup = match linux.cgroups_path() {
            Some(path) => Some(Cgroup::open(&path.to_string_lossy())?.procs_writer()?),
            None => None,
        };
        // Until execve an exec child is a copy of the caller, holding its
        // descriptors and memory, and sits in the container's pid namespace
        // where the container's processes can see it. Non-dumpable,
        // /proc/<pid>/{exe,fd,mem,...} refuse them (no CAP_SYS_PTRACE);
        // execve resets it for the new program (runc does the same;
        // CVE-2016-9962, CVE-2019-5736 class). A child sharing the caller's
        // memory shares this flag with it, so the caller sets it for good.
        let shares_vm = !ns.enters_user();
        if shares_vm {
            set_dumpable(false)?;
        }
        Ok(ExecContext {
            init_pid,
            container,
            ns,
            own_pid_ns,
            cgroup,
            signals: Signals::not_default(),
            shares_vm,
        })
    }

    /// The container init this context was made for.
    pub fn init_pid(&self) -> i32 {
        self.init_pid
    }

    /// Runs `process` in the container, as [`crate::exec`] does.
    pub fn exec(&self, process: &Process, stdio: Stdio) -> Result<Started> {
        let plan = ProcessPlan::with(&self.container, process)?;
        let new_pty = stdio.new_pty()?;
        let in_child = |join_cgroup: bool| -> RuntimeError {
            let run = || -> Result<()> {
                if join_cgroup {
                    if let Some(cg) = &self.cgroup {
                        // 0: the writer itself.
                        cg.add(0)?;
                    }
                }
                self.ns.enter()?;
                stdio.install()?;
                // Having joined the container's mount namespace (which also moved
                // our root there), /dev/ptmx is the container's devpts instance.
                if let Some(t) = &new_pty {
                    t.open(plan.uid)?;
                }
                Ok(())
            };
            match run() {
                Ok(()) => plan.finish(),
                Err(e) => e,
            }
        };
        let pid = {
            // The pid namespace is switched for the caller's next child only, so
            // the new process lands in the container's pid namespace while still
            // being the caller's direct child.
            let _switch = match (&self.ns.join_pid, &self.own_pid_ns) {
                (Some(target), Some(own)) => Some(PidNsSwitch::enter_from(target, own)?),
                (Some(target), None) => Some(PidNsSwitch::enter(target)?),
                (None, _) => None,
            };
            if self.shares_vm {
                // The caller is stopped until execve: the child joins the
                // cgroup itself. The caller was made non-dumpable in build().
                spawn_vm(self.signals, || in_child(true))?
            } else {
                let after_fork = |pid: nix::unistd::Pid| -> Result<()> {
                    if let Some(cg) = &self.cgroup {
                        cg.add(pid.as_raw())?;
                    }
                    Ok(())
                };
                let child = || match set_dumpable(false) {
                    Ok(()) => in_child(false),
                    Err(e) => e,
                };
                spawn(
                    nix::sched::CloneFlags::empty(),
                    None,
                    self.signals,
                    child,
                    after_fork,
                )?
            }
        };
        drop(stdio);
        let pty_master = match new_pty {
            Some(t) => Some(t.receive().inspect_err(|_| abort_child(pid))?),
            None => None,
        };
        Ok(Started {
            pid: pid.as_raw(),
            pty_master,
        })
    }
}

/// PR_SET_DUMPABLE for the calling process (see the callers for why).
pub(crate) fn set_dumpable(on: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) } != 0 {
        return Err(RuntimeError::sys(
            "prctl PR_SET_DUMPABLE",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}
