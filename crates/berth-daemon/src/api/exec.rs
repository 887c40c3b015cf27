//! `/containers/{id}/exec` and `/exec/{id}/...` handlers.

use super::hijack::{hijack, Upgraded};
use super::AppState;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use crate::logs::stdcopy_frame;
use crate::shimctl;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use berth_shim::protocol::{self, ExecRequest, Request as ShimRequest};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn body_json(req: Request) -> ApiResult<Value> {
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

pub async fn create(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let body = body_json(req).await?;
    let exec_id = crate::exec::create(&d, &id, &body)?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
}

pub async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(d.execs.get(&id)?.inspect()))
}

pub async fn resize(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    d.execs.get(&id)?;
    Ok(StatusCode::OK.into_response())
}

/// Exit code Docker reports for an exec that could not start.
fn start_failure_code(msg: &str) -> i32 {
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        127
    } else {
        126
    }
}

pub async fn start(
    State(d): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let opts: Value = if bytes.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let req = Request::from_parts(parts, axum::body::Body::empty());
    let x = d.execs.get(&id)?;
    if x.started {
        return Err(ApiError::conflict(format!(
            "Error: Exec command {id} is already running"
        )));
    }
    let e = d.lookup(&x.container_id)?;
    if !e.get().state.status.is_running() {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            x.container_id
        )));
    }
    let process = crate::exec::process(&d, &x)?;
    d.execs.update(&id, |x| x.started = true);
    let shim_req = ShimRequest::Exec(Box::new(ExecRequest {
        process,
        stdin: x.attach_stdin,
    }));
    let stream = shimctl::open_stream(&d.bundle(&x.container_id), &shim_req)
        .await
        .map_err(|err| ApiError::internal(err.to_string()))?;
    // Recorded while the shim starts the process, not before asking it.
    let action = format!("exec_start: {}", x.cmd.join(" "));
    d.container_event(&e.get(), &action, &[("execID", id.clone())]);
    let detach = opts.get("Detach").and_then(Value::as_bool).unwrap_or(false);
    if detach {
        tokio::spawn(run(d, id, stream, None, x.tty));
        return Ok(StatusCode::OK.into_response());
    }
    Ok(hijack(req, !x.tty, move |io| {
        run(d, id, stream, Some(io), x.tty)
    }))
}

/// Bridges the exec's shim stream and the client; records the exit code.
async fn run(
    d: Arc<Daemon>,
    id: String,
    stream: tokio::net::UnixStream,
    client: Option<Upgraded>,
    tty: bool,
) {
    let (mut srd, swr) = stream.into_split();
    // Dropping the write half shuts the socket's write side, which the shim
    // takes as the client leaving: keep it until the exec ends.
    let mut swr = Some(swr);
    let (mut crd, mut cwr) = match client {
        Some(io) => {
            let (r, w) = tokio::io::split(io);
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    let stdin_task = crd.take().zip(swr.take()).map(|(mut r, mut swr)| {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ =
                            shimctl::write_frame(&mut swr, protocol::FRAME_STDIN_CLOSE, &[]).await;
                        // Hold the write half: dropping it would end the
                        // stream before the output and exit arrive.
                        std::future::pending::<()>().await;
                    }
                    Ok(n) => {
                        if shimctl::write_frame(&mut swr, protocol::FRAME_STDIN, &buf[..n])
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
        })
    });
    let mut exit_code = None;
    while let Ok(Some((kind, payload))) = shimctl::read_frame(&mut srd).await {
        match kind {
            protocol::FRAME_STDOUT | protocol::FRAME_STDERR => {
                if let Some(w) = cwr.as_mut() {
                    let data = if tty {
                        bytes::Bytes::from(payload)
                    } else {
                        stdcopy_frame(kind, &payload)
                    };
                    if w.write_all(&data).await.is_err() {
                        cwr = None;
                    }
                }
            }
            protocol::FRAME_STARTED => {
                let pid = serde_json::from_slice::<Value>(&payload)
                    .ok()
                    .and_then(|v| v.get("pid").and_then(Value::as_i64))
                    .unwrap_or(0) as i32;
                d.execs.update(&id, |x| {
                    x.running = true;
                    x.pid = pid;
                });
            }
            protocol::FRAME_ERROR => {
                let msg = String::from_utf8_lossy(&payload).into_owned();
                let text = format!("OCI runtime exec failed: exec failed: unable to start container process: {msg}: unknown\r\n");
                if let Some(w) = cwr.as_mut() {
                    let data = if tty {
                        bytes::Bytes::from(text.into_bytes())
                    } else {
                        stdcopy_frame(1, text.as_bytes())
                    };
                    let _ = w.write_all(&data).await;
                }
                exit_code = Some(start_failure_code(&msg));
                break;
            }
            protocol::FRAME_EXIT => {
                exit_code = serde_json::from_slice::<protocol::ExitStatus>(&payload)
                    .ok()
                    .map(|x| x.code);
                break;
            }
            _ => {}
        }
    }
    d.execs.update(&id, |x| {
        x.running = false;
        x.exit_code = Some(exit_code.unwrap_or(126));
    });
    // The client learns of the end first (its exec inspect finds the exit
    // code already set); the event follows.
    if let Some(mut w) = cwr.take() {
        let _ = w.flush().await;
        let _ = w.shutdown().await;
    }
    if let Ok(x) = d.execs.get(&id) {
        if let Ok(e) = d.lookup(&x.container_id) {
            let code = exit_code.unwrap_or(126).to_string();
            d.container_event(
                &e.get(),
                "exec_die",
                &[("execID", id.clone()), ("exitCode", code)],
            );
        }
    }
    if let Some(t) = stdin_task {
        t.abort();
    }
    drop(swr);
}
