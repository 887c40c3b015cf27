//! Connection hijacking for attach and exec: answer `101 Switching
//! Protocols` and hand the raw duplex stream to a task, as Docker does.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::future::Future;

pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Takes over the connection of `req`; `task` runs with the raw stream once
/// the 101 response has been sent.
pub fn hijack<F, Fut>(mut req: Request, multiplexed: bool, task: F) -> Response
where
    F: FnOnce(Upgraded) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(up) => task(TokioIo::new(up)).await,
            Err(e) => tracing::debug!("hijack failed: {e}"),
        }
    });
    let content_type = if multiplexed {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    };
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::empty())
        .unwrap_or_default()
}
