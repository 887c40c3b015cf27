//! The pieces of `POST /containers/create` that shape the record: merging
//! the image's config, Docker's HostConfig defaults and validation, the
//! command, and the /etc files each container gets.

use crate::container::{Container, Paths};
use crate::error::{ApiError, ApiResult};
use berth_image::{ImageConfig, SnapshotMount};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

const MIN_MEMORY: i64 = 6 * 1024 * 1024;

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

/// Docker's merge: the image supplies what the container config leaves empty.
/// Env merges by key (container wins); labels merge (container wins); an
/// entrypoint given on create drops the image's Cmd.
pub fn merge_image_config(config: &mut Map<String, Value>, image: &ImageConfig) {
    let img = serde_json::to_value(image).unwrap_or(Value::Null);
    let img = img.as_object().cloned().unwrap_or_default();
    let user_entrypoint = !is_empty(config.get("Entrypoint"));
    if !user_entrypoint && is_empty(config.get("Cmd")) {
        if let Some(v) = img.get("Cmd") {
            config.insert("Cmd".into(), v.clone());
        }
    }
    if !user_entrypoint {
        if let Some(v) = img.get("Entrypoint") {
            config.insert("Entrypoint".into(), v.clone());
        }
    }
    let mut env = strs(img.get("Env"));
    for e in strs(config.get("Env")) {
        let key = e.split('=').next().unwrap_or("").to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    config.insert("Env".into(), json!(env));
    for key in ["WorkingDir", "User", "StopSignal"] {
        if is_empty(config.get(key)) {
            if let Some(v) = img.get(key) {
                config.insert(key.into(), v.clone());
            }
        }
    }
    for key in ["ExposedPorts", "Volumes", "Labels"] {
        let mut merged = img
            .get(key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(own) = config.get(key).and_then(Value::as_object) {
            merged.extend(own.clone());
        }
        if !merged.is_empty() || key == "Labels" {
            config.insert(key.into(), Value::Object(merged));
        }
    }
    // `--entrypoint ""` arrives as [""]: it kept the image's entrypoint and
    // Cmd out above, and now means none at all (Docker resets it too).
    if config
        .get("Entrypoint")
        .and_then(Value::as_array)
        .is_some_and(|a| a.len() == 1 && a[0].as_str() == Some(""))
    {
        config.insert("Entrypoint".into(), Value::Null);
    }
    if is_empty(config.get("Healthcheck")) {
        if let Some(v) = img.get("Healthcheck") {
            config.insert("Healthcheck".into(), v.clone());
        }
    }
    for (key, default) in [
        ("Hostname", json!("")),
        ("Domainname", json!("")),
        ("User", json!("")),
        ("AttachStdin", json!(false)),
        ("AttachStdout", json!(false)),
        ("AttachStderr", json!(false)),
        ("Tty", json!(false)),
        ("OpenStdin", json!(false)),
        ("StdinOnce", json!(false)),
        ("Cmd", Value::Null),
        ("Image", json!("")),
        ("Volumes", Value::Null),
        ("WorkingDir", json!("")),
        ("Entrypoint", Value::Null),
        ("OnBuild", Value::Null),
        ("Labels", json!({})),
    ] {
        config.entry(key).or_insert(default);
    }
}

/// Path and Args: entrypoint + cmd.
pub fn command(config: &Map<String, Value>) -> ApiResult<(String, Vec<String>)> {
    let mut argv = strs(config.get("Entrypoint"));
    argv.extend(strs(config.get("Cmd")));
    if argv.is_empty() {
        return Err(ApiError::bad_request("No command specified"));
    }
    let path = argv.remove(0);
    Ok((path, argv))
}

fn field_i64(hc: &Map<String, Value>, key: &str) -> ApiResult<i64> {
    Ok(field_opt_i64(hc, key)?.unwrap_or(0))
}

/// An int64 HostConfig field; None when absent or null (Go's nil pointer).
pub(crate) fn field_opt_i64(hc: &Map<String, Value>, key: &str) -> ApiResult<Option<i64>> {
    match hc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "json: cannot unmarshal {v} into Go struct field HostConfig.{key} of type int64"
            ))
        }),
    }
}

/// Validates resource settings with Docker's messages and fills defaults.
pub fn normalize_host_config(mut hc: Map<String, Value>) -> ApiResult<Map<String, Value>> {
    // Neither is available here; Docker refuses them on such a host too.
    if let Some(req) = hc
        .get("DeviceRequests")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let driver = req.get("Driver").and_then(Value::as_str).unwrap_or("");
        let caps = req.get("Capabilities").cloned().unwrap_or(json!([]));
        let caps = serde_json::from_value::<Vec<Vec<String>>>(caps).unwrap_or_default();
        let caps = caps
            .iter()
            .map(|c| format!("[{}]", c.join(" ")))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(ApiError::bad_request(format!(
            "could not select device driver \"{driver}\" with capabilities: [{caps}]"
        )));
    }
    if hc
        .get("StorageOpt")
        .and_then(Value::as_object)
        .is_some_and(|o| !o.is_empty())
    {
        return Err(ApiError::bad_request(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ));
    }
    let memory = field_i64(&hc, "Memory")?;
    if memory != 0 && memory < MIN_MEMORY {
        return Err(ApiError::bad_request("Minimum memory limit allowed is 6MB"));
    }
    let swap = field_i64(&hc, "MemorySwap")?;
    if swap > 0 && memory > 0 && swap < memory {
        return Err(ApiError::bad_request(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if swap > 0 && memory == 0 {
        return Err(ApiError::bad_request(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    let reservation = field_i64(&hc, "MemoryReservation")?;
    if reservation != 0 && reservation < MIN_MEMORY {
        return Err(ApiError::bad_request(
            "Minimum memory reservation allowed is 6MB",
        ));
    }
    let nano = field_i64(&hc, "NanoCpus")?;
    if nano != 0 && (field_i64(&hc, "CpuQuota")? != 0 || field_i64(&hc, "CpuPeriod")? != 0) {
        return Err(ApiError::bad_request(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    if nano < 0 || nano > cpus * 1_000_000_000 {
        return Err(ApiError::bad_request(format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    let weight = field_i64(&hc, "BlkioWeight")?;
    if weight != 0 && !(10..=1000).contains(&weight) {
        return Err(ApiError::bad_request(
            "Range of blkio weight is from 10 to 1000",
        ));
    }
    if let Some(rp) = hc.get("RestartPolicy").and_then(Value::as_object) {
        let name = rp.get("Name").and_then(Value::as_str).unwrap_or("");
        if !matches!(name, "" | "no" | "always" | "unless-stopped" | "on-failure") {
            return Err(ApiError::bad_request(format!(
                "invalid restart policy '{name}'"
            )));
        }
        let max = rp
            .get("MaximumRetryCount")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        if max != 0 && name != "on-failure" {
            return Err(ApiError::bad_request(format!(
                "maximum retry count cannot be used with restart policy '{name}'"
            )));
        }
        if hc
            .get("AutoRemove")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            && !matches!(name, "" | "no")
        {
            return Err(ApiError::bad_request(
                "can't create 'AutoRemove' container with restart policy",
            ));
        }
    }
    if let Some(list) = hc.get("Ulimits").and_then(Value::as_array) {
        for u in list {
            let soft = u.get("Soft").and_then(Value::as_i64).unwrap_or(0);
            let hard = u.get("Hard").and_then(Value::as_i64).unwrap_or(0);
            if soft > hard {
                return Err(ApiError::bad_request(format!(
                    "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
                )));
            }
        }
    }
    for (key, default) in [
        ("NetworkMode", json!("default")),
        (
            "RestartPolicy",
            json!({"Name": "no", "MaximumRetryCount": 0}),
        ),
        ("LogConfig", json!({"Type": "json-file", "Config": {}})),
        ("ShmSize", json!(67108864)),
        ("Privileged", json!(false)),
        ("ReadonlyRootfs", json!(false)),
        ("AutoRemove", json!(false)),
        ("Memory", json!(0)),
        ("MemorySwap", json!(0)),
        ("CpuShares", json!(0)),
        ("NanoCpus", json!(0)),
        ("PidsLimit", Value::Null),
        ("Binds", Value::Null),
        ("CapAdd", Value::Null),
        ("CapDrop", Value::Null),
        ("Dns", json!([])),
        ("DnsOptions", json!([])),
        ("DnsSearch", json!([])),
        ("ExtraHosts", Value::Null),
        ("GroupAdd", Value::Null),
        ("IpcMode", json!("private")),
        ("PidMode", json!("")),
        ("UTSMode", json!("")),
        ("UsernsMode", json!("")),
        ("Runtime", json!("runc")),
        ("SecurityOpt", Value::Null),
        ("PortBindings", json!({})),
        ("VolumesFrom", Value::Null),
    ] {
        if hc
            .get(key)
            .is_none_or(|v| v.is_null() && !default.is_null())
        {
            hc.insert(key.into(), default);
        }
    }
    if hc.get("ShmSize").and_then(Value::as_i64) == Some(0) {
        hc.insert("ShmSize".into(), json!(67108864));
    }
    if hc
        .get("RestartPolicy")
        .and_then(|r| r.get("Name"))
        .and_then(Value::as_str)
        == Some("")
    {
        hc.insert(
            "RestartPolicy".into(),
            json!({"Name": "no", "MaximumRetryCount": 0}),
        );
    }
    Ok(hc)
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf for the container.
pub fn write_etc_files(c: &Container, paths: &Paths) -> std::io::Result<()> {
    let hostname = c
        .config
        .get("Hostname")
        .and_then(Value::as_str)
        .unwrap_or("");
    std::fs::write(&paths.hostname, format!("{hostname}\n"))?;
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if let Some(extra) = c.host_config.get("ExtraHosts").and_then(Value::as_array) {
        for h in extra.iter().filter_map(Value::as_str) {
            if let Some((name, ip)) = h.split_once(':') {
                hosts.push_str(&format!("{ip}\t{name}\n"));
            }
        }
    }
    std::fs::write(&paths.hosts, hosts)?;
    std::fs::write(&paths.resolv_conf, resolv_conf(c))?;
    std::fs::File::create(&paths.log)?;
    Ok(())
}

/// The host's resolv.conf without loopback resolvers (unreachable from a
/// container's network namespace); Google's public DNS if none remain, as Docker.
fn resolv_conf(c: &Container) -> String {
    let dns = strs(c.host_config.get("Dns"));
    let search = strs(c.host_config.get("DnsSearch"));
    let options = strs(c.host_config.get("DnsOptions"));
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut out = String::new();
    // --dns-search and --dns-option replace the host's lines, search first as Docker writes it.
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let mut servers = 0;
    for line in host.lines() {
        let t = line.trim();
        if (!search.is_empty() && t.starts_with("search"))
            || (!options.is_empty() && t.starts_with("options"))
        {
            continue;
        }
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" || !dns.is_empty() {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    for ns in &dns {
        out.push_str(&format!("nameserver {ns}\n"));
        servers += 1;
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// Finds `rel` (e.g. "/etc/passwd") in an overlay snapshot's layers without
/// mounting: the upper dir first, then the lower dirs top-down.
pub fn find_in_layers(m: &SnapshotMount, rel: &str) -> Option<PathBuf> {
    let rel = rel.trim_start_matches('/');
    let base = m.chdir.clone().unwrap_or_default();
    if m.fstype != "overlay" {
        let p = PathBuf::from(&m.source).join(rel);
        return p.exists().then_some(p);
    }
    let mut dirs = Vec::new();
    for opt in m.data.split(',') {
        if let Some(u) = opt.strip_prefix("upperdir=") {
            dirs.insert(0, base.join(u));
        } else if let Some(l) = opt.strip_prefix("lowerdir=") {
            dirs.extend(l.split(':').map(|d| base.join(d)));
        }
    }
    dirs.into_iter().map(|d| d.join(rel)).find(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_config_fills_gaps() {
        let image: ImageConfig = serde_json::from_value(json!({
            "Cmd": ["echo", "imported"], "Env": ["GREETING=hi", "PATH=/bin"], "WorkingDir": "/w"
        }))
        .unwrap();
        let mut cfg: Map<String, Value> =
            serde_json::from_value(json!({"Image": "imp", "Env": ["PATH=/custom"]})).unwrap();
        merge_image_config(&mut cfg, &image);
        assert_eq!(cfg["Cmd"], json!(["echo", "imported"]));
        assert_eq!(cfg["Env"], json!(["GREETING=hi", "PATH=/custom"]));
        assert_eq!(cfg["WorkingDir"], json!("/w"));
        assert_eq!(
            command(&cfg).unwrap(),
            ("echo".to_string(), vec!["imported".to_string()])
        );

        let mut cfg: Map<String, Value> =
            serde_json::from_value(json!({"Image": "imp", "Entrypoint": ["sh"]})).unwrap();
        merge_image_config(&mut cfg, &image);
        assert_eq!(command(&cfg).unwrap(), ("sh".to_string(), vec![]));
    }

    #[test]
    fn an_empty_entrypoint_resets_the_images() {
        let image: ImageConfig = serde_json::from_value(json!({
            "Entrypoint": ["/entry"], "Cmd": ["default"]
        }))
        .unwrap();
        let mut cfg: Map<String, Value> = serde_json::from_value(
            json!({"Image": "i", "Entrypoint": [""], "Cmd": ["echo", "hi"]}),
        )
        .unwrap();
        merge_image_config(&mut cfg, &image);
        assert_eq!(cfg["Entrypoint"], Value::Null);
        assert_eq!(
            command(&cfg).unwrap(),
            ("echo".to_string(), vec!["hi".to_string()])
        );
        // With no command either, there is nothing to run (Docker's error).
        let mut cfg: Map<String, Value> =
            serde_json::from_value(json!({"Image": "i", "Entrypoint": [""]})).unwrap();
        merge_image_config(&mut cfg, &image);
        assert_eq!(command(&cfg).unwrap_err().message, "No command specified");
    }

    #[test]
    fn gpus_and_storage_opts_are_refused_as_docker_does_here() {
        let gpus: Map<String, Value> = serde_json::from_value(json!({"DeviceRequests": [
            {"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}
        ]}))
        .unwrap();
        assert_eq!(
            normalize_host_config(gpus).unwrap_err().message,
            "could not select device driver \"\" with capabilities: [[gpu]]"
        );
        let quota: Map<String, Value> =
            serde_json::from_value(json!({"StorageOpt": {"size": "1G"}})).unwrap();
        assert!(normalize_host_config(quota)
            .unwrap_err()
            .message
            .starts_with("--storage-opt is supported only for overlay over xfs"));
        let empty: Map<String, Value> =
            serde_json::from_value(json!({"DeviceRequests": [], "StorageOpt": {}})).unwrap();
        assert!(normalize_host_config(empty).is_ok());
    }

    #[test]
    fn host_config_validation() {
        let bad: Map<String, Value> = serde_json::from_value(json!({"Memory": 1024})).unwrap();
        assert_eq!(
            normalize_host_config(bad).unwrap_err().message,
            "Minimum memory limit allowed is 6MB"
        );
        let ok: Map<String, Value> = serde_json::from_value(json!({"Memory": 67108864})).unwrap();
        let hc = normalize_host_config(ok).unwrap();
        assert_eq!(hc["RestartPolicy"]["Name"], "no");
        assert_eq!(hc["ShmSize"], 67108864);
    }
}
