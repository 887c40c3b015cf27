//! `berth registry serve`: a registry implementing the distribution API
//! (what `docker push`/`pull`, containerd and skopeo speak), plain HTTP,
//! optionally behind htpasswd basic auth.

mod config;
mod errors;
mod handlers;
mod htpasswd;
mod search;
mod storage;
mod tls;
mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::routing::any;
use axum::Router;

pub use htpasswd::{Htpasswd, HtpasswdError};

pub struct ServerState {
    storage: storage::Storage,
    htpasswd: Option<Htpasswd>,
    realm: String,
    /// DELETE of manifests and blobs (`storage.delete.enabled`).
    delete_enabled: bool,
    /// `--token-auth`: the Bearer flow with this server as token service.
    tokens: Option<token::Tokens>,
    /// Served over HTTPS (the token realm's scheme).
    tls: bool,
}

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub addr: String,
    pub root: PathBuf,
    pub htpasswd: Option<PathBuf>,
    /// Realm of the Basic challenge.
    pub realm: String,
    /// Allow DELETE of manifests and blobs. On with flags (as before); a
    /// config file follows `storage.delete.enabled` (off by default, as the
    /// reference registry).
    pub delete_enabled: bool,
    /// Certificate and key (PEM) to serve HTTPS with.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// CA bundles (PEM) client certificates must chain to; none: clients
    /// need no certificate (`http.tls.clientcas`, `--tls-client-ca`).
    pub tls_client_cas: Vec<PathBuf>,
    /// Be a token service and require Bearer tokens (checked against the
    /// htpasswd users when there is a file).
    pub token_auth: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            addr: "127.0.0.1:5000".into(),
            root: PathBuf::from("/var/lib/berth-registry"),
            htpasswd: None,
            realm: "basic-realm".into(),
            delete_enabled: true,
            tls: None,
            tls_client_cas: Vec::new(),
            token_auth: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Usage(String),
    #[error("invalid address {addr:?}: {source}")]
    Addr {
        addr: String,
        #[source]
        source: std::net::AddrParseError,
    },
    #[error("opening storage at {path}: {source}")]
    Storage {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Htpasswd(#[from] HtpasswdError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

const USAGE: &str = "Usage: berth registry serve [CONFIG.yml] [--addr HOST:PORT] [--root DIR] [--htpasswd FILE] [--realm REALM] [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]...] [--token-auth]\n       berth registry gc [--root DIR] [--dry-run]";

/// Parses `serve [flags]` (the arguments after `berth registry`).
pub fn parse_args(args: &[String]) -> Result<ServeOptions, ServeError> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("serve") => {}
        _ => return Err(ServeError::Usage(USAGE.into())),
    }
    let mut o = ServeOptions::default();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| {
                    ServeError::Usage(format!("flag needs an argument: {flag}\n{USAGE}"))
                })
        };
        match flag {
            // A config file first: flags after it override its values.
            f if !f.starts_with('-') => o = config::load(Path::new(f))?,
            "--tls-cert" => {
                let key = o.tls.take().map(|(_, k)| k).unwrap_or_default();
                o.tls = Some((PathBuf::from(value()?), key));
            }
            "--tls-key" => {
                let cert = o.tls.take().map(|(c, _)| c).unwrap_or_default();
                o.tls = Some((cert, PathBuf::from(value()?)));
            }
            "--tls-client-ca" => o.tls_client_cas.push(PathBuf::from(value()?)),
            "--token-auth" => o.token_auth = true,
            "--addr" => o.addr = value()?,
            "--root" => o.root = PathBuf::from(value()?),
            "--htpasswd" => o.htpasswd = Some(PathBuf::from(value()?)),
            "--realm" => o.realm = value()?,
            "-h" | "--help" => return Err(ServeError::Usage(USAGE.into())),
            _ => return Err(ServeError::Usage(format!("unknown flag: {a}\n{USAGE}"))),
        }
    }
    if let Some((c, k)) = &o.tls {
        if c.as_os_str().is_empty() || k.as_os_str().is_empty() {
            return Err(ServeError::Usage(format!(
                "TLS needs both a certificate and a key\n{USAGE}"
            )));
        }
    }
    Ok(o)
}

/// The router over a storage root, for serving or for tests.
pub fn router(opts: &ServeOptions) -> Result<Router, ServeError> {
    let storage = storage::Storage::open(&opts.root).map_err(|source| ServeError::Storage {
        path: opts.root.display().to_string(),
        source,
    })?;
    let htpasswd = opts.htpasswd.as_deref().map(Htpasswd::load).transpose()?;
    let state = Arc::new(ServerState {
        storage,
        htpasswd,
        realm: opts.realm.clone(),
        delete_enabled: opts.delete_enabled,
        tokens: opts.token_auth.then(token::Tokens::default),
        tls: opts.tls.is_some(),
    });
    Ok(Router::new()
        .route("/v2", any(handlers::dispatch))
        .route("/v2/", any(handlers::dispatch))
        .route("/v2/{*rest}", any(handlers::dispatch))
        // The v1 index search API (`docker search host/term`) and its ping.
        .route("/v1/search", any(handlers::dispatch))
        .route("/v1/_ping", any(handlers::dispatch))
        .route("/token", any(handlers::dispatch))
        .with_state(state))
}

/// Binds and serves until the process ends.
pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    // `:5000` (the reference registry's form) is every address.
    let full = if opts.addr.starts_with(':') {
        format!("0.0.0.0{}", opts.addr)
    } else {
        opts.addr.clone()
    };
    let addr: SocketAddr = full.parse().map_err(|source| ServeError::Addr {
        addr: opts.addr.clone(),
        source,
    })?;
    let app = router(&opts)?;
    let listen_err = |source| ServeError::Listen {
        addr: opts.addr.clone(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(listen_err)?;
    tracing::info!(
        "registry listening on {addr}, storage {}",
        opts.root.display()
    );
    match &opts.tls {
        Some((cert, key)) => tls::serve(listener, app, cert, key, &opts.tls_client_cas).await,
        None => axum::serve(listener, app).await.map_err(listen_err),
    }
}

const GC_USAGE: &str = "Usage: berth registry gc [--root DIR] [--dry-run]";

/// `berth registry gc`: removes the blobs no manifest references (run it
/// while no server writes to the root), printing what goes as the reference
/// registry's `garbage-collect` does.
fn gc_main(args: &[String]) -> Result<(), ServeError> {
    let mut root = ServeOptions::default().root;
    let mut dry_run = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.split_once('=') {
            Some(("--root", v)) => root = PathBuf::from(v),
            _ if a == "--root" => {
                root = PathBuf::from(it.next().ok_or_else(|| {
                    ServeError::Usage(format!("flag needs an argument: --root\n{GC_USAGE}"))
                })?)
            }
            _ if a == "--dry-run" || a == "-d" => dry_run = true,
            _ if a == "-h" || a == "--help" => return Err(ServeError::Usage(GC_USAGE.into())),
            _ => return Err(ServeError::Usage(format!("unknown flag: {a}\n{GC_USAGE}"))),
        }
    }
    let storage_err = |source| ServeError::Storage {
        path: root.display().to_string(),
        source,
    };
    let storage = storage::Storage::open(&root).map_err(storage_err)?;
    let report = storage.gc(dry_run).map_err(storage_err)?;
    for d in &report.removed {
        println!("blob eligible for deletion: {d}");
    }
    println!(
        "{} blobs marked, {} blobs eligible for deletion ({} bytes){}",
        report.kept,
        report.removed.len(),
        report.freed_bytes,
        if dry_run {
            ", dry run: nothing removed"
        } else {
            ""
        }
    );
    Ok(())
}

/// Entry point of `berth registry ...` (argv after `registry`).
pub fn main(args: Vec<String>) -> Result<(), ServeError> {
    if args.first().map(String::as_str) == Some("gc") {
        return gc_main(&args[1..]);
    }
    let opts = parse_args(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Listen {
            addr: opts.addr.clone(),
            source,
        })?;
    rt.block_on(serve(opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let o = parse_args(&args(&[
            "serve",
            "--addr",
            "127.0.0.1:5001",
            "--root=/tmp/r",
        ]))
        .unwrap();
        assert_eq!(o.addr, "127.0.0.1:5001");
        assert_eq!(o.root, PathBuf::from("/tmp/r"));
        assert!(o.htpasswd.is_none());
        assert!(parse_args(&args(&["serve", "--bogus"])).is_err());
        assert!(parse_args(&args(&["serve", "--addr"])).is_err());
        assert!(parse_args(&args(&["list"])).is_err());
    }
}
