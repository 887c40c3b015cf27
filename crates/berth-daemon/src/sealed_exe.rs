//! The binary shims are started from: a read-only, detached bind mount of the
//! berth executable (CVE-2019-5736 class).
//!
//! Every container process starts as a fork of its shim, so until its execve
//! (and after it, if the program is `#!/proc/self/exe`) its /proc/<pid>/exe
//! is the shim's executable. Were that the host's berth binary, a process in
//! the container could open it through that magic link and overwrite the
//! runtime. runc answers with a sealed memfd copy of itself; berth's debug
//! build is hundreds of MB and shims live as long as their containers, so a
//! copy per shim is too dear. Instead the daemon clones a mount of just the
//! binary file (`open_tree(OPEN_TREE_CLONE)`), makes that mount read-only
//! (`mount_setattr`), never attaches it anywhere, and execs shims through the
//! held descriptor: their exe then lives on a mount no one can write through
//! (EROFS) or remount (it is in no namespace), at no memory cost.
//! Where the kernel lacks these calls (< 5.12) shims run from the plain path.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static SEALED: OnceLock<Option<OwnedFd>> = OnceLock::new();

/// The path to exec a shim from: `/proc/self/fd/<n>` of the sealed mount
/// (valid in the daemon and in its forks until exec), or `exe` itself.
pub fn program(exe: &Path) -> PathBuf {
    let sealed = SEALED.get_or_init(|| match seal(exe) {
        Ok(fd) => Some(fd),
        Err(e) => {
            tracing::warn!(
                "cannot seal {} for shims ({e}); they run from the plain binary",
                exe.display()
            );
            None
        }
    });
    match sealed {
        Some(fd) => PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())),
        None => exe.to_path_buf(),
    }
}

/// A detached, read-only, nosuid, nodev bind mount of the file `exe`.
pub fn seal(exe: &Path) -> std::io::Result<OwnedFd> {
    let path = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NUL-terminated path; the flags ask for a new detached clone.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor from the kernel.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: the detached mount's fd, an empty path with AT_EMPTY_PATH, and
    // a mount_attr of the size passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_copy_runs_but_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("true");
        std::fs::copy("/bin/true", &exe).unwrap();
        let fd = match seal(&exe) {
            Ok(fd) => fd,
            // Not root or an old kernel: nothing to check here.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => return,
            Err(e) => panic!("seal: {e}"),
        };
        let via = format!("/proc/self/fd/{}", fd.as_raw_fd());
        assert!(std::process::Command::new(&via).status().unwrap().success());
        let err = std::fs::OpenOptions::new()
            .append(true)
            .open(&via)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        // The file itself stays writable on its own mount.
        std::fs::OpenOptions::new().append(true).open(&exe).unwrap();
    }
}
