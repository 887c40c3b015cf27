//! Credentials as the Engine API carries them (`X-Registry-Auth`: base64url
//! JSON) and registry challenges (`WWW-Authenticate: Basic realm=..` or
//! `Bearer realm=..,service=..,scope=..`).

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Docker's `AuthConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub email: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serveraddress: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub identitytoken: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub registrytoken: String,
}

impl AuthConfig {
    /// Decodes an `X-Registry-Auth` header. Docker sends URL-safe base64,
    /// older clients standard base64; a header that does not decode means
    /// anonymous, as in Docker.
    pub fn from_header(value: &str) -> AuthConfig {
        let v = value.trim();
        if v.is_empty() {
            return AuthConfig::default();
        }
        let engines = [
            base64::engine::general_purpose::URL_SAFE,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::STANDARD_NO_PAD,
        ];
        for e in engines {
            if let Ok(raw) = e.decode(v) {
                if let Ok(mut a) = serde_json::from_slice::<AuthConfig>(&raw) {
                    a.fill_from_auth();
                    return a;
                }
            }
        }
        AuthConfig::default()
    }

    /// Encodes for `X-Registry-Auth`.
    pub fn to_header(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }

    /// `auth` (base64 "user:pass") fills in empty username/password.
    fn fill_from_auth(&mut self) {
        if !self.username.is_empty() || self.auth.is_empty() {
            return;
        }
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(&self.auth) {
            if let Ok(s) = String::from_utf8(raw) {
                if let Some((u, p)) = s.split_once(':') {
                    self.username = u.to_string();
                    self.password = p.to_string();
                }
            }
        }
    }

    pub fn has_basic(&self) -> bool {
        !self.username.is_empty()
    }

    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(params);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: get("realm")?,
                service: get("service"),
                scope: get("scope"),
            }),
            _ => None,
        }
    }
}

/// `k="v",k2=v2`, quoted values may contain commas.
fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((k, after)) = rest.split_once('=') else {
            break;
        };
        let key = k.trim().trim_start_matches(',').trim().to_string();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (after[..end].trim().to_string(), &after[end..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_registry_auth_header() {
        let a = AuthConfig {
            username: "tester".into(),
            password: "s3cret".into(),
            serveraddress: "127.0.0.1:5000".into(),
            ..Default::default()
        };
        assert_eq!(AuthConfig::from_header(&a.to_header()), a);
        let std =
            base64::engine::general_purpose::STANDARD.encode(r#"{"auth":"dGVzdGVyOnMzY3JldA=="}"#);
        let b = AuthConfig::from_header(&std);
        assert_eq!(
            (b.username.as_str(), b.password.as_str()),
            ("tester", "s3cret")
        );
        assert_eq!(AuthConfig::from_header("!!!"), AuthConfig::default());
        assert_eq!(AuthConfig::from_header(""), AuthConfig::default());
        assert_eq!(a.basic_header(), "Basic dGVzdGVyOnMzY3JldA==");
    }

    #[test]
    fn parses_challenges() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
        assert_eq!(Challenge::parse("Bearer service=x"), None);
        assert_eq!(Challenge::parse("Digest realm=x"), None);
    }
}
