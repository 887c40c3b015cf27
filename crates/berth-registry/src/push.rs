//! Push: for each layer, skip it when the registry has it already (a digest
//! remembered from an earlier pull or push, checked with HEAD), mount it from
//! another repository of the same registry, or gzip it and upload; then the
//! config and a Docker v2.2 manifest under the tag. The compressed digest is
//! recorded so the next push of the same layer is a HEAD and nothing else.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_image::reference::Reference;
use berth_image::{BlobSource, ImageStore, LayerInfo};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::AuthConfig;
use crate::client::RepoClient;
use crate::error::{RegistryError, Result};
use crate::manifest::{self, Descriptor, DOCKER_CONFIG, DOCKER_LAYER_GZIP};
use crate::progress::{short_id, Progress};

pub struct PushOptions {
    pub auth: AuthConfig,
    pub tmp_dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    pub digest: String,
    pub size: usize,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RegistryError::Registry(e.to_string()))?
}

/// Pushes the local image `r` to its registry; without a tag, every local
/// tag of the repository (the API's empty `tag`, Docker's `push --all-tags`).
pub async fn push(
    store: Arc<ImageStore>,
    r: &Reference,
    opts: &PushOptions,
    progress: &Progress,
) -> Result<PushOutcome> {
    if r.digest.is_some() {
        return Err(RegistryError::InvalidParameter(
            "cannot push a digest reference".into(),
        ));
    }
    if r.tag.is_some() {
        return push_tag(store, r, opts, progress, true).await;
    }
    let store2 = store.clone();
    let name = r.name();
    let tags = blocking(move || Ok(store2.repository_tags(&name)?)).await?;
    if tags.is_empty() {
        return Err(RegistryError::NoLocalTag(r.familiar_name()));
    }
    progress.status(&format!(
        "The push refers to repository [{}]",
        r.familiar_name()
    ));
    let mut last = None;
    for t in &tags {
        last = Some(push_tag(store.clone(), t, opts, progress, false).await?);
    }
    Ok(last.expect("at least one tag"))
}

/// Pushes one tag; `announce` prints Docker's first line for a single push.
async fn push_tag(
    store: Arc<ImageStore>,
    r: &Reference,
    opts: &PushOptions,
    progress: &Progress,
    announce: bool,
) -> Result<PushOutcome> {
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    let local = r.to_string();
    let store2 = store.clone();
    let src = blocking(move || {
        store2.push_source(&local).map_err(|e| match e.kind() {
            berth_image::ErrorKind::NotFound => RegistryError::NoLocalTag(local.clone()),
            _ => e.into(),
        })
    })
    .await
    .map_err(|e| match e {
        RegistryError::NoLocalTag(_) => RegistryError::NoLocalTag(r.familiar_string()),
        e => e,
    })?;
    if announce {
        progress.status(&format!(
            "The push refers to repository [{}]",
            r.familiar_name()
        ));
    }
    let client = RepoClient::new(&r.domain, &r.path, opts.auth.clone(), true)?;
    for l in src.layers.iter().rev() {
        progress.layer(&short_id(&l.diff_id), "Preparing");
    }
    std::fs::create_dir_all(&opts.tmp_dir)
        .map_err(|e| RegistryError::io(format!("creating {}", opts.tmp_dir.display()), e))?;
    let repository = r.name();
    let mut descriptors = Vec::with_capacity(src.layers.len());
    for l in &src.layers {
        let d = push_layer(&store, &client, r, &repository, l, &opts.tmp_dir, progress).await?;
        descriptors.push(d);
    }
    let config_digest = src.id.clone();
    if !client.blob_exists(&config_digest).await? {
        client.upload_bytes(&config_digest, &src.config).await?;
    }
    let config = Descriptor {
        media_type: DOCKER_CONFIG.into(),
        digest: config_digest,
        size: src.config.len() as i64,
        ..Default::default()
    };
    let body = manifest::docker_manifest(config, descriptors);
    let digest = client
        .put_manifest(&tag, &body, manifest::DOCKER_MANIFEST)
        .await?;
    let store2 = store.clone();
    let image_id = src.id.clone();
    let digest_ref = Reference {
        domain: r.domain.clone(),
        path: r.path.clone(),
        tag: None,
        digest: Some(digest.clone()),
    };
    blocking(move || Ok(store2.add_digest_reference(&image_id, &digest_ref)?)).await?;
    progress.status(&format!("{tag}: digest: {digest} size: {}", body.len()));
    progress.aux(json!({"Tag": tag, "Digest": digest, "Size": body.len()}));
    Ok(PushOutcome {
        digest,
        size: body.len(),
    })
}

async fn push_layer(
    store: &Arc<ImageStore>,
    client: &RepoClient,
    r: &Reference,
    repository: &str,
    l: &LayerInfo,
    tmp_dir: &Path,
    progress: &Progress,
) -> Result<Descriptor> {
    let id = short_id(&l.diff_id);
    let store2 = store.clone();
    let diff_id = l.diff_id.clone();
    let known = blocking(move || Ok(store2.blob_sources(&diff_id)?)).await?;
    let prefix = format!("{}/", r.domain);
    // Same repository first, then others of the same registry (mountable).
    let mut candidates: Vec<&BlobSource> = known
        .iter()
        .filter(|s| s.repository == repository)
        .chain(
            known
                .iter()
                .filter(|s| s.repository != repository && s.repository.starts_with(&prefix)),
        )
        .collect();
    candidates.dedup_by(|a, b| a.digest == b.digest && a.repository == b.repository);
    for s in candidates {
        let desc = Descriptor {
            media_type: s.media_type.clone(),
            digest: s.digest.clone(),
            size: s.size,
            ..Default::default()
        };
        if s.repository == repository {
            if client.blob_exists(&s.digest).await? {
                progress.layer(&id, "Layer already exists");
                return Ok(desc);
            }
        } else if let Some(from) = s.repository.strip_prefix(&prefix) {
            if client.mount_blob(&s.digest, from).await? {
                progress.layer(&id, &format!("Mounted from {from}"));
                record(store, &l.diff_id, &desc, repository).await?;
                return Ok(desc);
            }
        }
    }
    let store2 = store.clone();
    let blob = l.blob.clone().unwrap_or_else(|| l.diff_id.clone());
    let dir = tmp_dir.to_path_buf();
    let (tmp, digest, size) = blocking(move || compress(&store2, &blob, &dir)).await?;
    let desc = Descriptor {
        media_type: DOCKER_LAYER_GZIP.into(),
        digest: digest.clone(),
        size: size as i64,
        ..Default::default()
    };
    if client.blob_exists(&digest).await? {
        progress.layer(&id, "Layer already exists");
    } else {
        progress.bytes(&id, "Pushing", 0, Some(size));
        client.upload_blob(&digest, tmp.path(), size).await?;
        progress.layer(&id, "Pushed");
    }
    record(store, &l.diff_id, &desc, repository).await?;
    Ok(desc)
}

async fn record(
    store: &Arc<ImageStore>,
    diff_id: &str,
    d: &Descriptor,
    repository: &str,
) -> Result<()> {
    let store = store.clone();
    let diff_id = diff_id.to_string();
    let src = BlobSource {
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        size: d.size,
        repository: repository.to_string(),
    };
    blocking(move || Ok(store.record_blob_source(&diff_id, &src)?)).await
}

/// Writes hashing what passes through.
struct HashWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Gzips the uncompressed layer blob into a temp file: (file, digest, size).
fn compress(
    store: &ImageStore,
    blob: &str,
    dir: &Path,
) -> Result<(tempfile::NamedTempFile, String, u64)> {
    let mut input = store.content().open_blob(blob)?;
    let tmp = tempfile::Builder::new()
        .prefix(".push-")
        .tempfile_in(dir)
        .map_err(|e| RegistryError::io(format!("creating temp file in {}", dir.display()), e))?;
    let out = tmp
        .reopen()
        .map_err(|e| RegistryError::io("opening temp file", e))?;
    let hw = HashWriter {
        inner: std::io::BufWriter::new(out),
        hasher: Sha256::new(),
        size: 0,
    };
    // Fastest deflate level: compressing dominates a push, and level 6 buys
    // little on typical layers (binaries, already-compressed data).
    let mut gz = flate2::write::GzEncoder::new(hw, flate2::Compression::fast());
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| RegistryError::io(format!("reading layer {blob}"), e))?;
        if n == 0 {
            break;
        }
        gz.write_all(&buf[..n])
            .map_err(|e| RegistryError::io("compressing layer", e))?;
    }
    let mut hw = gz
        .finish()
        .map_err(|e| RegistryError::io("compressing layer", e))?;
    hw.flush()
        .map_err(|e| RegistryError::io("compressing layer", e))?;
    let digest = format!("sha256:{}", hex::encode(hw.hasher.finalize()));
    Ok((tmp, digest, hw.size))
}
