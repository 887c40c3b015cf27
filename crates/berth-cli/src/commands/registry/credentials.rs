//! Credentials in the docker CLI's `config.json` (`$DOCKER_CONFIG` or
//! `~/.docker`): `{"auths": {"127.0.0.1:5000": {"auth": base64("user:pass")}}}`,
//! so `docker` and `berth` share logins. Other keys of the file are kept.

use std::path::PathBuf;

use anyhow::{Context, Result};
use base64::Engine;
use serde_json::{json, Map, Value};

/// The key Docker uses for Docker Hub.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

pub fn config_path() -> PathBuf {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".docker")
        }
    };
    dir.join("config.json")
}

fn load() -> Result<Map<String, Value>> {
    let p = config_path();
    match std::fs::read(&p) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
        Ok(b) => match serde_json::from_slice::<Value>(&b)
            .with_context(|| format!("loading config file {}", p.display()))?
        {
            Value::Object(m) => Ok(m),
            _ => Ok(Map::new()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

fn save(m: &Map<String, Value>) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let p = config_path();
    let dir = p.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(serde_json::to_string_pretty(&Value::Object(m.clone()))?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &p).with_context(|| format!("writing {}", p.display()))?;
    Ok(())
}

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

pub fn store(registry: &str, username: &str, password: &str) -> Result<()> {
    let mut m = load()?;
    let auths = m.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    auths[server_key(registry)] = json!({ "auth": auth });
    save(&m)
}

/// Removes the entry; false when there was none.
pub fn erase(registry: &str) -> Result<bool> {
    let mut m = load()?;
    let key = server_key(registry);
    let removed = m
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(&key))
        .is_some();
    if removed {
        save(&m)?;
    }
    Ok(removed)
}

/// (username, password) stored for a registry.
pub fn lookup(registry: &str) -> Option<(String, String)> {
    let m = load().ok()?;
    let entry = m.get("auths")?.get(server_key(registry))?;
    let b64 = entry.get("auth")?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The `X-Registry-Auth` value for a registry: its stored credentials, or
/// an empty config (anonymous), base64url as docker sends it.
pub fn registry_auth_header(registry: &str) -> String {
    let key = server_key(registry);
    let v = match lookup(registry) {
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
        std::env::set_var("DOCKER_CONFIG", dir.path());
        std::fs::write(dir.path().join("config.json"), r#"{"psFormat":"x"}"#).unwrap();
        store("127.0.0.1:5000", "tester", "s3:cret").unwrap();
        assert_eq!(
            lookup("127.0.0.1:5000"),
            Some(("tester".into(), "s3:cret".into()))
        );
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        assert!(text.contains("psFormat"), "{text}");
        assert!(erase("127.0.0.1:5000").unwrap());
        assert!(!erase("127.0.0.1:5000").unwrap());
        assert_eq!(lookup("127.0.0.1:5000"), None);
    }
}
