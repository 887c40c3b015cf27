//! The Docker Engine API router. Versioned paths (`/v1.47/...`) are rewritten
//! to unversioned ones before routing, so every handler is written once.

mod attach_ws;
mod bodyio;
mod build;
mod containers;
mod distribution;
mod exec;
mod fsapi;
mod hijack;
mod images;
mod imgarchive;
mod monitor;
mod networks;
mod swarm;
mod system;
mod volumes;

use crate::daemon::Daemon;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;

pub const API_VERSION: &str = "1.47";
pub const MIN_API_VERSION: &str = "1.24";

pub type AppState = Arc<Daemon>;

pub fn router(d: Arc<Daemon>) -> Router {
    Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/attach/ws", get(attach_ws::attach_ws))
        .route("/containers/{id}/exec", post(exec::create))
        .route("/containers/{id}/top", get(monitor::top))
        .route("/containers/{id}/stats", get(monitor::stats))
        .route("/containers/{id}/update", post(monitor::update))
        .route("/containers/prune", post(monitor::prune_containers))
        .route("/images/prune", post(monitor::prune_images))
        .route("/events", get(monitor::events))
        .route("/system/df", get(monitor::df))
        .route(
            "/containers/{id}",
            axum::routing::delete(containers::remove),
        )
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/containers/{id}/changes", get(fsapi::changes))
        .route(
            "/containers/{id}/archive",
            get(fsapi::archive_get)
                .head(fsapi::archive_head)
                .put(fsapi::archive_put),
        )
        .route("/containers/{id}/export", get(fsapi::export))
        .route("/commit", post(fsapi::commit))
        .route("/build", post(build::build))
        .route("/build/prune", post(monitor::prune_build_cache))
        .route("/images/get", get(imgarchive::save))
        .route("/images/load", post(imgarchive::load))
        .route("/images/json", get(images::list))
        .route("/images/search", get(distribution::search))
        .route("/auth", post(distribution::auth))
        .route("/distribution/{*rest}", get(distribution::inspect))
        .route("/images/create", post(images::create))
        .route(
            "/images/{*rest}",
            get(images::get_dispatch)
                .post(images::post_dispatch)
                .delete(images::delete),
        )
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(networks::prune))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/swarm", any(swarm::not_a_manager))
        .route("/swarm/{*rest}", any(swarm::not_a_manager))
        .route("/nodes", any(swarm::not_a_manager))
        .route("/nodes/{*rest}", any(swarm::not_a_manager))
        .route("/services", any(swarm::not_a_manager))
        .route("/services/{*rest}", any(swarm::not_a_manager))
        .route("/tasks", any(swarm::not_a_manager))
        .route("/tasks/{*rest}", any(swarm::not_a_manager))
        .route("/secrets", any(swarm::not_a_manager))
        .route("/secrets/{*rest}", any(swarm::not_a_manager))
        .route("/configs", any(swarm::not_a_manager))
        .route("/configs/{*rest}", any(swarm::not_a_manager))
        .route("/swarm/leave", post(swarm::leave))
        .route("/swarm/init", post(swarm::unsupported))
        .route("/swarm/join", post(swarm::unsupported))
        .route("/plugins", get(swarm::plugins))
        .route("/plugins/pull", post(swarm::plugins_unsupported))
        .route("/plugins/privileges", get(swarm::plugins_unsupported))
        .route("/plugins/create", post(swarm::plugins_unsupported))
        .route("/plugins/{name}", any(swarm::no_such_plugin))
        .route("/plugins/{name}/{*rest}", any(swarm::no_such_plugin_sub))
        .fallback(not_found)
        .with_state(d)
}

async fn not_found(uri: Uri) -> Response {
    crate::error::ApiError::not_found(format!("page not found: {}", uri.path())).into_response()
}

/// The API version a request's path named (`/v1.NN/...`); absent for an
/// unversioned path, which gets the latest behaviour.
#[derive(Clone, Debug)]
pub struct ApiVersion(pub String);

/// Strips `/v1.NN` (kept as an [`ApiVersion`] extension) and refuses
/// versions outside the supported range.
pub fn rewrite_version(mut req: Request) -> Result<Request, Box<Response>> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok(req);
    };
    let Some((ver, tail)) = rest.split_once('/') else {
        return Ok(req);
    };
    if !ver.chars().all(|c| c.is_ascii_digit() || c == '.') || ver.is_empty() {
        return Ok(req);
    }
    if version_lt(ver, MIN_API_VERSION) {
        let msg = format!("client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version");
        return Err(Box::new(
            crate::error::ApiError::bad_request(msg).into_response(),
        ));
    }
    if version_lt(API_VERSION, ver) {
        let msg = format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        );
        return Err(Box::new(
            crate::error::ApiError::bad_request(msg).into_response(),
        ));
    }
    let version = ApiVersion(ver.to_string());
    let new_path = format!("/{tail}");
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = pq.parse().ok();
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    req.extensions_mut().insert(version);
    Ok(req)
}

pub(super) fn version_lt(a: &str, b: &str) -> bool {
    let p = |s: &str| -> Vec<u32> { s.split('.').map(|x| x.parse().unwrap_or(0)).collect() };
    p(a) < p(b)
}

/// Query parameters, with Docker's boolean convention ("1", "true", "True").
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn from_uri(uri: &Uri) -> Query {
        let q = uri.query().unwrap_or("");
        Query(form_urlencoded_pairs(q).into_iter().collect())
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(
            self.get(k),
            Some("1") | Some("true") | Some("True") | Some("yes")
        )
    }
    pub fn int(&self, k: &str) -> Option<i64> {
        self.get(k).and_then(|v| v.parse().ok())
    }
    /// The `filters` JSON: {"key": ["v1", ...]} or the old {"key": {"v1": true}}.
    pub fn filters(&self) -> Result<HashMap<String, Vec<String>>, crate::error::ApiError> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(HashMap::new());
        };
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| crate::error::ApiError::bad_request(format!("invalid filter: {e}")))?;
        let mut out = HashMap::new();
        if let Some(obj) = v.as_object() {
            for (k, vals) in obj {
                let list = match vals {
                    serde_json::Value::Array(a) => a
                        .iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect(),
                    serde_json::Value::Object(o) => o.keys().cloned().collect(),
                    _ => Vec::new(),
                };
                out.insert(k.clone(), list);
            }
        }
        Ok(out)
    }
}

fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every value of a repeatable query parameter (`names=a&names=b`).
pub fn query_all(uri: &Uri, key: &str) -> Vec<String> {
    form_urlencoded_pairs(uri.query().unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect()
}

pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_queries() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%7B%22x%22%7D"), "{\"x\"}");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn versions() {
        assert!(version_lt("1.23", "1.24"));
        assert!(!version_lt("1.47", "1.47"));
        assert!(version_lt("1.9", "1.24"));
    }
}
