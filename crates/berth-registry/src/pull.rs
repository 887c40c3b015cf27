//! Pull: resolve the manifest (an index picks this platform), fetch and
//! verify the config, then get the missing layers. On overlay2 every missing
//! layer (at most [`MAX_DOWNLOADS`] at once) streams from its HTTP body
//! through the blob digest, decompression and the diff_id hash into a staged
//! snapshot of its own, and the staged layers are committed onto each other
//! in order as soon as each one and all below it are there. On vfs, where a
//! layer starts as a copy of its parent, the first missing layer streams into
//! the store and the others download in parallel to temp files (verified
//! before anything touches the layer store) and are applied in order. A
//! failed pull keeps nothing. Last, the image is registered with its tag
//! and repository digest in one transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_image::reference::Reference;
use berth_image::{BlobSource, ImageStore, StagedLayer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::AuthConfig;
use crate::client::RepoClient;
use crate::error::{RegistryError, Result};
use crate::manifest::{self, Descriptor};
use crate::progress::{short_id, Progress};

/// Layers downloaded at once, as Docker's `max-concurrent-downloads`.
const MAX_DOWNLOADS: usize = 3;
const MAX_CONFIG: usize = 8 << 20;

/// The platform an index is resolved for.
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        other => other,
    };
    ("linux", arch)
}

pub struct PullOptions {
    pub auth: AuthConfig,
    /// Where downloads wait for their turn to be applied (same filesystem as
    /// the data root, so nothing big lands in /tmp).
    pub tmp_dir: PathBuf,
}

/// What a pull did, for the final status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    pub image_id: String,
    pub manifest_digest: String,
    /// False when the reference already pointed at this image.
    pub updated: bool,
}

/// How a missing layer gets to a vfs store: downloaded to a temp file by a
/// task of its own (in parallel, applied in turn), or, for the first missing
/// layer, streamed through digest check, decompression and unpacking in one
/// pass with no temp file.
enum Fetch {
    File(AbortOnDrop<Result<tempfile::NamedTempFile>>),
    Stream,
}

/// The blocking side of a streamed layer: chunks from [`RepoClient::stream_blob`].
/// The end of the stream is reported only after the empty chunk that says
/// the digest matched; anything else is an error, so the layer is discarded.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
    eof: bool,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            if self.eof {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(b)) if b.is_empty() => self.eof = true,
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "layer download ended early",
                    ))
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}

/// Cancels the remaining downloads when a pull fails half way.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Holds the store's layer pin on a thread of its own: the pin is a lock
/// guard, which must not live across `.await` points of a task that may move
/// between threads. [`PinHolder::release`] (or dropping the holder) releases it.
struct PinHolder {
    release: std::sync::mpsc::Sender<()>,
    released: tokio::sync::oneshot::Receiver<()>,
}

impl PinHolder {
    async fn new(store: Arc<ImageStore>) -> PinHolder {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (released_tx, released) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let pin = store.pin_layers();
            let _ = ready_tx.send(());
            // Returns when the holder (the sender) is dropped.
            let _ = wait.recv();
            drop(pin);
            let _ = released_tx.send(());
        });
        let _ = ready_rx.await;
        PinHolder { release, released }
    }

    /// Releases the pin and waits until it is released.
    async fn release(self) {
        drop(self.release);
        let _ = self.released.await;
    }
}

/// Pulls `r` into `store`: one tag or digest, or every tag of the repository
/// when `r` names neither (the API's empty `tag`, Docker's `pull --all-tags`).
/// Ends with Docker's one `Status:` line for the whole pull.
pub async fn pull(
    store: Arc<ImageStore>,
    r: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<PullOutcome> {
    let outcome = if r.tag.is_none() && r.digest.is_none() {
        pull_all_tags(store, r, opts, progress).await?
    } else {
        pull_tag(store, r, opts, progress).await?
    };
    let shown = r.familiar_string();
    if outcome.updated {
        progress.status(&format!("Status: Downloaded newer image for {shown}"));
    } else {
        progress.status(&format!("Status: Image is up to date for {shown}"));
    }
    Ok(outcome)
}

/// Every tag the registry lists for `r`'s repository, one after the other
/// (as Docker: the first failing tag fails the pull).
async fn pull_all_tags(
    store: Arc<ImageStore>,
    r: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<PullOutcome> {
    let client = RepoClient::new(&r.domain, &r.path, opts.auth.clone(), false).await?;
    let tags = client.list_tags().await?.ok_or_else(|| {
        if r.domain == berth_image::reference::DEFAULT_DOMAIN {
            RegistryError::PullDenied {
                name: r.familiar_name(),
            }
        } else {
            RegistryError::Registry(format!(
                "repository {} not found: name unknown: repository name not known to registry",
                r.familiar_name()
            ))
        }
    })?;
    let mut outcome = PullOutcome {
        image_id: String::new(),
        manifest_digest: String::new(),
        updated: false,
    };
    for tag in tags {
        let tagged = r.with_tag(&tag).map_err(|e| {
            RegistryError::InvalidManifest(format!("registry lists an invalid tag {tag:?}: {e}"))
        })?;
        let one = pull_tag(store.clone(), &tagged, opts, progress).await?;
        outcome = PullOutcome {
            updated: outcome.updated || one.updated,
            ..one
        };
    }
    Ok(outcome)
}

/// Pulls `r` (a tag or digest reference) into `store`.
async fn pull_tag(
    store: Arc<ImageStore>,
    r: &Reference,
    opts: &PullOptions,
    progress: &Progress,
) -> Result<PullOutcome> {
    let wanted = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let (client, (manifest_digest, m)) = match from_mirror(r, &wanted).await {
        Some(found) => found,
        None => {
            let client =
                Arc::new(RepoClient::new(&r.domain, &r.path, opts.auth.clone(), false).await?);
            let found = resolve_manifest(&client, r, &wanted).await?;
            (client, found)
        }
    };
    let config_desc = m
        .config
        .clone()
        .ok_or_else(|| RegistryError::InvalidManifest("manifest without config".into()))?;

    progress.with_id(&wanted, &format!("Pulling from {}", r.path));

    let config = client
        .get_blob_bytes(&config_desc.digest, MAX_CONFIG)
        .await?;
    let diff_ids = diff_ids(&config)?;
    if diff_ids.len() != m.layers.len() {
        return Err(RegistryError::InvalidManifest(format!(
            "{} layers in the manifest but {} in the image config",
            m.layers.len(),
            diff_ids.len()
        )));
    }
    let chains = berth_image::layer_chain_ids(&diff_ids);

    std::fs::create_dir_all(&opts.tmp_dir)
        .map_err(|e| RegistryError::io(format!("creating {}", opts.tmp_dir.display()), e))?;
    let pin = PinHolder::new(store.clone()).await;
    let job = LayerJob {
        store: store.clone(),
        client: client.clone(),
        layers: m.layers.clone(),
        diff_ids: diff_ids.clone(),
        chains,
        progress: progress.clone(),
    };
    let result = match get_layers(&job, &opts.tmp_dir).await {
        Ok(()) => register(&job, r, &manifest_digest, config).await,
        Err(e) => Err(e),
    };
    pin.release().await;
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            // Keep nothing: the layers committed before the failure are
            // used by no image.
            release_layers(store).await;
            return Err(e);
        }
    };
    progress.status(&format!("Digest: {manifest_digest}"));
    Ok(PullOutcome {
        manifest_digest,
        ..outcome
    })
}

/// What the layer downloads of one image pull share.
struct LayerJob {
    store: Arc<ImageStore>,
    client: Arc<RepoClient>,
    layers: Vec<Descriptor>,
    diff_ids: Vec<String>,
    chains: Vec<String>,
    progress: Progress,
}

impl LayerJob {
    fn id(&self, i: usize) -> String {
        short_id(&self.layers[i].digest)
    }

    fn parent(&self, i: usize) -> Option<String> {
        i.checked_sub(1).map(|p| self.chains[p].clone())
    }
}

/// Gets every layer the store does not have: on overlay2 all of them stream
/// into staged snapshots at once and are committed in order; on vfs (a
/// layer starts as a copy of its parent) the first streams into the store
/// and the others wait in temp files for their turn.
async fn get_layers(job: &LayerJob, tmp_dir: &Path) -> Result<()> {
    let mut missing = Vec::with_capacity(job.layers.len());
    for i in 0..job.layers.len() {
        let store = job.store.clone();
        let chain = job.chains[i].clone();
        let present = tokio::task::spawn_blocking(move || store.layer(&chain))
            .await
            .map_err(|e| RegistryError::Registry(e.to_string()))??
            .is_some();
        job.progress.layer(
            &job.id(i),
            if present {
                "Already exists"
            } else {
                "Pulling fs layer"
            },
        );
        missing.push(!present);
    }
    if job.store.can_stage_layers() {
        get_staged(job, &missing).await
    } else {
        get_in_order(job, &missing, tmp_dir).await
    }
}

/// One task per missing layer (at most [`MAX_DOWNLOADS`] at work) streams
/// its blob through the digest check and decompression into a staged
/// snapshot; layer `i` is committed as soon as it and every layer below it
/// are staged. The first failure cancels the other tasks and waits for them,
/// so what they unpacked is gone when the pull returns.
async fn get_staged(job: &LayerJob, missing: &[bool]) -> Result<()> {
    let n = job.layers.len();
    let sem = Arc::new(Semaphore::new(MAX_DOWNLOADS));
    let cancel = CancellationToken::new();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for i in (0..n).filter(|i| missing[*i]) {
        let task = stage_one(
            job.store.clone(),
            job.client.clone(),
            job.layers[i].clone(),
            job.diff_ids[i].clone(),
            sem.clone(),
            cancel.clone(),
            job.progress.clone(),
        );
        let done = done_tx.clone();
        tasks.push(AbortOnDrop(tokio::spawn(async move {
            let _ = done.send((i, task.await));
        })));
    }
    drop(done_tx);
    let mut staged: Vec<Option<StagedLayer>> = (0..n).map(|_| None).collect();
    let mut next = 0;
    let result = async {
        loop {
            while next < n && (!missing[next] || staged[next].is_some()) {
                if let Some(layer) = staged[next].take() {
                    let store = job.store.clone();
                    let parent = job.parent(next);
                    tokio::task::spawn_blocking(move || {
                        store.commit_staged(layer, parent.as_deref())
                    })
                    .await
                    .map_err(|e| RegistryError::Registry(e.to_string()))??;
                    job.progress.layer(&job.id(next), "Pull complete");
                }
                next += 1;
            }
            if next == n {
                return Ok(());
            }
            let (i, layer) = done_rx.recv().await.ok_or_else(|| {
                RegistryError::Registry("a layer download ended without a result".into())
            })?;
            staged[i] = Some(layer?);
        }
    }
    .await;
    if result.is_err() {
        cancel.cancel();
        for t in &mut tasks {
            let _ = (&mut t.0).await;
        }
        while let Ok((_, layer)) = done_rx.try_recv() {
            staged.push(layer.ok());
        }
        let left: Vec<StagedLayer> = staged.into_iter().flatten().collect();
        if !left.is_empty() {
            // Dropping a staged layer removes its snapshot dir.
            let _ = tokio::task::spawn_blocking(move || drop(left)).await;
        }
    }
    result
}

/// Waits for a download slot; says "Waiting" when it has to.
async fn download_slot(
    sem: &Arc<Semaphore>,
    progress: &Progress,
    id: &str,
) -> Result<tokio::sync::OwnedSemaphorePermit> {
    match sem.clone().try_acquire_owned() {
        Ok(p) => Ok(p),
        Err(_) => {
            progress.layer(id, "Waiting");
            sem.clone()
                .acquire_owned()
                .await
                .map_err(|e| RegistryError::Registry(e.to_string()))
        }
    }
}

fn cancelled() -> RegistryError {
    RegistryError::Registry("pull cancelled".into())
}

/// Streams one layer into a staged snapshot: the HTTP body is hashed on
/// this task and handed over in >=256 KiB chunks to a blocking thread that
/// decompresses, hashes (diff_id), keeps the uncompressed blob and unpacks.
/// The applier sees the end of the stream only once the blob digest
/// matched; a bad blob or broken download is a read error, and the applier
/// removes what it unpacked before this returns.
async fn stage_one(
    store: Arc<ImageStore>,
    client: Arc<RepoClient>,
    layer: Descriptor,
    diff_id: String,
    sem: Arc<Semaphore>,
    cancel: CancellationToken,
    progress: Progress,
) -> Result<StagedLayer> {
    let id = short_id(&layer.digest);
    let _permit = tokio::select! {
        p = download_slot(&sem, &progress, &id) => p?,
        _ = cancel.cancelled() => return Err(cancelled()),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let apply = tokio::task::spawn_blocking(move || {
        let mut r = ChannelReader {
            rx,
            cur: bytes::Bytes::new(),
            eof: false,
        };
        store.stage_layer(&mut r, &diff_id)
    });
    let mut last = 0u64;
    let fetched = tokio::select! {
        r = client.stream_blob(&layer.digest, &tx, |cur, total| {
            // Throttle: one message per 512 KiB.
            if cur - last >= 512 * 1024 || Some(cur) == total {
                last = cur;
                progress.bytes(&id, "Downloading", cur, total);
            }
        }) => r,
        _ = cancel.cancelled() => Err(cancelled()),
    };
    if let Err(e) = &fetched {
        // The applier fails on this (or on the closed channel) and
        // discards what it unpacked.
        let _ = tx.try_send(Err(std::io::Error::other(e.to_string())));
    }
    drop(tx);
    if let Ok(n) = &fetched {
        progress.layer(&id, "Verifying Checksum");
        progress.layer(&id, "Download complete");
        progress.bytes(&id, "Extracting", *n, Some(*n));
    }
    let staged = apply
        .await
        .map_err(|e| RegistryError::Registry(e.to_string()))?;
    // A download error explains a failed unpack best.
    fetched?;
    Ok(staged?)
}

/// vfs: layers are applied one after the other, each onto a copy of its
/// parent. The first missing layer streams straight into the store; the
/// others download in parallel to temp files meanwhile.
async fn get_in_order(job: &LayerJob, missing: &[bool], tmp_dir: &Path) -> Result<()> {
    let sem = Arc::new(Semaphore::new(MAX_DOWNLOADS));
    let mut downloads = Vec::new();
    for (i, layer) in job.layers.iter().enumerate() {
        if !missing[i] {
            downloads.push(None);
            continue;
        }
        if !downloads.iter().any(|d| matches!(d, Some(Fetch::Stream))) {
            // The first missing layer can be applied as it arrives.
            downloads.push(Some(Fetch::Stream));
            continue;
        }
        let task = tokio::spawn(download(
            job.client.clone(),
            layer.clone(),
            tmp_dir.to_path_buf(),
            sem.clone(),
            job.progress.clone(),
        ));
        downloads.push(Some(Fetch::File(AbortOnDrop(task))));
    }
    for (i, dl) in downloads.iter_mut().enumerate() {
        let id = job.id(i);
        let store2 = job.store.clone();
        let diff_id = job.diff_ids[i].clone();
        let p = job.parent(i);
        match dl {
            None => {}
            Some(Fetch::File(handle)) => {
                let file = (&mut handle.0)
                    .await
                    .map_err(|e| RegistryError::Registry(format!("download task: {e}")))??;
                tokio::task::spawn_blocking(move || -> Result<()> {
                    let mut f = std::fs::File::open(file.path())
                        .map_err(|e| RegistryError::io("opening download", e))?;
                    store2.apply_layer(&mut f, p.as_deref(), &diff_id)?;
                    Ok(())
                })
                .await
                .map_err(|e| RegistryError::Registry(e.to_string()))??;
                job.progress.layer(&id, "Pull complete");
            }
            Some(Fetch::Stream) => {
                let (tx, rx) = tokio::sync::mpsc::channel(8);
                let apply = tokio::task::spawn_blocking(move || -> Result<()> {
                    let mut r = ChannelReader {
                        rx,
                        cur: bytes::Bytes::new(),
                        eof: false,
                    };
                    store2.apply_layer(&mut r, p.as_deref(), &diff_id)?;
                    Ok(())
                });
                let mut last = 0u64;
                let fetched = job
                    .client
                    .stream_blob(&job.layers[i].digest, &tx, |cur, total| {
                        if cur - last >= 512 * 1024 || Some(cur) == total {
                            last = cur;
                            job.progress.bytes(&id, "Downloading", cur, total);
                        }
                    })
                    .await;
                if let Err(e) = &fetched {
                    // The applier discards what it unpacked.
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                }
                drop(tx);
                let applied = apply
                    .await
                    .map_err(|e| RegistryError::Registry(e.to_string()))?;
                // A download error explains a failed apply best.
                fetched?;
                applied?;
                job.progress.layer(&id, "Verifying Checksum");
                job.progress.layer(&id, "Download complete");
                job.progress.layer(&id, "Pull complete");
            }
        }
    }
    Ok(())
}

/// After a failed pull: drops the layers it committed (no image uses them),
/// unless other layer work is going on; then a later prune does.
async fn release_layers(store: Arc<ImageStore>) {
    let pruned = tokio::task::spawn_blocking(move || store.try_prune_layers()).await;
    match pruned {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => tracing::debug!("layers of a failed pull are left for a later prune"),
        Ok(Err(e)) => tracing::warn!(%e, "removing the layers of a failed pull"),
        Err(e) => tracing::warn!(%e, "removing the layers of a failed pull"),
    }
}

/// Registers the image with its tag and repository digest in one
/// transaction, and where each layer came from.
async fn register(
    job: &LayerJob,
    r: &Reference,
    manifest_digest: &str,
    config: Vec<u8>,
) -> Result<PullOutcome> {
    let repository = r.name();
    let tag_ref = r
        .tag
        .as_ref()
        .filter(|_| r.digest.is_none())
        .map(|_| r.clone());
    let digest_ref = Reference {
        domain: r.domain.clone(),
        path: r.path.clone(),
        tag: None,
        digest: Some(manifest_digest.to_string()),
    };
    let store2 = job.store.clone();
    let layers = job.layers.clone();
    let ids = job.diff_ids.clone();
    tokio::task::spawn_blocking(move || -> Result<PullOutcome> {
        let shown = tag_ref.clone().unwrap_or_else(|| digest_ref.clone());
        let before = store2.resolve(&shown.to_string()).ok().map(|i| i.id);
        let mut refs = vec![(digest_ref, true)];
        if let Some(t) = tag_ref {
            refs.push((t, false));
        }
        let image_id = store2.register_config(&config, &refs)?;
        for (l, diff_id) in layers.iter().zip(&ids) {
            store2.record_blob_source(
                diff_id,
                &BlobSource {
                    digest: l.digest.clone(),
                    media_type: l.media_type.clone(),
                    size: l.size,
                    repository: repository.clone(),
                },
            )?;
        }
        Ok(PullOutcome {
            updated: before.as_deref() != Some(image_id.as_str()),
            image_id,
            manifest_digest: String::new(),
        })
    })
    .await
    .map_err(|e| RegistryError::Registry(e.to_string()))?
}

/// GETs the manifest by tag or digest; an index resolves to this platform's
/// manifest. Returns (digest of the manifest the user named, image manifest).
/// For the default registry, the first `--registry-mirror` that has the
/// manifest, with a client for the rest of the pull (its blobs); None when
/// there is no mirror or none has it, so the registry itself is asked.
async fn from_mirror(
    r: &Reference,
    wanted: &str,
) -> Option<(Arc<RepoClient>, (String, manifest::Manifest))> {
    for (mirror, client) in crate::client::mirror_clients(r) {
        let client = Arc::new(client);
        match resolve_manifest(&client, r, wanted).await {
            Ok(found) => return Some((client, found)),
            Err(e) => tracing::info!("registry mirror {mirror} has no {wanted}: {e}"),
        }
    }
    None
}

async fn resolve_manifest(
    client: &RepoClient,
    r: &Reference,
    wanted: &str,
) -> Result<(String, manifest::Manifest)> {
    let not_found = || {
        if r.domain == berth_image::reference::DEFAULT_DOMAIN {
            RegistryError::PullDenied {
                name: r.familiar_name(),
            }
        } else {
            RegistryError::ManifestUnknown {
                reference: r.familiar_string(),
            }
        }
    };
    let (bytes, ct, digest) = client.get_manifest(wanted).await?.ok_or_else(not_found)?;
    if r.digest.as_deref().is_some_and(|d| d != digest) {
        return Err(RegistryError::ManifestVerification {
            digest: wanted.to_string(),
        });
    }
    let m = manifest::parse(&bytes, Some(&ct))
        .map_err(|e| RegistryError::InvalidManifest(e.to_string()))?;
    if !m.media_type.is_index() {
        return Ok((digest, m));
    }
    let (os, arch) = host_platform();
    let entry = m
        .select_platform(os, arch)
        .ok_or_else(|| RegistryError::NoMatchingPlatform {
            platform: format!("{os}/{arch}"),
        })?;
    let (child, cct, cdigest) = client
        .get_manifest(&entry.digest)
        .await?
        .ok_or_else(not_found)?;
    if cdigest != entry.digest {
        return Err(RegistryError::ManifestVerification {
            digest: entry.digest.clone(),
        });
    }
    let cm = manifest::parse(&child, Some(&cct))
        .map_err(|e| RegistryError::InvalidManifest(e.to_string()))?;
    if cm.media_type.is_index() {
        return Err(RegistryError::InvalidManifest("nested index".into()));
    }
    Ok((digest, cm))
}

fn diff_ids(config: &[u8]) -> Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct RootFs {
        #[serde(default)]
        diff_ids: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Cfg {
        rootfs: RootFs,
    }
    let c: Cfg = serde_json::from_slice(config)
        .map_err(|e| RegistryError::InvalidManifest(format!("invalid image config: {e}")))?;
    Ok(c.rootfs.diff_ids)
}

/// Downloads one layer into a temp file, verified.
async fn download(
    client: Arc<RepoClient>,
    layer: Descriptor,
    tmp_dir: PathBuf,
    sem: Arc<Semaphore>,
    progress: Progress,
) -> Result<tempfile::NamedTempFile> {
    let id = short_id(&layer.digest);
    let _permit = match sem.try_acquire() {
        Ok(p) => p,
        Err(_) => {
            progress.layer(&id, "Waiting");
            sem.acquire()
                .await
                .map_err(|e| RegistryError::Registry(e.to_string()))?
        }
    };
    let tmp = new_temp(&tmp_dir)?;
    let mut f = tokio::fs::File::from_std(
        tmp.reopen()
            .map_err(|e| RegistryError::io("opening download", e))?,
    );
    let mut last = 0u64;
    client
        .download_blob(&layer.digest, &mut f, |cur, total| {
            // Throttle: one message per 512 KiB.
            if cur - last >= 512 * 1024 || Some(cur) == total {
                last = cur;
                progress.bytes(&id, "Downloading", cur, total);
            }
        })
        .await?;
    progress.layer(&id, "Verifying Checksum");
    progress.layer(&id, "Download complete");
    Ok(tmp)
}

fn new_temp(dir: &Path) -> Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".pull-")
        .tempfile_in(dir)
        .map_err(|e| RegistryError::io(format!("creating temp file in {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_diff_ids() {
        let c = br#"{"rootfs":{"type":"layers","diff_ids":["sha256:a","sha256:b"]}}"#;
        assert_eq!(diff_ids(c).unwrap(), vec!["sha256:a", "sha256:b"]);
        assert!(diff_ids(b"{}").is_err());
        assert_eq!(host_platform().0, "linux");
    }
}
