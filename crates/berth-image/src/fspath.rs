//! Resolving paths inside a root directory as if it were `/` (chroot-style),
//! so symlinks in a layer or rootfs can never lead a write outside it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::error::ImageError;

const MAX_SYMLINKS: usize = 255;

/// Splits a path from a tar header into clean components, rejecting absolute
/// paths and `..` (a layer must never address anything outside its root).
pub fn clean_relative(p: &Path) -> Result<Vec<OsString>, ImageError> {
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) | Component::ParentDir => {
                return Err(ImageError::invalid(format!(
                    "invalid path in archive (outside the layer): {}",
                    p.display()
                )))
            }
        }
    }
    Ok(out)
}

/// Joins `rel` onto `root`, resolving every symlink met on the way relative
/// to `root` (absolute targets restart at `root`, `..` stops at `root`).
/// Missing components are kept as-is. The result is always inside `root`.
pub fn secure_join(root: &Path, rel: &[OsString]) -> Result<PathBuf, ImageError> {
    let mut pending: VecDeque<OsString> = rel.iter().cloned().collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            cur.pop();
            continue;
        }
        if c == "." || c.is_empty() {
            continue;
        }
        let next = cur.join(&c);
        let full = root.join(&next);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ImageError::invalid(format!(
                        "too many levels of symbolic links: {}",
                        full.display()
                    )));
                }
                let target =
                    fs::read_link(&full).map_err(|e| ImageError::path("reading link", &full, e))?;
                if target.is_absolute() {
                    cur = PathBuf::new();
                }
                let mut expanded: VecDeque<OsString> = target
                    .components()
                    .filter_map(|tc| match tc {
                        Component::Normal(n) => Some(n.to_os_string()),
                        Component::ParentDir => Some(OsString::from("..")),
                        _ => None,
                    })
                    .collect();
                expanded.extend(pending);
                pending = expanded;
            }
            _ => cur = next,
        }
    }
    Ok(root.join(cur))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn comps(s: &str) -> Vec<OsString> {
        clean_relative(Path::new(s)).unwrap()
    }

    #[test]
    fn rejects_escapes() {
        assert!(clean_relative(Path::new("/etc/passwd")).is_err());
        assert!(clean_relative(Path::new("a/../../x")).is_err());
        assert_eq!(
            comps("./a/./b"),
            vec![OsString::from("a"), OsString::from("b")]
        );
    }

    #[test]
    fn symlinks_stay_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir(root.join("usr")).unwrap();
        symlink("/usr", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("up")).unwrap();
        symlink("usr", root.join("rel")).unwrap();
        assert_eq!(
            secure_join(root, &comps("abs/lib")).unwrap(),
            root.join("usr/lib")
        );
        assert_eq!(
            secure_join(root, &comps("up/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, &comps("rel/x")).unwrap(),
            root.join("usr/x")
        );
        symlink("loop", root.join("loop")).unwrap();
        assert!(secure_join(root, &comps("loop/x")).is_err());
    }
}
