//! Manifest formats: Docker v2.2 manifests and manifest lists, OCI manifests
//! and indexes. Only the fields distribution needs are modelled; the bytes are
//! always kept as served, since their digest is the manifest's identity.

use serde::{Deserialize, Serialize};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The Accept header of a manifest request: every format we can pull.
pub const ACCEPT: &str = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    DockerManifest,
    ManifestList,
    OciManifest,
    Index,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::DockerManifest => DOCKER_MANIFEST,
            MediaType::ManifestList => DOCKER_LIST,
            MediaType::OciManifest => OCI_MANIFEST,
            MediaType::Index => OCI_INDEX,
        }
    }

    fn from_str(s: &str) -> Option<MediaType> {
        Some(match s {
            DOCKER_MANIFEST => MediaType::DockerManifest,
            DOCKER_LIST => MediaType::ManifestList,
            OCI_MANIFEST => MediaType::OciManifest,
            OCI_INDEX => MediaType::Index,
            _ => return None,
        })
    }

    pub fn is_index(self) -> bool {
        matches!(self, MediaType::ManifestList | MediaType::Index)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("invalid manifest JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported manifest media type {0:?}")]
    MediaType(String),
    #[error("unsupported manifest schema version {0}")]
    Schema(i64),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(rename = "schemaVersion", default)]
    schema_version: i64,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// A parsed manifest or index.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub media_type: MediaType,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
}

impl Manifest {
    /// Digests this manifest depends on (config and layers, or children).
    pub fn references(&self) -> Vec<String> {
        if self.media_type.is_index() {
            return self.manifests.iter().map(|d| d.digest.clone()).collect();
        }
        self.config
            .iter()
            .chain(self.layers.iter())
            // Foreign layers live elsewhere.
            .filter(|d| d.urls.as_ref().is_none_or(|u| u.is_empty()))
            .map(|d| d.digest.clone())
            .collect()
    }

    /// The linux/amd64 entry of an index (Docker's default platform here).
    pub fn select_platform(&self, os: &str, arch: &str) -> Option<&Descriptor> {
        self.manifests.iter().find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == arch)
        })
    }
}

/// Parses manifest bytes; the media type comes from the body or, failing
/// that, from the Content-Type it was sent or served with.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let raw: Raw = serde_json::from_slice(bytes)?;
    if raw.schema_version != 2 {
        return Err(ManifestError::Schema(raw.schema_version));
    }
    let declared = raw
        .media_type
        .as_deref()
        .filter(|s| !s.is_empty())
        .or(content_type.filter(|c| MediaType::from_str(c).is_some()));
    let media_type = match declared {
        Some(s) => MediaType::from_str(s).ok_or_else(|| ManifestError::MediaType(s.to_string()))?,
        // OCI allows omitting mediaType: tell index from manifest by shape.
        None if !raw.manifests.is_empty() => MediaType::Index,
        None => MediaType::OciManifest,
    };
    if !media_type.is_index() && raw.config.is_none() {
        return Err(ManifestError::MediaType(format!(
            "{} without config",
            media_type.as_str()
        )));
    }
    Ok(Manifest {
        media_type,
        config: raw.config,
        layers: raw.layers,
        manifests: raw.manifests,
    })
}

/// A Docker v2.2 image manifest for pushing.
pub fn docker_manifest(config: Descriptor, layers: Vec<Descriptor>) -> Vec<u8> {
    let v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": config,
        "layers": layers,
    });
    // Docker pushes its manifests indented by three spaces; any stable form
    // works since the digest is computed over the bytes sent.
    serde_json::to_vec_pretty(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_index_and_selects_amd64() {
        let idx = br#"{"schemaVersion":2,"manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:a","size":1,"platform":{"architecture":"arm64","os":"linux"}},
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b","size":1,"platform":{"architecture":"amd64","os":"linux"}}]}"#;
        let m = parse(idx, None).unwrap();
        assert_eq!(m.media_type, MediaType::Index);
        assert_eq!(
            m.select_platform("linux", "amd64").unwrap().digest,
            "sha256:b"
        );
        assert!(m.select_platform("windows", "amd64").is_none());
        assert_eq!(m.references(), vec!["sha256:a", "sha256:b"]);
    }

    #[test]
    fn parses_docker_manifest_and_round_trips() {
        let cfg = Descriptor {
            media_type: DOCKER_CONFIG.into(),
            digest: "sha256:c".into(),
            size: 2,
            ..Default::default()
        };
        let layer = Descriptor {
            media_type: DOCKER_LAYER_GZIP.into(),
            digest: "sha256:l".into(),
            size: 3,
            ..Default::default()
        };
        let bytes = docker_manifest(cfg.clone(), vec![layer.clone()]);
        let m = parse(&bytes, None).unwrap();
        assert_eq!(m.media_type, MediaType::DockerManifest);
        assert_eq!(m.config, Some(cfg));
        assert_eq!(m.layers, vec![layer]);
        assert_eq!(m.references(), vec!["sha256:c", "sha256:l"]);
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(parse(b"{", None).is_err());
        assert!(matches!(
            parse(br#"{"schemaVersion":1}"#, None),
            Err(ManifestError::Schema(1))
        ));
        assert!(parse(br#"{"schemaVersion":2,"mediaType":"text/plain"}"#, None).is_err());
        assert!(parse(br#"{"schemaVersion":2,"layers":[]}"#, None).is_err());
    }
}
