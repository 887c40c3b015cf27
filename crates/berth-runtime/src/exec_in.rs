//! Running another process inside a running container (`docker exec`).

use berth_cgroups::Cgroup;
use oci_spec::runtime::{Process, Spec};

use crate::error::{Result, RuntimeError};
use crate::namespaces::{NamespacePlan, PidNsSwitch};
use crate::process::ProcessPlan;
use crate::spawn::{abort_child, spawn};
use crate::{Started, Stdio};

/// See [`crate::exec`].
pub fn exec(init_pid: i32, spec: &Spec, process: &Process, stdio: Stdio) -> Result<Started> {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("the linux section is missing".into()))?;
    let plan = ProcessPlan::new(spec, process)?;
    let ns = NamespacePlan::for_exec(init_pid, linux)?;
    let cgroup = match linux.cgroups_path() {
        Some(path) => Some(Cgroup::open(&path.to_string_lossy())?),
        None => None,
    };
    let new_pty = stdio.new_pty()?;
    let child = || -> RuntimeError {
        let run = || -> Result<()> {
            // Until execve this process is a copy of the caller, holding its
            // descriptors and memory, and from the fork on it sits in the
            // container's pid namespace where the container's processes can
            // see it. Non-dumpable, /proc/<pid>/{exe,fd,mem,...} refuse them
            // (no CAP_SYS_PTRACE); execve resets it for the new program
            // (runc does the same; CVE-2016-9962, CVE-2019-5736 class).
            set_dumpable(false)?;
            ns.enter()?;
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
    let after_fork = |pid: nix::unistd::Pid| -> Result<()> {
        if let Some(cg) = &cgroup {
            cg.add_task(pid.as_raw())?;
        }
        Ok(())
    };
    let pid = {
        // The pid namespace is switched for the caller's next child only, so
        // the new process lands in the container's pid namespace while still
        // being the caller's direct child.
        let _switch = ns.join_pid.as_ref().map(PidNsSwitch::enter).transpose()?;
        spawn(nix::sched::CloneFlags::empty(), None, child, after_fork)?
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
