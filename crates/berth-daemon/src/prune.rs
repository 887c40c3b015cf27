//! Reclaiming space and accounting for it: `POST /containers/prune`,
//! `POST /images/prune` (dangling images, or unused with `dangling=false`)
//! and `GET /system/df`.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;

/// Bytes used by the files under `dir` (not following symlinks).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|ent| match ent.metadata() {
            Ok(m) if m.is_dir() => dir_size(&ent.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

/// `until` and `label`/`label!` filters shared by the prune endpoints.
struct PruneFilter {
    until: Option<i64>,
    labels: Vec<String>,
    not_labels: Vec<String>,
}

impl PruneFilter {
    fn parse(f: &HashMap<String, Vec<String>>) -> ApiResult<PruneFilter> {
        for k in f.keys() {
            if !matches!(k.as_str(), "until" | "label" | "label!") {
                return Err(ApiError::bad_request(format!("invalid filter '{k}'")));
            }
        }
        let until = match f.get("until").and_then(|v| v.first()) {
            Some(v) => Some(
                crate::events::parse_time(v)
                    .or_else(|| parse_go_duration(v).map(|d| now_nanos() - d))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("failed to parse value {v} as a timestamp"))
                    })?,
            ),
            None => None,
        };
        Ok(PruneFilter {
            until,
            labels: f.get("label").cloned().unwrap_or_default(),
            not_labels: f.get("label!").cloned().unwrap_or_default(),
        })
    }

    fn label_ok(&self, labels: &serde_json::Map<String, Value>) -> bool {
        let has = |spec: &String| match spec.split_once('=') {
            Some((k, v)) => labels.get(k).and_then(Value::as_str) == Some(v),
            None => labels.contains_key(spec),
        };
        self.labels.iter().all(has) && !self.not_labels.iter().any(has)
    }
}

fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
}

/// "10m", "1h30m", "45s" (Go durations as the CLI passes them through).
fn parse_go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let mut unit = ch.to_string();
        if ch == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let mult = match unit.as_str() {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            _ => return None,
        };
        total += num.parse::<f64>().ok()? * mult;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then_some(total as i64)
}

/// POST /containers/prune
pub async fn containers(d: &Daemon, filters: &HashMap<String, Vec<String>>) -> ApiResult<Value> {
    let f = PruneFilter::parse(filters)?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for e in d.all() {
        let c = e.get();
        if c.state.status.is_running() {
            continue;
        }
        if f.until
            .is_some_and(|u| c.created.timestamp_nanos_opt().unwrap_or(0) >= u)
            || !f.label_ok(&c.labels())
        {
            continue;
        }
        let size = d
            .images
            .rw_sizes(&c.id)
            .map_or(0, |(rw, _)| rw.max(0) as u64);
        match d.remove(&c.id, false, false).await {
            Ok(()) => {
                reclaimed += size;
                deleted.push(c.id);
            }
            // Started or removed meanwhile: not ours to prune any more.
            Err(err) => tracing::debug!("prune: skipping {}: {err}", c.id),
        }
    }
    d.events.publish(
        "container",
        "prune",
        "",
        [("reclaimed".to_string(), reclaimed.to_string())].into(),
    );
    Ok(json!({
        "ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
}

/// Image ids used by containers, for prune and df.
fn images_in_use(d: &Daemon) -> HashMap<String, (String, bool)> {
    d.all()
        .iter()
        .map(|e| {
            let c = e.get();
            (
                c.image_id.clone(),
                (c.id.clone(), c.state.status.is_running()),
            )
        })
        .collect()
}

/// POST /images/prune: dangling images; with `dangling=false`, every image no
/// container uses.
pub fn images(d: &Daemon, filters: &HashMap<String, Vec<String>>) -> ApiResult<Value> {
    let dangling_only = filters
        .get("dangling")
        .and_then(|v| v.first())
        .is_none_or(|v| !matches!(v.as_str(), "false" | "0"));
    let mut rest = filters.clone();
    rest.remove("dangling");
    let f = PruneFilter::parse(&rest)?;
    let mut list_filters = HashMap::new();
    if dangling_only {
        list_filters.insert("dangling".to_string(), vec!["true".to_string()]);
    }
    let used = images_in_use(d);
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for img in d.images.list(false, &list_filters)? {
        let id = img
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
        let labels = img
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if id.is_empty()
            || used.contains_key(&id)
            || f.until.is_some_and(|u| created * 1_000_000_000 >= u)
            || !f.label_ok(&labels)
        {
            continue;
        }
        let in_use = |image_id: &str| used.get(image_id).cloned();
        // By id with force: an unused tagged image goes with all its tags.
        match d.images.remove(&id, true, true, &in_use) {
            Ok(records) => {
                reclaimed += img.get("Size").and_then(Value::as_u64).unwrap_or(0);
                for r in &records {
                    if let Some(t) = r.get("Untagged").and_then(Value::as_str) {
                        d.image_event(&id, "untag", Some(t));
                    }
                    if let Some(x) = r.get("Deleted").and_then(Value::as_str) {
                        d.image_event(x, "delete", None);
                    }
                }
                deleted.extend(records);
            }
            Err(err) => tracing::debug!("image prune: skipping {id}: {err}"),
        }
    }
    d.events.publish(
        "image",
        "prune",
        "",
        [("reclaimed".to_string(), reclaimed.to_string())].into(),
    );
    Ok(json!({
        "ImagesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
}

/// POST /build/prune: the classic builder's cache. Each cached step is an
/// image; those no tag, container or child image holds are removed (with
/// their untagged parents, as `rmi` does) and their cache rows go. With
/// `all`, every row goes, so the next build runs every step, but tagged
/// images and those in use stay. `keep-storage` is not honoured.
pub fn build_cache(
    d: &Daemon,
    all: bool,
    filters: &HashMap<String, Vec<String>>,
) -> ApiResult<Value> {
    let f = PruneFilter::parse(filters)?;
    let cache = crate::build::BuildCache::open(&d.opts.data_root)
        .map_err(|e| ApiError::internal(format!("opening the build cache: {e}")))?;
    let cached: std::collections::HashSet<String> = cache
        .images()
        .map_err(|e| ApiError::internal(format!("reading the build cache: {e}")))?
        .into_iter()
        .collect();
    let used = images_in_use(d);
    let in_use = |image_id: &str| used.get(image_id).cloned();
    let listed = d.images.list(true, &HashMap::new())?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    // Children first (newest first), so a chain goes in one pass.
    let mut candidates: Vec<&Value> = listed
        .iter()
        .filter(|img| {
            img.get("Id")
                .and_then(Value::as_str)
                .is_some_and(|id| cached.contains(id))
        })
        .collect();
    candidates.sort_by_key(|img| std::cmp::Reverse(img.get("Created").and_then(Value::as_i64)));
    for img in candidates {
        let id = img.get("Id").and_then(Value::as_str).unwrap_or_default();
        let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
        let tagged = img
            .get("RepoTags")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|t| t.as_str() != Some("<none>:<none>")));
        let labels = img
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if tagged
            || used.contains_key(id)
            || f.until.is_some_and(|u| created * 1_000_000_000 >= u)
            || !f.label_ok(&labels)
        {
            continue;
        }
        match d.images.remove(id, false, true, &in_use) {
            Ok(records) => {
                reclaimed += img.get("Size").and_then(Value::as_u64).unwrap_or(0);
                for r in &records {
                    if let Some(x) = r.get("Deleted").and_then(Value::as_str) {
                        d.image_event(x, "delete", None);
                        deleted.push(x.to_string());
                    }
                }
            }
            // A child image or another tag keeps it.
            Err(err) => tracing::debug!("build cache prune: keeping {id}: {err}"),
        }
    }
    // Without `all`: the rows whose image is gone, by this prune or an
    // earlier rmi (a parent removed along with a child is in `deleted`).
    let forgotten = (!all).then(|| {
        let listed: std::collections::HashSet<&str> = listed
            .iter()
            .filter_map(|img| img.get("Id").and_then(Value::as_str))
            .collect();
        cached
            .iter()
            .filter(|id| !listed.contains(id.as_str()) || deleted.contains(id))
            .cloned()
            .collect::<Vec<_>>()
    });
    cache
        .forget(forgotten.as_deref())
        .map_err(|e| ApiError::internal(format!("writing the build cache: {e}")))?;
    Ok(json!({
        "CachesDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    }))
}

/// GET /system/df
/// `GET /system/df` from the listed `containers` (with their sizes): the
/// images with how many containers use each, and the volumes with their
/// usage. Build cache records are not reported, as Docker's classic builder
/// reports none.
pub fn df(d: &Daemon, containers: Vec<Value>) -> ApiResult<Value> {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for c in &containers {
        if let Some(id) = c["ImageID"].as_str() {
            *counts.entry(id.to_string()).or_default() += 1;
        }
    }
    let mut layers_size = 0i64;
    let mut images = d.images.list(false, &HashMap::new())?;
    for img in images.iter_mut() {
        let id = img
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let size = img.get("Size").and_then(Value::as_i64).unwrap_or(0);
        layers_size += size;
        img["Containers"] = json!(counts.get(&id).copied().unwrap_or(0));
        img["SharedSize"] = json!(0);
    }
    Ok(json!({
        "LayersSize": layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": d.volumes.list_with_usage()?,
        "BuildCache": [],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10m"), Some(600_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("250ms"), Some(250_000_000));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("x"), None);
    }

    #[test]
    fn label_filters() {
        let f = PruneFilter::parse(&HashMap::from([
            ("label".to_string(), vec!["tier=db".to_string()]),
            ("label!".to_string(), vec!["keep".to_string()]),
        ]))
        .unwrap();
        let l = |v: Value| v.as_object().unwrap().clone();
        assert!(f.label_ok(&l(json!({"tier": "db"}))));
        assert!(!f.label_ok(&l(json!({"tier": "db", "keep": "1"}))));
        assert!(!f.label_ok(&l(json!({"tier": "web"}))));
        assert!(PruneFilter::parse(&HashMap::from([("bogus".to_string(), vec![])])).is_err());
    }

    #[test]
    fn sizes_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/f"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("g"), [0u8; 20]).unwrap();
        assert_eq!(dir_size(dir.path()), 120);
    }
}
