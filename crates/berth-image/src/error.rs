//! Errors of the image store. `Display` is the message Docker would give, so
//! the daemon can pass it through unchanged; `kind()` maps to an HTTP status.

use std::path::PathBuf;

/// Coarse class of an error, for the daemon's HTTP status (404, 409, 400, 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidParameter,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// `No such image: busybox:nosuchtag`
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    NotFound(String),
    /// Docker's reference/change/tag validation errors, verbatim.
    #[error("{0}")]
    InvalidParameter(String),
    /// Docker's `conflict: ...` messages, verbatim.
    #[error("{0}")]
    Conflict(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context} {path}: {source}")]
    Path {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Internal(String),
}

impl ImageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NoSuchImage(_) | ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::InvalidParameter(_) => ErrorKind::InvalidParameter,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn path(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ImageError::Path {
            context,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        ImageError::InvalidParameter(msg.into())
    }
}

/// Adds a path to an `io::Result` error.
pub(crate) trait PathContext<T> {
    fn at(self, context: &'static str, path: &std::path::Path) -> Result<T, ImageError>;
}

impl<T> PathContext<T> for std::io::Result<T> {
    fn at(self, context: &'static str, path: &std::path::Path) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::path(context, path, e))
    }
}

impl From<nix::Error> for ImageError {
    fn from(e: nix::Error) -> Self {
        ImageError::io("system call", std::io::Error::from(e))
    }
}
