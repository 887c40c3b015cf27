//! Build cache keys. A step's result is reused when its parent image, its
//! instruction text (after substitution, with the build args a RUN sees)
//! and, for COPY/ADD, the content and metadata of its sources are the same.
//! Modification times are left out: the context is re-sent on every build.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::BuildError;

/// The key a step is stored under, next to its parent image id.
pub fn step_key(text: &str, content: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    h.update([0]);
    if let Some(c) = content {
        h.update(c.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Hash of the tree at `path` (a file or a directory): names, modes,
/// owners, link targets and contents, in name order.
pub fn tree_hash(path: &Path) -> Result<String, BuildError> {
    let mut h = Sha256::new();
    add(&mut h, path, "")?;
    Ok(hex::encode(h.finalize()))
}

fn io(context: &Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        context: format!("hashing {}", context.display()),
        source,
    }
}

fn add(h: &mut Sha256, path: &Path, rel: &str) -> Result<(), BuildError> {
    let md = fs::symlink_metadata(path).map_err(io(path))?;
    h.update(format!("{rel}\0{:o}\0{}:{}\0", md.mode(), md.uid(), md.gid()).as_bytes());
    if md.file_type().is_symlink() {
        let t = fs::read_link(path).map_err(io(path))?;
        h.update(t.to_string_lossy().as_bytes());
    } else if md.is_dir() {
        let mut names: Vec<_> = fs::read_dir(path)
            .map_err(io(path))?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for n in names {
            let child = format!("{rel}/{}", n.to_string_lossy());
            add(h, &path.join(&n), &child)?;
        }
    } else if md.is_file() {
        let mut f = fs::File::open(path).map_err(io(path))?;
        let mut buf = [0u8; 64 * 1024];
        h.update(md.len().to_le_bytes());
        loop {
            let n = f.read(&mut buf).map_err(io(path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    h.update([0xff]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_changes_the_hash() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("a"), "one").unwrap();
        let first = tree_hash(d.path()).unwrap();
        assert_eq!(first, tree_hash(d.path()).unwrap());
        fs::write(d.path().join("a"), "two").unwrap();
        assert_ne!(first, tree_hash(d.path()).unwrap());
        assert_ne!(
            step_key("COPY a b", Some(&first)),
            step_key("COPY a b", None)
        );
    }
}
