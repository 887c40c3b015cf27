//! The docker CLI's context store, byte-compatible so both CLIs share it:
//! `<config>/contexts/meta/<sha256(name)>/meta.json` holds
//! `{"Name":..,"Metadata":{"Description":..},"Endpoints":{"docker":{"Host":..,"SkipTLSVerify":..}}}`
//! and `<config>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem` its TLS material.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The endpoint berth connects through (docker's `docker` endpoint).
pub const DOCKER_ENDPOINT: &str = "docker";

/// The TLS files of an endpoint, in the order docker lists them.
pub const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// One context's `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Metadata", default, deserialize_with = "null_as_default")]
    pub metadata: ContextMetadata,
    #[serde(rename = "Endpoints", default, deserialize_with = "null_as_default")]
    pub endpoints: Endpoints,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextMetadata {
    #[serde(
        rename = "Description",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub description: String,
    /// Fields other tools put there (docker keeps them as `AdditionalFields`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoints {
    #[serde(rename = "docker", default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerEndpoint>,
    /// Endpoints berth has no use for (older CLIs wrote `kubernetes`), kept.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerEndpoint {
    /// Empty: the client's default daemon address.
    #[serde(rename = "Host", default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(rename = "SkipTLSVerify", default)]
    pub skip_tls_verify: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Go writes `null` for an unset interface field; read it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// PEM contents of an endpoint's TLS files; `None` for a file not there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsData {
    pub ca: Option<Vec<u8>>,
    pub cert: Option<Vec<u8>>,
    pub key: Option<Vec<u8>>,
}

impl TlsData {
    pub fn is_empty(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none()
    }

    /// (file name, contents) of the files present, in [`TLS_FILES`] order.
    pub fn files(&self) -> impl Iterator<Item = (&'static str, &Vec<u8>)> {
        TLS_FILES
            .into_iter()
            .zip([&self.ca, &self.cert, &self.key])
            .filter_map(|(n, d)| d.as_ref().map(|d| (n, d)))
    }
}

/// All of a context's TLS material, endpoint name → file name → contents:
/// what `context export` carries, endpoints berth does not use included.
pub type TlsTree = BTreeMap<String, BTreeMap<String, Vec<u8>>>;

/// The store under `<config dir>/contexts`.
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(config_dir: &Path) -> Store {
        Store {
            root: config_dir.join("contexts"),
        }
    }

    /// Directory names are the sha256 of the context name, so any name maps
    /// to one safe path component.
    fn id(name: &str) -> String {
        hex::encode(Sha256::digest(name.as_bytes()))
    }

    pub fn meta_dir(&self, name: &str) -> PathBuf {
        self.root.join("meta").join(Self::id(name))
    }

    pub fn tls_dir(&self, name: &str) -> PathBuf {
        self.root.join("tls").join(Self::id(name))
    }

    /// The endpoint's TLS directory (`tls/<id>/docker`).
    pub fn endpoint_tls_dir(&self, name: &str) -> PathBuf {
        self.tls_dir(name).join(DOCKER_ENDPOINT)
    }

    /// The context, or `None` when it has no `meta.json`.
    pub fn find(&self, name: &str) -> Result<Option<Meta>> {
        let path = self.meta_dir(name).join("meta.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(anyhow!(
                    "context {name:?}: {}",
                    go_io_error("open", &path, &e)
                ))
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| anyhow!("parsing {}: {e}", path.display()))
    }

    /// The context; a missing one fails with the docker CLI's message.
    pub fn get(&self, name: &str) -> Result<Meta> {
        self.find(name)?.ok_or_else(|| self.not_found(name))
    }

    /// `context "x": context not found: open <meta.json>: no such file or directory`.
    pub fn not_found(&self, name: &str) -> anyhow::Error {
        let path = self.meta_dir(name).join("meta.json");
        anyhow!(
            "context {name:?}: context not found: open {}: no such file or directory",
            path.display()
        )
    }

    /// Whether the context's metadata directory is there (what `docker context
    /// rm` checks).
    pub fn exists(&self, name: &str) -> bool {
        self.meta_dir(name).exists()
    }

    /// Every stored context, in no particular order.
    pub fn list(&self) -> Result<Vec<Meta>> {
        let dir = self.root.join("meta");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(anyhow!(go_io_error("open", &dir, &e))),
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry?.path().join("meta.json");
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                // A directory without meta.json is not a context (docker skips it too).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(anyhow!(go_io_error("open", &path, &e))),
            };
            out.push(
                serde_json::from_slice(&bytes)
                    .map_err(|e| anyhow!("parsing {}: {e}", path.display()))?,
            );
        }
        Ok(out)
    }

    /// Writes `meta.json` (dirs 0755, file 0644, as docker makes them),
    /// atomically so a reader never sees half a file.
    pub fn write(&self, meta: &Meta) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.meta_dir(&meta.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".meta.json.{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec(meta)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
        let path = dir.join("meta.json");
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
    }

    /// Removes the context's metadata and TLS material; removing what is not
    /// there is no error.
    pub fn remove(&self, name: &str) -> Result<()> {
        for (dir, what) in [
            (self.meta_dir(name), "metadata"),
            (self.tls_dir(name), "TLS data"),
        ] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(anyhow!(
                        "failed to remove {what}: {}",
                        go_io_error("unlinkat", &dir, &e)
                    ))
                }
            }
        }
        Ok(())
    }

    /// Names of the endpoint's TLS files that are there, in [`TLS_FILES`] order.
    pub fn tls_files(&self, name: &str) -> Vec<&'static str> {
        let dir = self.endpoint_tls_dir(name);
        TLS_FILES
            .into_iter()
            .filter(|f| dir.join(f).is_file())
            .collect()
    }

    /// Reads the endpoint's TLS files.
    pub fn tls_data(&self, name: &str) -> Result<TlsData> {
        let dir = self.endpoint_tls_dir(name);
        let read = |file: &str| -> Result<Option<Vec<u8>>> {
            let path = dir.join(file);
            match std::fs::read(&path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(anyhow!(go_io_error("open", &path, &e))),
            }
        };
        Ok(TlsData {
            ca: read("ca.pem")?,
            cert: read("cert.pem")?,
            key: read("key.pem")?,
        })
    }

    /// Replaces the endpoint's TLS files with `data` (dirs 0700, files 0600:
    /// the key is a secret).
    pub fn reset_tls(&self, name: &str, data: &TlsData) -> Result<()> {
        let dir = self.endpoint_tls_dir(name);
        remove_tree(&dir)?;
        if data.is_empty() {
            return Ok(());
        }
        write_secret_files(&dir, data.files())
    }
}

impl Store {
    /// Every endpoint's TLS files (`tls/<id>/<endpoint>/<file>`), sorted by
    /// name as docker lists them; none when the context has no TLS dir.
    pub fn tls_tree(&self, name: &str) -> Result<TlsTree> {
        let mut tree = TlsTree::new();
        let dir = self.tls_dir(name);
        for (endpoint, ep_dir) in subdirs(&dir)? {
            let files = tree.entry(endpoint).or_default();
            for entry in read_dir(&ep_dir)? {
                let path = entry.path();
                if path.is_file() {
                    let bytes = std::fs::read(&path)
                        .map_err(|e| anyhow!(go_io_error("open", &path, &e)))?;
                    files.insert(entry.file_name().to_string_lossy().into_owned(), bytes);
                }
            }
        }
        Ok(tree)
    }

    /// Stores `meta` (under its name) and replaces its TLS material with
    /// `tls`, with [`Store::reset_tls`]'s modes: how an import lands.
    pub fn import(&self, meta: &Meta, tls: &TlsTree) -> Result<()> {
        self.write(meta)?;
        let dir = self.tls_dir(&meta.name);
        remove_tree(&dir)?;
        for (endpoint, files) in tls.iter().filter(|(_, f)| !f.is_empty()) {
            write_secret_files(&dir.join(endpoint), files)?;
        }
        Ok(())
    }
}

/// Removes `dir` and what it holds; a missing `dir` is fine.
fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}

/// Creates `dir` (0700, with its parents) and `files` in it (0600): TLS
/// material holds private keys.
fn write_secret_files<F: AsRef<Path>, B: AsRef<[u8]>>(
    dir: &Path,
    files: impl IntoIterator<Item = (F, B)>,
) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    for (file, bytes) in files {
        let path = dir.join(file);
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(bytes.as_ref()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `dir`'s entries sorted by name; a missing `dir` has none.
fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow!(go_io_error("open", dir, &e))),
    };
    let mut out = entries.collect::<std::io::Result<Vec<_>>>()?;
    out.sort_by_key(|e| e.file_name());
    Ok(out)
}

/// (name, path) of `dir`'s subdirectories, sorted by name.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    Ok(read_dir(dir)?
        .into_iter()
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect())
}

/// An I/O error worded as Go's `*PathError` (`open /x: no such file or
/// directory`), which the docker CLI's messages quote.
pub fn go_io_error(op: &str, path: &Path, err: &std::io::Error) -> String {
    let text = err.to_string();
    // Rust appends " (os error N)" to the strerror text Go prints in lowercase.
    let text = match text.rfind(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    let text = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{op} {}: {text}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `docker context create xy --docker host=unix:///tmp/s.sock
    /// --description d` writes (docker 28.2.2).
    const DOCKER_META: &str = r#"{"Name":"xy","Metadata":{"Description":"d"},"Endpoints":{"docker":{"Host":"unix:///tmp/s.sock","SkipTLSVerify":false}}}"#;

    #[test]
    fn meta_json_round_trips_byte_for_byte() {
        let m: Meta = serde_json::from_str(DOCKER_META).unwrap();
        assert_eq!(m.name, "xy");
        assert_eq!(m.metadata.description, "d");
        let ep = m.endpoints.docker.as_ref().unwrap();
        assert_eq!(ep.host, "unix:///tmp/s.sock");
        assert!(!ep.skip_tls_verify);
        assert_eq!(serde_json::to_string(&m).unwrap(), DOCKER_META);
        // No description and no host: docker omits both keys.
        let bare = r#"{"Name":"b","Metadata":{},"Endpoints":{"docker":{"SkipTLSVerify":true}}}"#;
        let m: Meta = serde_json::from_str(bare).unwrap();
        assert!(m.endpoints.docker.as_ref().unwrap().skip_tls_verify);
        assert_eq!(serde_json::to_string(&m).unwrap(), bare);
        // Fields and endpoints berth does not know survive a rewrite.
        let extra = r#"{"Name":"k","Metadata":{"Description":"x","StackOrchestrator":"swarm"},"Endpoints":{"docker":{"Host":"tcp://h:1","SkipTLSVerify":false},"kubernetes":{"Namespace":"n"}}}"#;
        let m: Meta = serde_json::from_str(extra).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), extra);
        // Go's null interface fields.
        let m: Meta =
            serde_json::from_str(r#"{"Name":"n","Metadata":null,"Endpoints":null}"#).unwrap();
        assert_eq!(m.endpoints.docker, None);
    }

    #[test]
    fn store_layout_is_dockers() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::new(d.path());
        let m: Meta = serde_json::from_str(DOCKER_META).unwrap();
        s.write(&m).unwrap();
        // sha256("xy"), as the docker CLI names the directory.
        let dir = d
            .path()
            .join("contexts/meta/769a4e6d0003189c7e96c5d9b7e810a0d11c3a12832527ec94b0f86d277f51ca");
        assert_eq!(
            std::fs::read_to_string(dir.join("meta.json")).unwrap(),
            DOCKER_META
        );
        assert_eq!(s.get("xy").unwrap(), m);
        assert_eq!(s.list().unwrap(), vec![m]);
        assert!(s.find("nope").unwrap().is_none());
        assert_eq!(
            s.get("nope").unwrap_err().to_string(),
            format!(
                "context \"nope\": context not found: open {}/meta.json: no such file or directory",
                s.meta_dir("nope").display()
            )
        );
        let tls = TlsData {
            ca: Some(b"CA".to_vec()),
            key: Some(b"KEY".to_vec()),
            ..Default::default()
        };
        s.reset_tls("xy", &tls).unwrap();
        assert_eq!(s.tls_files("xy"), vec!["ca.pem", "key.pem"]);
        assert_eq!(s.tls_data("xy").unwrap(), tls);
        s.reset_tls("xy", &TlsData::default()).unwrap();
        assert!(s.tls_files("xy").is_empty());
        s.remove("xy").unwrap();
        assert!(!s.exists("xy"));
        s.remove("xy").unwrap();
    }

    #[test]
    fn go_style_io_errors() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            go_io_error("open", Path::new("/x"), &e),
            "open /x: no such file or directory"
        );
    }
}
