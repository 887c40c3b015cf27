//! `/containers/...` handlers.

use super::hijack::hijack;
use super::{AppState, Query};
use crate::container::{Container, Status};
use crate::daemon::{Attacher, Entry};
use crate::error::{ApiError, ApiResult};
use crate::logs::{self, LogOptions};
use axum::body::{Body, Bytes as BodyBytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_shim::protocol;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

fn parse_body(body: &BodyBytes) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

pub async fn create(State(d): State<AppState>, req: Request) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let body = parse_body(&body)?;
    let name = q.get("name").map(String::from);
    let (id, warnings) = tokio::task::spawn_blocking(move || d.create(name.as_deref(), body))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": id, "Warnings": warnings})),
    )
        .into_response())
}

pub async fn inspect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let e = d.lookup(&id)?;
    let c = e.get();
    let q = Query::from_uri(req.uri());
    let paths = d.paths(&c.id);
    let mut v = c.inspect(
        &paths,
        d.images.graph_driver(&c.id),
        d.volumes.mounts_json(&c.id),
        d.networks.settings_json(&c),
    );
    if q.flag("size") {
        let (d, id) = (d.clone(), c.id.clone());
        v = tokio::task::spawn_blocking(move || {
            add_sizes(&d, &mut v, &id);
            v
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    let execs = d.execs.ids_for(&c.id);
    if !execs.is_empty() {
        v["ExecIDs"] = json!(execs);
    }
    Ok(Json(v))
}

/// Docker's `Status` column: "Up 3 seconds", "Exited (0) 5 minutes ago", "Created".
fn status_text(c: &Container) -> String {
    let since = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| chrono::Utc::now().signed_duration_since(t.with_timezone(&chrono::Utc)))
            .unwrap_or_default()
    };
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running => format!(
            "Up {}{}",
            crate::humanize::duration(since(&c.state.started_at)),
            crate::health::status_suffix(c.state.health.as_ref())
        ),
        Status::Paused => format!(
            "Up {} (Paused)",
            crate::humanize::duration(since(&c.state.started_at))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code,
            crate::humanize::duration(since(&c.state.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Exited => {
            if c.state.finished_at == crate::container::ZERO_TIME {
                "Created".into()
            } else {
                format!(
                    "Exited ({}) {} ago",
                    c.state.exit_code,
                    crate::humanize::duration(since(&c.state.finished_at))
                )
            }
        }
    }
}

fn summary(c: &Container) -> Value {
    let mut command = c.path.clone();
    for a in &c.args {
        command.push(' ');
        command.push_str(a);
    }
    json!({
        "Id": c.id,
        "Names": [c.name],
        "Image": c.config.get("Image").cloned().unwrap_or(json!("")),
        "ImageID": c.image_id,
        "Command": command,
        "Created": c.created.timestamp(),
        "Ports": [],
        "Labels": c.labels(),
        "State": c.state.status.as_str(),
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode").cloned().unwrap_or(json!("default"))},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    })
}

/// A container as `GET /containers/json` lists it.
pub(super) fn listed(d: &AppState, c: &Container) -> Value {
    let mut s = summary(c);
    s["Mounts"] = d.volumes.mounts_json(&c.id);
    s["Ports"] = d.networks.summary_ports(c);
    s
}

/// Listed containers with `SizeRw` and `SizeRootFs` (`size=1`), computed
/// off the async workers: each walks the container's rw layer.
pub(super) async fn with_sizes(d: &AppState, mut list: Vec<Value>) -> ApiResult<Vec<Value>> {
    let d = d.clone();
    tokio::task::spawn_blocking(move || {
        for v in list.iter_mut() {
            let id = v["Id"].as_str().unwrap_or_default().to_string();
            add_sizes(&d, v, &id);
        }
        list
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))
}

/// `SizeRw` and `SizeRootFs` of one container; 0 when its rw layer cannot
/// be read (the vfs driver keeps no upper dir to compare).
fn add_sizes(d: &AppState, v: &mut Value, id: &str) {
    let (rw, rootfs) = d.images.rw_sizes(id).unwrap_or_else(|e| {
        tracing::debug!("sizes of container {id}: {e}");
        (0, 0)
    });
    v["SizeRw"] = json!(rw);
    v["SizeRootFs"] = json!(rootfs);
}

fn matches_filters(
    d: &AppState,
    c: &Container,
    f: &std::collections::HashMap<String, Vec<String>>,
    order: &[(String, chrono::DateTime<chrono::Utc>)],
) -> bool {
    for (key, values) in f {
        if values.is_empty() {
            continue;
        }
        let ok = match key.as_str() {
            "id" => values.iter().any(|v| c.id.starts_with(v.as_str())),
            "name" => values.iter().any(|v| {
                let n = c.name.trim_start_matches('/');
                let pat = v.trim_start_matches('/');
                crate::humanize::regex_like_match(pat, n)
            }),
            "label" => {
                let labels = c.labels();
                values.iter().all(|v| match v.split_once('=') {
                    Some((k, val)) => labels.get(k).and_then(Value::as_str) == Some(val),
                    None => labels.contains_key(v.as_str()),
                })
            }
            "status" => values.iter().any(|v| v == c.state.status.as_str()),
            "exited" => {
                c.state.status == Status::Exited
                    && values
                        .iter()
                        .any(|v| v.parse::<i32>().ok() == Some(c.state.exit_code))
            }
            "ancestor" => values.iter().any(|v| {
                c.config.get("Image").and_then(Value::as_str) == Some(v.as_str())
                    || d.images
                        .resolve(v)
                        .map(|i| i.id == c.image_id)
                        .unwrap_or(false)
            }),
            "before" | "since" => values.iter().all(|v| {
                let Some((_, t)) = order.iter().find(|(id, _)| {
                    id.starts_with(v.as_str()) || d.lookup(v).map(|e| &e.id == id).unwrap_or(false)
                }) else {
                    return false;
                };
                if key == "before" {
                    c.created < *t
                } else {
                    c.created > *t
                }
            }),
            // A volume name or a mount destination.
            "volume" => {
                let mounts = d.volumes.mounts_json(&c.id);
                values.iter().any(|v| {
                    mounts.as_array().into_iter().flatten().any(|m| {
                        m.get("Name").and_then(Value::as_str) == Some(v.as_str())
                            || m.get("Destination").and_then(Value::as_str) == Some(v.as_str())
                    })
                })
            }
            "is-task" => true,
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

pub async fn list(State(d): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let q = Query::from_uri(req.uri());
    let filters = q.filters()?;
    for k in filters.keys() {
        if !matches!(
            k.as_str(),
            "id" | "name"
                | "label"
                | "status"
                | "exited"
                | "ancestor"
                | "before"
                | "since"
                | "is-task"
                | "network"
                | "volume"
                | "health"
                | "publish"
                | "expose"
                | "isolation"
        ) {
            return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
        }
    }
    if let Some(st) = filters.get("status") {
        for s in st {
            if !matches!(
                s.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(ApiError::bad_request(format!(
                    "invalid filter 'status={s}'"
                )));
            }
        }
    }
    let mut all: Vec<Container> = d.all().iter().map(|e| e.get()).collect();
    all.sort_by_key(|c| std::cmp::Reverse(c.created));
    let order: Vec<(String, chrono::DateTime<chrono::Utc>)> =
        all.iter().map(|c| (c.id.clone(), c.created)).collect();
    let show_all =
        q.flag("all") || filters.contains_key("status") || filters.contains_key("exited");
    let limit = q.int("limit").filter(|l| *l > 0);
    let mut out = Vec::new();
    for c in &all {
        if !show_all && !c.state.status.is_running() && limit.is_none() {
            continue;
        }
        if !matches_filters(&d, c, &filters, &order) {
            continue;
        }
        out.push(listed(&d, c));
        if limit.is_some_and(|l| out.len() as i64 >= l) {
            break;
        }
    }
    if q.flag("size") {
        out = with_sizes(&d, out).await?;
    }
    Ok(Json(Value::Array(out)))
}

pub async fn start(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    d.start(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn timeout_param(q: &Query) -> Option<i64> {
    q.int("t").or_else(|| q.int("timeout"))
}

pub async fn stop(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    d.stop(&id, timeout_param(&q), q.get("signal").map(String::from))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn restart(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    d.restart(&id, timeout_param(&q), q.get("signal").map(String::from))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn kill(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    d.kill(&id, q.get("signal").filter(|s| !s.is_empty()))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn pause(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    d.pause(&id, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn unpause(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    d.pause(&id, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn wait(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let condition = q.get("condition").unwrap_or("not-running").to_string();
    if !matches!(condition.as_str(), "not-running" | "next-exit" | "removed") {
        return Err(ApiError::bad_request(format!(
            "invalid condition: \"{condition}\""
        )));
    }
    // Resolve now so a missing container is an error, not a hang.
    d.lookup(&id)?;
    // Docker sends the headers at once and the body when the wait ends, so
    // clients know the wait is registered before they start the container.
    let (tx, rx) = mpsc::channel::<Result<BodyBytes, std::io::Error>>(1);
    tokio::spawn(async move {
        let body = match d.wait(&id, &condition).await {
            Ok(code) => json!({"StatusCode": code, "Error": null}),
            Err(e) => json!({"StatusCode": -1, "Error": {"Message": e.message}}),
        };
        let _ = tx.send(Ok(BodyBytes::from(format!("{body}\n")))).await;
    });
    let stream = tokio_stream_from(rx);
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

pub fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

pub async fn rename(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    d.rename(&id, q.get("name").unwrap_or(""))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn resize(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    let h = q.int("h").unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let w = q.int("w").unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    d.resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn remove(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let q = Query::from_uri(req.uri());
    d.remove(&id, q.flag("force"), q.flag("v")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn log_options(q: &Query, tty: bool) -> LogOptions {
    LogOptions {
        stdout: q.flag("stdout"),
        stderr: q.flag("stderr"),
        timestamps: q.flag("timestamps"),
        follow: q.flag("follow"),
        tail: q.get("tail").and_then(|t| t.parse::<usize>().ok()),
        since: q.get("since").and_then(logs::parse_time),
        until: q.get("until").and_then(logs::parse_time),
        raw: tty,
        details: q.flag("details"),
    }
}

pub async fn logs(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let e = d.lookup(&id)?;
    let c = e.get();
    let q = Query::from_uri(req.uri());
    let opts = log_options(&q, c.tty());
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let log_type = c
        .host_config
        .get("LogConfig")
        .and_then(|l| l.get("Type"))
        .and_then(Value::as_str)
        .unwrap_or("json-file");
    if log_type == "none" {
        return Err(ApiError::bad_request(
            "configured logging driver does not support reading",
        ));
    }
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(16);
    tokio::spawn(logs::stream(d.paths(&c.id).log, e.clone(), opts, tx));
    let stream = futures_util::StreamExt::map(tokio_stream_from(rx), Ok::<_, std::io::Error>);
    let ct = if c.tty() {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

pub async fn attach(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let a = AttachSetup::new(&d, &id, req.uri(), true)?;
    Ok(hijack(req, a.multiplexed, move |io| async move {
        a.serve(io).await;
    }))
}

/// An attach's parameters, with its output subscription registered before
/// the answer goes out, so output produced right after it is not lost.
pub(super) struct AttachSetup {
    e: Arc<Entry>,
    rx: mpsc::Receiver<(u8, bytes::Bytes)>,
    want_stdin: bool,
    /// stdout and stderr in stdcopy frames (no TTY, and asked for).
    multiplexed: bool,
    keys: Vec<u8>,
    replay: Option<(std::path::PathBuf, LogOptions)>,
}

impl AttachSetup {
    /// `stdin`, `stream`, `logs`, `stdout`, `stderr` and `detachKeys` of
    /// `uri`; `multiplex` says whether the transport wants stdcopy frames
    /// for a container without a TTY.
    pub(super) fn new(
        d: &AppState,
        id: &str,
        uri: &axum::http::Uri,
        multiplex: bool,
    ) -> ApiResult<AttachSetup> {
        let e = d.lookup(id)?;
        let c = e.get();
        let q = Query::from_uri(uri);
        let multiplexed = multiplex && !c.tty();
        let want_stdin = q.flag("stdin") && c.open_stdin();
        let (stdout, stderr) = (q.flag("stdout"), q.flag("stderr"));
        let log_opts = LogOptions {
            stdout,
            stderr,
            raw: !multiplexed,
            ..Default::default()
        };
        let log_path = d.paths(&c.id).log;
        let keys = crate::detach::parse(
            q.get("detachKeys")
                .filter(|k| !k.is_empty())
                .unwrap_or(crate::detach::DEFAULT),
        )
        .map_err(ApiError::bad_request)?;
        let (tx, rx) = mpsc::channel::<(u8, bytes::Bytes)>(64);
        if q.flag("stream") {
            e.add_attacher(Attacher { tx, stdout, stderr });
        }
        Ok(AttachSetup {
            e,
            rx,
            want_stdin,
            multiplexed,
            keys,
            replay: q.flag("logs").then_some((log_path, log_opts)),
        })
    }

    pub(super) async fn serve<IO>(self, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        serve_attach(
            io,
            self.e,
            self.rx,
            self.want_stdin,
            !self.multiplexed,
            self.keys,
            self.replay,
        )
        .await;
    }
}

/// Serves one attach on `io`: the log replay if asked, then the live
/// output from `rx` (raw, or in stdcopy frames unless `raw`), and stdin
/// from `io` to the container until EOF or the detach keys.
async fn serve_attach<IO>(
    io: IO,
    e: Arc<Entry>,
    mut rx: mpsc::Receiver<(u8, bytes::Bytes)>,
    want_stdin: bool,
    raw: bool,
    detach_keys: Vec<u8>,
    replay: Option<(std::path::PathBuf, LogOptions)>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    // Fires when the client typed the detach keys: the attach ends, the
    // container keeps running.
    let (detached_tx, mut detached_rx) = tokio::sync::oneshot::channel::<()>();
    let stdin_task = want_stdin.then(|| {
        let e = e.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            let mut matcher = crate::detach::Matcher::new(detach_keys);
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        send_to_shim(&e, protocol::FRAME_STDIN_CLOSE, &[]).await;
                        return;
                    }
                    Ok(n) => match matcher.scan(&buf[..n]) {
                        crate::detach::Scan::Forward(data) => {
                            if !data.is_empty() {
                                send_to_shim(&e, protocol::FRAME_STDIN, &data).await;
                            }
                        }
                        crate::detach::Scan::Detach(data) => {
                            if !data.is_empty() {
                                send_to_shim(&e, protocol::FRAME_STDIN, &data).await;
                            }
                            let _ = detached_tx.send(());
                            return;
                        }
                    },
                }
            }
        })
    });
    if let Some((path, opts)) = replay {
        let (ltx, mut lrx) = mpsc::channel(16);
        tokio::spawn(logs::stream(path, e.clone(), opts, ltx));
        while let Some(b) = lrx.recv().await {
            if wr.write_all(&b).await.is_err() {
                return;
            }
        }
    }
    loop {
        let (kind, data) = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
            // A dropped sender (stdin ended) is not a detach: the pattern
            // fails and select! disables this branch.
            Ok(()) = &mut detached_rx, if want_stdin => break,
        };
        let res = if raw {
            wr.write_all(&data).await
        } else {
            wr.write_all(&logs::stdcopy_frame(kind, &data)).await
        };
        if res.is_err() {
            break;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
    if let Some(t) = stdin_task {
        t.abort();
    }
}

/// Writes a frame to the container's shim stream, waiting for the container
/// to start if it has not yet (stdin typed before `start`).
async fn send_to_shim(e: &Arc<Entry>, kind: u8, data: &[u8]) {
    let mut rx = e.changed.subscribe();
    loop {
        {
            let mut g = e.shim_in.lock().await;
            if let Some(w) = g.as_mut() {
                let _ = crate::shimctl::write_frame(w, kind, data).await;
                return;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
