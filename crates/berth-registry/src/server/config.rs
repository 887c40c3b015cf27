//! `berth registry serve CONFIG.yml`: the reference registry's config file,
//! the subset berth's server has settings for: `storage.filesystem.
//! rootdirectory`, `storage.delete.enabled`, `http.addr`, `http.tls.
//! certificate/key`, `auth.htpasswd.realm/path`. Other keys are accepted and
//! ignored, as the reference registry ignores what it does not use.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ServeError, ServeOptions};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct File {
    storage: Storage,
    http: Http,
    auth: Auth,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Storage {
    filesystem: Option<Filesystem>,
    delete: Option<Delete>,
}

#[derive(Debug, Default, Deserialize)]
struct Filesystem {
    rootdirectory: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
struct Delete {
    #[serde(default)]
    enabled: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Http {
    addr: Option<String>,
    tls: Option<Tls>,
}

#[derive(Debug, Deserialize)]
struct Tls {
    certificate: PathBuf,
    key: PathBuf,
    #[serde(default)]
    clientcas: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Auth {
    htpasswd: Option<HtpasswdAuth>,
}

#[derive(Debug, Deserialize)]
struct HtpasswdAuth {
    #[serde(default)]
    realm: Option<String>,
    path: PathBuf,
}

/// The options `path` describes. As with the reference registry, deletes
/// are off unless `storage.delete.enabled` says otherwise.
pub fn load(path: &Path) -> Result<ServeOptions, ServeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ServeError::Usage(format!("reading configuration {}: {e}", path.display())))?;
    parse(&text).map_err(|e| ServeError::Usage(format!("configuration {}: {e}", path.display())))
}

fn parse(text: &str) -> Result<ServeOptions, String> {
    let f: File = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    let mut o = ServeOptions {
        delete_enabled: f.storage.delete.is_some_and(|d| d.enabled),
        ..ServeOptions::default()
    };
    if let Some(root) = f.storage.filesystem.and_then(|fs| fs.rootdirectory) {
        o.root = root;
    }
    if let Some(addr) = f.http.addr {
        o.addr = addr;
    }
    if let Some(tls) = f.http.tls {
        o.tls = Some((tls.certificate, tls.key));
        o.tls_client_cas = tls.clientcas;
    }
    if let Some(h) = f.auth.htpasswd {
        o.htpasswd = Some(h.path);
        if let Some(realm) = h.realm {
            o.realm = realm;
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_compat_fixture_shape() {
        let o = parse(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: /tmp/r\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:5009\n  tls:\n    certificate: /c.pem\n    key: /k.pem\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: fixtures/registry-htpasswd\n",
        )
        .unwrap();
        assert_eq!(o.root, PathBuf::from("/tmp/r"));
        assert!(o.delete_enabled);
        assert_eq!(o.addr, "127.0.0.1:5009");
        assert_eq!(
            o.tls,
            Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem")))
        );
        assert_eq!(
            o.htpasswd,
            Some(PathBuf::from("fixtures/registry-htpasswd"))
        );
        assert_eq!(o.realm, "basic-realm");
        assert!(o.tls_client_cas.is_empty());
    }

    #[test]
    fn client_cas_require_client_certificates() {
        let o = parse(
            "http:\n  tls:\n    certificate: /c.pem\n    key: /k.pem\n    clientcas:\n      - /ca1.pem\n      - /ca2.pem\n",
        )
        .unwrap();
        assert_eq!(
            o.tls_client_cas,
            [PathBuf::from("/ca1.pem"), PathBuf::from("/ca2.pem")]
        );
    }

    #[test]
    fn deletes_are_off_by_default_and_bad_yaml_is_an_error() {
        let o = parse("version: 0.1\nhttp:\n  addr: :5000\n").unwrap();
        assert!(!o.delete_enabled);
        assert!(o.tls.is_none());
        assert!(parse("storage: [unclosed").is_err());
        assert!(
            parse("http:\n  tls:\n    key: /k.pem\n").is_err(),
            "tls without certificate"
        );
    }
}
