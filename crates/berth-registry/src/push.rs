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
use crate::client::{RepoClient, UploadFailure, UploadStatus};
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
    let client = RepoClient::new(&r.domain, &r.path, opts.auth.clone(), true).await?;
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

/// Resumes of one layer's upload before the push fails.
const RESUME_ATTEMPTS: u32 = 5;
/// After an interruption the rest goes up in chunks of this size, each
/// with the `Content-Range` it must continue at.
const RESUME_CHUNK: usize = 8 << 20;

/// The pause before resume attempt `n` (1-based): 0.5 s doubling, at most 5 s.
fn backoff(n: u32) -> std::time::Duration {
    let ms = 500u64.saturating_mul(1 << n.saturating_sub(1).min(8));
    std::time::Duration::from_millis(ms.min(5000))
}

/// What is left of `piece` of a stream once its first `skip` bytes are
/// dropped, `pos` being where `piece` starts (advanced past it); `None`
/// when all of it lies before `skip`.
fn skip_prefix(pos: &mut u64, skip: u64, mut piece: Vec<u8>) -> Option<Vec<u8>> {
    let start = *pos;
    *pos += piece.len() as u64;
    if *pos <= skip {
        return None;
    }
    if start < skip {
        piece.drain(..(skip - start) as usize);
    }
    Some(piece)
}

/// Gzips the layer's uncompressed blob on blocking threads and streams it
/// to the registry as it is produced: no temp file, and the compressed
/// digest (known at the end) goes with the final PUT.
///
/// The compressed stream is deterministic (`gzip.rs`: fixed chunking and
/// level, independent of the threads), so an upload cut off midway is
/// resumed rather than restarted: the registry is asked how much it holds
/// (`GET` on the session), the stream is made again with that prefix
/// dropped, and the rest goes up in `Content-Range` chunks. A registry
/// that lost the session (or cannot say) gets a new one, from zero, once.
async fn upload_layer(
    store: &Arc<ImageStore>,
    client: &RepoClient,
    blob: &str,
    id: &str,
    progress: &Progress,
) -> Result<Descriptor> {
    let total = store
        .content()
        .open_blob(blob)?
        .metadata()
        .map(|m| m.len())
        .ok();
    progress.bytes(id, "Pushing", 0, total);
    // The furthest progress shown: a resumed stream is read from the start
    // again, and the bar should not go back.
    let shown = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut loc = client.start_upload().await?;
    let mut offset = 0u64;
    let mut failures = 0u32;
    let mut restarted = false;
    // Set when the registry must be asked where the upload stands first.
    let mut ask = false;
    let g = loop {
        let failure = if ask {
            match client.upload_status(&loc).await {
                Ok(UploadStatus::At {
                    location,
                    offset: n,
                }) => {
                    tracing::info!("resuming upload of layer {id} at byte {n}");
                    loc = location;
                    offset = n;
                    ask = false;
                    continue;
                }
                Ok(UploadStatus::Unknown) => {
                    // Nothing worth keeping: a fresh session costs nothing.
                    let _ = client.cancel_upload(&loc).await;
                    loc = client.start_upload().await?;
                    offset = 0;
                    ask = false;
                    continue;
                }
                Ok(UploadStatus::Lost) => UploadFailure::Lost(RegistryError::Registry(
                    "blob upload unknown: the registry lost the upload session".into(),
                )),
                Err(f) => f,
            }
        } else {
            match send_from(
                store, client, &loc, offset, blob, id, total, &shown, progress,
            )
            .await
            {
                Ok((next, g)) => {
                    loc = next;
                    break g;
                }
                Err(f) => {
                    ask = true;
                    f
                }
            }
        };
        let err = match failure {
            UploadFailure::Fatal(e) => return Err(e),
            UploadFailure::Lost(e) if restarted => return Err(e),
            UploadFailure::Lost(e) => {
                tracing::info!("registry lost the upload of layer {id} ({e}); starting over");
                restarted = true;
                loc = client.start_upload().await?;
                offset = 0;
                ask = false;
                continue;
            }
            UploadFailure::Retry(e) => e,
        };
        failures += 1;
        if failures > RESUME_ATTEMPTS {
            return Err(err);
        }
        let wait = backoff(failures);
        tracing::warn!("upload of layer {id} interrupted ({err}); resuming in {wait:?}");
        let secs = wait.as_millis().div_ceil(1000);
        progress.layer(
            id,
            &format!(
                "Retrying in {secs} second{}",
                if secs == 1 { "" } else { "s" }
            ),
        );
        tokio::time::sleep(wait).await;
    };
    client.finish_upload(&loc, &g.digest).await?;
    progress.bytes(id, "Pushing", g.input, total);
    Ok(Descriptor {
        media_type: DOCKER_LAYER_GZIP.into(),
        digest: g.digest,
        size: g.size as i64,
        ..Default::default()
    })
}

/// One attempt: gzips the layer from the start, drops the first `offset`
/// compressed bytes (what the registry holds) and sends the rest to the
/// session at `loc`: everything as one streamed PATCH from zero, else in
/// `RESUME_CHUNK` pieces. Returns the session's last location and what
/// the compression produced.
#[allow(clippy::too_many_arguments)]
async fn send_from(
    store: &Arc<ImageStore>,
    client: &RepoClient,
    loc: &str,
    offset: u64,
    blob: &str,
    id: &str,
    total: Option<u64>,
    shown: &Arc<std::sync::atomic::AtomicU64>,
    progress: &Progress,
) -> std::result::Result<(String, gzip::Gzipped), UploadFailure> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let file = store
        .content()
        .open_blob(blob)
        .map_err(|e| UploadFailure::Fatal(e.into()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(8);
    let reporter = progress.clone();
    let id2 = id.to_string();
    let blob2 = blob.to_string();
    let shown2 = shown.clone();
    // Set when the stream's consumer went away (the request failed): the
    // producer's error is then a consequence, not the cause.
    let gone = Arc::new(AtomicBool::new(false));
    let gone2 = gone.clone();
    let producer = tokio::task::spawn_blocking(move || -> Result<gzip::Gzipped> {
        let mut input = Counting {
            inner: file,
            n: 0,
            last: 0,
            report: move |n| {
                if shown2.fetch_max(n, Ordering::Relaxed) < n {
                    reporter.bytes(&id2, "Pushing", n, total);
                }
            },
        };
        let sent = tx.clone();
        let mut pos = 0u64;
        let r = gzip::gzip(
            &mut input,
            flate2::Compression::fast(),
            gzip::default_threads(),
            |piece| {
                let Some(piece) = skip_prefix(&mut pos, offset, piece) else {
                    return Ok(());
                };
                sent.blocking_send(Ok(piece.into())).map_err(|_| {
                    gone2.store(true, Ordering::SeqCst);
                    std::io::Error::other("upload ended early")
                })
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
    let produced = async {
        producer
            .await
            .map_err(|e| RegistryError::Registry(e.to_string()))?
    };
    if offset == 0 {
        let body =
            reqwest::Body::wrap_stream(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        let (sent, g) = tokio::join!(client.patch_upload(loc, body, None), produced);
        return match (sent, g) {
            (Ok(next), Ok(g)) => Ok((next, g)),
            (Err(f), Err(_)) if gone.load(Ordering::SeqCst) => Err(f),
            // A failure of the producer explains a broken stream best.
            (_, Err(e)) => Err(UploadFailure::Fatal(e)),
            (Err(f), Ok(_)) => Err(f),
        };
    }
    // Owns the receiver: dropping it when the upload fails stops the producer.
    let chunks = async move {
        let mut loc = loc.to_string();
        let mut at = offset;
        let mut pending = bytes::BytesMut::new();
        let mut open = true;
        while open {
            match rx.recv().await {
                Some(Ok(piece)) => pending.extend_from_slice(&piece),
                // The producer failed; its own error says why.
                Some(Err(_)) => return Ok(loc),
                None => open = false,
            }
            while pending.len() >= RESUME_CHUNK || (!open && !pending.is_empty()) {
                let n = pending.len().min(RESUME_CHUNK);
                let chunk = pending.split_to(n).freeze();
                loc = client
                    .patch_upload(&loc, chunk.into(), Some((at, n as u64)))
                    .await?;
                at += n as u64;
            }
        }
        Ok(loc)
    };
    let (sent, g) = tokio::join!(chunks, produced);
    match (sent, g) {
        (Ok(next), Ok(g)) => Ok((next, g)),
        (Err(f), Err(_)) if gone.load(Ordering::SeqCst) => Err(f),
        (_, Err(e)) => Err(UploadFailure::Fatal(e)),
        (Err(f), Ok(_)) => Err(f),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumed_streams_skip_what_the_registry_holds() {
        // Pieces of 4, 4 and 3 bytes; the registry holds 6.
        let mut pos = 0;
        let pieces = [b"abcd".to_vec(), b"efgh".to_vec(), b"ijk".to_vec()];
        let out: Vec<Vec<u8>> = pieces
            .iter()
            .filter_map(|p| skip_prefix(&mut pos, 6, p.clone()))
            .collect();
        assert_eq!(out, [b"gh".to_vec(), b"ijk".to_vec()]);
        assert_eq!(pos, 11);
        // A boundary on a piece's end, and nothing to skip.
        let mut pos = 0;
        assert_eq!(skip_prefix(&mut pos, 4, b"abcd".to_vec()), None);
        assert_eq!(
            skip_prefix(&mut pos, 4, b"ef".to_vec()),
            Some(b"ef".to_vec())
        );
        let mut pos = 0;
        assert_eq!(
            skip_prefix(&mut pos, 0, b"ab".to_vec()),
            Some(b"ab".to_vec())
        );
    }

    #[test]
    fn resume_backoff_is_short_and_bounded() {
        let ms: Vec<u128> = (1..=6).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 5000, 5000]);
        assert_eq!(backoff(40).as_millis(), 5000);
    }
}
