//! TLS for the daemon's TCP listeners: the rustls server config built from
//! `--tls/--tlsverify/--tlscacert/--tlscert/--tlskey`, and the accept loop that
//! puts a handshake in front of the HTTP service.
//!
//! A failed handshake (no client cert, a cert from another CA, an expired one,
//! plain HTTP on the TLS port) ends the connection before any byte reaches the
//! HTTP layer, so it is logged as a refused handshake, never as a request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::listeners::ApiService;

/// A peer that connects and never finishes the handshake must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the TLS flags resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Require client certificates signed by `ca`.
    pub verify: bool,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsSettings {
    /// dockerd's rules: `--tlsverify` implies `--tls`; the files default to `ca.pem`,
    /// `cert.pem` and `key.pem` in `$DOCKER_CERT_PATH`, else `~/.docker`.
    /// `None` when TLS is off.
    pub fn resolve(
        tls: bool,
        tlsverify: bool,
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Option<TlsSettings> {
        if !tls && !tlsverify {
            return None;
        }
        let dir = default_cert_dir();
        Some(TlsSettings {
            verify: tlsverify,
            ca: ca.unwrap_or_else(|| dir.join("ca.pem")),
            cert: cert.unwrap_or_else(|| dir.join("cert.pem")),
            key: key.unwrap_or_else(|| dir.join("key.pem")),
        })
    }

    /// The rustls config: TLS 1.2/1.3 with ring; client auth only with `verify`.
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = read_certs(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("reading TLS key {}", self.key.display()))?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = if self.verify {
            let mut roots = RootCertStore::empty();
            for ca in read_certs(&self.ca)? {
                roots
                    .add(ca)
                    .with_context(|| format!("adding CA certificate {}", self.ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("client verifier from {}", self.ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(certs, key).with_context(|| {
            format!(
                "TLS certificate {} does not match key {}",
                self.cert.display(),
                self.key.display()
            )
        })?;
        // The Engine API is HTTP/1.1 (hijacked streams need it); say so to clients that ask.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn default_cert_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".docker")
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading certificates from {}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing certificates in {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("no certificate found in {}", path.display());
    }
    Ok(certs)
}

/// Accepts TCP connections, completes the TLS handshake, then serves the API on
/// the encrypted stream (with upgrades, so attach/exec hijacks work).
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    svc: ApiService,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends pass; back off instead of spinning.
                tracing::warn!("accepting a TLS connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let svc = svc.clone();
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::warn!("TLS handshake from {peer} failed: {}", explain(&e));
                    return;
                }
                Err(_) => {
                    tracing::warn!("TLS handshake from {peer} timed out");
                    return;
                }
            };
            tracing::debug!("TLS connection from {peer}");
            crate::listeners::serve_connection(stream, svc).await;
        });
    }
}

/// A handshake error as an operator reads it: plain HTTP on the TLS port is the
/// usual mistake, and rustls calls it an invalid content type.
fn explain(e: &std::io::Error) -> String {
    let plain_http = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|t| {
            matches!(
                t,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
            )
        });
    if plain_http {
        format!("{e} (not TLS: plain HTTP sent to the TLS port?)")
    } else {
        e.to_string()
    }
}
