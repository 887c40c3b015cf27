//! `docker save` / `docker load`: `GET /images/get?names=`,
//! `GET /images/{name}/get` and `POST /images/load`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::bodyio::{body_channel, pump_body, response_channel};
use super::AppState;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};

/// GET /images/get?names=a&names=b
pub async fn save(State(d): State<AppState>, req: Request) -> ApiResult<Response> {
    let names = super::query_all(req.uri(), "names");
    save_names(&d, names).await
}

/// GET /images/{name}/get
pub async fn save_named(d: &Daemon, name: &str) -> ApiResult<Response> {
    save_names(d, vec![name.to_string()]).await
}

async fn save_names(d: &Daemon, names: Vec<String>) -> ApiResult<Response> {
    let images = d.images.clone();
    let saved = names.clone();
    // Resolve every name first: a bad one is an HTTP error, not a cut archive.
    let plan = {
        let images = images.clone();
        tokio::task::spawn_blocking(move || images.save_plan(&names))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??
    };
    for name in &saved {
        if let Ok(img) = d.images.resolve(name) {
            d.image_event(&img.id, "save", Some(name));
        }
    }
    let (writer, body) = response_channel();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = images.write_archive(&plan, writer) {
            tracing::warn!("saving images: {e}");
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok(r)
}

/// POST /images/load: the body is the archive; answers a JSON message stream.
pub async fn load(State(d): State<AppState>, req: Request) -> ApiResult<Response> {
    let (tx, mut reader) = body_channel();
    let images = d.images.clone();
    let work = tokio::task::spawn_blocking(move || {
        let r = images.load(&mut reader);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
        r
    });
    let (lines, pumped) = tokio::join!(work, pump_body(req.into_body(), tx));
    let lines = lines.map_err(|e| ApiError::internal(e.to_string()))??;
    pumped.map_err(ApiError::bad_request)?;
    for l in &lines {
        // "Loaded image: name:tag" or "Loaded image ID: sha256:...".
        let loaded = l
            .strip_prefix("Loaded image ID: ")
            .or_else(|| l.strip_prefix("Loaded image: "));
        if let Some(name) = loaded {
            let id = d
                .images
                .resolve(name)
                .map(|i| i.id)
                .unwrap_or_else(|_| name.to_string());
            d.image_event(&id, "load", Some(name));
        }
    }
    let mut out = String::new();
    for l in lines {
        out.push_str(&json!({"stream": format!("{l}\n")}).to_string());
        out.push_str("\r\n");
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}
