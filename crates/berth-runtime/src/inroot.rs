//! Mount points and directories inside a container root, resolved and created
//! race-free. Resolving a path in userspace and then handing the string to
//! mkdir(2)/mount(2) lets anything that can change the tree in between (a
//! second container sharing a volume, swapping a directory for a symlink to
//! `/`) redirect the operation to the host: the class of CVE-2021-30465.
//! Here every lookup is `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! against the root, every creation is relative to a directory fd obtained
//! that way, and the mount targets `/proc/self/fd/<n>` of the held O_PATH
//! descriptor, so it lands on exactly the inode that was checked.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// A resolved mount point (or directory) held open with O_PATH.
#[derive(Debug)]
pub(crate) struct InRoot {
    fd: OwnedFd,
}

impl InRoot {
    /// The directory `path` inside `root`, created (with parents, mode 0755)
    /// when missing. Symlinks are followed as if `root` were `/`.
    pub fn dir(root: &Path, path: &Path) -> io::Result<InRoot> {
        let path = lexical_target(root, path)?;
        let root = open_root(root)?;
        mkdir_all(&root, &path).map(|fd| InRoot { fd })
    }

    /// The file `path` inside `root`, created empty (with parent
    /// directories) when missing; an existing entry of any type is used as
    /// it is, the mount decides whether it fits.
    pub fn file(root: &Path, path: &Path) -> io::Result<InRoot> {
        let rel = lexical_target(root, path)?;
        let root = open_root(root)?;
        match open_in_root(&root, &rel, libc::O_PATH) {
            Ok(fd) => return Ok(InRoot { fd }),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let (parent, name) = split_last(&rel)?;
        let dir = mkdir_all(&root, &parent)?;
        let cname = cstring(name.as_os_str().as_bytes())?;
        // O_NOFOLLOW|O_EXCL: never create through a symlink planted meanwhile.
        // SAFETY: a valid directory fd and a NUL-terminated name.
        let r = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                cname.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_RDONLY | libc::O_CLOEXEC,
                0o755 as libc::c_uint,
            )
        };
        if r >= 0 {
            // SAFETY: a fresh descriptor, closed right away.
            drop(unsafe { OwnedFd::from_raw_fd(r) });
        } else {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
        }
        open_in_root(&root, &rel, libc::O_PATH).map(|fd| InRoot { fd })
    }

    /// Just resolves `path` (which must exist) inside `root`.
    pub fn open(root: &Path, path: &Path) -> io::Result<InRoot> {
        let root = open_root(root)?;
        open_in_root(&root, &relative(path), libc::O_PATH).map(|fd| InRoot { fd })
    }

    /// The path to hand to mount(2): the kernel follows the descriptor's
    /// magic link to the very inode held here.
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// Where `path` leads inside `root` with every symlink followed as the
/// tree is now, relative to `root`. This only decides *which* entries to
/// create for a dangling link (an image's `/etc/resolv.conf ->
/// /run/...`, made as its target, as runc does); all the actual lookups and
/// creations are openat2-confined, so a tree changed meanwhile still cannot
/// lead out of the root.
fn lexical_target(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let joined = crate::paths::secure_join(root, path)?;
    let rel = joined
        .strip_prefix(root)
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(relative(rel))
}

fn open_root(root: &Path) -> io::Result<OwnedFd> {
    File::open(root).map(OwnedFd::from)
}

/// `openat2(root, rel, flags)` resolved with `root` as `/`, refusing magic
/// links (/proc/self/fd/*, /proc/<pid>/root ...).
pub(crate) fn open_in_root(root: &OwnedFd, rel: &Path, flags: i32) -> io::Result<OwnedFd> {
    crate::openat2::open_in_root(root.as_fd(), rel, flags)
}

/// Creates every missing directory of `path` inside `root`: each prefix is
/// resolved afresh from the root, each new directory is made with mkdirat
/// in its already-resolved parent. Returns the final directory (O_PATH).
fn mkdir_all(root: &OwnedFd, path: &Path) -> io::Result<OwnedFd> {
    let rel = relative(path);
    let comps: Vec<&std::ffi::OsStr> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s),
            Component::ParentDir => Some(std::ffi::OsStr::new("..")),
            _ => None,
        })
        .collect();
    let flags = libc::O_PATH | libc::O_DIRECTORY;
    let mut current = open_in_root(root, Path::new("."), flags)?;
    let mut prefix = PathBuf::new();
    for comp in comps {
        prefix.push(comp);
        match open_in_root(root, &prefix, flags) {
            Ok(fd) => current = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && comp != ".." => {
                let name = cstring(comp.as_bytes())?;
                // SAFETY: a valid directory fd and a NUL-terminated name.
                let r = unsafe { libc::mkdirat(current.as_raw_fd(), name.as_ptr(), 0o755) };
                if r != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(e);
                    }
                }
                // Whatever now sits there (even a symlink swapped in) is
                // resolved inside the root again.
                current = open_in_root(root, &prefix, flags)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(current)
}

/// `path` without its root: relative to the root fd ("." for `/`).
fn relative(path: &Path) -> PathBuf {
    let r: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if r.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        r
    }
}

fn split_last(rel: &Path) -> io::Result<(PathBuf, PathBuf)> {
    let name = rel
        .file_name()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((parent, PathBuf::from(name)))
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn real(h: &InRoot) -> PathBuf {
        std::fs::read_link(h.proc_path()).unwrap()
    }

    #[test]
    fn creates_missing_directories_inside() {
        let t = tempfile::tempdir().unwrap();
        let h = InRoot::dir(t.path(), Path::new("/a/b/c")).unwrap();
        assert_eq!(real(&h), t.path().join("a/b/c"));
        assert!(t.path().join("a/b/c").is_dir());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        symlink("/", root.join("up")).unwrap();
        symlink("../../../../..", root.join("dots")).unwrap();
        let outside = t.path().join("outside-marker");
        let h = InRoot::dir(&root, Path::new("/up/outside-marker/x")).unwrap();
        assert_eq!(real(&h), root.join("outside-marker/x"));
        let h = InRoot::dir(&root, Path::new("/dots/outside-marker/y")).unwrap();
        assert_eq!(real(&h), root.join("outside-marker/y"));
        let h = InRoot::file(&root, Path::new("/up/../dots/etc/passwd")).unwrap();
        assert_eq!(real(&h), root.join("etc/passwd"));
        assert!(!outside.exists());
        assert!(!t.path().join("etc").exists());
    }

    #[test]
    fn magic_links_are_refused() {
        let t = tempfile::tempdir().unwrap();
        symlink("/proc/self/cwd", t.path().join("cwd")).unwrap();
        // Inside the root /proc/self does not exist: a plain directory.
        let h = InRoot::dir(t.path(), Path::new("/cwd/x")).unwrap();
        assert_eq!(real(&h), t.path().join("proc/self/cwd/x"));
        // Every lookup refuses magic links (here the host's /proc).
        let root = open_root(Path::new("/")).unwrap();
        let e = open_in_root(&root, Path::new("proc/self/cwd"), libc::O_PATH).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn dangling_links_are_created_at_their_target_inside() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        symlink("/run/resolve/stub.conf", t.path().join("etc/resolv.conf")).unwrap();
        let h = InRoot::file(t.path(), Path::new("/etc/resolv.conf")).unwrap();
        assert_eq!(real(&h), t.path().join("run/resolve/stub.conf"));
        symlink("../../../gone", t.path().join("etc/dir")).unwrap();
        let h = InRoot::dir(t.path(), Path::new("/etc/dir/sub")).unwrap();
        assert_eq!(real(&h), t.path().join("gone/sub"));
    }

    #[test]
    fn file_keeps_existing_entries() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("f"), "x").unwrap();
        let h = InRoot::file(t.path(), Path::new("/f")).unwrap();
        assert_eq!(real(&h), t.path().join("f"));
        assert_eq!(std::fs::read_to_string(t.path().join("f")).unwrap(), "x");
        InRoot::file(t.path(), Path::new("/new/file")).unwrap();
        assert!(t.path().join("new/file").is_file());
    }
}
