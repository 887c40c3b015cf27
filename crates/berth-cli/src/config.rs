//! The docker CLI's client configuration directory and its `config.json`, shared
//! with the stock docker CLI: logins (`auths`), the current context
//! (`currentContext`) and the contexts store (`contexts/`) all live there.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// The config directory: `--config`, else `$DOCKER_CONFIG`, else `~/.docker`.
/// This is the one place that answers it; `env` reads an environment variable
/// (a parameter so tests need not touch the process environment).
pub fn dir(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(dir) = flag.filter(|d| !d.as_os_str().is_empty()) {
        return dir.to_path_buf();
    }
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    match set("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(&set("HOME").unwrap_or_else(|| "/root".into())).join(".docker"),
    }
}

/// `config.json` as a JSON object. Keys berth does not know are kept as they
/// are, so the docker CLI's settings survive berth's writes.
pub struct ConfigFile {
    path: PathBuf,
    pub map: Map<String, Value>,
}

impl ConfigFile {
    /// Reads `<dir>/config.json`; a missing or blank file is an empty object.
    pub fn load(dir: &Path) -> Result<ConfigFile> {
        let path = dir.join("config.json");
        let map = match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => match serde_json::from_slice::<Value>(&b)
                .with_context(|| format!("Error parsing config file ({})", path.display()))?
            {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(ConfigFile { path, map })
    }

    /// `currentContext`, when set (docker writes no key for the default context).
    pub fn current_context(&self) -> Option<&str> {
        self.map
            .get("currentContext")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Sets or (with `None`) removes `currentContext`; true when that changed it.
    pub fn set_current_context(&mut self, name: Option<&str>) -> bool {
        if self.current_context() == name {
            return false;
        }
        match name {
            Some(n) => self.map.insert("currentContext".into(), n.into()),
            None => self.map.remove("currentContext"),
        };
        true
    }

    /// Writes the file atomically, mode 0600 (it may hold credentials), indented
    /// with tabs as the docker CLI writes it.
    pub fn save(&self) -> Result<()> {
        use serde::Serialize;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut text = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        self.map
            .serialize(&mut serde_json::Serializer::with_formatter(&mut text, fmt))?;
        let tmp = dir.join(format!(".config.json.{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testenv::env;

    #[test]
    fn flag_then_env_then_home() {
        let e = env(&[("DOCKER_CONFIG", "/env"), ("HOME", "/h")]);
        assert_eq!(dir(Some(Path::new("/flag")), &e), Path::new("/flag"));
        assert_eq!(dir(None, &e), Path::new("/env"));
        assert_eq!(dir(Some(Path::new("")), &e), Path::new("/env"));
        let e = env(&[("DOCKER_CONFIG", ""), ("HOME", "/h")]);
        assert_eq!(dir(None, &e), Path::new("/h/.docker"));
    }

    #[test]
    fn current_context_keeps_other_keys() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.json"),
            r#"{"auths":{"r":{"auth":"eDp5"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let mut f = ConfigFile::load(d.path()).unwrap();
        assert_eq!(f.current_context(), None);
        assert!(f.set_current_context(Some("remote")));
        assert!(!f.set_current_context(Some("remote")));
        f.save().unwrap();
        let mut f = ConfigFile::load(d.path()).unwrap();
        assert_eq!(f.current_context(), Some("remote"));
        assert_eq!(f.map["psFormat"], "x");
        assert_eq!(f.map["auths"]["r"]["auth"], "eDp5");
        assert!(f.set_current_context(None));
        f.save().unwrap();
        let text = std::fs::read_to_string(d.path().join("config.json")).unwrap();
        assert!(!text.contains("currentContext"), "{text}");
        assert!(text.contains("\n\t\"psFormat\": \"x\""), "{text}");
        // Missing file: empty, nothing set.
        let e = tempfile::tempdir().unwrap();
        assert!(ConfigFile::load(e.path()).unwrap().map.is_empty());
    }
}
