//! `GET /containers/{id}/attach/ws`: attach over a WebSocket (what web
//! consoles use). As in Docker, the streams are never multiplexed (one
//! socket carries them all, raw), output goes out in binary frames from API
//! 1.28 on and in text frames before, and every message the client sends is
//! stdin. The attach itself is the same as `POST /containers/{id}/attach`'s,
//! served on one end of an in-memory pipe whose other end this module
//! bridges to the WebSocket.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::http::Uri;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::containers::AttachSetup;
use super::{version_lt, ApiVersion, AppState};
use crate::error::{ApiError, ApiResult};

/// Docker switched the output frames from text to binary in API 1.28.
const BINARY_SINCE: &str = "1.28";

pub async fn attach_ws(
    State(d): State<AppState>,
    Path(id): Path<String>,
    version: Option<Extension<ApiVersion>>,
    uri: Uri,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // An unknown container is a 404 whatever the request looks like.
    let setup = AttachSetup::new(&d, &id, &uri, false)?;
    let ws = ws.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let binary = version.is_none_or(|Extension(ApiVersion(v))| !version_lt(&v, BINARY_SINCE));
    Ok(ws.on_upgrade(move |socket| async move {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        tokio::spawn(setup.serve(ours));
        bridge(socket, theirs, binary).await;
    }))
}

/// Copies the pipe's output to the socket and the socket's messages into
/// the pipe, until either side ends: the attach ending (container stopped,
/// detach keys) closes the socket, the client closing it ends stdin.
async fn bridge(socket: WebSocket, pipe: DuplexStream, binary: bool) {
    let (mut sink, mut stream) = socket.split();
    let (mut rd, mut wr) = tokio::io::split(pipe);
    let input = async {
        while let Some(Ok(msg)) = stream.next().await {
            let data = match msg {
                Message::Text(t) => bytes::Bytes::from(t),
                Message::Binary(b) => b,
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
            };
            if wr.write_all(&data).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    };
    let output = async {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let msg = if binary {
                Message::Binary(bytes::Bytes::copy_from_slice(&buf[..n]))
            } else {
                Message::Text(String::from_utf8_lossy(&buf[..n]).into_owned().into())
            };
            if sink.send(msg).await.is_err() {
                return;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    };
    tokio::select! {
        () = input => {}
        () = output => {}
    }
}
