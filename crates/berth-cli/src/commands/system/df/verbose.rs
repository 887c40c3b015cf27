//! `docker system df -v`: what each image, container, local volume and
//! build cache record takes, a table for each kind as docker's
//! `DiskUsageContext.verboseWrite` prints them. A `--format` other than
//! `table` is one template run over the four lists together (`{{json .}}`
//! prints them as one object), as docker runs it.

use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use berth_api::types::{ContainerSummary, ImageSummary};
use serde_json::{json, Value};

use crate::commands::container::ps;
use crate::commands::image::list::image_rows;
use crate::commands::volume::ls as volume_ls;
use crate::formatter::{write_list, Format, GoTemplate};
use crate::humanize::{go_human_size, human_duration, human_size};

const IMAGES_TABLE: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}";
const CONTAINERS_TABLE: &str = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}";
const VOLUMES_TABLE: &str = "{{.Name}}\t{{.Links}}\t{{.Size}}";
const BUILD_CACHE_TABLE: &str = "{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}";

/// Writes `df` (the daemon's `/system/df` answer) as `docker system df -v
/// [--format format]` does; `now` is the unix time ages count from.
pub fn write<W: Write>(out: &mut W, format: Option<&str>, df: &Value, now: i64) -> Result<()> {
    let format = format.map(str::trim).filter(|f| !f.is_empty());
    // docker shortens ids and commands for table formats only.
    let trunc = format.is_none_or(|f| f.starts_with("table"));
    let usage = Usage::of(df, trunc, now);
    match format {
        None | Some("table") => usage.write_tables(out),
        Some(custom) => {
            let (Format::Table(text) | Format::Raw(text)) = Format::parse(custom, "");
            let rendered = GoTemplate::parse(&text)?.render(&usage.as_value())?;
            out.write_all(rendered.as_bytes())?;
            Ok(out.flush()?)
        }
    }
}

/// The rows of the four lists, with the fields docker's formatters offer.
struct Usage {
    images: Vec<Value>,
    containers: Vec<Value>,
    volumes: Vec<Value>,
    build_cache: Vec<Value>,
    /// What the build cache takes outside records shared with images.
    build_cache_size: i64,
}

impl Usage {
    fn of(df: &Value, trunc: bool, now: i64) -> Usage {
        let list = |key: &str| df[key].as_array().cloned().unwrap_or_default();
        let mut cache = list("BuildCache");
        // Never used first, then the least recently used (docker's buildCacheSort).
        cache.sort_by_key(|c| timestamp(&c["LastUsedAt"]));
        Usage {
            images: list("Images")
                .iter()
                .map(|i| image(i, trunc, now))
                .collect(),
            containers: list("Containers")
                .iter()
                .map(|c| container(c, trunc, now))
                .collect(),
            volumes: list("Volumes").iter().map(volume_ls::row).collect(),
            build_cache_size: cache
                .iter()
                .filter(|c| c["Shared"].as_bool() != Some(true))
                .map(|c| c["Size"].as_i64().unwrap_or(0))
                .sum(),
            build_cache: cache.iter().map(|c| build_cache(c, trunc, now)).collect(),
        }
    }

    fn as_value(&self) -> Value {
        json!({
            "Images": self.images,
            "Containers": self.containers,
            "Volumes": self.volumes,
            "BuildCache": self.build_cache,
        })
    }

    fn write_tables<W: Write>(&self, out: &mut W) -> Result<()> {
        let table = |t: &str| Format::Table(t.to_string());
        out.write_all(b"Images space usage:\n\n")?;
        write_list(out, &table(IMAGES_TABLE), &image_headers(), &self.images)?;
        out.write_all(b"\nContainers space usage:\n\n")?;
        write_list(
            out,
            &table(CONTAINERS_TABLE),
            &container_headers(),
            &self.containers,
        )?;
        out.write_all(b"\nLocal Volumes space usage:\n\n")?;
        write_list(out, &table(VOLUMES_TABLE), &volume_headers(), &self.volumes)?;
        let total = go_human_size(self.build_cache_size);
        write!(out, "\nBuild cache usage: {total}\n\n")?;
        write_list(
            out,
            &table(BUILD_CACHE_TABLE),
            &build_cache_headers(),
            &self.build_cache,
        )
    }
}

fn image_headers() -> Value {
    json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
        "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "Containers": "CONTAINERS",
    })
}

fn container_headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
        "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "RunningFor": "CREATED",
        "Status": "STATUS", "Names": "NAMES",
    })
}

fn volume_headers() -> Value {
    json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"})
}

fn build_cache_headers() -> Value {
    json!({
        "ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
        "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED",
    })
}

/// One row per image, named by its first tag (`<none>` without one) and
/// with no digest, unlike `docker images`.
fn image(raw: &Value, trunc: bool, now: i64) -> Value {
    let img: ImageSummary = serde_json::from_value(raw.clone()).unwrap_or_default();
    let mut row = image_rows(&img, trunc, now, false)
        .into_iter()
        .next()
        .unwrap_or_default();
    if row["Tag"] == "<none>" {
        row["Repository"] = json!("<none>");
    }
    row["Digest"] = json!("");
    row
}

/// A container as `docker ps` shows it, without the image's size in its
/// own ("virtual") and counting the mounts of local-driver volumes.
fn container(raw: &Value, trunc: bool, now: i64) -> Value {
    let mut summary: ContainerSummary = serde_json::from_value(raw.clone()).unwrap_or_default();
    summary.size_root_fs = None;
    let mut row = ps::row(&summary, trunc, now);
    let local_volumes = raw["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Driver"] == "local")
        .count();
    row["LocalVolumes"] = json!(local_volumes.to_string());
    row
}

/// A build cache record, docker's `buildCacheContext` fields: an id in use
/// is starred.
fn build_cache(c: &Value, trunc: bool, now: i64) -> Value {
    let id = c["ID"].as_str().unwrap_or_default();
    let mut id = if trunc {
        ps::short_id(id)
    } else {
        id.to_string()
    };
    if c["InUse"].as_bool() == Some(true) {
        id.push('*');
    }
    let since = |t: Option<i64>| t.map_or_else(String::new, |t| ago(now, t));
    let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
    let flag = |key: &str| (c[key].as_bool() == Some(true)).to_string();
    let parents = match &c["Parents"] {
        Value::Array(p) => p
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => text("Parent"),
    };
    json!({
        "ID": id,
        "Parent": parents,
        "CacheType": text("Type"),
        "Description": text("Description"),
        "Size": human_size(c["Size"].as_i64().unwrap_or(0)),
        "CreatedAt": text("CreatedAt"),
        "CreatedSince": since(timestamp(&c["CreatedAt"])),
        "LastUsedAt": text("LastUsedAt"),
        "LastUsedSince": since(timestamp(&c["LastUsedAt"])),
        "UsageCount": c["UsageCount"].as_i64().unwrap_or(0).to_string(),
        "InUse": flag("InUse"),
        "Shared": flag("Shared"),
        "Mutable": flag("Mutable"),
        "Reclaimable": (c["InUse"].as_bool() != Some(true)).to_string(),
    })
}

/// An RFC 3339 time of the API as a unix time.
fn timestamp(v: &Value) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
    Some(t.timestamp())
}

fn ago(now: i64, then: i64) -> String {
    let secs = (now - then).max(0) as u64;
    format!("{} ago", human_duration(Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn rfc3339(t: i64) -> String {
        chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339()
    }

    fn df() -> Value {
        json!({
            "Images": [
                {"Id": "sha256:c92035426fe349245434746d1d6f12d015d087b0ab5346d2b8e44f85c97cab25",
                 "RepoTags": ["cf2:latest"], "RepoDigests": null, "Created": NOW - 2160,
                 "Size": 1_984_310, "SharedSize": 1_984_291, "Containers": 0},
                {"Id": "sha256:94ac2fee2acc5b9e79c9aedaf5021d38f05f397f5943862e5a90ae5d0c262cc1",
                 "RepoTags": [], "RepoDigests": ["cf@sha256:11"], "Created": NOW - 3 * 3600,
                 "Size": 1_984_296, "SharedSize": -1, "Containers": 2},
            ],
            "Containers": [
                {"Id": "ec402a741f61a2a7033b68d62495d1983b48899da9b64c85c5e917ce1576c1b9",
                 "Names": ["/exb"], "Image": "busybox", "ImageID": "sha256:4ac5",
                 "Command": "sleep 10000", "Created": NOW - 2340, "SizeRw": 12,
                 "SizeRootFs": 1_984_291, "State": "running", "Status": "Up 39 minutes",
                 "Mounts": [{"Type": "volume", "Name": "data", "Driver": "local"},
                            {"Type": "bind", "Source": "/x"}]},
            ],
            "Volumes": [
                {"Name": "data", "Driver": "local", "UsageData": {"RefCount": 1, "Size": 123_456}},
            ],
            "BuildCache": [
                {"ID": "old0123456789abcdef", "Type": "regular", "Size": 2000, "Shared": false,
                 "InUse": false, "CreatedAt": rfc3339(NOW - 7200),
                 "LastUsedAt": rfc3339(NOW - 3600), "UsageCount": 2},
                {"ID": "new0123456789abcdef", "Type": "source.local", "Size": 500, "Shared": true,
                 "InUse": true, "CreatedAt": rfc3339(NOW - 7200),
                 "LastUsedAt": rfc3339(NOW - 60), "UsageCount": 5},
                {"ID": "unused456789abcdef", "Type": "regular", "Size": 1000, "Shared": false,
                 "InUse": false, "CreatedAt": rfc3339(NOW - 7200), "LastUsedAt": null,
                 "UsageCount": 0},
            ],
        })
    }

    fn text(format: Option<&str>, df: &Value) -> String {
        let mut out = Vec::new();
        write(&mut out, format, df, NOW).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn tables_read_as_docker_prints_them() {
        let expected = "\
Images space usage:

REPOSITORY   TAG       IMAGE ID       CREATED          SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS
cf2          latest    c92035426fe3   36 minutes ago   1.98MB    1.984MB       19B           0
<none>       <none>    94ac2fee2acc   3 hours ago      1.98MB    N/A           N/A           2

Containers space usage:

CONTAINER ID   IMAGE     COMMAND         LOCAL VOLUMES   SIZE      CREATED          STATUS          NAMES
ec402a741f61   busybox   \"sleep 10000\"   1               12B       39 minutes ago   Up 39 minutes   exb

Local Volumes space usage:

VOLUME NAME   LINKS     SIZE
data          1         123.5kB

Build cache usage: 3kB

CACHE ID        CACHE TYPE     SIZE      CREATED       LAST USED            USAGE     SHARED
unused456789    regular        1kB       2 hours ago                        0         false
old012345678    regular        2kB       2 hours ago   About an hour ago    2         false
new012345678*   source.local   500B      2 hours ago   About a minute ago   5         true
";
        assert_eq!(text(None, &df()), expected);
        assert_eq!(text(Some("table"), &df()), expected);
    }

    #[test]
    fn empty_lists_keep_their_headers() {
        let empty = json!({"Images": [], "Containers": null, "Volumes": [], "BuildCache": null});
        assert_eq!(
            text(None, &empty),
            "Images space usage:\n\nREPOSITORY   TAG       IMAGE ID   CREATED   SIZE      SHARED SIZE   UNIQUE SIZE   CONTAINERS\n\
             \nContainers space usage:\n\nCONTAINER ID   IMAGE     COMMAND   LOCAL VOLUMES   SIZE      CREATED   STATUS    NAMES\n\
             \nLocal Volumes space usage:\n\nVOLUME NAME   LINKS     SIZE\n\
             \nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      CREATED   LAST USED   USAGE     SHARED\n"
        );
    }

    #[test]
    fn a_custom_format_runs_once_over_all_lists() {
        let out = text(
            Some("{{len .Images}} {{range .Images}}{{.ID}} {{end}}{{range .BuildCache}}{{.ID}},{{end}}"),
            &df(),
        );
        // Full ids outside tables, and no newline added.
        assert!(out.starts_with("2 sha256:c92035426fe3492"), "{out}");
        assert!(out.ends_with("unused456789abcdef,old0123456789abcdef,new0123456789abcdef*,"));
        let json: Value = serde_json::from_str(&text(Some("json"), &df())).unwrap();
        assert_eq!(json["Images"][1]["Repository"], "<none>");
        assert_eq!(json["Volumes"][0]["Links"], "1");
        assert_eq!(json["Containers"][0]["Size"], "12B");
    }
}
