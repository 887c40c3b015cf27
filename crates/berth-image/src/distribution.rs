//! What the registry client (pull/push) needs from the image store: layers by
//! chain id, applying a downloaded layer, registering an image from the exact
//! config bytes a registry served (its digest is the image id, so the bytes
//! must not be re-serialised), repository digests, and the "distribution
//! metadata" that remembers which compressed blob a layer was pulled or pushed
//! as, so a re-push is a no-op (Docker's v2 metadata service).

use std::io::Read;
use std::sync::RwLockReadGuard;

use rusqlite::params;

use crate::config::ImageJson;
use crate::db;
use crate::error::ImageError;
use crate::layer::chain_ids;
use crate::reference::Reference;
use crate::rwlayer::image_layers;
use crate::store::{lookup, ImageStore};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS layer_blob_sources (
    diff_id    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    repository TEXT NOT NULL,
    PRIMARY KEY (diff_id, digest, repository)
);
";

/// A layer as the distribution code sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    pub chain_id: String,
    pub diff_id: String,
    /// Unpacked size in bytes.
    pub size: i64,
    /// Digest of the uncompressed tar in the content store (== diff_id).
    pub blob: Option<String>,
}

/// Where a layer (by diff id) is known to exist as a compressed blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobSource {
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    /// `registry/path` without tag, e.g. `127.0.0.1:5000/compat/bb`.
    pub repository: String,
}

/// Keeps layer garbage collection away while a pull creates layers that no
/// image references yet.
pub struct LayerPin<'a> {
    _guard: RwLockReadGuard<'a, ()>,
}

/// An image ready to push: the config blob exactly as stored and its layers
/// bottom first.
#[derive(Clone, Debug)]
pub struct PushSource {
    pub id: String,
    pub config: Vec<u8>,
    pub layers: Vec<LayerInfo>,
}

/// Docker's chain ids of a rootfs, bottom first.
pub fn layer_chain_ids(diff_ids: &[String]) -> Vec<String> {
    chain_ids(diff_ids)
}

fn info(l: db::LayerRow) -> LayerInfo {
    LayerInfo {
        chain_id: l.chain_id,
        diff_id: l.diff_id,
        size: l.size,
        blob: l.blob,
    }
}

impl ImageStore {
    pub fn pin_layers(&self) -> LayerPin<'_> {
        LayerPin {
            _guard: self.layers_in_use(),
        }
    }

    pub fn layer(&self, chain_id: &str) -> Result<Option<LayerInfo>, ImageError> {
        Ok(db::get_layer(&self.conn(), chain_id)?.map(info))
    }

    /// Unpacks a (compressed) layer tar on top of the layer `parent` (a chain
    /// id). The uncompressed digest must equal `diff_id` from the image
    /// config. A caller streaming a download verifies its compressed digest
    /// in `tar` itself: a read error at the end discards the layer.
    pub fn apply_layer(
        &self,
        tar: &mut dyn Read,
        parent: Option<&str>,
        diff_id: &str,
    ) -> Result<LayerInfo, ImageError> {
        let parent_row = match parent {
            Some(p) => Some(
                db::get_layer(&self.conn(), p)?
                    .ok_or_else(|| ImageError::Internal(format!("parent layer {p} is missing")))?,
            ),
            None => None,
        };
        // A stream whose diff_id differs leaves nothing behind.
        let row = self.add_layer_expecting(tar, parent_row.as_ref(), Some(diff_id))?;
        Ok(info(row))
    }

    pub fn has_image(&self, id: &str) -> Result<bool, ImageError> {
        Ok(db::get_image(&self.conn(), id)?.is_some())
    }

    /// Registers an image from its raw config blob, whose layers must all be
    /// present, and points `refs` (reference, is_digest) at it, in one
    /// transaction. Returns the image id (the config's digest).
    pub fn register_config(
        &self,
        config: &[u8],
        refs: &[(Reference, bool)],
    ) -> Result<String, ImageError> {
        let json: ImageJson = serde_json::from_slice(config)
            .map_err(|e| ImageError::InvalidParameter(format!("invalid image config: {e}")))?;
        let text = std::str::from_utf8(config)
            .map_err(|_| ImageError::InvalidParameter("image config is not UTF-8".into()))?;
        let mut conn = self.conn();
        let tx = crate::db::write_tx(&mut conn)?;
        for c in chain_ids(&json.rootfs.diff_ids) {
            if db::get_layer(&tx, &c)?.is_none() {
                return Err(ImageError::Internal(format!(
                    "layer {c} of the image is missing"
                )));
            }
        }
        // The blob before the row that points to it (DESIGN.md's crash rule).
        let id = self.content.put(config)?;
        db::insert_image(&tx, &id, text, None, json.created_unix())?;
        for (r, is_digest) in refs {
            db::set_ref(&tx, &r.to_string(), &id, *is_digest)?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Records `repo@digest` for an image after a push.
    pub fn add_digest_reference(&self, image_id: &str, r: &Reference) -> Result<(), ImageError> {
        let conn = self.conn();
        db::set_ref(&conn, &r.to_string(), image_id, true)
    }

    /// The image `name` with its config bytes and layers, for pushing.
    pub fn push_source(&self, name: &str) -> Result<PushSource, ImageError> {
        let conn = self.conn();
        let row = lookup(&conn, name)?;
        let mut layers: Vec<LayerInfo> = image_layers(&conn, &row.id)?
            .into_iter()
            .map(info)
            .collect();
        layers.reverse();
        drop(conn);
        let config = match self.content.read(&row.id) {
            Ok(c) => c,
            // Images registered before the config blob was kept: the row is the
            // same JSON text the id was computed from.
            Err(_) => row.config.into_bytes(),
        };
        Ok(PushSource {
            id: row.id,
            config,
            layers,
        })
    }

    /// The tagged references of the repository `name` (`domain/path`), in
    /// lexical order (what `push --all-tags` pushes, in Docker's order).
    pub fn repository_tags(&self, name: &str) -> Result<Vec<Reference>, ImageError> {
        let prefix = format!("{name}:");
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT name FROM ref_refs WHERE is_digest = 0 AND substr(name, 1, ?2) = ?1 ORDER BY name",
        )?;
        let names = st
            .query_map(params![prefix, prefix.len() as i64], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        // A tag never holds `/` or `:`, so the prefix cannot match another repository.
        Ok(names
            .iter()
            .filter_map(|n| crate::reference::parse_normalized_named(n).ok())
            .filter(|r| r.name() == name && r.tag.is_some())
            .collect())
    }

    pub fn blob_sources(&self, diff_id: &str) -> Result<Vec<BlobSource>, ImageError> {
        let conn = self.conn();
        conn.execute_batch(SCHEMA)?;
        let mut st = conn.prepare(
            "SELECT digest, media_type, size, repository FROM layer_blob_sources WHERE diff_id = ?1",
        )?;
        let rows = st.query_map([diff_id], |r| {
            Ok(BlobSource {
                digest: r.get(0)?,
                media_type: r.get(1)?,
                size: r.get(2)?,
                repository: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn record_blob_source(&self, diff_id: &str, s: &BlobSource) -> Result<(), ImageError> {
        let conn = self.conn();
        conn.execute_batch(SCHEMA)?;
        conn.execute(
            "INSERT OR REPLACE INTO layer_blob_sources (diff_id, digest, media_type, size, repository)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![diff_id, s.digest, s.media_type, s.size, s.repository],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::parse_normalized_named;

    fn layer_tar(content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "hello.txt", content).unwrap();
        b.into_inner().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
    }

    #[test]
    fn pulled_image_keeps_config_bytes_and_refs() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("vfs")).unwrap();
        let tar = layer_tar(b"hi");
        let diff_id = sha(&tar);
        let _pin = store.pin_layers();
        let l = store
            .apply_layer(&mut tar.as_slice(), None, &diff_id)
            .unwrap();
        assert_eq!(l.chain_id, diff_id);
        assert_eq!(store.layer(&diff_id).unwrap(), Some(l));
        // Odd key order and spacing: the id is the digest of these very bytes.
        let config = format!(
            r#"{{"os":"linux",  "architecture":"amd64","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        let tag = parse_normalized_named("127.0.0.1:5000/a/b:v1").unwrap();
        let dig = parse_normalized_named(&format!("127.0.0.1:5000/a/b@{}", sha(b"m"))).unwrap();
        let id = store
            .register_config(config.as_bytes(), &[(tag, false), (dig, true)])
            .unwrap();
        assert_eq!(id, sha(config.as_bytes()));
        let src = store.push_source("127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!(src.config, config.as_bytes());
        assert_eq!(src.layers.len(), 1);
        let inspect = store.inspect(&id).unwrap();
        assert_eq!(inspect["RepoDigests"].as_array().unwrap().len(), 1);
        store.tag(&id, "127.0.0.1:5000/a/b", Some("v0")).unwrap();
        store.tag(&id, "127.0.0.1:5000/a/bc", Some("v9")).unwrap();
        let tags: Vec<String> = store
            .repository_tags("127.0.0.1:5000/a/b")
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(tags, ["127.0.0.1:5000/a/b:v0", "127.0.0.1:5000/a/b:v1"]);
    }

    #[test]
    fn wrong_diff_id_and_missing_layers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("vfs")).unwrap();
        let tar = layer_tar(b"x");
        let err = store
            .apply_layer(&mut tar.as_slice(), None, &sha(b"other"))
            .unwrap_err();
        assert!(err.to_string().contains("verification failed"), "{err}");
        let config = format!(
            r#"{{"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            sha(b"nope")
        );
        assert!(store.register_config(config.as_bytes(), &[]).is_err());
        assert!(!store.has_image(&sha(config.as_bytes())).unwrap());
    }

    #[test]
    fn blob_sources_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("vfs")).unwrap();
        let s = BlobSource {
            digest: sha(b"gz"),
            media_type: "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
            size: 2,
            repository: "127.0.0.1:5000/a/b".into(),
        };
        store.record_blob_source("sha256:d", &s).unwrap();
        store.record_blob_source("sha256:d", &s).unwrap();
        assert_eq!(store.blob_sources("sha256:d").unwrap(), vec![s]);
        assert!(store.blob_sources("sha256:e").unwrap().is_empty());
    }
}
