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

/// The digest of one regular file's content, as [`tree_hash`] folds it in.
pub type FileDigest = [u8; 32];

/// Hashes file contents for [`FileDigest`]s. BLAKE3 rather than SHA-256:
/// it is as collision resistant for a cache key and several times faster
/// (every byte of every COPY source is hashed on each build, cached or not).
#[derive(Default)]
pub struct FileHasher(blake3::Hasher);

impl FileHasher {
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(&self) -> FileDigest {
        *self.0.finalize().as_bytes()
    }
}

/// Hash of the tree at `path` (a file or a directory): names, modes,
/// owners, link targets and contents, in name order.
pub fn tree_hash(path: &Path) -> Result<String, BuildError> {
    tree_hash_known(path, &|_| None)
}

/// [`tree_hash`], taking the content digest of a regular file from `known`
/// when it has one (the build context hashes files while it unpacks them,
/// so a cached rebuild does not read them back), reading the file otherwise.
/// Both ways give the same hash.
pub fn tree_hash_known(
    path: &Path,
    known: &dyn Fn(&Path) -> Option<FileDigest>,
) -> Result<String, BuildError> {
    let mut h = Sha256::new();
    add(&mut h, path, "", known)?;
    Ok(hex::encode(h.finalize()))
}

fn io(context: &Path) -> impl Fn(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        context: format!("hashing {}", context.display()),
        source,
    }
}

fn add(
    h: &mut Sha256,
    path: &Path,
    rel: &str,
    known: &dyn Fn(&Path) -> Option<FileDigest>,
) -> Result<(), BuildError> {
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
            add(h, &path.join(&n), &child, known)?;
        }
    } else if md.is_file() {
        let digest = match known(path) {
            Some(d) => d,
            None => file_digest(path)?,
        };
        h.update(md.len().to_le_bytes());
        h.update(digest);
    }
    h.update([0xff]);
    Ok(())
}

fn file_digest(path: &Path) -> Result<FileDigest, BuildError> {
    let mut f = fs::File::open(path).map_err(io(path))?;
    let mut h = FileHasher::default();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finish())
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

    #[test]
    fn known_digests_give_the_same_hash_as_reading() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("sub")).unwrap();
        fs::write(d.path().join("sub/a"), "alpha").unwrap();
        fs::write(d.path().join("b"), "beta").unwrap();
        let read = tree_hash(d.path()).unwrap();
        let a = d.path().join("sub/a");
        let mut h = FileHasher::default();
        h.update(b"alpha");
        let told = h.finish();
        let known = tree_hash_known(d.path(), &|p| (p == a).then_some(told)).unwrap();
        assert_eq!(read, known);
        // A wrong digest shows: the known value is really used.
        let wrong = tree_hash_known(d.path(), &|p| (p == a).then_some([0; 32])).unwrap();
        assert_ne!(read, wrong);
    }
}
