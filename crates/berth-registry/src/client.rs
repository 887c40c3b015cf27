//! HTTP client for one repository of one registry: requests with the
//! registry's auth dance (try, read the 401 challenge, answer with Basic
//! credentials or a bearer token, retry once), manifests, blobs, uploads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::header::{
    HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION,
};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::auth::{AuthConfig, Challenge};
use crate::error::{RegistryError, Result};
use crate::manifest;

/// Docker treats loopback registries as insecure: plain HTTP.
pub fn is_loopback(domain: &str) -> bool {
    let host = match domain.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => domain,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `http://127.0.0.1:5000`, `https://registry-1.docker.io`, ... as far as
/// it is known without asking the registry: loopback registries speak plain
/// HTTP, every other one HTTPS, except an `--insecure-registry` one whose
/// probe (see [`resolve_base`]) fell back to HTTP.
pub fn registry_base(domain: &str) -> String {
    if domain == berth_image::reference::DEFAULT_DOMAIN {
        return "https://registry-1.docker.io".into();
    }
    let scheme = if is_loopback(domain) {
        "http"
    } else {
        probed_scheme(domain).unwrap_or("https")
    };
    format!("{scheme}://{domain}")
}

/// The scheme each insecure registry answered on, for the process's life.
static SCHEMES: LazyLock<Mutex<HashMap<String, &'static str>>> = LazyLock::new(Default::default);

fn probed_scheme(domain: &str) -> Option<&'static str> {
    SCHEMES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(domain)
        .copied()
}

/// The base URL for `domain`, deciding the scheme of an `--insecure-registry`
/// host the way Docker does: HTTPS first (its certificate is not verified),
/// plain HTTP when that fails (a TLS handshake with a plain-HTTP server
/// does). The probe is a `GET /v2/` (the registry's ping); its outcome is
/// kept for the process, so a registry costs one probe. Loopback registries
/// stay plain HTTP, unprobed.
pub async fn resolve_base(domain: &str) -> Result<String> {
    if domain == berth_image::reference::DEFAULT_DOMAIN
        || is_loopback(domain)
        || !crate::settings::get().is_insecure(domain)
        || probed_scheme(domain).is_some()
    {
        return Ok(registry_base(domain));
    }
    let http = http_client(domain)?;
    let ping = |scheme: &str| {
        http.get(format!("{scheme}://{domain}/v2/"))
            .timeout(Duration::from_secs(15))
            .send()
    };
    let scheme = match ping("https").await {
        Ok(_) => Some("https"),
        Err(e) => {
            tracing::info!(
                "insecure registry {domain}: HTTPS failed ({}), trying HTTP",
                describe(&e)
            );
            ping("http").await.is_ok().then_some("http")
        }
    };
    match scheme {
        Some(s) => {
            SCHEMES
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(domain.to_string(), s);
            Ok(format!("{s}://{domain}"))
        }
        // Neither answered: say so in HTTP's words, and ask again next time.
        None => Ok(format!("http://{domain}")),
    }
}

/// Where per-registry TLS files are looked for: `$BERTH_CERTS_D` alone
/// when set (tests), else `/etc/berth/certs.d` then Docker's
/// `/etc/docker/certs.d`.
fn certs_d_roots() -> Vec<PathBuf> {
    match std::env::var_os("BERTH_CERTS_D") {
        Some(d) if !d.is_empty() => vec![PathBuf::from(d)],
        _ => vec![
            PathBuf::from("/etc/berth/certs.d"),
            PathBuf::from("/etc/docker/certs.d"),
        ],
    }
}

/// A registry's TLS material from `<root>/<host[:port]>/`, as Docker reads
/// it: every `*.crt` is a CA trusted besides the built-in roots, a
/// `*.cert` with the `*.key` of the same name is a client certificate.
#[derive(Default)]
pub(crate) struct CertsD {
    /// PEM of the extra CAs.
    pub cas: Vec<Vec<u8>>,
    /// PEM of the client certificate followed by its key.
    pub identity: Option<Vec<u8>>,
}

/// The files for `domain` in the first root that has a directory for it.
pub(crate) fn certs_d(roots: &[PathBuf], domain: &str) -> Result<CertsD> {
    let mut out = CertsD::default();
    let Some(dir) = roots.iter().map(|r| r.join(domain)).find(|d| d.is_dir()) else {
        return Ok(out);
    };
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| RegistryError::io(format!("reading {}", p.display()), e))
    };
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| RegistryError::io(format!("reading {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    for p in &names {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => out.cas.push(read(p)?),
            Some("cert") => {
                let key = p.with_extension("key");
                if !key.exists() {
                    return Err(RegistryError::InvalidParameter(format!(
                        "missing key {} for client certificate {}. CA certificates must use the extension .crt",
                        key.display(),
                        p.display()
                    )));
                }
                if out.identity.is_none() {
                    let mut pem = read(p)?;
                    pem.push(b'\n');
                    pem.extend(read(&key)?);
                    out.identity = Some(pem);
                }
            }
            Some("key") if !p.with_extension("cert").exists() => {
                return Err(RegistryError::InvalidParameter(format!(
                    "missing client certificate {} for key {}",
                    p.with_extension("cert").display(),
                    p.display()
                )));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A reqwest error with its causes, as Go prints a wrapped error; a
/// certificate no trusted CA signed reads as Docker's x509 error.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    let all = parts.join(": ");
    if all.contains("UnknownIssuer") {
        return format!(
            "{}: tls: failed to verify certificate: x509: certificate signed by unknown authority",
            parts[0]
        );
    }
    all
}

pub(crate) fn http_client(domain: &str) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")));
    if is_loopback(domain) {
        // A proxy configured for the outside world must not see loopback.
        b = b.no_proxy();
    } else if crate::settings::get().is_insecure(domain) {
        // Docker: an insecure registry's HTTPS is not verified.
        b = b.danger_accept_invalid_certs(true);
    }
    let files = certs_d(&certs_d_roots(), domain)?;
    for pem in &files.cas {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| RegistryError::http(format!("CA certificates for {domain}"), e))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let Some(pem) = &files.identity {
        let id = reqwest::Identity::from_pem(pem)
            .map_err(|e| RegistryError::http(format!("client certificate for {domain}"), e))?;
        b = b.identity(id);
    }
    b.build()
        .map_err(|e| RegistryError::http("building HTTP client", e))
}

/// `errors[0]` of a registry error body as Docker prints it:
/// `manifest unknown: manifest unknown`.
pub(crate) fn error_text(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct E {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    #[derive(serde::Deserialize)]
    struct Errs {
        #[serde(default)]
        errors: Vec<E>,
    }
    if let Ok(e) = serde_json::from_slice::<Errs>(body) {
        if let Some(first) = e.errors.first() {
            let code = first.code.replace('_', " ").to_lowercase();
            return format!("{code}: {}", first.message);
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("received unexpected HTTP status: {status}")
    } else {
        format!("received unexpected HTTP status: {status}: {text}")
    }
}

/// Anonymous clients for the `--registry-mirror`s of `r`'s repository, in
/// order, with the mirror each asks; none unless `r` is on Docker Hub (the
/// only registry mirrors stand in for). A mirror that cannot be set up is
/// logged and left out.
pub(crate) fn mirror_clients(r: &berth_image::reference::Reference) -> Vec<(String, RepoClient)> {
    if r.domain != berth_image::reference::DEFAULT_DOMAIN {
        return Vec::new();
    }
    crate::settings::get()
        .mirrors()
        .iter()
        .filter_map(|mirror| {
            match RepoClient::at(mirror, &r.domain, &r.path, AuthConfig::default(), false) {
                Ok(c) => Some((mirror.clone(), c)),
                Err(e) => {
                    tracing::warn!("registry mirror {mirror}: {e}");
                    None
                }
            }
        })
        .collect()
}

pub struct RepoClient {
    http: reqwest::Client,
    base: String,
    /// Path in the registry: `compat/bb`, `library/busybox`.
    pub repo: String,
    creds: AuthConfig,
    /// `pull` or `pull,push`: the bearer token scope.
    actions: &'static str,
    authorization: Mutex<Option<String>>,
}

/// A request body that can be made again for the retry after a challenge.
type BodyFn<'a> = &'a (dyn Fn() -> Result<reqwest::Body> + Sync);

impl RepoClient {
    /// A client for `repo` at `domain` (for an insecure registry, after the
    /// probe that picks HTTPS or HTTP).
    pub async fn new(
        domain: &str,
        repo: &str,
        creds: AuthConfig,
        push: bool,
    ) -> Result<RepoClient> {
        RepoClient::at(&resolve_base(domain).await?, domain, repo, creds, push)
    }

    /// A client for `repo` at the base URL `base` (a mirror of `domain`).
    pub fn at(
        base: &str,
        domain: &str,
        repo: &str,
        creds: AuthConfig,
        push: bool,
    ) -> Result<RepoClient> {
        let authorization =
            (!creds.registrytoken.is_empty()).then(|| format!("Bearer {}", creds.registrytoken));
        Ok(RepoClient {
            http: http_client(domain)?,
            base: base.to_string(),
            repo: repo.to_string(),
            creds,
            actions: if push { "pull,push" } else { "pull" },
            authorization: Mutex::new(authorization),
        })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repo)
    }

    fn current_auth(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Option<BodyFn<'_>>,
    ) -> Result<Response> {
        let mut retried = false;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url)
                .headers(headers.clone());
            if let Some(a) = self.current_auth() {
                req = req.header(AUTHORIZATION, a);
            }
            if let Some(b) = body {
                req = req.body(b()?);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| RegistryError::http(format!("{method} {url:?}"), e))?;
            if resp.status() != StatusCode::UNAUTHORIZED || retried {
                return Ok(resp);
            }
            retried = true;
            let challenge = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse);
            let Some(challenge) = challenge else {
                return Ok(resp);
            };
            let header = self.answer(&challenge, &method, url).await?;
            *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) = Some(header);
        }
    }

    /// The Authorization header answering a challenge.
    async fn answer(&self, c: &Challenge, method: &Method, url: &str) -> Result<String> {
        match c {
            Challenge::Basic => {
                if !self.creds.has_basic() {
                    return Err(RegistryError::NoCredentials {
                        method: title_case(method.as_str()),
                        url: url.to_string(),
                    });
                }
                Ok(self.creds.basic_header())
            }
            Challenge::Bearer { realm, service, .. } => {
                let scope = format!("repository:{}:{}", self.repo, self.actions);
                let token = fetch_token(
                    &self.http,
                    &self.creds,
                    realm,
                    service.as_deref(),
                    Some(&scope),
                )
                .await?;
                Ok(format!("Bearer {token}"))
            }
        }
    }

    /// GET (or HEAD) a manifest: (bytes, content type, digest). `None` when
    /// the registry does not know it.
    pub async fn get_manifest(&self, reference: &str) -> Result<Option<(Vec<u8>, String, String)>> {
        let url = self.url(&format!("manifests/{reference}"));
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, manifest::ACCEPT.parse().expect("static header"));
        let resp = self.send(Method::GET, &url, h, None).await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let ct = header_str(resp.headers(), CONTENT_TYPE.as_str());
        let body = resp
            .bytes()
            .await
            .map_err(|e| RegistryError::http(format!("reading manifest {reference}"), e))?;
        if !status.is_success() {
            return Err(self.status_error(status, &body));
        }
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(&body)));
        Ok(Some((body.to_vec(), ct, digest)))
    }

    fn status_error(&self, status: StatusCode, body: &[u8]) -> RegistryError {
        RegistryError::Registry(error_text(status, body))
    }

    pub async fn blob_exists(&self, digest: &str) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self
            .send(Method::HEAD, &url, HeaderMap::new(), None)
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.status_error(s, &[])),
        }
    }

    async fn open_blob(&self, digest: &str) -> Result<Response> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::GET, &url, HeaderMap::new(), None).await?;
        if !resp.status().is_success() {
            let s = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            return Err(self.status_error(s, &body));
        }
        Ok(resp)
    }

    /// A small blob (image config), verified against its digest.
    pub async fn get_blob_bytes(&self, digest: &str, limit: usize) -> Result<Vec<u8>> {
        let resp = self.open_blob(digest).await?;
        let mut out = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| RegistryError::http(format!("reading blob {digest}"), e))?;
            out.extend_from_slice(&chunk);
            if out.len() > limit {
                return Err(RegistryError::InvalidParameter(format!(
                    "blob {digest} is too large"
                )));
            }
        }
        if format!("sha256:{}", hex::encode(Sha256::digest(&out))) != digest {
            return Err(RegistryError::ConfigVerification {
                digest: digest.to_string(),
            });
        }
        Ok(out)
    }

    /// Streams a blob into `dest`, hashing as it goes. A blob whose bytes do
    /// not match `digest` is an error; the caller discards the file.
    pub async fn download_blob(
        &self,
        digest: &str,
        dest: &mut tokio::fs::File,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<u64> {
        let resp = self.open_blob(digest).await?;
        let total = resp.content_length();
        let mut stream = resp.bytes_stream();
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| RegistryError::http(format!("reading blob {digest}"), e))?;
            h.update(&chunk);
            dest.write_all(&chunk)
                .await
                .map_err(|e| RegistryError::io("writing download", e))?;
            n += chunk.len() as u64;
            progress(n, total);
        }
        dest.flush()
            .await
            .map_err(|e| RegistryError::io("writing download", e))?;
        if format!("sha256:{}", hex::encode(h.finalize())) != digest {
            return Err(RegistryError::LayerVerification {
                digest: digest.to_string(),
            });
        }
        Ok(n)
    }

    /// Streams a blob into `tx` in chunks of at least 256 KiB (one wakeup of
    /// the consumer each), hashing as it goes. The end is an empty chunk,
    /// sent only when the bytes match `digest`; otherwise the consumer gets
    /// an error instead, so it never mistakes a bad blob for a complete one.
    /// A consumer that stops early (it failed) does not stop the download:
    /// the rest is still read and verified, so a corrupt blob is reported as
    /// such rather than as whatever the consumer made of it.
    pub async fn stream_blob(
        &self,
        digest: &str,
        tx: &tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<u64> {
        let resp = self.open_blob(digest).await?;
        let total = resp.content_length();
        let mut stream = resp.bytes_stream();
        let mut h = Sha256::new();
        let mut n = 0u64;
        let mut chunks = crate::coalesce::Coalescer::default();
        let mut open = true;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| RegistryError::http(format!("reading blob {digest}"), e))?;
            h.update(&chunk);
            n += chunk.len() as u64;
            progress(n, total);
            if !open {
                continue;
            }
            if let Some(out) = chunks.push(chunk) {
                open = tx.send(Ok(out)).await.is_ok();
            }
        }
        if let Some(rest) = chunks.finish().filter(|_| open) {
            open = tx.send(Ok(rest)).await.is_ok();
        }
        if format!("sha256:{}", hex::encode(h.finalize())) != digest {
            return Err(RegistryError::LayerVerification {
                digest: digest.to_string(),
            });
        }
        if open {
            let _ = tx.send(Ok(bytes::Bytes::new())).await;
        }
        Ok(n)
    }

    /// Cross-repository mount; true when the registry linked the blob.
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<bool> {
        let url = self.url(&format!("blobs/uploads/?mount={digest}&from={from}"));
        let resp = self
            .send(Method::POST, &url, HeaderMap::new(), None)
            .await?;
        let status = resp.status();
        if status == StatusCode::CREATED {
            return Ok(true);
        }
        if status == StatusCode::ACCEPTED {
            // An upload was started instead: cancel it, we upload our own.
            if let Some(loc) = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok()) {
                let loc = self.resolve(loc);
                let _ = self
                    .send(Method::DELETE, &loc, HeaderMap::new(), None)
                    .await;
            }
            return Ok(false);
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(self.status_error(status, &body))
    }

    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }
    }

    /// Closes the upload session at `loc` with `PUT ?digest=`, carrying
    /// `data` (empty when the content went up in PATCHes).
    async fn put_digest(&self, loc: &str, digest: &str, data: bytes::Bytes) -> Result<()> {
        let sep = if loc.contains('?') { '&' } else { '?' };
        let put_url = format!("{loc}{sep}digest={digest}");
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            "application/octet-stream".parse().expect("static header"),
        );
        h.insert(CONTENT_LENGTH, data.len().into());
        let body = move || -> Result<reqwest::Body> { Ok(reqwest::Body::from(data.clone())) };
        let resp = self.send(Method::PUT, &put_url, h, Some(&body)).await?;
        self.expect_status(resp, StatusCode::CREATED).await?;
        Ok(())
    }

    /// The response when its status is `ok`, else the registry's error.
    async fn expect_status(
        &self,
        resp: reqwest::Response,
        ok: StatusCode,
    ) -> Result<reqwest::Response> {
        let status = resp.status();
        if status != ok {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(self.status_error(status, &body));
        }
        Ok(resp)
    }

    /// Opens an upload session; returns its location.
    pub(crate) async fn start_upload(&self) -> Result<String> {
        let url = self.url("blobs/uploads/");
        let resp = self
            .send(Method::POST, &url, HeaderMap::new(), None)
            .await?;
        let resp = self.expect_status(resp, StatusCode::ACCEPTED).await?;
        let loc = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Registry("upload session without Location".into()))?;
        Ok(self.resolve(loc))
    }

    /// The session's next location: the response's `Location` (the
    /// reference registry renews its `_state` with every answer) or `loc`.
    fn next_location(&self, resp: &Response, loc: &str) -> String {
        resp.headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| self.resolve(l))
            .unwrap_or_else(|| loc.to_string())
    }

    /// A PATCH to upload session `loc`; its next location. The session has
    /// been authorised by the POST, so the request is sent once. With
    /// `range` (`start`, `len`), a chunk that must continue the upload at
    /// `start` (`Content-Range`, `Content-Length`); without, a streamed
    /// append of unknown length (Docker's streamed push).
    pub(crate) async fn patch_upload(
        &self,
        loc: &str,
        body: reqwest::Body,
        range: Option<(u64, u64)>,
    ) -> std::result::Result<String, UploadFailure> {
        let mut req = self
            .http
            .request(Method::PATCH, loc)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(body);
        if let Some((start, len)) = range {
            req = req
                .header(CONTENT_LENGTH, len)
                .header(CONTENT_RANGE, format!("{start}-{}", start + len - 1));
        }
        if let Some(a) = self.current_auth() {
            req = req.header(AUTHORIZATION, a);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| UploadFailure::Retry(RegistryError::http(format!("PATCH {loc:?}"), e)))?;
        let status = resp.status();
        if status != StatusCode::ACCEPTED && status != StatusCode::NO_CONTENT {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(UploadFailure::from_status(status, &body));
        }
        Ok(self.next_location(&resp, loc))
    }

    /// Asks where upload session `loc` stands (`GET`, answered with 204,
    /// `Range: 0-<last byte>` and the session's `Location`).
    pub(crate) async fn upload_status(
        &self,
        loc: &str,
    ) -> std::result::Result<UploadStatus, UploadFailure> {
        let resp = self
            .send(Method::GET, loc, HeaderMap::new(), None)
            .await
            .map_err(UploadFailure::Retry)?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return match UploadFailure::from_status(status, &body) {
                UploadFailure::Lost(_) => Ok(UploadStatus::Lost),
                f => Err(f),
            };
        }
        let range = resp
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok());
        Ok(match accepted_bytes(range) {
            Some(offset) => UploadStatus::At {
                location: self.next_location(&resp, loc),
                offset,
            },
            None => UploadStatus::Unknown,
        })
    }

    /// Abandons upload session `loc` (DELETE); errors are the caller's to ignore.
    pub(crate) async fn cancel_upload(&self, loc: &str) -> Result<()> {
        self.send(Method::DELETE, loc, HeaderMap::new(), None)
            .await
            .map(|_| ())
    }

    /// Commits upload session `loc` as the blob `digest` (PUT, no body).
    pub(crate) async fn finish_upload(&self, loc: &str, digest: &str) -> Result<()> {
        self.put_digest(loc, digest, bytes::Bytes::new()).await
    }

    /// Uploads a small blob from memory in one PUT (Docker's monolithic upload).
    pub async fn upload_bytes(&self, digest: &str, data: &[u8]) -> Result<()> {
        let loc = self.start_upload().await?;
        self.put_digest(&loc, digest, bytes::Bytes::copy_from_slice(data))
            .await
    }

    /// Every tag of the repository, following `Link` pagination. `None` when
    /// the registry does not know the repository.
    pub async fn list_tags(&self) -> Result<Option<Vec<String>>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = self.url("tags/list");
        let mut tags = Vec::new();
        loop {
            let resp = self.send(Method::GET, &url, HeaderMap::new(), None).await?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = resp
                .bytes()
                .await
                .map_err(|e| RegistryError::http("reading tag list", e))?;
            if !status.is_success() {
                return Err(self.status_error(status, &body));
            }
            let page: TagList = serde_json::from_slice(&body)
                .map_err(|e| RegistryError::Registry(format!("invalid tag list: {e}")))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => url = self.resolve(&n),
                None => return Ok(Some(tags)),
            }
        }
    }

    /// PUT a manifest under a tag; returns its digest.
    pub async fn put_manifest(&self, tag: &str, bytes: &[u8], media_type: &str) -> Result<String> {
        let url = self.url(&format!("manifests/{tag}"));
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            media_type
                .parse()
                .map_err(|_| RegistryError::InvalidParameter(format!("media type {media_type}")))?,
        );
        let data = bytes::Bytes::copy_from_slice(bytes);
        let body = move || -> Result<reqwest::Body> { Ok(reqwest::Body::from(data.clone())) };
        let resp = self.send(Method::PUT, &url, h, Some(&body)).await?;
        self.expect_status(resp, StatusCode::CREATED).await?;
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }
}

/// Why an upload request failed, for the resume logic in `push.rs`.
#[derive(Debug)]
pub(crate) enum UploadFailure {
    /// The connection broke, timed out or the registry had a transient
    /// problem (5xx, 408, 429, 416): ask where the upload stands, go on.
    Retry(RegistryError),
    /// The registry no longer knows the session (`BLOB_UPLOAD_UNKNOWN`,
    /// `BLOB_UPLOAD_INVALID`): start a new one.
    Lost(RegistryError),
    /// Anything else (denied, bad request): give up.
    Fatal(RegistryError),
}

impl UploadFailure {
    fn from_status(status: StatusCode, body: &[u8]) -> UploadFailure {
        let e = RegistryError::Registry(error_text(status, body));
        let text = String::from_utf8_lossy(body);
        if text.contains("BLOB_UPLOAD_UNKNOWN") || text.contains("BLOB_UPLOAD_INVALID") {
            return UploadFailure::Lost(e);
        }
        match status {
            StatusCode::NOT_FOUND => UploadFailure::Lost(e),
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::TOO_MANY_REQUESTS
            | StatusCode::RANGE_NOT_SATISFIABLE => UploadFailure::Retry(e),
            s if s.is_server_error() => UploadFailure::Retry(e),
            _ => UploadFailure::Fatal(e),
        }
    }
}

/// Where an upload session stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UploadStatus {
    /// The registry holds the first `offset` bytes; continue at `location`.
    At { location: String, offset: u64 },
    /// It holds 0 or 1 bytes: `Range: 0-0` says either (the reference
    /// registry's form for an empty upload), so only a new session is safe.
    Unknown,
    /// The session is gone.
    Lost,
}

/// The number of bytes an upload holds by its status `Range` header
/// (`0-<last byte>`, some registries write `bytes=0-<last>`); `None` when
/// that is ambiguous (`0-0`), missing or malformed.
pub(crate) fn accepted_bytes(range: Option<&str>) -> Option<u64> {
    let r = range?.trim();
    let r = r.strip_prefix("bytes=").unwrap_or(r);
    let (start, end) = r.split_once('-')?;
    let (start, end) = (
        start.trim().parse::<u64>().ok()?,
        end.trim().parse::<u64>().ok()?,
    );
    if start != 0 || end == 0 {
        return None;
    }
    end.checked_add(1)
}

/// The target of `<url>; rel="next"` in a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace('"', "") == "rel=next")
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

fn header_str(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// Go's http method names in error messages are upper case, but Docker's
/// `url.Error` prints e.g. `Head "http://..."`.
fn title_case(m: &str) -> String {
    let lower = m.to_ascii_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Fetches a bearer token from the realm (with Basic credentials if any).
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    creds: &AuthConfig,
    realm: &str,
    service: Option<&str>,
    scope: Option<&str>,
) -> Result<String> {
    let mut req = http.get(realm);
    let mut q: Vec<(&str, &str)> = Vec::new();
    if let Some(s) = service {
        q.push(("service", s));
    }
    if let Some(s) = scope {
        q.push(("scope", s));
    }
    req = req.query(&q);
    if creds.has_basic() {
        req = req.basic_auth(&creds.username, Some(&creds.password));
    }
    let resp = req
        .send()
        .await
        .map_err(|e| RegistryError::http(format!("Get {realm:?}"), e))?;
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    if !status.is_success() {
        return Err(RegistryError::Registry(error_text(status, &body)));
    }
    #[derive(serde::Deserialize)]
    struct Token {
        #[serde(default)]
        token: String,
        #[serde(default)]
        access_token: String,
    }
    let t: Token = serde_json::from_slice(&body)
        .map_err(|e| RegistryError::Registry(format!("invalid token response: {e}")))?;
    Ok(if t.token.is_empty() {
        t.access_token
    } else {
        t.token
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_use_http() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("127.3.0.1"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example.com:5000"));
        assert!(!is_loopback("10.0.0.1:5000"));
        assert_eq!(registry_base("127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(registry_base("quay.io"), "https://quay.io");
        assert_eq!(registry_base("docker.io"), "https://registry-1.docker.io");
    }

    #[test]
    fn registry_errors_read_like_docker() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            error_text(StatusCode::NOT_FOUND, body),
            "manifest unknown: manifest unknown"
        );
        assert_eq!(
            error_text(StatusCode::BAD_GATEWAY, b""),
            "received unexpected HTTP status: 502 Bad Gateway"
        );
        assert_eq!(title_case("HEAD"), "Head");
    }

    #[test]
    fn upload_ranges_give_the_resume_offset() {
        assert_eq!(accepted_bytes(Some("0-1048575")), Some(1 << 20));
        assert_eq!(accepted_bytes(Some("bytes=0-9")), Some(10));
        assert_eq!(accepted_bytes(Some("0-1")), Some(2));
        // 0 or 1 bytes: ambiguous, so a new session.
        assert_eq!(accepted_bytes(Some("0-0")), None);
        assert_eq!(accepted_bytes(Some("5-9")), None);
        assert_eq!(accepted_bytes(Some("0-x")), None);
        assert_eq!(accepted_bytes(Some("")), None);
        assert_eq!(accepted_bytes(None), None);
    }

    #[test]
    fn upload_failures_are_classified() {
        let lost =
            br#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"blob upload invalid"}]}"#;
        assert!(matches!(
            UploadFailure::from_status(StatusCode::BAD_REQUEST, lost),
            UploadFailure::Lost(_)
        ));
        assert!(matches!(
            UploadFailure::from_status(StatusCode::NOT_FOUND, b""),
            UploadFailure::Lost(_)
        ));
        for s in [
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::RANGE_NOT_SATISFIABLE,
        ] {
            assert!(matches!(
                UploadFailure::from_status(s, b""),
                UploadFailure::Retry(_)
            ));
        }
        assert!(matches!(
            UploadFailure::from_status(StatusCode::FORBIDDEN, b"denied"),
            UploadFailure::Fatal(_)
        ));
    }

    #[test]
    fn certs_d_has_cas_and_client_pairs() {
        let roots = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let paths: Vec<PathBuf> = roots.iter().map(|r| r.path().to_path_buf()).collect();
        // Nothing for the registry: no extra material.
        let none = certs_d(&paths, "reg.example:5000").unwrap();
        assert!(none.cas.is_empty() && none.identity.is_none());
        // The second root has it; the first (berth's) would win if it did.
        let dir = paths[1].join("reg.example:5000");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("b.crt"), "CA B").unwrap();
        std::fs::write(dir.join("a.crt"), "CA A").unwrap();
        std::fs::write(dir.join("client.cert"), "CERT").unwrap();
        std::fs::write(dir.join("client.key"), "KEY").unwrap();
        std::fs::write(dir.join("README"), "ignored").unwrap();
        let got = certs_d(&paths, "reg.example:5000").unwrap();
        assert_eq!(got.cas, [b"CA A".to_vec(), b"CA B".to_vec()]);
        assert_eq!(got.identity.as_deref(), Some(&b"CERT\nKEY"[..]));
        let first = paths[0].join("reg.example:5000");
        std::fs::create_dir_all(&first).unwrap();
        std::fs::write(first.join("only.crt"), "CA 0").unwrap();
        let got = certs_d(&paths, "reg.example:5000").unwrap();
        assert_eq!(got.cas, [b"CA 0".to_vec()]);
        assert!(got.identity.is_none());
        // A certificate without its key (or a key alone) is an error.
        std::fs::write(first.join("lone.cert"), "CERT").unwrap();
        let e = certs_d(&paths, "reg.example:5000").err().unwrap();
        assert!(e.to_string().contains("missing key"), "{e}");
        std::fs::remove_file(first.join("lone.cert")).unwrap();
        std::fs::write(first.join("lone.key"), "KEY").unwrap();
        let e = certs_d(&paths, "reg.example:5000").err().unwrap();
        assert!(e.to_string().contains("missing client certificate"), "{e}");
    }

    #[test]
    fn errors_carry_their_causes() {
        #[derive(Debug)]
        struct E(&'static str, Option<Box<E>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let e = E(
            "error sending request",
            Some(Box::new(E("connection reset", None))),
        );
        assert_eq!(describe(&e), "error sending request: connection reset");
        let tls = E(
            "error sending request",
            Some(Box::new(E(
                "client error (Connect)",
                Some(Box::new(E("invalid peer certificate: UnknownIssuer", None))),
            ))),
        );
        assert_eq!(
            describe(&tls),
            "error sending request: tls: failed to verify certificate: \
             x509: certificate signed by unknown authority"
        );
    }

    #[test]
    fn follows_next_links() {
        assert_eq!(
            next_link(r#"</v2/x/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/x/tags/list?n=2&last=b")
        );
        assert_eq!(next_link(r#"</a>; rel="prev""#), None);
    }
}
