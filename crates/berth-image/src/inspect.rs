//! `GET /images/{name}/json` and `GET /images/{name}/history`.

use serde_json::{json, Value};

use crate::config::{ImageConfig, ImageJson};
use crate::db;
use crate::error::ImageError;
use crate::layer::chain_ids;
use crate::list::{image_size, layer_sizes};
use crate::store::{lookup, parse_config, repo_digests, repo_tags, ImageStore};

/// Docker's full `container.Config` shape for an image config: the fields
/// without `omitempty` in Go are always present (null when unset).
pub(crate) fn full_config(c: &ImageConfig) -> Value {
    let mut v = json!({
        "Hostname": "",
        "Domainname": "",
        "User": c.user.clone().unwrap_or_default(),
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": c.env,
        "Cmd": c.cmd,
        "Image": "",
        "Volumes": c.volumes,
        "WorkingDir": c.working_dir.clone().unwrap_or_default(),
        "Entrypoint": c.entrypoint,
        "OnBuild": c.on_build,
        "Labels": c.labels,
    });
    let obj = v.as_object_mut().expect("json object");
    if let Some(p) = &c.exposed_ports {
        obj.insert("ExposedPorts".into(), json!(p));
    }
    if let Some(h) = &c.healthcheck {
        obj.insert("Healthcheck".into(), json!(h));
    }
    if c.args_escaped == Some(true) {
        obj.insert("ArgsEscaped".into(), json!(true));
    }
    if let Some(s) = &c.stop_signal {
        obj.insert("StopSignal".into(), json!(s));
    }
    if let Some(s) = &c.shell {
        obj.insert("Shell".into(), json!(s));
    }
    v
}

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl ImageStore {
    pub fn inspect(&self, name: &str) -> Result<Value, ImageError> {
        let conn = self.conn();
        let row = lookup(&conn, name)?;
        let img: ImageJson = parse_config(&row)?;
        let sizes = layer_sizes(&conn)?;
        let size = image_size(&img, &sizes);
        let caches: Vec<String> = chain_ids(&img.rootfs.diff_ids)
            .iter()
            .rev()
            .filter_map(|c| db::get_layer(&conn, c).ok().flatten().map(|l| l.cache_id))
            .collect();
        let mut v = json!({
            "Id": row.id,
            "RepoTags": repo_tags(&conn, &row.id)?,
            "RepoDigests": repo_digests(&conn, &row.id)?,
            "Parent": row.parent.clone().unwrap_or_default(),
            "Comment": img.comment.clone().unwrap_or_default(),
            "Created": img.created.clone().unwrap_or_else(|| ZERO_TIME.to_string()),
            "Container": img.container.clone().unwrap_or_default(),
            "ContainerConfig": full_config(&ImageConfig::default()),
            "DockerVersion": img.docker_version.clone().unwrap_or_default(),
            "Author": img.author.clone().unwrap_or_default(),
            "Config": full_config(&img.config),
            "Architecture": img.architecture,
            "Variant": img.variant,
            "Os": img.os,
            "Size": size,
            "VirtualSize": size,
            "GraphDriver": self.driver.image_graph_data(&caches),
            "RootFS": {"Type": img.rootfs.kind, "Layers": img.rootfs.diff_ids},
            "Metadata": {"LastTagTime": row.last_tag_time.clone().unwrap_or_else(|| ZERO_TIME.to_string())},
        });
        // Go's `omitempty` on Variant.
        if v["Variant"].is_null() {
            if let Some(o) = v.as_object_mut() {
                o.remove("Variant");
            }
        }
        Ok(v)
    }

    /// Newest first; ids are filled in walking the parent chain, older
    /// entries without a local image show `<missing>` (as Docker).
    pub fn history(&self, name: &str) -> Result<Vec<Value>, ImageError> {
        let conn = self.conn();
        let row = lookup(&conn, name)?;
        let img = parse_config(&row)?;
        let chains = chain_ids(&img.rootfs.diff_ids);
        let sizes = layer_sizes(&conn)?;
        let mut layer = 0;
        let mut items = Vec::new();
        for h in &img.history {
            let mut size = 0;
            if !h.empty_layer {
                let chain = chains.get(layer).ok_or_else(|| {
                    ImageError::Internal("too many non-empty layers in History section".into())
                })?;
                size = sizes.get(chain).copied().unwrap_or(0);
                layer += 1;
            }
            let created = h
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map_or(0, |t| t.timestamp());
            items.push(json!({
                "Id": "<missing>",
                "Created": created,
                "CreatedBy": h.created_by.clone().unwrap_or_default(),
                "Tags": null,
                "Size": size,
                "Comment": h.comment.clone().unwrap_or_default(),
            }));
        }
        items.reverse();
        let mut current = Some(row);
        for item in items.iter_mut() {
            let Some(r) = current.take() else { break };
            let tags = repo_tags(&conn, &r.id)?;
            item["Id"] = json!(r.id);
            item["Tags"] = if tags.is_empty() {
                Value::Null
            } else {
                json!(tags)
            };
            current = match &r.parent {
                Some(p) if !p.is_empty() => db::get_image(&conn, p)?,
                _ => None,
            };
        }
        Ok(items)
    }
}
