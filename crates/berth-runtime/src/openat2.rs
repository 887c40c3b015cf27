//! `openat2(2)` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: the one
//! primitive every container-path lookup (mount points, `cp`, archive,
//! stat) goes through, so `..` and absolute symlinks stop at the container's
//! `/` and magic links (/proc/self/fd/*, /proc/<pid>/root) are refused.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// How often a lookup is retried when the kernel answers EAGAIN.
const EAGAIN_RETRIES: usize = 64;

/// Opens `rel` (relative to `root`, which acts as `/`) with `flags`
/// (O_CLOEXEC is always added).
///
/// The kernel returns EAGAIN for RESOLVE_IN_ROOT whenever *any* rename or
/// mount happened on the system while a path containing `..` was being
/// walked, because it can then no longer prove the walk stayed inside the
/// root. On a busy host (other containers starting: mounts every few
/// milliseconds) that is routine, and openat2(2) says the caller should
/// simply retry, so a bounded number of retries is made before giving up.
pub fn open_in_root(root: BorrowedFd<'_>, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    let c = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain data; all-zero is its valid empty value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    let mut attempt = 0;
    loop {
        // SAFETY: a valid dirfd, a NUL-terminated path, `how` sized as passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: a fresh descriptor from the kernel.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let err = io::Error::last_os_error();
        attempt += 1;
        if err.raw_os_error() != Some(libc::EAGAIN) || attempt >= EAGAIN_RETRIES {
            return Err(err);
        }
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn dotdot_and_absolute_symlinks_stay_in_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/marker"), b"inside").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", dir.path().join("rel")).unwrap();
        let root = std::fs::File::open(dir.path()).unwrap();
        for p in ["abs/marker", "rel/marker", "../../etc/marker"] {
            let fd = open_in_root(root.as_fd(), Path::new(p), libc::O_RDONLY).unwrap();
            let got = std::io::read_to_string(std::fs::File::from(fd)).unwrap();
            assert_eq!(got, "inside", "{p}");
        }
    }

    #[test]
    fn magic_links_are_refused() {
        let root = std::fs::File::open("/").unwrap();
        let err =
            open_in_root(root.as_fd(), Path::new("proc/self/root/etc"), libc::O_PATH).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }
}
