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
    Ok((StatusCode::CREATED, Json(json!({"Id": id, "Warning": ""}))).into_response())
}

pub async fn remove(State(d): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    d.networks.remove(&id).await?;
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
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(d): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let v = body_json(&body)?;
    let container = container_of(&v)?;
    d.networks.disconnect(&d, &id, &container).await?;
    Ok(StatusCode::OK)
}
