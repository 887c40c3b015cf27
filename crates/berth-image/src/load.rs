//! `docker load`: a docker-archive (`manifest.json`, legacy or Docker 25
//! layout) or a plain OCI image layout (`index.json`) read as a stream.
//! Every file of the archive is streamed into a temp file of the content
//! store as it arrives (hashed on the way; `blobs/sha256/<hex>` names are
//! verified), then the manifests are followed: layers are unpacked from the
//! staged files and checked against the config's diff_ids before the image
//! is registered. With overlay, a big file that is an uncompressed tar (the
//! layers `docker save` writes) is unpacked into a staged snapshot while it
//! streams in, so the layer is not read back; the manifests then only
//! check and commit it (a tar no manifest names is dropped). Only the files a layer or image row points at are
//! published (fsynced and renamed), right before that row is written; the
//! rest of the archive is dropped at the end.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::ImageJson;
use crate::content::BlobWriter;
use crate::db::{self, LayerRow};
use crate::error::ImageError;
use crate::fspath::clean_relative;
use crate::layer::chain_id;
use crate::layer::StagedLayer;
use crate::reference::{self, Reference};
use crate::store::{familiar, ImageStore};

/// Metadata files bigger than this are not JSON we want to parse.
const MAX_JSON: u64 = 64 << 20;

/// What the archive held, by clean relative path.
#[derive(Default)]
struct Staged {
    files: HashMap<String, String>,
    /// Symlinks (legacy archives link repeated layers): path -> target path.
    links: HashMap<String, String>,
    /// Digests this load added to the content store.
    new_blobs: HashSet<String>,
    /// Files of the archive not in the content store yet, by digest: still
    /// temp files, published (fsynced and renamed) only when a layer or
    /// image row is about to point at them. The others (metadata files,
    /// compressed layers) are never published, and a layer blob's fsync
    /// runs after its snapshot was written, by when writeback has caught up.
    pending: HashMap<String, BlobWriter>,
    /// Files unpacked as layers while they streamed in, by digest.
    layers: HashMap<String, StagedLayer>,
    /// Files that looked like layers but failed to unpack, by path, with
    /// why: an error only if a manifest names them.
    broken: HashMap<String, String>,
}

impl Staged {
    fn digest(&self, path: &str) -> Option<&String> {
        let mut p = path.to_string();
        for _ in 0..16 {
            if let Some(d) = self.files.get(&p) {
                return Some(d);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

/// One image found in the archive.
struct Found {
    config: String,
    layers: Vec<String>,
    tags: Vec<String>,
}

fn bad(msg: impl Into<String>) -> ImageError {
    ImageError::invalid(msg.into())
}

fn clean(p: &Path) -> Option<String> {
    let comps = clean_relative(p).ok()?;
    let s = comps
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    (!s.is_empty()).then_some(s)
}

impl ImageStore {
    /// Loads every image of the archive; returns the lines Docker prints
    /// (`Loaded image: busybox:latest`, `Loaded image ID: sha256:...`).
    pub fn load(&self, input: &mut dyn Read) -> Result<Vec<String>, ImageError> {
        let _pin = self.layers_in_use();
        let mut staged = Staged::default();
        let result = self
            .stage(input, &mut staged)
            .and_then(|()| self.load_staged(&mut staged));
        staged.pending.clear();
        // Layers no manifest committed go while the pin still holds.
        staged.layers.clear();
        // Blobs that are neither a layer's archive nor an image config now
        // (compressed layers, manifests, failed loads) are dropped.
        let keep = self.referenced_blobs().unwrap_or_default();
        for d in &staged.new_blobs {
            if !keep.contains(d) {
                let _ = self.content.delete(d);
            }
        }
        drop(_pin);
        if result.is_err() {
            let _ = self.prune_layers();
        }
        result
    }

    fn stage(&self, input: &mut dyn Read, staged: &mut Staged) -> Result<(), ImageError> {
        let rerr = |e: std::io::Error| ImageError::io("reading image archive", e);
        let mut archive = tar::Archive::new(crate::compress::decompressed(input)?);
        for entry in archive.entries().map_err(rerr)? {
            let mut entry = entry.map_err(rerr)?;
            let Some(path) = clean(&entry.path().map_err(rerr)?) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {}
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    if let Some(target) = entry.link_name().map_err(rerr)? {
                        let t = if entry.header().entry_type() == tar::EntryType::Symlink {
                            Path::new(&path)
                                .parent()
                                .unwrap_or(Path::new(""))
                                .join(&target)
                        } else {
                            target.into_owned()
                        };
                        if let Some(t) = clean(&normalize_dots(&t)) {
                            staged.links.insert(path, t);
                        }
                    }
                    continue;
                }
                _ => continue,
            }
            let mut w = self.content.writer()?;
            let len = entry.size();
            if len >= 4 << 20 {
                let mut head = Vec::with_capacity(512);
                (&mut entry)
                    .take(512)
                    .read_to_end(&mut head)
                    .map_err(rerr)?;
                let as_layer = self.can_stage_layers() && crate::tarhead::valid_tar_header(&head);
                let mut whole = std::io::Cursor::new(head).chain(&mut entry);
                if as_layer {
                    // The archive reader skips what the unpacking left.
                    match self.stage_layer_unchecked(&mut whole) {
                        Ok(layer) => {
                            let digest = layer.diff_id().to_string();
                            check_named_digest(&path, &digest)?;
                            staged.files.insert(path, digest.clone());
                            staged.layers.insert(digest, layer);
                        }
                        Err(e) => {
                            staged.broken.insert(path, e.to_string());
                        }
                    }
                    continue;
                }
                w = crate::content::copy_to_blob_threaded(&mut whole, w).map_err(rerr)?;
            } else {
                crate::content::copy_large(&mut entry, &mut w, len).map_err(rerr)?;
            }
            let digest = w.digest();
            check_named_digest(&path, &digest)?;
            if !self.content.exists(&digest) {
                staged.pending.insert(digest.clone(), w);
            }
            staged.files.insert(path, digest);
        }
        Ok(())
    }

    /// Reads a staged file, published or not.
    fn open_staged(&self, staged: &Staged, digest: &str) -> Result<std::fs::File, ImageError> {
        match staged.pending.get(digest) {
            Some(w) => w.reopen(),
            None => self.content.open_blob(digest),
        }
    }

    /// Publishes a staged file (no-op when it is in the store already).
    fn publish(&self, staged: &mut Staged, digest: &str) -> Result<(), ImageError> {
        if let Some(w) = staged.pending.remove(digest) {
            w.commit(Some(digest))?;
            staged.new_blobs.insert(digest.to_string());
        }
        Ok(())
    }

    fn read_json(&self, staged: &Staged, path: &str) -> Result<Option<Value>, ImageError> {
        let Some(d) = staged.digest(path) else {
            return Ok(None);
        };
        let f = self.open_staged(staged, d)?;
        let mut buf = Vec::new();
        f.take(MAX_JSON)
            .read_to_end(&mut buf)
            .map_err(|e| ImageError::io(format!("reading {path}"), e))?;
        serde_json::from_slice(&buf)
            .map(Some)
            .map_err(|e| bad(format!("invalid {path} in archive: {e}")))
    }

    /// The images of the archive, from manifest.json or else index.json.
    fn found_images(&self, staged: &Staged) -> Result<Vec<Found>, ImageError> {
        if let Some(m) = self.read_json(staged, "manifest.json")? {
            let list = m.as_array().ok_or_else(|| bad("invalid manifest.json"))?;
            let mut out = Vec::new();
            for item in list {
                let s = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
                let strs = |k: &str| -> Vec<String> {
                    item.get(k)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                out.push(Found {
                    config: s("Config").ok_or_else(|| bad("manifest.json: missing Config"))?,
                    layers: strs("Layers"),
                    tags: strs("RepoTags"),
                });
            }
            return Ok(out);
        }
        let index = self
            .read_json(staged, "index.json")?
            .ok_or_else(|| bad("invalid archive: neither manifest.json nor index.json found"))?;
        let mut out = Vec::new();
        for desc in index["manifests"].as_array().into_iter().flatten() {
            let ann = &desc["annotations"];
            let tag = ann["io.containerd.image.name"]
                .as_str()
                .or(ann["org.opencontainers.image.ref.name"].as_str())
                .filter(|n| reference::parse_normalized_named(n).is_ok_and(|r| r.tag.is_some()))
                .map(str::to_string);
            let manifest = self.oci_manifest(staged, desc, 0)?;
            let digest_path = |d: &Value| {
                d["digest"]
                    .as_str()
                    .map(|x| format!("blobs/sha256/{}", x.trim_start_matches("sha256:")))
            };
            out.push(Found {
                config: digest_path(&manifest["config"])
                    .ok_or_else(|| bad("OCI manifest without config"))?,
                layers: manifest["layers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(digest_path)
                    .collect(),
                tags: tag.into_iter().collect(),
            });
        }
        Ok(out)
    }

    /// Follows a descriptor to an image manifest (through nested indexes,
    /// preferring linux/amd64).
    fn oci_manifest(&self, staged: &Staged, desc: &Value, depth: u8) -> Result<Value, ImageError> {
        let d = desc["digest"]
            .as_str()
            .ok_or_else(|| bad("index.json: descriptor without digest"))?;
        let path = format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        let m = self
            .read_json(staged, &path)?
            .ok_or_else(|| bad(format!("invalid archive: {path} is missing")))?;
        if m.get("manifests").is_none() {
            return Ok(m);
        }
        if depth > 4 {
            return Err(bad("index.json: indexes nested too deep"));
        }
        let list = m["manifests"].as_array().cloned().unwrap_or_default();
        let pick = list
            .iter()
            .find(|x| x["platform"]["os"] == "linux" && x["platform"]["architecture"] == "amd64")
            .or(list.first())
            .ok_or_else(|| bad("image index without manifests"))?;
        self.oci_manifest(staged, pick, depth + 1)
    }

    fn load_staged(&self, staged: &mut Staged) -> Result<Vec<String>, ImageError> {
        let mut lines = Vec::new();
        for found in self.found_images(staged)? {
            let cfg_digest = staged
                .digest(&found.config)
                .ok_or_else(|| bad(format!("invalid archive: {} is missing", found.config)))?
                .clone();
            let mut raw = Vec::new();
            self.open_staged(staged, &cfg_digest)?
                .read_to_end(&mut raw)
                .map_err(|e| ImageError::io(format!("reading {}", found.config), e))?;
            let image: ImageJson = serde_json::from_slice(&raw)
                .map_err(|e| bad(format!("invalid image config {}: {e}", found.config)))?;
            if image.rootfs.diff_ids.len() != found.layers.len() {
                return Err(bad(format!(
                    "invalid manifest, layers length mismatch: expected {}, got {}",
                    image.rootfs.diff_ids.len(),
                    found.layers.len()
                )));
            }
            let tags = found
                .tags
                .iter()
                .map(|t| reference::parse_normalized_named(t).map(Reference::with_default_tag))
                .collect::<Result<Vec<_>, _>>()?;
            let mut parent: Option<LayerRow> = None;
            for (path, diff_id) in found.layers.iter().zip(&image.rootfs.diff_ids) {
                parent = Some(self.load_layer(staged, path, diff_id, parent.as_ref())?);
            }
            let text =
                String::from_utf8(raw).map_err(|_| bad("image config is not valid UTF-8"))?;
            // The blob before the row that points to it.
            self.publish(staged, &cfg_digest)?;
            let id = cfg_digest.clone();
            let mut conn = self.conn();
            let tx = crate::db::write_tx(&mut conn)?;
            db::insert_image(&tx, &id, &text, None, image.created_unix())?;
            for t in &tags {
                let name = t.to_string();
                if let Some(old) = db::ref_target(&tx, &name)?.filter(|o| *o != id) {
                    lines.push(format!(
                        "The image {} already exists, renaming the old one with ID {old} to empty string",
                        familiar(&name)
                    ));
                }
                db::set_ref(&tx, &name, &id, false)?;
            }
            tx.commit()?;
            if tags.is_empty() {
                lines.push(format!("Loaded image ID: {id}"));
            }
            for t in &tags {
                lines.push(format!("Loaded image: {}", t.familiar_string()));
            }
        }
        Ok(lines)
    }

    /// The layer `diff_id` on top of `parent`: the existing one, or unpacked
    /// from the archive's blob and checked.
    fn load_layer(
        &self,
        staged: &mut Staged,
        path: &str,
        diff_id: &str,
        parent: Option<&LayerRow>,
    ) -> Result<LayerRow, ImageError> {
        let chain = chain_id(parent.map(|p| p.chain_id.as_str()), diff_id);
        if let Some(l) = db::get_layer(&self.conn(), &chain)? {
            return Ok(l);
        }
        if let Some(why) = staged.broken.get(path) {
            return Err(bad(format!("invalid archive: layer {path}: {why}")));
        }
        let digest = staged
            .digest(path)
            .ok_or_else(|| bad(format!("invalid archive: layer {path} is missing")))?
            .clone();
        if let Some(layer) = staged.layers.remove(&digest) {
            if digest != diff_id {
                return Err(bad(format!(
                    "layer {path}: content digest {digest} does not match the image's diff_id {diff_id}"
                )));
            }
            let row = self.commit_staged_layer(layer, parent.map(|p| p.chain_id.as_str()))?;
            staged.new_blobs.insert(digest);
            return Ok(row);
        }
        let f = self.open_staged(staged, &digest)?;
        let layer =
            self.add_layer_from_staged(&digest, f, || self.publish(staged, &digest), parent)?;
        if layer.diff_id != diff_id {
            return Err(bad(format!(
                "layer {path}: content digest {} does not match the image's diff_id {diff_id}",
                layer.diff_id
            )));
        }
        Ok(layer)
    }

    /// Digests still needed: layer archives and image configs.
    fn referenced_blobs(&self) -> Result<HashSet<String>, ImageError> {
        let conn = self.conn();
        let mut out = HashSet::new();
        let mut st =
            conn.prepare("SELECT blob FROM layer_layers WHERE blob IS NOT NULL UNION SELECT id FROM image_images")?;
        for d in st.query_map([], |r| r.get::<_, String>(0))? {
            out.insert(d?);
        }
        Ok(out)
    }
}

/// A `blobs/sha256/<hex>` file must hash to its name.
fn check_named_digest(path: &str, digest: &str) -> Result<(), ImageError> {
    match path.strip_prefix("blobs/sha256/") {
        Some(hex) if digest.strip_prefix("sha256:") != Some(hex) => Err(bad(format!(
            "invalid archive: {path} does not match its digest {digest}"
        ))),
        _ => Ok(()),
    }
}

/// Resolves `.`/`..` lexically (link targets inside the archive).
fn normalize_dots(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}
