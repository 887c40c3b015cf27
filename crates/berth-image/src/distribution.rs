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
use crate::layer::{chain_ids, StagedLayer};
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

    /// Whether layers can be unpacked before their parent is in the store
    /// ([`ImageStore::stage_layer`]): overlay2, where a layer's dir holds
    /// only its own changes. vfs layers start as a copy of their parent, so
    /// they are applied in order with [`ImageStore::apply_layer`].
    pub fn can_stage_layers(&self) -> bool {
        self.driver.whiteout_mode() == crate::apply::WhiteoutMode::Overlay
    }

    /// Unpacks a (compressed) layer tar into a snapshot of its own, not yet
    /// on any parent, verifying that its uncompressed digest is `diff_id`.
    /// Nothing is left when `tar` fails (a caller streaming a download
    /// verifies its compressed digest there: a read error at the end) or
    /// the diff_id differs. Layers of one pull can be staged concurrently;
    /// [`ImageStore::commit_staged`] then puts them on each other in order.
    pub fn stage_layer(
        &self,
        tar: &mut dyn Read,
        diff_id: &str,
    ) -> Result<StagedLayer, ImageError> {
        self.stage_layer_stream(tar, diff_id)
    }

    /// Makes a staged layer a layer of the store on top of `parent` (a chain
    /// id already in the store): blob, short link, row. Returns the existing
    /// layer instead when an identical one won a race.
    pub fn commit_staged(
        &self,
        staged: StagedLayer,
        parent: Option<&str>,
    ) -> Result<LayerInfo, ImageError> {
        Ok(info(self.commit_staged_layer(staged, parent)?))
    }

    /// After a failed pull: removes the layers no image or container uses
    /// (those the pull committed before it failed), unless another pull,
    /// load or build is creating layers right now; returns whether it ran.
    /// The layers left are removed by a later prune or the next start.
    pub fn try_prune_layers(&self) -> Result<bool, ImageError> {
        self.try_prune_layers_impl()
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

/// Staged layers (unpacked concurrently, committed in order) on overlay2.
#[cfg(test)]
mod staged_tests {
    use super::*;
    use crate::testutil::{tar_of, MountedOverlay};
    use std::collections::BTreeSet;
    use std::path::Path;

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn sha(data: &[u8]) -> String {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
    }

    /// Names in `dir` (empty when it does not exist).
    fn names(dir: &Path) -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Snapshot dirs and links, blobs and temp blobs of a store.
    fn on_disk(root: &Path) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
        (
            names(&root.join("overlay")),
            names(&root.join("overlay/l")),
            names(&root.join("content/sha256")),
        )
    }

    /// A reader that fails after `n` good bytes, as a broken download does.
    struct Broken<'a>(&'a [u8], usize);

    impl Read for Broken<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.1 == 0 {
                return Err(std::io::Error::other("connection reset"));
            }
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            self.1 -= n;
            Ok(n)
        }
    }

    /// Three layers staged concurrently in no particular order, committed
    /// bottom first; layer 3 deletes a file layer 1 made and makes a dir of
    /// layer 1 opaque. The container's overlay mount shows the merged view.
    #[test]
    fn staged_layers_commit_in_order_through_a_real_overlay_mount() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("overlay2")).unwrap();
        assert!(store.can_stage_layers());
        let big: Vec<u8> = (0..3u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
        let tars = [
            tar_of(&[
                ("etc/", b""),
                ("etc/gone", b"x"),
                ("keep", b"k"),
                ("dir/", b""),
                ("dir/old", b"o"),
            ]),
            tar_of(&[("etc/", b""), ("etc/added", b"a"), ("big", &big)]),
            tar_of(&[
                ("etc/", b""),
                ("etc/.wh.gone", b""),
                ("dir/", b""),
                ("dir/.wh..wh..opq", b""),
                ("dir/new", b"n"),
            ]),
        ];
        let diff_ids: Vec<String> = tars.iter().map(|t| sha(t)).collect();
        let chains = layer_chain_ids(&diff_ids);
        let _pin = store.pin_layers();
        // Compressed like a registry's blobs; the top layer finishes first.
        let mut staged: Vec<Option<StagedLayer>> = std::thread::scope(|s| {
            let handles: Vec<_> = tars
                .iter()
                .zip(&diff_ids)
                .rev()
                .map(|(t, d)| {
                    let store = &store;
                    s.spawn(move || store.stage_layer(&mut gzip(t).as_slice(), d).unwrap())
                })
                .collect();
            let mut v: Vec<_> = handles
                .into_iter()
                .map(|h| Some(h.join().unwrap()))
                .collect();
            v.reverse();
            v
        });
        assert_eq!(staged[1].as_ref().unwrap().size(), (3 << 20) + 1);
        // Staged layers are not layers of the store yet.
        assert!(store.layer(&chains[0]).unwrap().is_none());
        assert_eq!(names(&dir.path().join("overlay/l")).len(), 0);
        let mut parent: Option<String> = None;
        for (i, s) in staged.iter_mut().enumerate() {
            let l = store
                .commit_staged(s.take().unwrap(), parent.as_deref())
                .unwrap();
            assert_eq!((&l.chain_id, &l.diff_id), (&chains[i], &diff_ids[i]));
            assert_eq!(l.blob.as_deref(), Some(diff_ids[i].as_str()));
            parent = Some(l.chain_id);
        }
        assert_eq!(names(&dir.path().join("overlay/l")).len(), 3);
        let config = format!(
            r#"{{"os":"linux","architecture":"amd64","rootfs":{{"type":"layers","diff_ids":{}}}}}"#,
            serde_json::to_string(&diff_ids).unwrap()
        );
        let id = store.register_config(config.as_bytes(), &[]).unwrap();
        drop(_pin);
        // The kept blobs are the uncompressed tars (what `save` writes).
        assert_eq!(store.content().read(&diff_ids[2]).unwrap(), tars[2]);

        let c = "c".repeat(64);
        store.create_rw_layer(&c, &id).unwrap();
        let m = store.rw_layer_mount(&c).unwrap();
        let mounted = MountedOverlay::new(&m);
        let t = mounted.path();
        let read = |p: &str| std::fs::read(t.join(p)).ok();
        let seen = (
            read("etc/gone"),
            read("etc/added"),
            read("keep"),
            read("dir/old"),
            read("dir/new"),
            names(&t.join("dir")),
            read("big").map(|b| b == big),
        );
        drop(mounted);
        assert_eq!(
            seen,
            (
                None,
                Some(b"a".to_vec()),
                Some(b"k".to_vec()),
                None,
                Some(b"n".to_vec()),
                BTreeSet::from(["new".to_string()]),
                Some(true),
            )
        );
    }

    /// A stream that breaks, a diff_id that differs, a staged layer given up
    /// and a commit on a missing parent: none leaves a dir, link or blob.
    #[test]
    fn failed_or_dropped_staged_layers_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("overlay2")).unwrap();
        let before = on_disk(dir.path());
        let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
        let tar = tar_of(&[("a/", b""), ("a/f", &data)]);
        let diff_id = sha(&tar);

        let err = store
            .stage_layer(&mut Broken(&tar, 600 << 10), &diff_id)
            .err()
            .unwrap();
        assert!(err.to_string().contains("connection reset"), "{err}");
        assert_eq!(on_disk(dir.path()), before);

        let err = store
            .stage_layer(&mut gzip(&tar).as_slice(), &sha(b"other"))
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("filesystem layer verification failed"),
            "{err}"
        );
        assert_eq!(on_disk(dir.path()), before);

        let staged = store.stage_layer(&mut tar.as_slice(), &diff_id).unwrap();
        assert_eq!(staged.diff_id(), diff_id);
        assert_ne!(on_disk(dir.path()), before);
        drop(staged);
        assert_eq!(on_disk(dir.path()), before);

        let staged = store.stage_layer(&mut tar.as_slice(), &diff_id).unwrap();
        let err = store
            .commit_staged(staged, Some(&sha(b"no parent")))
            .unwrap_err();
        assert!(err.to_string().contains("is missing"), "{err}");
        assert_eq!(on_disk(dir.path()), before);
        assert!(store.layer(&diff_id).unwrap().is_none());
    }

    /// Two pulls staging the same layer: the second commit returns the first
    /// layer and removes its own copy.
    #[test]
    fn identical_staged_layer_keeps_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("overlay2")).unwrap();
        let tar = tar_of(&[("f", b"same")]);
        let diff_id = sha(&tar);
        let a = store.stage_layer(&mut tar.as_slice(), &diff_id).unwrap();
        let b = store.stage_layer(&mut tar.as_slice(), &diff_id).unwrap();
        let snapshots = on_disk(dir.path());
        let la = store.commit_staged(a, None).unwrap();
        let lb = store.commit_staged(b, None).unwrap();
        assert_eq!(la, lb);
        // One of the two dirs and temp blobs is gone, the other is the layer.
        let (dirs, links, blobs) = on_disk(dir.path());
        assert_eq!(dirs.len(), snapshots.0.len() - 1, "{dirs:?}");
        assert_eq!(links.len(), 1);
        assert_eq!(blobs, BTreeSet::from([diff_id[7..].to_string()]));
    }

    /// A crash between staging and commit: the next open removes the staged
    /// dir and the temp blob, and the store works.
    #[test]
    fn staged_layer_left_by_a_crash_is_collected_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let before = {
            let store = ImageStore::open(dir.path(), Some("overlay2")).unwrap();
            let before = on_disk(dir.path());
            let tar = tar_of(&[("f", b"crash")]);
            let staged = store.stage_layer(&mut tar.as_slice(), &sha(&tar)).unwrap();
            std::mem::forget(staged);
            let after = on_disk(dir.path());
            assert_eq!(after.0.len(), before.0.len() + 1, "{after:?}");
            assert!(after.2.iter().any(|n| n.starts_with(".tmp-")), "{after:?}");
            before
        };
        let store = ImageStore::open(dir.path(), Some("overlay2")).unwrap();
        assert_eq!(on_disk(dir.path()), before);
        let tar = tar_of(&[("g", b"ok")]);
        let staged = store.stage_layer(&mut tar.as_slice(), &sha(&tar)).unwrap();
        store.commit_staged(staged, None).unwrap();
    }

    #[test]
    fn vfs_cannot_stage() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path(), Some("vfs")).unwrap();
        assert!(!store.can_stage_layers());
        let tar = tar_of(&[("f", b"x")]);
        assert!(store.stage_layer(&mut tar.as_slice(), &sha(&tar)).is_err());
        assert_eq!(names(&dir.path().join("vfs")), BTreeSet::from(["l".into()]));
    }
}
