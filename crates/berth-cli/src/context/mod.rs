//! Docker contexts: named daemon endpoints kept in the config dir and shared
//! with the docker CLI. [`store`] reads and writes them, [`resolve`] picks the
//! one an invocation uses, [`archive`] is the export format, [`Endpoint`] is what connecting needs from it.

pub mod archive;
pub mod resolve;
pub mod store;

use anyhow::{anyhow, bail, Result};
use berth_api::TlsOptions;

pub use resolve::DEFAULT;
pub use store::Store;

use crate::cli::DEFAULT_HOST;

/// Where and how to reach a daemon.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub host: String,
    /// `None`: plain connection.
    pub tls: Option<TlsOptions>,
}

impl Endpoint {
    /// The endpoint stored context `name` names: its host (berth's socket when
    /// empty, as docker's client falls back to its default) and its TLS dir.
    pub fn of_context(store: &Store, name: &str) -> Result<Endpoint> {
        let meta = store.get(name)?;
        let ep = meta
            .endpoints
            .docker
            .ok_or_else(|| anyhow!("cannot find docker endpoint in context"))?;
        let host = if ep.host.is_empty() {
            DEFAULT_HOST.to_string()
        } else {
            ep.host
        };
        let tls = context_tls(store, name, ep.skip_tls_verify)?;
        Ok(Endpoint { host, tls })
    }
}

/// The docker CLI's rules for a context's TLS: on when the context has TLS
/// files or skips verification; the daemon verified against `ca.pem` unless
/// `SkipTLSVerify`; a client certificate sent only when both halves are there.
fn context_tls(store: &Store, name: &str, skip_verify: bool) -> Result<Option<TlsOptions>> {
    let dir = store.endpoint_tls_dir(name);
    let file = |f: &str| Some(dir.join(f)).filter(|p| p.is_file());
    let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
    if ca.is_none() && cert.is_none() && key.is_none() && !skip_verify {
        return Ok(None);
    }
    // Docker would fall back to the system's roots; the API client verifies
    // only against a CA it is given, so say so instead of not verifying.
    if !skip_verify && ca.is_none() {
        bail!(
            "context {name:?}: verifying the daemon needs the context's ca.pem \
             (set ca=... or skip-tls-verify=true with `context update --docker`)"
        );
    }
    let (cert, key) = match (cert, key) {
        (Some(c), Some(k)) => (Some(c), Some(k)),
        _ => (None, None),
    };
    Ok(Some(TlsOptions {
        verify: !skip_verify,
        ca,
        cert,
        key,
    }))
}

#[cfg(test)]
mod tests {
    use super::store::{DockerEndpoint, Meta, TlsData};
    use super::*;

    fn stored(s: &Store, name: &str, host: &str, skip: bool, tls: TlsData) {
        let mut m = Meta {
            name: name.into(),
            metadata: Default::default(),
            endpoints: Default::default(),
        };
        m.endpoints.docker = Some(DockerEndpoint {
            host: host.into(),
            skip_tls_verify: skip,
            ..Default::default()
        });
        s.write(&m).unwrap();
        s.reset_tls(name, &tls).unwrap();
    }

    #[test]
    fn context_endpoints() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        stored(&s, "plain", "", false, TlsData::default());
        assert_eq!(
            Endpoint::of_context(&s, "plain").unwrap(),
            Endpoint {
                host: DEFAULT_HOST.into(),
                tls: None
            }
        );
        stored(&s, "skip", "tcp://h:2376", true, TlsData::default());
        let tls = Endpoint::of_context(&s, "skip").unwrap().tls.unwrap();
        assert!(!tls.verify);
        let pem = || Some(b"x".to_vec());
        let all = TlsData {
            ca: pem(),
            cert: pem(),
            key: pem(),
        };
        stored(&s, "full", "tcp://h:2376", false, all);
        let ep = Endpoint::of_context(&s, "full").unwrap();
        assert_eq!(ep.host, "tcp://h:2376");
        let dir = s.endpoint_tls_dir("full");
        assert_eq!(
            ep.tls,
            Some(TlsOptions {
                verify: true,
                ca: Some(dir.join("ca.pem")),
                cert: Some(dir.join("cert.pem")),
                key: Some(dir.join("key.pem")),
            })
        );
        // A certificate without its key is not sent; no CA cannot be verified.
        let half = TlsData {
            ca: pem(),
            cert: pem(),
            key: None,
        };
        stored(&s, "half", "tcp://h:2376", false, half);
        let tls = Endpoint::of_context(&s, "half").unwrap().tls.unwrap();
        assert_eq!((tls.cert, tls.key), (None, None));
        let noca = TlsData {
            cert: pem(),
            key: pem(),
            ca: None,
        };
        stored(&s, "noca", "tcp://h:2376", false, noca);
        assert!(Endpoint::of_context(&s, "noca").is_err());
        assert!(Endpoint::of_context(&s, "missing")
            .unwrap_err()
            .to_string()
            .contains("context not found"));
    }
}
