//! Container rw layers: created on top of an image's layers, mounted by the
//! runtime from a [`SnapshotMount`], removed with the container.

use rusqlite::{params, Connection};

use crate::db::{self, LayerRow};
use crate::driver::SnapshotMount;
use crate::error::ImageError;
use crate::layer::chain_ids;
use crate::store::{parse_config, ImageStore};

/// A container id becomes a directory name: keep it to safe characters.
fn check_container_id(id: &str) -> Result<(), ImageError> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ImageError::invalid(format!("invalid container id {id:?}")));
    }
    Ok(())
}

/// The layer rows of an image, top-most first.
pub(crate) fn image_layers(conn: &Connection, image_id: &str) -> Result<Vec<LayerRow>, ImageError> {
    let row = db::get_image(conn, image_id)?
        .ok_or_else(|| ImageError::NoSuchImage(image_id.to_string()))?;
    let json = parse_config(&row)?;
    let mut out = Vec::new();
    for c in chain_ids(&json.rootfs.diff_ids).iter().rev() {
        out.push(db::get_layer(conn, c)?.ok_or_else(|| {
            ImageError::Internal(format!("layer {c} of image {image_id} is missing"))
        })?);
    }
    Ok(out)
}

/// Layers of the chain ending at `top`, top-most first.
fn chain_layers(conn: &Connection, top: Option<&str>) -> Result<Vec<LayerRow>, ImageError> {
    let mut out = Vec::new();
    let mut next = top.map(str::to_string);
    while let Some(c) = next {
        let l = db::get_layer(conn, &c)?
            .ok_or_else(|| ImageError::Internal(format!("layer {c} is missing")))?;
        next = l.parent.clone();
        out.push(l);
    }
    Ok(out)
}

fn normalize_image_id(image_id: &str) -> String {
    if image_id.starts_with("sha256:") {
        image_id.to_string()
    } else {
        format!("sha256:{image_id}")
    }
}

impl ImageStore {
    pub fn create_rw_layer(&self, container_id: &str, image_id: &str) -> Result<(), ImageError> {
        check_container_id(container_id)?;
        let image_id = normalize_image_id(image_id);
        let _pin = self.layers_in_use();
        let (top, existing) = {
            let conn = self.conn();
            let layers = image_layers(&conn, &image_id)?;
            (layers.first().cloned(), db::get_rw(&conn, container_id)?)
        };
        if let Some((img, _)) = existing {
            if img == image_id {
                // Idempotent; make sure the dirs are there too.
                return self
                    .driver
                    .create_rw(container_id, top.as_ref().map(|l| l.cache_id.as_str()));
            }
            return Err(ImageError::Conflict(format!(
                "rw layer for container {container_id} already exists on image {img}"
            )));
        }
        // Files first, then the row that points to them.
        self.driver
            .create_rw(container_id, top.as_ref().map(|l| l.cache_id.as_str()))?;
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO layer_rw (container_id, image_id, top_chain) VALUES (?1, ?2, ?3)",
            params![container_id, image_id, top.map(|l| l.chain_id)],
        )?;
        Ok(())
    }

    fn rw_lowers(&self, container_id: &str) -> Result<Vec<(String, String)>, ImageError> {
        let conn = self.conn();
        let (_, top) = db::get_rw(&conn, container_id)?.ok_or_else(|| {
            ImageError::NotFound(format!("no rw layer for container {container_id}"))
        })?;
        Ok(chain_layers(&conn, top.as_deref())?
            .into_iter()
            .map(|l| (l.cache_id, l.link_id))
            .collect())
    }

    pub fn rw_layer_mount(&self, container_id: &str) -> Result<SnapshotMount, ImageError> {
        check_container_id(container_id)?;
        let lowers = self.rw_lowers(container_id)?;
        Ok(self.driver.mount_for(container_id, &lowers))
    }

    /// Removes the rw layer (a no-op when there is none). Image layers are
    /// left alone: they belong to images.
    pub fn remove_rw_layer(&self, container_id: &str) -> Result<(), ImageError> {
        check_container_id(container_id)?;
        // Row first: a leftover dir without a row is collected at next open.
        self.conn().execute(
            "DELETE FROM layer_rw WHERE container_id = ?1",
            [container_id],
        )?;
        self.driver.remove(container_id)?;
        // Layers of a force-removed image may have been kept only for this container.
        self.prune_layers()
    }

    pub fn graph_driver(&self, container_id: &str) -> serde_json::Value {
        match self.rw_lowers(container_id) {
            Ok(lowers) => self.driver.graph_data(container_id, &lowers),
            Err(_) => serde_json::json!({"Name": self.driver.name(), "Data": null}),
        }
    }
}
