//! `POST /containers/{id}/update`: new resource limits and restart policy.
//! A running (or paused) container gets them applied to its cgroup at once;
//! a stopped one only records them for its next start. Either way they are
//! kept in HostConfig, so inspect shows them.

use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// Resource fields `docker update` may change (Docker's Resources struct).
const RESOURCE_KEYS: &[&str] = &[
    "Memory",
    "MemorySwap",
    "MemoryReservation",
    "KernelMemory",
    "CpuShares",
    "CpuQuota",
    "CpuPeriod",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "NanoCpus",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "BlkioWeight",
];

fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Number(n) => n.as_i64() != Some(0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// The container's HostConfig with the update folded in. Like Docker, zero
/// values mean "leave as is"; the memory checks look at the merged result.
pub fn merge(old: &Map<String, Value>, body: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let mut hc = old.clone();
    for key in RESOURCE_KEYS {
        if let Some(v) = body.get(*key).filter(|v| is_set(v)) {
            hc.insert((*key).to_string(), v.clone());
        }
    }
    let int = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (memory, swap) = (int(&hc, "Memory"), int(&hc, "MemorySwap"));
    if is_set(body.get("Memory").unwrap_or(&Value::Null))
        && !is_set(body.get("MemorySwap").unwrap_or(&Value::Null))
        && swap > 0
        && memory > swap
    {
        return Err(ApiError::bad_request(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
        ));
    }
    // NanoCpus and CpuQuota/CpuPeriod exclude each other: the newer one wins.
    if is_set(body.get("NanoCpus").unwrap_or(&Value::Null)) {
        hc.insert("CpuQuota".into(), Value::from(0));
        hc.insert("CpuPeriod".into(), Value::from(0));
    } else if ["CpuQuota", "CpuPeriod"]
        .iter()
        .any(|k| is_set(body.get(*k).unwrap_or(&Value::Null)))
    {
        hc.insert("NanoCpus".into(), Value::from(0));
    }
    if let Some(rp) = body.get("RestartPolicy").and_then(Value::as_object) {
        let name = rp.get("Name").and_then(Value::as_str).unwrap_or("");
        if !name.is_empty() {
            if hc
                .get("AutoRemove")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                && name != "no"
            {
                return Err(ApiError::bad_request(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ));
            }
            hc.insert("RestartPolicy".into(), Value::Object(rp.clone()));
        }
    }
    crate::create::normalize_host_config(hc)
}

pub async fn update(d: &Daemon, name: &str, body: Value) -> ApiResult<Vec<String>> {
    let body = match body {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        _ => return Err(ApiError::bad_request("invalid JSON: expected an object")),
    };
    let e = d.lookup(name)?;
    // Serialised with start/stop, so a start cannot slip between the cgroup
    // write and the record.
    let _op = e.op.lock().await;
    let mut c = e.get();
    if matches!(
        c.state.status,
        crate::container::Status::Removing | crate::container::Status::Dead
    ) {
        return Err(ApiError::conflict(format!(
            "Cannot update container {}: container is marked for removal and cannot be \"update\"",
            c.id
        )));
    }
    // Validation errors carry Docker's bare wording (no "Cannot update" prefix).
    let hc = merge(&c.host_config, &body)?;
    c.host_config = hc.clone();
    if c.state.status.is_running() {
        apply_live(&c).map_err(|msg| {
            ApiError::internal(format!("Cannot update container {}: {msg}", c.id))
        })?;
    }
    e.with(|rec| rec.host_config = hc);
    d.store.update(&e.get())?;
    d.container_event(&e.get(), "update", &[]);
    Ok(Vec::new())
}

/// Writes the container's limits to its live cgroup.
fn apply_live(c: &crate::container::Container) -> Result<(), String> {
    let mut res = crate::spec::resources(c);
    // Device rules are set once at create; update never touches them.
    if let Some(m) = res.as_object_mut() {
        m.remove("devices");
    }
    let res: berth_cgroups::LinuxResources =
        serde_json::from_value(res).map_err(|e| format!("resources: {e}"))?;
    let cg = berth_cgroups::Cgroup::open(&crate::cgroup_opts::cgroup_path(c))
        .map_err(|e| e.to_string())?;
    cg.update(&res).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn zero_fields_keep_old_values() {
        let old = obj(json!({"Memory": 67108864, "CpuShares": 512}));
        let hc = merge(
            &old,
            &obj(json!({"Memory": 134217728, "MemorySwap": 268435456, "CpuShares": 0})),
        )
        .unwrap();
        assert_eq!(hc["Memory"], 134217728);
        assert_eq!(hc["MemorySwap"], 268435456);
        assert_eq!(hc["CpuShares"], 512);
    }

    #[test]
    fn docker_errors() {
        let old = obj(json!({"Memory": 67108864, "MemorySwap": 134217728}));
        let err = merge(&old, &obj(json!({"Memory": 1000}))).unwrap_err();
        assert_eq!(err.message, "Minimum memory limit allowed is 6MB");
        let err = merge(&old, &obj(json!({"Memory": 268435456}))).unwrap_err();
        assert!(err.message.starts_with("Memory limit should be smaller"));
        let auto = obj(json!({"AutoRemove": true}));
        let err = merge(&auto, &obj(json!({"RestartPolicy": {"Name": "always"}}))).unwrap_err();
        assert!(err.message.contains("AutoRemove"));
    }

    #[test]
    fn restart_policy_is_replaced() {
        let hc = merge(
            &Map::new(),
            &obj(json!({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}})),
        )
        .unwrap();
        assert_eq!(hc["RestartPolicy"]["Name"], "on-failure");
    }
}
