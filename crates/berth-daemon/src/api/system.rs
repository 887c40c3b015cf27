//! `/_ping`, `/version`, `/info`.

use super::{AppState, API_VERSION, MIN_API_VERSION};
use crate::container::Status;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub async fn ping() -> Response {
    let mut r = "OK".into_response();
    let h = r.headers_mut();
    h.insert("API-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn kernel() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub async fn version() -> Json<Value> {
    let v = env!("CARGO_PKG_VERSION");
    Json(json!({
        "Platform": {"Name": "berth"},
        "Components": [{"Name": "Engine", "Version": v, "Details": {
            "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
            "Arch": "amd64", "KernelVersion": kernel(), "Experimental": "false"
        }}],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "berth",
        "GoVersion": "n/a (rust)",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": kernel(),
        "BuildTime": "",
    }))
}

pub async fn info(State(d): State<AppState>) -> Json<Value> {
    let all = d.all();
    let count = |s: Status| all.iter().filter(|e| e.get().state.status == s).count();
    let running = count(Status::Running);
    let paused = count(Status::Paused);
    let images = d
        .images
        .list(true, &Default::default())
        .map(|l| l.len())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024;
    let cgroup_version = match berth_cgroups::detect() {
        berth_cgroups::Mode::V2 => "2",
        _ => "1",
    };
    let hostname = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut info = json!({
        "ID": "berth",
        "Containers": all.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": all.len() - running - paused,
        "Images": images,
        "Driver": d.images.driver(),
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
        "MemoryLimit": true,
        "SwapLimit": true,
        "KernelMemory": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "BridgeNfIptables": false,
        "BridgeNfIp6tables": false,
        "Debug": false,
        "NFd": 0,
        "OomKillDisable": true,
        "NGoroutines": 0,
        "SystemTime": crate::container::rfc3339(chrono::Utc::now()),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": kernel(),
        "OperatingSystem": "berth on Linux",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": "x86_64",
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem,
        "DockerRootDir": d.data_root().to_string_lossy(),
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": {"runc": {"path": "berth"}},
        "DefaultRuntime": "runc",
        "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        // berth's containers share the host's cgroup namespace (no
        // CgroupnsMode yet), so "name=cgroupns" is never claimed.
        "SecurityOptions": crate::security_opts::info_security_options(
            berth_cgroups::detect() == berth_cgroups::Mode::V2,
        ),
        "Warnings": [],
    });
    crate::userns::add_security_option(&mut info, d.images.id_map().is_some());
    Json(info)
}

/// `info`'s RegistryConfig from the daemon's registry flags, in Docker's
/// shape: loopback and `--insecure-registry` CIDRs, an index entry per
/// insecure host and for docker.io (with its mirrors).
fn registry_config() -> Value {
    let s = berth_registry::settings::get();
    let mut index = serde_json::Map::new();
    for h in s.insecure_hosts() {
        index.insert(
            h.clone(),
            json!({"Name": h, "Mirrors": [], "Secure": false, "Official": false}),
        );
    }
    let mirrors: Vec<String> = s.mirrors().iter().map(|m| format!("{m}/")).collect();
    index.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true}),
    );
    json!({
        "AllowNondistributableArtifactsCIDRs": null,
        "AllowNondistributableArtifactsHostnames": null,
        "InsecureRegistryCIDRs": s.insecure_cidrs(),
        "IndexConfigs": index,
        "Mirrors": mirrors,
    })
}
