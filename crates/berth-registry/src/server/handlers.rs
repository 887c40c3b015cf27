//! The distribution API routes. Repository names contain slashes, so paths
//! under `/v2/` are split by their fixed suffixes (`/manifests/<ref>`,
//! `/blobs/uploads/<uuid>`, `/blobs/<digest>`, `/tags/list`) rather than by the
//! router.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::storage::{self, Storage, UploadGuard};
use super::token::{Access, Tokens};
use super::ServerState;
use crate::manifest::{self, MediaType};

type Result<T> = std::result::Result<T, ApiError>;

/// What a `/v2/...` path addresses.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    Base,
    Catalog,
    Tags(&'a str),
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Uploads(&'a str),
    Upload(&'a str, &'a str),
    /// OCI distribution 1.1: manifests whose `subject` is the digest.
    Referrers(&'a str, &'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
    let rest = path.strip_prefix("/v2")?;
    if rest.is_empty() || rest == "/" {
        return Some(Route::Base);
    }
    let rest = rest.strip_prefix('/')?;
    if rest == "_catalog" {
        return Some(Route::Catalog);
    }
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some(Route::Tags(name));
    }
    if let Some(name) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Some(Route::Uploads(name));
    }
    if let Some((name, uuid)) = rest.rsplit_once("/blobs/uploads/") {
        return Some(Route::Upload(name, uuid));
    }
    if let Some((name, d)) = rest.rsplit_once("/referrers/") {
        return Some(Route::Referrers(name, d));
    }
    if let Some((name, r)) = rest.rsplit_once("/manifests/") {
        return Some(Route::Manifest(name, r));
    }
    if let Some((name, d)) = rest.rsplit_once("/blobs/") {
        return Some(Route::Blob(name, d));
    }
    None
}

fn with_api_header(mut r: Response) -> Response {
    r.headers_mut().insert(
        "Docker-Distribution-API-Version",
        HeaderValue::from_static("registry/2.0"),
    );
    r
}

pub async fn dispatch(State(st): State<Arc<ServerState>>, req: Request) -> Response {
    let resp = match handle(&st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    with_api_header(resp)
}

/// The access a request needs under token auth: pull to read, pull and
/// push to write, delete to delete; None for the base and the catalog.
fn needed_access(method: &Method, path: &str) -> Option<Access> {
    let name = match route(path)? {
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::Uploads(n)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => n.to_string(),
        _ => return None,
    };
    let actions: &[&str] = match *method {
        Method::GET | Method::HEAD => &["pull"],
        Method::DELETE => &["delete"],
        _ => &["pull", "push"],
    };
    Some(Access {
        name,
        actions: actions.iter().map(|a| a.to_string()).collect(),
    })
}

/// `GET /token?service=..&scope=..`: a token for the Basic credentials
/// given (wrong ones get a 401), or an anonymous one granting nothing.
fn token_endpoint(st: &ServerState, tokens: &Tokens, req: &Request) -> Result<Response> {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = match (&st.htpasswd, auth) {
        // Without htpasswd everyone is trusted.
        (None, _) => Some("anonymous".to_string()),
        (Some(_), None) => None,
        (Some(h), Some(a)) => match h.check_header(Some(a)) {
            true => Some(basic_user(a).unwrap_or_default()),
            false => {
                return Err(ApiError::Unauthorized {
                    realm: st.realm.clone(),
                })
            }
        },
    };
    let scopes: Vec<String> = parse_query(req.uri().query().unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .collect();
    Ok(json_response(
        StatusCode::OK,
        tokens.issue(user.as_deref(), &scopes),
    ))
}

fn basic_user(header: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(header.strip_prefix("Basic ")?.trim())
        .ok()?;
    let raw = String::from_utf8(raw).ok()?;
    raw.split_once(':').map(|(u, _)| u.to_string())
}

async fn handle(st: &ServerState, req: Request) -> Result<Response> {
    if let Some(tokens) = &st.tokens {
        if req.uri().path() == "/token" {
            return token_endpoint(st, tokens, &req);
        }
        let need = needed_access(req.method(), req.uri().path());
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !tokens.allows(auth, need.as_ref()) {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("localhost");
            let scheme = if st.tls { "https" } else { "http" };
            return Err(ApiError::BearerRequired {
                realm: format!("{scheme}://{host}/token"),
                scope: need.map(|a| a.scope()),
            });
        }
    } else if let Some(h) = &st.htpasswd {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !h.check_header(auth) {
            return Err(ApiError::Unauthorized {
                realm: st.realm.clone(),
            });
        }
    }
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query().unwrap_or(""));
    if path == "/v1/_ping" {
        // Docker's daemon pings the v1 index before searching it.
        return Ok(json_response(StatusCode::OK, json!({"standalone": true})));
    }
    if path == "/v1/search" && req.method() == Method::GET {
        let n = q(&query, "n").and_then(|n| n.parse().ok());
        let v = super::search::search(&st.storage, q(&query, "q").unwrap_or(""), n);
        return Ok(json_response(StatusCode::OK, v));
    }
    let Some(r) = route(&path) else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let name = match &r {
        Route::Tags(n)
        | Route::Manifest(n, _)
        | Route::Blob(n, _)
        | Route::Uploads(n)
        | Route::Upload(n, _)
        | Route::Referrers(n, _) => Some(*n),
        _ => None,
    };
    if let Some(n) = name {
        if !storage::valid_name(n) {
            return Err(ApiError::NameInvalid(n.to_string()));
        }
    }
    let s = &st.storage;
    let m = req.method().clone();
    match (r, m) {
        (Route::Base, _) => Ok(json_response(StatusCode::OK, json!({}))),
        (Route::Catalog, Method::GET) => Ok(json_response(
            StatusCode::OK,
            json!({ "repositories": s.catalog() }),
        )),
        (Route::Tags(n), Method::GET) => tags_list(s, n, &query),
        (Route::Referrers(n, d), Method::GET) => {
            if !storage::valid_digest(d) {
                return Err(ApiError::DigestInvalid(d.to_string()));
            }
            let wanted = q(&query, "artifactType");
            let mut manifests = s.referrers(n, d);
            if let Some(t) = wanted {
                manifests.retain(|m| m["artifactType"] == t);
            }
            let mut resp = json_response(
                StatusCode::OK,
                json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": manifests,
                }),
            );
            insert(
                resp.headers_mut(),
                header::CONTENT_TYPE,
                "application/vnd.oci.image.index.v1+json",
            );
            if wanted.is_some() {
                insert(resp.headers_mut(), "OCI-Filters-Applied", "artifactType");
            }
            Ok(resp)
        }
        (Route::Manifest(n, r), Method::GET) => get_manifest(s, n, r, true),
        (Route::Manifest(n, r), Method::HEAD) => get_manifest(s, n, r, false),
        (Route::Manifest(n, r), Method::PUT) => put_manifest(s, n, r, req).await,
        (Route::Manifest(_, _) | Route::Blob(_, _), Method::DELETE) if !st.delete_enabled => {
            Err(ApiError::Unsupported)
        }
        (Route::Manifest(n, r), Method::DELETE) => {
            s.delete_manifest(n, r)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Route::Blob(n, d), Method::GET) => get_blob(s, n, d, req.headers(), true).await,
        (Route::Blob(n, d), Method::HEAD) => get_blob(s, n, d, req.headers(), false).await,
        (Route::Blob(n, d), Method::DELETE) => {
            s.unlink_blob(n, d)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        (Route::Uploads(n), Method::POST) => start_upload(s, n, &query, req).await,
        (Route::Upload(n, u), Method::GET | Method::HEAD) => upload_status(s, n, u).await,
        (Route::Upload(n, u), Method::PATCH) => patch_upload(s, n, u, req).await,
        (Route::Upload(n, u), Method::PUT) => finish_upload(s, n, u, &query, req).await,
        (Route::Upload(_, u), Method::DELETE) => {
            s.cancel_upload(u)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(ApiError::Unsupported),
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn q<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        format!("{v}\n"),
    )
        .into_response()
}

fn tags_list(s: &Storage, name: &str, query: &[(String, String)]) -> Result<Response> {
    if !s.repo_exists(name) {
        return Err(ApiError::NameUnknown(name.to_string()));
    }
    let mut tags = s.tags(name);
    if let Some(last) = q(query, "last") {
        tags.retain(|t| t.as_str() > last);
    }
    if let Some(n) = q(query, "n").and_then(|n| n.parse::<usize>().ok()) {
        tags.truncate(n);
    }
    Ok(json_response(
        StatusCode::OK,
        json!({"name": name, "tags": tags}),
    ))
}

fn get_manifest(s: &Storage, name: &str, reference: &str, body: bool) -> Result<Response> {
    let (digest, media_type, bytes) = s.get_manifest(name, reference)?;
    let len = bytes.len();
    let mut resp = if body {
        Response::new(Body::from(bytes))
    } else {
        Response::new(Body::empty())
    };
    let h = resp.headers_mut();
    insert(h, header::CONTENT_TYPE, &media_type);
    insert(h, header::CONTENT_LENGTH, &len.to_string());
    insert(h, "Docker-Content-Digest", &digest);
    insert(h, header::ETAG, &format!("\"{digest}\""));
    Ok(resp)
}

fn insert<K: header::IntoHeaderName>(h: &mut HeaderMap, k: K, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(k, v);
    }
}

async fn read_body(req: Request, limit: usize) -> Result<bytes::Bytes> {
    axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| ApiError::ManifestInvalid(format!("reading body: {e}")))
}

async fn put_manifest(s: &Storage, name: &str, reference: &str, req: Request) -> Result<Response> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
    let bytes = read_body(req, 4 << 20).await?;
    let parsed = manifest::parse(&bytes, content_type.as_deref())
        .map_err(|e| ApiError::ManifestInvalid(e.to_string()))?;
    let digest = storage::sha256_digest(&bytes);
    let tag = if storage::valid_digest(reference) {
        if reference != digest {
            return Err(ApiError::DigestInvalid(reference.to_string()));
        }
        None
    } else if storage::valid_tag(reference) {
        Some(reference)
    } else {
        return Err(ApiError::TagInvalid(reference.to_string()));
    };
    // Everything the manifest points at must already be in this repository.
    for d in parsed.references() {
        let known = match parsed.media_type {
            MediaType::Index | MediaType::ManifestList => s.get_manifest(name, &d).is_ok(),
            _ => s.blob_size(name, &d).is_some(),
        };
        if !known {
            return Err(match parsed.media_type {
                MediaType::Index | MediaType::ManifestList => ApiError::ManifestUnknown(d),
                _ => ApiError::ManifestBlobUnknown(d),
            });
        }
    }
    let stored = s.put_manifest(name, &bytes, parsed.media_type.as_str(), tag)?;
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    insert(
        h,
        header::LOCATION,
        &format!("/v2/{name}/manifests/{stored}"),
    );
    insert(h, "Docker-Content-Digest", &stored);
    insert(h, header::CONTENT_LENGTH, "0");
    if let Some(subject) = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["subject"]["digest"].as_str().map(str::to_string))
    {
        insert(h, "OCI-Subject", &subject);
    }
    Ok(resp)
}

/// `bytes=a-b` (b inclusive, optional) against a blob of `size` bytes.
fn parse_range(v: &str, size: u64) -> Option<(u64, u64)> {
    let spec = v.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: u64 = a.trim().parse().ok()?;
    let end: u64 = if b.trim().is_empty() {
        size.checked_sub(1)?
    } else {
        b.trim().parse::<u64>().ok()?.min(size.checked_sub(1)?)
    };
    (start <= end).then_some((start, end))
}

async fn get_blob(
    s: &Storage,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    body: bool,
) -> Result<Response> {
    if !storage::valid_digest(digest) {
        return Err(ApiError::DigestInvalid(digest.to_string()));
    }
    let size = s
        .blob_size(name, digest)
        .ok_or_else(|| ApiError::BlobUnknown(digest.to_string()))?;
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) => Some(parse_range(v, size).ok_or(ApiError::RangeInvalid)?),
        None => None,
    };
    let (status, start, len) = match range {
        Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
        None => (StatusCode::OK, 0, size),
    };
    let body = if body {
        let f = std::fs::File::open(s.blob_path(digest))?;
        Body::from_stream(blob_stream(f, start, len))
    } else {
        Body::empty()
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    insert(h, header::CONTENT_TYPE, "application/octet-stream");
    insert(h, header::CONTENT_LENGTH, &len.to_string());
    insert(h, "Docker-Content-Digest", digest);
    insert(h, header::ETAG, &format!("\"{digest}\""));
    insert(h, header::ACCEPT_RANGES, "bytes");
    if range.is_some() {
        insert(
            h,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{size}", start + len - 1),
        );
    }
    Ok(resp)
}

/// Chunks of a blob read ahead on a blocking thread: 1 MiB reads (hyper
/// writes each without copying), a few queued so the disk and the socket
/// work at the same time. Dropping the stream (client gone) ends the reader.
fn blob_stream(
    f: std::fs::File,
    start: u64,
    len: u64,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    use std::os::unix::fs::FileExt;
    const CHUNK: u64 = 1 << 20;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut off = start;
        let end = start + len;
        while off < end {
            let want = (end - off).min(CHUNK) as usize;
            let mut buf = bytes::BytesMut::zeroed(want);
            let r = f.read_at(&mut buf, off).and_then(|n| {
                if n == 0 {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "blob shorter than its size",
                    ))
                } else {
                    Ok(n)
                }
            });
            let item = r.map(|n| {
                buf.truncate(n);
                off += n as u64;
                buf.freeze()
            });
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

fn upload_headers(name: &str, uuid: &str, size: u64, status: StatusCode) -> Response {
    let mut resp = status.into_response();
    let h = resp.headers_mut();
    insert(
        h,
        header::LOCATION,
        &format!("/v2/{name}/blobs/uploads/{uuid}"),
    );
    // An empty upload reports "0-0", as the reference registry does.
    insert(h, header::RANGE, &format!("0-{}", size.saturating_sub(1)));
    insert(h, "Docker-Upload-UUID", uuid);
    insert(h, header::CONTENT_LENGTH, "0");
    resp
}

fn blob_created(name: &str, digest: &str) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    let h = resp.headers_mut();
    insert(h, header::LOCATION, &format!("/v2/{name}/blobs/{digest}"));
    insert(h, "Docker-Content-Digest", digest);
    insert(h, header::CONTENT_LENGTH, "0");
    resp
}

async fn start_upload(
    s: &Storage,
    name: &str,
    query: &[(String, String)],
    req: Request,
) -> Result<Response> {
    if let (Some(d), Some(from)) = (q(query, "mount"), q(query, "from")) {
        // Cross-repository mount: link the blob when the source repository
        // has it; otherwise fall through to a normal upload (as the spec says).
        if storage::valid_digest(d) && storage::valid_name(from) && s.blob_size(from, d).is_some() {
            s.link_blob(name, d)?;
            return Ok(blob_created(name, d));
        }
    }
    let uuid = s.new_upload()?;
    if let Some(d) = q(query, "digest") {
        // Monolithic upload: POST with the whole blob.
        let d = d.to_string();
        let guard = s.lock_upload(&uuid).await;
        append_body(s, &uuid, req, guard).await?;
        s.commit_upload(name, &uuid, &d)?;
        return Ok(blob_created(name, &d));
    }
    Ok(upload_headers(name, &uuid, 0, StatusCode::ACCEPTED))
}

/// `GET` (or `HEAD`) of an upload: where it stands, for a client resuming
/// an interrupted upload. Waits for an append still being written (a
/// request cut off a moment ago), so the range is what the next chunk must
/// continue from.
async fn upload_status(s: &Storage, name: &str, uuid: &str) -> Result<Response> {
    let _guard = s.lock_upload(uuid).await;
    let size = s.upload_size(uuid)?;
    Ok(upload_headers(name, uuid, size, StatusCode::NO_CONTENT))
}

/// Appends the request body to an upload on a blocking thread, hashing on
/// the way. Body frames are gathered into chunks of at least 256 KiB so
/// the writer is not woken per frame. The writer keeps `guard` until it is
/// done, also when this request is dropped halfway.
async fn append_body(s: &Storage, uuid: &str, req: Request, guard: UploadGuard) -> Result<u64> {
    let mut appender = s.appender(uuid)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(8);
    let writer = tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let mut res = Ok(());
        while let Some(chunk) = rx.blocking_recv() {
            if let Err(e) = appender.append(&chunk) {
                res = Err(e);
                break;
            }
        }
        (appender, res)
    });
    let mut stream = req.into_body().into_data_stream();
    let mut chunks = crate::coalesce::Coalescer::default();
    let mut read_err = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                read_err = Some(ApiError::UploadInvalid(format!("reading body: {e}")));
                break;
            }
        };
        if let Some(out) = chunks.push(chunk) {
            if tx.send(out).await.is_err() {
                break;
            }
        }
    }
    if let (None, Some(rest)) = (&read_err, chunks.finish()) {
        let _ = tx.send(rest).await;
    }
    drop(tx);
    let (appender, res) = writer
        .await
        .map_err(|e| ApiError::Internal(format!("upload writer: {e}")))?;
    let size = appender.size();
    s.finish_append(uuid, appender);
    res?;
    match read_err {
        Some(e) => Err(e),
        None => Ok(size),
    }
}

async fn patch_upload(s: &Storage, name: &str, uuid: &str, req: Request) -> Result<Response> {
    let guard = s.lock_upload(uuid).await;
    let current = s.upload_size(uuid)?;
    // A chunk must continue exactly where the upload stands.
    if let Some(cr) = req
        .headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
    {
        let start = cr
            .trim_start_matches("bytes ")
            .split(['-', '/'])
            .next()
            .and_then(|a| a.parse::<u64>().ok());
        if start != Some(current) {
            return Err(ApiError::RangeInvalid);
        }
    }
    let size = append_body(s, uuid, req, guard).await?;
    Ok(upload_headers(name, uuid, size, StatusCode::ACCEPTED))
}

async fn finish_upload(
    s: &Storage,
    name: &str,
    uuid: &str,
    query: &[(String, String)],
    req: Request,
) -> Result<Response> {
    let d = q(query, "digest")
        .filter(|d| storage::valid_digest(d))
        .ok_or_else(|| ApiError::DigestInvalid(q(query, "digest").unwrap_or("").to_string()))?
        .to_string();
    let guard = s.lock_upload(uuid).await;
    append_body(s, uuid, req, guard).await?;
    let _guard = s.lock_upload(uuid).await;
    s.commit_upload(name, uuid, &d)?;
    Ok(blob_created(name, &d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_suffix() {
        assert_eq!(route("/v2/"), Some(Route::Base));
        assert_eq!(route("/v2"), Some(Route::Base));
        assert_eq!(route("/v2/_catalog"), Some(Route::Catalog));
        assert_eq!(route("/v2/a/b/tags/list"), Some(Route::Tags("a/b")));
        assert_eq!(
            route("/v2/a/manifests/v1"),
            Some(Route::Manifest("a", "v1"))
        );
        assert_eq!(route("/v2/a/b/blobs/uploads/"), Some(Route::Uploads("a/b")));
        assert_eq!(
            route("/v2/a/b/blobs/uploads/0123"),
            Some(Route::Upload("a/b", "0123"))
        );
        assert_eq!(
            route("/v2/a/blobs/sha256:00"),
            Some(Route::Blob("a", "sha256:00"))
        );
        assert_eq!(route("/v1/x"), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=90-200", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn decodes_query() {
        let q = parse_query("mount=sha256%3Aab&from=a%2Fb&x");
        assert_eq!(q[0], ("mount".into(), "sha256:ab".into()));
        assert_eq!(q[1], ("from".into(), "a/b".into()));
        assert_eq!(q[2], ("x".into(), "".into()));
    }
}
