//! HTTPS for `berth registry serve` (`http.tls` in the config file, or
//! `--tls-cert/--tls-key`): rustls with ring, certificate and key in PEM;
//! client certificates required when client CAs are given (`http.tls.
//! clientcas`, `--tls-client-ca`).

use std::path::{Path, PathBuf};
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

fn config(
    cert: &Path,
    key: &Path,
    client_cas: &[PathBuf],
) -> Result<Arc<ServerConfig>, ServeError> {
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
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServeError::Usage(format!("TLS protocol versions: {e}")))?;
    let builder = if client_cas.is_empty() {
        builder.with_no_client_auth()
    } else {
        // Clients must present a certificate one of these CAs issued.
        let mut roots = rustls::RootCertStore::empty();
        for ca in client_cas {
            for c in
                CertificateDer::pem_file_iter(ca).map_err(|e| bad("reading client CA", ca, &e))?
            {
                let c = c.map_err(|e| bad("parsing client CA", ca, &e))?;
                roots.add(c).map_err(|e| bad("adding client CA", ca, &e))?;
            }
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ServeError::Usage(format!("client CAs: {e}")))?;
        builder.with_client_cert_verifier(verifier)
    };
    let c = builder
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
    client_cas: &[PathBuf],
) -> Result<(), ServeError> {
    let acceptor = TlsAcceptor::from(config(cert, key, client_cas)?);
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
