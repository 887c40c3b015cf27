//! Builds the OCI runtime spec for a container the way Docker 20.10 does:
//! default capabilities, mounts, masked and read-only paths, namespaces,
//! cgroup resources, rlimits, seccomp and the resolved user.

use crate::container::{Container, Paths};
use crate::users::{self, User};
use serde_json::{json, Map, Value};

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows, in kernel bit order, for `--privileged` and `--cap-add ALL`.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    User(#[from] users::UserError),
    #[error("invalid capability: {0}")]
    Capability(String),
    #[error("invalid seccomp profile: {0}")]
    Seccomp(String),
    #[error("invalid ulimit: {0}")]
    Ulimit(String),
    #[error("building runtime spec: {0}")]
    Build(String),
    #[error("{0}")]
    Extras(#[from] crate::extras::ExtrasError),
    /// A cgroup setting that cannot be applied (a blkio device that is gone).
    #[error("{0}")]
    Cgroup(String),
}

fn hc<'a>(c: &'a Container, key: &str) -> Option<&'a Value> {
    c.host_config.get(key).filter(|v| !v.is_null())
}

fn hc_i64(c: &Container, key: &str) -> i64 {
    hc(c, key).and_then(Value::as_i64).unwrap_or(0)
}

fn hc_bool(c: &Container, key: &str) -> bool {
    hc(c, key).and_then(Value::as_bool).unwrap_or(false)
}

fn hc_strs(c: &Container, key: &str) -> Vec<String> {
    map_strs(&c.host_config, key)
}

/// The strings of the list `key` of a HostConfig (others left out).
pub(crate) fn map_strs(hc: &Map<String, Value>, key: &str) -> Vec<String> {
    hc.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn normalize_cap(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// "All capabilities" as a container can really get them: those of
/// [`ALL_CAPS`] in the daemon's own bounding set (a daemon in a restricted
/// environment cannot hand out more; asking would fail capset with EPERM).
fn all_held_caps() -> impl Iterator<Item = String> {
    let bounding = crate::security_opts::own_bounding_set();
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(move |(bit, _)| bounding.is_none_or(|b| *bit < 64 && b & (1u64 << bit) != 0))
        .map(|(_, c)| c.to_string())
}

/// Docker's TweakCapabilities: defaults, then drops, then adds; "ALL" on either side.
pub fn capabilities(c: &Container) -> Result<Vec<String>, SpecError> {
    if hc_bool(c, "Privileged") {
        return Ok(all_held_caps().collect());
    }
    let adds: Vec<String> = hc_strs(c, "CapAdd")
        .iter()
        .map(|s| normalize_cap(s))
        .collect();
    let drops: Vec<String> = hc_strs(c, "CapDrop")
        .iter()
        .map(|s| normalize_cap(s))
        .collect();
    for cap in adds.iter().chain(drops.iter()) {
        if cap != "CAP_ALL" && !ALL_CAPS.contains(&cap.as_str()) {
            return Err(SpecError::Capability(
                cap.trim_start_matches("CAP_").to_string(),
            ));
        }
    }
    if adds.iter().any(|c| c == "CAP_ALL") {
        return Ok(all_held_caps().filter(|c| !drops.contains(c)).collect());
    }
    let mut caps: Vec<String> = if drops.iter().any(|c| c == "CAP_ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !drops.contains(c))
            .collect()
    };
    for a in adds {
        if !caps.contains(&a) {
            caps.push(a);
        }
    }
    Ok(caps)
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": source, "options": options})
}

fn default_mounts(c: &Container, paths: &Paths) -> Vec<Value> {
    let privileged = hc_bool(c, "Privileged");
    let shm = match hc_i64(c, "ShmSize") {
        0 => 67108864,
        n => n,
    };
    let shm_size = format!("size={shm}");
    let sys_opts: &[&str] = if privileged {
        &["nosuid", "noexec", "nodev", "rw"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let mut m = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount("/sys", "sysfs", "sysfs", sys_opts),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
    ];
    for (dest, src) in [
        ("/etc/resolv.conf", &paths.resolv_conf),
        ("/etc/hostname", &paths.hostname),
        ("/etc/hosts", &paths.hosts),
    ] {
        m.push(mount(
            dest,
            "bind",
            &src.to_string_lossy(),
            &["rbind", "rprivate"],
        ));
    }
    if let Some(tmpfs) = hc(c, "Tmpfs").and_then(Value::as_object) {
        let mut dests: Vec<&String> = tmpfs.keys().collect();
        dests.sort();
        for dest in dests {
            let mut opts: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
            if let Some(extra) = tmpfs[dest].as_str().filter(|s| !s.is_empty()) {
                opts.extend(extra.split(',').map(String::from));
            }
            m.push(
                json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}),
            );
        }
    }
    m
}

pub(crate) fn resources(c: &Container) -> Value {
    let mut r = Map::new();
    let mut mem = Map::new();
    let memory = hc_i64(c, "Memory");
    if memory > 0 {
        mem.insert("limit".into(), json!(memory));
    }
    let swap = hc_i64(c, "MemorySwap");
    if swap != 0 {
        mem.insert("swap".into(), json!(swap));
    } else if memory > 0 {
        // Docker's default: swap allowance equal to the memory limit.
        mem.insert("swap".into(), json!(memory * 2));
    }
    let reservation = hc_i64(c, "MemoryReservation");
    if reservation > 0 {
        mem.insert("reservation".into(), json!(reservation));
    }
    if hc_bool(c, "OomKillDisable") {
        mem.insert("disableOOMKiller".into(), json!(true));
    }
    if let Some(s) = crate::cgroup_opts::swappiness(c) {
        mem.insert("swappiness".into(), json!(s));
    }
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = Map::new();
    let shares = hc_i64(c, "CpuShares");
    if shares > 0 {
        cpu.insert("shares".into(), json!(shares));
    }
    let nano = hc_i64(c, "NanoCpus");
    if nano > 0 {
        let period = 100_000i64;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(nano * period / 1_000_000_000));
    } else {
        let quota = hc_i64(c, "CpuQuota");
        if quota != 0 {
            cpu.insert("quota".into(), json!(quota));
        }
        let period = hc_i64(c, "CpuPeriod");
        if period > 0 {
            cpu.insert("period".into(), json!(period));
        }
    }
    if let Some(s) = hc(c, "CpusetCpus")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        cpu.insert("cpus".into(), json!(s));
    }
    if let Some(s) = hc(c, "CpusetMems")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        cpu.insert("mems".into(), json!(s));
    }
    // Real-time scheduling budget (cgroup v1 `cpu.rt_*`): applied as given,
    // so a kernel or parent that refuses it fails the start, as with runc.
    for (key, field) in [
        ("CpuRealtimePeriod", "realtimePeriod"),
        ("CpuRealtimeRuntime", "realtimeRuntime"),
    ] {
        let v = hc_i64(c, key);
        if v != 0 {
            cpu.insert(field.into(), json!(v));
        }
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    let pids = hc_i64(c, "PidsLimit");
    if pids != 0 {
        r.insert("pids".into(), json!({"limit": pids}));
    }
    let weight = hc_i64(c, "BlkioWeight");
    if weight > 0 {
        r.insert("blockIO".into(), json!({"weight": weight}));
    }
    r.insert("devices".into(), device_rules(c));
    Value::Object(r)
}

/// runc's default device cgroup: deny all, allow the standard nodes.
fn device_rules(c: &Container) -> Value {
    if hc_bool(c, "Privileged") {
        return json!([{"allow": true, "access": "rwm"}]);
    }
    let mut rules = vec![
        json!({"allow": false, "access": "rwm"}),
        json!({"allow": true, "type": "c", "access": "m"}),
        json!({"allow": true, "type": "b", "access": "m"}),
    ];
    for (major, minor) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (10, 200),
    ] {
        rules.push(
            json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm"}),
        );
    }
    rules.push(json!({"allow": true, "type": "c", "major": 136, "access": "rwm"}));
    Value::Array(rules)
}

fn rlimits(c: &Container) -> Result<Vec<Value>, SpecError> {
    let mut out = Vec::new();
    if let Some(list) = hc(c, "Ulimits").and_then(Value::as_array) {
        for u in list {
            let name = u.get("Name").and_then(Value::as_str).unwrap_or_default();
            let soft = u.get("Soft").and_then(Value::as_i64).unwrap_or(0);
            let hard = u.get("Hard").and_then(Value::as_i64).unwrap_or(0);
            if name.is_empty() || soft > hard {
                return Err(SpecError::Ulimit(format!("{name}={soft}:{hard}")));
            }
            out.push(json!({
                "type": format!("RLIMIT_{}", name.to_ascii_uppercase()),
                "soft": soft,
                "hard": hard,
            }));
        }
    }
    Ok(out)
}

/// Docker's sysctls for a container with a network namespace of its own
/// (since Engine 20.10): any user may open ICMP echo sockets and bind ports
/// below 1024 without capabilities. `--sysctl` values win.
const PRIVATE_NETNS_SYSCTLS: [(&str, &str); 2] = [
    ("net.ipv4.ping_group_range", "0 2147483647"),
    ("net.ipv4.ip_unprivileged_port_start", "0"),
];

fn sysctls(c: &Container) -> Map<String, Value> {
    use crate::network::Mode;
    let mut out = Map::new();
    if matches!(crate::network::mode_of(c), Mode::Networks | Mode::None) {
        for (k, v) in PRIVATE_NETNS_SYSCTLS {
            out.insert(k.into(), v.into());
        }
    }
    if let Some(user) = hc(c, "Sysctls").and_then(Value::as_object) {
        out.extend(user.clone());
    }
    out
}

fn namespaces(c: &Container) -> Vec<Value> {
    let mode = |key: &str| hc(c, key).and_then(Value::as_str).unwrap_or("").to_string();
    let mut ns = vec![json!({"type": "mount"})];
    if mode("PidMode") != "host" {
        ns.push(json!({"type": "pid"}));
    }
    if mode("UTSMode") != "host" {
        ns.push(json!({"type": "uts"}));
    }
    if mode("IpcMode") != "host" {
        ns.push(json!({"type": "ipc"}));
    }
    if mode("NetworkMode") != "host" {
        ns.push(json!({"type": "network"}));
    }
    if crate::cgroup_opts::private_cgroupns(c) {
        ns.push(json!({"type": "cgroup"}));
    }
    ns
}

/// The container's security options; validated at create, so a list that
/// no longer parses (an older record) counts as none.
fn security_opts(c: &Container) -> crate::security_opts::SecurityOpts {
    crate::security_opts::from_host_config(&c.host_config).unwrap_or_default()
}

pub struct ProcessInput<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: &'a User,
    pub tty: bool,
    pub caps: &'a [String],
    pub no_new_privileges: bool,
    pub rlimits: Vec<Value>,
}

pub fn process_json(p: &ProcessInput) -> Value {
    let root = p.user.uid == 0;
    // Docker 20.10 gives non-root users no effective/permitted capabilities.
    let eff: &[String] = if root { p.caps } else { &[] };
    json!({
        "terminal": p.tty,
        "user": {"uid": p.user.uid, "gid": p.user.gid, "additionalGids": p.user.additional_gids},
        "args": p.args,
        "env": p.env,
        "cwd": p.cwd,
        "capabilities": {
            "bounding": p.caps,
            "effective": eff,
            "permitted": eff,
        },
        "rlimits": p.rlimits,
        "noNewPrivileges": p.no_new_privileges,
    })
}

/// Environment as Docker composes it: PATH default, HOSTNAME, TERM for a tty,
/// the configured env, HOME from the user's passwd entry when unset.
pub fn process_env(config_env: &[String], hostname: &str, tty: bool, home: &str) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(config_env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !hostname.is_empty() {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if tty {
        env.push("TERM=xterm".into());
    }
    env.extend(config_env.iter().cloned());
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

pub struct Built {
    pub spec: oci_spec::runtime::Spec,
}

pub fn config_strs(c: &Container, key: &str) -> Vec<String> {
    c.config
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the spec for the container's init. `lookup` finds files of the
/// container's root filesystem (for /etc/passwd and /etc/group).
pub fn build(
    c: &Container,
    paths: &Paths,
    rootfs: &std::path::Path,
    lookup: &dyn Fn(&str) -> Option<std::path::PathBuf>,
) -> Result<Built, SpecError> {
    let hostname = c.config_str("Hostname").unwrap_or("").to_string();
    let user = users::resolve(
        c.config_str("User").unwrap_or(""),
        &hc_strs(c, "GroupAdd"),
        lookup,
    )?;
    let caps = capabilities(c)?;
    let sec = security_opts(c);
    let privileged = hc_bool(c, "Privileged");
    let env = process_env(&config_strs(c, "Env"), &hostname, c.tty(), &user.home);
    let mut args = Vec::new();
    let mut extra_mounts = Vec::new();
    if crate::extras::wants_init(c) {
        let (mount, prefix) = crate::extras::init_mount()?;
        extra_mounts.push(mount);
        args.extend(prefix);
    }
    args.push(c.path.clone());
    args.extend(c.args.iter().cloned());
    let (mut device_nodes, device_rules) = crate::extras::devices(c)?;
    if privileged {
        for d in crate::extras::host_devices() {
            if !device_nodes.iter().any(|n| n["path"] == d["path"]) {
                device_nodes.push(d);
            }
        }
    }
    let process = process_json(&ProcessInput {
        args,
        env,
        cwd: c.config_str("WorkingDir").unwrap_or("/").to_string(),
        user: &user,
        tty: c.tty(),
        caps: &caps,
        no_new_privileges: sec.no_new_privileges,
        rlimits: rlimits(c)?,
    });
    let mut linux = json!({
        "namespaces": namespaces(c),
        "cgroupsPath": crate::cgroup_opts::cgroup_path(c),
        "resources": resources(c),
    });
    let cgroup_err = |e: crate::error::ApiError| SpecError::Cgroup(e.message);
    let block_devices = crate::cgroup_opts::block_io_devices(c).map_err(cgroup_err)?;
    if !block_devices.is_empty() {
        let block_io = linux["resources"]
            .as_object_mut()
            .expect("resources is an object")
            .entry("blockIO")
            .or_insert_with(|| json!({}));
        if let Some(b) = block_io.as_object_mut() {
            b.extend(block_devices);
        }
    }
    // `--device-cgroup-rule`s come after the defaults, so they can widen them.
    if !privileged {
        let extra = crate::cgroup_opts::device_rules(c).map_err(cgroup_err)?;
        if let Some(rules) = linux["resources"]["devices"].as_array_mut() {
            rules.extend(extra);
        }
    }
    if !device_nodes.is_empty() {
        linux["devices"] = json!(device_nodes);
        if let Some(rules) = linux["resources"]["devices"].as_array_mut() {
            rules.extend(device_rules);
        }
    }
    if !privileged && !sec.unconfined_paths {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    let sysctl = sysctls(c);
    if !sysctl.is_empty() {
        linux["sysctl"] = Value::Object(sysctl);
    }
    let seccomp = match sec.seccomp_profile() {
        _ if privileged || sec.seccomp.as_deref() == Some("unconfined") => None,
        Some(profile) => Some(
            berth_seccomp::docker_profile_to_oci(profile.as_bytes(), &caps)
                .map_err(|e| SpecError::Seccomp(e.to_string()))?,
        ),
        _ => Some(
            berth_seccomp::default_profile(&caps).map_err(|e| SpecError::Seccomp(e.to_string()))?,
        ),
    };
    if let Some(s) = seccomp {
        linux["seccomp"] =
            serde_json::to_value(s).map_err(|e| SpecError::Seccomp(e.to_string()))?;
    }
    let mut spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": rootfs.to_string_lossy(), "readonly": hc_bool(c, "ReadonlyRootfs")},
        "hostname": hostname,
        "mounts": default_mounts(c, paths).into_iter().chain(extra_mounts).collect::<Vec<_>>(),
        "linux": linux,
    });
    // An AppArmor profile only where the host runs AppArmor (Docker on a host
    // without it accepts and ignores the option): the explicit one, else
    // berth-default (unconfined when privileged); the runtime applies it.
    let apparmor = crate::apparmor::profile_for(
        sec.apparmor.as_deref(),
        privileged,
        crate::apparmor::enabled(),
    );
    if let Some(profile) = apparmor {
        spec["process"]["apparmorProfile"] = json!(profile);
    }
    if let Some(adj) = crate::cgroup_opts::oom_score_adj(c) {
        spec["process"]["oomScoreAdj"] = json!(adj);
    }
    let spec = serde_json::from_value(spec).map_err(|e| SpecError::Build(e.to_string()))?;
    Ok(Built { spec })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(host_config: Value) -> Container {
        Container {
            id: "a".repeat(64),
            name: "/t".into(),
            created: chrono::Utc::now(),
            path: "sh".into(),
            args: vec![],
            config: Map::new(),
            host_config: host_config.as_object().cloned().unwrap_or_default(),
            image_id: String::new(),
            state: Default::default(),
            restart_count: 0,
            driver: "overlay2".into(),
        }
    }

    /// ALL_CAPS is in kernel numbering order, so a cap's bit is its index.
    fn mask(caps: &[String]) -> u64 {
        caps.iter()
            .map(|c| 1u64 << ALL_CAPS.iter().position(|a| a == c).unwrap())
            .sum()
    }

    #[test]
    fn default_caps_match_docker_mask() {
        let c = container(json!({}));
        let caps = capabilities(&c).unwrap();
        // CapEff shown by Docker 20.10 for the default set.
        assert_eq!(mask(&caps), 0xa80425fb);
    }

    #[test]
    fn cap_add_and_drop() {
        let c = container(json!({"CapAdd": ["NET_ADMIN"]}));
        assert_eq!(mask(&capabilities(&c).unwrap()), 0xa80435fb);
        let c = container(json!({"CapDrop": ["ALL"], "CapAdd": ["NET_BIND_SERVICE"]}));
        assert_eq!(
            capabilities(&c).unwrap(),
            vec!["CAP_NET_BIND_SERVICE".to_string()]
        );
        let c = container(json!({"CapAdd": ["NOPE"]}));
        assert!(capabilities(&c).is_err());
    }

    #[test]
    fn realtime_budget_is_passed_on() {
        let c = container(json!({"CpuRealtimeRuntime": 950, "CpuRealtimePeriod": 1000}));
        let r = resources(&c);
        assert_eq!(r["cpu"]["realtimeRuntime"], 950);
        assert_eq!(r["cpu"]["realtimePeriod"], 1000);
    }

    #[test]
    fn cpus_become_quota_and_period() {
        let c = container(json!({"NanoCpus": 1_500_000_000i64}));
        let r = resources(&c);
        assert_eq!(r["cpu"]["quota"], 150000);
        assert_eq!(r["cpu"]["period"], 100000);
    }

    #[test]
    fn env_gets_docker_defaults() {
        let env = process_env(&["FOO=bar".into()], "abc", false, "/root");
        assert_eq!(
            env,
            vec![
                format!("PATH={DEFAULT_PATH}"),
                "HOSTNAME=abc".into(),
                "FOO=bar".into(),
                "HOME=/root".into()
            ]
        );
        let env = process_env(
            &["PATH=/custom".into(), "HOME=/h".into()],
            "",
            true,
            "/root",
        );
        assert_eq!(
            env,
            vec![
                "TERM=xterm".to_string(),
                "PATH=/custom".into(),
                "HOME=/h".into()
            ]
        );
    }
}
