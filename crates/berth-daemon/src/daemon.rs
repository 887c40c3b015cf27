//! The daemon's container service: the registry of containers and their
//! lifecycle (create, start, stop, kill, restart, remove, pause, wait).

use crate::container::{rfc3339, Container, Paths, State, Status};
use crate::error::{ApiError, ApiResult};
use crate::shimctl;
use crate::store::{Store, StoreError};
use berth_image::ImageStore;
use berth_shim::bundle::{RootfsMount, ShimOptions};
use berth_shim::protocol::{self, ExitStatus, Request};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};

pub struct Options {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// The berth binary, re-executed as `berth shim`.
    pub exe: PathBuf,
    /// Default bridge interface name and gateway/prefix (`--bridge`, `--bip`).
    pub bridge: Option<String>,
    pub bip: Option<String>,
    /// `--icc`, `--ip-masq`, `--ip-forward`, `--iptables`, `--ip`.
    pub bridge_flags: crate::network::BridgeFlags,
}

/// What waiters watch: how many times the container exited, and whether it is gone.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Generation {
    pub exits: u64,
    /// An exit is being recorded: the state already says exited, the
    /// cleanup (bundle, shareable /dev/shm, network) is still going on
    /// and `exits` counts it once that is done.
    pub exiting: bool,
    pub starts: u64,
    pub removed: bool,
    pub exit_code: i32,
}

/// A client attached to the container's output (and maybe its stdin).
pub struct Attacher {
    pub tx: mpsc::Sender<(u8, Bytes)>,
    pub stdout: bool,
    pub stderr: bool,
}

pub struct Entry {
    pub id: String,
    rec: Mutex<Container>,
    pub changed: watch::Sender<Generation>,
    attachers: Mutex<Vec<Attacher>>,
    /// Write side of the stream to the shim: stdin and resize frames.
    pub shim_in: tokio::sync::Mutex<Option<OwnedWriteHalf>>,
    /// Serialises start/stop/kill/remove of one container.
    pub op: tokio::sync::Mutex<()>,
}

impl Entry {
    fn new(c: Container) -> Arc<Entry> {
        let (changed, _) = watch::channel(Generation {
            exit_code: c.state.exit_code,
            ..Default::default()
        });
        Arc::new(Entry {
            id: c.id.clone(),
            rec: Mutex::new(c),
            changed,
            attachers: Mutex::new(Vec::new()),
            shim_in: tokio::sync::Mutex::new(None),
            op: tokio::sync::Mutex::new(()),
        })
    }

    pub fn get(&self) -> Container {
        self.rec.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Container) -> R) -> R {
        let mut g = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    pub fn add_attacher(&self, a: Attacher) {
        self.attachers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(a);
    }

    fn close_attachers(&self) {
        self.attachers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn attachers_for(&self, kind: u8) -> Vec<mpsc::Sender<(u8, Bytes)>> {
        let mut g = self.attachers.lock().unwrap_or_else(|e| e.into_inner());
        g.retain(|a| !a.tx.is_closed());
        g.iter()
            .filter(|a| {
                if kind == protocol::FRAME_STDERR {
                    a.stderr
                } else {
                    a.stdout
                }
            })
            .map(|a| a.tx.clone())
            .collect()
    }
}

pub struct Daemon {
    pub opts: Options,
    pub store: Store,
    pub images: Arc<ImageStore>,
    containers: RwLock<HashMap<String, Arc<Entry>>>,
    pub execs: crate::exec::ExecTable,
    pub volumes: crate::volumes::Volumes,
    pub networks: crate::network::Networks,
    pub events: crate::events::Events,
    pub started_at: chrono::DateTime<chrono::Utc>,
}

fn random_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

fn now() -> String {
    rfc3339(chrono::Utc::now())
}

impl Daemon {
    pub fn new(opts: Options, store: Store, images: ImageStore) -> Result<Arc<Daemon>, StoreError> {
        let mut map = HashMap::new();
        for c in store.load_all()? {
            map.insert(c.id.clone(), Entry::new(c));
        }
        let volumes = crate::volumes::Volumes::open(&opts.data_root)?
            .owned_by(images.id_map().map(|m| m.root()));
        volumes.gc(&map.keys().cloned().collect());
        let events = crate::events::Events::open(&opts.data_root)?;
        let networks = crate::network::Networks::open(
            &opts.data_root,
            &opts.exec_root,
            opts.bridge.as_deref(),
            opts.bip.as_deref(),
            &opts.bridge_flags,
        )
        .map_err(StoreError::Config)?;
        Ok(Arc::new(Daemon {
            events,
            opts,
            store,
            images: Arc::new(images),
            containers: RwLock::new(map),
            execs: Default::default(),
            volumes,
            networks,
            started_at: chrono::Utc::now(),
        }))
    }

    pub fn paths(&self, id: &str) -> Paths {
        Paths::new(&self.opts.data_root, id)
    }

    pub fn bundle(&self, id: &str) -> PathBuf {
        self.opts.exec_root.join("containers").join(id)
    }

    pub fn all(&self) -> Vec<Arc<Entry>> {
        self.containers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Finds a container by full id, name (with or without '/'), or unique id prefix.
    pub fn lookup(&self, name: &str) -> ApiResult<Arc<Entry>> {
        let map = self.containers.read().unwrap_or_else(|e| e.into_inner());
        if name.is_empty() {
            return Err(ApiError::no_such_container(name));
        }
        if let Some(e) = map.get(name) {
            return Ok(e.clone());
        }
        let slashed = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        if let Some(e) = map.values().find(|e| e.with(|c| c.name == slashed)) {
            return Ok(e.clone());
        }
        let matches: Vec<&Arc<Entry>> = map
            .keys()
            .filter(|id| id.starts_with(name))
            .filter_map(|id| map.get(id))
            .collect();
        match matches.len() {
            1 => Ok(matches[0].clone()),
            0 => Err(ApiError::no_such_container(name)),
            _ => Err(ApiError::not_found(format!(
                "multiple IDs found with provided prefix: {name}"
            ))),
        }
    }

    fn name_owner(&self, name: &str) -> Option<String> {
        let map = self.containers.read().unwrap_or_else(|e| e.into_inner());
        map.values()
            .find(|e| e.with(|c| c.name == name))
            .map(|e| e.id.clone())
    }

    fn name_conflict(name: &str, owner: &str) -> ApiError {
        ApiError::conflict(format!(
            "Conflict. The container name \"{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
        ))
    }

    /// POST /containers/create
    pub fn create(&self, name: Option<&str>, body: Value) -> ApiResult<(String, Vec<String>)> {
        let mut body = match body {
            Value::Object(m) => m,
            _ => return Err(ApiError::bad_request("invalid JSON: expected an object")),
        };
        let host_config = match body.remove("HostConfig") {
            Some(Value::Object(m)) => m,
            Some(Value::Null) | None => Map::new(),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "json: cannot unmarshal HostConfig: expected an object",
                ))
            }
        };
        let networking = body.remove("NetworkingConfig");
        let mut config = body;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !crate::names::is_valid(n) {
                    return Err(ApiError::bad_request(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                let n = if n.starts_with('/') {
                    n.to_string()
                } else {
                    format!("/{n}")
                };
                if let Some(owner) = self.name_owner(&n) {
                    return Err(Self::name_conflict(&n, &owner));
                }
                n
            }
            None => {
                let mut i = 0;
                loop {
                    let n = format!("/{}", crate::names::generate(i));
                    if self.name_owner(&n).is_none() {
                        break n;
                    }
                    i += 1;
                }
            }
        };
        let image_ref = config
            .get("Image")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::bad_request("config cannot be empty in order to create a container")
            })?
            .to_string();
        let image = self.images.resolve(&image_ref)?;
        let mut host_config = crate::create::normalize_host_config(host_config)?;
        let warnings = crate::cgroup_opts::validate(&mut host_config)?;
        crate::nsjoin::resolve_create(&mut host_config, &|n| self.lookup(n).map(|e| e.id.clone()))?;
        crate::logopts::validate(&host_config)?;
        crate::userns::validate(&host_config, self.images.id_map().is_some())
            .map_err(ApiError::bad_request)?;
        crate::security_opts::validate_host_config(&host_config)?;
        let attachments = self.networks.resolve_create(
            &host_config,
            networking.as_ref(),
            config.get("MacAddress").and_then(|v| v.as_str()),
        )?;
        crate::create::merge_image_config(&mut config, &image.config);
        let id = random_id();
        if config
            .get("Hostname")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            // With the host's network the container also shows the host's name.
            let host_net = host_config.get("NetworkMode").and_then(Value::as_str) == Some("host");
            let name = match host_net {
                true => nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| id[..12].to_string()),
                false => id[..12].to_string(),
            };
            config.insert("Hostname".into(), json!(name));
        }
        let (path, args) = crate::create::command(&config)?;
        // Volumes and mount rows before the container's row; released on failure.
        self.volumes.prepare(&id, &config, &host_config, &|n| {
            self.lookup(n).map(|e| e.id.clone())
        })?;
        let c = Container {
            id: id.clone(),
            name,
            created: chrono::Utc::now(),
            path,
            args,
            config,
            host_config,
            image_id: image.id.clone(),
            state: State::default(),
            restart_count: 0,
            driver: self.images.driver().to_string(),
        };
        // Files first, then the row: a crash in between leaves only files
        // that startup garbage-collects.
        let paths = self.paths(&id);
        let files = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(&paths.dir)?;
            crate::create::write_etc_files(&c, &paths)
        })();
        if let Err(e) = files {
            let _ = std::fs::remove_dir_all(&paths.dir);
            self.volumes.release(&id, true);
            return Err(ApiError::internal(format!("creating container files: {e}")));
        }
        if let Err(e) = self.images.create_rw_layer(&id, &image.id) {
            let _ = std::fs::remove_dir_all(&paths.dir);
            self.volumes.release(&id, true);
            return Err(e.into());
        }
        match self.store.insert(&c) {
            Ok(()) => {}
            Err(e) => {
                let _ = self.images.remove_rw_layer(&id);
                let _ = std::fs::remove_dir_all(&paths.dir);
                self.volumes.release(&id, true);
                return Err(match e {
                    StoreError::NameInUse => Self::name_conflict(&c.name, ""),
                    e => e.into(),
                });
            }
        }
        if let Err(err) = self.networks.save_attachments(&id, attachments) {
            tracing::error!("network attachments of {id}: {err}");
        }
        self.container_event(&c, "create", &[]);
        self.containers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), Entry::new(c));
        Ok((id, warnings))
    }

    fn persist(&self, e: &Entry) {
        let c = e.get();
        if let Err(err) = self.store.update(&c) {
            tracing::error!("persist {}: {err}", c.id);
        }
    }

    /// Finds a file of the container's root filesystem without mounting it.
    fn rootfs_lookup(&self, id: &str) -> impl Fn(&str) -> Option<PathBuf> {
        let mount = self.images.rw_layer_mount(id).ok();
        move |rel: &str| {
            let m = mount.as_ref()?;
            crate::create::find_in_layers(m, rel)
        }
    }

    /// POST /containers/{id}/start
    pub async fn start(self: &Arc<Self>, name: &str) -> ApiResult<()> {
        let e = self.lookup(name)?;
        let _op = e.op.lock().await;
        self.start_locked(&e, false).await
    }

    async fn start_locked(self: &Arc<Self>, e: &Arc<Entry>, restarting: bool) -> ApiResult<()> {
        let c = e.get();
        match c.state.status {
            Status::Running | Status::Restarting if !restarting => {
                return Err(ApiError::not_modified())
            }
            Status::Paused => {
                return Err(ApiError::conflict(
                    "cannot start a paused container, try unpause instead",
                ))
            }
            Status::Removing | Status::Dead => {
                return Err(ApiError::conflict(
                    "container is marked for removal and cannot be started",
                ))
            }
            _ => {}
        }
        let paths = self.paths(&c.id);
        let bundle = self.bundle(&c.id);
        let rootfs = bundle.join("rootfs");
        let mount = self.images.rw_layer_mount(&c.id)?;
        let lookup = self.rootfs_lookup(&c.id);
        let mut built = crate::spec::build(&c, &paths, &rootfs, &lookup)
            .map_err(|err| match err {
                // Docker resolves cgroup devices itself, before the runtime.
                crate::spec::SpecError::Cgroup(msg) => msg,
                err => format!("OCI runtime create failed: {err}: unknown"),
            })
            // Sysctls of namespaces the host shares would change the host:
            // refused before anything is wired (the runtime checks again).
            .and_then(|b| {
                berth_runtime::sysctl::check_spec(&b.spec)
                    .map(|()| b)
                    .map_err(|err| format!("OCI runtime create failed: {err}: unknown"))
            })
            .map_err(|msg| {
                self.record_start_error(e, &msg, 128);
                ApiError::bad_request(msg)
            })?;
        let root = self
            .images
            .id_map()
            .filter(|_| !crate::userns::host_mode(&c.host_config))
            .map(|m| m.root());
        if let Err(err) = crate::nsjoin::apply_pid_ipc(self, &c, &paths, &mut built.spec, root) {
            self.record_start_error(e, &err.message, 128);
            return Err(err);
        }
        // The network namespace is wired before the init exists; the runtime
        // joins it. Under `--userns-remap` a container on networks gets one
        // from the runtime instead, inside its own user namespace (as with
        // Docker), wired from the shim's handshake below.
        let late_net = self.images.id_map().is_some()
            && !crate::userns::host_mode(&c.host_config)
            && matches!(crate::network::mode_of(&c), crate::network::Mode::Networks);
        let net_setup = if late_net {
            self.networks.setup_late(&c).await;
            Ok(None)
        } else {
            self.networks.setup(self, &c).await
        };
        match net_setup {
            Ok(Some(ns)) => {
                crate::network::apply_to_spec(&mut built.spec, &ns);
                if let crate::network::Mode::Networks = crate::network::mode_of(&c) {
                    if let Err(err) = crate::network::take_net_sysctls(&mut built.spec, &ns) {
                        let msg = format!("OCI runtime create failed: {err}: unknown");
                        self.networks.release(&c.id).await;
                        self.record_start_error(e, &msg, 128);
                        return Err(ApiError::bad_request(msg));
                    }
                }
            }
            Ok(None) => {}
            Err(err) => {
                self.record_start_error(e, &err.message, 128);
                return Err(err);
            }
        }
        // Copy-up into fresh volumes may take a while: keep the workers free.
        let scratch = self.opts.exec_root.join("volcopy").join(&c.id);
        let user_mounts =
            tokio::task::block_in_place(|| self.volumes.setup(&c.id, &mount, &scratch))
                .map_err(|err| err.to_string())
                .and_then(|m| crate::volumes::merge_into_spec(&mut built.spec, m));
        if let Err(err) = user_mounts {
            let msg = format!("error while mounting volume: {err}");
            self.record_start_error(e, &msg, 128);
            return Err(ApiError::internal(msg));
        }
        if let Some(map) = self.images.id_map() {
            let files = [&*paths.hosts, &*paths.hostname, &*paths.resolv_conf];
            let remapped = crate::userns::apply_to_spec(&mut built.spec, &c.host_config, map)
                .and_then(|()| {
                    crate::userns::chown_container_files(&files, map).map_err(|e| e.to_string())
                });
            if let Err(err) = remapped {
                let msg = format!("OCI runtime create failed: user namespace: {err}: unknown");
                self.record_start_error(e, &msg, 128);
                return Err(ApiError::internal(msg));
            }
            if let Err(err) = crate::nsjoin::join_user_namespace(self, &c, &mut built.spec) {
                self.record_start_error(e, &err.message, 128);
                return Err(err);
            }
        }
        std::fs::create_dir_all(&rootfs)
            .map_err(|err| ApiError::internal(format!("create rootfs dir: {err}")))?;
        let mut spec = built.spec;
        let mut annotations = spec.annotations().clone().unwrap_or_default();
        annotations.insert(
            berth_runtime::SECCOMP_CACHE_ANNOTATION.to_string(),
            self.opts
                .exec_root
                .join("seccomp")
                .to_string_lossy()
                .into_owned(),
        );
        spec.set_annotations(Some(annotations));
        let log_driver = c
            .host_config
            .get("LogConfig")
            .and_then(|l| l.get("Type"))
            .and_then(Value::as_str)
            .unwrap_or("json-file")
            .to_string();
        let log_rotate = crate::logopts::rotation(&c.host_config)?;
        let opts = ShimOptions {
            id: c.id.clone(),
            tty: c.tty(),
            open_stdin: c.open_stdin(),
            stdin_once: c
                .config
                .get("StdinOnce")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            log_path: (log_driver != "none").then(|| paths.log.clone()),
            log_rotate,
            rootfs: Some(RootfsMount {
                fstype: mount.fstype,
                source: mount.source,
                data: mount.data,
                chdir: mount.chdir,
            }),
            initial_size: None,
            net_handshake: late_net,
        };
        // The wiring's own error (status and Docker's message) wins over
        // the shim's report of it.
        let net_error: Arc<Mutex<Option<ApiError>>> = Arc::default();
        let on_created = late_net.then(|| {
            let (d, c, slot) = (self.clone(), c.clone(), net_error.clone());
            move |pid: i32| async move {
                let wired = d.networks.wire_late(&d, &c, pid).await;
                wired.map_err(|err| {
                    let msg = err.message.clone();
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
                    msg
                })
            }
        });
        let started = match shimctl::start(&self.opts.exe, &bundle, &spec, &opts, on_created).await
        {
            Ok(s) => s,
            Err(err) => {
                let wiring = net_error.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(net_err) = wiring {
                    self.record_start_error(e, &net_err.message, 128);
                    return Err(net_err);
                }
                let text = err.to_string();
                let code = if text.contains("no such file or directory")
                    || text.contains("executable file not found")
                {
                    127
                } else if text.contains("permission denied") {
                    126
                } else {
                    128
                };
                let msg = format!("OCI runtime create failed: {text}: unknown");
                self.record_start_error(e, &msg, code);
                return Err(ApiError::bad_request(msg));
            }
        };
        e.with(|c| {
            c.state.status = Status::Running;
            c.state.pid = started.pid;
            c.state.started_at = now();
            c.state.error.clear();
            c.state.exit_code = 0;
            c.state.oom_killed = false;
            c.state.stopped_by_user = false;
        });
        self.persist(e);
        let (rd, wr) = started.stream.into_split();
        // The writer is in place before anyone hears of the start, so stdin
        // typed before `start` finds it.
        *e.shim_in.lock().await = Some(wr);
        e.changed.send_modify(|g| g.starts += 1);
        self.container_event(&e.get(), "start", &[]);
        crate::health::spawn_monitor(self, e);
        self.watch_stream(e.clone(), rd);
        Ok(())
    }

    /// A start that failed ends the attach streams waiting for output, and
    /// an `--rm` container goes away, as with Docker.
    fn record_start_error(self: &Arc<Self>, e: &Arc<Entry>, msg: &str, code: i32) {
        let (d, id) = (self.clone(), e.id.clone());
        crate::nsjoin::release_shm(&self.paths(&id));
        tokio::spawn(async move { d.networks.release(&id).await });
        e.with(|c| {
            c.state.error = msg.to_string();
            c.state.exit_code = code;
            if c.state.status != Status::Created {
                c.state.status = Status::Exited;
            }
        });
        self.persist(e);
        e.close_attachers();
        e.changed.send_modify(|g| g.exit_code = code);
        if e.get().auto_remove() {
            let d = self.clone();
            let id = e.id.clone();
            tokio::spawn(async move {
                let _ = d.remove(&id, true, true).await;
            });
        }
    }

    /// Pumps the shim's stream: output to attachers, and the exit.
    fn watch_stream(self: &Arc<Self>, e: Arc<Entry>, mut rd: tokio::net::unix::OwnedReadHalf) {
        let daemon = self.clone();
        tokio::spawn(async move {
            let mut exit = None;
            loop {
                match shimctl::read_frame(&mut rd).await {
                    Ok(Some((protocol::FRAME_EXIT, payload))) => {
                        exit = serde_json::from_slice::<ExitStatus>(&payload).ok();
                        break;
                    }
                    Ok(Some((kind, payload))) => {
                        let data = Bytes::from(payload);
                        for tx in e.attachers_for(kind) {
                            let _ = tx.send((kind, data.clone())).await;
                        }
                    }
                    Ok(None) | Err(_) => break,
                }
            }
            *e.shim_in.lock().await = None;
            let exit = exit
                .or_else(|| berth_shim::bundle::read_exit(&daemon.bundle(&e.id)))
                .unwrap_or(ExitStatus {
                    code: 255,
                    oom_killed: false,
                    finished_at: now(),
                });
            daemon.on_exit(e, exit).await;
        });
    }

    async fn on_exit(self: &Arc<Self>, e: Arc<Entry>, exit: ExitStatus) {
        e.close_attachers();
        // Before the state turns: a stop must not return in between.
        e.changed.send_modify(|g| g.exiting = true);
        e.with(|c| {
            c.state.status = Status::Exited;
            c.state.pid = 0;
            c.state.exit_code = exit.code;
            c.state.oom_killed = exit.oom_killed;
            c.state.finished_at = exit.finished_at.clone();
        });
        self.persist(&e);
        crate::health::on_exit(&e);
        if exit.oom_killed {
            self.container_event(&e.get(), "oom", &[]);
        }
        self.container_event(&e.get(), "die", &[("exitCode", exit.code.to_string())]);
        // Milliseconds at times, while the container's processes go away.
        tokio::task::block_in_place(|| {
            let _ = std::fs::remove_dir_all(self.bundle(&e.id));
        });
        crate::nsjoin::release_shm(&self.paths(&e.id));
        self.networks.release(&e.id).await;
        e.changed.send_modify(|g| {
            g.exits += 1;
            g.exiting = false;
            g.exit_code = exit.code;
        });
        let c = e.get();
        if c.auto_remove() {
            let _ = self.remove(&c.id, true, true).await;
            return;
        }
        crate::restart::maybe_restart(self.clone(), e, exit.code);
    }

    pub(crate) async fn restart_after_policy(self: &Arc<Self>, e: &Arc<Entry>) -> ApiResult<()> {
        let _op = e.op.lock().await;
        if e.get().state.status != Status::Exited || e.get().state.stopped_by_user {
            return Ok(());
        }
        e.with(|c| c.restart_count += 1);
        self.start_locked(e, true).await
    }

    /// Sends a signal through the shim.
    async fn signal(&self, e: &Entry, signal: i32) -> ApiResult<()> {
        shimctl::request(&self.bundle(&e.id), &Request::Kill { signal })
            .await
            .map(|_| self.container_event(&e.get(), "kill", &[("signal", signal.to_string())]))
            .map_err(|err| ApiError::internal(format!("Cannot kill container: {}: {err}", e.id)))
    }

    /// Waits until the container's exit count passes `exits`, up to `timeout`.
    async fn wait_exit(&self, e: &Entry, exits: u64, timeout: Option<Duration>) -> bool {
        let mut rx = e.changed.subscribe();
        let fut = async {
            loop {
                let g = *rx.borrow_and_update();
                // Not running without an exit being recorded: a start that failed.
                if g.exits > exits || (!g.exiting && !e.get().state.status.is_running()) {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, fut).await.is_ok(),
            None => {
                fut.await;
                true
            }
        }
    }

    /// POST /containers/{id}/stop
    pub async fn stop(
        &self,
        name: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> ApiResult<()> {
        let e = self.lookup(name)?;
        let _op = e.op.lock().await;
        self.stop_locked(&e, timeout, signal).await
    }

    async fn stop_locked(
        &self,
        e: &Entry,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> ApiResult<()> {
        let c = e.get();
        if !c.state.status.is_running() {
            return Err(ApiError::not_modified());
        }
        e.with(|c| c.state.stopped_by_user = true);
        self.persist(e);
        let exits = e.changed.borrow().exits;
        if c.state.status == Status::Paused {
            if let Ok(cg) = berth_cgroups::Cgroup::open(&crate::cgroup_opts::cgroup_path(&c)) {
                let _ = cg.thaw();
            }
        }
        let sig = crate::signals::parse(&signal.unwrap_or_else(|| c.stop_signal()))
            .map_err(ApiError::bad_request)?;
        let timeout = timeout.or(c.stop_timeout()).unwrap_or(10);
        let _ = self.signal(e, sig).await;
        let limit = if timeout < 0 {
            None
        } else {
            Some(Duration::from_secs(timeout as u64))
        };
        if !self.wait_exit(e, exits, limit).await {
            let _ = self.signal(e, libc::SIGKILL).await;
            self.wait_exit(e, exits, None).await;
        }
        self.container_event(&e.get(), "stop", &[]);
        Ok(())
    }

    /// POST /containers/{id}/kill
    pub async fn kill(&self, name: &str, signal: Option<&str>) -> ApiResult<()> {
        let e = self.lookup(name)?;
        let c = e.get();
        let sig =
            crate::signals::parse(signal.unwrap_or("SIGKILL")).map_err(ApiError::bad_request)?;
        if !c.state.status.is_running() {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                c.id
            )));
        }
        if c.state.status == Status::Paused && sig != libc::SIGKILL {
            return Err(ApiError::conflict(format!(
                "Container {} is paused. Unpause the container before stopping or killing",
                c.id
            )));
        }
        if sig == libc::SIGKILL || sig == libc::SIGTERM || sig == libc::SIGINT {
            e.with(|c| c.state.stopped_by_user = true);
        }
        let exits = e.changed.borrow().exits;
        if c.state.status == Status::Paused {
            if let Ok(cg) = berth_cgroups::Cgroup::open(&crate::cgroup_opts::cgroup_path(&c)) {
                let _ = cg.kill_all(libc::SIGKILL);
                let _ = cg.thaw();
            }
        }
        self.signal(&e, sig).await?;
        if sig == libc::SIGKILL {
            // Docker returns once a SIGKILLed container is really down.
            self.wait_exit(&e, exits, Some(Duration::from_secs(10)))
                .await;
        }
        Ok(())
    }

    /// POST /containers/{id}/restart
    pub async fn restart(
        self: &Arc<Self>,
        name: &str,
        timeout: Option<i64>,
        signal: Option<String>,
    ) -> ApiResult<()> {
        let e = self.lookup(name)?;
        let _op = e.op.lock().await;
        match self.stop_locked(&e, timeout, signal).await {
            Ok(()) => {}
            Err(err) if err.status == axum::http::StatusCode::NOT_MODIFIED => {}
            Err(err) => return Err(err),
        }
        self.start_locked(&e, false).await?;
        self.container_event(&e.get(), "restart", &[]);
        Ok(())
    }

    /// DELETE /containers/{id}
    pub async fn remove(&self, name: &str, force: bool, remove_volumes: bool) -> ApiResult<()> {
        let e = self.lookup(name)?;
        let _op = e.op.lock().await;
        let c = e.get();
        if c.state.status.is_running() {
            if !force {
                let what = if c.state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(ApiError::conflict(format!(
                    "You cannot remove a {what} container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            let exits = e.changed.borrow().exits;
            e.with(|c| c.state.stopped_by_user = true);
            if let Ok(cg) = berth_cgroups::Cgroup::open(&crate::cgroup_opts::cgroup_path(&c)) {
                let _ = cg.thaw();
            }
            let _ = self.signal(&e, libc::SIGKILL).await;
            self.wait_exit(&e, exits, Some(Duration::from_secs(10)))
                .await;
        }
        e.with(|c| c.state.status = Status::Removing);
        self.store.delete(&c.id)?;
        self.volumes.release(&c.id, remove_volumes);
        self.networks.forget(&c.id).await;
        self.container_event(&c, "destroy", &[]);
        self.containers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&c.id);
        // Row first, then files: a crash leaves orphan files for startup to collect.
        if let Err(err) = self.images.remove_rw_layer(&c.id) {
            tracing::warn!("remove rw layer of {}: {err}", c.id);
        }
        crate::nsjoin::release_shm(&self.paths(&c.id));
        let _ = std::fs::remove_dir_all(self.paths(&c.id).dir);
        let _ = std::fs::remove_dir_all(self.bundle(&c.id));
        self.execs.remove_for_container(&c.id);
        e.changed.send_modify(|g| g.removed = true);
        Ok(())
    }

    /// POST /containers/{id}/rename
    pub fn rename(&self, name: &str, new_name: &str) -> ApiResult<()> {
        let e = self.lookup(name)?;
        if new_name.is_empty() || !crate::names::is_valid(new_name) {
            return Err(ApiError::bad_request(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let new_name = format!("/{}", new_name.trim_start_matches('/'));
        if let Some(owner) = self.name_owner(&new_name) {
            if owner == e.id {
                return Err(ApiError::bad_request(
                    "Renaming a container with the same name as its current name",
                ));
            }
            return Err(Self::name_conflict(&new_name, &owner));
        }
        let old_name = e.with(|c| std::mem::replace(&mut c.name, new_name));
        self.persist(&e);
        self.container_event(&e.get(), "rename", &[("oldName", old_name)]);
        Ok(())
    }

    /// POST /containers/{id}/pause and /unpause
    pub async fn pause(&self, name: &str, pause: bool) -> ApiResult<()> {
        let e = self.lookup(name)?;
        let _op = e.op.lock().await;
        let c = e.get();
        match (pause, c.state.status) {
            (true, Status::Running) | (false, Status::Paused) => {}
            (true, Status::Paused) => {
                return Err(ApiError::conflict(format!(
                    "Container {} is already paused",
                    c.id
                )))
            }
            (false, Status::Running) => {
                return Err(ApiError::conflict(format!(
                    "Container {} is not paused",
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
        let cg = berth_cgroups::Cgroup::open(&crate::cgroup_opts::cgroup_path(&c))
            .map_err(|err| ApiError::internal(format!("cannot find cgroup of {}: {err}", c.id)))?;
        if pause { cg.freeze() } else { cg.thaw() }
            .map_err(|err| ApiError::internal(err.to_string()))?;
        e.with(|c| {
            c.state.status = if pause {
                Status::Paused
            } else {
                Status::Running
            }
        });
        self.persist(&e);
        self.container_event(&c, if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// POST /containers/{id}/wait
    pub async fn wait(&self, name: &str, condition: &str) -> ApiResult<i32> {
        let e = self.lookup(name)?;
        let mut rx = e.changed.subscribe();
        let start = *rx.borrow_and_update();
        loop {
            let g = *rx.borrow_and_update();
            let status = e.get().state.status;
            let done = match condition {
                "next-exit" => g.exits > start.exits,
                "removed" => g.removed,
                _ => !status.is_running() && (g.exits > start.exits || g.starts == start.starts),
            };
            if done {
                let exited_since = g.exits > start.exits || g.removed;
                return Ok(if exited_since {
                    g.exit_code
                } else {
                    e.get().state.exit_code
                });
            }
            if rx.changed().await.is_err() {
                return Ok(e.get().state.exit_code);
            }
        }
    }

    /// POST /containers/{id}/resize
    pub async fn resize(&self, name: &str, height: u16, width: u16) -> ApiResult<()> {
        let e = self.lookup(name)?;
        if !e.get().state.status.is_running() {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                e.id
            )));
        }
        let payload = serde_json::to_vec(&protocol::WinSize { height, width }).unwrap_or_default();
        if let Some(w) = e.shim_in.lock().await.as_mut() {
            let _ = shimctl::write_frame(w, protocol::FRAME_RESIZE, &payload).await;
        }
        Ok(())
    }

    /// Reattaches to shims of containers that were running when the daemon
    /// stopped; records the exit of those that ended meanwhile.
    pub async fn reconcile(self: &Arc<Self>) {
        self.networks.start().await;
        for e in self.all() {
            let c = e.get();
            if !c.state.status.is_running() {
                continue;
            }
            let bundle = self.bundle(&c.id);
            match shimctl::open_stream(&bundle, &Request::Stream).await {
                Ok(stream) => {
                    let (rd, wr) = stream.into_split();
                    *e.shim_in.lock().await = Some(wr);
                    self.watch_stream(e.clone(), rd);
                    crate::health::spawn_monitor(self, &e);
                }
                Err(_) => {
                    let exit = berth_shim::bundle::read_exit(&bundle).unwrap_or(ExitStatus {
                        code: 255,
                        oom_killed: false,
                        finished_at: now(),
                    });
                    self.on_exit(e.clone(), exit).await;
                }
            }
        }
        let running = self
            .all()
            .iter()
            .filter(|e| e.get().state.status.is_running())
            .map(|e| e.id.clone())
            .collect();
        self.networks.reconcile(&running).await;
        crate::build::collect_leftovers(self).await;
        crate::restart::on_daemon_start(self.clone());
    }

    pub fn data_root(&self) -> &Path {
        &self.opts.data_root
    }
}
