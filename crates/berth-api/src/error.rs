//! Errors of the API client.

/// Everything that can go wrong talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon answered with an error status; `message` is the body's
    /// `message` field. Display is exactly the message, so the CLI can print
    /// `Error response from daemon: <message>` like docker does.
    #[error("{message}")]
    Daemon { status: u16, message: String },
    /// Could not reach the daemon at all.
    #[error("Cannot connect to the Docker daemon at {host}. Is the docker daemon running?")]
    Connect {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid host {0:?}")]
    InvalidHost(String),
    /// An `ssh://` host docker would not take.
    #[error(transparent)]
    SshUrl(#[from] crate::ssh::UrlError),
    /// The ssh process that carries the connection failed (not found, could
    /// not log in, no `docker` on the remote...). `request` names the request
    /// as Go's HTTP client does (`Get "http://docker.example.com/v1.47/_ping"`),
    /// so the message reads as docker's.
    #[error("error during connect: {}{source}", request_prefix(.request))]
    Ssh {
        request: Option<String>,
        #[source]
        source: crate::ssh::Failure,
    },
    /// TLS settings that cannot be used (unreadable CA, cert without key...).
    #[error("{0}")]
    Tls(String),
    /// The daemon was reached but the TLS handshake failed (unknown CA, wrong
    /// host name, no client certificate accepted).
    #[error("error during connect: TLS handshake with {host} failed: {source}")]
    Handshake {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("{0}")]
    HttpBuild(#[from] hyper::http::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The daemon broke the protocol (e.g. no 101 on a hijack request).
    #[error("{0}")]
    Protocol(String),
}

/// `request: `, or nothing for a bare connection (`system dial-stdio`).
fn request_prefix(request: &Option<String>) -> String {
    request
        .as_ref()
        .map(|r| format!("{r}: "))
        .unwrap_or_default()
}

impl Error {
    /// HTTP status of a daemon error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Daemon { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for 404 answers (no such container/image/exec...).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}
