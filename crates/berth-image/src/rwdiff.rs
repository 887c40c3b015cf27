//! What a container changed in its filesystem (`docker diff`), and the
//! pieces `commit` needs: the rw layer's upper dir and its parent layer.
//! Follows Docker's overlay2 rules: every entry of the upper dir is a change;
//! a whiteout is a deletion; an entry that also exists in a lower layer is a
//! modification (directories too: they are in the upper dir because
//! something below them changed), anything else an addition.

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use nix::sys::stat::{FileStat, SFlag};

use crate::apply::WhiteoutMode;
use crate::apply::{classify_whiteout, Whiteout};
use crate::db::{self, LayerRow};
use crate::error::{ImageError, PathContext};
use crate::fspath::secure_join;
use crate::store::ImageStore;
use crate::treetar::{file_kind, is_opaque, is_whiteout, list_dir, lstat_at, open_dir_at};

/// Docker's change kinds: 0 modified, 1 added, 2 deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Modify = 0,
    Add = 1,
    Delete = 2,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Absolute path inside the container: `/etc/passwd`.
    pub path: String,
    pub kind: ChangeKind,
}

/// The rw layer of a container, as commit and diff see it.
pub struct RwLayerInfo {
    /// `sha256:` id of the image the container was created from.
    pub image_id: String,
    /// The image's top layer (the new layer's parent), None for empty images.
    pub top: Option<LayerRow>,
    /// The container's upper dir (overlay2 only).
    pub upper: PathBuf,
    /// Diff dirs of the image layers, top-most first.
    pub lowers: Vec<PathBuf>,
}

impl ImageStore {
    pub(crate) fn rw_layer_info(&self, container_id: &str) -> Result<RwLayerInfo, ImageError> {
        if self.driver.whiteout_mode() != WhiteoutMode::Overlay {
            return Err(ImageError::Internal(format!(
                "filesystem changes are only tracked by the overlay2 driver, not {}",
                self.driver.name()
            )));
        }
        let conn = self.conn();
        let (image_id, top_chain) = db::get_rw(&conn, container_id)?.ok_or_else(|| {
            ImageError::NotFound(format!("no rw layer for container {container_id}"))
        })?;
        let mut lowers = Vec::new();
        let mut top = None;
        let mut next = top_chain;
        while let Some(c) = next {
            let l = db::get_layer(&conn, &c)?
                .ok_or_else(|| ImageError::Internal(format!("layer {c} is missing")))?;
            lowers.push(self.driver.diff_dir(&l.cache_id));
            next = l.parent.clone();
            if top.is_none() {
                top = Some(l);
            }
        }
        Ok(RwLayerInfo {
            image_id,
            top,
            upper: self.driver.diff_dir(container_id),
            lowers,
        })
    }

    /// `GET /containers/{id}/changes`.
    pub fn rw_changes(&self, container_id: &str) -> Result<Vec<Change>, ImageError> {
        let info = self.rw_layer_info(container_id)?;
        let upper = File::open(&info.upper).at("opening", &info.upper)?;
        let mut out = Vec::new();
        walk(upper.as_fd(), &mut Vec::new(), &info.lowers, &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

/// Mount targets the runtime creates in the rw layer (Docker keeps them in
/// its separate "-init" layer): not the container's changes.
const INIT_STUBS: &[&str] = &[
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/.dockerenv",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/dev/console",
    "/proc",
    "/sys",
];

/// True for an init stub: an empty file or a directory at one of the
/// runtime's mount targets that the image does not have.
pub(crate) fn is_init_stub(path: &str, st: &FileStat, in_lowers: bool) -> bool {
    let kind = file_kind(st);
    !in_lowers
        && INIT_STUBS.contains(&path)
        && (kind == SFlag::S_IFDIR || (kind == SFlag::S_IFREG && st.st_size == 0))
}

fn slash_path(rel: &[OsString]) -> String {
    format!(
        "/{}",
        rel.iter()
            .map(|c| c.to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    )
}

/// Appends the changes below `dir`; returns whether any was found.
fn walk(
    dir: BorrowedFd<'_>,
    rel: &mut Vec<OsString>,
    lowers: &[PathBuf],
    out: &mut Vec<Change>,
) -> Result<bool, ImageError> {
    let start = out.len();
    let names = list_dir(dir)?;
    if !rel.is_empty() && is_opaque(dir) && exists_in_lowers(lowers, rel) {
        // An opaque dir hides everything the image had in it.
        for gone in lower_names(lowers, rel) {
            if !names.contains(&gone) {
                rel.push(gone);
                out.push(Change {
                    path: slash_path(rel),
                    kind: ChangeKind::Delete,
                });
                rel.pop();
            }
        }
    }
    for name in names {
        let Ok(st) = lstat_at(dir, &name) else {
            continue; // removed while we looked
        };
        rel.push(name.clone());
        let path = slash_path(rel);
        if is_whiteout(&st) {
            out.push(Change {
                path,
                kind: ChangeKind::Delete,
            });
        } else if matches!(classify_whiteout(&name), Whiteout::None) {
            let in_lowers = exists_in_lowers(lowers, rel);
            let at = out.len();
            let mut below = false;
            if file_kind(&st) == SFlag::S_IFDIR {
                if let Ok(fd) = open_dir_at(dir, &name) {
                    below = walk(fd.as_fd(), rel, lowers, out)?;
                }
            }
            // A directory of the image is listed when something below it
            // changed or its own metadata did; stubs of the runtime never.
            let listed = if is_init_stub(&path, &st, in_lowers) {
                false
            } else if in_lowers && file_kind(&st) == SFlag::S_IFDIR {
                below || dir_meta_changed(lowers, rel, &st)
            } else {
                true
            };
            if listed {
                let kind = if in_lowers {
                    ChangeKind::Modify
                } else {
                    ChangeKind::Add
                };
                out.insert(at, Change { path, kind });
            }
        }
        rel.pop();
    }
    Ok(out.len() > start)
}

/// Names in the image's version of directory `rel` (all layers merged).
fn lower_names(lowers: &[PathBuf], rel: &[OsString]) -> Vec<OsString> {
    let mut names = std::collections::BTreeSet::new();
    for layer in lowers {
        let Ok(dir) = secure_join(layer, rel) else {
            continue;
        };
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let n = e.file_name();
            if matches!(classify_whiteout(&n), Whiteout::None) {
                let mut child = rel.to_vec();
                child.push(n.clone());
                if exists_in_lowers(lowers, &child) {
                    names.insert(n);
                }
            }
        }
    }
    names.into_iter().collect()
}

/// Mode or ownership of an image directory changed in the upper copy.
fn dir_meta_changed(lowers: &[PathBuf], rel: &[OsString], st: &FileStat) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((base, parents)) = rel.split_last() else {
        return false;
    };
    for layer in lowers {
        let Ok(parent) = secure_join(layer, parents) else {
            continue;
        };
        if let Ok(m) = std::fs::symlink_metadata(parent.join(base)) {
            return m.mode() != st.st_mode || m.uid() != st.st_uid || m.gid() != st.st_gid;
        }
    }
    false
}

/// Whether `rel` is visible in the image: found in the top-most layer that
/// has it, and not as a whiteout there. Layers are image content (not
/// writable by the container); symlinks are still resolved inside each.
pub(crate) fn exists_in_lowers(lowers: &[PathBuf], rel: &[OsString]) -> bool {
    let Some((base, parents)) = rel.split_last() else {
        return true;
    };
    for layer in lowers {
        let Ok(parent) = secure_join(layer, parents) else {
            continue;
        };
        if let Ok(m) = std::fs::symlink_metadata(parent.join(base)) {
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            return !(m.file_type().is_char_device() && m.rdev() == 0);
        }
        let wh = parent.join(format!(".wh.{}", base.to_string_lossy()));
        if std::fs::symlink_metadata(wh).is_ok() {
            return false;
        }
    }
    false
}
