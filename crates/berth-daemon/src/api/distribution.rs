//! Registry endpoints: pull (`POST /images/create?fromImage=`), push
//! (`POST /images/{name}/push`), `POST /auth`, `GET /images/search` and
//! `GET /distribution/{name}/json`.
//! Pull and push answer with a JSON progress stream; as in Docker, an error
//! before the first progress message is a plain HTTP error instead.

use std::convert::Infallible;
use std::future::Future;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_image::reference::{self, Reference};
use berth_registry::{AuthConfig, Progress, RegistryError};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{AppState, Query};
use crate::error::{ApiError, ApiResult};

fn api_error(e: RegistryError) -> ApiError {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError::new(status, e.to_string())
}

fn registry_auth(headers: &HeaderMap) -> AuthConfig {
    headers
        .get("X-Registry-Auth")
        .and_then(|v| v.to_str().ok())
        .map(AuthConfig::from_header)
        .unwrap_or_default()
}

fn json_line(v: &Value) -> bytes::Bytes {
    bytes::Bytes::from(format!("{v}\r\n"))
}

/// Runs `op` with a progress channel. Returns an HTTP error if `op` fails
/// before reporting anything, else a stream of its messages ending with
/// its error, if any, as `{"errorDetail":..,"error":..}`.
async fn progress_stream<F, Fut>(op: F) -> ApiResult<Response>
where
    F: FnOnce(Progress) -> Fut,
    Fut: Future<Output = Result<(), RegistryError>> + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let mut task = tokio::spawn(op(Progress::new(tx)));
    let first = tokio::select! {
        m = rx.recv() => m,
        r = &mut task => {
            let r = r.map_err(|e| ApiError::internal(e.to_string()))?;
            r.map_err(api_error)?;
            // Finished without a word (cannot happen for pull/push); drain.
            rx.recv().await
        }
    };
    let (out_tx, out_rx) = mpsc::unbounded_channel::<bytes::Bytes>();
    tokio::spawn(async move {
        if let Some(m) = first {
            let _ = out_tx.send(json_line(&m));
        }
        while let Some(m) = rx.recv().await {
            let _ = out_tx.send(json_line(&m));
        }
        // The sender is gone: the task has ended.
        let result = match task.await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(msg) = result {
            let _ = out_tx.send(json_line(
                &json!({"errorDetail": {"message": msg}, "error": msg}),
            ));
        }
    });
    let stream = futures_util::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The reference `POST /images/create?fromImage=&tag=` names. Without a tag
/// or digest it stays a bare name: the API pulls every tag then (`pull -a`).
fn pull_reference(image: &str, tag: Option<&str>) -> ApiResult<Reference> {
    let r = reference::parse_normalized_named(image).map_err(ApiError::from)?;
    let r = match tag.filter(|t| !t.is_empty()) {
        // `tag` may carry a digest (`docker pull name@sha256:..` sends it so).
        Some(t) if t.contains(':') => {
            reference::parse_normalized_named(&format!("{}@{t}", r.name()))
                .map_err(ApiError::from)?
        }
        Some(t) if r.tag.is_none() && r.digest.is_none() => {
            r.with_tag(t).map_err(ApiError::from)?
        }
        _ => r,
    };
    Ok(r)
}

pub async fn pull(d: AppState, q: &Query, headers: &HeaderMap, image: &str) -> ApiResult<Response> {
    let r = pull_reference(image, q.get("tag"))?;
    if let Some(p) = q.get("platform").filter(|p| !p.is_empty()) {
        let (os, arch) = berth_registry::pull::host_platform();
        if !p.starts_with(&format!("{os}/{arch}")) && p != os {
            return Err(ApiError::bad_request(format!(
                "image with reference {} was found but does not match the specified platform: wanted {p}",
                r.familiar_string()
            )));
        }
    }
    let opts = berth_registry::PullOptions {
        auth: registry_auth(headers),
        tmp_dir: d.data_root().join("tmp"),
    };
    let images = d.images.clone();
    let events = d.clone();
    progress_stream(move |p| async move {
        berth_registry::pull(images, &r, &opts, &p).await.map(|_| {
            // Docker names the reference as the pull event's actor.
            let name = r.familiar_string();
            events.image_event(&name, "pull", Some(&name));
        })
    })
    .await
}

pub async fn push(d: AppState, name: &str, q: &Query, headers: &HeaderMap) -> ApiResult<Response> {
    let r = reference::parse_normalized_named(name).map_err(ApiError::from)?;
    // No tag anywhere: every local tag of the repository (`push -a`).
    let r = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => r.with_tag(t).map_err(ApiError::from)?,
        None => r,
    };
    let opts = berth_registry::PushOptions {
        auth: registry_auth(headers),
    };
    let images = d.images.clone();
    let events = d.clone();
    progress_stream(move |p| async move {
        berth_registry::push(images, &r, &opts, &p).await.map(|_| {
            let name = r.familiar_string();
            events.image_event(&name, "push", Some(&name));
        })
    })
    .await
}

/// POST /auth: checks the credentials with the registry.
pub async fn auth(State(_d): State<AppState>, req: Request) -> ApiResult<Response> {
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let cfg: AuthConfig = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid auth config: {e}")))?;
    berth_registry::login::login(&cfg)
        .await
        .map_err(api_error)?;
    Ok(Json(json!({"Status": "Login Succeeded", "IdentityToken": ""})).into_response())
}

/// GET /images/search?term=&limit=&filters=
pub async fn search(State(_d): State<AppState>, req: Request) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let term = q.get("term").unwrap_or("").to_string();
    if term.is_empty() {
        return Err(ApiError::bad_request("term is required"));
    }
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        None => DEFAULT_SEARCH_LIMIT,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::bad_request("invalid limit specified"))?,
    };
    let limit = if limit == 0 {
        DEFAULT_SEARCH_LIMIT
    } else {
        limit
    };
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is outside the range of [1, 100]"
        )));
    }
    let filter = SearchFilter::parse(&q.filters()?)?;
    if filter.is_automated == Some(true) {
        // Docker: automated builds are gone, so nothing matches.
        return Ok(Json(json!([])).into_response());
    }
    let auth = registry_auth(req.headers());
    let results = berth_registry::login::search(&term, Some(limit as u32), &auth)
        .await
        .map_err(api_error)?;
    let kept: Vec<_> = results.into_iter().filter(|r| filter.keeps(r)).collect();
    Ok(Json(serde_json::to_value(kept).unwrap_or_default()).into_response())
}

/// Docker's page size when the client asks for none.
const DEFAULT_SEARCH_LIMIT: i64 = 25;

/// `docker search --filter`: `stars=N` (the largest N wins),
/// `is-official=true|false`, `is-automated=true|false`.
#[derive(Debug, Default, PartialEq)]
struct SearchFilter {
    stars: Option<i64>,
    is_official: Option<bool>,
    is_automated: Option<bool>,
}

impl SearchFilter {
    fn parse(f: &std::collections::HashMap<String, Vec<String>>) -> ApiResult<SearchFilter> {
        let mut out = SearchFilter::default();
        for (k, vals) in f {
            let invalid =
                || ApiError::bad_request(format!("invalid filter '{k}={}'", vals.join(",")));
            match k.as_str() {
                "stars" => {
                    for v in vals {
                        let n: i64 = v.parse().map_err(|_| {
                            ApiError::bad_request(format!("invalid filter 'stars={v}'"))
                        })?;
                        out.stars = Some(out.stars.map_or(n, |m| m.max(n)));
                    }
                }
                "is-official" | "is-automated" => {
                    let b = match vals.as_slice() {
                        [] => continue,
                        [v] => match v.to_ascii_lowercase().as_str() {
                            "1" | "true" => true,
                            "0" | "false" => false,
                            _ => return Err(invalid()),
                        },
                        _ => return Err(invalid()),
                    };
                    if k == "is-official" {
                        out.is_official = Some(b);
                    } else {
                        out.is_automated = Some(b);
                    }
                }
                _ => return Err(ApiError::bad_request(format!("invalid filter '{k}'"))),
            }
        }
        Ok(out)
    }

    fn keeps(&self, r: &berth_registry::login::SearchResult) -> bool {
        self.is_official.is_none_or(|o| o == r.is_official)
            && self.is_automated.is_none_or(|a| a == r.is_automated)
            && self.stars.is_none_or(|n| r.star_count >= n)
    }
}

/// GET /distribution/{name}/json: the registry's manifest descriptor and
/// platforms for `name`, without pulling (docker-py's `get_registry_data`,
/// `docker service create`).
pub async fn inspect(
    State(_d): State<AppState>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some(name) = rest.strip_suffix("/json").filter(|n| !n.is_empty()) else {
        return Err(ApiError::not_found(format!(
            "page not found: /distribution/{rest}"
        )));
    };
    if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::internal("no manifest found for full image ID"));
    }
    let r = reference::parse_normalized_named(name).map_err(ApiError::from)?;
    let found = berth_registry::inspect::inspect(&r, &registry_auth(&headers))
        .await
        .map_err(api_error)?;
    Ok(Json(found).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_filters_as_docker() {
        use std::collections::HashMap;
        let f = |pairs: &[(&str, &[&str])]| {
            let m: HashMap<String, Vec<String>> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect();
            SearchFilter::parse(&m)
        };
        let r = |stars, official| berth_registry::login::SearchResult {
            star_count: stars,
            is_official: official,
            name: "x".into(),
            is_automated: false,
            description: String::new(),
        };
        let s = f(&[("stars", &["3", "10"])]).unwrap();
        assert!(s.keeps(&r(10, false)) && !s.keeps(&r(9, true)));
        let o = f(&[("is-official", &["true"])]).unwrap();
        assert!(o.keeps(&r(0, true)) && !o.keeps(&r(100, false)));
        let o = f(&[("is-official", &["False"])]).unwrap();
        assert!(!o.keeps(&r(0, true)) && o.keeps(&r(0, false)));
        let msg = |e: ApiError| e.to_string();
        assert!(msg(f(&[("stars", &["x"])]).unwrap_err()).contains("invalid filter 'stars=x'"));
        assert!(msg(f(&[("is-official", &["yes"])]).unwrap_err())
            .contains("invalid filter 'is-official=yes'"));
        assert!(msg(f(&[("name", &["a"])]).unwrap_err()).contains("invalid filter 'name'"));
    }

    #[test]
    fn pull_references() {
        let r = pull_reference("127.0.0.1:5000/compat/bb", Some("v1")).unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/compat/bb:v1");
        let r = pull_reference("busybox", None).unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        let r = pull_reference("busybox", Some("")).unwrap();
        assert!(r.tag.is_none() && r.digest.is_none());
        let d = format!("sha256:{}", "a".repeat(64));
        let r = pull_reference("x:5000/a", Some(&d)).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert!(r.tag.is_none());
        let r = pull_reference(&format!("x:5000/a@{d}"), None).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert!(pull_reference("UPPER", None).is_err());
    }
}
