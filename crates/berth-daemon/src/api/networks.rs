//! `/networks/...` handlers.

use super::{AppState, Query};
use crate::error::{ApiError, ApiResult};
use crate::network::objects::CreateRequest;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

fn body_json(body: &Bytes) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

pub async fn list(State(d): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let filters = Query::from_uri(req.uri()).filters()?;
    Ok(Json(Value::Array(d.networks.list_json(&filters)?)))
}

pub async fn inspect(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(d.networks.find_json(&id)?))
}

pub async fn create(State(d): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req = CreateRequest::from_json(&body_json(&body)?)?;
    let (id, _) = d.networks.create(req).await?;
    network_event(&d, &id, "create", None);
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warning": ""}))).into_response())
}

/// Docker's network events: the network's id, with its name and driver.
fn network_event(d: &AppState, id: &str, action: &str, container: Option<&str>) {
    if let Ok(v) = d.networks.find_json(id) {
        publish_network_event(d, &v, id, action, container);
    }
}

/// Publishes an event for a network given its inspect JSON `v` (taken before
/// the change when the network is about to disappear).
fn publish_network_event(d: &AppState, v: &Value, id: &str, action: &str, container: Option<&str>) {
    let full_id = v
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(id)
        .to_string();
    let mut attrs = std::collections::BTreeMap::new();
    for (attr, key) in [("name", "Name"), ("type", "Driver")] {
        if let Some(s) = v.get(key).and_then(Value::as_str) {
            attrs.insert(attr.to_string(), s.to_string());
        }
    }
    if let Some(c) = container {
        attrs.insert("container".to_string(), c.to_string());
    }
    d.events.publish("network", action, &full_id, attrs);
}

pub async fn remove(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    // Looked up first: after removal there is nothing left to name.
    let before = d.networks.find_json(&id).ok();
    d.networks.remove(&id).await?;
    if let Some(v) = before {
        publish_network_event(&d, &v, &id, "destroy", None);
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(State(d): State<AppState>) -> ApiResult<Json<Value>> {
    let removed = d.networks.prune().await?;
    Ok(Json(json!({"NetworksDeleted": removed})))
}

fn container_of(v: &Value) -> ApiResult<String> {
    v.get("Container")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("container name or id is required"))
}

pub async fn connect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let v = body_json(&body)?;
    let container = container_of(&v)?;
    d.networks
        .connect(&d, &id, &container, v.get("EndpointConfig"))
        .await?;
    let cid = d
        .lookup(&container)
        .map(|e| e.id.clone())
        .unwrap_or(container);
    network_event(&d, &id, "connect", Some(&cid));
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let v = body_json(&body)?;
    let container = container_of(&v)?;
    let cid = d
        .lookup(&container)
        .map(|e| e.id.clone())
        .unwrap_or(container.clone());
    d.networks.disconnect(&d, &id, &container).await?;
    network_event(&d, &id, "disconnect", Some(&cid));
    Ok(StatusCode::OK)
}
