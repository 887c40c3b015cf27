//! Creating layers from tar streams: decompress, hash (diff_id), keep the
//! uncompressed tar as a blob and unpack into a snapshot dir, all in one pass.
//! Layers are identified by chain id (as Docker's layer store).

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::apply::{apply_tar, remove_all};
use crate::compress;
use crate::content::BlobWriter;
use crate::db::{self, LayerRow};
use crate::error::ImageError;
use crate::store::ImageStore;

/// Docker's ChainID: `H(parent_chain + " " + diff_id)`, the first is the diff_id.
pub fn chain_id(parent: Option<&str>, diff_id: &str) -> String {
    match parent {
        None => diff_id.to_string(),
        Some(p) => format!(
            "sha256:{}",
            hex::encode(Sha256::digest(format!("{p} {diff_id}")))
        ),
    }
}

/// Chain ids of a rootfs, bottom first.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let c = chain_id(out.last().map(String::as_str), d);
        out.push(c);
    }
    out
}

/// Hands a copy of everything read, in batches of [`TEE_BATCH`], to the
/// thread that hashes it and writes the layer's blob, so that work runs
/// beside decompressing and unpacking instead of after each read.
struct Tee<'a> {
    inner: Box<dyn Read + 'a>,
    tx: mpsc::SyncSender<Vec<u8>>,
    pending: Vec<u8>,
}

const TEE_BATCH: usize = 256 * 1024;

impl Tee<'_> {
    fn send_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(TEE_BATCH));
        self.tx
            .send(batch)
            .map_err(|_| io::Error::other("layer blob writer stopped"))
    }
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() >= TEE_BATCH {
            self.send_pending()?;
        }
        Ok(n)
    }
}

/// A layer unpacked into a snapshot dir of its own and verified against its
/// diff_id, not yet part of the store: no short link, no row, its blob still
/// a temp file of the content store. [`ImageStore::commit_staged`] puts it on
/// its parent; dropping it removes the dir and the temp blob. A crash leaves
/// a snapshot dir no row points to and a temp blob, both removed when the
/// store is opened next.
pub struct StagedLayer {
    cache_id: String,
    /// `<driver home>/<cache id>`; None once committed (or given up).
    dir: Option<PathBuf>,
    diff_id: String,
    size: u64,
    blob: Option<BlobWriter>,
}

impl StagedLayer {
    pub fn diff_id(&self) -> &str {
        &self.diff_id
    }

    /// Unpacked size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for StagedLayer {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if let Err(e) = remove_all(&dir) {
                tracing::warn!(%e, "removing staged layer");
            }
        }
    }
}

pub(crate) fn random_cache_id() -> String {
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

impl ImageStore {
    /// Unpacks a (possibly compressed) layer tar on top of `parent` and
    /// registers it. If an identical layer exists already, that one is
    /// returned and the new copy discarded.
    pub(crate) fn add_layer(
        &self,
        tar: &mut dyn Read,
        parent: Option<&LayerRow>,
    ) -> Result<LayerRow, ImageError> {
        self.add_layer_expecting(tar, parent, None)
    }

    /// As `add_layer`; with `expected`, a layer whose diff_id differs is
    /// discarded (snapshot and blob) before anything is registered.
    pub(crate) fn add_layer_expecting(
        &self,
        tar: &mut dyn Read,
        parent: Option<&LayerRow>,
        expected: Option<&str>,
    ) -> Result<LayerRow, ImageError> {
        let cache_id = random_cache_id();
        let diff = self
            .driver
            .create_layer_dir(&cache_id, parent.map(|p| p.cache_id.as_str()))?;
        let result = self.unpack(tar, &diff);
        let (blob, size) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = self.driver.remove(&cache_id);
                return Err(e);
            }
        };
        // Stored uncompressed: its digest is the diff_id, and `docker save`
        // writes uncompressed layer tars anyway.
        let diff_id = blob.digest();
        if let Some(want) = expected.filter(|w| *w != diff_id) {
            let _ = self.driver.remove(&cache_id);
            return Err(ImageError::InvalidParameter(format!(
                "filesystem layer verification failed for digest {want}: got {diff_id}"
            )));
        }
        let committed = blob.commit(None).and_then(|digest| {
            let link_id = self.driver.link_layer(&cache_id)?;
            Ok((digest, link_id))
        });
        let (digest, link_id) = match committed {
            Ok(v) => v,
            Err(e) => {
                let _ = self.driver.remove(&cache_id);
                return Err(e);
            }
        };
        let row = LayerRow {
            chain_id: chain_id(parent.map(|p| p.chain_id.as_str()), &diff_id),
            diff_id,
            parent: parent.map(|p| p.chain_id.clone()),
            cache_id: cache_id.clone(),
            link_id,
            size: size as i64,
            blob: Some(digest),
        };
        self.register_layer(row)
    }

    /// Unpacks a (possibly compressed) layer tar into a snapshot dir that
    /// does not depend on any parent (overlay2 only: whiteouts are char
    /// devices and opaque xattrs of the layer's own dir). The uncompressed
    /// stream must hash to `diff_id`; on any error, or a diff_id that
    /// differs, nothing is left (dir and temp blob are removed).
    pub(crate) fn stage_layer_stream(
        &self,
        tar: &mut dyn Read,
        diff_id: &str,
    ) -> Result<StagedLayer, ImageError> {
        let staged = self.stage_layer_unchecked(tar)?;
        if staged.diff_id != diff_id {
            return Err(ImageError::InvalidParameter(format!(
                "filesystem layer verification failed for digest {diff_id}: got {}",
                staged.diff_id
            )));
        }
        Ok(staged)
    }

    /// As [`ImageStore::stage_layer_stream`], whatever the stream's digest
    /// turns out to be: the caller checks [`StagedLayer::diff_id`].
    pub(crate) fn stage_layer_unchecked(
        &self,
        tar: &mut dyn Read,
    ) -> Result<StagedLayer, ImageError> {
        if !self.can_stage_layers() {
            return Err(ImageError::Internal(format!(
                "the {} driver unpacks a layer onto a copy of its parent: it cannot stage layers",
                self.driver.name()
            )));
        }
        let cache_id = random_cache_id();
        let diff = self.driver.diff_dir(&cache_id);
        let mut staged = StagedLayer {
            dir: diff.parent().map(|p| p.to_path_buf()),
            cache_id,
            diff_id: String::new(),
            size: 0,
            blob: None,
        };
        // From here on an error drops `staged`, which removes the dir.
        self.driver.create_layer_dir(&staged.cache_id, None)?;
        let (blob, size) = self.unpack(tar, &diff)?;
        let got = blob.digest();
        // The fsync happens here, beside the other layers' downloads; the
        // ordered commit only renames.
        blob.sync()?;
        staged.blob = Some(blob);
        staged.diff_id = got;
        staged.size = size;
        Ok(staged)
    }

    /// Puts a staged layer on top of the layer `parent` (a chain id, which
    /// must be in the store): publishes its blob, gives it its short link and
    /// writes its row. If an identical layer exists already, that one is
    /// returned and the staged copy removed.
    pub(crate) fn commit_staged_layer(
        &self,
        mut staged: StagedLayer,
        parent: Option<&str>,
    ) -> Result<LayerRow, ImageError> {
        if let Some(p) = parent {
            if db::get_layer(&self.conn(), p)?.is_none() {
                return Err(ImageError::Internal(format!("parent layer {p} is missing")));
            }
        }
        let cache_id = staged.cache_id.clone();
        let blob = staged
            .blob
            .take()
            .ok_or_else(|| ImageError::Internal("staged layer without blob".into()))?;
        // Errors up to the link drop `staged`, which removes the dir.
        let digest = blob.commit(None)?;
        let link_id = self.driver.link_layer(&cache_id).inspect_err(|_| {
            staged.dir = None;
            let _ = self.driver.remove(&cache_id);
        })?;
        staged.dir = None;
        let row = LayerRow {
            chain_id: chain_id(parent, &staged.diff_id),
            diff_id: std::mem::take(&mut staged.diff_id),
            parent: parent.map(str::to_string),
            cache_id: cache_id.clone(),
            link_id,
            size: staged.size as i64,
            blob: Some(digest),
        };
        self.register_layer(row).inspect_err(|_| {
            let _ = self.driver.remove(&cache_id);
        })
    }

    /// As `add_layer`, from a blob `load` staged: `f` reads it, `publish`
    /// makes it a blob of the content store (it is called before the layer
    /// row that points to it is written). An uncompressed tar is the layer's
    /// own blob, its digest the diff_id: it is unpacked without being hashed
    /// or stored again.
    pub(crate) fn add_layer_from_staged(
        &self,
        digest: &str,
        mut f: std::fs::File,
        publish: impl FnOnce() -> Result<(), ImageError>,
        parent: Option<&LayerRow>,
    ) -> Result<LayerRow, ImageError> {
        let mut head = [0u8; 6];
        let n = f
            .read(&mut head)
            .map_err(|e| ImageError::io("reading layer blob", e))?;
        io::Seek::rewind(&mut f).map_err(|e| ImageError::io("reading layer blob", e))?;
        if compress::detect(&head[..n]) != compress::Compression::None {
            return self.add_layer(&mut f, parent);
        }
        let cache_id = random_cache_id();
        let diff = self
            .driver
            .create_layer_dir(&cache_id, parent.map(|p| p.cache_id.as_str()))?;
        let applied = apply_tar(
            &mut io::BufReader::with_capacity(1 << 20, f),
            &diff,
            self.driver.whiteout_mode(),
            self.driver.ids(),
        )
        .and_then(|size| Ok((size, self.driver.link_layer(&cache_id)?)));
        let (size, link_id) = match applied.and_then(|v| publish().map(|()| v)) {
            Ok(v) => v,
            Err(e) => {
                let _ = self.driver.remove(&cache_id);
                return Err(e);
            }
        };
        self.register_layer(LayerRow {
            chain_id: chain_id(parent.map(|p| p.chain_id.as_str()), digest),
            diff_id: digest.to_string(),
            parent: parent.map(|p| p.chain_id.clone()),
            cache_id,
            link_id,
            size: size as i64,
            blob: Some(digest.to_string()),
        })
    }

    /// Inserts a freshly unpacked layer, or keeps the identical one that
    /// won a race and drops ours.
    fn register_layer(&self, row: LayerRow) -> Result<LayerRow, ImageError> {
        let cache_id = row.cache_id.clone();
        let existing = {
            let conn = self.conn();
            match db::get_layer(&conn, &row.chain_id)? {
                Some(l) => Some(l),
                None => {
                    db::insert_layer(&conn, &row)?;
                    None
                }
            }
        };
        match existing {
            Some(l) => {
                self.driver.remove(&cache_id)?;
                Ok(l)
            }
            None => Ok(row),
        }
    }

    /// Decompresses and unpacks `tar` into `diff` while a second thread
    /// hashes the uncompressed stream and writes it as the layer's blob.
    fn unpack(
        &self,
        tar: &mut dyn Read,
        diff: &std::path::Path,
    ) -> Result<(BlobWriter, u64), ImageError> {
        let mut blob = self.content.writer()?;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(8);
            let writer = scope.spawn(move || -> io::Result<BlobWriter> {
                for batch in rx {
                    blob.write_all(&batch)?;
                }
                Ok(blob)
            });
            let applied = (|| -> Result<u64, ImageError> {
                let mut tee = Tee {
                    inner: compress::decompressed(tar)?,
                    tx,
                    pending: Vec::with_capacity(TEE_BATCH),
                };
                let size = apply_tar(
                    &mut tee,
                    diff,
                    self.driver.whiteout_mode(),
                    self.driver.ids(),
                )?;
                // The tar reader stops at the end-of-archive marker; the
                // diff_id covers the whole stream, padding included.
                io::copy(&mut tee, &mut io::sink())
                    .and_then(|_| tee.send_pending())
                    .map_err(|e| ImageError::io("reading layer archive", e))?;
                Ok(size)
            })();
            // The sender is gone (dropped with the tee): the writer ends.
            let written = writer
                .join()
                .map_err(|_| ImageError::Internal("layer blob writer panicked".into()))?
                .map_err(|e| ImageError::io("writing layer blob", e));
            // A failed writer is why the tee stopped: its error first.
            let blob = written?;
            Ok((blob, applied?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_docker() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(ids[0], a);
        let expect = format!("sha256:{}", hex::encode(Sha256::digest(format!("{a} {b}"))));
        assert_eq!(ids[1], expect);
    }
}
