//! A container's sizes as `ps -s`, `inspect -s` and `system df` show them:
//! `SizeRw`, the bytes of the files it added or changed (Docker's overlay2
//! counts its upper dir the same way, each hard-linked inode once), and
//! `SizeRootFs`, that plus its image's layers.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;

use crate::error::ImageError;
use crate::rwdiff::ChangeKind;
use crate::store::{parse_config, ImageStore};

impl ImageStore {
    /// `(SizeRw, SizeRootFs)` of a container's rw layer.
    pub fn rw_sizes(&self, container_id: &str) -> Result<(i64, i64), ImageError> {
        let info = self.rw_layer_info(container_id)?;
        let mut seen = HashSet::new();
        let mut rw = 0i64;
        for change in self.rw_changes(container_id)? {
            if change.kind == ChangeKind::Delete {
                continue;
            }
            let path = info.upper.join(change.path.trim_start_matches('/'));
            let Ok(md) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !md.is_dir() && seen.insert((md.dev(), md.ino())) {
                rw += md.len() as i64;
            }
        }
        let image = {
            let conn = self.conn();
            let row = crate::db::get_image(&conn, &info.image_id)?
                .ok_or_else(|| ImageError::NoSuchImage(info.image_id.clone()))?;
            let sizes = crate::list::layer_sizes(&conn)?;
            crate::list::image_size(&parse_config(&row)?, &sizes)
        };
        Ok((rw, rw + image))
    }
}
