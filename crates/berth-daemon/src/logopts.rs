//! `--log-opt` for the json-file driver: which options exist (checked at
//! create) and the rotation they ask for (checked at start, where Docker
//! initialises the driver), with Docker's messages.

use crate::error::{ApiError, ApiResult};
use berth_shim::bundle::LogRotate;
use serde_json::{Map, Value};

/// Options Docker's json-file driver accepts.
const JSON_FILE_OPTS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

fn log_config(hc: &Map<String, Value>) -> (String, Map<String, Value>) {
    let lc = hc.get("LogConfig");
    let typ = lc
        .and_then(|l| l.get("Type"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("json-file")
        .to_string();
    let cfg = lc
        .and_then(|l| l.get("Config"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    (typ, cfg)
}

/// Create-time check: unknown options are refused.
pub fn validate(hc: &Map<String, Value>) -> ApiResult<()> {
    let (typ, cfg) = log_config(hc);
    if typ != "json-file" {
        return Ok(());
    }
    match cfg.keys().find(|k| !JSON_FILE_OPTS.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "unknown log opt '{k}' for json-file log driver"
        ))),
        None => Ok(()),
    }
}

/// Docker's RAMInBytes: "10m", "1k", "2g", "512" (binary units).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        'p' => (&t[..t.len() - 1], 1 << 50),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0).then_some((n * mult as f64) as u64)
}

/// Start-time: the rotation to hand the shim; None without max-size.
pub fn rotation(hc: &Map<String, Value>) -> ApiResult<Option<LogRotate>> {
    let (typ, cfg) = log_config(hc);
    if typ != "json-file" {
        return Ok(None);
    }
    let opt = |k: &str| cfg.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let fail =
        |m: String| ApiError::bad_request(format!("failed to initialize logging driver: {m}"));
    let max_size = match opt("max-size") {
        Some(s) => Some(ram_in_bytes(s).ok_or_else(|| fail(format!("invalid size: '{s}'")))?),
        None => None,
    };
    let max_files = match opt("max-file") {
        Some(s) => {
            let n: i64 = s
                .parse()
                .map_err(|_| fail(format!("strconv.Atoi: parsing \"{s}\": invalid syntax")))?;
            if n < 1 {
                return Err(fail("max-file cannot be less than 1".into()));
            }
            n as u32
        }
        None => 1,
    };
    if max_files > 1 && max_size.is_none() {
        return Err(fail(
            "max-file can only be applied when max-size is also set".into(),
        ));
    }
    Ok(max_size.filter(|&s| s > 0).map(|max_size| LogRotate {
        max_size,
        max_files,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hc(cfg: Value) -> Map<String, Value> {
        json!({"LogConfig": {"Type": "json-file", "Config": cfg}})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("1k"), Some(1024));
        assert_eq!(ram_in_bytes("10m"), Some(10 << 20));
        assert_eq!(ram_in_bytes("1.5KB"), Some(1536));
        assert_eq!(ram_in_bytes("512"), Some(512));
        assert_eq!(ram_in_bytes("abc"), None);
    }

    #[test]
    fn options_like_docker() {
        assert_eq!(
            rotation(&hc(json!({"max-size": "1k", "max-file": "3"}))).unwrap(),
            Some(LogRotate {
                max_size: 1024,
                max_files: 3
            })
        );
        assert_eq!(rotation(&hc(json!({}))).unwrap(), None);
        assert_eq!(
            rotation(&hc(json!({"max-size": "abc"})))
                .unwrap_err()
                .message,
            "failed to initialize logging driver: invalid size: 'abc'"
        );
        assert_eq!(
            rotation(&hc(json!({"max-size": "1k", "max-file": "0"})))
                .unwrap_err()
                .message,
            "failed to initialize logging driver: max-file cannot be less than 1"
        );
        assert_eq!(
            validate(&hc(json!({"bogus": "1"}))).unwrap_err().message,
            "unknown log opt 'bogus' for json-file log driver"
        );
        assert!(validate(&hc(json!({"max-size": "1k"}))).is_ok());
    }
}
