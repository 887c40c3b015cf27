//! `GET /distribution/{name}/json`: what a registry holds under a reference,
//! without pulling it: the manifest's descriptor and the platforms it serves
//! (an index's entries, or the image config's os/architecture).

use berth_image::reference::Reference;
use serde::Serialize;

use crate::client::RepoClient;
use crate::error::{RegistryError, Result};
use crate::manifest;
use crate::AuthConfig;

/// The image config is read only for its platform fields.
const MAX_CONFIG: usize = 8 << 20;

/// Docker's `DistributionInspect`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct DistributionInspect {
    #[serde(rename = "Descriptor")]
    pub descriptor: ManifestDescriptor,
    #[serde(rename = "Platforms")]
    pub platforms: Vec<Platform>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ManifestDescriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
}

/// An OCI platform as Docker writes it (empty fields left out).
#[derive(Debug, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Asks the registry of `r` (a tag, `latest` when it names none, or a
/// digest) for its manifest. Mirrors are tried first for the default
/// registry, as for a pull.
pub async fn inspect(r: &Reference, auth: &AuthConfig) -> Result<DistributionInspect> {
    let wanted = r
        .digest
        .clone()
        .or_else(|| r.tag.clone())
        .unwrap_or_else(|| "latest".into());
    for (mirror, client) in crate::client::mirror_clients(r) {
        match inspect_with(&client, r, &wanted).await {
            Ok(found) => return Ok(found),
            Err(e) => tracing::info!("registry mirror {mirror} has no {wanted}: {e}"),
        }
    }
    let client = RepoClient::new(&r.domain, &r.path, auth.clone(), false).await?;
    inspect_with(&client, r, &wanted).await
}

async fn inspect_with(
    client: &RepoClient,
    r: &Reference,
    wanted: &str,
) -> Result<DistributionInspect> {
    let (bytes, ct, digest) = client
        .get_manifest(wanted)
        .await?
        .ok_or(RegistryError::NoSuchManifest)?;
    if r.digest.as_deref().is_some_and(|d| d != digest) {
        return Err(RegistryError::ManifestVerification {
            digest: wanted.to_string(),
        });
    }
    let m = manifest::parse(&bytes, Some(&ct))
        .map_err(|e| RegistryError::InvalidManifest(e.to_string()))?;
    let platforms = if m.media_type.is_index() {
        m.manifests
            .iter()
            .filter_map(|d| d.platform.as_ref())
            .map(|p| Platform {
                architecture: p.architecture.clone(),
                os: p.os.clone(),
                variant: p.variant.clone(),
                ..Platform::default()
            })
            .collect()
    } else {
        config_platform(client, &m).await
    };
    Ok(DistributionInspect {
        descriptor: ManifestDescriptor {
            media_type: m.media_type.as_str().to_string(),
            digest,
            size: bytes.len() as i64,
        },
        platforms,
    })
}

/// The platform an image config names; none when the config cannot be read
/// or names none (Docker leaves the list empty then, too).
async fn config_platform(client: &RepoClient, m: &manifest::Manifest) -> Vec<Platform> {
    let Some(config) = &m.config else {
        return Vec::new();
    };
    // Verified against its digest by the client.
    let Ok(bytes) = client.get_blob_bytes(&config.digest, MAX_CONFIG).await else {
        return Vec::new();
    };
    match serde_json::from_slice::<Platform>(&bytes) {
        Ok(p) if !p.os.is_empty() || !p.architecture.is_empty() => vec![p],
        _ => Vec::new(),
    }
}
