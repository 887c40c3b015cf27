//! Helpers shared by the crate's unit tests.

/// A tar of `entries`: a path ending in `/` is a directory, anything else a
/// file with that content; root-owned, mode 755/644, mtime 0.
pub(crate) fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        let dir = path.ends_with('/');
        h.set_entry_type(if dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A snapshot's overlay mounted on a temp dir for a test to look at (the
/// way the runtime mounts it: options relative to `chdir`); unmounted when
/// dropped, also when an assertion failed.
pub(crate) struct MountedOverlay {
    dir: tempfile::TempDir,
}

impl MountedOverlay {
    pub(crate) fn new(m: &crate::driver::SnapshotMount) -> MountedOverlay {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .current_dir(m.chdir.as_ref().unwrap())
            .args(["-t", "overlay", "-o", &m.data, "overlay"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        MountedOverlay { dir }
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for MountedOverlay {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
