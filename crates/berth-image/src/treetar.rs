//! Writing a directory tree into a tar stream by file descriptor: every
//! child is opened relative to its parent's fd with `O_NOFOLLOW`, so a tree
//! that someone else can change while it is read (a running container's
//! rootfs, a container's upper dir) can never make the walk leave it.
//!
//! Used by `commit` (overlay upper dir -> layer, whiteouts as `.wh.` files),
//! `export` and `GET /containers/{id}/archive`.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};

use crate::apply::{OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX};
use crate::error::ImageError;

/// How the tree is written.
#[derive(Clone, Copy, Debug, Default)]
pub struct TreeOptions {
    /// The tree is an overlayfs upper dir: char devices 0:0 become
    /// `.wh.<name>` entries and opaque dirs get a `.wh..wh..opq` entry.
    pub overlay_whiteouts: bool,
    /// A remapped daemon's ids: host owners are written as the container's.
    pub id_map: Option<crate::idmap::IdMap>,
}

/// A tar writer over fd-walked trees; remembers hardlinks across calls.
pub struct TreeTar<W: Write> {
    builder: tar::Builder<W>,
    opts: TreeOptions,
    /// (dev, ino) of files with several links -> first archive name.
    links: HashMap<(u64, u64), PathBuf>,
    /// Entries (by archive name) left out, with what is below them.
    skip: Option<SkipFn>,
}

pub type SkipFn = Box<dyn Fn(&Path, &FileStat) -> bool + Send>;

fn io_err(context: &str, e: impl Into<io::Error>) -> ImageError {
    ImageError::io(context.to_string(), e.into())
}

/// Opens a directory relative to `dir` without following a symlink.
pub fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, ImageError> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        io_err(
            &format!("opening directory {}", Path::new(name).display()),
            e,
        )
    })?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Names in a directory (without `.`/`..`), sorted like Go's filepath.Walk.
pub fn list_dir(dir: BorrowedFd<'_>) -> Result<Vec<OsString>, ImageError> {
    let fd = open_dir_at(dir, OsStr::new("."))?;
    let mut d =
        nix::dir::Dir::from_fd(fd.as_raw_fd()).map_err(|e| io_err("reading directory", e))?;
    // Dir now owns the descriptor.
    std::mem::forget(fd);
    let mut names = Vec::new();
    for e in d.iter() {
        let e = e.map_err(|e| io_err("reading directory", e))?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsString::from(OsStr::from_bytes(n)));
        }
    }
    names.sort();
    Ok(names)
}

pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<FileStat, ImageError> {
    fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| io_err(&format!("lstat {}", Path::new(name).display()), e))
}

pub fn file_kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT
}

/// True for an overlayfs whiteout (char device 0:0).
pub fn is_whiteout(st: &FileStat) -> bool {
    file_kind(st) == SFlag::S_IFCHR && st.st_rdev == 0
}

/// True when the directory `fd` carries `trusted.overlay.opaque=y`.
pub fn is_opaque(fd: BorrowedFd<'_>) -> bool {
    let name = CString::new(OVERLAY_OPAQUE_XATTR).unwrap_or_default();
    let mut buf = [0u8; 4];
    // SAFETY: fd is a valid descriptor, name is NUL-terminated, buf is sized.
    let n = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

fn header_for(st: &FileStat, kind: tar::EntryType, opts: &TreeOptions) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    let (uid, gid) = crate::idmap::host_to_container(opts.id_map.as_ref(), st.st_uid, st.st_gid);
    h.set_uid(uid as u64);
    h.set_gid(gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> TreeTar<W> {
    pub fn new(out: W, opts: TreeOptions) -> TreeTar<W> {
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        TreeTar {
            builder,
            opts,
            links: HashMap::new(),
            skip: None,
        }
    }

    /// Leaves out entries for which `f(archive_name, stat)` is true.
    pub fn with_skip(mut self, f: SkipFn) -> Self {
        self.skip = Some(f);
        self
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub fn finish(self) -> Result<W, ImageError> {
        self.builder
            .into_inner()
            .map_err(|e| io_err("writing archive", e))
    }

    /// Writes the contents of directory `dir` under `prefix` ("" = top level).
    pub fn append_contents(
        &mut self,
        dir: BorrowedFd<'_>,
        prefix: &Path,
    ) -> Result<(), ImageError> {
        if self.opts.overlay_whiteouts && is_opaque(dir) {
            self.empty_file(&prefix.join(WHITEOUT_OPAQUE))?;
        }
        for name in list_dir(dir)? {
            self.append_at(dir, &name, &prefix.join(&name))?;
        }
        Ok(())
    }

    /// Writes `name` (in directory `dir`) as `archive_name`, recursively.
    /// A symlink is stored as a symlink, never followed. Entries that vanish
    /// while walking are skipped, as Docker does.
    pub fn append_at(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        archive_name: &Path,
    ) -> Result<(), ImageError> {
        let st = match fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(io_err(&format!("lstat {}", archive_name.display()), e)),
        };
        if self.skip.as_ref().is_some_and(|f| f(archive_name, &st)) {
            return Ok(());
        }
        let kind = file_kind(&st);
        if self.opts.overlay_whiteouts && is_whiteout(&st) {
            let wh = format!("{WHITEOUT_PREFIX}{}", name.to_string_lossy());
            let parent = archive_name.parent().unwrap_or(Path::new(""));
            return self.empty_file(&parent.join(wh));
        }
        match kind {
            SFlag::S_IFDIR => {
                let fd = match open_dir_at(dir, name) {
                    Ok(fd) => fd,
                    Err(_) if lstat_at(dir, name).is_err() => return Ok(()),
                    Err(e) => return Err(e),
                };
                let mut h = header_for(&st, tar::EntryType::Directory, &self.opts);
                self.append(&mut h, &dir_name(archive_name), io::empty())?;
                self.append_contents(fd.as_fd(), archive_name)
            }
            SFlag::S_IFREG => self.regular(dir, name, &st, archive_name),
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name)
                    .map_err(|e| io_err(&format!("readlink {}", archive_name.display()), e))?;
                let mut h = header_for(&st, tar::EntryType::Symlink, &self.opts);
                self.builder
                    .append_link(&mut h, archive_name, Path::new(&target))
                    .map_err(|e| io_err("writing archive", e))
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                let t = match kind {
                    SFlag::S_IFCHR => tar::EntryType::Char,
                    SFlag::S_IFBLK => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                };
                let mut h = header_for(&st, t, &self.opts);
                if kind != SFlag::S_IFIFO {
                    let _ = h.set_device_major(libc::major(st.st_rdev));
                    let _ = h.set_device_minor(libc::minor(st.st_rdev));
                }
                self.append(&mut h, archive_name, io::empty())
            }
            // Sockets are not archived (Docker skips them too).
            _ => Ok(()),
        }
    }

    fn regular(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        st: &FileStat,
        archive_name: &Path,
    ) -> Result<(), ImageError> {
        if st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                let mut h = header_for(st, tar::EntryType::Link, &self.opts);
                return self
                    .builder
                    .append_link(&mut h, archive_name, &first)
                    .map_err(|e| io_err("writing archive", e));
            }
            self.links.insert(key, archive_name.to_path_buf());
        }
        let fd = match openat(
            Some(dir.as_raw_fd()),
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(io_err(&format!("opening {}", archive_name.display()), e)),
        };
        // SAFETY: fresh descriptor from openat.
        let file = unsafe { File::from_raw_fd(fd) };
        // The size is fixed from the stat: a file that grows or shrinks while
        // read is cut or zero-padded so the archive stays well-formed.
        let size = st.st_size.max(0) as u64;
        let mut h = header_for(st, tar::EntryType::Regular, &self.opts);
        h.set_size(size);
        let caps = xattr::FileExt::get_xattr(&file, "security.capability")
            .ok()
            .flatten();
        if let Some(caps) = caps {
            let _ = self
                .builder
                .append_pax_extensions([("SCHILY.xattr.security.capability", caps.as_slice())]);
        }
        let data = (&file).take(size).chain(io::repeat(0)).take(size);
        self.append(&mut h, archive_name, data)
    }

    fn empty_file(&mut self, archive_name: &Path) -> Result<(), ImageError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(0);
        self.append(&mut h, archive_name, io::empty())
    }

    fn append(
        &mut self,
        h: &mut tar::Header,
        path: &Path,
        data: impl Read,
    ) -> Result<(), ImageError> {
        self.builder
            .append_data(h, path, data)
            .map_err(|e| io_err(&format!("archiving {}", path.display()), e))
    }
}

/// Directory entries end in '/' in Docker's archives.
fn dir_name(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    if !s.as_bytes().ends_with(b"/") {
        s.push("/");
    }
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                )
            })
            .collect()
    }

    #[test]
    fn symlinks_are_stored_not_followed_and_hardlinks_shared() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/f"), b"data").unwrap();
        std::fs::hard_link(d.path().join("sub/f"), d.path().join("sub/g")).unwrap();
        symlink("/etc", d.path().join("esc")).unwrap();
        let root = File::open(d.path()).unwrap();
        let mut t = TreeTar::new(Vec::new(), TreeOptions::default());
        t.append_contents(root.as_fd(), Path::new("")).unwrap();
        let out = t.finish().unwrap();
        let n = names(&out);
        assert_eq!(
            n,
            vec![
                ("esc".into(), tar::EntryType::Symlink),
                ("sub/".into(), tar::EntryType::Directory),
                ("sub/f".into(), tar::EntryType::Regular),
                ("sub/g".into(), tar::EntryType::Link),
            ]
        );
    }

    #[test]
    fn overlay_whiteouts_become_wh_entries() {
        let d = tempfile::tempdir().unwrap();
        nix::sys::stat::mknod(
            &d.path().join("gone"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o600),
            0,
        )
        .unwrap();
        std::fs::create_dir(d.path().join("opq")).unwrap();
        xattr::set(d.path().join("opq"), OVERLAY_OPAQUE_XATTR, b"y").unwrap();
        let root = File::open(d.path()).unwrap();
        let mut t = TreeTar::new(
            Vec::new(),
            TreeOptions {
                overlay_whiteouts: true,
                ..Default::default()
            },
        );
        t.append_contents(root.as_fd(), Path::new("")).unwrap();
        let n: Vec<String> = names(&t.finish().unwrap())
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(n, vec![".wh.gone", "opq/", "opq/.wh..wh..opq"]);
    }
}
