//! COPY/ADD and WORKDIR on the filesystem: sources are archived from a root
//! (the context directory, or another stage's image mounted read-only) and
//! extracted into a fresh rw layer of the step's parent image, which is then
//! committed. Paths resolve strictly inside their root.

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use berth_build::ignore::glob;
use berth_build::CopyArgs;
use berth_image::treetar::{list_dir, TreeOptions, TreeTar};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::fsops::resolve::{absolute, locate, open_in_root};
use crate::fsops::untar::{extract_remapped, ExtractOptions};
use crate::fsops::FsError;
use berth_image::idmap::IdMap;

/// What one COPY writes, relative to its destination directory.
pub struct Payload {
    /// The destination directory (absolute in the image).
    pub dest_dir: String,
    pub tar: Vec<u8>,
    /// For a single file copied to a path without a trailing `/`: the tar
    /// to use instead when that path turns out to be an existing directory.
    pub into_dir: Option<Vec<u8>>,
    /// An archive ADD extracts: its entries keep their own owners and
    /// modes unless `--chown` is given.
    pub extracted: bool,
}

/// A file fetched for `ADD <url>`.
#[derive(Clone, Debug)]
pub struct Download {
    pub url: String,
    /// The last element of the URL's path.
    pub name: String,
    pub content: Vec<u8>,
    /// From `Last-Modified`, seconds since the epoch.
    pub mtime: u64,
}

pub fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

/// Everything one COPY/ADD writes: files from `root` (the context or a
/// source image), here-documents, for ADD the local archives it extracts
/// and the files it downloaded.
pub fn payloads(
    root: BorrowedFd<'_>,
    a: &CopyArgs,
    dest: &str,
    add: bool,
    downloads: &[Download],
) -> Result<Vec<Payload>, FsError> {
    let many = dest.ends_with('/') || a.sources.len() > 1;
    let mut out = Vec::new();
    let mut plain = Vec::new();
    for src in &a.sources {
        if let Some(content) = a.heredoc(src) {
            let name = src.trim_start_matches('<').trim_start_matches('-');
            out.push(single_file(dest, many, name, content.as_bytes(), 0o644, 0)?);
        } else if add && is_url(src) {
            let d = downloads
                .iter()
                .find(|d| &d.url == src)
                .ok_or_else(|| FsError::Invalid(format!("{src} was not downloaded")))?;
            out.push(single_file(
                dest, many, &d.name, &d.content, 0o600, d.mtime,
            )?);
        } else if add {
            for found in expand(root, src)? {
                match local_archive(root, &found)? {
                    Some(tar) => out.push(Payload {
                        dest_dir: absolute(dest),
                        tar,
                        into_dir: None,
                        extracted: true,
                    }),
                    None => plain.push(found),
                }
            }
        } else {
            plain.push(src.clone());
        }
    }
    if !plain.is_empty() {
        out.insert(0, archive_as(root, &plain, dest, many)?);
    }
    Ok(out)
}

/// The uncompressed tar stream of `path` when it is a tar archive (plain,
/// gzip, bzip2, xz or zstd), as Docker's ADD recognises one: the first
/// header must be a valid tar header.
fn local_archive(root: BorrowedFd<'_>, path: &str) -> Result<Option<Vec<u8>>, FsError> {
    use std::io::Read;
    let loc = locate(root, path, "build context").map_err(|_| not_found(path))?;
    let st = loc
        .lstat()
        .map_err(|e| FsError::io(format!("lstat {path}"), e))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    let fd = nix::fcntl::openat(
        Some(loc.parent.as_raw_fd()),
        loc.base.as_os_str(),
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| FsError::io(format!("opening {path}"), e))?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    let mut file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let Ok(mut reader) = berth_image::compress::decompressed(&mut file) else {
        return Ok(None);
    };
    let mut head = [0u8; 512];
    if reader.read_exact(&mut head).is_err() || !berth_image::tarhead::valid_tar_header(&head) {
        return Ok(None);
    }
    let mut tar = head.to_vec();
    reader
        .read_to_end(&mut tar)
        .map_err(|e| FsError::io(format!("decompressing {path}"), e))?;
    Ok(Some(tar))
}

/// A payload of one in-memory file: `dest` itself, or `dest/name` when
/// `dest` is a directory (named with `/`, or existing in the image).
fn single_file(
    dest: &str,
    many: bool,
    name: &str,
    content: &[u8],
    mode: u32,
    mtime: u64,
) -> Result<Payload, FsError> {
    let tar_of = |entry: &str| -> Result<Vec<u8>, FsError> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, entry, content)
            .map_err(|e| FsError::io(format!("archiving {name}"), e))?;
        b.into_inner()
            .map_err(|e| FsError::io(format!("archiving {name}"), e))
    };
    let dest_abs = absolute(dest);
    if many {
        return Ok(Payload {
            dest_dir: dest_abs,
            tar: tar_of(name)?,
            into_dir: None,
            extracted: false,
        });
    }
    let (dir, base) = dest_abs.rsplit_once('/').unwrap_or(("", ""));
    Ok(Payload {
        dest_dir: if dir.is_empty() {
            "/".into()
        } else {
            dir.into()
        },
        tar: tar_of(base)?,
        into_dir: Some(tar_of(name)?),
        extracted: false,
    })
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands a source (relative to `root`), globs in its last element.
pub fn expand(root: BorrowedFd<'_>, src: &str) -> Result<Vec<String>, FsError> {
    let abs = absolute(src);
    if !has_glob(&abs) {
        return Ok(vec![abs]);
    }
    let (dir, pat) = abs.rsplit_once('/').unwrap_or(("", abs.as_str()));
    let dir = if dir.is_empty() { "/" } else { dir };
    let fd = open_in_root(root, Path::new(dir), OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| FsError::io(format!("reading {dir}"), e))?;
    let mut out: Vec<String> = list_dir(fd.as_fd())?
        .into_iter()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| glob(pat.as_bytes(), n.as_bytes()))
        .map(|n| format!("{}/{n}", dir.trim_end_matches('/')))
        .collect();
    out.sort();
    Ok(out)
}

fn not_found(src: &str) -> FsError {
    FsError::Invalid(format!(
        "COPY failed: file not found in build context or excluded by .dockerignore: stat {}: file does not exist",
        src.trim_start_matches('/')
    ))
}

/// Archives `sources` from `root` for destination `dest` (Docker's rules:
/// a directory's contents are copied; a trailing `/` or several sources
/// make `dest` a directory).
/// `many` says the instruction named several sources.
fn archive_as(
    root: BorrowedFd<'_>,
    sources: &[String],
    dest: &str,
    many: bool,
) -> Result<Payload, FsError> {
    let mut found = Vec::new();
    for s in sources {
        let matched = expand(root, s)?;
        if matched.is_empty() {
            return Err(not_found(s));
        }
        found.extend(matched);
    }
    let dest_is_dir = many || dest.ends_with('/') || dest.ends_with("/.") || found.len() > 1;
    let dest_abs = absolute(dest);
    let mut single_file = None;
    let mut t = TreeTar::new(Vec::new(), TreeOptions::default());
    for src in &found {
        let loc = locate(root, src, "build context").map_err(|_| not_found(src))?;
        let st = loc
            .lstat()
            .map_err(|e| FsError::io(format!("lstat {src}"), e))?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let name = if is_dir {
            OsString::from(".")
        } else if dest_is_dir {
            loc.base.clone()
        } else {
            single_file = Some(loc.base.clone());
            let base = dest_abs.rsplit('/').next().unwrap_or("");
            OsString::from(base)
        };
        append(&mut t, &loc.parent, &loc.base, &name)?;
    }
    let tar = t.finish()?;
    if let (Some(base), false) = (single_file, dest_is_dir) {
        // Copy to `/x/name`, unless `/x/name` is a directory in the image.
        let loc = locate(root, &found[0], "build context").map_err(|_| not_found(&found[0]))?;
        let mut alt = TreeTar::new(Vec::new(), TreeOptions::default());
        append(&mut alt, &loc.parent, &loc.base, &base)?;
        let (dir, _) = dest_abs.rsplit_once('/').unwrap_or(("", ""));
        return Ok(Payload {
            dest_dir: if dir.is_empty() {
                "/".into()
            } else {
                dir.into()
            },
            tar,
            into_dir: Some(alt.finish()?),
            extracted: false,
        });
    }
    Ok(Payload {
        dest_dir: dest_abs,
        tar,
        into_dir: None,
        extracted: false,
    })
}

fn append(
    t: &mut TreeTar<Vec<u8>>,
    parent: &OwnedFd,
    base: &OsString,
    name: &OsString,
) -> Result<(), FsError> {
    t.append_at(parent.as_fd(), base, Path::new(name))?;
    Ok(())
}

/// `mkdir -p` of the absolute `path` inside `root` (following the image's
/// own symlinks, never out of it); new directories belong to the remapped
/// root under `--userns-remap`.
pub fn mkdir_p(root: BorrowedFd<'_>, path: &str, ids: Option<&IdMap>) -> Result<(), FsError> {
    let abs = absolute(path);
    let mut cur = String::from("/");
    for comp in abs.split('/').filter(|c| !c.is_empty()) {
        let parent = open_in_root(root, Path::new(&cur), OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| FsError::io(format!("resolving {cur}"), e))?;
        match nix::sys::stat::mkdirat(
            Some(parent.as_raw_fd()),
            comp,
            Mode::from_bits_truncate(0o755),
        ) {
            Ok(()) => {
                if let Some(m) = ids {
                    let (uid, gid) = m.root();
                    nix::unistd::fchownat(
                        Some(parent.as_raw_fd()),
                        comp,
                        Some(nix::unistd::Uid::from_raw(uid)),
                        Some(nix::unistd::Gid::from_raw(gid)),
                        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| FsError::io(format!("chown {cur}{comp}"), e))?;
                }
            }
            Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(FsError::io(format!("creating {cur}{comp}"), e)),
        }
        cur = format!("{}/{comp}", cur.trim_end_matches('/'));
    }
    Ok(())
}

/// Writes `payload` into the rootfs at `root`, owned by `owner` (root by
/// default; an extracted archive keeps its own owners unless one is given),
/// with `chmod` as the mode of what was copied.
pub fn write(
    root: BorrowedFd<'_>,
    payload: &Payload,
    owner: Option<(u32, u32)>,
    chmod: Option<u32>,
    ids: Option<&IdMap>,
) -> Result<(), FsError> {
    let into_dir = payload.into_dir.as_ref().filter(|_| {
        // `dest` named without `/`: an existing directory still takes the file in.
        !payload.tar.is_empty() && is_dir(root, &payload.dest_dir, &payload.tar)
    });
    let (dir, tar) = match into_dir {
        Some(alt) => (dest_path_of_single(&payload.dest_dir, &payload.tar), alt),
        None => (payload.dest_dir.clone(), &payload.tar),
    };
    mkdir_p(root, &dir, ids)?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: false,
        chown: match (owner, payload.extracted) {
            (Some(o), _) => Some(o),
            (None, true) => None,
            (None, false) => Some((0, 0)),
        },
        chmod: chmod.filter(|_| !payload.extracted),
    };
    extract_remapped(root, &dir, &mut tar.as_slice(), opts, ids)
}

/// The single entry's name in a one-file tar.
fn single_name(tar: &[u8]) -> Option<String> {
    let mut a = tar::Archive::new(tar);
    let mut entries = a.entries().ok()?;
    let e = entries.next()?.ok()?;
    let p = e.path().ok()?;
    Some(p.to_string_lossy().into_owned())
}

fn dest_path_of_single(dir: &str, tar: &[u8]) -> String {
    let name = single_name(tar).unwrap_or_default();
    format!("{}/{name}", dir.trim_end_matches('/'))
}

fn is_dir(root: BorrowedFd<'_>, dir: &str, tar: &[u8]) -> bool {
    let p = dest_path_of_single(dir, tar);
    open_in_root(root, Path::new(&p), OFlag::O_PATH | OFlag::O_DIRECTORY).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn dir(p: &Path) -> fs::File {
        fs::File::open(p).unwrap()
    }

    #[test]
    fn copies_directories_contents_and_renames_single_files() {
        let ctx = tempfile::tempdir().unwrap();
        fs::create_dir(ctx.path().join("sub")).unwrap();
        fs::write(ctx.path().join("sub/n.txt"), "nested").unwrap();
        fs::write(ctx.path().join("file.txt"), "file").unwrap();
        let root = tempfile::tempdir().unwrap();
        let c = dir(ctx.path());
        let r = dir(root.path());

        let p = archive_as(c.as_fd(), &["sub/".into()], "/app/subdir/", false).unwrap();
        write(r.as_fd(), &p, None, None, None).unwrap();
        assert_eq!(
            fs::read_to_string(root.path().join("app/subdir/n.txt")).unwrap(),
            "nested"
        );

        let p = archive_as(c.as_fd(), &["file.txt".into()], "/app/renamed", false).unwrap();
        write(r.as_fd(), &p, None, None, None).unwrap();
        assert_eq!(
            fs::read_to_string(root.path().join("app/renamed")).unwrap(),
            "file"
        );

        // An existing directory takes the file in, even without a trailing `/`.
        let p = archive_as(c.as_fd(), &["file.txt".into()], "/app/subdir", false).unwrap();
        write(r.as_fd(), &p, None, None, None).unwrap();
        assert_eq!(
            fs::read_to_string(root.path().join("app/subdir/file.txt")).unwrap(),
            "file"
        );

        let p = archive_as(c.as_fd(), &["*.txt".into()], "/globbed/", false).unwrap();
        write(r.as_fd(), &p, None, None, None).unwrap();
        assert!(root.path().join("globbed/file.txt").exists());

        let e = archive_as(c.as_fd(), &["missing".into()], "/x/", false)
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("file not found in build context"),
            "{e}"
        );
    }
}
