//! Resolving container paths inside a root directory fd with `openat2`
//! (`RESOLVE_IN_ROOT`): `..` and absolute symlinks stop at the container's
//! `/`, so no symlink in a container can send `cp` to the host (the class of
//! CVE-2018-15664 / CVE-2019-14271). Docker's rules are kept: the parent of
//! a path is resolved, the last element is not followed unless the path ends
//! in `/` or `/.`.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, FileStat, SFlag};
use serde::Serialize;

use super::FsError;

/// `openat2(dir, path, flags)` resolved inside `dir` as the root (retried
/// while the kernel reports a concurrent rename or mount).
pub fn open_in_root(dir: BorrowedFd<'_>, path: &Path, flags: OFlag) -> std::io::Result<OwnedFd> {
    berth_runtime::openat2::open_in_root(dir, &relative(path), flags.bits())
}

/// `path` without its leading `/` ("." for the root itself).
fn relative(path: &Path) -> PathBuf {
    let r: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir))
        .collect();
    if r.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        r
    }
}

/// Docker's `filepath.Join("/", p)` keeping a trailing `/` or `/.`.
pub fn absolute(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    let mut out = format!("/{}", parts.join("/"));
    if (p.ends_with("/.") || p == ".") && !out.ends_with("/.") {
        out.push_str(if out == "/" { "." } else { "/." });
    } else if p.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

/// A path located in a container: its parent directory (resolved) and its
/// last element, not followed. `base` is "." when the path names a
/// directory itself (`/x/`, `/x/.`, `/`).
pub struct Located {
    pub parent: OwnedFd,
    pub base: OsString,
    /// The absolute path as Docker reports it.
    pub abs: String,
}

impl Located {
    pub fn lstat(&self) -> nix::Result<FileStat> {
        if self.base == "." {
            fstatat(
                Some(self.parent.as_raw_fd()),
                "",
                AtFlags::AT_EMPTY_PATH | AtFlags::AT_SYMLINK_NOFOLLOW,
            )
        } else {
            fstatat(
                Some(self.parent.as_raw_fd()),
                self.base.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
        }
    }
}

pub fn not_found(abs: &str, container: &str) -> FsError {
    FsError::NotFound {
        path: abs.trim_end_matches("/.").to_string(),
        container: container.to_string(),
    }
}

/// Locates `path` (as given by the client) in `root`; `container` names the
/// container in errors.
pub fn locate(root: BorrowedFd<'_>, path: &str, container: &str) -> Result<Located, FsError> {
    let abs = absolute(path);
    let (dir, base) = match abs.rfind('/') {
        Some(i) => (&abs[..=i], &abs[i + 1..]),
        None => ("/", abs.as_str()),
    };
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let located = |dir: &str, base: &str| -> Result<Located, FsError> {
        let parent =
            open_in_root(root, Path::new(dir), flags).map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) => not_found(&abs, container),
                _ => FsError::io(format!("resolving {abs}"), e),
            })?;
        Ok(Located {
            parent,
            base: OsString::from(base),
            abs: abs.clone(),
        })
    };
    let loc = if base.is_empty() || base == "." {
        located(&abs, ".")?
    } else {
        located(dir, base)?
    };
    match loc.lstat() {
        Ok(_) => Ok(loc),
        Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => {
            Err(not_found(&abs, container))
        }
        Err(e) => Err(FsError::io(format!("lstat {abs}"), e)),
    }
}

/// Go's `os.FileMode` bits, which Docker's path-stat header carries.
pub fn go_mode(st: &FileStat) -> u32 {
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    let mut m = st.st_mode & 0o777;
    m |= match kind {
        SFlag::S_IFDIR => 1 << 31,
        SFlag::S_IFLNK => 1 << 27,
        SFlag::S_IFIFO => 1 << 25,
        SFlag::S_IFSOCK => 1 << 24,
        SFlag::S_IFBLK => 1 << 26,
        SFlag::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if st.st_mode & libc::S_ISUID != 0 {
        m |= 1 << 23;
    }
    if st.st_mode & libc::S_ISGID != 0 {
        m |= 1 << 22;
    }
    if st.st_mode & libc::S_ISVTX != 0 {
        m |= 1 << 20;
    }
    m
}

/// The `X-Docker-Container-Path-Stat` payload.
#[derive(Debug, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

pub fn path_stat(root: BorrowedFd<'_>, loc: &Located) -> Result<PathStat, FsError> {
    let st = loc
        .lstat()
        .map_err(|e| FsError::io(format!("lstat {}", loc.abs), e))?;
    let is_link = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK;
    let link_target = if is_link {
        resolve_lexically(root, &loc.abs)
    } else {
        String::new()
    };
    let name = Path::new(loc.abs.trim_end_matches("/."))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let mtime = chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
        .unwrap_or_default()
        .with_timezone(&chrono::Local)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    Ok(PathStat {
        name,
        size: st.st_size,
        mode: go_mode(&st),
        mtime,
        link_target,
    })
}

/// Where `abs` leads inside the root once every symlink is followed
/// (Docker's `linkTarget`), computed by reading links relative to `root`.
pub fn resolve_lexically(root: BorrowedFd<'_>, abs: &str) -> String {
    let mut pending: Vec<OsString> = abs
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(OsString::from)
        .collect();
    let mut cur: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == "." {
            continue;
        }
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(c);
        let here: PathBuf = cur.iter().collect();
        let Ok(parent) = open_in_root(
            root,
            here.parent().unwrap_or(Path::new("")),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        ) else {
            continue;
        };
        let name = cur.last().cloned().unwrap_or_default();
        match nix::fcntl::readlinkat(Some(parent.as_raw_fd()), name.as_os_str()) {
            Ok(target) if links < 40 => {
                links += 1;
                cur.pop();
                let t = target.as_bytes();
                if t.starts_with(b"/") {
                    cur.clear();
                }
                for p in t.split(|b| *b == b'/').rev().filter(|p| !p.is_empty()) {
                    pending.push(OsStr::from_bytes(p).to_os_string());
                }
            }
            _ => {}
        }
    }
    let joined: Vec<String> = cur
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    format!("/{}", joined.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn absolute_keeps_trailing_markers() {
        assert_eq!(absolute("newdir/f"), "/newdir/f");
        assert_eq!(absolute("/a/../b/"), "/b/");
        assert_eq!(absolute("/a/."), "/a/.");
        assert_eq!(absolute("/"), "/");
        assert_eq!(absolute("../../etc"), "/etc");
    }

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("data/inside"), b"in").unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        std::os::unix::fs::symlink("../../../../..", root.join("dots")).unwrap();
        let fd = std::fs::File::open(&root).unwrap();
        // "/up/data" and "/dots/data" both mean the container's /data.
        for p in ["/up/data/inside", "/dots/data/inside"] {
            let loc = locate(fd.as_fd(), p, "c").unwrap();
            assert_eq!(loc.lstat().unwrap().st_size, 2, "{p}");
        }
        assert!(matches!(
            locate(fd.as_fd(), "/up/etc/passwd", "c"),
            Err(FsError::NotFound { .. })
        ));
        assert_eq!(resolve_lexically(fd.as_fd(), "/dots/data"), "/data");
        assert_eq!(
            locate(fd.as_fd(), "/nope", "c").err().unwrap().to_string(),
            "Could not find the file /nope in container c"
        );
    }
}
