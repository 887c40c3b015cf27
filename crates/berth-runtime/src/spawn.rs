//! Forking the container child and the parent/child handshake:
//! * a "go" pipe: the child waits until the parent has done its part (e.g.
//!   put the child's pid into the cgroup);
//! * a CLOEXEC error pipe: a successful execve closes it (EOF, nothing read);
//!   otherwise the child writes its encoded error there and exits.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{pipe2, Pid};

use crate::error::{self, Context, Result, RuntimeError};

/// Forks a child with `flags` (fresh namespaces; empty = plain fork). The
/// child waits for the parent's `after_fork(pid)` to succeed, then runs
/// `child`, which returns only with an error. First it resets `signals` to
/// SIG_DFL and clears its blocked mask. Returns once the child has
/// exec'd, or with the error it reported (the child is then reaped).
///
/// The caller must be single-threaded: the child allocates, and another
/// thread could hold the allocator lock at fork time.
pub(crate) fn spawn(
    flags: CloneFlags,
    in_user: Option<Inside<'_>>,
    signals: Signals,
    child: impl FnOnce() -> RuntimeError,
    after_fork: impl FnOnce(Pid) -> Result<()>,
) -> Result<Pid> {
    let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe")?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe")?;
    let pid = clone_in(flags, in_user).ctx(|| format!("clone {flags:?}"))?;
    let Some(pid) = pid else {
        drop(go_w);
        drop(err_r);
        child_main(go_r, err_w, signals, child)
    };
    drop(go_r);
    drop(err_w);
    if let Err(e) = after_fork(pid) {
        abort_child(pid);
        return Err(e);
    }
    let mut go = File::from(go_w);
    if let Err(e) = go.write_all(&[1]) {
        abort_child(pid);
        return Err(RuntimeError::io("signal container process to continue", &e));
    }
    drop(go);
    outcome(pid, err_r)
}

/// What the child reported on the error pipe: nothing (the pipe closed at
/// its execve) means it runs; otherwise its error, once it is reaped.
fn outcome(pid: Pid, err_r: OwnedFd) -> Result<Pid> {
    let mut report = Vec::new();
    if let Err(e) = File::from(err_r).read_to_end(&mut report) {
        abort_child(pid);
        return Err(RuntimeError::io("read container process status", &e));
    }
    if report.is_empty() {
        return Ok(pid);
    }
    // The child exits right after writing; reap it so no zombie is left.
    let _ = waitpid(pid, None);
    Err(error::decode(&report))
}

/// [`spawn`] for a child that shares the caller's memory until it execs
/// (CLONE_VM | CLONE_VFORK, as posix_spawn does): fork's copy of the page
/// tables and the copy-on-write faults that follow it, in the caller and in
/// the child, were the largest part of an exec's cost after seccomp. The
/// caller is suspended until the child has exec'd or exited, so there is no
/// go-ahead: `child` does what an `after_fork` would (e.g. joining the
/// cgroup itself, by writing 0). Returns the pid once the child has exec'd,
/// or the error it reported.
///
/// What `child` may do is narrower than for [`spawn`]:
/// * it must not join a user namespace (setns refuses a shared mm);
/// * what it allocates and still holds at execve stays allocated in the
///   caller, so the success path should allocate nothing it keeps;
/// * process-wide state it changes that lives in the memory descriptor
///   (PR_SET_DUMPABLE) is the caller's too;
/// * as for [`spawn`], the caller must be single-threaded (the child runs
///   on the caller's thread-local state, e.g. errno and malloc's caches,
///   while the caller is stopped).
///
/// Every signal is blocked around the clone so the child cannot run one of
/// the caller's handlers before it has reset `signals`.
pub(crate) fn spawn_vm<F: FnOnce() -> RuntimeError>(signals: Signals, child: F) -> Result<Pid> {
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe")?;
    let stack = ChildStack::new()?;
    let mut payload = Some(VmChild {
        child,
        err_w: err_w.as_raw_fd(),
        signals,
    });
    let mut saved = SigSet::empty();
    nix::sys::signal::pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut saved),
    )
    .ctx(|| "block signals")?;
    // SAFETY: the child runs `vm_child` on its own stack with a pointer to
    // `payload`, which outlives it (CLONE_VFORK: clone returns only once the
    // child has exec'd or exited); it moves the payload out and never returns.
    let pid = unsafe {
        libc::clone(
            vm_child::<F>,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut payload as *mut Option<VmChild<F>>).cast(),
        )
    };
    let clone_err = Errno::last();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    drop(err_w);
    if pid < 0 {
        return Err(RuntimeError::sys("clone CLONE_VM|CLONE_VFORK", clone_err));
    }
    outcome(Pid::from_raw(pid), err_r)
}

/// What [`spawn_vm`] hands its child.
struct VmChild<F> {
    child: F,
    err_w: RawFd,
    signals: Signals,
}

/// Child side of [`spawn_vm`]; never returns.
extern "C" fn vm_child<F: FnOnce() -> RuntimeError>(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is spawn_vm's `payload`, alive while the caller waits;
    // taking it leaves None there, so the caller drops nothing twice.
    let Some(p) = (unsafe { &mut *arg.cast::<Option<VmChild<F>>>() }).take() else {
        // SAFETY: _exit is always safe.
        unsafe { libc::_exit(1) }
    };
    p.signals.reset();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(p.child))
        .unwrap_or_else(|_| RuntimeError::Child("container process setup panicked".into()));
    let report = error::encode(&err);
    let mut rest = &report[..];
    while !rest.is_empty() {
        // SAFETY: writes from a live buffer to the error pipe's write end.
        let n = unsafe { libc::write(p.err_w, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            break;
        }
        rest = &rest[n as usize..];
    }
    // SAFETY: _exit is always safe; nothing of the caller's may run here.
    unsafe { libc::_exit(1) }
}

/// The stack a [`spawn_vm`] child runs on, with a guard page below it.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

impl ChildStack {
    /// Generous for the setup code (paths and argument lists live on it);
    /// only the pages touched are ever backed.
    const SIZE: usize = 1 << 20;
    const GUARD: usize = 4096;

    fn new() -> Result<ChildStack> {
        let len = Self::SIZE + Self::GUARD;
        // SAFETY: a fresh private anonymous mapping; no existing memory.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(RuntimeError::sys("mmap child stack", Errno::last()));
        }
        let stack = ChildStack { base, len };
        // SAFETY: the lowest page of the mapping just made.
        if unsafe { libc::mprotect(base, Self::GUARD, libc::PROT_NONE) } != 0 {
            return Err(RuntimeError::sys(
                "mprotect child stack guard",
                Errno::last(),
            ));
        }
        Ok(stack)
    }

    /// The initial stack pointer (stacks grow down; the end is page aligned).
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, as clone expects.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in new(), no longer in use
        // (the child has exec'd or exited).
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// Kills and reaps a child that must not go on.
pub(crate) fn abort_child(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
}

/// Child side of [`spawn`]; never returns.
fn child_main(
    go_r: OwnedFd,
    err_w: OwnedFd,
    signals: Signals,
    child: impl FnOnce() -> RuntimeError,
) -> ! {
    let mut byte = [0u8; 1];
    // EOF instead of the byte: the parent gave up, so do nothing.
    if !matches!(File::from(go_r).read(&mut byte), Ok(1)) {
        // SAFETY: _exit is always safe; skips atexit handlers of the parent.
        unsafe { libc::_exit(1) };
    }
    signals.reset();
    // A panic must not unwind into the caller's code in this forked copy.
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child))
        .unwrap_or_else(|_| RuntimeError::Child("container process setup panicked".into()));
    let _ = File::from(err_w).write_all(&error::encode(&err));
    // SAFETY: as above.
    unsafe { libc::_exit(1) }
}

/// The kernel's struct sigaction, for the raw syscall: glibc's wrappers
/// refuse the real-time signals it reserves (32, 33), which a parent may
/// still have left ignored.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Signals (1..=64, a bit each) a forked child sets back to SIG_DFL before
/// anything else. Ignored signals and the blocked mask survive execve: a
/// container must not inherit the caller's (every Rust program ignores
/// SIGPIPE, a shim may block SIGCHLD/SIGTERM for a signalfd); caught ones
/// are reset by execve, but the child must not run the caller's handlers
/// (e.g. signal-hook's, writing to the shim's pipe) before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Signals(u64);

impl Signals {
    /// Every signal but SIGKILL and SIGSTOP (whatever the caller does).
    pub const ALL: Signals =
        Signals(!((1u64 << (libc::SIGKILL - 1)) | (1u64 << (libc::SIGSTOP - 1))));

    /// The signals whose disposition in the caller is not SIG_DFL: ignored
    /// or caught. Enough for a caller that does not change dispositions
    /// afterwards (the shim sets its handlers up before any exec); a signal
    /// whose disposition cannot be read is included.
    pub fn not_default() -> Signals {
        let mut set = 0u64;
        for sig in 1..=64 {
            if Signals::ALL.0 & bit(sig) == 0 {
                continue;
            }
            let mut old = KernelSigaction {
                handler: libc::SIG_DFL,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            // SAFETY: queries only (no new action); the kernel writes one
            // struct sigaction into `old`, which is laid out as it expects.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    std::ptr::null::<KernelSigaction>(),
                    &mut old as *mut KernelSigaction,
                    8usize,
                )
            };
            if r != 0 || old.handler != libc::SIG_DFL {
                set |= bit(sig);
            }
        }
        Signals(set)
    }

    #[cfg(test)]
    pub fn contains(self, sig: i32) -> bool {
        self.0 & bit(sig) != 0
    }

    /// Child side: SIG_DFL for each signal of the set, then an empty mask.
    fn reset(self) {
        let dfl = KernelSigaction {
            handler: libc::SIG_DFL,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        for sig in 1..=64 {
            if self.0 & bit(sig) == 0 {
                continue;
            }
            // SAFETY: a valid kernel sigaction installing SIG_DFL, no old
            // action requested; invalid numbers just fail with EINVAL.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                )
            };
        }
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    }
}

fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Existing namespaces a child is cloned inside of (see [`clone_in`]).
#[derive(Clone, Copy)]
pub(crate) struct Inside<'a> {
    /// The user namespace the child's fresh namespaces belong to.
    pub user: &'a OwnedFd,
    /// An existing pid namespace the child joins (`--pid container:`),
    /// entered by the helper rather than by the caller around the fork.
    pub pid: Option<&'a OwnedFd>,
}

/// [`clone_fork`], from inside the user namespace `user` when given: the
/// caller cannot enter a user namespace and come back, so a forked helper
/// enters it and clones the child with CLONE_PARENT (the child is still the
/// caller's direct child, and pid 1 of a fresh pid namespace, which like
/// every namespace it creates belongs to `user`), reports the child's pid
/// and exits. The child's root ids are still the caller's (unmapped there)
/// until it becomes root of `user`. A joined pid namespace is entered by
/// the helper too: the helper itself must stay in the caller's pid
/// namespace, where the pid clone returns to it is the caller's view.
fn clone_in(flags: CloneFlags, inside: Option<Inside<'_>>) -> nix::Result<Option<Pid>> {
    let Some(inside) = inside else {
        return clone_fork(flags);
    };
    let (r, w) = pipe2(OFlag::O_CLOEXEC)?;
    let Some(helper) = clone_fork(CloneFlags::empty())? else {
        let cloned = inside
            .pid
            .map_or(Ok(()), |pid| {
                nix::sched::setns(pid, CloneFlags::CLONE_NEWPID)
            })
            .and_then(|()| nix::sched::setns(inside.user, CloneFlags::CLONE_NEWUSER))
            .and_then(|()| clone_fork(flags | CloneFlags::CLONE_PARENT));
        let report = match cloned {
            // The container child: on with the caller's work.
            Ok(None) => return Ok(None),
            Ok(Some(pid)) => pid.as_raw(),
            Err(e) => -(e as i32),
        };
        let _ = File::from(w).write_all(&report.to_ne_bytes());
        // SAFETY: _exit is always safe; nothing of the caller's may run here.
        unsafe { libc::_exit(0) };
    };
    drop(w);
    let mut buf = [0u8; 4];
    let read = File::from(r).read_exact(&mut buf);
    let _ = waitpid(helper, None);
    match read.map(|()| i32::from_ne_bytes(buf)) {
        Ok(pid) if pid > 0 => Ok(Some(Pid::from_raw(pid))),
        Ok(errno) => Err(Errno::from_raw(-errno)),
        Err(_) => Err(Errno::ECHILD),
    }
}

/// fork(2) with namespace flags: the raw clone syscall without a new stack
/// behaves like fork, and unlike unshare it puts the child itself (not only
/// its children) into a new pid namespace, as its pid 1, while it stays a
/// direct child of the caller. Returns None in the child.
fn clone_fork(flags: CloneFlags) -> nix::Result<Option<Pid>> {
    let bits = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a null stack makes the child continue on a copy-on-write copy
    // of the current stack, exactly like fork; no pointers are passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            bits,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Dispositions are process-wide: tests that change them take turns.
    static DISPOSITIONS: Mutex<()> = Mutex::new(());

    extern "C" fn handler(_: libc::c_int) {}

    fn set(sig: i32, handler: libc::sighandler_t) {
        // SAFETY: a zeroed sigaction with a valid handler (SIG_DFL, SIG_IGN
        // or an extern "C" fn doing nothing).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler;
            assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
        }
    }

    #[test]
    fn snapshot_finds_ignored_and_caught_signals() {
        let _turn = DISPOSITIONS.lock().unwrap();
        let caught = libc::SIGRTMIN() + 10;
        let before = Signals::not_default();
        // The Rust runtime ignores SIGPIPE; nothing touched SIGUSR2 or `caught`.
        assert!(before.contains(libc::SIGPIPE));
        assert!(!before.contains(libc::SIGUSR2));
        assert!(!before.contains(caught));
        assert!(!before.contains(libc::SIGKILL) && !before.contains(libc::SIGSTOP));
        set(
            caught,
            handler as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        set(libc::SIGUSR2, libc::SIG_IGN);
        let after = Signals::not_default();
        set(caught, libc::SIG_DFL);
        set(libc::SIGUSR2, libc::SIG_DFL);
        assert!(after.contains(caught) && after.contains(libc::SIGUSR2));
        assert_eq!(
            after.0 & !(bit(caught) | bit(libc::SIGUSR2)),
            before.0,
            "only the two changed"
        );
        assert!(!Signals::ALL.contains(libc::SIGKILL) && Signals::ALL.contains(64));
    }

    #[test]
    fn child_resets_the_snapshot_and_the_mask() {
        let _turn = DISPOSITIONS.lock().unwrap();
        set(libc::SIGUSR1, libc::SIG_IGN);
        let snapshot = Signals::not_default();
        set(libc::SIGUSR1, libc::SIG_DFL);
        assert!(snapshot.contains(libc::SIGUSR1) && snapshot.contains(libc::SIGPIPE));
        // SAFETY: the child only makes raw system calls and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            set(libc::SIGUSR1, libc::SIG_IGN);
            let mut block = SigSet::empty();
            block.add(Signal::SIGTERM);
            let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&block), None);
            snapshot.reset();
            let mut mask = SigSet::empty();
            let _ = sigprocmask(SigmaskHow::SIG_BLOCK, None, Some(&mut mask));
            let clean = Signals::not_default() == Signals(0) && !mask.contains(Signal::SIGTERM);
            // SAFETY: _exit is always safe.
            unsafe { libc::_exit(if clean { 0 } else { 1 }) };
        }
        let status = waitpid(Pid::from_raw(pid), None).unwrap();
        assert_eq!(
            status,
            nix::sys::wait::WaitStatus::Exited(Pid::from_raw(pid), 0)
        );
    }
}
