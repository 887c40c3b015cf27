//! Observing and tidying: `top`, `stats`, `update`, `events`, the prune
//! endpoints and `system/df`.

use super::containers::tokio_stream_from;
use super::{AppState, Query};
use crate::error::{ApiError, ApiResult};
use crate::events::{Event, Filter};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc;

fn json_stream(rx: mpsc::Receiver<bytes::Bytes>) -> Response {
    let stream = futures_util::StreamExt::map(tokio_stream_from(rx), Ok::<_, std::io::Error>);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default()
}

fn line(v: &Value) -> bytes::Bytes {
    bytes::Bytes::from(format!("{v}\n"))
}

async fn body_json(req: Request) -> ApiResult<Value> {
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// GET /containers/{id}/top?ps_args=
pub async fn top(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let q = Query::from_uri(req.uri());
    Ok(Json(
        crate::top::top(&d, &id, q.get("ps_args").unwrap_or("")).await?,
    ))
}

/// POST /containers/{id}/update
pub async fn update(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let body = body_json(req).await?;
    let warnings = crate::update::update(&d, &id, body).await?;
    Ok(Json(json!({"Warnings": warnings})))
}

/// GET /containers/{id}/stats?stream=&one-shot=
pub async fn stats(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let e = d.lookup(&id)?;
    let stream = q.get("stream").is_none_or(|_| q.flag("stream"));
    let one_shot = q.flag("one-shot");
    if one_shot && stream {
        return Err(ApiError::bad_request(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut prev = None;
        // Without one-shot a single answer still carries precpu_stats: take a
        // first reading and answer with the second, a second later.
        if !stream && !one_shot {
            prev = crate::stats::sample(&e.get());
            if prev.is_some() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        loop {
            let c = e.get();
            let cur = crate::stats::sample(&c);
            let v = crate::stats::to_json(&c, cur.as_ref(), prev.as_ref());
            if tx.send(line(&v)).await.is_err() || !stream || cur.is_none() {
                return;
            }
            prev = cur;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Ok(json_stream(rx))
}

fn event_filter(q: &Query) -> ApiResult<Filter> {
    let by_key = q.filters()?;
    for k in by_key.keys() {
        if !matches!(
            k.as_str(),
            "type"
                | "event"
                | "container"
                | "image"
                | "label"
                | "scope"
                | "daemon"
                | "network"
                | "volume"
                | "plugin"
                | "node"
                | "service"
                | "secret"
                | "config"
        ) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
    }
    let time = |k: &str| -> ApiResult<Option<i64>> {
        match q.get(k).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => crate::events::parse_time(v).map(Some).ok_or_else(|| {
                ApiError::bad_request(format!("failed to parse value {v} as a timestamp"))
            }),
        }
    };
    let f = Filter {
        since: time("since")?,
        until: time("until")?,
        by_key,
    };
    if let (Some(s), Some(u)) = (f.since, f.until) {
        if s > u {
            return Err(ApiError::bad_request(
                "`since` time cannot be after `until` time",
            ));
        }
    }
    Ok(f)
}

/// GET /events?since=&until=&filters=
pub async fn events(State(d): State<AppState>, req: Request) -> ApiResult<Response> {
    let f = event_filter(&Query::from_uri(req.uri()))?;
    // Subscribe before reading history so nothing falls between the two.
    let mut live = d.events.subscribe();
    // May read the table (after the writer thread has caught up).
    let history = tokio::task::block_in_place(|| d.events.history(&f));
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut last_seq = 0;
        for ev in &history {
            last_seq = ev.seq;
            if tx.send(line(&ev.to_json())).await.is_err() {
                return;
            }
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let deadline = f
            .until
            .map(|u| Duration::from_nanos(u.saturating_sub(now).max(0) as u64));
        let end = async {
            match deadline {
                Some(dl) => tokio::time::sleep(dl).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(end);
        loop {
            let ev: Event = tokio::select! {
                _ = &mut end => return,
                _ = tx.closed() => return,
                r = live.recv() => match r {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
            };
            if ev.seq <= last_seq || !f.matches(&ev) {
                continue;
            }
            if tx.send(line(&ev.to_json())).await.is_err() {
                return;
            }
        }
    });
    Ok(json_stream(rx))
}

/// POST /containers/prune
pub async fn prune_containers(State(d): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let filters = Query::from_uri(req.uri()).filters()?;
    Ok(Json(crate::prune::containers(&d, &filters).await?))
}

/// POST /images/prune
pub async fn prune_images(State(d): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let filters = Query::from_uri(req.uri()).filters()?;
    let d2 = d.clone();
    let v = tokio::task::spawn_blocking(move || crate::prune::images(&d2, &filters))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(v))
}

/// POST /build/prune
pub async fn prune_build_cache(State(d): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let q = Query::from_uri(req.uri());
    let filters = q.filters()?;
    let all = q.flag("all");
    let v = tokio::task::spawn_blocking(move || crate::prune::build_cache(&d, all, &filters))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(v))
}

/// GET /system/df
pub async fn df(State(d): State<AppState>) -> ApiResult<Json<Value>> {
    // Every container, as `ps -a -s` lists them.
    let mut all: Vec<_> = d.all().iter().map(|e| e.get()).collect();
    all.sort_by_key(|c| std::cmp::Reverse(c.created));
    let listed = all
        .iter()
        .map(|c| super::containers::listed(&d, c))
        .collect();
    let containers = super::containers::with_sizes(&d, listed).await?;
    let v = tokio::task::spawn_blocking(move || crate::prune::df(&d, containers))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(Json(v))
}
