//! `docker save`: images -> one tar in Docker 25's layout, which is both a
//! docker-archive (`manifest.json`, `repositories`) and an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/...`). Layer blobs are copied
//! from the content store as they are read: nothing is buffered whole.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

use serde_json::{json, Value};

use crate::db;
use crate::error::ImageError;
use crate::layer::chain_ids;
use crate::reference::{self, AnyReference};
use crate::store::{lookup, parse_config, ImageStore};

pub const MEDIA_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

struct SavedImage {
    id: String,
    config: Vec<u8>,
    /// (digest, size) of each layer blob, bottom first.
    layers: Vec<(String, u64)>,
    /// Normalized references to record (`docker.io/library/busybox:latest`).
    refs: Vec<reference::Reference>,
}

/// Everything `save` will write, resolved up front so that a bad name fails
/// before any byte of the archive is sent.
pub struct SavePlan {
    images: Vec<SavedImage>,
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

fn blob_path(d: &str) -> String {
    format!("blobs/sha256/{}", hex(d))
}

impl ImageStore {
    pub fn save_plan(&self, names: &[String]) -> Result<SavePlan, ImageError> {
        let conn = self.conn();
        let mut images: Vec<SavedImage> = Vec::new();
        for name in names {
            let row = lookup(&conn, name)?;
            // Recorded under the name only when the name (not an id prefix)
            // is what found the image.
            let named = match reference::parse_any(name)? {
                AnyReference::Named(r) => {
                    let r = r.with_default_tag();
                    let target = db::ref_target(&conn, &r.to_string())?;
                    (target.as_deref() == Some(row.id.as_str())).then_some(r)
                }
                AnyReference::Id(_) => None,
            };
            if let Some(existing) = images.iter_mut().find(|i| i.id == row.id) {
                if let Some(r) = named {
                    if !existing.refs.contains(&r) {
                        existing.refs.push(r);
                    }
                }
                continue;
            }
            let img = parse_config(&row)?;
            let mut layers = Vec::new();
            for c in chain_ids(&img.rootfs.diff_ids) {
                let l = db::get_layer(&conn, &c)?
                    .ok_or_else(|| ImageError::Internal(format!("layer {c} is missing")))?;
                let blob = l.blob.ok_or_else(|| {
                    ImageError::Internal(format!("layer {c} has no stored archive"))
                })?;
                let size = self
                    .content
                    .open_blob(&blob)?
                    .metadata()
                    .map_or(0, |m| m.len());
                layers.push((blob, size));
            }
            images.push(SavedImage {
                config: row.config.into_bytes(),
                id: row.id,
                layers,
                refs: named.into_iter().collect(),
            });
        }
        Ok(SavePlan { images })
    }

    /// Writes the archive of `plan` to `out`.
    pub fn write_archive(&self, plan: &SavePlan, out: impl Write) -> Result<(), ImageError> {
        let werr = |e: io::Error| ImageError::io("writing image archive", e);
        let mut b = tar::Builder::new(out);
        let mut written = HashSet::new();
        let mut manifest = Vec::new();
        let mut index = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        append_dir(&mut b, "blobs/").map_err(werr)?;
        append_dir(&mut b, "blobs/sha256/").map_err(werr)?;
        for img in &plan.images {
            let config_digest = img.id.clone();
            if written.insert(config_digest.clone()) {
                append_bytes(&mut b, &blob_path(&config_digest), &img.config).map_err(werr)?;
            }
            for (digest, size) in &img.layers {
                if written.insert(digest.clone()) {
                    let f = self.content.open_blob(digest)?;
                    let mut h = file_header(*size);
                    b.append_data(&mut h, blob_path(digest), io::Read::take(f, *size))
                        .map_err(werr)?;
                }
            }
            let oci_manifest = json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_OCI_MANIFEST,
                "config": {"mediaType": MEDIA_OCI_CONFIG, "digest": config_digest, "size": img.config.len()},
                "layers": img.layers.iter().map(|(d, s)| json!({
                    "mediaType": MEDIA_OCI_LAYER, "digest": d, "size": s,
                })).collect::<Vec<_>>(),
            });
            let mbytes = serde_json::to_vec(&oci_manifest)?;
            let mdigest = format!("sha256:{}", sha256_hex(&mbytes));
            if written.insert(mdigest.clone()) {
                append_bytes(&mut b, &blob_path(&mdigest), &mbytes).map_err(werr)?;
            }
            let descriptor = |annotations: Option<Value>| {
                let mut d = json!({"mediaType": MEDIA_OCI_MANIFEST, "digest": mdigest, "size": mbytes.len()});
                if let Some(a) = annotations {
                    d["annotations"] = a;
                }
                d
            };
            if img.refs.is_empty() {
                index.push(descriptor(None));
            }
            for r in &img.refs {
                index.push(descriptor(Some(json!({
                    "io.containerd.image.name": r.to_string(),
                    "org.opencontainers.image.ref.name": r.tag.clone().unwrap_or_default(),
                }))));
                repositories
                    .entry(r.familiar_name())
                    .or_default()
                    .insert(r.tag.clone().unwrap_or_default(), hex(&img.id).to_string());
            }
            manifest.push(json!({
                "Config": blob_path(&config_digest),
                "RepoTags": img.refs.iter().map(|r| r.familiar_string()).collect::<Vec<_>>(),
                "Layers": img.layers.iter().map(|(d, _)| blob_path(d)).collect::<Vec<_>>(),
            }));
        }
        let index = json!({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": index});
        append_bytes(&mut b, "index.json", &serde_json::to_vec(&index)?).map_err(werr)?;
        append_bytes(&mut b, "manifest.json", &serde_json::to_vec(&manifest)?).map_err(werr)?;
        append_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(werr)?;
        if !repositories.is_empty() {
            append_bytes(&mut b, "repositories", &serde_json::to_vec(&repositories)?)
                .map_err(werr)?;
        }
        b.into_inner().map_err(werr)?.flush().map_err(werr)
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(data))
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) -> io::Result<()> {
    let mut h = file_header(data.len() as u64);
    b.append_data(&mut h, path, data)
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    b.append_data(&mut h, path, io::empty())
}
