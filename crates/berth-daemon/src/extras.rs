//! Container options that add files from the host: `--device` nodes and the
//! `--init` process (Docker's docker-init is tini; Debian ships it static).

use crate::container::Container;
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

/// Where the init binary appears in the container, as with Docker.
pub const INIT_PATH: &str = "/sbin/docker-init";

const INIT_CANDIDATES: &[&str] = &[
    "/usr/libexec/docker/docker-init",
    "/usr/bin/docker-init",
    "/usr/bin/tini-static",
];

#[derive(Debug, thiserror::Error)]
pub enum ExtrasError {
    #[error("error gathering device information while adding custom device \"{path}\": {reason}")]
    Device { path: String, reason: String },
    #[error("--init requested but no static init binary was found (install Debian's tini: it provides /usr/bin/tini-static)")]
    NoInit,
}

/// A static init binary on the host, if any.
pub fn init_binary() -> Option<PathBuf> {
    INIT_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

pub fn wants_init(c: &Container) -> bool {
    c.host_config
        .get("Init")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The bind mount of the init binary, and the argv prefix that runs the
/// container's command under it.
pub fn init_mount() -> Result<(Value, Vec<String>), ExtrasError> {
    let bin = init_binary().ok_or(ExtrasError::NoInit)?;
    let mount = json!({
        "destination": INIT_PATH,
        "type": "bind",
        "source": bin.to_string_lossy(),
        "options": ["bind", "ro"],
    });
    Ok((mount, vec![INIT_PATH.to_string(), "--".to_string()]))
}

/// `--device /dev/x[:/dev/y[:rwm]]` as OCI device nodes and cgroup rules.
pub fn devices(c: &Container) -> Result<(Vec<Value>, Vec<Value>), ExtrasError> {
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    let Some(list) = c.host_config.get("Devices").and_then(Value::as_array) else {
        return Ok((nodes, rules));
    };
    for d in list {
        let host = d.get("PathOnHost").and_then(Value::as_str).unwrap_or("");
        let inner = d
            .get("PathInContainer")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(host);
        let perms = d
            .get("CgroupPermissions")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("rwm");
        let err = |reason: String| ExtrasError::Device {
            path: host.to_string(),
            reason,
        };
        let meta = std::fs::metadata(host).map_err(|e| err(e.to_string()))?;
        let ft = meta.file_type();
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            return Err(err("not a device node".into()));
        };
        let rdev = meta.rdev();
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        nodes.push(json!({
            "path": inner, "type": kind, "major": major, "minor": minor,
            "fileMode": meta.mode() & 0o777, "uid": meta.uid(), "gid": meta.gid(),
        }));
        rules.push(
            json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": perms}),
        );
    }
    Ok((nodes, rules))
}

/// Directories of /dev whose nodes are the container's own or not devices
/// to hand over (as runc's list of host devices skips them).
const HOST_DEV_SKIP_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// Nodes every container gets anyway (the runtime makes them, or they are
/// the container's own: console and ptmx come from its devpts).
const DEFAULT_DEVS: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
    "/dev/console",
    "/dev/ptmx",
];

/// Every device node of the host's /dev, for `--privileged` (as Docker gives
/// a privileged container the host's devices).
pub fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    collect_devices(std::path::Path::new("/dev"), &mut out);
    out
}

fn collect_devices(dir: &std::path::Path, out: &mut Vec<Value>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            let name = e.file_name();
            if !HOST_DEV_SKIP_DIRS.iter().any(|s| name == *s) {
                collect_devices(&path, out);
            }
            continue;
        }
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        let p = path.to_string_lossy().into_owned();
        if DEFAULT_DEVS.contains(&p.as_str()) {
            continue;
        }
        let rdev = meta.rdev();
        out.push(json!({
            "path": p, "type": kind, "major": libc::major(rdev), "minor": libc::minor(rdev),
            "fileMode": meta.mode() & 0o777, "uid": meta.uid(), "gid": meta.gid(),
        }));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_devices_lists_device_nodes_but_not_the_defaults() {
        let devs = super::host_devices();
        let paths: Vec<&str> = devs.iter().filter_map(|d| d["path"].as_str()).collect();
        assert!(!paths.contains(&"/dev/null"));
        assert!(!paths.iter().any(|p| p.starts_with("/dev/pts/")));
        // Every machine has some device node beyond the defaults (/dev/kmsg, loop, vda...).
        assert!(!paths.is_empty());
        for d in &devs {
            assert!(matches!(d["type"].as_str(), Some("c" | "b")), "{d}");
        }
    }

    use super::*;

    fn with_devices(devices: Value) -> Container {
        let mut hc = serde_json::Map::new();
        hc.insert("Devices".into(), devices);
        Container {
            id: "b".repeat(64),
            name: "/d".into(),
            created: chrono::Utc::now(),
            path: "true".into(),
            args: vec![],
            config: Default::default(),
            host_config: hc,
            image_id: String::new(),
            state: Default::default(),
            restart_count: 0,
            driver: "overlay2".into(),
        }
    }

    #[test]
    fn maps_a_host_device() {
        let c = with_devices(
            json!([{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"}]),
        );
        let (nodes, rules) = devices(&c).unwrap();
        assert_eq!(nodes[0]["path"], "/dev/mynull");
        assert_eq!(
            (nodes[0]["major"].as_u64(), nodes[0]["minor"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(rules[0]["access"], "rw");
        let bad = with_devices(json!([{"PathOnHost": "/etc/passwd"}]));
        assert!(devices(&bad)
            .unwrap_err()
            .to_string()
            .contains("not a device node"));
    }
}
