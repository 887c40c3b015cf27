//! berth-runtime: turns an OCI runtime spec into an isolated, running
//! container process, in-process (no re-exec), for the shim to supervise.
//!
//! The start path does all parsing and checking before forking; the child
//! only makes system calls: enter namespaces, join the cgroup (done by the
//! parent between fork and the go-ahead), mount the root filesystem and the
//! spec's mounts, build /dev, pivot_root, mask and read-only paths, hostname,
//! rlimits, user and capabilities, no_new_privs, seccomp, execve.
//!
//! Both entry points fork: call them from a single-threaded process.

mod capabilities;
mod create;
mod detached;
mod devices;
mod error;
mod exec_in;
mod hooks;
mod inroot;
pub mod mount_opts;
mod namespaces;
pub mod openat2;
pub mod paths;
mod process;
pub mod program;
mod rootfs;
mod spawn;
mod stdio;
pub mod sysctl;
mod userns;

use std::path::PathBuf;

pub use error::RuntimeError;
pub use exec_in::ExecContext;
pub use hooks::ID_ANNOTATION;
pub use oci_spec::runtime::{Process, Spec};
pub use process::SECCOMP_CACHE_ANNOTATION;
pub use stdio::{PtySize, Stdio};

/// How to mount the container's root filesystem, done INSIDE the container's
/// new mount namespace, at spec.root.path, before anything else. For overlay,
/// `data` uses relative lowerdir paths ("lowerdir=l/AB:l/CD,upperdir=x/diff,
/// workdir=x/work") resolved against `chdir` (chdir there, mount, chdir back)
/// so 100+ layer images fit the mount-option page limit. For the vfs driver:
/// fstype "bind", source = a full copy dir, data "".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsMount {
    pub fstype: String,
    pub source: String,
    pub data: String,
    pub chdir: Option<PathBuf>,
}

/// A started container process.
#[derive(Debug)]
pub struct Started {
    /// Host pid; a direct child of the caller (reap it with waitpid).
    pub pid: i32,
    /// With [`Stdio::NewPty`]: the master side of the process's terminal
    /// (close-on-exec, blocking). Reads end with EIO once every holder of
    /// the slave has closed it.
    pub pty_master: Option<std::os::fd::OwnedFd>,
}

/// Creates the namespaces, cgroup, mounts, etc. and execs spec.process.
/// Returns only after execve succeeded (a CLOEXEC sync pipe closes) or with
/// the error that prevented it. The returned pid is a DIRECT child of the
/// caller (the shim waits for it with waitpid).
///
/// With `spec.root` but no `rootfs`, root.path is bind-mounted onto itself.
/// prestart/createRuntime hooks run (in the caller) once the namespaces exist,
/// before the child continues; poststart hooks after the exec. Hooks see the
/// id from the [`ID_ANNOTATION`] annotation.
pub fn create_and_start(
    spec: &Spec,
    rootfs: Option<&RootfsMount>,
    stdio: Stdio,
) -> Result<Started, RuntimeError> {
    create::create_and_start(spec, rootfs, stdio, &mut |_| Ok(()))
}

/// [`create_and_start`] with `prepare(pid)` called once the container's
/// namespaces exist and its user namespace's id maps are written, before
/// the OCI prestart hooks and the child's go-ahead: the caller configures
/// what only the host can from outside, e.g. a new network namespace at
/// `/proc/<pid>/ns/net` that belongs to the container's user namespace (as
/// Docker's libnetwork does from runc's prestart hook). An error aborts the
/// start; its text becomes the returned error.
pub fn create_and_start_with(
    spec: &Spec,
    rootfs: Option<&RootfsMount>,
    stdio: Stdio,
    prepare: &mut dyn FnMut(i32) -> Result<(), String>,
) -> Result<Started, RuntimeError> {
    create::create_and_start(spec, rootfs, stdio, prepare)
}

/// Runs `process` inside the running container whose init is `init_pid`:
/// joins its mnt, uts, ipc, net, pid (and cgroup) namespaces (those the spec
/// lists and that differ from the caller's) and its cgroup, then applies
/// user, groups, cwd, env, capabilities, no_new_privs, rlimits and seccomp
/// from `process`/`spec` like the init. Returns after execve succeeded, or
/// the error.
///
/// The caller enters the container's pid namespace for its next child only
/// (setns on `pid_for_children`, restored right after the fork), so the
/// returned pid is a direct child of the caller, in the container's pid
/// namespace: no intermediate process, and PR_SET_CHILD_SUBREAPER is not
/// even needed (it does no harm if the shim sets it).
///
/// Everything that depends on the container only is redone by each call; a
/// caller running many execs keeps an [`ExecContext`] instead.
pub fn exec(
    init_pid: i32,
    spec: &Spec,
    process: &Process,
    stdio: Stdio,
) -> Result<Started, RuntimeError> {
    ExecContext::new(init_pid, spec)?.exec(process, stdio)
}
