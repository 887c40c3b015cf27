//! The container record: what is persisted per container and how it is shown
//! in Docker's inspect and list shapes.
//!
//! `Config` and `HostConfig` are kept as the JSON objects the client sent
//! (normalised with Docker's defaults), so fields berth does not interpret yet
//! still round-trip through inspect unchanged.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
    Removing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
            Status::Removing => "removing",
        }
    }
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
    /// Stopped on purpose (stop/kill by the user): restart policies other than
    /// `always` leave it down, `unless-stopped` across daemon restarts too.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// Healthcheck status; present only when the container has a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
}

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            stopped_by_user: false,
            health: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    /// With Docker's leading slash: "/name".
    pub name: String,
    pub created: DateTime<Utc>,
    pub path: String,
    pub args: Vec<String>,
    pub config: Map<String, Value>,
    pub host_config: Map<String, Value>,
    /// "sha256:<hex>"
    pub image_id: String,
    pub state: State,
    pub restart_count: i64,
    pub driver: String,
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

impl Container {
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    pub fn tty(&self) -> bool {
        self.config
            .get("Tty")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn open_stdin(&self) -> bool {
        self.config
            .get("OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn auto_remove(&self) -> bool {
        self.host_config
            .get("AutoRemove")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn config_str(&self, key: &str) -> Option<&str> {
        self.config
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn labels(&self) -> Map<String, Value> {
        self.config
            .get("Labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    pub fn restart_policy(&self) -> (String, i64) {
        let rp = self.host_config.get("RestartPolicy");
        let name = rp
            .and_then(|r| r.get("Name"))
            .and_then(Value::as_str)
            .unwrap_or("no")
            .to_string();
        let max = rp
            .and_then(|r| r.get("MaximumRetryCount"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        (if name.is_empty() { "no".into() } else { name }, max)
    }

    pub fn stop_signal(&self) -> String {
        self.config_str("StopSignal")
            .unwrap_or("SIGTERM")
            .to_string()
    }

    pub fn stop_timeout(&self) -> Option<i64> {
        self.config.get("StopTimeout").and_then(Value::as_i64)
    }

    /// Docker's `State` object.
    pub fn state_json(&self) -> Value {
        let s = &self.state;
        let mut v = json!({
            "Status": s.status.as_str(),
            "Running": s.status.is_running(),
            "Paused": s.status == Status::Paused,
            "Restarting": s.status == Status::Restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == Status::Dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
        });
        if let Some(h) = &s.health {
            v["Health"] = json!(h);
        }
        v
    }

    /// GET /containers/{id}/json
    pub fn inspect(
        &self,
        paths: &Paths,
        graph_driver: Value,
        mounts: Value,
        networks: Value,
    ) -> Value {
        json!({
            "Id": self.id,
            "Created": rfc3339(self.created),
            "Path": self.path,
            "Args": self.args,
            "State": self.state_json(),
            "Image": self.image_id,
            "ResolvConfPath": paths.resolv_conf.to_string_lossy(),
            "HostnamePath": paths.hostname.to_string_lossy(),
            "HostsPath": paths.hosts.to_string_lossy(),
            "LogPath": paths.log.to_string_lossy(),
            "Name": self.name,
            "RestartCount": self.restart_count,
            "Driver": self.driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": crate::apparmor::inspect_profile(
                crate::security_opts::from_host_config(&self.host_config)
                    .ok()
                    .and_then(|o| o.apparmor)
                    .as_deref(),
                self.host_config
                    .get("Privileged")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
            "ExecIDs": Value::Null,
            "HostConfig": self.host_config,
            "GraphDriver": graph_driver,
            "Mounts": mounts,
            "Config": self.config,
            "NetworkSettings": networks,
        })
    }
}

/// Files kept per container under `data-root/containers/<id>/`.
pub struct Paths {
    pub dir: std::path::PathBuf,
    pub hostname: std::path::PathBuf,
    pub hosts: std::path::PathBuf,
    pub resolv_conf: std::path::PathBuf,
    pub log: std::path::PathBuf,
}

impl Paths {
    pub fn new(data_root: &std::path::Path, id: &str) -> Paths {
        let dir = data_root.join("containers").join(id);
        Paths {
            hostname: dir.join("hostname"),
            hosts: dir.join("hosts"),
            resolv_conf: dir.join("resolv.conf"),
            log: dir.join(format!("{id}-json.log")),
            dir,
        }
    }
}
