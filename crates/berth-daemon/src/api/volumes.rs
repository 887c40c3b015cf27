//! `/volumes/...` handlers.

use super::{AppState, Query};
use crate::error::{ApiError, ApiResult};
use crate::volumes::CreateRequest;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Runs a volume operation off the async workers: it touches SQLite and the disk.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
}

/// The attributes Docker's volume events carry.
fn driver_attr() -> BTreeMap<String, String> {
    BTreeMap::from([("driver".to_string(), "local".to_string())])
}

pub async fn list(State(d): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let filters = Query::from_uri(req.uri()).filters()?;
    let vols = blocking(move || Ok(d.volumes.list(&filters)?)).await?;
    Ok(Json(json!({"Volumes": vols, "Warnings": null})))
}

fn string_map(v: Option<&Value>, field: &str) -> ApiResult<BTreeMap<String, String>> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(ApiError::bad_request(format!(
                    "json: cannot unmarshal {other} into Go struct field CreateOptions.{field} of type string"
                ))),
            })
            .collect(),
        Some(other) => Err(ApiError::bad_request(format!(
            "json: cannot unmarshal {other} into Go struct field CreateOptions.{field} of type map[string]string"
        ))),
    }
}

pub async fn create(State(d): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let v: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let req = CreateRequest {
        name: s("Name"),
        driver: s("Driver"),
        labels: string_map(v.get("Labels"), "Labels")?,
        options: string_map(v.get("DriverOpts"), "DriverOpts")?,
    };
    let d2 = d.clone();
    let vol = blocking(move || Ok(d2.volumes.create(req)?)).await?;
    let name = vol["Name"].as_str().unwrap_or_default();
    d.events.publish("volume", "create", name, driver_attr());
    Ok((StatusCode::CREATED, Json(vol)).into_response())
}

pub async fn inspect(
    State(d): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(blocking(move || Ok(d.volumes.inspect(&name)?)).await?))
}

pub async fn remove(
    State(d): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let force = Query::from_uri(req.uri()).flag("force");
    let (d2, n) = (d.clone(), name.clone());
    blocking(move || Ok(d2.volumes.remove(&n, force)?)).await?;
    d.events.publish("volume", "destroy", &name, driver_attr());
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn prune(State(d): State<AppState>, req: Request) -> ApiResult<Json<Value>> {
    let filters = Query::from_uri(req.uri()).filters()?;
    let d2 = d.clone();
    let (gone, reclaimed) = blocking(move || Ok(d2.volumes.prune(&filters)?)).await?;
    for name in &gone {
        d.events.publish("volume", "destroy", name, driver_attr());
    }
    Ok(Json(
        json!({"VolumesDeleted": gone, "SpaceReclaimed": reclaimed}),
    ))
}
