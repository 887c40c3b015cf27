//! Client errors. `Display` is the text Docker's daemon gives for the same
//! failure, since the CLI prints it verbatim; `status()` is the HTTP status the
//! Engine API answers with when the error comes before any progress output.

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A 401 with a Basic challenge and no credentials to answer it.
    #[error("{method} \"{url}\": no basic auth credentials")]
    NoCredentials { method: String, url: String },
    /// Login refused by the registry.
    #[error("login attempt to {url} failed with status: {status}")]
    LoginFailed { url: String, status: String },
    /// Docker's wording for a repository that does not exist or is not readable.
    #[error("pull access denied for {name}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied")]
    PullDenied { name: String },
    #[error("manifest for {reference} not found: manifest unknown: manifest unknown")]
    ManifestUnknown { reference: String },
    /// A manifest the registry does not have, asked for without a pull
    /// (`GET /distribution/{name}/json`).
    #[error("manifest unknown: manifest unknown")]
    NoSuchManifest,
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform { platform: String },
    #[error("filesystem layer verification failed for digest {digest}")]
    LayerVerification { digest: String },
    #[error("manifest verification failed for digest {digest}")]
    ManifestVerification { digest: String },
    #[error("image config verification failed for digest {digest}")]
    ConfigVerification { digest: String },
    #[error("invalid manifest: {0}")]
    InvalidManifest(String),
    #[error("An image does not exist locally with the tag: {0}")]
    NoLocalTag(String),
    /// Any other answer of the registry: `<errors[0].code lowercased>: <message>`.
    #[error("{0}")]
    Registry(String),
    #[error("{context}: {}", crate::client::describe(source))]
    Http {
        context: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error("{0}")]
    InvalidParameter(String),
}

impl RegistryError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RegistryError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn http(context: impl Into<String>, source: reqwest::Error) -> Self {
        RegistryError::Http {
            context: context.into(),
            source,
        }
    }

    /// HTTP status for the Engine API.
    pub fn status(&self) -> u16 {
        use RegistryError::*;
        match self {
            // Docker answers a missing credential with a plain 500: a 401
            // would make the docker CLI prompt for a login on stdin.
            LoginFailed { .. } => 401,
            PullDenied { .. } | ManifestUnknown { .. } | NoSuchManifest | NoLocalTag(_) => 404,
            NoMatchingPlatform { .. } | InvalidParameter(_) => 400,
            Image(e) => match e.kind() {
                berth_image::ErrorKind::NotFound => 404,
                berth_image::ErrorKind::InvalidParameter => 400,
                berth_image::ErrorKind::Conflict => 409,
                berth_image::ErrorKind::Internal => 500,
            },
            _ => 500,
        }
    }
}

pub type Result<T> = std::result::Result<T, RegistryError>;
