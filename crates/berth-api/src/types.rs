//! Serde shapes of the Engine API, named as in the v1.47 spec. Only the fields
//! the CLI reads or writes are modelled; unknown fields are ignored on input and
//! empty ones omitted on output (the daemon treats absent as zero, as Docker does).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// An empty JSON object (`{}`), the value type of ExposedPorts / Volumes maps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmptyObject {}

/// `Config` of a container (ContainerConfig in the spec).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domainname: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    pub image: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, EmptyObject>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_false")]
    pub network_disabled: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// `Healthcheck` of a container config; durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub start_interval: i64,
}

/// `RestartPolicy` of a host config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub maximum_retry_count: i64,
}

/// One `Ulimits` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// One `Devices` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// One `BlkioWeightDevice` entry (`--blkio-weight-device PATH:WEIGHT`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// One `BlkioDevice{Read,Write}{Bps,IOps}` entry: bytes or IOs per second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: u64,
}

/// One `DeviceRequests` entry (`--gpus`). Every field is sent, `DeviceIDs`
/// as `null` when unset, as the docker CLI marshals it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    pub driver: String,
    pub count: i64,
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    pub capabilities: Vec<Vec<String>>,
    pub options: BTreeMap<String, String>,
}

/// One binding of `PortBindings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: String,
}

/// `Mounts` entry (the `--mount` flag).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    pub target: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<serde_json::Value>,
}

/// `HostConfig` of a container, resources flattened in as the spec does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<String>,
    #[serde(rename = "ContainerIDFile", skip_serializing_if = "String::is_empty")]
    pub container_id_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network_mode: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    pub auto_remove: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cgroupns_mode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_options: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub ipc_mode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub oom_score_adj: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pid_mode: String,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub publish_all_ports: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub readonly_rootfs: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// `--storage-opt k=v` (the daemon refuses any, as Docker on overlay2
    /// without xfs project quotas).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tmpfs: BTreeMap<String, String>,
    #[serde(rename = "UTSMode", skip_serializing_if = "String::is_empty")]
    pub uts_mode: String,
    /// `--userns host`: no user namespace on a `--userns-remap` daemon.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub userns_mode: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub shm_size: i64,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub isolation: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub volume_driver: String,
    // Resources
    #[serde(skip_serializing_if = "is_zero")]
    pub cpu_shares: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub memory: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub nano_cpus: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cgroup_parent: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub blkio_weight: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blkio_weight_device: Vec<WeightDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blkio_device_read_bps: Vec<ThrottleDevice>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blkio_device_write_bps: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceReadIOps", skip_serializing_if = "Vec::is_empty")]
    pub blkio_device_read_iops: Vec<ThrottleDevice>,
    #[serde(rename = "BlkioDeviceWriteIOps", skip_serializing_if = "Vec::is_empty")]
    pub blkio_device_write_iops: Vec<ThrottleDevice>,
    #[serde(skip_serializing_if = "is_zero")]
    pub cpu_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cpu_quota: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cpu_realtime_period: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cpu_realtime_runtime: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cpuset_cpus: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cpuset_mems: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_requests: Vec<DeviceRequest>,
    #[serde(skip_serializing_if = "is_zero")]
    pub memory_reservation: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub memory_swap: i64,
    /// -1 (the kernel's default) unless `--memory-swappiness` is given; the
    /// docker CLI always sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    /// `{"Type": driver, "Config": {opt: value}}` (--log-driver, --log-opt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_config: Option<serde_json::Value>,
}

/// `NetworkingConfig` of a create request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub endpoints_config: BTreeMap<String, serde_json::Value>,
}

/// Body of `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
}

/// Answer of `POST /containers/create`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateResponse {
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub warnings: Vec<String>,
}

/// `Error` of a wait answer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitExitError {
    pub message: String,
}

/// Answer of `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerWaitResponse {
    pub status_code: i64,
    pub error: Option<WaitExitError>,
}

/// `{"Id": ...}` answers (exec create, commit).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IdResponse {
    pub id: String,
}

/// Body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<String>,
    pub tty: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub privileged: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
}

/// Body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecStartConfig {
    pub detach: bool,
    pub tty: bool,
}

/// Answer of `GET /exec/{id}/json` (the fields the CLI needs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
}

/// `Ports` entry of a container summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Port {
    #[serde(rename = "IP", skip_serializing_if = "String::is_empty")]
    pub ip: String,
    #[serde(rename = "PrivatePort")]
    pub private_port: u16,
    #[serde(rename = "PublicPort", skip_serializing_if = "Option::is_none")]
    pub public_port: Option<u16>,
    #[serde(rename = "Type")]
    pub kind: String,
}

/// `Mounts` entry of a container summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    pub name: String,
    pub source: String,
    pub destination: String,
}

/// Entry of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    pub image: String,
    #[serde(rename = "ImageID")]
    pub image_id: String,
    pub command: String,
    pub created: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<Port>,
    pub size_rw: Option<i64>,
    pub size_root_fs: Option<i64>,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    pub state: String,
    pub status: String,
    #[serde(deserialize_with = "null_as_default")]
    pub mounts: Vec<MountPoint>,
    pub network_settings: Option<serde_json::Value>,
}

/// Entry of `GET /images/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    pub id: String,
    pub parent_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub repo_tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub repo_digests: Vec<String>,
    pub created: i64,
    pub size: i64,
    pub shared_size: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    pub containers: i64,
}

/// Entry of `DELETE /images/{name}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageDeleteResponseItem {
    pub untagged: Option<String>,
    pub deleted: Option<String>,
}

/// Entry of `GET /images/{name}/history`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HistoryResponseItem {
    pub id: String,
    pub created: i64,
    pub created_by: String,
    #[serde(deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    pub size: i64,
    pub comment: String,
}

/// Answer of `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerTopResponse {
    #[serde(deserialize_with = "null_as_default")]
    pub titles: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub processes: Vec<Vec<String>>,
}

/// A component of `GET /version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    #[serde(deserialize_with = "null_as_default")]
    pub details: HashMap<String, String>,
}

/// Answer of `GET /version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemVersion {
    #[serde(deserialize_with = "null_as_default")]
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    pub experimental: bool,
    pub build_time: String,
}

/// Deserializes `null` as the type's default (Go marshals empty slices/maps as null).
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_flattens_config_and_omits_empty_fields() {
        let req = ContainerCreateRequest {
            config: ContainerConfig {
                image: "busybox".into(),
                cmd: Some(vec!["true".into()]),
                ..Default::default()
            },
            host_config: HostConfig {
                memory: 64 << 20,
                ..Default::default()
            },
            networking_config: None,
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["Cmd"], serde_json::json!(["true"]));
        assert_eq!(v["HostConfig"]["Memory"], 67108864);
        assert!(v.get("Entrypoint").is_none());
        assert!(v["HostConfig"].get("CpuShares").is_none());
    }

    #[test]
    fn device_and_cgroup_fields_use_the_spec_names() {
        let hc = HostConfig {
            blkio_device_read_iops: vec![ThrottleDevice {
                path: "/dev/sda".into(),
                rate: 100,
            }],
            blkio_weight_device: vec![WeightDevice {
                path: "/dev/sda".into(),
                weight: 200,
            }],
            device_requests: vec![DeviceRequest {
                count: -1,
                capabilities: vec![vec!["gpu".into()]],
                ..Default::default()
            }],
            cgroupns_mode: "host".into(),
            cpu_realtime_runtime: 950,
            memory_swappiness: Some(-1),
            ..Default::default()
        };
        let v = serde_json::to_value(&hc).unwrap();
        assert_eq!(
            v["BlkioDeviceReadIOps"],
            serde_json::json!([{"Path": "/dev/sda", "Rate": 100}])
        );
        assert_eq!(
            v["BlkioWeightDevice"],
            serde_json::json!([{"Path": "/dev/sda", "Weight": 200}])
        );
        assert_eq!(
            v["DeviceRequests"],
            serde_json::json!([{"Driver": "", "Count": -1, "DeviceIDs": null, "Capabilities": [["gpu"]], "Options": {}}])
        );
        assert_eq!(v["CgroupnsMode"], "host");
        assert_eq!(v["CpuRealtimeRuntime"], 950);
        assert_eq!(v["MemorySwappiness"], -1);
        assert!(v.get("BlkioDeviceWriteIOps").is_none());
        assert!(v.get("StorageOpt").is_none());
        let back: HostConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, hc);
        // Docker answers null for an unset swappiness.
        let hc: HostConfig = serde_json::from_str(r#"{"MemorySwappiness": null}"#).unwrap();
        assert_eq!(hc.memory_swappiness, None);
    }

    #[test]
    fn summaries_accept_null_lists() {
        let s: ContainerSummary = serde_json::from_str(
            r#"{"Id":"abc","Names":null,"Ports":null,"Labels":null,"Mounts":null,"Created":5}"#,
        )
        .unwrap();
        assert_eq!(s.id, "abc");
        assert!(s.names.is_empty());
        let i: ImageSummary =
            serde_json::from_str(r#"{"Id":"sha256:1","RepoTags":null,"Size":10}"#).unwrap();
        assert!(i.repo_tags.is_empty());
    }
}
