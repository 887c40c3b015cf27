//! HTTPS for `berth registry serve` (`http.tls` in the config file, or
//! `--tls-cert/--tls-key`): rustls with ring, certificate and key in PEM.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::ServeError;

/// A client that connects and never finishes the handshake gives up its task.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ServeError> {
    let bad = |what: &str, p: &Path, e: &dyn std::fmt::Display| {
        ServeError::Usage(format!("{what} {}: {e}", p.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("reading TLS certificate", cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("parsing TLS certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad(
            "reading TLS certificate",
            cert,
            &"no certificate found",
        ));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("reading TLS key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let c = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Usage(format!("TLS protocol versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad("TLS certificate does not match key", key, &e))?;
    Ok(Arc::new(c))
}

/// Accepts, completes the handshake, serves `app` on the encrypted stream.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    cert: &Path,
    key: &Path,
) -> Result<(), ServeError> {
    let acceptor = TlsAcceptor::from(config(cert, key)?);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!("TLS handshake with {peer}: {e}"),
                Err(_) => return tracing::debug!("TLS handshake with {peer} timed out"),
            };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}
