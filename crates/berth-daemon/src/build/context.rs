//! The build context: the request's tar unpacked into a private directory
//! under the data root, with `.dockerignore` applied (Docker applies it on
//! the daemon side too, whatever the client sent). The Dockerfile itself is
//! always kept so it can be read.
//!
//! Regular files' contents are hashed as they stream in, and most are not
//! written until a step reads them: each is created sparse with its final
//! size, mode and mtime, its bytes held in memory (up to [`DEFER_BUDGET`]). A
//! cache key needs only the tree's metadata and the digests, so a fully
//! cached rebuild never writes the context's data to disk (that write was
//! most of its time). [`Context::files`] writes the held contents first.

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_build::cache::{FileDigest, FileHasher};
use berth_build::ignore::Ignore;

/// Content digests of the context's regular files, by path, taken while
/// they were written.
pub type Digests = Arc<HashMap<PathBuf, FileDigest>>;

/// Most bytes of file content held back from the disk per build: beyond
/// it, files are written as they arrive.
const DEFER_BUDGET: usize = 64 << 20;

/// A held-back file's content, mode and mtime.
struct Deferred {
    data: Vec<u8>,
    mode: u32,
    mtime: u64,
}

/// The contents held back from a context's files, written on demand.
#[derive(Clone, Default)]
pub struct DeferredFiles(Arc<Mutex<HashMap<PathBuf, Deferred>>>);

impl DeferredFiles {
    /// Writes every held-back content into its (sparse) file. A file pruned
    /// by `.dockerignore` since is left absent.
    fn write_all(&self) -> std::io::Result<()> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (path, f) in held.drain() {
            let opened = fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path);
            match opened {
                Ok(file) => finish_file(file, &f.data, f.mode, f.mtime)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn forget(&self, path: &Path) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.remove(path);
    }
}

/// The context's directory for reading files: [`ContextFiles::dir`] first
/// writes the contents still held back. `Send`, for blocking tasks.
pub struct ContextFiles {
    dir: PathBuf,
    deferred: DeferredFiles,
}

impl ContextFiles {
    pub fn dir(&self) -> std::io::Result<&Path> {
        self.deferred.write_all()?;
        Ok(&self.dir)
    }
}

/// A context directory, removed on drop.
pub struct Context {
    /// The tree: names, types, modes and owners are final, but a held-back
    /// file is still a sparse hole (see [`Context::files`]).
    pub dir: PathBuf,
    ignore: Ignore,
    /// Only for files written by [`write_file`] and not replaced since: the
    /// directory is private to this build, so they cannot change. Every
    /// held-back file has one, so hashing the tree with them never reads
    /// a placeholder.
    pub digests: Digests,
    deferred: DeferredFiles,
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            tracing::warn!("removing build context {}: {e}", self.dir.display());
        }
    }
}

impl Context {
    /// Unpacks `tar` into a fresh directory under `data_root/tmp`.
    pub fn unpack(
        data_root: &Path,
        tar: &mut dyn Read,
        dockerfile: &str,
    ) -> std::io::Result<Context> {
        let base = data_root.join("tmp");
        fs::create_dir_all(&base)?;
        let dir = base.join(format!("build-{:016x}", rand::random::<u64>()));
        fs::create_dir(&dir)?;
        collect_stale(&base);
        let mut ctx = Context {
            dir,
            ignore: Ignore::default(),
            digests: Digests::default(),
            deferred: DeferredFiles::default(),
        };
        // None once an entry may have changed a hashed file out of sight.
        let mut digests = Some(HashMap::new());
        // What may still be held back; none once an entry other than a
        // file or a directory came (a link to a held-back file would show
        // it empty, and its path has no digest to hash it by).
        let mut budget = Some(DEFER_BUDGET);
        let keep_written = [dockerfile.trim_start_matches("./"), ".dockerignore"];
        // One copy buffer for all files (zeroing 1 MiB per file shows up).
        let mut buf = vec![0u8; 1 << 20];
        // The body is a tar, compressed or not, or else a bare Dockerfile.
        let mut input = berth_image::compress::decompressed(tar)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut head = Vec::with_capacity(512);
        (&mut input).take(512).read_to_end(&mut head)?;
        let is_tar = head.len() == 512
            && (head.iter().all(|b| *b == 0) || berth_image::tarhead::valid_tar_header(&head));
        if !is_tar {
            let mut text = head;
            input.read_to_end(&mut text)?;
            fs::write(ctx.dir.join(dockerfile.trim_start_matches("./")), text)?;
            return Ok(ctx);
        }
        let mut stream = std::io::Cursor::new(head).chain(input);
        let mut archive = tar::Archive::new(&mut stream as &mut dyn Read);
        archive.set_preserve_permissions(true);
        // COPY gives files its own owner (root, or --chown): the context's
        // owners never matter, and clients may leave the fields empty.
        archive.set_preserve_ownerships(false);
        archive.set_overwrite(true);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let kind = entry.header().entry_type();
            if kind == tar::EntryType::Regular {
                if let Some(rel) = plain_relative(&entry.path()?) {
                    if !through_symlink(&ctx.dir, &rel) {
                        let path = ctx.dir.join(&rel);
                        let size = usize::try_from(entry.size()).unwrap_or(usize::MAX);
                        let hold = budget.filter(|b| *b >= size).is_some()
                            && !keep_written.iter().any(|k| Path::new(k) == rel);
                        ctx.deferred.forget(&path);
                        let digest = if hold {
                            budget = budget.map(|b| b - size);
                            hold_file(&path, &mut entry, size, &mut buf, &ctx.deferred)?
                        } else {
                            write_file(&path, &mut entry, &mut buf)?
                        };
                        if let Some(d) = digests.as_mut() {
                            d.insert(path, digest);
                        }
                        continue;
                    }
                }
            }
            // Any other entry may replace a hashed file at its own path
            // (a link over it), or anywhere when it goes through a symlink.
            // The root itself (`./`, as `tar -C dir .` writes first) is
            // harmless.
            let path = entry.path()?;
            let is_root = path.components().all(|c| c == Component::CurDir);
            match plain_relative(&path) {
                Some(rel) if !through_symlink(&ctx.dir, &rel) => {
                    if let Some(d) = digests.as_mut() {
                        d.remove(&ctx.dir.join(rel));
                    }
                }
                _ if is_root && kind == tar::EntryType::Directory => {}
                _ => digests = None,
            }
            // Without digests the tree is hashed from the files' contents,
            // and a link would show a held-back file as a hole: from here
            // on, every content is on disk.
            let harmless = kind == tar::EntryType::Directory && digests.is_some();
            if !harmless && budget.take().is_some() {
                ctx.deferred.write_all()?;
            }
            // unpack_in refuses paths that climb out of the directory.
            // The tar crate's error names the path; its cause is the source.
            entry.unpack_in(&ctx.dir).map_err(|e| {
                let cause = std::error::Error::source(&e)
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default();
                std::io::Error::new(e.kind(), format!("{e}{cause}"))
            })?;
        }
        ctx.digests = Arc::new(digests.unwrap_or_default());
        ctx.ignore = fs::read_to_string(ctx.dir.join(".dockerignore"))
            .map(|t| Ignore::parse(&t))
            .unwrap_or_default();
        prune(
            &ctx.dir,
            "",
            &ctx.ignore,
            dockerfile.trim_start_matches("./"),
        )?;
        Ok(ctx)
    }

    /// The directory for reading the context's files (COPY, ADD).
    pub fn files(&self) -> ContextFiles {
        ContextFiles {
            dir: self.dir.clone(),
            deferred: self.deferred.clone(),
        }
    }

    /// The Dockerfile's text. Like Docker, the Dockerfile and
    /// `.dockerignore` leave the context once read if `.dockerignore`
    /// excludes them, so `COPY .` does not see them.
    pub fn dockerfile(&self, name: &str) -> std::io::Result<String> {
        let text = self.read_dockerfile(name)?;
        for f in [name.trim_start_matches("./"), ".dockerignore"] {
            if self.ignore.excluded(f) {
                let _ = fs::remove_file(self.dir.join(f));
            }
        }
        Ok(text)
    }

    fn read_dockerfile(&self, name: &str) -> std::io::Result<String> {
        let rel = name.trim_start_matches('/');
        let p = self.dir.join(rel);
        // Only files inside the context are acceptable.
        let p = p.canonicalize()?;
        if !p.starts_with(self.dir.canonicalize()?) {
            return Err(std::io::Error::other(
                "Dockerfile outside the build context",
            ));
        }
        fs::read_to_string(p)
    }
}

/// Contexts of builds a crashed daemon left behind: removed once a day old
/// (no build runs that long, and a live one may be next to them).
fn collect_stale(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    let day = std::time::Duration::from_secs(24 * 3600);
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if old && e.file_name().to_string_lossy().starts_with("build-") {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Removes what `.dockerignore` excludes below `dir` (`rel` from the root).
fn prune(dir: &Path, rel: &str, ignore: &Ignore, keep: &str) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = entry.file_type()?.is_dir();
        if ignore.excluded(&path) && path != keep {
            if is_dir && (ignore.has_exceptions() || keep.starts_with(&format!("{path}/"))) {
                prune(&entry.path(), &path, ignore, keep)?;
            } else if is_dir {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        } else if is_dir {
            prune(&entry.path(), &path, ignore, keep)?;
        }
    }
    Ok(())
}

/// `path` when it is relative and made of plain names only (no `..`, no
/// root): the fast path writes only such entries itself.
fn plain_relative(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Whether a directory on the way to `rel` below `root` is a symlink (which
/// an earlier entry of the archive may have made): such entries go through
/// the tar crate's checked unpacking instead.
fn through_symlink(root: &Path, rel: &Path) -> bool {
    let mut cur = root.to_path_buf();
    let parents: Vec<_> = rel.components().collect();
    for c in &parents[..parents.len().saturating_sub(1)] {
        cur.push(c);
        if fs::symlink_metadata(&cur).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
    }
    false
}

/// Creates the file at `path` for a regular entry (replacing whatever an
/// earlier entry put there), not following a symlink.
fn create_file(path: &Path) -> std::io::Result<fs::File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let _ = fs::remove_file(path);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Writes `data` and gives the file its mode and mtime (after the write,
/// which would move the mtime).
fn finish_file(mut f: fs::File, data: &[u8], mode: u32, mtime: u64) -> std::io::Result<()> {
    use std::io::Write;
    f.write_all(data)?;
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime))
}

fn mode_and_mtime(entry: &tar::Entry<'_, &mut dyn Read>) -> (u32, u64) {
    let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
    (mode, entry.header().mtime().unwrap_or(0))
}

/// A regular file of the context, written with large buffers (the tar
/// crate copies in 8 KiB writes), keeping its mode and mtime. Returns the
/// digest of its content, hashed as it streams by.
fn write_file(
    path: &Path,
    entry: &mut tar::Entry<'_, &mut dyn Read>,
    buf: &mut [u8],
) -> std::io::Result<FileDigest> {
    let (mode, mtime) = mode_and_mtime(entry);
    let mut f = create_file(path)?;
    let mut h = FileHasher::default();
    loop {
        let n = entry.read(buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        std::io::Write::write_all(&mut f, &buf[..n])?;
    }
    finish_file(f, &[], mode, mtime)?;
    Ok(h.finish())
}

/// A regular file whose content is held back: created sparse, with its
/// size, mode and mtime, its `size` bytes read into memory and hashed.
fn hold_file(
    path: &Path,
    entry: &mut tar::Entry<'_, &mut dyn Read>,
    size: usize,
    buf: &mut [u8],
    deferred: &DeferredFiles,
) -> std::io::Result<FileDigest> {
    let (mode, mtime) = mode_and_mtime(entry);
    let f = create_file(path)?;
    // Through the shared buffer: `read_to_end` would zero the new
    // vector's every byte before reading into it.
    let mut data = Vec::with_capacity(size);
    let mut h = FileHasher::default();
    loop {
        let n = entry.read(buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        data.extend_from_slice(&buf[..n]);
    }
    // Sparse at its final size: the tree hash takes sizes from the disk.
    f.set_len(data.len() as u64)?;
    finish_file(f, &[], mode, mtime)?;
    let mut held = deferred.0.lock().unwrap_or_else(|e| e.into_inner());
    held.insert(path.to_path_buf(), Deferred { data, mode, mtime });
    Ok(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn digests_follow_the_files_as_unpacked() {
        let (_root, ctx) = unpacked(&[
            ("Dockerfile", tar::EntryType::Regular, b"FROM scratch\n", ""),
            ("a", tar::EntryType::Regular, b"one", ""),
            ("b", tar::EntryType::Regular, b"two", ""),
            ("d/c", tar::EntryType::Regular, b"three", ""),
            // A symlink entry replacing `b`: its old digest must go.
            ("b", tar::EntryType::Symlink, b"", "a"),
        ]);
        assert_eq!(
            ctx.digests.get(&ctx.dir.join("a")),
            Some(&digest_of(b"one"))
        );
        assert_eq!(
            ctx.digests.get(&ctx.dir.join("d/c")),
            Some(&digest_of(b"three"))
        );
        assert_eq!(ctx.digests.get(&ctx.dir.join("b")), None);
        assert!(ctx.dir.join("b").is_symlink());
        // Hashing with the digests agrees with reading the files back.
        let known = |p: &Path| ctx.digests.get(p).copied();
        assert_eq!(
            berth_build::cache::tree_hash_known(&ctx.dir, &known).unwrap(),
            berth_build::cache::tree_hash(&ctx.dir).unwrap()
        );
    }

    /// The context a tar of `entries` unpacks to, beside the root holding it.
    fn unpacked(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> (tempfile::TempDir, Context) {
        let root = tempfile::tempdir().unwrap();
        let tar = tar_of(entries);
        let ctx = Context::unpack(root.path(), &mut tar.as_slice(), "Dockerfile").unwrap();
        (root, ctx)
    }

    fn digest_of(s: &[u8]) -> FileDigest {
        let mut h = FileHasher::default();
        h.update(s);
        h.finish()
    }

    #[test]
    fn held_back_files_hash_like_written_ones_and_appear_when_read() {
        let root = tempfile::tempdir().unwrap();
        let big = vec![7u8; 100_000];
        let tar = tar_of(&[
            ("Dockerfile", tar::EntryType::Regular, b"FROM scratch\n", ""),
            ("d/big", tar::EntryType::Regular, &big, ""),
            ("small", tar::EntryType::Regular, b"one", ""),
        ]);
        let ctx = Context::unpack(root.path(), &mut tar.as_slice(), "Dockerfile").unwrap();
        // The Dockerfile is written at once; the others are sparse holes of
        // their final size until read.
        assert_eq!(ctx.dockerfile("Dockerfile").unwrap(), "FROM scratch\n");
        let md = fs::metadata(ctx.dir.join("d/big")).unwrap();
        assert_eq!(md.len(), big.len() as u64);
        assert_eq!(md.permissions().mode() & 0o7777, 0o644);
        assert_eq!(fs::read(ctx.dir.join("small")).unwrap(), [0, 0, 0]);
        assert_eq!(
            ctx.digests.get(&ctx.dir.join("d/big")),
            Some(&digest_of(&big))
        );
        let known = |p: &Path| ctx.digests.get(p).copied();
        let before = berth_build::cache::tree_hash_known(&ctx.dir, &known).unwrap();
        let files = ctx.files();
        let dir = files.dir().unwrap();
        assert_eq!(fs::read(dir.join("d/big")).unwrap(), big);
        assert_eq!(fs::read(dir.join("small")).unwrap(), b"one");
        // Same tree hash from the digests as from the contents read back.
        assert_eq!(before, berth_build::cache::tree_hash(&ctx.dir).unwrap());
    }

    #[test]
    fn a_link_entry_writes_the_held_back_files_first() {
        let (_root, ctx) = unpacked(&[
            ("a", tar::EntryType::Regular, b"one", ""),
            ("b", tar::EntryType::Link, b"", "a"),
            ("c", tar::EntryType::Regular, b"three", ""),
        ]);
        // Written before the link was made, and nothing held after it.
        assert_eq!(fs::read(ctx.dir.join("b")).unwrap(), b"one");
        assert_eq!(fs::read(ctx.dir.join("c")).unwrap(), b"three");
    }

    #[test]
    fn a_root_entry_keeps_the_digests_and_a_dropped_digest_writes_all() {
        let root = tempfile::tempdir().unwrap();
        // `tar -C dir .` starts with `./`: the digests stay.
        let tar = tar_of(&[
            ("./", tar::EntryType::Directory, b"", ""),
            ("./a", tar::EntryType::Regular, b"one", ""),
        ]);
        let ctx = Context::unpack(root.path(), &mut tar.as_slice(), "Dockerfile").unwrap();
        assert_eq!(
            ctx.digests.get(&ctx.dir.join("a")),
            Some(&digest_of(b"one"))
        );
        // A directory entry with an absolute path drops them (the tar
        // builder refuses to write one, hence the raw name): the held-back
        // contents must then be on disk, since hashing reads the files.
        let mut tar = tar_of(&[("a", tar::EntryType::Regular, b"one", "")]);
        tar.truncate(tar.len() - 1024);
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..4].copy_from_slice(b"/sub");
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_cksum();
        tar.extend_from_slice(h.as_bytes());
        tar.extend_from_slice(&[0; 1024]);
        let ctx = Context::unpack(root.path(), &mut tar.as_slice(), "Dockerfile").unwrap();
        assert!(ctx.digests.is_empty());
        assert!(ctx.dir.join("sub").is_dir());
        assert_eq!(fs::read(ctx.dir.join("a")).unwrap(), b"one");
    }

    #[test]
    fn a_held_back_file_pruned_by_dockerignore_stays_away() {
        let (_root, ctx) = unpacked(&[
            (".dockerignore", tar::EntryType::Regular, b"secret\n", ""),
            ("secret", tar::EntryType::Regular, b"hidden", ""),
            ("kept", tar::EntryType::Regular, b"shown", ""),
        ]);
        let files = ctx.files();
        let dir = files.dir().unwrap();
        assert!(!dir.join("secret").exists());
        assert_eq!(fs::read(dir.join("kept")).unwrap(), b"shown");
    }

    #[test]
    fn an_entry_through_a_symlink_drops_all_digests() {
        let (_root, ctx) = unpacked(&[
            ("real/f", tar::EntryType::Regular, b"old", ""),
            ("link", tar::EntryType::Symlink, b"", "real"),
            ("link/f", tar::EntryType::Regular, b"new", ""),
        ]);
        assert_eq!(fs::read(ctx.dir.join("real/f")).unwrap(), b"new");
        assert!(ctx.digests.is_empty());
    }
}
