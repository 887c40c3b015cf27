//! Snapshot drivers: where unpacked layers and container rw layers live on
//! disk and how a container rootfs is mounted.
//!
//! overlay2 (Docker's layout): `overlay/<cache-id>/diff` per layer, a short
//! link `overlay/l/<ID26> -> ../<cache-id>/diff` so lowerdir lists stay under
//! the mount-option page limit (mounted with chdir to `overlay/`), and
//! `overlay/<container-id>/{diff,work}` per container.
//! vfs: `vfs/<id>/diff` is a full copy of the parent plus the layer; a
//! container rootfs is a full copy of the image's top layer, bind-mounted.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use rand::Rng;

use crate::apply::{remove_all, WhiteoutMode};
use crate::error::{ImageError, PathContext};
use crate::idmap::IdMap;

const LINK_DIR: &str = "l";
const LINK_ID_LEN: usize = 26;

/// Mount description for the runtime (performed inside the container's mount
/// namespace). `fstype == "bind"` means: recursive bind mount of `source`
/// (a directory); otherwise `mount(source, target, fstype, 0, data)` after
/// `chdir(chdir)` when given (overlay lowerdirs are relative to it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMount {
    pub fstype: String,
    pub source: String,
    pub data: String,
    pub chdir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriverKind {
    Overlay2,
    Vfs,
}

pub struct Driver {
    kind: DriverKind,
    home: PathBuf,
    /// `--userns-remap`: layer and rw dirs belong to the remapped root.
    ids: Option<IdMap>,
}

impl Driver {
    /// `requested`: None = overlay2 if it works here, else vfs.
    pub fn open(data_root: &Path, requested: Option<&str>) -> Result<Driver, ImageError> {
        let kind = match requested {
            None | Some("") => {
                if probe_overlay(data_root).is_ok() {
                    DriverKind::Overlay2
                } else {
                    tracing::warn!(
                        "overlay mounts do not work on {}; using vfs",
                        data_root.display()
                    );
                    DriverKind::Vfs
                }
            }
            Some("overlay2") | Some("overlay") => {
                probe_overlay(data_root)?;
                DriverKind::Overlay2
            }
            Some("vfs") => DriverKind::Vfs,
            Some(other) => {
                return Err(ImageError::invalid(format!(
                    "graphdriver {other:?} is not supported (overlay2, vfs)"
                )))
            }
        };
        let home = data_root.join(match kind {
            DriverKind::Overlay2 => "overlay",
            DriverKind::Vfs => "vfs",
        });
        fs::create_dir_all(home.join(LINK_DIR)).at("creating", &home)?;
        Ok(Driver {
            kind,
            home,
            ids: None,
        })
    }

    pub fn with_ids(mut self, ids: Option<IdMap>) -> Driver {
        self.ids = ids;
        self
    }

    pub fn ids(&self) -> Option<&IdMap> {
        self.ids.as_ref()
    }

    /// Gives `path` to the remapped root (a layer's or container's top dir,
    /// which a tar may not describe), so the container's `/` is its root's.
    fn own(&self, path: &Path) -> Result<(), ImageError> {
        if let Some(ids) = &self.ids {
            let (uid, gid) = ids.root();
            std::os::unix::fs::lchown(path, Some(uid), Some(gid)).at("chown", path)?;
        }
        Ok(())
    }

    pub fn name(&self) -> &'static str {
        match self.kind {
            DriverKind::Overlay2 => "overlay2",
            DriverKind::Vfs => "vfs",
        }
    }

    pub fn whiteout_mode(&self) -> WhiteoutMode {
        match self.kind {
            DriverKind::Overlay2 => WhiteoutMode::Overlay,
            DriverKind::Vfs => WhiteoutMode::Delete,
        }
    }

    pub fn diff_dir(&self, id: &str) -> PathBuf {
        self.home.join(id).join("diff")
    }

    /// Creates the directory a new layer is unpacked into. For vfs it starts
    /// as a copy of the parent layer's (full) tree.
    pub fn create_layer_dir(&self, id: &str, parent: Option<&str>) -> Result<PathBuf, ImageError> {
        let dir = self.home.join(id);
        fs::create_dir_all(&dir).at("creating", &dir)?;
        let diff = dir.join("diff");
        match (self.kind, parent) {
            (DriverKind::Vfs, Some(p)) => copy_tree(&self.diff_dir(p), &diff)?,
            _ => {
                fs::create_dir(&diff).at("creating", &diff)?;
                self.own(&diff)?;
            }
        }
        Ok(diff)
    }

    /// Gives a finished layer its short link (overlay2); returns the link id.
    pub fn link_layer(&self, id: &str) -> Result<String, ImageError> {
        if self.kind == DriverKind::Vfs {
            return Ok(String::new());
        }
        let link_id = random_link_id();
        let link = self.home.join(LINK_DIR).join(&link_id);
        std::os::unix::fs::symlink(format!("../{id}/diff"), &link).at("creating link", &link)?;
        let link_file = self.home.join(id).join("link");
        fs::write(&link_file, &link_id).at("writing", &link_file)?;
        Ok(link_id)
    }

    /// Removes a layer or container directory and its short link.
    pub fn remove(&self, id: &str) -> Result<(), ImageError> {
        if id.is_empty() || id.contains('/') || id == LINK_DIR {
            return Err(ImageError::Internal(format!(
                "refusing to remove snapshot {id:?}"
            )));
        }
        let dir = self.home.join(id);
        if let Ok(link_id) = fs::read_to_string(dir.join("link")) {
            let link_id = link_id.trim();
            if !link_id.is_empty() && !link_id.contains('/') {
                let _ = fs::remove_file(self.home.join(LINK_DIR).join(link_id));
            }
        }
        remove_all(&dir)
    }

    /// Creates a container's rw layer: overlay upper/work dirs, or for vfs a
    /// full copy of the top image layer.
    pub fn create_rw(&self, container_id: &str, top_layer: Option<&str>) -> Result<(), ImageError> {
        let dir = self.home.join(container_id);
        if dir.join("diff").is_dir() {
            return Ok(());
        }
        // A half-made dir from an interrupted call is rebuilt from scratch.
        remove_all(&dir)?;
        fs::create_dir_all(&dir).at("creating", &dir)?;
        let tmp = dir.join("diff.tmp");
        match (self.kind, top_layer) {
            (DriverKind::Vfs, Some(top)) => copy_tree(&self.diff_dir(top), &tmp)?,
            _ => {
                fs::create_dir(&tmp).at("creating", &tmp)?;
                self.own(&tmp)?;
            }
        }
        if self.kind == DriverKind::Overlay2 {
            for sub in ["work", "empty"] {
                let d = dir.join(sub);
                fs::create_dir(&d).at("creating", &d)?;
                self.own(&d)?;
            }
        }
        // The rename marks the rw layer complete (checked above).
        fs::rename(&tmp, dir.join("diff")).at("renaming", &tmp)
    }

    /// `lowers`: (cache id, link id) of the image layers, top-most first.
    pub fn mount_for(&self, container_id: &str, lowers: &[(String, String)]) -> SnapshotMount {
        let dir = self.home.join(container_id);
        match self.kind {
            DriverKind::Vfs => SnapshotMount {
                fstype: "bind".into(),
                source: dir.join("diff").to_string_lossy().into_owned(),
                data: String::new(),
                chdir: None,
            },
            DriverKind::Overlay2 => {
                let lowerdir = if lowers.is_empty() {
                    // overlay needs a lower layer; an empty dir stands in for
                    // images without layers.
                    format!("{container_id}/empty")
                } else {
                    lowers
                        .iter()
                        .map(|(_, link)| format!("{LINK_DIR}/{link}"))
                        .collect::<Vec<_>>()
                        .join(":")
                };
                SnapshotMount {
                    fstype: "overlay".into(),
                    source: "overlay".into(),
                    data: format!(
                        "lowerdir={lowerdir},upperdir={},workdir={}",
                        dir.join("diff").display(),
                        dir.join("work").display()
                    ),
                    chdir: Some(self.home.clone()),
                }
            }
        }
    }

    /// Docker's GraphDriver.Data for a container.
    pub fn graph_data(&self, container_id: &str, lowers: &[(String, String)]) -> serde_json::Value {
        let dir = self.home.join(container_id);
        match self.kind {
            DriverKind::Vfs => serde_json::json!({"Name": "vfs", "Data": null}),
            DriverKind::Overlay2 => {
                let lower = lowers
                    .iter()
                    .map(|(id, _)| self.diff_dir(id).to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(":");
                serde_json::json!({
                    "Name": "overlay2",
                    "Data": {
                        "LowerDir": lower,
                        "MergedDir": dir.join("merged"),
                        "UpperDir": dir.join("diff"),
                        "WorkDir": dir.join("work"),
                    }
                })
            }
        }
    }

    /// GraphDriver for an image (top layer is the "UpperDir", as Docker shows).
    pub fn image_graph_data(&self, layers_top_first: &[String]) -> serde_json::Value {
        match (self.kind, layers_top_first.split_first()) {
            (DriverKind::Overlay2, Some((top, rest))) => {
                let mut data = serde_json::json!({
                    "MergedDir": self.home.join(top).join("merged"),
                    "UpperDir": self.diff_dir(top),
                    "WorkDir": self.home.join(top).join("work"),
                });
                if !rest.is_empty() {
                    let lower: Vec<String> = rest
                        .iter()
                        .map(|id| self.diff_dir(id).to_string_lossy().into_owned())
                        .collect();
                    data["LowerDir"] = lower.join(":").into();
                }
                serde_json::json!({"Name": "overlay2", "Data": data})
            }
            _ => serde_json::json!({"Name": self.name(), "Data": null}),
        }
    }

    /// Removes what no database row points to: layer/container dirs not in
    /// `keep` (only names that look like ours: 64 hex, optionally with a
    /// suffix after '-') and dangling short links.
    pub fn gc(&self, keep: &std::collections::HashSet<String>) {
        let Ok(entries) = fs::read_dir(&self.home) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == LINK_DIR || keep.contains(&name) || !looks_like_id(&name) {
                continue;
            }
            tracing::info!(dir = %name, "removing unreferenced snapshot");
            if let Err(err) = self.remove(&name) {
                tracing::warn!(%err, "snapshot gc");
            }
        }
        if let Ok(links) = fs::read_dir(self.home.join(LINK_DIR)) {
            for l in links.flatten() {
                // metadata() follows the link: a dangling one fails.
                if fs::metadata(l.path()).is_err() {
                    let _ = fs::remove_file(l.path());
                }
            }
        }
    }
}

fn looks_like_id(name: &str) -> bool {
    let hex = name.split('-').next().unwrap_or_default();
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn random_link_id() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..LINK_ID_LEN)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// Full copy of a tree keeping owners, modes, times, xattrs, hardlinks and
/// devices. GNU `cp -a` does all of that correctly (and reflinks when the
/// filesystem can), which a hand-written walker would have to re-learn.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), ImageError> {
    let out = Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(src)
        .arg(dst)
        .output()
        .map_err(|e| ImageError::io("running cp", e))?;
    if !out.status.success() {
        return Err(ImageError::Internal(format!(
            "copying {} to {}: {}",
            src.display(),
            dst.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Mounts and unmounts a tiny overlay under data_root to see whether overlay
/// works on this filesystem (it does not on top of another overlay, for one).
fn probe_overlay(data_root: &Path) -> Result<(), ImageError> {
    fs::create_dir_all(data_root).at("creating", data_root)?;
    let tmp = tempfile::Builder::new()
        .prefix(".overlay-probe-")
        .tempdir_in(data_root)
        .at("creating probe dir in", data_root)?;
    let p = tmp.path();
    for d in ["lower", "upper", "work", "merged"] {
        fs::create_dir(p.join(d)).at("creating", &p.join(d))?;
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        p.join("lower").display(),
        p.join("upper").display(),
        p.join("work").display()
    );
    let merged = p.join("merged");
    mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|e| ImageError::path("overlay probe mount on", &merged, e.into()))?;
    umount2(&merged, MntFlags::MNT_DETACH)
        .map_err(|e| ImageError::path("overlay probe unmount", &merged, e.into()))?;
    Ok(())
}
