//! Network namespaces kept alive by a bind mount of their nsfs file (as
//! `ip netns` does), so they exist before the container's init and can be
//! joined by path.

use crate::error::NetError;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

const NSFS_MAGIC: i64 = 0x6e73_6673;

fn err(path: &Path, e: impl Into<std::io::Error>) -> NetError {
    NetError::Netns {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// Whether `path` is a bind-mounted namespace file.
pub fn exists(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type().0 == NSFS_MAGIC)
        .unwrap_or(false)
}

/// Creates a new network namespace bound at `path`. It is done on a
/// short-lived thread: `unshare` changes only the calling thread's namespace.
pub fn create(path: &Path) -> Result<(), NetError> {
    if exists(path) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(path, e))?;
    }
    std::fs::File::create(path).map_err(|e| err(path, e))?;
    let p = path.to_path_buf();
    let res = std::thread::spawn(move || -> Result<(), NetError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| err(&p, e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| err(&p, e))
    })
    .join()
    .unwrap_or_else(|_| {
        Err(err(
            path,
            std::io::Error::other("namespace thread panicked"),
        ))
    });
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Binds an existing network namespace (`/proc/<pid>/ns/net` of a process
/// that made its own) at `path`, so it outlives that process and can be
/// joined by path like one made by [`create`].
pub fn bind(source: &Path, path: &Path) -> Result<(), NetError> {
    if exists(path) {
        umount2(path, MntFlags::MNT_DETACH).map_err(|e| err(path, e))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| err(path, e))?;
    }
    std::fs::File::create(path).map_err(|e| err(path, e))?;
    let res = mount(
        Some(source),
        path,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| err(path, e));
    if res.is_err() {
        let _ = std::fs::remove_file(path);
    }
    res
}

/// Unmounts and deletes the namespace file; the namespace itself goes away
/// with its last process. Missing files are not an error.
pub fn remove(path: &Path) -> Result<(), NetError> {
    if exists(path) {
        umount2(path, MntFlags::MNT_DETACH).map_err(|e| err(path, e))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(path, e)),
    }
}

/// Runs `f` on a thread that has joined the namespace at `path` (sockets it
/// opens stay in that namespace; /proc/sys/net there is the namespace's).
pub fn run_in<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetError> {
    let file = std::fs::File::open(path).map_err(|e| err(path, e))?;
    let p: PathBuf = path.to_path_buf();
    std::thread::spawn(move || -> Result<T, NetError> {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| err(&p, e))?;
        Ok(f())
    })
    .join()
    .unwrap_or_else(|_| {
        Err(err(
            path,
            std::io::Error::other("namespace thread panicked"),
        ))
    })
}

/// Writes a sysctl under /proc/sys of the current thread's namespace.
pub fn sysctl(key: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(Path::new("/proc/sys").join(key.replace('.', "/")), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_join_remove() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let dir = tempfile_dir();
        let p = dir.join("ns1");
        create(&p).unwrap();
        assert!(exists(&p));
        let mine = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let theirs = run_in(&p, || {
            std::fs::read_link("/proc/thread-self/ns/net").unwrap()
        })
        .unwrap();
        assert_ne!(mine, theirs);
        remove(&p).unwrap();
        assert!(!p.exists());
        remove(&p).unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-netns-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
