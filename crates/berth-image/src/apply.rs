//! Unpacking a layer tar into a directory: ownership, modes, mtimes, xattrs,
//! hardlinks, symlinks and devices are kept; whiteouts become overlayfs
//! whiteouts (overlay2) or deletions (vfs, where each layer is a full copy).
//! Entries are created without following symlinks from the archive, and
//! parents are resolved chroot-style, so nothing is written outside `root`.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use crate::error::{ImageError, PathContext};
use crate::fspath::{clean_relative, secure_join};
use crate::idmap::IdMap;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
pub const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How `.wh.` entries are materialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// overlayfs: char device 0:0 / `trusted.overlay.opaque=y`.
    Overlay,
    /// Full-copy snapshots: remove the whited-out paths.
    Delete,
}

/// What a tar entry name means for whiteout handling.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout {
    None,
    /// `dir/.wh..wh..opq`: the directory hides everything below it.
    Opaque,
    /// `dir/.wh.name`: `name` is deleted.
    Remove(OsString),
    /// Other `.wh..wh.*` metadata (e.g. `.wh..wh.plnk`): ignored.
    Meta,
}

pub fn classify_whiteout(base: &OsStr) -> Whiteout {
    let Some(name) = base.to_str() else {
        return Whiteout::None;
    };
    if name == WHITEOUT_OPAQUE {
        Whiteout::Opaque
    } else if name.starts_with(WHITEOUT_META_PREFIX) {
        Whiteout::Meta
    } else if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX) {
        Whiteout::Remove(OsString::from(target))
    } else {
        Whiteout::None
    }
}

struct Applier<'a> {
    root: &'a Path,
    mode: WhiteoutMode,
    /// Paths written by this layer (vfs opaque dirs keep these).
    written: HashSet<PathBuf>,
    /// Directory mtimes are set last: creating children changes them.
    dir_times: Vec<(PathBuf, TimeSpec)>,
    size: u64,
    /// A remapped daemon's ids: owners are shifted onto the host range.
    ids: Option<&'a IdMap>,
}

/// Unpacks `reader` (an uncompressed tar) into `root`; returns the summed
/// size of regular files (the layer's Size). With `ids`, every owner in the
/// archive is shifted to the remapped host range.
pub fn apply_tar(
    reader: &mut dyn Read,
    root: &Path,
    mode: WhiteoutMode,
    ids: Option<&IdMap>,
) -> Result<u64, ImageError> {
    let mut archive = tar::Archive::new(reader);
    let mut ap = Applier {
        root,
        mode,
        written: HashSet::new(),
        dir_times: Vec::new(),
        size: 0,
        ids,
    };
    let entries = archive
        .entries()
        .map_err(|e| ImageError::io("reading layer archive", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ImageError::io("reading layer archive", e))?;
        ap.entry(&mut entry)?;
    }
    for (path, t) in ap.dir_times.iter().rev() {
        set_times(path, *t)?;
    }
    Ok(ap.size)
}

fn tar_err(e: io::Error) -> ImageError {
    ImageError::io("reading layer archive", e)
}

impl Applier<'_> {
    fn entry(&mut self, entry: &mut tar::Entry<'_, &mut dyn Read>) -> Result<(), ImageError> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let raw = entry.path().map_err(tar_err)?.into_owned();
        let mut comps = clean_relative(&raw)?;
        let Some(base) = comps.pop() else {
            // "./": metadata of the root itself.
            if kind.is_dir() {
                self.set_metadata(entry, &self.root.to_path_buf(), true)?;
            }
            return Ok(());
        };
        let parent = secure_join(self.root, &comps)?;
        match classify_whiteout(&base) {
            Whiteout::Meta => return Ok(()),
            Whiteout::Opaque => return self.opaque(&parent),
            Whiteout::Remove(name) => return self.whiteout(&parent, &name),
            Whiteout::None => {}
        }
        self.mkdir_parents(&parent)?;
        let target = parent.join(&base);
        if let Ok(existing) = fs::symlink_metadata(&target) {
            if !(existing.is_dir() && kind.is_dir()) {
                remove_all(&target)?;
            }
        }
        let header = entry.header();
        let perm = header.mode().map_err(tar_err)? & 0o7777;
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&target)
                    .at("creating file", &target)?;
                let len = entry.size();
                self.size +=
                    crate::content::copy_large(entry, &mut f, len).at("writing file", &target)?;
            }
            EntryType::Directory => {
                if !target.is_dir() {
                    fs::create_dir(&target).at("creating directory", &target)?;
                }
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name()
                    .map_err(tar_err)?
                    .ok_or_else(|| ImageError::invalid("symlink without target in archive"))?;
                std::os::unix::fs::symlink(&link, &target).at("creating symlink", &target)?;
            }
            EntryType::Link => {
                let link = entry
                    .link_name()
                    .map_err(tar_err)?
                    .ok_or_else(|| ImageError::invalid("hardlink without target in archive"))?;
                let mut lcomps = clean_relative(&link)?;
                let lbase = lcomps
                    .pop()
                    .ok_or_else(|| ImageError::invalid("invalid hardlink target in archive"))?;
                let source = secure_join(self.root, &lcomps)?.join(lbase);
                // linkat without AT_SYMLINK_FOLLOW: a symlink source is linked itself.
                fs::hard_link(&source, &target).at("creating hardlink", &target)?;
                self.written.insert(target);
                // The inode's metadata came with the first name.
                return Ok(());
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let sflag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = header.device_major().map_err(tar_err)?.unwrap_or(0);
                let minor = header.device_minor().map_err(tar_err)?.unwrap_or(0);
                mknod(
                    &target,
                    sflag,
                    Mode::from_bits_truncate(perm),
                    makedev(major.into(), minor.into()),
                )
                .map_err(|e| ImageError::path("creating device", &target, e.into()))?;
            }
            other => {
                tracing::debug!(?other, path = %raw.display(), "skipping unsupported tar entry");
                return Ok(());
            }
        }
        self.set_metadata(entry, &target, kind.is_dir())?;
        self.written.insert(target);
        Ok(())
    }

    fn set_metadata(
        &mut self,
        entry: &mut tar::Entry<'_, &mut dyn Read>,
        path: &PathBuf,
        is_dir: bool,
    ) -> Result<(), ImageError> {
        let header = entry.header();
        let is_symlink = header.entry_type().is_symlink();
        let uid = header.uid().map_err(tar_err)? as u32;
        let gid = header.gid().map_err(tar_err)? as u32;
        let (uid, gid) = match self.ids {
            Some(m) => m.to_host(uid, gid)?,
            None => (uid, gid),
        };
        let perm = header.mode().map_err(tar_err)? & 0o7777;
        let mtime = header.mtime().map_err(tar_err)?;
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).at("chown", path)?;
        // chmod after chown: chown clears setuid/setgid bits.
        if !is_symlink {
            fs::set_permissions(path, fs::Permissions::from_mode(perm)).at("chmod", path)?;
        }
        if let Some(exts) = entry.pax_extensions().map_err(tar_err)? {
            for ext in exts {
                let ext = ext.map_err(tar_err)?;
                let Ok(key) = ext.key() else { continue };
                let Some(name) = key.strip_prefix("SCHILY.xattr.") else {
                    continue;
                };
                // Overlay's own xattrs are ours to set, never the archive's.
                if name.starts_with("trusted.overlay.") {
                    continue;
                }
                match xattr::set(path, name, ext.value_bytes()) {
                    Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => {}
                    r => r.at("setting xattr on", path)?,
                }
            }
        }
        let t = TimeSpec::new(mtime as i64, 0);
        if is_dir {
            self.dir_times.push((path.clone(), t));
        } else {
            set_times(path, t)?;
        }
        Ok(())
    }

    /// Creates `dir` and missing parents. Directories the archive never
    /// described belong to the container's root (on a remapped daemon, the
    /// remapped root: left to the host's root they would be unwritable).
    fn mkdir_parents(&self, dir: &Path) -> Result<(), ImageError> {
        if dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            if parent.starts_with(self.root) && parent != self.root {
                self.mkdir_parents(parent)?;
            }
        }
        match fs::create_dir(dir) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            r => r.at("creating directory", dir)?,
        }
        if let Some(m) = self.ids {
            let (uid, gid) = m.root();
            std::os::unix::fs::lchown(dir, Some(uid), Some(gid)).at("chown", dir)?;
        }
        Ok(())
    }

    fn opaque(&mut self, dir: &Path) -> Result<(), ImageError> {
        self.mkdir_parents(dir)?;
        match self.mode {
            WhiteoutMode::Overlay => {
                xattr::set(dir, OVERLAY_OPAQUE_XATTR, b"y").at("marking opaque", dir)?
            }
            WhiteoutMode::Delete => {
                for e in fs::read_dir(dir).at("reading", dir)? {
                    let p = e.at("reading", dir)?.path();
                    if !self.written.contains(&p) {
                        remove_all(&p)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, parent: &Path, name: &OsStr) -> Result<(), ImageError> {
        // `.wh...` would name the parent's parent: from the top of the
        // layer that is outside the root, and it would be deleted.
        if matches!(name.as_encoded_bytes(), b"" | b"." | b"..")
            || name.as_encoded_bytes().contains(&b'/')
        {
            return Err(ImageError::invalid(format!(
                "invalid whiteout in archive: .wh.{}",
                name.to_string_lossy()
            )));
        }
        let target = parent.join(name);
        match self.mode {
            WhiteoutMode::Overlay => {
                self.mkdir_parents(parent)?;
                if fs::symlink_metadata(&target).is_ok() {
                    remove_all(&target)?;
                }
                mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
                    .map_err(|e| ImageError::path("creating whiteout", &target, e.into()))?;
            }
            WhiteoutMode::Delete => {
                if fs::symlink_metadata(&target).is_ok() {
                    remove_all(&target)?;
                }
            }
        }
        Ok(())
    }
}

fn set_times(path: &Path, t: TimeSpec) -> Result<(), ImageError> {
    utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| ImageError::path("setting times", path, e.into()))
}

/// Removes a file, symlink or directory tree (never following symlinks).
pub fn remove_all(path: &Path) -> Result<(), ImageError> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    res.at("removing", path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn add(
        b: &mut tar::Builder<Vec<u8>>,
        path: &str,
        kind: EntryType,
        data: &[u8],
        link: Option<&str>,
    ) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mtime(1_577_836_800);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, path, data).unwrap();
    }

    #[test]
    fn classify() {
        assert_eq!(
            classify_whiteout(OsStr::new(".wh..wh..opq")),
            Whiteout::Opaque
        );
        assert_eq!(
            classify_whiteout(OsStr::new(".wh..wh.plnk")),
            Whiteout::Meta
        );
        assert_eq!(
            classify_whiteout(OsStr::new(".wh.foo")),
            Whiteout::Remove("foo".into())
        );
        assert_eq!(classify_whiteout(OsStr::new("foo")), Whiteout::None);
    }

    fn layer(entries: &[(&str, EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (p, k, d, l) in entries {
            add(&mut b, p, *k, d, *l);
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn unpacks_files_links_and_metadata() {
        let d = tempfile::tempdir().unwrap();
        let tar = layer(&[
            ("etc/", EntryType::Directory, b"", None),
            ("etc/hello", EntryType::Regular, b"hi\n", None),
            ("etc/hard", EntryType::Link, b"", Some("etc/hello")),
            ("etc/sym", EntryType::Symlink, b"", Some("/etc/hello")),
        ]);
        let size = apply_tar(&mut &tar[..], d.path(), WhiteoutMode::Overlay, None).unwrap();
        assert_eq!(size, 3);
        let m = fs::metadata(d.path().join("etc/hello")).unwrap();
        assert_eq!(
            (m.uid(), m.gid(), m.mode() & 0o7777, m.nlink()),
            (1000, 1000, 0o644, 2)
        );
        assert_eq!(m.mtime(), 1_577_836_800);
        assert_eq!(
            fs::metadata(d.path().join("etc")).unwrap().mtime(),
            1_577_836_800
        );
        assert_eq!(
            fs::read_link(d.path().join("etc/sym")).unwrap(),
            Path::new("/etc/hello")
        );
    }

    #[test]
    fn does_not_write_through_archive_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        let d = tempfile::tempdir().unwrap();
        let link = outside.path().to_str().unwrap().to_string();
        let tar = layer(&[
            ("escape", EntryType::Symlink, b"", Some(&link)),
            ("escape/pwned", EntryType::Regular, b"x", None),
            ("escape", EntryType::Regular, b"replaced", None),
        ]);
        apply_tar(&mut &tar[..], d.path(), WhiteoutMode::Overlay, None).unwrap();
        assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
        assert_eq!(fs::read(d.path().join("escape")).unwrap(), b"replaced");
        // tar::Builder refuses "..", so craft the name by hand.
        let mut raw = layer(&[("aa/x", EntryType::Regular, b"x", None)]);
        raw[..5].copy_from_slice(b"../x\0");
        let mut h = tar::Header::from_byte_slice(&raw[..512]).clone();
        h.set_cksum();
        raw[..512].copy_from_slice(h.as_bytes());
        let err = apply_tar(&mut &raw[..], d.path(), WhiteoutMode::Overlay, None).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidParameter);
    }

    #[test]
    fn remapped_owners_are_shifted() {
        let d = tempfile::tempdir().unwrap();
        let tar = layer(&[
            ("f", EntryType::Regular, b"x", None),
            ("implicit/g", EntryType::Regular, b"y", None),
        ]);
        let ids = IdMap::single(
            crate::idmap::IdRange {
                host: 300000,
                size: 65536,
            },
            crate::idmap::IdRange {
                host: 310000,
                size: 65536,
            },
        );
        apply_tar(&mut &tar[..], d.path(), WhiteoutMode::Overlay, Some(&ids)).unwrap();
        let m = fs::metadata(d.path().join("f")).unwrap();
        assert_eq!((m.uid(), m.gid()), (301000, 311000));
        let m = fs::metadata(d.path().join("implicit")).unwrap();
        assert_eq!((m.uid(), m.gid()), (300000, 310000));
        let small = IdMap {
            uids: crate::idmap::IdRanges::new(&[crate::idmap::IdRange {
                host: 300000,
                size: 10,
            }])
            .unwrap(),
            ..ids
        };
        let err = apply_tar(&mut &tar[..], d.path(), WhiteoutMode::Overlay, Some(&small));
        assert!(err.is_err());
    }

    #[test]
    fn overlay_whiteouts() {
        let d = tempfile::tempdir().unwrap();
        let tar = layer(&[
            ("dir/", EntryType::Directory, b"", None),
            ("dir/.wh..wh..opq", EntryType::Regular, b"", None),
            (".wh.gone", EntryType::Regular, b"", None),
        ]);
        apply_tar(&mut &tar[..], d.path(), WhiteoutMode::Overlay, None).unwrap();
        let m = fs::symlink_metadata(d.path().join("gone")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &m.file_type()
        ));
        assert_eq!(m.rdev(), 0);
        assert_eq!(
            xattr::get(d.path().join("dir"), OVERLAY_OPAQUE_XATTR).unwrap(),
            Some(b"y".to_vec())
        );
        assert!(!d.path().join(".wh.gone").exists());
    }

    #[test]
    fn delete_whiteouts() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("dir/old")).unwrap();
        fs::write(d.path().join("gone"), b"x").unwrap();
        let tar = layer(&[
            ("dir/", EntryType::Directory, b"", None),
            ("dir/new", EntryType::Regular, b"n", None),
            ("dir/.wh..wh..opq", EntryType::Regular, b"", None),
            (".wh.gone", EntryType::Regular, b"", None),
        ]);
        apply_tar(&mut &tar[..], d.path(), WhiteoutMode::Delete, None).unwrap();
        assert!(!d.path().join("gone").exists());
        assert!(!d.path().join("dir/old").exists());
        assert!(d.path().join("dir/new").exists());
    }
}

/// Layer archives that try to leave the target root: nothing may ever be
/// written, linked or deleted outside it.
#[cfg(test)]
mod traversal_tests {
    use super::*;

    /// One tar entry with a raw name (tar::Builder refuses `..` and
    /// absolute names, which is exactly what these tests need).
    fn raw(name: &str, kind: EntryType, data: &[u8], link: Option<&str>) -> Vec<u8> {
        let mut h = tar::Header::new_old();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_cksum();
        let mut out = h.as_bytes().to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut out: Vec<u8> = entries.concat();
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    /// Applies into `<tmp>/root` and returns what else appeared in `<tmp>`
    /// (besides `root` and the `sentinel` directory planted there).
    fn apply_in_sandbox(tar: &[u8], mode: WhiteoutMode) -> (tempfile::TempDir, Vec<String>) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::create_dir(t.path().join("sentinel")).unwrap();
        fs::write(t.path().join("sentinel/passwd"), "host\n").unwrap();
        let _ = apply_tar(&mut &tar[..], &root, mode, None);
        let mut extra: Vec<String> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "root" && n != "sentinel")
            .collect();
        extra.sort();
        let sentinel: Vec<_> = fs::read_dir(t.path().join("sentinel"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(sentinel.len(), 1, "the sentinel directory changed");
        assert_eq!(
            fs::read_to_string(t.path().join("sentinel/passwd")).unwrap(),
            "host\n"
        );
        (t, extra)
    }

    fn both_modes(entries: &[Vec<u8>]) {
        for mode in [WhiteoutMode::Overlay, WhiteoutMode::Delete] {
            let (t, extra) = apply_in_sandbox(&archive(entries), mode);
            assert!(extra.is_empty(), "{mode:?}: written outside: {extra:?}");
            assert!(t.path().join("root").is_dir(), "{mode:?}: root removed");
        }
    }

    #[test]
    fn dotdot_and_absolute_names() {
        both_modes(&[raw("../x", EntryType::Regular, b"x", None)]);
        both_modes(&[raw("/abs/../../x", EntryType::Regular, b"x", None)]);
        both_modes(&[raw("a/../../x", EntryType::Regular, b"x", None)]);
        both_modes(&[raw("../sentinel/passwd", EntryType::Regular, b"x", None)]);
        both_modes(&[raw("..", EntryType::Directory, b"", None)]);
    }

    #[test]
    fn writes_through_symlinks_stay_inside() {
        let abs = |t: &str| raw("l", EntryType::Symlink, b"", Some(t));
        for target in ["/", "..", "../..", "../sentinel", "/../../sentinel"] {
            both_modes(&[
                abs(target),
                raw("l/x", EntryType::Regular, b"x", None),
                raw("l/passwd", EntryType::Regular, b"x", None),
                raw("l/sentinel/passwd", EntryType::Regular, b"x", None),
                raw("l/d", EntryType::Directory, b"", None),
                raw("l/h", EntryType::Link, b"", Some("l")),
            ]);
        }
        // A directory swapped for a link later in the same archive.
        both_modes(&[
            raw("d", EntryType::Directory, b"", None),
            raw("d", EntryType::Symlink, b"", Some("../sentinel")),
            raw("d/passwd", EntryType::Regular, b"x", None),
        ]);
    }

    #[test]
    fn hardlinks_cannot_reach_outside() {
        both_modes(&[raw("h", EntryType::Link, b"", Some("../sentinel/passwd"))]);
        both_modes(&[raw("h", EntryType::Link, b"", Some("/../sentinel/passwd"))]);
        both_modes(&[raw("h", EntryType::Link, b"", Some("../../etc/passwd"))]);
        // Through a symlink in the layer: the link's target is resolved
        // inside the root, and a symlink source is linked as the link itself.
        both_modes(&[
            raw("up", EntryType::Symlink, b"", Some("..")),
            raw("h", EntryType::Link, b"", Some("up/sentinel/passwd")),
        ]);
        both_modes(&[
            raw("p", EntryType::Symlink, b"", Some("../sentinel/passwd")),
            raw("h", EntryType::Link, b"", Some("p")),
            raw("h", EntryType::Regular, b"overwritten", None),
        ]);
    }

    #[test]
    fn whiteouts_cannot_delete_outside() {
        both_modes(&[raw(".wh...", EntryType::Regular, b"", None)]);
        both_modes(&[raw("a/.wh...", EntryType::Regular, b"", None)]);
        both_modes(&[raw(".wh..", EntryType::Regular, b"", None)]);
        both_modes(&[raw(".wh.", EntryType::Regular, b"", None)]);
        both_modes(&[
            raw("up", EntryType::Symlink, b"", Some("..")),
            raw("up/.wh.sentinel", EntryType::Regular, b"", None),
            raw("up/.wh..wh..opq", EntryType::Regular, b"", None),
        ]);
    }
}
