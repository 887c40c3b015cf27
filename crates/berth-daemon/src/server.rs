//! `berth daemon`: flags, the data-root lock, listeners and shutdown.

use crate::daemon::{Daemon, Options};
use crate::listeners::{Activation, ApiService, HostSpec, Listener};
use crate::tls::TlsSettings;
use anyhow::Context;
use clap::Parser;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower::Layer;

#[derive(Parser, Debug, Default, serde::Deserialize)]
#[command(
    name = "berth daemon",
    about = "Run the berth daemon (Docker Engine API server)"
)]
#[serde(default, rename_all = "kebab-case")]
struct Flags {
    /// Daemon socket(s) to listen on: unix:///path, tcp://host:port, fd://
    #[arg(short = 'H', long = "host")]
    #[serde(rename = "hosts")]
    host: Vec<String>,
    /// Root of persistent state
    #[arg(long)]
    data_root: Option<PathBuf>,
    /// Root of runtime state (sockets, bundles)
    #[arg(long)]
    exec_root: Option<PathBuf>,
    /// Path of the pid file
    #[arg(short = 'p', long)]
    pidfile: Option<PathBuf>,
    /// Debug logging
    #[arg(short = 'D', long)]
    debug: bool,
    /// Log level (debug, info, warn, error)
    #[arg(short = 'l', long)]
    log_level: Option<String>,
    /// Group owning the unix socket
    #[arg(short = 'G', long)]
    group: Option<String>,
    /// Daemon configuration file (JSON, daemon.json keys)
    #[arg(long)]
    #[serde(skip)]
    config_file: Option<PathBuf>,
    /// Storage driver: overlay2 (default) or vfs
    #[arg(short = 's', long)]
    storage_driver: Option<String>,
    /// Interface name of the default bridge network (default berth0)
    #[arg(short = 'b', long)]
    bridge: Option<String>,
    /// Gateway address and prefix of the default bridge (default 172.30.0.1/16)
    #[arg(long)]
    bip: Option<String>,
    /// Enable inter-container communication on the default bridge (default true)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "bool")]
    icc: Option<bool>,
    /// Masquerade the default bridge's traffic leaving the host (default true)
    #[arg(long = "ip-masq", num_args = 0..=1, default_missing_value = "true", value_name = "bool")]
    #[serde(rename = "ip-masq")]
    ip_masq: Option<bool>,
    /// Turn on IPv4 forwarding in the host (default true)
    #[arg(long = "ip-forward", num_args = 0..=1, default_missing_value = "true", value_name = "bool")]
    #[serde(rename = "ip-forward")]
    ip_forward: Option<bool>,
    /// Manage nftables rules (NAT, published ports); false leaves packet filtering alone
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "bool")]
    iptables: Option<bool>,
    /// Default host IP for published ports (default 0.0.0.0)
    #[arg(long = "ip")]
    ip: Option<String>,
    /// IPv4 subnet for fixed IPs on the default bridge (within --bip)
    #[arg(long = "fixed-cidr")]
    #[serde(rename = "fixed-cidr")]
    fixed_cidr: Option<String>,
    /// Enable IPv6 on the default bridge (needs --fixed-cidr-v6)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "bool")]
    ipv6: Option<bool>,
    /// IPv6 subnet of the default bridge (its ::1 is the gateway)
    #[arg(long = "fixed-cidr-v6")]
    #[serde(rename = "fixed-cidr-v6")]
    fixed_cidr_v6: Option<String>,
    /// MTU of the default bridge's links (default 1500)
    #[arg(long)]
    mtu: Option<u32>,
    /// Map container root to subordinate ids: default, user, user:group or uid:gid
    #[arg(long)]
    userns_remap: Option<String>,
    /// Serve TCP sockets over TLS (implied by --tlsverify)
    #[arg(long)]
    tls: bool,
    /// Serve TCP sockets over TLS and require client certificates signed by --tlscacert
    #[arg(long)]
    tlsverify: bool,
    /// CA certificates that client certificates must chain to (default ~/.docker/ca.pem)
    #[arg(long)]
    tlscacert: Option<PathBuf>,
    /// Server certificate (default ~/.docker/cert.pem)
    #[arg(long)]
    tlscert: Option<PathBuf>,
    /// Server key (default ~/.docker/key.pem)
    #[arg(long)]
    tlskey: Option<PathBuf>,
    /// Origin allowed to call the API from a browser (Access-Control-Allow-Origin)
    #[arg(long)]
    api_cors_header: Option<String>,
    /// Registry reached over plain HTTP: host[:port] or a CIDR (repeatable)
    #[arg(long = "insecure-registry")]
    #[serde(rename = "insecure-registries")]
    insecure_registry: Vec<String>,
    /// Mirror tried first for pulls from Docker Hub (repeatable)
    #[arg(long = "registry-mirror")]
    #[serde(rename = "registry-mirrors")]
    registry_mirror: Vec<String>,
}

impl Flags {
    /// Command-line values win over the config file's.
    fn merge(mut self, file: Flags) -> Flags {
        if self.host.is_empty() {
            self.host = file.host;
        }
        self.data_root = self.data_root.or(file.data_root);
        self.exec_root = self.exec_root.or(file.exec_root);
        self.pidfile = self.pidfile.or(file.pidfile);
        self.debug |= file.debug;
        self.log_level = self.log_level.or(file.log_level);
        self.group = self.group.or(file.group);
        self.bridge = self.bridge.or(file.bridge);
        self.bip = self.bip.or(file.bip);
        self.icc = self.icc.or(file.icc);
        self.ip_masq = self.ip_masq.or(file.ip_masq);
        self.ip_forward = self.ip_forward.or(file.ip_forward);
        self.iptables = self.iptables.or(file.iptables);
        self.ip = self.ip.or(file.ip);
        self.fixed_cidr = self.fixed_cidr.or(file.fixed_cidr);
        self.ipv6 = self.ipv6.or(file.ipv6);
        self.fixed_cidr_v6 = self.fixed_cidr_v6.or(file.fixed_cidr_v6);
        self.mtu = self.mtu.or(file.mtu);
        self.userns_remap = self.userns_remap.or(file.userns_remap);
        self.storage_driver = self.storage_driver.or(file.storage_driver);
        self.tls |= file.tls;
        self.tlsverify |= file.tlsverify;
        self.tlscacert = self.tlscacert.or(file.tlscacert);
        self.tlscert = self.tlscert.or(file.tlscert);
        self.tlskey = self.tlskey.or(file.tlskey);
        self.api_cors_header = self.api_cors_header.or(file.api_cors_header);
        if self.insecure_registry.is_empty() {
            self.insecure_registry = file.insecure_registry;
        }
        if self.registry_mirror.is_empty() {
            self.registry_mirror = file.registry_mirror;
        }
        self
    }
}

/// Entry point of `berth daemon` / `berthd`; `args` are the flags after the command.
pub fn main(args: Vec<String>) -> anyhow::Result<()> {
    limit_malloc_arenas();
    let mut argv = vec!["berth daemon".to_string()];
    argv.extend(args);
    let mut flags = Flags::parse_from(argv);
    if let Some(path) = flags.config_file.clone() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let file: Flags = serde_json::from_str(&text)
            .with_context(|| format!("parsing config file {}", path.display()))?;
        flags = flags.merge(file);
    }
    let level = if flags.debug {
        "debug".to_string()
    } else {
        flags.log_level.clone().unwrap_or_else(|| "info".into())
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .try_init();
    let data_root = flags
        .data_root
        .clone()
        .unwrap_or_else(|| "/var/lib/berth".into());
    let exec_root = flags
        .exec_root
        .clone()
        .unwrap_or_else(|| "/run/berth".into());
    std::fs::create_dir_all(&data_root)
        .with_context(|| format!("creating {}", data_root.display()))?;
    std::fs::create_dir_all(exec_root.join("containers"))
        .with_context(|| format!("creating {}", exec_root.display()))?;
    let _lock = lock_data_root(&data_root)?;
    if let Some(p) = &flags.pidfile {
        std::fs::write(p, std::process::id().to_string())
            .with_context(|| format!("writing pid file {}", p.display()))?;
    }
    let hosts = if flags.host.is_empty() {
        vec![format!("unix://{}", exec_root.join("berth.sock").display())]
    } else {
        flags.host.clone()
    };
    // Everything about the listeners is checked before any state is touched, so a
    // bad flag fails fast with its own message.
    let listen = ListenConfig::new(&flags, &hosts)?;
    let registries = berth_registry::settings::RegistrySettings::new(
        &flags.insecure_registry,
        &flags.registry_mirror,
    )
    .map_err(anyhow::Error::msg)?;
    berth_registry::settings::install(registries);
    let exe = std::env::current_exe().context("locating the berth binary")?;
    // --userns-remap: every store lives under <data-root>/<uid>.<gid>; the
    // lock stays on the data root itself.
    let (data_root, id_map) = crate::userns::setup(flags.userns_remap.as_deref(), data_root)?;
    let store = crate::store::Store::open(&data_root).context("opening state store")?;
    let images =
        berth_image::ImageStore::open_remapped(&data_root, flags.storage_driver.as_deref(), id_map)
            .context("opening image store")?;
    if let Err(e) = crate::builtin_image::ensure(&images) {
        tracing::warn!("could not create the built-in hello-world image: {e:#}");
    }
    crate::apparmor::load_default(&exec_root);
    // Some paths make blocking calls of a few milliseconds on a worker
    // (creating a network namespace, a netlink socket opened from a thread
    // inside one, removing a bundle). With one worker per core, two such
    // calls stall every request on a 2-core host: `run --rm` on the bridge
    // took 60 ms with 2 workers and 41 ms with 4.
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        let daemon = Daemon::new(
            Options {
                data_root,
                exec_root,
                exe,
                bridge: flags.bridge.clone(),
                bip: flags.bip.clone(),
                bridge_flags: crate::network::BridgeFlags {
                    icc: flags.icc.unwrap_or(true),
                    ip_masq: flags.ip_masq.unwrap_or(true),
                    ip_forward: flags.ip_forward.unwrap_or(true),
                    iptables: flags.iptables.unwrap_or(true),
                    host_ip: flags.ip.clone(),
                    fixed_cidr: flags.fixed_cidr.clone(),
                    mtu: flags.mtu,
                    ipv6: flags.ipv6.unwrap_or(false),
                    fixed_cidr_v6: flags.fixed_cidr_v6.clone(),
                },
            },
            store,
            images,
        )?;
        daemon.reconcile().await;
        let served = serve(daemon.clone(), listen).await;
        daemon.networks.shutdown().await;
        daemon.events.flush();
        served
    });
    if let Some(p) = &flags.pidfile {
        let _ = std::fs::remove_file(p);
    }
    // Shims keep running containers alive; nothing to stop here.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// One daemon per data root: an exclusive flock held for the daemon's life.
/// glibc gives each thread that allocates under contention an arena of its
/// own, up to 8 per core, and memory freed in one is not reused by another.
/// The daemon's worker and blocking threads touch every arena over a day of
/// container churn: the daemon's resident memory grew to 91 MiB after 1800
/// containers came and went, and to 57 MiB with two arenas (`churn` of 300
/// containers, six times). Called before any thread starts.
fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets an allocator parameter; no thread exists yet.
    let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
    if ok != 1 {
        tracing::debug!("mallopt(M_ARENA_MAX) refused");
    }
}

fn lock_data_root(root: &Path) -> anyhow::Result<std::fs::File> {
    let path = root.join("berth.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    // SAFETY: flock on a descriptor we own.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        anyhow::bail!(
            "another berth daemon is already using data root {} (lock {} is held)",
            root.display(),
            path.display()
        );
    }
    Ok(f)
}

/// The listeners' settings, checked before the daemon starts.
struct ListenConfig {
    hosts: Vec<HostSpec>,
    /// Group of the unix sockets; resolved only when there is one to create.
    gid: u32,
    tls: Option<(TlsSettings, Arc<rustls::ServerConfig>)>,
    cors: Option<String>,
    /// systemd's sockets, when a host is `fd://`.
    activation: Option<Activation>,
}

impl ListenConfig {
    fn new(flags: &Flags, hosts: &[String]) -> anyhow::Result<ListenConfig> {
        let tls = TlsSettings::resolve(
            flags.tls,
            flags.tlsverify,
            flags.tlscacert.clone(),
            flags.tlscert.clone(),
            flags.tlskey.clone(),
        );
        let hosts = hosts
            .iter()
            .map(|h| HostSpec::parse(h, tls.is_some()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let gid = if hosts.iter().any(|h| matches!(h, HostSpec::Unix(_))) {
            crate::listeners::socket_gid(flags.group.as_deref())?
        } else {
            0
        };
        let activation = if hosts.iter().any(|h| matches!(h, HostSpec::Fd(_))) {
            Some(Activation::from_env()?)
        } else {
            None
        };
        let tls = match tls {
            Some(t) => {
                let config = t.server_config().context("setting up TLS")?;
                Some((t, config))
            }
            None => None,
        };
        Ok(ListenConfig {
            hosts,
            gid,
            tls,
            cors: flags.api_cors_header.clone(),
            activation,
        })
    }
}

async fn serve(daemon: Arc<Daemon>, mut listen: ListenConfig) -> anyhow::Result<()> {
    let router = crate::api::router(daemon);
    let app = tower::util::MapRequestLayer::new(|req| req).layer(router);
    let app = tower::ServiceBuilder::new()
        .map_request(|req| req)
        .service(app);
    let app = VersionRewrite { inner: app };
    let app = crate::cors::Cors::new(app, listen.cors.as_deref())?;
    let svc: ApiService = tower::util::BoxCloneSyncService::new(app);
    let mut opened = Vec::new();
    for host in &listen.hosts {
        match host {
            HostSpec::Unix(path) => {
                opened.push(Listener::Unix(crate::listeners::bind_unix(
                    path, listen.gid,
                )?));
                tracing::info!("API listening on unix://{}", path.display());
            }
            HostSpec::Tcp(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on tcp://{addr}"))?;
                opened.push(Listener::Tcp(l));
            }
            HostSpec::Fd(which) => {
                let act = listen
                    .activation
                    .as_mut()
                    .context("fd:// without socket activation")?;
                opened.extend(act.take(*which)?);
            }
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for listener in opened {
        let svc = svc.clone();
        match listener {
            Listener::Unix(l) => {
                tasks.spawn(async move { axum::serve(l, tower::make::Shared::new(svc)).await });
            }
            Listener::Tcp(l) => {
                crate::listeners::warn_exposure(&l, listen.tls.as_ref().map(|t| &t.0));
                match &listen.tls {
                    Some((_, config)) => {
                        tasks.spawn(crate::tls::serve(l, config.clone(), svc));
                    }
                    None => {
                        tasks.spawn(
                            async move { axum::serve(l, tower::make::Shared::new(svc)).await },
                        );
                    }
                }
            }
        }
    }
    tracing::info!("berth daemon ready");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt: shutting down"),
        r = tasks.join_next() => {
            if let Some(Ok(Err(e))) = r {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Rewrites `/v1.NN/...` to `/...` before routing (see `api::rewrite_version`).
#[derive(Clone)]
struct VersionRewrite<S> {
    inner: S,
}

impl<S> tower::Service<axum::extract::Request> for VersionRewrite<S>
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        match crate::api::rewrite_version(req) {
            Ok(req) => {
                let fut = self.inner.call(req);
                Box::pin(fut)
            }
            Err(resp) => Box::pin(async move { Ok(*resp) }),
        }
    }
}
