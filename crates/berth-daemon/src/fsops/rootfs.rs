//! Reaching a container's root filesystem from the daemon without racing
//! the container. Work runs on a dedicated thread that gets a directory fd
//! of the rootfs:
//! - running container: `/proc/<pid>/root` (its view, volumes included);
//! - otherwise: the thread unshares its fs context and mount namespace
//!   (private propagation), mounts the snapshot there, opens its root and
//!   detaches the mount at once. Nothing is ever visible on the host and
//!   the mount disappears with the fd, even if the daemon dies mid-way.
//!   Read-only users mount the upper dir as the top *lower* layer (no
//!   upper/work), so they never contend with a running container's mount.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_image::SnapshotMount;
use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;

use super::FsError;

pub enum Source {
    /// A running container's init.
    Proc(i32),
    /// A container's snapshot, mounted privately for the operation.
    Snapshot {
        mount: SnapshotMount,
        writable: bool,
    },
}

fn open_dir(p: &Path) -> Result<OwnedFd, FsError> {
    nix::fcntl::open(
        p,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map(|fd| {
        // SAFETY: fresh descriptor.
        unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }
    })
    .map_err(|e| FsError::io(format!("opening {}", p.display()), e))
}

/// `lowerdir=<upper>:<lowers>` from a rw overlay description: the rootfs as
/// it is now, read-only.
fn read_only_data(data: &str) -> Option<String> {
    let mut lower = None;
    let mut upper = None;
    for kv in data.split(',') {
        match kv.split_once('=') {
            Some(("lowerdir", v)) => lower = Some(v),
            Some(("upperdir", v)) => upper = Some(v),
            _ => {}
        }
    }
    Some(format!("lowerdir={}:{}", upper?, lower?))
}

fn open_root(source: Source) -> Result<OwnedFd, FsError> {
    let (m, writable) = match source {
        Source::Proc(pid) => return open_dir(Path::new(&format!("/proc/{pid}/root"))),
        Source::Snapshot { mount, writable } => (mount, writable),
    };
    // This thread only: its own cwd/umask and mount namespace.
    unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS)
        .map_err(|e| FsError::io("unsharing the mount namespace", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| FsError::io("making mounts private", e))?;
    nix::sys::stat::umask(Mode::empty());
    if m.fstype == "bind" {
        // vfs: the snapshot dir is the rootfs itself.
        return open_dir(Path::new(&m.source));
    }
    let Some(home) = m.chdir.clone() else {
        return Err(FsError::Invalid(
            "snapshot mount without a base directory".into(),
        ));
    };
    nix::unistd::chdir(&home).map_err(|e| FsError::io(format!("chdir {}", home.display()), e))?;
    let (data, flags) = if writable {
        (m.data.clone(), MsFlags::empty())
    } else {
        let d = read_only_data(&m.data)
            .ok_or_else(|| FsError::Invalid(format!("unexpected overlay options {}", m.data)))?;
        (d, MsFlags::MS_RDONLY)
    };
    // Mounted over the (absolute) base dir in this private namespace only.
    mount(
        Some(m.source.as_str()),
        &home,
        Some(m.fstype.as_str()),
        flags,
        Some(data.as_str()),
    )
    .map_err(|e| FsError::io("mounting the container filesystem", e))?;
    let root = open_dir(&home);
    let _ = umount2(&home, MntFlags::MNT_DETACH);
    root
}

/// Runs `f` with the rootfs of `source` on a dedicated thread.
pub async fn with_rootfs<R, F>(source: Source, f: F) -> Result<R, FsError>
where
    R: Send + 'static,
    F: FnOnce(BorrowedFd<'_>) -> Result<R, FsError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-fsops".into())
        .spawn(move || {
            let r = open_root(source).and_then(|root| f(root.as_fd()));
            let _ = tx.send(r);
        })
        .map_err(|e| FsError::io("starting a filesystem worker", e))?;
    rx.await
        .unwrap_or_else(|_| Err(FsError::Invalid("filesystem worker failed".into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_view_stacks_upper_on_lowers() {
        assert_eq!(
            read_only_data("lowerdir=l/A:l/B,upperdir=/d/c/diff,workdir=/d/c/work").as_deref(),
            Some("lowerdir=/d/c/diff:l/A:l/B")
        );
    }
}
