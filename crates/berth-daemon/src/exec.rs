//! Exec instances: `POST /containers/{id}/exec` records one, `POST
//! /exec/{id}/start` runs it through the container's shim.

use crate::container::Status;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct ExecInstance {
    pub id: String,
    pub container_id: String,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub privileged: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
    pub started: bool,
}

impl ExecInstance {
    pub fn inspect(&self) -> Value {
        json!({
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty,
                "entrypoint": self.cmd.first().cloned().unwrap_or_default(),
                "arguments": self.cmd.iter().skip(1).collect::<Vec<_>>(),
                "privileged": self.privileged,
                "user": self.user,
            },
            "OpenStdin": self.attach_stdin,
            "OpenStderr": self.attach_stderr,
            "OpenStdout": self.attach_stdout,
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": "",
            "Pid": self.pid,
        })
    }
}

#[derive(Default)]
pub struct ExecTable {
    map: Mutex<HashMap<String, ExecInstance>>,
}

impl ExecTable {
    pub fn insert(&self, e: ExecInstance) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(e.id.clone(), e);
    }
    pub fn get(&self, id: &str) -> ApiResult<ExecInstance> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }
    pub fn update(&self, id: &str, f: impl FnOnce(&mut ExecInstance)) {
        if let Some(e) = self
            .map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
        {
            f(e);
        }
    }
    pub fn remove_for_container(&self, cid: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, e| e.container_id != cid);
    }
    pub fn ids_for(&self, cid: &str) -> Vec<String> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| e.container_id == cid && e.running)
            .map(|e| e.id.clone())
            .collect()
    }
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// POST /containers/{id}/exec
pub fn create(d: &Arc<Daemon>, name: &str, body: &Value) -> ApiResult<String> {
    let e = d.lookup(name)?;
    let c = e.get();
    match c.state.status {
        Status::Running => {}
        Status::Paused => {
            return Err(ApiError::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                c.id
            )))
        }
        _ => {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                c.id
            )))
        }
    }
    let cmd = strs(body.get("Cmd"));
    if cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let flag = |k: &str| body.get(k).and_then(Value::as_bool).unwrap_or(false);
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let id = hex::encode(rand::random::<[u8; 32]>());
    d.execs.insert(ExecInstance {
        id: id.clone(),
        container_id: c.id.clone(),
        cmd,
        env: strs(body.get("Env")),
        user: s("User"),
        working_dir: s("WorkingDir"),
        tty: flag("Tty"),
        privileged: flag("Privileged"),
        attach_stdin: flag("AttachStdin"),
        attach_stdout: flag("AttachStdout"),
        attach_stderr: flag("AttachStderr"),
        running: false,
        exit_code: None,
        pid: 0,
        started: false,
    });
    let action = format!("exec_create: {}", strs(body.get("Cmd")).join(" "));
    d.container_event(&c, &action, &[("execID", id.clone())]);
    Ok(id)
}

/// The OCI process for an exec: the container's env, user and caps unless overridden.
pub fn process(d: &Arc<Daemon>, x: &ExecInstance) -> ApiResult<oci_spec::runtime::Process> {
    let e = d.lookup(&x.container_id)?;
    let c = e.get();
    let mount = d.images.rw_layer_mount(&c.id).ok();
    let lookup = move |rel: &str| {
        mount
            .as_ref()
            .and_then(|m| crate::create::find_in_layers(m, rel))
    };
    let user_spec = if x.user.is_empty() {
        c.config_str("User").unwrap_or("").to_string()
    } else {
        x.user.clone()
    };
    let group_add = c
        .host_config
        .get("GroupAdd")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let user = crate::users::resolve(&user_spec, &group_add, &lookup)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut caps = crate::spec::capabilities(&c).map_err(|e| ApiError::internal(e.to_string()))?;
    if x.privileged {
        caps = crate::spec::ALL_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    let mut env = crate::spec::config_strs(&c, "Env");
    for kv in &x.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    let hostname = c.config_str("Hostname").unwrap_or("");
    let env = crate::spec::process_env(&env, hostname, x.tty, &user.home);
    let cwd = if x.working_dir.is_empty() {
        c.config_str("WorkingDir").unwrap_or("/").to_string()
    } else {
        x.working_dir.clone()
    };
    let nnp = crate::security_opts::from_host_config(&c.host_config)
        .unwrap_or_default()
        .no_new_privileges;
    let p = crate::spec::process_json(&crate::spec::ProcessInput {
        args: x.cmd.clone(),
        env,
        cwd,
        user: &user,
        tty: x.tty,
        caps: &caps,
        no_new_privileges: nnp,
        rlimits: Vec::new(),
    });
    serde_json::from_value(p).map_err(|e| ApiError::internal(format!("exec process: {e}")))
}
