//! Distribution API errors: `{"errors":[{"code","message","detail"}]}` with the
//! status codes and messages of the reference registry, which clients (docker,
//! containerd, skopeo) match on.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("blob unknown to registry")]
    BlobUnknown(String),
    #[error("blob upload unknown to registry")]
    UploadUnknown,
    #[error("blob upload invalid: {0}")]
    UploadInvalid(String),
    #[error("provided digest did not match uploaded content")]
    DigestInvalid(String),
    #[error("manifest unknown")]
    ManifestUnknown(String),
    #[error("manifest invalid: {0}")]
    ManifestInvalid(String),
    #[error("blob unknown to registry")]
    ManifestBlobUnknown(String),
    #[error("invalid repository name")]
    NameInvalid(String),
    #[error("repository name not known to registry")]
    NameUnknown(String),
    #[error("manifest tag did not match URI")]
    TagInvalid(String),
    #[error("requested range not satisfiable")]
    RangeInvalid,
    #[error("authentication required")]
    Unauthorized { realm: String },
    /// Token auth: the challenge names the token service and the scope the
    /// request needs.
    #[error("authentication required")]
    BearerRequired {
        realm: String,
        scope: Option<String>,
    },
    #[error("The operation is unsupported.")]
    Unsupported,
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn code(&self) -> (&'static str, StatusCode) {
        use ApiError::*;
        match self {
            BlobUnknown(_) => ("BLOB_UNKNOWN", StatusCode::NOT_FOUND),
            UploadUnknown => ("BLOB_UPLOAD_UNKNOWN", StatusCode::NOT_FOUND),
            UploadInvalid(_) => ("BLOB_UPLOAD_INVALID", StatusCode::BAD_REQUEST),
            DigestInvalid(_) => ("DIGEST_INVALID", StatusCode::BAD_REQUEST),
            ManifestUnknown(_) => ("MANIFEST_UNKNOWN", StatusCode::NOT_FOUND),
            ManifestInvalid(_) => ("MANIFEST_INVALID", StatusCode::BAD_REQUEST),
            ManifestBlobUnknown(_) => ("MANIFEST_BLOB_UNKNOWN", StatusCode::BAD_REQUEST),
            NameInvalid(_) => ("NAME_INVALID", StatusCode::BAD_REQUEST),
            NameUnknown(_) => ("NAME_UNKNOWN", StatusCode::NOT_FOUND),
            TagInvalid(_) => ("TAG_INVALID", StatusCode::BAD_REQUEST),
            RangeInvalid => ("RANGE_INVALID", StatusCode::RANGE_NOT_SATISFIABLE),
            Unauthorized { .. } | BearerRequired { .. } => {
                ("UNAUTHORIZED", StatusCode::UNAUTHORIZED)
            }
            Unsupported => ("UNSUPPORTED", StatusCode::METHOD_NOT_ALLOWED),
            Internal(_) => ("UNKNOWN", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn detail(&self) -> serde_json::Value {
        use ApiError::*;
        match self {
            BlobUnknown(d) | ManifestBlobUnknown(d) => json!({ "digest": d }),
            DigestInvalid(d) => json!({ "digest": d }),
            ManifestUnknown(t) => json!({ "Tag": t }),
            NameInvalid(n) | NameUnknown(n) => json!({ "name": n }),
            TagInvalid(t) => json!({ "tag": t }),
            _ => serde_json::Value::Null,
        }
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::Internal(format!("storage: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code();
        let message = match &self {
            // The reference registry's message is the bare phrase; the reason
            // goes in the detail.
            ApiError::UploadInvalid(_) => "blob upload invalid".to_string(),
            ApiError::ManifestInvalid(_) => "manifest invalid".to_string(),
            other => other.to_string(),
        };
        let mut detail = self.detail();
        if let ApiError::UploadInvalid(d) | ApiError::ManifestInvalid(d) = &self {
            detail = json!(d);
        }
        if status.is_server_error() {
            tracing::warn!("registry: {self}");
        }
        let body = json!({"errors": [{"code": code, "message": message, "detail": detail}]});
        let mut resp = (
            status,
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            format!("{body}\n"),
        )
            .into_response();
        let challenge = match &self {
            ApiError::Unauthorized { realm } => Some(format!("Basic realm=\"{realm}\"")),
            ApiError::BearerRequired { realm, scope } => Some(format!(
                "Bearer realm=\"{realm}\",service=\"{}\"{}",
                super::token::SERVICE,
                scope
                    .as_ref()
                    .map(|s| format!(",scope=\"{s}\""))
                    .unwrap_or_default()
            )),
            _ => None,
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        resp.headers_mut().insert(
            "Docker-Distribution-API-Version",
            HeaderValue::from_static("registry/2.0"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unauthorized_carries_basic_challenge() {
        let r = ApiError::Unauthorized {
            realm: "basic-realm".into(),
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"basic-realm\""
        );
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["errors"][0]["code"], "UNAUTHORIZED");
    }
}
