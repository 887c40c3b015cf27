//! Swarm mode and managed plugins, which berth does not have. It answers as
//! a Docker Engine outside any swarm and without plugins does, so tools
//! that probe for them (`docker service ls`, `docker plugin ls`, compose's
//! checks) get Docker's messages instead of a missing route.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};

const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

/// `/swarm`, `/nodes`, `/services`, `/tasks`, `/secrets`, `/configs`.
pub async fn not_a_manager() -> ApiResult<Json<Value>> {
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        NOT_A_MANAGER,
    ))
}

/// POST /swarm/leave
pub async fn leave() -> ApiResult<Json<Value>> {
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "This node is not part of a swarm",
    ))
}

/// POST /swarm/init and /swarm/join: berth never joins a swarm.
pub async fn unsupported() -> ApiResult<Json<Value>> {
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "swarm mode is not supported by berth",
    ))
}

/// GET /plugins
pub async fn plugins() -> Json<Value> {
    Json(json!([]))
}

/// Any `/plugins/{name}/...`: there are none.
pub async fn no_such_plugin(Path(name): Path<String>) -> ApiResult<Json<Value>> {
    Err(ApiError::not_found(format!("plugin \"{name}\" not found")))
}

/// Plugin installs (`/plugins/pull`, `/plugins/privileges`, `/plugins/create`).
pub async fn plugins_unsupported() -> ApiResult<Json<Value>> {
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "managed plugins are not supported by berth",
    ))
}

/// `/plugins/{name}/json`, `/enable`, `/disable`, `/upgrade`, `/push`, `/set`.
pub async fn no_such_plugin_sub(
    Path((name, _rest)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    no_such_plugin(Path(name)).await
}
