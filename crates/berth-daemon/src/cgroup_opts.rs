//! HostConfig settings that place and tune a container's cgroup beyond the
//! plain limits of `spec::resources`: `CgroupParent`, `CgroupnsMode`,
//! `MemorySwappiness`, `OomScoreAdj`, `DeviceCgroupRules` and the per-device
//! blkio settings. `validate` runs at create with Docker's messages (and
//! Docker's warnings for what the host cannot do); the rest turns a stored
//! container into spec fields at start.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use serde_json::{json, Map, Value};

use crate::container::Container;
use crate::create::field_opt_i64;
use crate::error::{ApiError, ApiResult};
use crate::spec::map_strs;

/// Where containers go without `--cgroup-parent`.
const DEFAULT_PARENT: &str = "berth";

/// Checks the settings at create and fills `CgroupnsMode` with the host's
/// default (Docker: `private` on cgroup v2, `host` otherwise). Returns
/// Docker's warnings for settings dropped because the host lacks them.
pub fn validate(hc: &mut Map<String, Value>) -> ApiResult<Vec<String>> {
    let mut warnings = Vec::new();
    match hc.get("CgroupnsMode").and_then(Value::as_str).unwrap_or("") {
        "" => {
            let default = match berth_cgroups::detect() {
                berth_cgroups::Mode::V2 => "private",
                _ => "host",
            };
            hc.insert("CgroupnsMode".into(), json!(default));
        }
        "host" | "private" => {}
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid cgroup namespace mode: {other}"
            )))
        }
    }
    if let Some(parent) = hc.get("CgroupParent").and_then(Value::as_str) {
        if !parent.is_empty() {
            parent_path(parent)?;
        }
    }
    if let Some(s) = field_opt_i64(hc, "MemorySwappiness")? {
        // -1 (what the docker CLI sends unless asked) is "unset": no probe.
        let supported = || {
            berth_cgroups::detect() != berth_cgroups::Mode::V2
                && berth_cgroups::host_supports("memory", "memory.swappiness")
        };
        if s != -1 && !supported() {
            warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".to_string());
            hc.insert("MemorySwappiness".into(), Value::Null);
        } else if !(-1..=100).contains(&s) {
            return Err(ApiError::bad_request(format!(
                "Invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    }
    if let Some(adj) = field_opt_i64(hc, "OomScoreAdj")? {
        if !(-1000..=1000).contains(&adj) {
            return Err(ApiError::bad_request(format!(
                "Invalid value {adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
    }
    for rule in map_strs(hc, "DeviceCgroupRules") {
        parse_rule(&rule)?;
    }
    let has_weight_devices = hc
        .get("BlkioWeightDevice")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_weight_devices
        && !berth_cgroups::host_supports("blkio", "blkio.weight_device")
        && !berth_cgroups::host_supports("blkio", "blkio.bfq.weight_device")
    {
        warnings.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.".to_string());
        hc.insert("BlkioWeightDevice".into(), json!([]));
    }
    for (key, field) in WEIGHT_AND_THROTTLES {
        for d in hc.get(key).and_then(Value::as_array).into_iter().flatten() {
            if d.get("Path")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                return Err(ApiError::bad_request(format!(
                    "invalid {key} entry: Path is required"
                )));
            }
            if !d.get(field).is_none_or(|v| v.is_u64()) {
                return Err(ApiError::bad_request(format!(
                    "json: cannot unmarshal {} into Go struct field of type uint64",
                    d[field]
                )));
            }
        }
    }
    Ok(warnings)
}

/// A `--cgroup-parent` as a path under the hierarchy roots: `/a/b` and
/// `a/b` both name `a/b` (Docker puts a relative parent under the runtime's
/// own cgroup; berth keeps every container where `ps` and limits can find it
/// from the roots). `..` may not climb out.
fn parent_path(parent: &str) -> ApiResult<String> {
    let mut parts: Vec<&str> = Vec::new();
    for p in parent.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(ApiError::bad_request(format!(
                        "invalid cgroup parent: {parent}"
                    )));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The container's cgroup, relative to the hierarchy roots:
/// `<CgroupParent>/<id>`, `berth/<id>` without one.
pub fn cgroup_path(c: &Container) -> String {
    let parent = c
        .host_config
        .get("CgroupParent")
        .and_then(Value::as_str)
        .and_then(|p| parent_path(p).ok())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PARENT.to_string());
    format!("{parent}/{}", c.id)
}

/// Whether the container gets a cgroup namespace of its own.
pub fn private_cgroupns(c: &Container) -> bool {
    c.host_config.get("CgroupnsMode").and_then(Value::as_str) == Some("private")
}

pub fn swappiness(c: &Container) -> Option<u64> {
    c.host_config
        .get("MemorySwappiness")
        .and_then(Value::as_i64)
        .filter(|s| (0..=100).contains(s))
        .map(|s| s as u64)
}

/// The score the container's init must be given; None when it inherits it
/// anyway (the shim and its children start with the daemon's score), which
/// spares every start a write: the docker CLI always sends one, 0 by default.
pub fn oom_score_adj(c: &Container) -> Option<i64> {
    c.host_config
        .get("OomScoreAdj")
        .and_then(Value::as_i64)
        .filter(|&adj| adj != daemon_oom_score_adj())
}

fn daemon_oom_score_adj() -> i64 {
    static OWN: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OWN.get_or_init(|| {
        std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    })
}

/// `DeviceCgroupRules` as OCI device-cgroup allow rules.
pub fn device_rules(c: &Container) -> ApiResult<Vec<Value>> {
    map_strs(&c.host_config, "DeviceCgroupRules")
        .iter()
        .map(|r| parse_rule(r))
        .collect()
}

/// `c 1:3 mr`, `b *:* rwm`, `a *:* m`: Docker's device cgroup rule format.
fn parse_rule(rule: &str) -> ApiResult<Value> {
    let bad = || ApiError::bad_request(format!("invalid device cgroup rule format: '{rule}'"));
    let mut parts = rule.split(' ');
    let (Some(typ), Some(numbers), Some(access), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !matches!(typ, "a" | "b" | "c") {
        return Err(bad());
    }
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |s: &str| -> ApiResult<Option<i64>> {
        match s {
            "*" => Ok(None),
            s if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().map(Some).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    };
    let (major, minor) = (number(major)?, number(minor)?);
    if access.is_empty() || access.len() > 3 || !access.bytes().all(|b| b"rwm".contains(&b)) {
        return Err(bad());
    }
    let mut r = json!({"allow": true, "type": typ, "access": access});
    if let Some(m) = major {
        r["major"] = json!(m);
    }
    if let Some(m) = minor {
        r["minor"] = json!(m);
    }
    Ok(r)
}

/// HostConfig keys of the per-device blkio settings, the field holding each
/// entry's value, and the OCI `blockIO` field they become.
const WEIGHT_AND_THROTTLES: [(&str, &str); 5] = [
    ("BlkioWeightDevice", "Weight"),
    ("BlkioDeviceReadBps", "Rate"),
    ("BlkioDeviceWriteBps", "Rate"),
    ("BlkioDeviceReadIOps", "Rate"),
    ("BlkioDeviceWriteIOps", "Rate"),
];

/// As the `oci-spec` crate (0.7) names them: its camelCase spelling of the
/// IOPS fields is `Iops`, where the OCI document writes `IOPS`.
const OCI_BLOCK_IO: [&str; 5] = [
    "weightDevice",
    "throttleReadBpsDevice",
    "throttleWriteBpsDevice",
    "throttleReadIopsDevice",
    "throttleWriteIopsDevice",
];

/// The per-device blkio settings as OCI `blockIO` fields, each device path
/// resolved to its numbers now, as Docker does at start (a path that is gone
/// fails the start with Docker's `stat` message).
pub fn block_io_devices(c: &Container) -> ApiResult<Map<String, Value>> {
    let mut out = Map::new();
    for ((key, field), oci) in WEIGHT_AND_THROTTLES.iter().zip(OCI_BLOCK_IO) {
        let mut list = Vec::new();
        for d in c
            .host_config
            .get(*key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let path = d.get("Path").and_then(Value::as_str).unwrap_or("");
            let value = d.get(*field).and_then(Value::as_u64).unwrap_or(0);
            let (major, minor) = device_numbers(path)?;
            let entry = if *key == "BlkioWeightDevice" {
                json!({"major": major, "minor": minor, "weight": value})
            } else {
                json!({"major": major, "minor": minor, "rate": value})
            };
            list.push(entry);
        }
        if !list.is_empty() {
            out.insert(oci.into(), Value::Array(list));
        }
    }
    Ok(out)
}

fn device_numbers(path: &str) -> ApiResult<(u64, u64)> {
    let md = std::fs::metadata(path).map_err(|e| {
        // Go's wording of the errno, as in Docker's message.
        let msg = match e.raw_os_error() {
            Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
            None => e.to_string(),
        };
        ApiError::bad_request(format!("stat {path}: {msg}"))
    })?;
    if !md.file_type().is_block_device() {
        return Err(ApiError::bad_request(format!(
            "{path} is not a block device"
        )));
    }
    let rdev = md.rdev();
    Ok((nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(v: Value) -> Map<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn rules_parse_as_docker_writes_them() {
        assert_eq!(
            parse_rule("c 1:3 mr").unwrap(),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "mr"})
        );
        assert_eq!(
            parse_rule("b *:* rwm").unwrap(),
            json!({"allow": true, "type": "b", "access": "rwm"})
        );
        for bad in [
            "x 1:2 r",
            "c 1:2",
            "c 1-2 r",
            "c 1:2 rx",
            "c 1:2 rwmr",
            "c a:2 r",
            "c 1:2 r extra",
        ] {
            assert_eq!(
                parse_rule(bad).unwrap_err().message,
                format!("invalid device cgroup rule format: '{bad}'")
            );
        }
    }

    #[test]
    fn ranges_are_docker_s() {
        let mut h = hc(json!({"OomScoreAdj": 1001}));
        assert_eq!(
            validate(&mut h).unwrap_err().message,
            "Invalid value 1001, range for oom score adj is [-1000, 1000]"
        );
        let mut h = hc(json!({"OomScoreAdj": -1000, "MemorySwappiness": -1}));
        assert!(validate(&mut h).is_ok());
        let mut h = hc(json!({"CgroupnsMode": "shared"}));
        assert_eq!(
            validate(&mut h).unwrap_err().message,
            "invalid cgroup namespace mode: shared"
        );
        let mut h = hc(json!({"CgroupParent": "../x"}));
        assert!(validate(&mut h).is_err());
    }

    #[test]
    fn cgroupns_defaults_to_the_host_s_mode() {
        let mut h = hc(json!({}));
        validate(&mut h).unwrap();
        let want = match berth_cgroups::detect() {
            berth_cgroups::Mode::V2 => "private",
            _ => "host",
        };
        assert_eq!(h["CgroupnsMode"], want);
    }

    #[test]
    fn parents_stay_under_the_roots() {
        assert_eq!(parent_path("/a/b/").unwrap(), "a/b");
        assert_eq!(parent_path("a/./b/../c").unwrap(), "a/c");
        assert!(parent_path("/..").is_err());
    }
}
