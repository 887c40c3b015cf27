//! Device flags of `run`/`create` with the docker CLI's validation:
//! `--blkio-weight-device PATH:WEIGHT`, `--device-{read,write}-bps PATH:RATE`,
//! `--device-{read,write}-iops PATH:N`, `--device-cgroup-rule` and `--gpus`.
//! Errors are the reason alone; the caller names the flag and the value.

use std::collections::{BTreeMap, HashSet};

use anyhow::{anyhow, bail, Result};
use berth_api::types::{DeviceRequest, ThrottleDevice, WeightDevice};

use super::{csv, units};

/// Go's `strconv.ParseUint(s, 10, 64)`: decimal digits only (no sign).
fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The `PATH:VALUE` split shared by the weight and throttle flags. The
/// docker CLI insists on a path under /dev/ before the daemon sees it.
fn device_value(val: &str) -> Result<(&str, &str)> {
    let (path, value) = val
        .split_once(':')
        .filter(|(path, _)| !path.is_empty())
        .ok_or_else(|| anyhow!("bad format: {val}"))?;
    if !path.starts_with("/dev/") {
        bail!("bad format for device path: {val}");
    }
    Ok((path, value))
}

/// `--blkio-weight-device /dev/sda:200`: 10 to 1000, or 0 (the device
/// follows `--blkio-weight`).
pub fn weight_device(val: &str) -> Result<WeightDevice> {
    let (path, value) = device_value(val)?;
    let weight = parse_uint(value)
        .and_then(|w| u16::try_from(w).ok())
        .filter(|w| *w == 0 || (10..=1000).contains(w))
        .ok_or_else(|| anyhow!("invalid weight for device: {val}"))?;
    Ok(WeightDevice {
        path: path.to_string(),
        weight,
    })
}

/// `--device-read-bps /dev/sda:1mb`: a size as `--memory` takes it.
pub fn throttle_bps_device(val: &str) -> Result<ThrottleDevice> {
    throttle_device(
        val,
        |v| {
            units::ram_in_bytes(v)
                .ok()
                .and_then(|n| u64::try_from(n).ok())
        },
        "<device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb",
    )
}

/// `--device-read-iops /dev/sda:100`: a plain count.
pub fn throttle_iops_device(val: &str) -> Result<ThrottleDevice> {
    throttle_device(
        val,
        parse_uint,
        "<device-path>:<number>. Number must be a positive integer",
    )
}

fn throttle_device(
    val: &str,
    rate: impl Fn(&str) -> Option<u64>,
    format: &str,
) -> Result<ThrottleDevice> {
    let (path, value) = device_value(val)?;
    let rate = rate(value)
        .ok_or_else(|| anyhow!("invalid rate for device: {val}. The correct format is {format}"))?;
    Ok(ThrottleDevice {
        path: path.to_string(),
        rate,
    })
}

/// `--device-cgroup-rule 'c 1:3 mr'`: the docker CLI's pattern
/// `^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$`.
pub fn device_cgroup_rule(rule: &str) -> Result<String> {
    let number = |s: &str| s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let valid = (|| {
        let (kind, rest) = rule.split_once(' ')?;
        let (numbers, access) = rest.split_once(' ')?;
        let (major, minor) = numbers.split_once(':')?;
        Some(
            matches!(kind, "a" | "b" | "c")
                && number(major)
                && number(minor)
                && (1..=3).contains(&access.len())
                && access.bytes().all(|b| matches!(b, b'r' | b'w' | b'm')),
        )
    })()
    .unwrap_or(false);
    if !valid {
        bail!("invalid device cgroup format '{rule}'");
    }
    Ok(rule.to_string())
}

/// A `--gpus` count: `all` is -1, else an integer (Go's `strconv.Atoi`).
fn gpu_count(s: &str) -> Result<i64> {
    if s == "all" {
        return Ok(-1);
    }
    s.parse().map_err(|e: std::num::ParseIntError| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        anyhow!("invalid count ({s}): value must be either \"all\" or an integer: {why}")
    })
}

/// `--gpus all`, `--gpus 2` or CSV of `count=`, `device=`, `driver=`,
/// `capabilities=` and `options=` (quote a field to keep its commas:
/// `'"device=0,1"'`). Without a count or devices one GPU is asked for.
pub fn gpu_request(value: &str) -> Result<DeviceRequest> {
    let mut req = DeviceRequest::default();
    let mut seen = HashSet::new();
    for field in csv::read_record(value)? {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v)),
            None => (field.clone(), None),
        };
        if !seen.insert(key.clone()) {
            bail!("gpu request key '{key}' can be specified only once");
        }
        let Some(val) = val else {
            // A bare field is the count.
            seen.insert("count".to_string());
            req.count = gpu_count(&key)?;
            continue;
        };
        match key.as_str() {
            "driver" => req.driver = val.to_string(),
            "count" => req.count = gpu_count(val)?,
            "device" => req.device_ids = Some(val.split(',').map(str::to_string).collect()),
            "capabilities" => {
                let mut caps: Vec<String> = val.split(',').map(str::to_string).collect();
                caps.push("gpu".into());
                req.capabilities = vec![caps];
            }
            "options" => {
                let opts = csv::read_record(val)
                    .map_err(|e| anyhow!("failed to read gpu options: {e}"))?;
                req.options = opts
                    .iter()
                    .map(|o| {
                        let (k, v) = o.split_once('=').unwrap_or((o, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect::<BTreeMap<_, _>>();
            }
            _ => bail!("unexpected key '{key}' in '{field}'"),
        }
    }
    if !seen.contains("count") && req.device_ids.is_none() {
        req.count = 1;
    }
    if req.capabilities.is_empty() {
        req.capabilities = vec![vec!["gpu".into()]];
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn weight_devices() {
        let w = weight_device("/dev/sda:200").unwrap();
        assert_eq!((w.path.as_str(), w.weight), ("/dev/sda", 200));
        assert_eq!(weight_device("/dev/sda:0").unwrap().weight, 0);
        assert_eq!(err(weight_device("x")), "bad format: x");
        assert_eq!(err(weight_device(":5")), "bad format: :5");
        assert_eq!(
            err(weight_device("sda:200")),
            "bad format for device path: sda:200"
        );
        for bad in [
            "/dev/sda:5",
            "/dev/sda:1001",
            "/dev/sda:70000",
            "/dev/sda:abc",
            "/dev/sda:+20",
        ] {
            assert_eq!(
                err(weight_device(bad)),
                format!("invalid weight for device: {bad}")
            );
        }
    }

    #[test]
    fn throttle_devices_share_the_path_rules() {
        let d = throttle_bps_device("/dev/sda:1mb").unwrap();
        assert_eq!((d.path.as_str(), d.rate), ("/dev/sda", 1048576));
        assert_eq!(throttle_bps_device("/dev/sda:10k").unwrap().rate, 10240);
        assert_eq!(throttle_bps_device("/dev/sda:512").unwrap().rate, 512);
        assert_eq!(throttle_iops_device("/dev/sdb:200").unwrap().rate, 200);
        assert_eq!(err(throttle_bps_device("x")), "bad format: x");
        assert_eq!(
            err(throttle_iops_device("sda:1")),
            "bad format for device path: sda:1"
        );
        for bad in ["/dev/sda:abc", "/dev/sda:-1", "/dev/sda:"] {
            assert_eq!(
                err(throttle_bps_device(bad)),
                format!("invalid rate for device: {bad}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb")
            );
        }
        for bad in ["/dev/sda:1k", "/dev/sda:-1", "/dev/sda:", "/dev/sda:+1"] {
            assert_eq!(
                err(throttle_iops_device(bad)),
                format!("invalid rate for device: {bad}. The correct format is <device-path>:<number>. Number must be a positive integer")
            );
        }
    }

    #[test]
    fn cgroup_rules() {
        for ok in ["c 1:3 mr", "a *:* rwm", "b 8:* r", "c 10:200 rrr"] {
            assert_eq!(device_cgroup_rule(ok).unwrap(), ok);
        }
        for bad in [
            "x 1:2 r",
            "c 1:2",
            "c 1:2 rwmr",
            "c a:2 r",
            "c 1:2 x",
            "c  1:2 r",
            "c 1:2 r ",
            "",
        ] {
            assert_eq!(
                err(device_cgroup_rule(bad)),
                format!("invalid device cgroup format '{bad}'")
            );
        }
    }

    #[test]
    fn gpu_requests_as_docker_sends_them() {
        let json = |v: &str| serde_json::to_value(gpu_request(v).unwrap()).unwrap();
        assert_eq!(
            json("all"),
            serde_json::json!({"Driver": "", "Count": -1, "DeviceIDs": null, "Capabilities": [["gpu"]], "Options": {}})
        );
        assert_eq!(json("2")["Count"], 2);
        assert_eq!(json("count=1,2")["Count"], 2);
        // Unquoted, the second id is read as a count.
        assert_eq!(json("device=0,1")["DeviceIDs"], serde_json::json!(["0"]));
        assert_eq!(json("device=0,1")["Count"], 1);
        let d = json("\"device=0,1\"");
        assert_eq!(
            (d["Count"].clone(), d["DeviceIDs"].clone()),
            (0.into(), serde_json::json!(["0", "1"]))
        );
        assert_eq!(
            json("driver=nvidia,\"capabilities=compute,utility\",\"options=foo=bar,baz,=e\""),
            serde_json::json!({"Driver": "nvidia", "Count": 1, "DeviceIDs": null,
                "Capabilities": [["compute", "utility", "gpu"]], "Options": {"foo": "bar", "baz": "", "": "e"}})
        );
        assert_eq!(
            json("capabilities=")["Capabilities"],
            serde_json::json!([["", "gpu"]])
        );

        assert_eq!(err(gpu_request("")), "EOF");
        assert_eq!(
            err(gpu_request("foo")),
            "invalid count (foo): value must be either \"all\" or an integer: invalid syntax"
        );
        assert_eq!(
            err(gpu_request("count=99999999999999999999")),
            "invalid count (99999999999999999999): value must be either \"all\" or an integer: value out of range"
        );
        assert_eq!(
            err(gpu_request("driver=a,driver=b")),
            "gpu request key 'driver' can be specified only once"
        );
        assert_eq!(
            err(gpu_request("1,count=2")),
            "gpu request key 'count' can be specified only once"
        );
        assert_eq!(err(gpu_request("x=1=2")), "unexpected key 'x' in 'x=1=2'");
    }
}
