//! Path helpers for work inside a container root before pivot_root: resolving a
//! container path without letting symlinks in the image escape the root, and
//! creating mount points.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Upper bound on symlinks followed while resolving one path (as the kernel's
/// MAXSYMLINKS), so a link loop in an image is an error, not a hang.
const MAX_SYMLINKS: usize = 40;

/// Joins `unsafe_path` (a path as seen inside the container) onto `root`,
/// resolving symlinks as if `root` were `/`: `..` and absolute link targets
/// never leave `root`. Components that do not exist yet are kept literally, so
/// the result can be created afterwards.
pub fn secure_join(root: &Path, unsafe_path: &Path) -> io::Result<PathBuf> {
    // Pending components, reversed so we can pop the next one.
    let mut pending: Vec<PathBuf> = components(unsafe_path);
    pending.reverse();
    let mut resolved: Vec<PathBuf> = Vec::new();
    let mut links = 0;
    while let Some(comp) = pending.pop() {
        if comp.as_os_str() == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&comp);
        match fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => resolved.push(comp),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(resolved);
    Ok(out)
}

/// The normal and `..` components of a path (root and `.` dropped).
fn components(p: &Path) -> Vec<PathBuf> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(PathBuf::from(s)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect()
}

/// Creates an empty file (and its parent directories) to bind a file over;
/// an existing file is left alone.
pub fn ensure_file(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
    {
        Ok(_) => Ok(()),
        // A directory (or something else) already sits there: the mount
        // decides whether that is acceptable.
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn plain_path_is_joined() {
        let root = tempfile::tempdir().unwrap();
        let p = secure_join(root.path(), Path::new("/etc/hosts")).unwrap();
        assert_eq!(p, root.path().join("etc/hosts"));
    }

    #[test]
    fn dotdot_cannot_escape() {
        let root = tempfile::tempdir().unwrap();
        let p = secure_join(root.path(), Path::new("/../../etc/./passwd")).unwrap();
        assert_eq!(p, root.path().join("etc/passwd"));
    }

    #[test]
    fn absolute_symlink_stays_inside_root() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("real")).unwrap();
        symlink("/real", root.path().join("link")).unwrap();
        symlink("/../../../../tmp", root.path().join("evil")).unwrap();
        assert_eq!(
            secure_join(root.path(), Path::new("/link/x")).unwrap(),
            root.path().join("real/x")
        );
        assert_eq!(
            secure_join(root.path(), Path::new("/evil/x")).unwrap(),
            root.path().join("tmp/x")
        );
    }

    #[test]
    fn relative_symlink_resolves_from_its_directory() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("var/run")).unwrap();
        symlink("../run", root.path().join("var/lnk")).unwrap();
        assert_eq!(
            secure_join(root.path(), Path::new("/var/lnk/a")).unwrap(),
            root.path().join("run/a")
        );
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        symlink("/b", root.path().join("a")).unwrap();
        symlink("/a", root.path().join("b")).unwrap();
        let err = secure_join(root.path(), Path::new("/a/x")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }

    #[test]
    fn ensure_file_creates_parents_and_keeps_content() {
        let root = tempfile::tempdir().unwrap();
        let f = root.path().join("a/b/c");
        ensure_file(&f).unwrap();
        fs::write(&f, "x").unwrap();
        ensure_file(&f).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), "x");
    }
}
