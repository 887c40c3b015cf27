//! `/images/...` handlers. Image names may contain slashes, so everything
//! under `/images/` past the fixed routes is dispatched by its last segment.

use super::{AppState, Query};
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::io::Read;

pub async fn list(State(d): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let q = Query::from_uri(req.uri());
    let filters = q.filters()?;
    let list = d.images.list(q.flag("all"), &filters)?;
    Ok(Json(Value::Array(list)))
}

fn json_line(v: Value) -> String {
    format!("{v}\r\n")
}

/// POST /images/create: `fromSrc=-` imports the request body; `fromImage` pulls.
pub async fn create(State(d): State<AppState>, req: Request) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    if let Some(src) = q.get("fromSrc") {
        if src != "-" {
            return Err(ApiError::bad_request("importing from a URL is not supported; send the tarball as the request body (fromSrc=-)"));
        }
        let repo = q.get("repo").unwrap_or("").to_string();
        let tag = q.get("tag").unwrap_or("").to_string();
        let reference = match (repo.is_empty(), tag.is_empty()) {
            (true, _) => None,
            (false, true) => Some(repo.clone()),
            (false, false) => Some(format!("{repo}:{tag}")),
        };
        let changes: Vec<String> =
            q.0.iter()
                .filter(|(k, _)| k.as_str() == "changes")
                .map(|(_, v)| v.clone())
                .collect();
        let changes = all_changes(req.uri().query().unwrap_or(""), changes);
        let message = q.get("message").unwrap_or("").to_string();
        let body = req.into_body();
        // Stream the body into the blocking importer through a pipe-like reader.
        let (tx, rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(16);
        let images = d.images.clone();
        let importer = tokio::task::spawn_blocking(move || {
            let mut reader = ChannelReader {
                rx,
                cur: bytes::Bytes::new(),
            };
            images.import(
                &mut reader,
                berth_image::ImportOptions {
                    changes,
                    message,
                    reference,
                },
            )
        });
        let mut stream = body.into_data_stream();
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            let chunk = chunk.map_err(|e| ApiError::bad_request(e.to_string()))?;
            if tx.send(chunk).is_err() {
                break;
            }
        }
        drop(tx);
        let id = importer
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        d.image_event(&id, "import", None);
        return Ok((
            [(header::CONTENT_TYPE, "application/json")],
            json_line(json!({"status": id})),
        )
            .into_response());
    }
    if let Some(image) = q.get("fromImage") {
        return super::distribution::pull(d.clone(), &q, req.headers(), image).await;
    }
    Err(ApiError::bad_request("fromSrc or fromImage is required"))
}

/// `changes` may repeat; the Query map keeps one, so re-read them all.
fn all_changes(query: &str, fallback: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    for kv in query.split('&') {
        if let Some(v) = kv.strip_prefix("changes=") {
            let q = Query::from_uri(&format!("/?x={v}").parse().unwrap_or_default());
            if let Some(x) = q.get("x") {
                out.push(x.to_string());
            }
        }
    }
    if out.is_empty() {
        fallback
    } else {
        out
    }
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<bytes::Bytes>,
    cur: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

fn split_rest(rest: &str) -> (&str, &str) {
    match rest.rsplit_once('/') {
        Some((name, op)) => (name, op),
        None => (rest, ""),
    }
}

pub async fn get_dispatch(
    State(d): State<AppState>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    let (name, op) = split_rest(&rest);
    match op {
        "json" => Ok(Json(d.images.inspect(name)?).into_response()),
        "history" => Ok(Json(Value::Array(d.images.history(name)?)).into_response()),
        "get" => super::imgarchive::save_named(&d, name).await,
        _ => Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        ))),
    }
}

pub async fn post_dispatch(
    State(d): State<AppState>,
    Path(rest): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (name, op) = split_rest(&rest);
    let q = Query::from_uri(req.uri());
    match op {
        "tag" => {
            let repo = q.get("repo").unwrap_or("");
            d.images
                .tag(name, repo, q.get("tag").filter(|t| !t.is_empty()))?;
            if let Ok(img) = d.images.resolve(name) {
                let tag = q.get("tag").filter(|t| !t.is_empty()).unwrap_or("latest");
                d.image_event(&img.id, "tag", Some(&format!("{repo}:{tag}")));
            }
            Ok(StatusCode::CREATED.into_response())
        }
        "push" => super::distribution::push(d.clone(), name, &q, req.headers()).await,
        _ => Err(ApiError::not_found(format!(
            "page not found: /images/{rest}"
        ))),
    }
}

pub async fn delete(
    State(d): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let force = q.flag("force");
    let prune = !q.flag("noprune");
    let users: Vec<(String, String, bool)> = d
        .all()
        .iter()
        .map(|e| {
            let c = e.get();
            (
                c.image_id.clone(),
                c.id.clone(),
                c.state.status.is_running(),
            )
        })
        .collect();
    let in_use = move |image_id: &str| {
        users
            .iter()
            .find(|(img, _, _)| img == image_id)
            .map(|(_, cid, running)| (cid.clone(), *running))
    };
    let id = d.images.resolve(&name).map(|i| i.id).unwrap_or_default();
    let out = d.images.remove(&name, force, prune, &in_use)?;
    for r in &out {
        if let Some(t) = r.get("Untagged").and_then(Value::as_str) {
            d.image_event(&id, "untag", Some(t));
        }
        if let Some(x) = r.get("Deleted").and_then(Value::as_str) {
            d.image_event(x, "delete", None);
        }
    }
    Ok(Json(Value::Array(out)).into_response())
}
