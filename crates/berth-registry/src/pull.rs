//! Pull: resolve the manifest (an index picks this platform), fetch and
//! verify the config, then get the missing layers: the first one streams
//! straight into the layer store (hashed as it arrives, decompressed and
//! unpacked in the same pass; the layer is kept only when both the blob
//! digest and the diff_id match), the others download in parallel to temp
//! files (verified before anything touches the layer store) and are applied
//! in order. Last, the image is registered with its tag and repository
//! digest in one transaction.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_image::reference::Reference;
use berth_image::{BlobSource, ImageStore};
use tokio::sync::Semaphore;

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

/// How a missing layer gets to the store: downloaded to a temp file by a
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
/// between threads. Dropping the holder releases it.
struct PinHolder {
    _release: std::sync::mpsc::Sender<()>,
}

impl PinHolder {
    async fn new(store: Arc<ImageStore>) -> PinHolder {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _pin = store.pin_layers();
            let _ = ready_tx.send(());
            // Returns when the holder (the sender) is dropped.
            let _ = wait.recv();
        });
        let _ = ready_rx.await;
        PinHolder { _release: release }
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
    let _pin = PinHolder::new(store.clone()).await;

    // Start every missing download; apply in order below.
    let sem = Arc::new(Semaphore::new(MAX_DOWNLOADS));
    let mut downloads = Vec::new();
    for (i, layer) in m.layers.iter().enumerate() {
        let id = short_id(&layer.digest);
        let store2 = store.clone();
        let chain = chains[i].clone();
        let present = tokio::task::spawn_blocking(move || store2.layer(&chain))
            .await
            .map_err(|e| RegistryError::Registry(e.to_string()))??
            .is_some();
        if present {
            progress.layer(&id, "Already exists");
            downloads.push(None);
            continue;
        }
        progress.layer(&id, "Pulling fs layer");
        if !downloads.iter().any(|d| matches!(d, Some(Fetch::Stream))) {
            // The first missing layer can be applied as it arrives.
            downloads.push(Some(Fetch::Stream));
            continue;
        }
        let task = tokio::spawn(download(
            client.clone(),
            layer.clone(),
            opts.tmp_dir.clone(),
            sem.clone(),
            progress.clone(),
        ));
        downloads.push(Some(Fetch::File(AbortOnDrop(task))));
    }
    let mut parent: Option<String> = None;
    for (i, dl) in downloads.iter_mut().enumerate() {
        let id = short_id(&m.layers[i].digest);
        let store2 = store.clone();
        let diff_id = diff_ids[i].clone();
        let p = parent.clone();
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
                progress.layer(&id, "Pull complete");
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
                let fetched = client
                    .stream_blob(&m.layers[i].digest, &tx, |cur, total| {
                        if cur - last >= 512 * 1024 || Some(cur) == total {
                            last = cur;
                            progress.bytes(&id, "Downloading", cur, total);
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
                progress.layer(&id, "Verifying Checksum");
                progress.layer(&id, "Download complete");
                progress.layer(&id, "Pull complete");
            }
        }
        parent = Some(chains[i].clone());
    }

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
        digest: Some(manifest_digest.clone()),
    };
    let store2 = store.clone();
    let layers = m.layers.clone();
    let ids = diff_ids.clone();
    let outcome = tokio::task::spawn_blocking(move || -> Result<PullOutcome> {
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
    .map_err(|e| RegistryError::Registry(e.to_string()))??;

    progress.status(&format!("Digest: {manifest_digest}"));
    Ok(PullOutcome {
        manifest_digest,
        ..outcome
    })
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
    if r.domain != berth_image::reference::DEFAULT_DOMAIN {
        return None;
    }
    for mirror in crate::settings::get().mirrors() {
        let client = match RepoClient::at(mirror, &r.domain, &r.path, AuthConfig::default(), false)
        {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::warn!("registry mirror {mirror}: {e}");
                continue;
            }
        };
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
