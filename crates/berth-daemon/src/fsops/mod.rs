//! Container filesystem operations behind `docker cp`, `diff`, `export` and
//! `commit`: reaching a container's rootfs without racing it
//! ([`rootfs`]), resolving paths strictly inside it ([`resolve`]), and
//! archiving into / extracting out of it ([`untar`], `berth_image::treetar`).

pub mod resolve;
pub mod rootfs;
pub mod untar;

use std::io;

/// Errors of filesystem operations, with Docker's wording where it has one.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// `Could not find the file /x in container c` (404).
    #[error("Could not find the file {path} in container {container}")]
    NotFound { path: String, container: String },
    /// Docker's `ErrRootFSReadOnly` (403).
    #[error("container rootfs is marked read-only")]
    ReadOnly,
    /// `extraction point is not a directory` and other bad requests (400).
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
}

impl FsError {
    pub fn io(context: impl Into<String>, source: impl Into<io::Error>) -> FsError {
        let source = source.into();
        if source.raw_os_error() == Some(libc::EROFS) {
            return FsError::ReadOnly;
        }
        FsError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<FsError> for crate::error::ApiError {
    fn from(e: FsError) -> Self {
        use crate::error::ApiError;
        match e {
            FsError::NotFound { .. } => ApiError::not_found(e.to_string()),
            FsError::ReadOnly => ApiError::new(axum::http::StatusCode::FORBIDDEN, e.to_string()),
            FsError::Invalid(_) => ApiError::bad_request(e.to_string()),
            FsError::Image(i) => i.into(),
            FsError::Io { .. } => ApiError::internal(e.to_string()),
        }
    }
}
