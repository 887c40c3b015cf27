//! Starting a new container: namespaces, cgroup, root filesystem, process.

use berth_cgroups::Cgroup;
use oci_spec::runtime::{LinuxResources, Spec};

use crate::error::{Context, Result, RuntimeError};
use crate::hooks::HookPlan;
use crate::namespaces::{NamespacePlan, ParentNsSwitch, PidNsSwitch};
use crate::process::ProcessPlan;
use crate::rootfs::RootfsPlan;
use crate::spawn::{abort_child, spawn, Inside, Signals};
use crate::userns::IdMaps;
use crate::{RootfsMount, Started, Stdio};

/// See [`crate::create_and_start`].
pub fn create_and_start(
    spec: &Spec,
    rootfs: Option<&RootfsMount>,
    stdio: Stdio,
    prepare: &mut dyn FnMut(i32) -> std::result::Result<(), String>,
) -> Result<Started> {
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("the linux section is missing".into()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| RuntimeError::InvalidSpec("the process section is missing".into()))?;
    // Everything that can be computed or checked is done here, before fork.
    let mut plan = ProcessPlan::new(spec, process)?;
    // The parent writes the init's oom_score_adj (as runc does before it
    // enters a user namespace): inside one, /proc/self/oom_score_adj belongs
    // to the host's root and the child may not write it, even to 0.
    let oom_score_adj = plan.oom_score_adj.take();
    let ns = NamespacePlan::for_create(linux)?;
    // A user namespace of its own, or a joined one the child is cloned in.
    let in_userns = ns.new_user || ns.via_user.is_some();
    let cgroup = match linux.cgroups_path() {
        Some(path) => {
            let rel = path.to_str().ok_or_else(|| {
                RuntimeError::InvalidSpec(format!("cgroupsPath {path:?} is not UTF-8"))
            })?;
            let default = LinuxResources::default();
            Some(Cgroup::create(
                rel,
                linux.resources().as_ref().unwrap_or(&default),
            )?)
        }
        None => None,
    };
    let id_maps = ns.new_user.then(|| IdMaps::from_spec(linux)).transpose()?;
    // Kept open until the child has attached it (see detached.rs).
    let detached_root = match rootfs {
        Some(rm) if in_userns && ns.new_mount => Some(crate::detached::open_rootfs(rm)?),
        _ => None,
    };
    let rootfs_plan = if ns.new_mount {
        let cg_mounts = cgroup
            .as_ref()
            .map(Cgroup::container_mounts)
            .unwrap_or_default();
        let mut plan = RootfsPlan::new(spec, rootfs, cg_mounts)?;
        if in_userns {
            use std::os::fd::AsRawFd;
            plan.for_user_namespace(detached_root.as_ref().map(|f| f.as_raw_fd()), ns.new_net);
        }
        Some(plan)
    } else {
        None
    };
    let hooks = HookPlan::new(spec);
    let hostname = spec.hostname().clone().filter(|_| ns.new_uts);
    let domainname = spec.domainname().clone().filter(|_| ns.new_uts);

    let new_pty = stdio.new_pty()?;

    let child = || -> RuntimeError {
        let run = || -> Result<()> {
            // As for exec'd processes (exec_in.rs): until execve this is a
            // copy of the shim, with its memory and descriptors, and already
            // in the container's pid namespace when one is joined (`--pid
            // container:`); non-dumpable, its /proc/<pid>/{exe,fd,mem,environ}
            // refuse container processes without CAP_SYS_PTRACE over it.
            // execve of the (readable) program makes it dumpable again.
            crate::exec_in::set_dumpable(false)?;
            ns.enter()?;
            let console = stdio.install()?;
            if let Some(r) = &rootfs_plan {
                r.enter(console)?;
            }
            // After pivot_root, so /dev/ptmx is the container's devpts
            // instance and the terminal is /dev/pts/N inside (runc's order).
            if let Some(t) = &new_pty {
                t.open(plan.uid)?;
                if let Some(r) = &rootfs_plan {
                    r.bind_console(0)?;
                }
            }
            if let Some(r) = &rootfs_plan {
                r.finish()?;
            }
            if let Some(h) = &hostname {
                nix::unistd::sethostname(h).ctx(|| format!("sethostname {h}"))?;
            }
            if let Some(d) = &domainname {
                set_domainname(d)?;
            }
            Ok(())
        };
        match run() {
            Ok(()) => plan.finish(),
            Err(e) => e,
        }
    };
    let after_fork = |pid: nix::unistd::Pid| -> Result<()> {
        if let Some(maps) = &id_maps {
            maps.write(pid.as_raw())?;
        }
        if let Some(cg) = &cgroup {
            cg.add_task(pid.as_raw())?;
        }
        if let Some(adj) = oom_score_adj {
            let path = format!("/proc/{pid}/oom_score_adj");
            std::fs::write(&path, adj.to_string()).ctx(|| format!("write {path}"))?;
        }
        prepare(pid.as_raw()).map_err(RuntimeError::Child)?;
        hooks.run_before_start(pid.as_raw())
    };
    let pid = {
        // Joining an existing pid namespace only works for children; from
        // a joined user namespace the helper that clones enters it.
        let inside = ns.via_user.as_ref().map(|user| Inside {
            user,
            pid: ns.join_pid.as_ref(),
        });
        let _switch = match inside {
            Some(_) => None,
            None => ns.join_pid.as_ref().map(PidNsSwitch::enter).transpose()?,
        };
        let _joined = ParentNsSwitch::enter(&ns.join_in_parent)?;
        spawn(ns.clone_flags, inside, Signals::ALL, child, after_fork)?
    };
    drop(detached_root);
    drop(stdio);
    let pty_master = match new_pty {
        Some(t) => Some(t.receive().inspect_err(|_| abort_child(pid))?),
        None => None,
    };
    hooks.run_poststart(pid.as_raw());
    Ok(Started {
        pid: pid.as_raw(),
        pty_master,
    })
}

fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: pointer and length of a live byte slice.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if r != 0 {
        return Err(RuntimeError::sys(
            format!("setdomainname {name}"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}
