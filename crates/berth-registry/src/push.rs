//! Push: for each layer, skip it when the registry has it already (a digest
//! remembered from an earlier pull or push, checked with HEAD), mount it from
//! another repository of the same registry, or gzip it while streaming it
//! up (`gzip.rs`: parallel, incompressible chunks stored); then the config
//! and a Docker v2.2 manifest under the tag. The compressed digest is
//! recorded so the next push of the same layer is a HEAD and nothing else.

use std::io::Read;
use std::sync::Arc;

use berth_image::reference::Reference;
use berth_image::{BlobSource, ImageStore, LayerInfo};
use serde_json::json;

use crate::auth::AuthConfig;
use crate::client::RepoClient;
use crate::error::{RegistryError, Result};
use crate::gzip;
use crate::manifest::{self, Descriptor, DOCKER_CONFIG, DOCKER_LAYER_GZIP};
use crate::progress::{short_id, Progress};

pub struct PushOptions {
    pub auth: AuthConfig,
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
    let repository = r.name();
    let mut descriptors = Vec::with_capacity(src.layers.len());
    for l in &src.layers {
        let d = push_layer(&store, &client, r, &repository, l, progress).await?;
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
    let blob = l.blob.clone().unwrap_or_else(|| l.diff_id.clone());
    let desc = upload_layer(store, client, &blob, &id, progress).await?;
    progress.layer(&id, "Pushed");
    record(store, &l.diff_id, &desc, repository).await?;
    Ok(desc)
}

/// Gzips the layer's uncompressed blob on blocking threads and streams it
/// to the registry as it is produced: no temp file, and the compressed
/// digest (known at the end) goes with the final PUT.
async fn upload_layer(
    store: &Arc<ImageStore>,
    client: &RepoClient,
    blob: &str,
    id: &str,
    progress: &Progress,
) -> Result<Descriptor> {
    let file = store.content().open_blob(blob)?;
    let total = file.metadata().map(|m| m.len()).ok();
    progress.bytes(id, "Pushing", 0, total);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    let reporter = progress.clone();
    let id2 = id.to_string();
    let blob2 = blob.to_string();
    let producer = tokio::task::spawn_blocking(move || -> Result<gzip::Gzipped> {
        let mut input = Counting {
            inner: file,
            n: 0,
            last: 0,
            report: move |n| reporter.bytes(&id2, "Pushing", n, total),
        };
        let sent = tx.clone();
        let r = gzip::gzip(
            &mut input,
            flate2::Compression::fast(),
            gzip::default_threads(),
            |piece| {
                sent.blocking_send(Ok(piece.into()))
                    .map_err(|_| std::io::Error::other("upload ended early"))
            },
        );
        match r {
            Ok(g) => Ok(g),
            Err(e) => {
                // Break the request's body so the registry drops the upload.
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                Err(RegistryError::io(format!("compressing layer {blob2}"), e))
            }
        }
    });
    let body =
        reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    let gz = std::sync::Mutex::new(None);
    let digest = async {
        let g = producer
            .await
            .map_err(|e| RegistryError::Registry(e.to_string()))??;
        let d = g.digest.clone();
        *gz.lock().unwrap_or_else(|p| p.into_inner()) = Some(g);
        Ok(d)
    };
    client.upload_streamed(body, digest).await?;
    let g = gz
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or_else(|| RegistryError::Registry("layer compression did not finish".into()))?;
    progress.bytes(id, "Pushing", g.input, total);
    Ok(Descriptor {
        media_type: DOCKER_LAYER_GZIP.into(),
        digest: g.digest,
        size: g.size as i64,
        ..Default::default()
    })
}

/// Counts what is read and reports it every 512 KiB.
struct Counting<R, F> {
    inner: R,
    n: u64,
    last: u64,
    report: F,
}

impl<R: Read, F: FnMut(u64)> Read for Counting<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        if self.n - self.last >= 512 * 1024 {
            self.last = self.n;
            (self.report)(self.n);
        }
        Ok(k)
    }
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
