//! The flags shared by `run` and `create`, and their mapping to the create
//! request body, following the docker CLI's `parse()` (cli/command/container/opts.go).

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use berth_api::types::{
    ContainerConfig, ContainerCreateRequest, EmptyObject, HealthConfig, HostConfig,
};
use clap::ArgAction;

use crate::errors::FlagError;
use crate::opts::{devices, env, mounts, ports, units};

/// Container configuration flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ContainerOpts {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub attach: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16", default_value_t = 0)]
    pub blkio_weight: u16,
    /// Block IO weight (relative device weight)
    #[arg(long = "blkio-weight-device", value_name = "list")]
    pub blkio_weight_device: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "string")]
    pub cgroup_parent: Option<String>,
    // '' (the default) leaves it to the daemon's default-cgroupns-mode.
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns", value_name = "string")]
    pub cgroupns: Option<String>,
    /// Write the container ID to the file
    #[arg(long = "cidfile", value_name = "string")]
    pub cidfile: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", default_value_t = 0)]
    pub cpu_period: i64,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", default_value_t = 0)]
    pub cpu_quota: i64,
    /// Limit CPU real-time period in microseconds
    #[arg(
        long = "cpu-rt-period",
        value_name = "int",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub cpu_rt_period: i64,
    /// Limit CPU real-time runtime in microseconds
    #[arg(
        long = "cpu-rt-runtime",
        value_name = "int",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub cpu_rt_runtime: i64,
    /// CPU shares (relative weight)
    #[arg(
        short = 'c',
        long = "cpu-shares",
        value_name = "int",
        default_value_t = 0
    )]
    pub cpu_shares: i64,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal")]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long = "device-read-bps", value_name = "list")]
    pub device_read_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(long = "device-read-iops", value_name = "list")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long = "device-write-bps", value_name = "list")]
    pub device_write_bps: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(long = "device-write-iops", value_name = "list")]
    pub device_write_iops: Vec<String>,
    /// Skip image verification
    #[arg(
        long = "disable-content-trust",
        value_name = "bool",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub disable_content_trust: bool,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Container NIS domain name
    #[arg(long = "domainname", value_name = "string")]
    pub domainname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint", value_name = "string")]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// GPU devices to add to the container ('all' to pass all GPUs)
    #[arg(long = "gpus", value_name = "gpu-request")]
    pub gpus: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", value_name = "duration")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", value_name = "duration")]
    pub health_start_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration")]
    pub health_timeout: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string")]
    pub hostname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init")]
    pub init: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string")]
    pub ipc: Option<String>,
    /// Container isolation technology
    #[arg(long = "isolation", value_name = "string")]
    pub isolation: Option<String>,
    // Deprecated: checked but not sent, as the docker CLI does.
    /// Kernel memory limit
    #[arg(long = "kernel-memory", value_name = "bytes")]
    pub kernel_memory: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip", value_name = "list")]
    pub link_local_ip: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes")]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(
        long = "memory-swappiness",
        value_name = "int",
        default_value_t = -1,
        allow_hyphen_values = true
    )]
    pub memory_swappiness: i64,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name", value_name = "string")]
    pub name: Option<String>,
    /// Connect a container to a network
    // A list, as docker's: every network named is joined (see `networks`).
    #[arg(long = "network", alias = "net", value_name = "network")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(
        long = "oom-score-adj",
        value_name = "int",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub oom_score_adj: i64,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string")]
    pub pid: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", value_name = "string", default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string", default_value = "no")]
    pub restart: String,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Runtime to use for this container
    #[arg(long = "runtime", value_name = "string")]
    pub runtime: Option<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes")]
    pub shm_size: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int")]
    pub stop_timeout: Option<i64>,
    /// Storage driver options for the container
    #[arg(long = "storage-opt", value_name = "list")]
    pub storage_opt: Vec<String>,
    /// Sysctl options
    #[arg(long = "sysctl", value_name = "map")]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string")]
    pub user: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string")]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long = "userns", value_name = "string")]
    pub userns: Option<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "string")]
    pub volume_driver: Option<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    pub workdir: Option<String>,
    /// Print usage
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// The image, then the command and its arguments
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub image_and_args: Vec<String>,
}

impl ContainerOpts {
    pub fn image(&self) -> &str {
        self.image_and_args
            .first()
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn command(&self) -> &[String] {
        self.image_and_args.get(1..).unwrap_or(&[])
    }
}

/// Which streams to attach, from -a / -i / -d (docker's attach defaults).
pub fn attach_streams(o: &ContainerOpts, detach: bool) -> Result<(bool, bool, bool)> {
    if detach {
        if !o.attach.is_empty() {
            bail!("Conflicting options: -a and -d");
        }
        return Ok((false, false, false));
    }
    if o.attach.is_empty() {
        return Ok((o.interactive, true, true));
    }
    let (mut i, mut out, mut err) = (false, false, false);
    for a in &o.attach {
        match a.to_ascii_lowercase().as_str() {
            "stdin" => i = true,
            "stdout" => out = true,
            "stderr" => err = true,
            _ => bail!("invalid argument {a:?} for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"),
        }
    }
    Ok((i, out, err))
}

/// Builds the create request body from the flags (`detach` only changes attach defaults).
pub fn to_create_request(
    o: &ContainerOpts,
    detach: bool,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<ContainerCreateRequest> {
    // Values the docker CLI refuses while parsing its flags, so before anything else.
    let blkio_weight_device = each(
        "--blkio-weight-device",
        &o.blkio_weight_device,
        devices::weight_device,
    )?;
    let blkio_device_read_bps = each(
        "--device-read-bps",
        &o.device_read_bps,
        devices::throttle_bps_device,
    )?;
    let blkio_device_write_bps = each(
        "--device-write-bps",
        &o.device_write_bps,
        devices::throttle_bps_device,
    )?;
    let blkio_device_read_iops = each(
        "--device-read-iops",
        &o.device_read_iops,
        devices::throttle_iops_device,
    )?;
    let blkio_device_write_iops = each(
        "--device-write-iops",
        &o.device_write_iops,
        devices::throttle_iops_device,
    )?;
    let device_cgroup_rules = each(
        "--device-cgroup-rule",
        &o.device_cgroup_rule,
        devices::device_cgroup_rule,
    )?;
    let device_requests = each("--gpus", &o.gpus, devices::gpu_request)?;
    // Deprecated and no longer part of the API: the docker CLI checks the
    // size and sends nothing.
    each(
        "--kernel-memory",
        o.kernel_memory.as_slice(),
        units::ram_in_bytes,
    )?;

    let networks = networks(o)?;
    let network_mode = networks[0].clone();
    let (attach_stdin, attach_stdout, attach_stderr) = attach_streams(o, detach)?;

    let mut envs = Vec::new();
    for f in &o.env_file {
        envs.extend(env::read_env_file(f)?);
    }
    envs.extend(o.env.iter().filter_map(|e| env::resolve_env(e, lookup_env)));

    let mut label_entries = Vec::new();
    for f in &o.label_file {
        let content = std::fs::read_to_string(f).with_context(|| format!("open {f}"))?;
        label_entries.extend(
            content
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    label_entries.extend(o.label.iter().cloned());

    let mut port_specs = ports::PortSpecs::default();
    for p in &o.publish {
        ports::add_publish(&mut port_specs, p)?;
    }
    for e in &o.expose {
        ports::add_expose(&mut port_specs, e)?;
    }

    // -v: "dest" alone is an anonymous volume (Config.Volumes), anything with a
    // source is a bind or named volume (HostConfig.Binds).
    let mut volumes = BTreeMap::new();
    let mut binds = Vec::new();
    for v in &o.volume {
        if v.is_empty() {
            bail!("invalid empty volume spec");
        }
        if v.contains(':') {
            binds.push(v.clone());
        } else {
            volumes.insert(v.clone(), EmptyObject {});
        }
    }

    let entrypoint = o.entrypoint.as_ref().map(|e| vec![e.clone()]);
    let cmd = (!o.command().is_empty()).then(|| o.command().to_vec());

    let healthcheck = health_config(o)?;

    let mut tmpfs = BTreeMap::new();
    for t in &o.tmpfs {
        let (path, opts) = mounts::parse_tmpfs(t);
        tmpfs.insert(path, opts);
    }
    let mut sysctls = BTreeMap::new();
    for s in &o.sysctl {
        // The docker CLI's list: namespaced sysctls only (`kernel.hostname`
        // and `kernel.domainname` have their own flags).
        let allowed = |k: &str| {
            k.starts_with("net.")
                || k.starts_with("fs.mqueue.")
                || k.starts_with("kernel.msg")
                || k.starts_with("kernel.shm")
                || k == "kernel.sem"
        };
        let (k, v) = s
            .split_once('=')
            .filter(|(k, _)| allowed(k))
            .ok_or_else(|| FlagError::new("--sysctl", s, format!("sysctl '{s}' is not allowed")))?;
        sysctls.insert(k.to_string(), v.to_string());
    }
    let mut storage_opt = BTreeMap::new();
    for s in &o.storage_opt {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("invalid storage option"))?;
        storage_opt.insert(k.to_string(), v.to_string());
    }
    // -1 (not given) leaves the kernel's swappiness.
    if o.memory_swappiness != -1 && !(0..=100).contains(&o.memory_swappiness) {
        bail!(
            "invalid value: {}. Valid memory swappiness range is 0-100",
            o.memory_swappiness
        );
    }
    let cgroupns_mode = o.cgroupns.clone().unwrap_or_default();
    if !matches!(cgroupns_mode.as_str(), "" | "host" | "private") {
        bail!("--cgroupns: invalid CGROUP mode");
    }

    let config = ContainerConfig {
        hostname: o.hostname.clone().unwrap_or_default(),
        domainname: o.domainname.clone().unwrap_or_default(),
        user: o.user.clone().unwrap_or_default(),
        attach_stdin,
        attach_stdout,
        attach_stderr,
        exposed_ports: port_specs.exposed,
        tty: o.tty,
        open_stdin: o.interactive,
        stdin_once: o.interactive && attach_stdin,
        env: envs,
        cmd,
        healthcheck,
        image: o.image().to_string(),
        volumes,
        working_dir: o.workdir.clone().unwrap_or_default(),
        entrypoint,
        network_disabled: false,
        labels: env::parse_labels(&label_entries),
        stop_signal: o.stop_signal.clone().unwrap_or_default(),
        stop_timeout: o.stop_timeout,
    };

    let host_config = HostConfig {
        binds,
        container_id_file: o.cidfile.clone().unwrap_or_default(),
        network_mode: network_mode.clone(),
        port_bindings: port_specs.bindings,
        restart_policy: Some(units::parse_restart(&o.restart)?),
        auto_remove: o.rm,
        volumes_from: o.volumes_from.clone(),
        mounts: o
            .mount
            .iter()
            .map(|m| mounts::parse_mount(m))
            .collect::<Result<_>>()?,
        cap_add: o.cap_add.clone(),
        cap_drop: o.cap_drop.clone(),
        cgroupns_mode,
        dns: o.dns.clone(),
        dns_options: o.dns_option.clone(),
        dns_search: o.dns_search.clone(),
        extra_hosts: o.add_host.clone(),
        group_add: o.group_add.clone(),
        ipc_mode: o.ipc.clone().unwrap_or_default(),
        links: o.link.clone(),
        oom_score_adj: o.oom_score_adj,
        pid_mode: o.pid.clone().unwrap_or_default(),
        privileged: o.privileged,
        publish_all_ports: o.publish_all,
        readonly_rootfs: o.read_only,
        security_opt: security_opts(&o.security_opt)?,
        storage_opt,
        tmpfs,
        uts_mode: o.uts.clone().unwrap_or_default(),
        userns_mode: o.userns.clone().unwrap_or_default(),
        shm_size: o
            .shm_size
            .as_deref()
            .map(units::ram_in_bytes)
            .transpose()?
            .unwrap_or(0),
        sysctls,
        init: o.init.then_some(true),
        runtime: o.runtime.clone().unwrap_or_default(),
        isolation: o.isolation.clone().unwrap_or_default(),
        volume_driver: o.volume_driver.clone().unwrap_or_default(),
        cpu_shares: o.cpu_shares,
        memory: o
            .memory
            .as_deref()
            .map(units::ram_in_bytes)
            .transpose()?
            .unwrap_or(0),
        nano_cpus: o
            .cpus
            .as_deref()
            .map(units::parse_cpus)
            .transpose()?
            .unwrap_or(0),
        cgroup_parent: o.cgroup_parent.clone().unwrap_or_default(),
        blkio_weight: i64::from(o.blkio_weight),
        blkio_weight_device,
        blkio_device_read_bps,
        blkio_device_write_bps,
        blkio_device_read_iops,
        blkio_device_write_iops,
        cpu_period: o.cpu_period,
        cpu_quota: o.cpu_quota,
        cpu_realtime_period: o.cpu_rt_period,
        cpu_realtime_runtime: o.cpu_rt_runtime,
        cpuset_cpus: o.cpuset_cpus.clone().unwrap_or_default(),
        cpuset_mems: o.cpuset_mems.clone().unwrap_or_default(),
        devices: o
            .device
            .iter()
            .map(|d| mounts::parse_device(d))
            .collect::<Result<_>>()?,
        device_cgroup_rules,
        device_requests,
        memory_reservation: o
            .memory_reservation
            .as_deref()
            .map(units::ram_in_bytes)
            .transpose()?
            .unwrap_or(0),
        memory_swap: o
            .memory_swap
            .as_deref()
            .map(units::mem_swap)
            .transpose()?
            .unwrap_or(0),
        // Sent even when not given, as the docker CLI does.
        memory_swappiness: Some(o.memory_swappiness),
        oom_kill_disable: Some(o.oom_kill_disable),
        pids_limit: o.pids_limit,
        ulimits: o
            .ulimit
            .iter()
            .map(|u| units::parse_ulimit(u))
            .collect::<Result<_>>()?,
        log_config: log_config(o)?,
    };

    if host_config.nano_cpus != 0 && (host_config.cpu_period != 0 || host_config.cpu_quota != 0) {
        bail!("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }

    Ok(ContainerCreateRequest {
        config,
        host_config,
        networking_config: networking_config(o, &networks),
    })
}

/// `--network-alias`, `--ip`, `--ip6`, `--link-local-ip`, `--mac-address` as
/// the endpoint settings of the container's first network, keyed by the
/// network name as the docker CLI does; every further network gets an
/// endpoint of its own.
fn networking_config(
    o: &ContainerOpts,
    networks: &[String],
) -> Option<berth_api::types::NetworkingConfig> {
    let legacy = !o.network_alias.is_empty()
        || o.ip.is_some()
        || o.ip6.is_some()
        || !o.link_local_ip.is_empty()
        || o.mac_address.is_some();
    if !legacy && networks.len() < 2 {
        return None;
    }
    let mut ipam = serde_json::Map::new();
    if let Some(ip) = &o.ip {
        ipam.insert("IPv4Address".into(), ip.clone().into());
    }
    if let Some(ip) = &o.ip6 {
        ipam.insert("IPv6Address".into(), ip.clone().into());
    }
    if !o.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), o.link_local_ip.clone().into());
    }
    let mut endpoint = serde_json::Map::new();
    if !ipam.is_empty() {
        endpoint.insert("IPAMConfig".into(), ipam.into());
    }
    if !o.network_alias.is_empty() {
        endpoint.insert("Aliases".into(), o.network_alias.clone().into());
    }
    if let Some(mac) = &o.mac_address {
        endpoint.insert("MacAddress".into(), mac.clone().into());
    }
    let mut cfg = berth_api::types::NetworkingConfig::default();
    cfg.endpoints_config
        .insert(networks[0].clone(), endpoint.into());
    for n in &networks[1..] {
        cfg.endpoints_config
            .insert(n.clone(), serde_json::Value::Object(Default::default()));
    }
    Some(cfg)
}

/// The networks `--network` names (`default` without one): the first is
/// the NetworkMode, and each one gets an endpoint in NetworkingConfig (API
/// 1.44+), as the docker CLI sends them. Docker's checks: a network named
/// twice, and user-defined networks mixed with host/none/container/bridge.
fn networks(o: &ContainerOpts) -> Result<Vec<String>> {
    if o.network.is_empty() {
        return Ok(vec!["default".to_string()]);
    }
    let mut seen = std::collections::HashSet::new();
    for n in &o.network {
        if !seen.insert(n.as_str()) {
            bail!("network {n:?} is specified multiple times");
        }
    }
    let user_defined = |n: &str| {
        !matches!(n, "default" | "bridge" | "host" | "none") && !n.starts_with("container:")
    };
    let users = o.network.iter().filter(|n| user_defined(n)).count();
    if users != 0 && users != o.network.len() {
        bail!("conflicting options: cannot attach both user-defined and non-user-defined network-modes");
    }
    Ok(o.network.clone())
}

/// Parses every value of a list flag, refusing a bad one as the docker CLI's
/// flag parsing does: `invalid argument "v" for "--flag" flag: <why>`.
fn each<T>(flag: &str, values: &[String], parse: impl Fn(&str) -> Result<T>) -> Result<Vec<T>> {
    values
        .iter()
        .map(|v| parse(v).map_err(|e| FlagError::new(flag, v, format!("{e:#}")).into()))
        .collect()
}

/// `--log-driver` / `--log-opt k=v` as HostConfig.LogConfig.
fn log_config(o: &ContainerOpts) -> Result<Option<serde_json::Value>> {
    if o.log_driver.is_none() && o.log_opt.is_empty() {
        return Ok(None);
    }
    let mut cfg = serde_json::Map::new();
    for kv in &o.log_opt {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            anyhow::anyhow!(
                "invalid argument \"{kv}\" for \"--log-opt\" flag: invalid key value pair format"
            )
        })?;
        cfg.insert(k.to_string(), serde_json::Value::String(v.to_string()));
    }
    Ok(Some(serde_json::json!({
        "Type": o.log_driver.clone().unwrap_or_default(),
        "Config": cfg,
    })))
}

fn health_config(o: &ContainerOpts) -> Result<Option<HealthConfig>> {
    let dur = |v: &Option<String>, name: &str| -> Result<i64> {
        let d = v
            .as_deref()
            .map(units::parse_go_duration)
            .transpose()?
            .unwrap_or(0);
        if d < 0 {
            bail!("--{name} cannot be negative");
        }
        Ok(d)
    };
    let interval = dur(&o.health_interval, "health-interval")?;
    let timeout = dur(&o.health_timeout, "health-timeout")?;
    let start_period = dur(&o.health_start_period, "health-start-period")?;
    let start_interval = dur(&o.health_start_interval, "health-start-interval")?;
    let retries = o.health_retries.unwrap_or(0);
    let any_option = o.health_cmd.is_some()
        || interval != 0
        || timeout != 0
        || start_period != 0
        || start_interval != 0
        || retries != 0;
    if o.no_healthcheck {
        if any_option {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    if !any_option {
        return Ok(None);
    }
    if retries < 0 {
        bail!("--health-retries cannot be negative");
    }
    Ok(Some(HealthConfig {
        test: o
            .health_cmd
            .as_ref()
            .map(|c| vec!["CMD-SHELL".to_string(), c.clone()])
            .unwrap_or_default(),
        interval,
        timeout,
        retries,
        start_period,
        start_interval,
    }))
}

/// `--security-opt`: a `seccomp=<file>` profile is sent as its compacted
/// content, as the docker CLI does; `unconfined` and other options pass through.
pub fn security_opts(opts: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(opts.len());
    for opt in opts {
        let (key, value) = match opt.split_once('=') {
            Some(kv) => kv,
            None => match opt.split_once(':') {
                Some(kv) => kv,
                None if opt == "no-new-privileges" || opt == "systempaths=unconfined" => {
                    out.push(opt.clone());
                    continue;
                }
                None => bail!("Invalid --security-opt: {opt:?}"),
            },
        };
        if key == "seccomp" && value != "unconfined" && value != "builtin" {
            let content = std::fs::read(value)
                .map_err(|e| anyhow!("opening seccomp profile ({value}) failed: {e}"))?;
            // docker's CLI compacts the file with Go's json.Compact, which
            // refuses malformed JSON before anything reaches the daemon.
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(&content) {
                bail!("compacting json for seccomp profile ({value}) failed: {e}");
            }
            let text = String::from_utf8_lossy(&content);
            out.push(format!("seccomp={}", compact_json(&text)));
        } else {
            out.push(format!("{key}={value}"));
        }
    }
    Ok(out)
}

/// Strips insignificant whitespace from JSON text (Go's json.Compact), keeping key order.
pub fn compact_json(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_str = false;
    let mut escaped = false;
    for c in s.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        o: ContainerOpts,
        #[arg(short = 'd')]
        d: bool,
    }

    fn req(args: &[&str]) -> serde_json::Value {
        let mut argv = vec!["run"];
        argv.extend_from_slice(args);
        let t = T::try_parse_from(argv).unwrap();
        let lookup = |k: &str| (k == "FROM_CLIENT").then(|| "yes".to_string());
        serde_json::to_value(to_create_request(&t.o, t.d, &lookup).unwrap()).unwrap()
    }

    #[test]
    fn basic_run_body() {
        let v = req(&["--rm", "busybox", "echo", "-n", "hi"]);
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["Cmd"], serde_json::json!(["echo", "-n", "hi"]));
        assert_eq!(v["AttachStdout"], true);
        assert_eq!(v["AttachStdin"], false);
        assert_eq!(v["HostConfig"]["AutoRemove"], true);
        assert_eq!(v["HostConfig"]["NetworkMode"], "default");
        assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "no");
        assert!(v.get("Entrypoint").is_none());
    }

    #[test]
    fn detached_interactive_tty() {
        let v = req(&["-d", "-it", "busybox"]);
        assert_eq!(v["AttachStdout"], false);
        assert_eq!(v["OpenStdin"], true);
        assert_eq!(v["StdinOnce"], false);
        assert_eq!(v["Tty"], true);
        let v = req(&["-i", "busybox", "cat"]);
        assert_eq!(
            (v["AttachStdin"].clone(), v["StdinOnce"].clone()),
            (true.into(), true.into())
        );
    }

    #[test]
    fn resources_and_limits() {
        let v = req(&[
            "-m",
            "64m",
            "--cpus",
            "1.5",
            "--memory-swap",
            "-1",
            "--ulimit",
            "nofile=512:1024",
            "--shm-size",
            "1m",
            "--pids-limit",
            "10",
            "-c",
            "512",
            "--cpuset-cpus",
            "0",
            "busybox",
        ]);
        let h = &v["HostConfig"];
        assert_eq!(h["Memory"], 67108864);
        assert_eq!(h["NanoCpus"], 1_500_000_000i64);
        assert_eq!(h["MemorySwap"], -1);
        assert_eq!(
            h["Ulimits"],
            serde_json::json!([{"Name": "nofile", "Soft": 512, "Hard": 1024}])
        );
        assert_eq!(h["ShmSize"], 1048576);
        assert_eq!(h["PidsLimit"], 10);
        assert_eq!(h["CpuShares"], 512);
        assert_eq!(h["CpusetCpus"], "0");
    }

    #[test]
    fn env_labels_and_policies() {
        let v = req(&[
            "-e",
            "A=1",
            "-e",
            "FROM_CLIENT",
            "-e",
            "UNSET_VAR",
            "-l",
            "a=b",
            "--restart",
            "on-failure:3",
            "--tmpfs",
            "/x:size=1m",
            "-w",
            "/tmp",
            "-u",
            "1000:1000",
            "--entrypoint",
            "",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "3",
            "--init",
            "busybox",
        ]);
        assert_eq!(v["Env"], serde_json::json!(["A=1", "FROM_CLIENT=yes"]));
        assert_eq!(v["Labels"], serde_json::json!({"a": "b"}));
        assert_eq!(
            v["HostConfig"]["RestartPolicy"],
            serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(
            v["HostConfig"]["Tmpfs"],
            serde_json::json!({"/x": "size=1m"})
        );
        assert_eq!(v["WorkingDir"], "/tmp");
        assert_eq!(v["User"], "1000:1000");
        assert_eq!(v["Entrypoint"], serde_json::json!([""]));
        assert_eq!(v["StopSignal"], "SIGUSR1");
        assert_eq!(v["StopTimeout"], 3);
        assert_eq!(v["HostConfig"]["Init"], true);
    }

    #[test]
    fn ports_volumes_and_security() {
        let v = req(&[
            "-p",
            "8080:80",
            "-v",
            "/data",
            "-v",
            "/host:/ctr:ro",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "no-new-privileges",
            "--cap-add",
            "NET_ADMIN",
            "--network",
            "host",
            "busybox",
        ]);
        assert_eq!(v["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
        assert_eq!(
            v["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
            "8080"
        );
        assert_eq!(v["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!(
            v["HostConfig"]["Binds"],
            serde_json::json!(["/host:/ctr:ro"])
        );
        assert_eq!(
            v["HostConfig"]["SecurityOpt"],
            serde_json::json!(["seccomp=unconfined", "no-new-privileges"])
        );
        assert_eq!(v["HostConfig"]["CapAdd"], serde_json::json!(["NET_ADMIN"]));
        assert_eq!(v["HostConfig"]["NetworkMode"], "host");
    }

    #[test]
    fn seccomp_profile_content_is_sent() {
        let dir = std::env::temp_dir().join(format!("berth-seccomp-{}", std::process::id()));
        std::fs::write(
            &dir,
            "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"x\": \"a b\"\n}\n",
        )
        .unwrap();
        let opts = security_opts(&[format!("seccomp={}", dir.display())]).unwrap();
        std::fs::remove_file(&dir).ok();
        assert_eq!(
            opts,
            vec!["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"x\":\"a b\"}"]
        );
    }

    #[test]
    fn healthcheck_flags() {
        let v = req(&[
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
            "busybox",
        ]);
        assert_eq!(
            v["Healthcheck"],
            serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000i64, "Retries": 2})
        );
        let v = req(&["--no-healthcheck", "busybox"]);
        assert_eq!(v["Healthcheck"]["Test"], serde_json::json!(["NONE"]));
    }

    #[test]
    fn unknown_flags_before_the_image_are_errors() {
        assert!(T::try_parse_from(["run", "--bogus", "busybox"]).is_err());
        let t = T::try_parse_from(["run", "busybox", "ls", "--bogus", "-l"]).unwrap();
        assert_eq!(t.o.command(), ["ls", "--bogus", "-l"]);
    }

    #[test]
    fn device_and_cgroup_flags() {
        let v = req(&[
            "--blkio-weight-device",
            "/dev/sda:200",
            "--blkio-weight-device",
            "/dev/sdb:300",
            "--device-read-bps",
            "/dev/sda:1mb",
            "--device-write-bps",
            "/dev/sda:10k",
            "--device-read-iops",
            "/dev/sda:100",
            "--device-write-iops",
            "/dev/sdb:200",
            "--device-cgroup-rule",
            "c 1:3 mr",
            "--device-cgroup-rule",
            "a *:* rwm",
            "--memory-swappiness",
            "10",
            "--oom-score-adj",
            "-500",
            "--cgroup-parent",
            "/foo",
            "--cgroupns",
            "host",
            "--cpu-rt-period",
            "1000",
            "--cpu-rt-runtime",
            "950",
            "--isolation",
            "default",
            "--kernel-memory",
            "10m",
            "--storage-opt",
            "size=1G",
            "--gpus",
            "all",
            "--volume-driver",
            "local",
            "--disable-content-trust",
            "-q",
            "busybox",
        ]);
        let h = &v["HostConfig"];
        assert_eq!(
            h["BlkioWeightDevice"],
            serde_json::json!([{"Path": "/dev/sda", "Weight": 200}, {"Path": "/dev/sdb", "Weight": 300}])
        );
        assert_eq!(
            h["BlkioDeviceReadBps"],
            serde_json::json!([{"Path": "/dev/sda", "Rate": 1048576}])
        );
        assert_eq!(
            h["BlkioDeviceWriteBps"],
            serde_json::json!([{"Path": "/dev/sda", "Rate": 10240}])
        );
        assert_eq!(
            h["BlkioDeviceReadIOps"],
            serde_json::json!([{"Path": "/dev/sda", "Rate": 100}])
        );
        assert_eq!(
            h["BlkioDeviceWriteIOps"],
            serde_json::json!([{"Path": "/dev/sdb", "Rate": 200}])
        );
        assert_eq!(
            h["DeviceCgroupRules"],
            serde_json::json!(["c 1:3 mr", "a *:* rwm"])
        );
        assert_eq!(h["MemorySwappiness"], 10);
        assert_eq!(h["OomScoreAdj"], -500);
        assert_eq!(h["CgroupParent"], "/foo");
        assert_eq!(h["CgroupnsMode"], "host");
        assert_eq!(h["CpuRealtimePeriod"], 1000);
        assert_eq!(h["CpuRealtimeRuntime"], 950);
        assert_eq!(h["Isolation"], "default");
        assert_eq!(h["StorageOpt"], serde_json::json!({"size": "1G"}));
        assert_eq!(
            h["DeviceRequests"],
            serde_json::json!([{"Driver": "", "Count": -1, "DeviceIDs": null, "Capabilities": [["gpu"]], "Options": {}}])
        );
        assert_eq!(h["VolumeDriver"], "local");
        // Deprecated: the docker CLI no longer sends it.
        assert!(h.get("KernelMemory").is_none());
    }

    #[test]
    fn swappiness_is_sent_when_not_given() {
        let v = req(&["busybox"]);
        assert_eq!(v["HostConfig"]["MemorySwappiness"], -1);
        assert!(v["HostConfig"].get("OomScoreAdj").is_none());
        assert!(v["HostConfig"].get("CgroupnsMode").is_none());
    }

    #[test]
    fn link_local_ips_are_endpoint_settings() {
        let v = req(&[
            "--network",
            "n1",
            "--link-local-ip",
            "169.254.1.1",
            "--link-local-ip",
            "fe80::1",
            "busybox",
        ]);
        assert_eq!(
            v["NetworkingConfig"]["EndpointsConfig"]["n1"]["IPAMConfig"],
            serde_json::json!({"LinkLocalIPs": ["169.254.1.1", "fe80::1"]})
        );
    }

    #[test]
    fn every_network_gets_an_endpoint_the_first_is_the_mode() {
        let v = req(&["--net", "n1", "busybox"]);
        assert_eq!(v["HostConfig"]["NetworkMode"], "n1");
        assert!(v.get("NetworkingConfig").is_none_or(|n| n.is_null()), "{v}");
        let v = req(&[
            "--network",
            "n1",
            "--ip",
            "10.1.0.5",
            "--network",
            "n2",
            "busybox",
        ]);
        assert_eq!(v["HostConfig"]["NetworkMode"], "n1");
        let eps = &v["NetworkingConfig"]["EndpointsConfig"];
        assert_eq!(eps["n1"]["IPAMConfig"]["IPv4Address"], "10.1.0.5");
        assert_eq!(eps["n2"], serde_json::json!({}));
        assert!(
            create_error(&["--network", "n1", "--network", "n1", "busybox"])
                .contains("network \"n1\" is specified multiple times")
        );
        assert!(create_error(&["--network", "host", "--network", "n1", "busybox"])
            .contains("conflicting options: cannot attach both user-defined and non-user-defined network-modes"));
    }

    fn create_error(args: &[&str]) -> String {
        let mut argv = vec!["run"];
        argv.extend_from_slice(args);
        let t = T::try_parse_from(argv).unwrap();
        let e = to_create_request(&t.o, false, &|_| None).unwrap_err();
        let e = crate::commands::container::create::with_help(&e, "create", 125);
        let s = e.downcast_ref::<crate::errors::StatusError>().unwrap();
        assert_eq!(s.code, 125);
        s.message.clone()
    }

    #[test]
    fn refused_values_read_as_docker_prints_them() {
        let usage = "\n\nUsage:  berth create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth create --help' for more information";
        for (args, msg) in [
            (
                ["--device-cgroup-rule", "x 1:2 r"],
                "invalid argument \"x 1:2 r\" for \"--device-cgroup-rule\" flag: invalid device cgroup format 'x 1:2 r'",
            ),
            (
                ["--blkio-weight-device", "sda:200"],
                "invalid argument \"sda:200\" for \"--blkio-weight-device\" flag: bad format for device path: sda:200",
            ),
            (
                ["--device-write-iops", "/dev/sda:1k"],
                "invalid argument \"/dev/sda:1k\" for \"--device-write-iops\" flag: invalid rate for device: /dev/sda:1k. The correct format is <device-path>:<number>. Number must be a positive integer",
            ),
            (
                ["--gpus", "foo"],
                "invalid argument \"foo\" for \"--gpus\" flag: invalid count (foo): value must be either \"all\" or an integer: invalid syntax",
            ),
            (
                ["--kernel-memory", "abc"],
                "invalid argument \"abc\" for \"--kernel-memory\" flag: invalid size: 'abc'",
            ),
            (
                ["--sysctl", "foo=1"],
                "invalid argument \"foo=1\" for \"--sysctl\" flag: sysctl 'foo=1' is not allowed",
            ),
        ] {
            let mut argv = args.to_vec();
            argv.push("busybox");
            assert_eq!(create_error(&argv), format!("{msg}{usage}"));
        }
        let help = "\n\nRun 'berth create --help' for more information";
        for (args, msg) in [
            (
                ["--memory-swappiness", "101"],
                "berth: invalid value: 101. Valid memory swappiness range is 0-100",
            ),
            (
                ["--memory-swappiness", "-2"],
                "berth: invalid value: -2. Valid memory swappiness range is 0-100",
            ),
            (
                ["--cgroupns", "foo"],
                "berth: --cgroupns: invalid CGROUP mode",
            ),
            (["--storage-opt", "foo"], "berth: invalid storage option"),
        ] {
            let mut argv = args.to_vec();
            argv.push("busybox");
            assert_eq!(create_error(&argv), format!("{msg}{help}"));
        }
    }

    #[test]
    fn bad_values_are_errors() {
        let t = T::try_parse_from(["run", "-m", "lots", "busybox"]).unwrap();
        assert!(to_create_request(&t.o, false, &|_| None).is_err());
        let t = T::try_parse_from(["run", "-a", "stdfoo", "busybox"]).unwrap();
        assert!(to_create_request(&t.o, false, &|_| None).is_err());
        let t = T::try_parse_from(["run", "-d", "-a", "stdout", "busybox"]).unwrap();
        assert!(to_create_request(&t.o, true, &|_| None).is_err());
    }
}
