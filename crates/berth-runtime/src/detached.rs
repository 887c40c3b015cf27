//! The root filesystem of a user-namespaced container, mounted by the parent
//! as a detached mount (new mount API) and attached by the child.
//!
//! Why not mount it in the child as usual: the child is already inside the
//! container's user namespace, and an overlay mounted from there runs with
//! the remapped root's credentials, cannot read the `trusted.overlay.*`
//! xattrs berth's layers use for opaque directories, and must be able to
//! traverse every layer path. Mounted by the parent (real root, initial user
//! namespace) the overlay behaves exactly as Docker's host-mounted one, yet
//! nothing appears on the host: the mount is attached only inside the
//! container's mount namespace and dies with it.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;

use crate::error::{Result, RuntimeError};
use crate::RootfsMount;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const OPEN_TREE_CLONE: libc::c_uint = 1;
const AT_RECURSIVE: libc::c_uint = 0x8000;

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| RuntimeError::InvalidSpec(format!("NUL byte in {s:?}")))
}

fn fd_or_err(r: libc::c_long, what: impl FnOnce() -> String) -> Result<OwnedFd> {
    if r < 0 {
        return Err(RuntimeError::sys(what(), Errno::last()));
    }
    // SAFETY: the syscall returned a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Mounts `rm` (overlay, or a recursive bind for `fstype == "bind"`) without
/// attaching it anywhere; returns the mount's descriptor.
pub(crate) fn open_rootfs(rm: &RootfsMount) -> Result<OwnedFd> {
    if rm.fstype == "bind" {
        let src = cstr(&rm.source)?;
        // SAFETY: valid NUL-terminated path; flags as documented.
        let r = unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                src.as_ptr(),
                OPEN_TREE_CLONE | AT_RECURSIVE | libc::O_CLOEXEC as libc::c_uint,
            )
        };
        return fd_or_err(r, || format!("open_tree {}", rm.source));
    }
    let fstype = cstr(&rm.fstype)?;
    // SAFETY: valid NUL-terminated name.
    let r = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    let fs = fd_or_err(r, || format!("fsopen {}", rm.fstype))?;
    set(&fs, "source", Some(&rm.source))?;
    for (key, value) in options(rm) {
        set(&fs, &key, value.as_deref())?;
    }
    // SAFETY: fsconfig on our context fd with null key/value for CMD_CREATE.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(RuntimeError::sys(
            format!("create {} rootfs ({})", rm.fstype, rm.data),
            Errno::last(),
        ));
    }
    // SAFETY: fsmount on a created context.
    let r = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    fd_or_err(r, || format!("fsmount {}", rm.fstype))
}

/// The mount options as fsconfig keys. Relative overlay lower dirs are made
/// absolute against `chdir` and passed one by one (`lowerdir+`), which also
/// has no page-size limit on the total.
fn options(rm: &RootfsMount) -> Vec<(String, Option<String>)> {
    let abs = |p: &str| match &rm.chdir {
        Some(dir) if !p.starts_with('/') => dir.join(p).to_string_lossy().into_owned(),
        _ => p.to_string(),
    };
    let mut out = Vec::new();
    for opt in rm.data.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("lowerdir", dirs)) => {
                for d in dirs.split(':') {
                    out.push(("lowerdir+".to_string(), Some(abs(d))));
                }
            }
            Some((k @ ("upperdir" | "workdir"), v)) => out.push((k.to_string(), Some(abs(v)))),
            Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
            None => out.push((opt.to_string(), None)),
        }
    }
    out
}

fn set(fs: &OwnedFd, key: &str, value: Option<&str>) -> Result<()> {
    let k = cstr(key)?;
    let v = value.map(cstr).transpose()?;
    let (cmd, ptr) = match &v {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: NUL-terminated key and value (or null for a flag).
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, k.as_ptr(), ptr, 0) };
    if r < 0 {
        let shown = value.map(|v| format!("{key}={v}")).unwrap_or(key.into());
        return Err(RuntimeError::sys(
            format!("rootfs mount option {shown}"),
            Errno::last(),
        ));
    }
    Ok(())
}

/// Child side: attaches the detached mount `fd` at `target`.
pub(crate) fn attach(fd: RawFd, target: &Path) -> Result<()> {
    let empty = c"";
    let t = cstr(&target.to_string_lossy())?;
    // SAFETY: fd is a mount descriptor inherited from the parent; paths are
    // NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            fd,
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(RuntimeError::sys(
            format!("attach rootfs at {}", target.display()),
            Errno::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_options_become_absolute_single_lowers() {
        let rm = RootfsMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            data: "lowerdir=l/A:l/B,upperdir=/x/diff,workdir=/x/work,volatile".into(),
            chdir: Some("/data/overlay".into()),
        };
        assert_eq!(
            options(&rm),
            vec![
                ("lowerdir+".into(), Some("/data/overlay/l/A".into())),
                ("lowerdir+".into(), Some("/data/overlay/l/B".into())),
                ("upperdir".into(), Some("/x/diff".into())),
                ("workdir".into(), Some("/x/work".into())),
                ("volatile".into(), None),
            ]
        );
    }
}
