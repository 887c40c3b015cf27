//! The docker CLI's rules for `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`,
//! `--tlskey`, `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`, turned into the API
//! client's [`TlsOptions`].

use std::path::PathBuf;

use berth_api::TlsOptions;

/// Where docker connects when TLS is on and no host is given.
pub const DEFAULT_TLS_HOST: &str = "tcp://localhost:2376";

/// The TLS flags as given on the command line.
#[derive(Debug, Default, Clone)]
pub struct TlsFlags {
    pub tls: bool,
    /// `Some` when `--tlsverify[=bool]` was given at all.
    pub tlsverify: Option<bool>,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

impl TlsFlags {
    /// `None` when TLS is off. `env` reads an environment variable (a parameter
    /// so tests need not touch the process environment).
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Option<TlsOptions> {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        let verify = self
            .tlsverify
            .unwrap_or_else(|| set("DOCKER_TLS_VERIFY").is_some());
        // Naming --tlsverify at all, even =false, turns TLS on, as in docker.
        if !(self.tls || self.tlsverify.is_some() || verify) {
            return None;
        }
        // The docker CLI computes these defaults before it parses `--config`, so
        // they follow `$DOCKER_CONFIG` / `~/.docker` but never `--config DIR`.
        let dir = set("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::config::dir(None, &env));
        // The default client key pair is optional: used only when both files exist.
        let default_if_present = |name: &str| Some(dir.join(name)).filter(|p| p.exists());
        Some(TlsOptions {
            verify,
            ca: Some(self.tlscacert.clone().unwrap_or_else(|| dir.join("ca.pem"))),
            cert: self
                .tlscert
                .clone()
                .or_else(|| default_if_present("cert.pem")),
            key: self
                .tlskey
                .clone()
                .or_else(|| default_if_present("key.pem")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testenv::env;

    #[test]
    fn off_unless_asked() {
        assert_eq!(TlsFlags::default().resolve(env(&[])), None);
        assert_eq!(
            TlsFlags::default().resolve(env(&[("DOCKER_TLS_VERIFY", "")])),
            None
        );
    }

    #[test]
    fn env_verify_and_cert_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), "").unwrap();
        let d = dir.path().to_str().unwrap();
        let o = TlsFlags::default()
            .resolve(env(&[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", d)]))
            .unwrap();
        assert!(o.verify);
        assert_eq!(o.ca, Some(dir.path().join("ca.pem")));
        assert_eq!(o.cert, Some(dir.path().join("cert.pem")));
        // key.pem is missing: no default key.
        assert_eq!(o.key, None);
    }

    #[test]
    fn cert_dir_is_the_env_config_dir() {
        let o = TlsFlags {
            tls: true,
            ..Default::default()
        }
        .resolve(env(&[("DOCKER_CONFIG", "/cfg"), ("HOME", "/h")]))
        .unwrap();
        assert_eq!(o.ca, Some("/cfg/ca.pem".into()));
    }

    #[test]
    fn flags_win_and_tlsverify_false_still_means_tls() {
        let f = TlsFlags {
            tlsverify: Some(false),
            tlscacert: Some("/x/ca.pem".into()),
            ..Default::default()
        };
        let o = f
            .resolve(env(&[("DOCKER_TLS_VERIFY", "1"), ("HOME", "/h")]))
            .unwrap();
        assert!(!o.verify);
        assert_eq!(o.ca, Some("/x/ca.pem".into()));
        let o = TlsFlags {
            tls: true,
            ..Default::default()
        }
        .resolve(env(&[("HOME", "/h")]))
        .unwrap();
        assert!(!o.verify);
        assert_eq!(o.ca, Some("/h/.docker/ca.pem".into()));
    }
}
