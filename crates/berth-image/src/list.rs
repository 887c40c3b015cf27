//! `GET /images/json`: summaries with Docker's filters (reference, dangling,
//! label, before, since) and its rules for untagged intermediates.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::config::ImageJson;
use crate::db;
use crate::error::ImageError;
use crate::glob;
use crate::reference::{self, Reference};
use crate::store::{lookup, parse_config, ImageStore};

const ACCEPTED_FILTERS: &[&str] = &["dangling", "label", "before", "since", "reference", "until"];

/// Parsed, validated `filters` argument.
#[derive(Debug, Default)]
pub(crate) struct ListFilters {
    dangling: Option<bool>,
    labels: Vec<String>,
    references: Vec<String>,
    before: Option<i64>,
    since: Option<i64>,
    until: Option<i64>,
}

impl ListFilters {
    /// `resolve_created` maps an image reference to its creation time.
    pub(crate) fn parse(
        filters: &HashMap<String, Vec<String>>,
        resolve_created: &dyn Fn(&str) -> Result<i64, ImageError>,
    ) -> Result<ListFilters, ImageError> {
        let mut f = ListFilters::default();
        for (key, values) in filters {
            if !ACCEPTED_FILTERS.contains(&key.as_str()) {
                return Err(ImageError::invalid(format!("invalid filter '{key}'")));
            }
            if values.is_empty() {
                continue;
            }
            match key.as_str() {
                "dangling" => {
                    let mut val = None;
                    for v in values {
                        let b = match v.to_lowercase().as_str() {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            _ => {
                                return Err(ImageError::invalid(format!(
                                    "Invalid filter 'dangling={v}'"
                                )))
                            }
                        };
                        val = Some(val.unwrap_or(false) || b);
                    }
                    f.dangling = val;
                }
                "label" => f.labels = values.clone(),
                "reference" => f.references = values.clone(),
                // Docker takes the last value for these.
                "before" => f.before = Some(resolve_created(values.last().map_or("", |s| s))?),
                "since" => f.since = Some(resolve_created(values.last().map_or("", |s| s))?),
                "until" => f.until = Some(parse_until(values.last().map_or("", |s| s))?),
                _ => {}
            }
        }
        Ok(f)
    }

    fn labels_match(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.labels.iter().all(|want| {
            let (k, v) = match want.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (want.as_str(), None),
            };
            match (labels.and_then(|l| l.get(k)), v) {
                (Some(_), None) => true,
                (Some(have), Some(v)) => have == v,
                (None, _) => false,
            }
        })
    }

    /// Docker's `FamiliarMatch`: the pattern against `name:tag`, then `name`.
    fn reference_matches(&self, r: &Reference) -> bool {
        self.references.is_empty()
            || self.references.iter().any(|p| {
                glob::matches(p, &r.familiar_string()) || glob::matches(p, &r.familiar_name())
            })
    }
}

/// `until`: unix seconds (possibly fractional) or an RFC 3339 time.
fn parse_until(v: &str) -> Result<i64, ImageError> {
    if let Ok(secs) = v.parse::<f64>() {
        return Ok(secs as i64);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp())
        .map_err(|_| ImageError::invalid(format!("failed to parse value {v} as a timestamp")))
}

impl ImageStore {
    pub fn list(
        &self,
        all: bool,
        filters: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<Value>, ImageError> {
        let conn = self.conn();
        let resolve_created = |name: &str| -> Result<i64, ImageError> {
            let row = lookup(&conn, name)?;
            Ok(parse_config(&row)?.created_unix())
        };
        let f = ListFilters::parse(filters, &resolve_created)?;
        let layer_sizes = layer_sizes(&conn)?;
        let parents: HashSet<String> = db::all_images(&conn)?
            .into_iter()
            .filter_map(|r| r.parent)
            .collect();

        let mut out = Vec::new();
        for row in db::all_images(&conn)? {
            let img: ImageJson = parse_config(&row)?;
            let created = img.created_unix();
            if f.before.is_some_and(|b| created >= b)
                || f.since.is_some_and(|s| created <= s)
                || f.until.is_some_and(|u| created >= u)
            {
                continue;
            }
            if !f.labels.is_empty() && !f.labels_match(img.config.labels.as_ref()) {
                continue;
            }
            let mut tags = Vec::new();
            let mut digests = Vec::new();
            for (name, is_digest) in db::refs_of(&conn, &row.id)? {
                let Ok(r) = reference::parse_normalized_named(&name) else {
                    continue;
                };
                if !f.reference_matches(&r) {
                    continue;
                }
                if is_digest {
                    digests.push(r.familiar_string());
                } else {
                    tags.push(r.familiar_string());
                }
            }
            if tags.is_empty() && digests.is_empty() {
                let has_children = parents.contains(&row.id);
                // Intermediate images (untagged parents) only show with all=true.
                if (!all && has_children) || f.dangling == Some(false) || !f.references.is_empty() {
                    continue;
                }
                tags.push("<none>:<none>".to_string());
                digests.push("<none>@<none>".to_string());
            } else if f.dangling == Some(true) {
                continue;
            }
            let size = image_size(&img, &layer_sizes);
            out.push(json!({
                "Id": row.id,
                "ParentId": row.parent.clone().unwrap_or_default(),
                "RepoTags": tags,
                "RepoDigests": digests,
                "Created": created,
                "Size": size,
                "SharedSize": -1,
                "VirtualSize": size,
                "Labels": img.config.labels,
                "Containers": -1,
            }));
        }
        out.sort_by_key(|v| std::cmp::Reverse(v["Created"].as_i64().unwrap_or(0)));
        Ok(out)
    }
}

pub(crate) fn layer_sizes(conn: &rusqlite::Connection) -> Result<HashMap<String, i64>, ImageError> {
    let mut st = conn.prepare("SELECT chain_id, size FROM layer_layers")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sum of the image's layer sizes.
pub(crate) fn image_size(img: &ImageJson, sizes: &HashMap<String, i64>) -> i64 {
    crate::layer::chain_ids(&img.rootfs.diff_ids)
        .iter()
        .map(|c| sizes.get(c).copied().unwrap_or(0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    fn parse(pairs: &[(&str, &str)]) -> Result<ListFilters, ImageError> {
        ListFilters::parse(&filters(pairs), &|_| Ok(100))
    }

    #[test]
    fn reference_filter_uses_familiar_names() {
        let f = parse(&[("reference", "imp")]).unwrap();
        let r = |s: &str| reference::parse_normalized_named(s).unwrap();
        assert!(f.reference_matches(&r("imp:v1")));
        assert!(!f.reference_matches(&r("impx:v1")));
        let f = parse(&[("reference", "busybox:lat*")]).unwrap();
        assert!(f.reference_matches(&r("docker.io/library/busybox:latest")));
        assert!(!f.reference_matches(&r("busybox:1.36")));
    }

    #[test]
    fn label_and_dangling_filters() {
        let f = parse(&[("label", "a"), ("label", "b=c")]).unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "x".to_string());
        assert!(!f.labels_match(Some(&labels)));
        labels.insert("b".to_string(), "c".to_string());
        assert!(f.labels_match(Some(&labels)));
        assert!(!f.labels_match(None));
        assert_eq!(parse(&[("dangling", "true")]).unwrap().dangling, Some(true));
        assert_eq!(
            parse(&[("dangling", "maybe")]).unwrap_err().to_string(),
            "Invalid filter 'dangling=maybe'"
        );
        assert_eq!(
            parse(&[("bogus", "x")]).unwrap_err().to_string(),
            "invalid filter 'bogus'"
        );
        assert_eq!(parse(&[("before", "x")]).unwrap().before, Some(100));
        assert_eq!(
            parse(&[("until", "2020-01-01T00:00:00Z")]).unwrap().until,
            Some(1_577_836_800)
        );
    }
}
