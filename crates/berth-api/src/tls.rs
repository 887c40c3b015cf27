//! TLS to a daemon's TCP socket, as the docker CLI's `--tls*` flags set it up:
//! with `verify`, the daemon's certificate must chain to `ca` and name the host
//! we dialled (DNS name or IP SAN); without, any certificate is taken (`--tls`
//! alone only encrypts). A client certificate is sent when `cert` and `key` are given.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;

use crate::error::Error;

/// The TLS half of the client's connection settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Check the daemon's certificate against `ca` and the host name.
    pub verify: bool,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// A ready TLS client configuration; cheap to clone.
#[derive(Clone)]
pub struct TlsConnector {
    inner: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl TlsOptions {
    /// Reads the PEM files and builds the rustls configuration.
    pub fn connector(&self) -> Result<TlsConnector, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(format!("TLS protocol versions: {e}")))?;
        let builder = if self.verify {
            let ca = self.ca.as_deref().ok_or_else(|| {
                Error::Tls("--tlsverify needs a CA certificate (--tlscacert)".into())
            })?;
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca, "CA certificate")? {
                roots
                    .add(cert)
                    .map_err(|e| Error::Tls(format!("CA certificate {:?}: {e}", ca)))?;
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| Error::Tls(format!("CA certificate {:?}: {e}", ca)))?;
            builder.with_webpki_verifier(verifier)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
        };
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let certs = read_certs(cert, "certificate")?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| Error::Tls(format!("could not read key {key:?}: {e}")))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| Error::Tls(format!("client certificate {cert:?}: {e}")))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(Error::Tls(
                    "a client certificate needs both --tlscert and --tlskey".into(),
                ))
            }
        };
        Ok(TlsConnector {
            inner: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }
}

impl TlsConnector {
    /// Runs the handshake on `tcp`; `addr` is the `host:port` dialled, whose host
    /// part the certificate must name.
    pub async fn connect(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
        let name = server_name(addr)?;
        self.inner
            .connect(name, tcp)
            .await
            .map_err(|source| Error::Handshake {
                host: format!("tcp://{addr}"),
                source,
            })
    }
}

/// The host part of `host:port` / `[v6]:port` as a TLS server name (IP or DNS).
fn server_name(addr: &str) -> Result<ServerName<'static>, Error> {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|e| Error::Tls(format!("invalid TLS server name {host:?}: {e}")))
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("could not read {what} {path:?}: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!("no {what} found in {path:?}")));
    }
    Ok(certs)
}

/// `--tls` without `--tlsverify`: the channel is encrypted but the peer is not
/// authenticated, as with the docker CLI. The handshake signatures are still
/// checked, so the session keys belong to whoever holds the presented key.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_from_addresses() {
        assert_eq!(
            server_name("127.0.0.1:2376").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            server_name("[::1]:2376").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert_eq!(
            server_name("localhost:1").unwrap(),
            ServerName::try_from("localhost").unwrap()
        );
    }

    #[test]
    fn half_a_keypair_is_an_error() {
        let opts = TlsOptions {
            cert: Some("/nonexistent/cert.pem".into()),
            ..Default::default()
        };
        assert!(matches!(opts.connector(), Err(Error::Tls(_))));
        let opts = TlsOptions {
            verify: true,
            ca: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let err = opts.connector().unwrap_err().to_string();
        assert!(err.contains("could not read CA certificate"), "{err}");
    }
}
