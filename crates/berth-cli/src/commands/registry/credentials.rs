//! Credentials in the docker CLI's `config.json` (in the config dir, see
//! [`crate::config::dir`]): `{"auths": {"127.0.0.1:5000": {"auth": base64("user:pass")}}}`,
//! so `docker` and `berth` share logins. Other keys of the file are kept.

use std::path::Path;

use anyhow::Result;
use base64::Engine;
use serde_json::{json, Value};

use crate::config::ConfigFile;

/// The key Docker uses for Docker Hub.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// The config key of a registry: `127.0.0.1:5000`, or Docker Hub's URL.
pub fn server_key(registry: &str) -> String {
    let r = registry.trim();
    let host = r
        .strip_prefix("https://")
        .or_else(|| r.strip_prefix("http://"))
        .unwrap_or(r)
        .split('/')
        .next()
        .unwrap_or("");
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => INDEX_SERVER.to_string(),
        h => h.to_string(),
    }
}

/// Registry domain of an image reference (`127.0.0.1:5000/a/b:v1`).
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_string(),
        _ => "docker.io".to_string(),
    }
}

pub fn store(dir: &Path, registry: &str, username: &str, password: &str) -> Result<()> {
    let mut file = ConfigFile::load(dir)?;
    let auths = file.map.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    auths[server_key(registry)] = json!({ "auth": auth });
    file.save()
}

/// Removes the entry; false when there was none.
pub fn erase(dir: &Path, registry: &str) -> Result<bool> {
    let mut file = ConfigFile::load(dir)?;
    let key = server_key(registry);
    let removed = file
        .map
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(&key))
        .is_some();
    if removed {
        file.save()?;
    }
    Ok(removed)
}

/// (username, password) stored for a registry.
pub fn lookup(dir: &Path, registry: &str) -> Option<(String, String)> {
    let file = ConfigFile::load(dir).ok()?;
    let entry = file.map.get("auths")?.get(server_key(registry))?;
    let b64 = entry.get("auth")?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The `X-Registry-Auth` value for a registry: its stored credentials, or
/// an empty config (anonymous), base64url as docker sends it.
pub fn registry_auth_header(dir: &Path, registry: &str) -> String {
    let key = server_key(registry);
    let v = match lookup(dir, registry) {
        Some((u, p)) => json!({"username": u, "password": p, "serveraddress": key}),
        None => json!({}),
    };
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_registries() {
        assert_eq!(server_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(server_key("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(server_key("docker.io"), INDEX_SERVER);
        assert_eq!(server_key(""), INDEX_SERVER);
        assert_eq!(registry_of("127.0.0.1:5000/compat/bb:v1"), "127.0.0.1:5000");
        assert_eq!(registry_of("localhost/x"), "localhost");
        assert_eq!(registry_of("me/app"), "docker.io");
        assert_eq!(registry_of("busybox"), "docker.io");
    }

    #[test]
    fn store_lookup_erase_keep_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("config.json"), r#"{"psFormat":"x"}"#).unwrap();
        store(d, "127.0.0.1:5000", "tester", "s3:cret").unwrap();
        assert_eq!(
            lookup(d, "127.0.0.1:5000"),
            Some(("tester".into(), "s3:cret".into()))
        );
        let text = std::fs::read_to_string(d.join("config.json")).unwrap();
        assert!(text.contains("psFormat"), "{text}");
        assert!(erase(d, "127.0.0.1:5000").unwrap());
        assert!(!erase(d, "127.0.0.1:5000").unwrap());
        assert_eq!(lookup(d, "127.0.0.1:5000"), None);
    }
}
