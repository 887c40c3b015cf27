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

use nix::sys::stat::SFlag;

use crate::apply::WhiteoutMode;
use crate::apply::{classify_whiteout, Whiteout};
use crate::db::{self, LayerRow};
use crate::error::{ImageError, PathContext};
use crate::fspath::secure_join;
use crate::store::ImageStore;
use crate::treetar::{file_kind, is_whiteout, list_dir, lstat_at, open_dir_at};

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
        Ok(out)
    }
}

fn walk(
    dir: BorrowedFd<'_>,
    rel: &mut Vec<OsString>,
    lowers: &[PathBuf],
    out: &mut Vec<Change>,
) -> Result<(), ImageError> {
    for name in list_dir(dir)? {
        let Ok(st) = lstat_at(dir, &name) else {
            continue; // removed while we looked
        };
        rel.push(name.clone());
        let path = format!(
            "/{}",
            rel.iter()
                .map(|c| c.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        );
        if is_whiteout(&st) {
            out.push(Change {
                path,
                kind: ChangeKind::Delete,
            });
        } else if matches!(classify_whiteout(&name), Whiteout::None) {
            let kind = if exists_in_lowers(lowers, rel) {
                ChangeKind::Modify
            } else {
                ChangeKind::Add
            };
            out.push(Change { path, kind });
            if file_kind(&st) == SFlag::S_IFDIR {
                if let Ok(fd) = open_dir_at(dir, &name) {
                    walk(fd.as_fd(), rel, lowers, out)?;
                }
            }
        }
        rel.pop();
    }
    Ok(())
}

/// Whether `rel` is visible in the image: found in the top-most layer that
/// has it, and not as a whiteout there. Layers are image content (not
/// writable by the container); symlinks are still resolved inside each.
fn exists_in_lowers(lowers: &[PathBuf], rel: &[OsString]) -> bool {
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
