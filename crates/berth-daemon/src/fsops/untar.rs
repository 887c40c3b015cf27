//! Extracting a client's tar into a directory of a container
//! (`PUT /containers/{id}/archive`). Every entry's parent is resolved with
//! `openat2(RESOLVE_IN_ROOT)` against the container root and every object
//! is created and changed through descriptors (`*at` with `O_NOFOLLOW`,
//! `fchown`/`fchmod` on what was opened), so neither archive names nor
//! symlinks the container swaps in can make a write land outside it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, mknodat, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use berth_image::idmap::IdMap;

use super::resolve::open_in_root;
use super::FsError;

#[derive(Clone, Copy, Debug, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory or the reverse.
    pub no_overwrite_dir_non_dir: bool,
    /// Own everything by this uid/gid instead of the archive's ids.
    pub chown: Option<(u32, u32)>,
    /// Give files and directories this mode instead of the archive's
    /// (COPY --chmod).
    pub chmod: Option<u32>,
}

struct Extractor<'a> {
    root: BorrowedFd<'a>,
    /// The destination directory, absolute inside the container.
    dest: PathBuf,
    opts: ExtractOptions,
    /// Directory mtimes are set at the end: adding children changes them.
    dir_times: Vec<(PathBuf, TimeSpec)>,
    /// A remapped daemon's ids: the container's owners are shifted onto
    /// the host range (so `docker cp` into the container shows uid 0 there).
    id_map: Option<IdMap>,
}

fn clean(p: &Path) -> Result<Vec<OsString>, FsError> {
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir | Component::RootDir => {}
            // Docker's untar refuses names that climb out of the destination.
            Component::ParentDir | Component::Prefix(_) => {
                return Err(FsError::Invalid(format!(
                    "invalid path in archive: {}",
                    p.display()
                )))
            }
        }
    }
    Ok(out)
}

fn owned(fd: i32) -> OwnedFd {
    // SAFETY: a fresh descriptor returned by openat.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Extracts `input` into `dest` (an existing directory, absolute inside
/// the container rooted at `root`), with ids shifted by `id_map` when the
/// daemon remaps user namespaces.
pub fn extract_remapped(
    root: BorrowedFd<'_>,
    dest: &str,
    input: &mut dyn Read,
    opts: ExtractOptions,
    id_map: Option<&IdMap>,
) -> Result<(), FsError> {
    let rerr = |e: io::Error| FsError::Invalid(format!("invalid tar archive: {e}"));
    let mut ex = Extractor {
        root,
        dest: PathBuf::from(dest),
        opts,
        dir_times: Vec::new(),
        id_map: id_map.copied(),
    };
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries().map_err(rerr)? {
        let mut entry = entry.map_err(rerr)?;
        ex.entry(&mut entry)?;
    }
    for (path, t) in ex.dir_times.iter().rev() {
        if let Ok(fd) = open_in_root(root, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
            let _ = nix::sys::stat::futimens(fd.as_raw_fd(), t, t);
        }
    }
    Ok(())
}

impl Extractor<'_> {
    /// Opens (creating as needed) the directory `rel` below the destination.
    fn dir(&self, rel: &[OsString]) -> Result<OwnedFd, FsError> {
        let mut path = self.dest.clone();
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        let mut fd = open_in_root(self.root, &path, flags)
            .map_err(|e| FsError::io(format!("opening {}", path.display()), e))?;
        for c in rel {
            path.push(c);
            fd = match open_in_root(self.root, &path, flags) {
                Ok(next) => next,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    mkdirat(
                        Some(fd.as_raw_fd()),
                        c.as_os_str(),
                        Mode::from_bits_truncate(0o755),
                    )
                    .map_err(|e| FsError::io(format!("mkdir {}", path.display()), e))?;
                    let made = open_in_root(self.root, &path, flags)
                        .map_err(|e| FsError::io(format!("opening {}", path.display()), e))?;
                    if let Some(m) = &self.id_map {
                        let (uid, gid) = m.root();
                        // An O_PATH descriptor: fchown would fail with EBADF.
                        fchownat(
                            Some(made.as_raw_fd()),
                            "",
                            Some(Uid::from_raw(uid)),
                            Some(Gid::from_raw(gid)),
                            AtFlags::AT_EMPTY_PATH,
                        )
                        .map_err(|e| FsError::io(format!("chown {}", path.display()), e))?;
                    }
                    made
                }
                Err(e) => return Err(FsError::io(format!("opening {}", path.display()), e)),
            };
        }
        Ok(fd)
    }

    fn ids(&self, h: &tar::Header) -> (u32, u32) {
        let (uid, gid) = self
            .opts
            .chown
            .unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
        match &self.id_map {
            // Ids the range cannot hold go to the container's root, which
            // is still unprivileged on the host.
            Some(m) => m.to_host(uid, gid).unwrap_or(m.root()),
            None => (uid, gid),
        }
    }

    fn entry(&mut self, entry: &mut tar::Entry<'_, &mut dyn Read>) -> Result<(), FsError> {
        let rerr = |e: io::Error| FsError::Invalid(format!("invalid tar archive: {e}"));
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let path = entry.path().map_err(rerr)?.into_owned();
        let mut comps = clean(&path)?;
        let Some(base) = comps.pop() else {
            return Ok(()); // "./": the destination itself is left as it is
        };
        let parent = self.dir(&comps)?;
        let pfd = parent.as_fd();
        let shown = self.dest.join(&path);
        let existing = fstatat(
            Some(pfd.as_raw_fd()),
            base.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .ok();
        let header = entry.header().clone();
        let mode = match self.opts.chmod {
            Some(m) => Mode::from_bits_truncate(m & 0o7777),
            None => Mode::from_bits_truncate(header.mode().map_err(rerr)? & 0o7777),
        };
        let (uid, gid) = self.ids(&header);
        if let Some(st) = &existing {
            let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
            if self.opts.no_overwrite_dir_non_dir {
                if is_dir && !kind.is_dir() {
                    return Err(FsError::Invalid(format!(
                        "cannot overwrite directory {:?} with non-directory {:?}",
                        shown, path
                    )));
                }
                if !is_dir && kind.is_dir() {
                    return Err(FsError::Invalid(format!(
                        "cannot overwrite non-directory {:?} with directory {:?}",
                        shown, path
                    )));
                }
            }
            if !(is_dir && kind.is_dir()) {
                remove_at(pfd, &base)?;
            }
        }
        let name = base.as_os_str();
        let ctx = |what: &str| format!("{what} {}", shown.display());
        match kind {
            tar::EntryType::Directory => {
                if existing.is_none() {
                    mkdirat(Some(pfd.as_raw_fd()), name, mode)
                        .map_err(|e| FsError::io(ctx("mkdir"), e))?;
                }
                let fd = openat(
                    Some(pfd.as_raw_fd()),
                    name,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| FsError::io(ctx("opening"), e))?;
                let fd = owned(fd);
                fchown(
                    fd.as_raw_fd(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                )
                .map_err(|e| FsError::io(ctx("chown"), e))?;
                fchmod(fd.as_raw_fd(), mode).map_err(|e| FsError::io(ctx("chmod"), e))?;
                let mut full = self.dest.clone();
                full.extend(comps.iter());
                full.push(&base);
                let t = TimeSpec::new(header.mtime().unwrap_or(0) as i64, 0);
                self.dir_times.push((full, t));
                return Ok(());
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let fd = openat(
                    Some(pfd.as_raw_fd()),
                    name,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| FsError::io(ctx("creating"), e))?;
                let mut f = File::from(owned(fd));
                io::copy(entry, &mut f).map_err(|e| FsError::io(ctx("writing"), e))?;
                fchown(
                    f.as_raw_fd(),
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                )
                .map_err(|e| FsError::io(ctx("chown"), e))?;
                fchmod(f.as_raw_fd(), mode).map_err(|e| FsError::io(ctx("chmod"), e))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(rerr)?
                    .ok_or_else(|| FsError::Invalid(ctx("symlink without target:")))?;
                symlinkat(target.as_os_str(), Some(pfd.as_raw_fd()), name)
                    .map_err(|e| FsError::io(ctx("symlink"), e))?;
                fchownat(
                    Some(pfd.as_raw_fd()),
                    name,
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| FsError::io(ctx("chown"), e))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(rerr)?
                    .ok_or_else(|| FsError::Invalid(ctx("hard link without target:")))?;
                let mut tcomps = clean(&target)?;
                let tbase = tcomps
                    .pop()
                    .ok_or_else(|| FsError::Invalid(ctx("bad hard link target for")))?;
                let tparent = self.dir(&tcomps)?;
                linkat(
                    Some(tparent.as_raw_fd()),
                    tbase.as_os_str(),
                    Some(pfd.as_raw_fd()),
                    name,
                    AtFlags::empty(),
                )
                .map_err(|e| FsError::io(ctx("link"), e))?;
                return Ok(());
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let t = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = nix::sys::stat::makedev(
                    header.device_major().ok().flatten().unwrap_or(0) as u64,
                    header.device_minor().ok().flatten().unwrap_or(0) as u64,
                );
                mknodat(Some(pfd.as_raw_fd()), name, t, mode, dev)
                    .map_err(|e| FsError::io(ctx("mknod"), e))?;
                fchownat(
                    Some(pfd.as_raw_fd()),
                    name,
                    Some(Uid::from_raw(uid)),
                    Some(Gid::from_raw(gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| FsError::io(ctx("chown"), e))?;
            }
            _ => return Ok(()),
        }
        let t = TimeSpec::new(header.mtime().unwrap_or(0) as i64, 0);
        utimensat(
            Some(pfd.as_raw_fd()),
            name,
            &t,
            &t,
            UtimensatFlags::NoFollowSymlink,
        )
        .map_err(|e| FsError::io(ctx("setting times of"), e))?;
        Ok(())
    }
}

/// Removes `name` in `dir` (recursively for directories) without ever
/// following a symlink.
pub fn remove_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), FsError> {
    match unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) => return Ok(()),
        Err(nix::errno::Errno::EISDIR) => {}
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(FsError::io(
                format!("removing {}", Path::new(name).display()),
                e,
            ))
        }
    }
    let sub = berth_image::treetar::open_dir_at(dir, name)?;
    for child in berth_image::treetar::list_dir(sub.as_fd())? {
        remove_at(sub.as_fd(), &child)?;
    }
    unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir)
        .map_err(|e| FsError::io(format!("removing {}", Path::new(name).display()), e))
}
