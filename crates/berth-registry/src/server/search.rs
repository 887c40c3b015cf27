//! `GET /v1/search?q=&n=`: the index search API Docker's daemon calls for
//! `docker search host/term` (the distribution spec has none). A private
//! registry has no stars and no official images; a repository's description
//! is the `org.opencontainers.image.description` label of its `latest` tag
//! (else its first tag), so what users put in their images shows up.

use serde_json::{json, Value};

use super::storage::Storage;
use crate::manifest;

/// Docker's default page size for the v1 search API.
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;
/// Config blobs larger than this are not read for a description.
const MAX_CONFIG: u64 = 1 << 20;

/// Repositories whose name contains `term` (case-insensitive), at most `n`.
pub fn search(s: &Storage, term: &str, n: Option<usize>) -> Value {
    let limit = n.filter(|n| *n > 0).unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let wanted = term.to_ascii_lowercase();
    let matching: Vec<String> = s
        .catalog()
        .into_iter()
        .filter(|name| name.contains(&wanted))
        .collect();
    let results: Vec<Value> = matching
        .iter()
        .take(limit)
        .map(|name| {
            json!({
                "name": name,
                "description": description(s, name).unwrap_or_default(),
                "star_count": 0,
                "is_official": false,
                "is_automated": false,
            })
        })
        .collect();
    json!({
        "num_results": matching.len(),
        "num_pages": matching.len().div_ceil(limit).max(1),
        "page": 1,
        "page_size": limit,
        "query": term,
        "results": results,
    })
}

/// The description label of the repository's representative image.
fn description(s: &Storage, name: &str) -> Option<String> {
    let tags = s.tags(name);
    let tag = tags
        .iter()
        .find(|t| t.as_str() == "latest")
        .or_else(|| tags.first())?;
    let (_, media_type, bytes) = s.get_manifest(name, tag).ok()?;
    let mut m = manifest::parse(&bytes, Some(&media_type)).ok()?;
    if m.media_type.is_index() {
        // Any platform's image describes the repository.
        let child = m.manifests.first()?.digest.clone();
        let (_, ct, bytes) = s.get_manifest(name, &child).ok()?;
        m = manifest::parse(&bytes, Some(&ct)).ok()?;
    }
    let config = m.config?;
    let path = s.blob_path(&config.digest);
    if std::fs::metadata(&path).ok()?.len() > MAX_CONFIG {
        return None;
    }
    let config: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    config["config"]["Labels"]["org.opencontainers.image.description"]
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_substring_with_descriptions() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let config = br#"{"config":{"Labels":{"org.opencontainers.image.description":"a web server"}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cd = super::super::storage::sha256_digest(config);
        super::super::storage::write_atomic(&s.blob_path(&cd), config).unwrap();
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{cd}","size":{}}},"layers":[]}}"#,
            manifest::DOCKER_MANIFEST,
            manifest::DOCKER_CONFIG,
            config.len()
        );
        s.put_manifest(
            "team/nginx",
            m.as_bytes(),
            manifest::DOCKER_MANIFEST,
            Some("1"),
        )
        .unwrap();
        s.put_manifest(
            "other",
            m.as_bytes(),
            manifest::DOCKER_MANIFEST,
            Some("latest"),
        )
        .unwrap();
        let v = search(&s, "NGI", None);
        assert_eq!(v["num_results"], 1);
        assert_eq!(v["results"][0]["name"], "team/nginx");
        assert_eq!(v["results"][0]["description"], "a web server");
        assert_eq!(v["results"][0]["star_count"], 0);
        let v = search(&s, "", Some(1));
        assert_eq!(v["num_results"], 2);
        assert_eq!(v["results"].as_array().unwrap().len(), 1);
    }
}
