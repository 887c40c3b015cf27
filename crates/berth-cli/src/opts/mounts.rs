//! `--mount` (CSV key=value), `--tmpfs` and `--device` specs.

use anyhow::{anyhow, bail, Result};
use berth_api::types::{DeviceMapping, Mount};
use serde_json::json;

/// Parses `--mount type=bind,source=/a,target=/b,readonly`.
pub fn parse_mount(spec: &str) -> Result<Mount> {
    let mut m = Mount {
        kind: "volume".to_string(),
        ..Default::default()
    };
    let mut bind_opts = serde_json::Map::new();
    let mut vol_opts = serde_json::Map::new();
    let mut tmpfs_opts = serde_json::Map::new();
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let truthy = |v: Option<&str>| -> Result<bool> {
            match v {
                None | Some("1") | Some("true") => Ok(true),
                Some("0") | Some("false") => Ok(false),
                Some(o) => bail!("invalid value for {key}: {o}"),
            }
        };
        match key.as_str() {
            "readonly" | "ro" => m.read_only = truthy(value)?,
            "volume-nocopy" => {
                vol_opts.insert("NoCopy".into(), json!(truthy(value)?));
            }
            "bind-nonrecursive" => {
                bind_opts.insert("NonRecursive".into(), json!(truthy(value)?));
            }
            _ => {
                let v = value
                    .ok_or_else(|| anyhow!("invalid field '{field}' must be a key=value pair"))?;
                match key.as_str() {
                    "type" => m.kind = v.to_string(),
                    "source" | "src" => m.source = v.to_string(),
                    "target" | "destination" | "dst" => m.target = v.to_string(),
                    "consistency" => m.consistency = v.to_string(),
                    "bind-propagation" => {
                        bind_opts.insert("Propagation".into(), json!(v));
                    }
                    "volume-driver" => {
                        vol_opts.insert("DriverConfig".into(), json!({"Name": v}));
                    }
                    "volume-label" => {
                        let (lk, lv) = v.split_once('=').unwrap_or((v, ""));
                        let labels = vol_opts.entry("Labels").or_insert_with(|| json!({}));
                        labels[lk] = json!(lv);
                    }
                    "tmpfs-size" => {
                        tmpfs_opts
                            .insert("SizeBytes".into(), json!(super::units::ram_in_bytes(v)?));
                    }
                    "tmpfs-mode" => {
                        let mode = u32::from_str_radix(v, 8)
                            .map_err(|_| anyhow!("invalid value for {key}: {v}"))?;
                        tmpfs_opts.insert("Mode".into(), json!(mode));
                    }
                    _ => bail!("unexpected key '{key}' in '{field}'"),
                }
            }
        }
    }
    if m.target.is_empty() {
        bail!("target is required");
    }
    if !bind_opts.is_empty() {
        m.bind_options = Some(bind_opts.into());
    }
    if !vol_opts.is_empty() {
        m.volume_options = Some(vol_opts.into());
    }
    if !tmpfs_opts.is_empty() {
        m.tmpfs_options = Some(tmpfs_opts.into());
    }
    Ok(m)
}

/// `--tmpfs /x:size=1m` -> ("/x", "size=1m").
pub fn parse_tmpfs(spec: &str) -> (String, String) {
    match spec.split_once(':') {
        Some((p, o)) => (p.to_string(), o.to_string()),
        None => (spec.to_string(), String::new()),
    }
}

/// `--device /dev/x[:/dev/y][:rwm]`.
pub fn parse_device(spec: &str) -> Result<DeviceMapping> {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_perms = |s: &str| !s.is_empty() && s.chars().all(|c| "rwm".contains(c));
    let (host, cont, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if is_perms(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if is_perms(p) => (*h, *c, *p),
        _ => bail!("invalid device specification: {spec}"),
    };
    Ok(DeviceMapping {
        path_on_host: host.to_string(),
        path_in_container: cont.to_string(),
        cgroup_permissions: perms.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_csv() {
        let m = parse_mount("type=bind,source=/a,target=/b,readonly").unwrap();
        assert_eq!(
            (
                m.kind.as_str(),
                m.source.as_str(),
                m.target.as_str(),
                m.read_only
            ),
            ("bind", "/a", "/b", true)
        );
        let m = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m").unwrap();
        assert_eq!(m.tmpfs_options.unwrap()["SizeBytes"], 1048576);
        let m = parse_mount("target=/data").unwrap();
        assert_eq!(m.kind, "volume");
        assert!(parse_mount("type=bind,source=/a").is_err());
        assert!(parse_mount("type=bind,bogus=1,target=/x").is_err());
    }

    #[test]
    fn tmpfs_and_devices() {
        assert_eq!(parse_tmpfs("/x:size=1m"), ("/x".into(), "size=1m".into()));
        assert_eq!(parse_tmpfs("/x"), ("/x".into(), "".into()));
        let d = parse_device("/dev/fuse").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/fuse", "rwm")
        );
        let d = parse_device("/dev/a:/dev/b:r").unwrap();
        assert_eq!(
            (d.path_in_container.as_str(), d.cgroup_permissions.as_str()),
            ("/dev/b", "r")
        );
    }
}
