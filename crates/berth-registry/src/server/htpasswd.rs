//! Basic auth against an htpasswd file of bcrypt hashes (`htpasswd -B`), as
//! the reference registry's `htpasswd` auth. bcrypt is slow on purpose, so a
//! verified (user, password) pair is remembered by its SHA-256.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("reading htpasswd file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("htpasswd file {path}, line {line}: expected user:bcrypt-hash")]
    Syntax { path: String, line: usize },
}

pub struct Htpasswd {
    users: HashMap<String, String>,
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Htpasswd, HtpasswdError> {
        let text = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|line| HtpasswdError::Syntax {
            path: path.display().to_string(),
            line,
        })
    }

    /// Parses `user:hash` lines; returns the 1-based number of a bad line.
    pub fn parse(text: &str) -> Result<Htpasswd, usize> {
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').ok_or(i + 1)?;
            if !hash.starts_with("$2") {
                return Err(i + 1);
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Checks an `Authorization` header value.
    pub fn check_header(&self, value: Option<&str>) -> bool {
        let Some(b64) = value.and_then(|v| v.strip_prefix("Basic ")) else {
            return false;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let Ok(raw) = String::from_utf8(raw) else {
            return false;
        };
        match raw.split_once(':') {
            Some((u, p)) => self.check(u, p),
            None => false,
        }
    }

    pub fn check(&self, user: &str, password: &str) -> bool {
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let key: [u8; 32] = Sha256::digest(format!("{user}\0{password}\0{hash}")).into();
        let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache.contains(&key) {
            return true;
        }
        if bcrypt::verify(password, hash).unwrap_or(false) {
            cache.insert(key);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The compat fixture: tester / s3cret.
    const FIXTURE: &str = "tester:$2b$10$x4PqjbT8ZdFN9wW.k/1lwOHKiw7iqg6s60ekmok/JrOTB2Zf6jTkG\n";

    #[test]
    fn verifies_bcrypt_users() {
        let h = Htpasswd::parse(FIXTURE).unwrap();
        assert!(h.check("tester", "s3cret"));
        assert!(h.check("tester", "s3cret"));
        assert!(!h.check("tester", "wrong"));
        assert!(!h.check("nobody", "s3cret"));
        let b64 = base64::engine::general_purpose::STANDARD.encode("tester:s3cret");
        assert!(h.check_header(Some(&format!("Basic {b64}"))));
        assert!(!h.check_header(Some("Bearer x")));
        assert!(!h.check_header(None));
    }

    #[test]
    fn rejects_malformed_lines() {
        assert_eq!(Htpasswd::parse("a:b\n").err(), Some(1));
        assert_eq!(Htpasswd::parse("# c\n\nnocolon").err(), Some(3));
    }
}
