//! Container rw layers: created on top of an image's layers, mounted by the
//! runtime from a [`SnapshotMount`], removed with the container.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{params, Connection};

use crate::db::{self, LayerRow};
use crate::driver::SnapshotMount;
use crate::error::ImageError;
use crate::layer::chain_ids;
use crate::store::{parse_config, ImageStore, RwChain};

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

    fn rw_lowers(&self, container_id: &str) -> Result<RwChain, ImageError> {
        if let Some(hit) = self.rw_chains_lock().get(container_id).cloned() {
            return Ok(hit);
        }
        // The db lock first, then the memo's: removal takes them in the same
        // order, so a chain read here is never stored after its row is gone.
        let conn = self.conn();
        let (_, top) = db::get_rw(&conn, container_id)?.ok_or_else(|| {
            ImageError::NotFound(format!("no rw layer for container {container_id}"))
        })?;
        let chain: RwChain = Arc::new(
            chain_layers(&conn, top.as_deref())?
                .into_iter()
                .map(|l| (l.cache_id, l.link_id))
                .collect(),
        );
        self.rw_chains_lock()
            .insert(container_id.to_string(), chain.clone());
        Ok(chain)
    }

    fn rw_chains_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RwChain>> {
        self.rw_chains.lock().unwrap_or_else(|p| p.into_inner())
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
        {
            let conn = self.conn();
            conn.execute(
                "DELETE FROM layer_rw WHERE container_id = ?1",
                [container_id],
            )?;
            self.rw_chains_lock().remove(container_id);
        }
        self.driver.remove(container_id)?;
        // Layers of a force-removed image may have been kept only for this container.
        self.prune_layers()
    }

    /// Ids of the rw layers whose id starts with `prefix` (the builder's
    /// `build-` layers, to collect after a crash).
    pub fn rw_layers_named(&self, prefix: &str) -> Result<Vec<String>, ImageError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT container_id FROM layer_rw WHERE container_id LIKE ?1")?;
        let ids = stmt
            .query_map([format!("{prefix}%")], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    pub fn graph_driver(&self, container_id: &str) -> serde_json::Value {
        match self.rw_lowers(container_id) {
            Ok(lowers) => self.driver.graph_data(container_id, &lowers),
            Err(_) => serde_json::json!({"Name": self.driver.name(), "Data": null}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ImageJson, RootFs};
    use crate::testutil::{tar_of, MountedOverlay};

    /// Two layers where the top one deletes a file and makes a dir opaque:
    /// the mounted rootfs must show exactly the merged view.
    #[test]
    fn layered_whiteouts_through_a_real_overlay_mount() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("overlay2")).unwrap();
        let base = tar_of(&[("a", b"a"), ("keep", b"k"), ("dir/", b""), ("dir/b", b"b")]);
        let top = tar_of(&[
            (".wh.a", b""),
            ("dir/", b""),
            ("dir/.wh..wh..opq", b""),
            ("dir/c", b"c"),
        ]);
        let l1 = store.add_layer(&mut &base[..], None).unwrap();
        let l2 = store.add_layer(&mut &top[..], Some(&l1)).unwrap();
        assert_eq!(l2.parent.as_deref(), Some(l1.chain_id.as_str()));
        let image = ImageJson {
            architecture: "amd64".into(),
            os: "linux".into(),
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![l1.diff_id.clone(), l2.diff_id.clone()],
            },
            ..Default::default()
        };
        let id = store.register_image(&image, None, None).unwrap();
        let c = "c".repeat(64);
        store.create_rw_layer(&c, &id).unwrap();
        let m = store.rw_layer_mount(&c).unwrap();
        assert!(
            m.data
                .starts_with(&format!("lowerdir=l/{}:l/{}", l2.link_id, l1.link_id)),
            "{}",
            m.data
        );
        let mounted = MountedOverlay::new(&m);
        let t = mounted.path();
        let seen = (
            t.join("a").exists(),
            t.join("keep").exists(),
            t.join("dir/b").exists(),
            t.join("dir/c").exists(),
        );
        drop(mounted);
        assert_eq!(seen, (false, true, false, true));
        let gd = store.graph_driver(&c);
        let lower = gd["Data"]["LowerDir"].as_str().unwrap().to_string();
        assert!(lower.contains(&l2.cache_id) && lower.contains(&l1.cache_id));
    }

    /// The remembered chain answers repeat lookups and goes with the layer:
    /// after removal the container has no mount, and a new container under
    /// the same id gets its own image's chain.
    #[test]
    fn remembered_chain_is_forgotten_with_the_rw_layer() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("overlay2")).unwrap();
        let image_of = |layer: &crate::db::LayerRow| {
            let image = ImageJson {
                architecture: "amd64".into(),
                os: "linux".into(),
                rootfs: RootFs {
                    kind: "layers".into(),
                    diff_ids: vec![layer.diff_id.clone()],
                },
                ..Default::default()
            };
            store.register_image(&image, None, None).unwrap()
        };
        let l1 = store
            .add_layer(&mut &tar_of(&[("a", b"1")])[..], None)
            .unwrap();
        let l2 = store
            .add_layer(&mut &tar_of(&[("b", b"2")])[..], None)
            .unwrap();
        let (i1, i2) = (image_of(&l1), image_of(&l2));
        let c = "d".repeat(64);
        store.create_rw_layer(&c, &i1).unwrap();
        let first = store.rw_layer_mount(&c).unwrap();
        assert_eq!(store.rw_layer_mount(&c).unwrap(), first);
        assert!(first.data.contains(&l1.link_id), "{}", first.data);
        store.remove_rw_layer(&c).unwrap();
        assert!(store.rw_layer_mount(&c).is_err());
        store.create_rw_layer(&c, &i2).unwrap();
        let second = store.rw_layer_mount(&c).unwrap();
        assert!(second.data.contains(&l2.link_id), "{}", second.data);
        assert!(!second.data.contains(&l1.link_id), "{}", second.data);
    }
}
