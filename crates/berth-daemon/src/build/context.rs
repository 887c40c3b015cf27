//! The build context: the request's tar unpacked into a private directory
//! under the data root, with `.dockerignore` applied (Docker applies it on
//! the daemon side too, whatever the client sent). The Dockerfile itself is
//! always kept so it can be read.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use berth_build::ignore::Ignore;

/// A context directory, removed on drop.
pub struct Context {
    pub dir: PathBuf,
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
        let ctx = Context { dir };
        let mut archive = tar::Archive::new(tar);
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_overwrite(true);
        for entry in archive.entries()? {
            let mut entry = entry?;
            // unpack_in refuses paths that climb out of the directory.
            entry.unpack_in(&ctx.dir)?;
        }
        let ignore = fs::read_to_string(ctx.dir.join(".dockerignore"))
            .map(|t| Ignore::parse(&t))
            .unwrap_or_default();
        prune(&ctx.dir, "", &ignore, dockerfile.trim_start_matches("./"))?;
        Ok(ctx)
    }

    /// The Dockerfile's text.
    pub fn dockerfile(&self, name: &str) -> std::io::Result<String> {
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
