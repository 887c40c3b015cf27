//! One stage at a time: the state a step sees (image, config, ARGs) and
//! what each instruction does to it.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::Arc;

use berth_build::history::{self, SourceKind};
use berth_build::instruction::{instruction, CopyArgs, Instruction};
use berth_build::words::key_values;
use berth_build::{cache::step_key, cache::tree_hash_known, Plan, Stage, Step};
use berth_image::{HealthConfig, ImageConfig};
use serde_json::json;

use super::cache::BuildCache;
use super::context::Context;
use super::files::{self, Download, Payload};
use super::{short, Failure, Out, Request};
use crate::daemon::Daemon;
use crate::fsops::rootfs::{with_rootfs, Source};

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Build args every Dockerfile can use without declaring them.
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Marks the containers of RUN steps, so those a daemon crash left behind
/// are removed at the next start (the image a step commits takes the
/// step's config, not the container's, so the label never reaches it).
pub const BUILD_LABEL: &str = "berth.build-step";

/// At daemon start: RUN containers and `build-` rw layers of builds the
/// daemon was running when it stopped.
pub async fn collect_leftovers(d: &Arc<Daemon>) {
    for e in d.all() {
        let c = e.get();
        let labelled = c
            .config
            .get("Labels")
            .and_then(|l| l.get(BUILD_LABEL))
            .is_some();
        if labelled {
            if let Err(err) = d.remove(&c.id, true, true).await {
                tracing::warn!(
                    "removing leftover build container {}: {}",
                    c.id,
                    err.message
                );
            }
        }
    }
    match d.images.rw_layers_named("build-") {
        Ok(ids) => {
            for id in ids {
                if let Err(err) = d.images.remove_rw_layer(&id) {
                    tracing::warn!("removing leftover build layer {id}: {err}");
                }
            }
        }
        Err(err) => tracing::warn!("listing leftover build layers: {err}"),
    }
}

pub struct Runner<'a> {
    pub d: Arc<Daemon>,
    pub req: &'a Request,
    pub ctx: &'a Context,
    pub out: &'a Out,
    pub cache: BuildCache,
    pub total: usize,
    pub n: usize,
    /// Global ARGs (before the first FROM) with their values.
    pub global: HashMap<String, Option<String>>,
    /// Final image of each finished stage, by index.
    pub done: Vec<Option<String>>,
    /// Index of the stage being built.
    pub current: usize,
    /// Ids of the `--cache-from` images found locally.
    pub cache_from: Vec<String>,
}

/// The state of the stage being built.
struct State {
    image: String,
    config: ImageConfig,
    /// ARGs declared in this stage, with their values.
    args: Vec<(String, Option<String>)>,
    /// Whether this stage set CMD (an ENTRYPOINT resets only an inherited one).
    cmd_set: bool,
}

impl State {
    fn env(&self) -> Vec<(String, String)> {
        self.config
            .env
            .iter()
            .flatten()
            .filter_map(|e| {
                e.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect()
    }

    /// Substitution variables: ENV wins over ARG, as in Docker.
    fn lookup(&self, name: &str) -> Option<String> {
        let env = self.env();
        if let Some((_, v)) = env.iter().rev().find(|(k, _)| k == name) {
            return Some(v.clone());
        }
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    }

    /// The ARG values a RUN sees as environment (those ENV does not set).
    fn arg_env(&self) -> Vec<String> {
        let env = self.env();
        let mut out: Vec<String> = Vec::new();
        for (k, v) in &self.args {
            let Some(v) = v else { continue };
            if env.iter().any(|(e, _)| e == k) {
                continue;
            }
            out.retain(|x| x.split('=').next() != Some(k.as_str()));
            out.push(format!("{k}={v}"));
        }
        out
    }

    fn shell(&self) -> Vec<String> {
        shell_of(&self.config)
    }
}

/// The SHELL a config sets, or the default.
fn shell_of(config: &ImageConfig) -> Vec<String> {
    config
        .shell
        .clone()
        .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
}

/// What [`Runner::plan_action`] decided for a step.
struct Planned {
    action: Action,
    /// For COPY/ADD: the hash of the sources (part of the cache key).
    content: Option<String>,
    /// The step's history text (see [`berth_build::history`]).
    created_by: String,
}

/// What a step does, decided before the cache is consulted.
enum Action {
    /// New config, no layer.
    Config(ImageConfig),
    /// The command, and a network mode of the step's own (`RUN --network`).
    Run(Vec<String>, Option<String>),
    Files {
        config: Box<ImageConfig>,
        copy: Option<CopyArgs>,
        workdir: Option<String>,
        /// The image a `COPY --from` reads.
        from: Option<String>,
        /// ADD: archives are extracted and `downloads` hold its URLs' files.
        add: bool,
        downloads: Vec<Download>,
    },
    /// ARG: changes only what later steps see.
    Nothing,
}

impl<'a> Runner<'a> {
    fn step_header(&mut self, original: &str) {
        self.n += 1;
        self.out
            .text(format!("Step {}/{} : {original}\n", self.n, self.total));
    }

    fn build_arg(&self, name: &str) -> Option<Option<String>> {
        self.req.build_args.get(name).cloned()
    }

    pub fn global_args(&mut self, steps: &[Step]) -> Result<(), Failure> {
        for s in steps {
            self.step_header(&s.original);
        }
        self.global = self.global_values(steps)?;
        Ok(())
    }

    /// The values of the global ARGs: build args over defaults.
    fn global_values(&self, steps: &[Step]) -> Result<HashMap<String, Option<String>>, Failure> {
        let mut global: HashMap<String, Option<String>> = HashMap::new();
        for s in steps {
            let seen = global.clone();
            let lookup = move |n: &str| seen.get(n).cloned().flatten();
            for (k, default) in key_values(&s.rest_for_words(), &lookup, false)? {
                let v = self.build_arg(&k).unwrap_or(default);
                global.insert(k, v);
            }
        }
        Ok(global)
    }

    /// Each stage's dependencies on earlier stages (see [`Plan::deps`]).
    pub fn stage_deps(
        &self,
        global: &[Step],
        stages: &[Stage],
    ) -> Result<Vec<Vec<usize>>, Failure> {
        let values = self.global_values(global)?;
        let lookup = move |n: &str| values.get(n).cloned().flatten();
        Ok(Plan::deps(stages, |s| {
            match instruction(&s.from, &lookup) {
                Ok(Instruction::From { image, .. }) => image,
                _ => String::new(),
            }
        }))
    }

    /// A runner for one more stage running beside this one's: the same
    /// request and results so far, its own cache connection, and step
    /// numbers starting at `first_step`.
    pub fn fork(&self, cache: BuildCache, first_step: usize) -> Runner<'a> {
        Runner {
            d: self.d.clone(),
            req: self.req,
            ctx: self.ctx,
            out: self.out,
            cache,
            total: self.total,
            n: first_step - 1,
            global: self.global.clone(),
            done: self.done.clone(),
            current: 0,
            cache_from: self.cache_from.clone(),
        }
    }

    pub async fn stage(&mut self, stage: &Stage, all: &[Stage]) -> Result<String, Failure> {
        self.step_header(&stage.from.original);
        let global = self.global.clone();
        let lookup = move |n: &str| global.get(n).cloned().flatten();
        let Instruction::From { image, .. } = instruction(&stage.from, &lookup)? else {
            return Err(Failure::Daemon("expected FROM".into()));
        };
        self.current = stage.index;
        let base = match Plan::stage_index(&all[..stage.index], &image) {
            Some(i) => self.stage_image(i)?,
            None if self.req.pull && image != "scratch" => self.pull_base(&image).await?,
            None => match self.d.images.resolve(&image) {
                Ok(img) => img.id,
                Err(e) if e.kind() == berth_image::ErrorKind::NotFound => {
                    self.pull_base(&image).await?
                }
                Err(e) => return Err(e.into()),
            },
        };
        let mut img = self.d.images.resolve(&base)?;
        self.out.text(format!(" ---> {}\n", short(&img.id)));
        // Docker gives every stage a PATH when its image has none.
        let env = img.config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(DEFAULT_PATH.to_string());
        }
        let mut st = State {
            image: img.id,
            config: img.config,
            args: Vec::new(),
            cmd_set: false,
        };
        self.triggers(&mut st, all).await?;
        for step in &stage.steps {
            self.step_header(&step.original);
            self.step(step, &mut st, all).await?;
        }
        Ok(st.image)
    }

    /// The image a finished earlier stage produced.
    fn stage_image(&self, i: usize) -> Result<String, Failure> {
        self.done[i]
            .clone()
            .ok_or_else(|| Failure::Daemon(format!("stage {i} was not built")))
    }

    /// The base image's ONBUILD triggers run first, as steps of their own;
    /// the image built on it does not inherit them.
    async fn triggers(&mut self, st: &mut State, all: &[Stage]) -> Result<(), Failure> {
        let triggers = st.config.on_build.take().unwrap_or_default();
        if triggers.is_empty() {
            return Ok(());
        }
        let n = triggers.len();
        self.out.text(format!(
            "# Executing {n} build trigger{}\n",
            if n == 1 { "" } else { "s" }
        ));
        for t in &triggers {
            for step in berth_build::parse(t)? {
                self.step(&step, st, all).await?;
            }
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step, st: &mut State, all: &[Stage]) -> Result<(), Failure> {
        for flag in ["mount", "security"] {
            if step.keyword == "RUN" && step.flag(flag).is_some() {
                return Err(Failure::Daemon(format!(
                    "the --{flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
                )));
            }
        }
        let inst = instruction(step, &|n| st.lookup(n))?;
        let Planned {
            mut action,
            content,
            created_by,
        } = self.plan_action(&inst, st, all).await?;
        if let (Action::Run(_, network), Some(n)) = (&mut action, step.flag("network")) {
            match n {
                "default" => {}
                "none" | "host" => *network = Some(n.to_string()),
                other => {
                    return Err(Failure::Daemon(format!(
                        "unsupported network mode for RUN --network: {other}"
                    )))
                }
            }
        }
        if let Action::Nothing = action {
            return Ok(());
        }
        let mut text = format!("{inst:?}");
        if let Action::Run(_, net) = &action {
            if let Some(n) = net {
                text.push_str(&format!("|net={n}"));
            }
            // A RUN's result depends on the build args it sees.
            text.push_str(&format!("|{:?}", st.arg_env()));
        }
        let key = step_key(&text, content.as_deref());
        if !self.req.no_cache {
            if let Some(hit) = self.cache.get(&st.image, &key) {
                if let Ok(img) = self.d.images.resolve(&hit) {
                    self.out.text(" ---> Using cache\n");
                    self.out.text(format!(" ---> {}\n", short(&img.id)));
                    st.image = img.id;
                    st.config = img.config;
                    return Ok(());
                }
            }
            let config = match &action {
                Action::Config(c) => c.clone(),
                Action::Files { config, .. } => (**config).clone(),
                Action::Run(..) | Action::Nothing => st.config.clone(),
            };
            if let Some(id) = self
                .step_from_cache_sources(st, &created_by, &config)
                .await?
            {
                self.out.text(" ---> Using cache\n");
                self.out.text(format!(" ---> {}\n", short(&id)));
                self.cache.put(&st.image, &key, &id);
                st.image = id;
                st.config = config;
                return Ok(());
            }
        }
        let id = match action {
            Action::Config(config) => {
                let images = self.d.images.clone();
                let parent = st.image.clone();
                let id =
                    blocking(move || images.derive_config(&parent, config, &created_by)).await?;
                st.config = self.d.images.resolve(&id)?.config;
                id
            }
            Action::Run(argv, network) => self.run(st, argv, network, created_by).await?,
            Action::Files {
                config,
                copy,
                workdir,
                from,
                add,
                downloads,
            } => {
                let source = FilesSource {
                    copy,
                    workdir,
                    from,
                    add,
                    downloads,
                };
                let id = self
                    .files(st, (*config).clone(), source, created_by)
                    .await?;
                st.config = *config;
                id
            }
            Action::Nothing => return Ok(()),
        };
        self.cache.put(&st.image, &key, &id);
        self.out.text(format!(" ---> {}\n", short(&id)));
        st.image = id;
        Ok(())
    }

    /// The action for `inst`, its history text, and for COPY/ADD the hash
    /// of its sources.
    async fn plan_action(
        &self,
        inst: &Instruction,
        st: &mut State,
        all: &[Stage],
    ) -> Result<Planned, Failure> {
        let planned = |action, content, created_by| Planned {
            action,
            content,
            created_by,
        };
        let mut c = st.config.clone();
        let action = match inst {
            Instruction::From { .. } => return Err(Failure::Daemon("unexpected FROM".into())),
            Instruction::Arg(kv) => {
                for (k, default) in kv {
                    let v = self
                        .build_arg(k)
                        .unwrap_or_else(|| default.clone())
                        .or_else(|| self.global.get(k).cloned().flatten());
                    st.args.push((k.clone(), v));
                }
                return Ok(planned(Action::Nothing, None, String::new()));
            }
            Instruction::Run(cmd) => {
                let argv = cmd.argv(&st.shell());
                let by = history::run_created_by(&argv, &st.arg_env());
                return Ok(planned(Action::Run(argv, None), None, by));
            }
            Instruction::Copy(a) | Instruction::Add(a) => {
                let add = matches!(inst, Instruction::Add(_));
                let from = a
                    .from
                    .as_deref()
                    .map(|f| self.copy_source_image(f, all))
                    .transpose()?;
                let mut downloads = Vec::new();
                if add {
                    for src in a.sources.iter().filter(|s| files::is_url(s)) {
                        downloads.push(download(src, a.checksum.as_deref()).await?);
                    }
                } else if let Some(u) = a.sources.iter().find(|s| files::is_url(s)) {
                    return Err(Failure::Daemon(format!(
                        "source can't be a URL for COPY: {u}"
                    )));
                }
                // An image's content never changes under its id (the kind of
                // its sources is not looked at: that would mean mounting
                // it); a URL's file counts by its content.
                let (mut hash, kind) = match &from {
                    Some(id) => (id.clone(), SourceKind::Multi),
                    None => self.source_hash(a).await?,
                };
                for dl in &downloads {
                    hash.push_str(&format!(",{}:{}", dl.url, sha256_hex(&dl.content)));
                }
                let keyword = if add { "ADD" } else { "COPY" };
                let by = history::files_created_by(keyword, a, kind, &hash, &st.shell());
                let action = Action::Files {
                    config: Box::new(c),
                    copy: Some(a.clone()),
                    workdir: None,
                    from,
                    add,
                    downloads,
                };
                return Ok(planned(action, Some(hash), by));
            }
            Instruction::Workdir(w) => {
                let base = c.working_dir.clone().unwrap_or_else(|| "/".into());
                let abs = if w.starts_with('/') {
                    w.clone()
                } else {
                    format!("{}/{w}", base.trim_end_matches('/'))
                };
                c.working_dir = Some(abs.clone());
                let by = history::workdir_created_by(&abs, &st.shell());
                let action = Action::Files {
                    config: Box::new(c),
                    copy: None,
                    workdir: Some(abs),
                    from: None,
                    add: false,
                    downloads: Vec::new(),
                };
                return Ok(planned(action, None, by));
            }
            Instruction::Env(kv) => {
                let mut env = c.env.take().unwrap_or_default();
                for (k, v) in kv {
                    env.retain(|e| e.split('=').next() != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                }
                c.env = Some(env);
                Action::Config(c)
            }
            Instruction::Label(kv) => {
                let labels = c.labels.get_or_insert_with(Default::default);
                for (k, v) in kv {
                    labels.insert(k.clone(), v.clone());
                }
                Action::Config(c)
            }
            Instruction::Cmd(cmd) => {
                c.cmd = Some(cmd.argv(&st.shell()));
                st.cmd_set = true;
                Action::Config(c)
            }
            Instruction::Entrypoint(cmd) => {
                c.entrypoint = Some(cmd.argv(&st.shell()));
                // Docker resets an inherited CMD when ENTRYPOINT changes.
                if !st.cmd_set {
                    c.cmd = None;
                }
                Action::Config(c)
            }
            Instruction::User(u) => {
                c.user = Some(u.clone());
                Action::Config(c)
            }
            Instruction::Expose(ports) => {
                let map = c.exposed_ports.get_or_insert_with(Default::default);
                for p in ports {
                    map.insert(p.clone(), json!({}));
                }
                Action::Config(c)
            }
            Instruction::Volume(v) => {
                let map = c.volumes.get_or_insert_with(Default::default);
                for p in v {
                    map.insert(p.clone(), json!({}));
                }
                Action::Config(c)
            }
            Instruction::StopSignal(s) => {
                c.stop_signal = Some(s.clone());
                Action::Config(c)
            }
            Instruction::Healthcheck(h) => {
                c.healthcheck = Some(match h {
                    None => HealthConfig {
                        test: Some(vec!["NONE".into()]),
                        ..Default::default()
                    },
                    Some(h) => HealthConfig {
                        test: Some(h.test.clone()),
                        interval: h.interval,
                        timeout: h.timeout,
                        start_period: h.start_period,
                        retries: h.retries,
                        ..Default::default()
                    },
                });
                Action::Config(c)
            }
            Instruction::Shell(s) => {
                c.shell = Some(s.clone());
                Action::Config(c)
            }
            Instruction::Onbuild(t) => {
                c.on_build.get_or_insert_with(Vec::new).push(t.clone());
                Action::Config(c)
            }
            Instruction::Maintainer(_) => Action::Config(c),
        };
        // Texts after the step's own SHELL, as Docker's.
        let shell = match &action {
            Action::Config(c) => shell_of(c),
            _ => st.shell(),
        };
        let by = history::config_created_by(inst, &shell).unwrap_or_default();
        Ok(planned(action, None, by))
    }

    /// A step's image from the `--cache-from` images, when one of them
    /// continues the current image with this step (see
    /// `ImageStore::cached_step_from`).
    async fn step_from_cache_sources(
        &self,
        st: &State,
        created_by: &str,
        config: &ImageConfig,
    ) -> Result<Option<String>, Failure> {
        if self.cache_from.is_empty() {
            return Ok(None);
        }
        let images = self.d.images.clone();
        let (parent, sources) = (st.image.clone(), self.cache_from.clone());
        let (by, config) = (created_by.to_string(), config.clone());
        blocking(move || images.cached_step_from(&parent, &sources, &by, &config)).await
    }

    /// A base image missing locally is pulled, as the classic builder does.
    async fn pull_base(&self, image: &str) -> Result<String, Failure> {
        let r = berth_image::reference::parse_normalized_named(image)?.with_default_tag();
        let opts = berth_registry::PullOptions {
            auth: Default::default(),
            tmp_dir: self.d.data_root().join("tmp"),
        };
        let outcome = berth_registry::pull(self.d.images.clone(), &r, &opts, &self.out.progress())
            .await
            .map_err(|e| Failure::Daemon(e.to_string()))?;
        Ok(outcome.image_id)
    }

    /// The image COPY --from reads: an earlier stage or an image.
    fn copy_source_image(&self, from: &str, all: &[Stage]) -> Result<String, Failure> {
        match Plan::stage_index(&all[..self.current], from) {
            Some(i) => self.stage_image(i),
            None => Ok(self.d.images.resolve(from)?.id),
        }
    }

    /// Hash of a COPY's sources in the context, each glob expanded to the
    /// paths it matches now, and what the sources are.
    async fn source_hash(&self, a: &CopyArgs) -> Result<(String, SourceKind), Failure> {
        let root = self.ctx.dir.clone();
        let digests = self.ctx.digests.clone();
        let a = a.clone();
        blocking(move || {
            let dir = std::fs::File::open(&root)
                .map_err(|e| Failure::Daemon(format!("opening the build context: {e}")))?;
            let mut parts = Vec::new();
            let mut found = Vec::new();
            let in_context = a
                .sources
                .iter()
                .filter(|s| a.heredoc(s).is_none() && !files::is_url(s));
            for s in in_context {
                // What is missing is reported when copying.
                let paths = files::expand(dir.as_fd(), s).unwrap_or_default();
                if paths.is_empty() {
                    parts.push(format!("missing:{s}"));
                }
                for p in paths {
                    let full = root.join(p.trim_start_matches('/'));
                    let hash = tree_hash_known(&full, &|f| digests.get(f).copied())
                        .unwrap_or_else(|_| "missing".into());
                    parts.push(format!("{p}:{hash}"));
                    found.push(full);
                }
            }
            let kind = match found.as_slice() {
                _ if a.sources.len() > 1 || found.len() > 1 => SourceKind::Multi,
                [one] if std::fs::symlink_metadata(one).is_ok_and(|m| m.is_dir()) => {
                    SourceKind::Dir
                }
                _ => SourceKind::File,
            };
            Ok::<_, Failure>((parts.join(","), kind))
        })
        .await
    }

    /// RUN: a container of the current image with the step's config.
    async fn run(
        &self,
        st: &State,
        argv: Vec<String>,
        network: Option<String>,
        created_by: String,
    ) -> Result<String, Failure> {
        let mut host_config = self.req.host_config.clone();
        if let Some(n) = network {
            host_config.insert("NetworkMode".into(), n.into());
        }
        let shown = argv.join(" ");
        let (entry, cmd) = argv
            .split_first()
            .map_or((vec![], vec![]), |(a, r)| (vec![a.clone()], r.to_vec()));
        let body = json!({
            "Image": st.image,
            "Entrypoint": entry,
            "Cmd": cmd,
            "Env": self.run_env(st),
            "WorkingDir": st.config.working_dir.clone().unwrap_or_default(),
            "User": st.config.user.clone().unwrap_or_default(),
            "AttachStdout": true,
            "AttachStderr": true,
            "Labels": {BUILD_LABEL: "1"},
            "HostConfig": host_config,
        });
        let (id, _) = self.d.create(None, body)?;
        self.out.text(format!(" ---> Running in {}\n", &id[..12]));
        let result = self.run_container(&id, st, &shown, created_by).await;
        // `rm=0` keeps the containers of successful steps; a failed step's
        // container always goes, so a failed build leaves nothing behind.
        if result.is_err() || self.req.rm || self.req.force_rm {
            if let Err(e) = self.d.remove(&id, true, true).await {
                tracing::warn!("removing build container {id}: {}", e.message);
            }
            self.out
                .text(format!("Removing intermediate container {}\n", &id[..12]));
        }
        result
    }

    async fn run_container(
        &self,
        id: &str,
        st: &State,
        shown: &str,
        created_by: String,
    ) -> Result<String, Failure> {
        // Output is streamed as it comes, through an attacher registered
        // before start; the daemon closes attachers once the output is over.
        let e = self.d.lookup(id)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, bytes::Bytes)>(64);
        e.add_attacher(crate::daemon::Attacher {
            tx,
            stdout: true,
            stderr: true,
        });
        let out = self.out.clone();
        let forward = tokio::spawn(async move {
            while let Some((_, data)) = rx.recv().await {
                out.text(String::from_utf8_lossy(&data).into_owned());
            }
        });
        if let Err(err) = self.d.start(id).await {
            forward.abort();
            return Err(err.into());
        }
        let code = self.d.wait(id, "not-running").await?;
        if tokio::time::timeout(std::time::Duration::from_secs(10), forward)
            .await
            .is_err()
        {
            tracing::warn!("output of build container {id} did not end");
        }
        if code != 0 {
            return Err(Failure::NonZero {
                cmd: shown.to_string(),
                code,
            });
        }
        let opts = berth_image::CommitOptions {
            config: st.config.clone(),
            created_by,
            container_id: id.to_string(),
            ..Default::default()
        };
        let images = self.d.images.clone();
        let id = id.to_string();
        blocking(move || images.commit(&id, opts)).await
    }

    /// COPY/ADD/WORKDIR: files written into a fresh rw layer, committed.
    async fn files(
        &self,
        st: &State,
        config: ImageConfig,
        src: FilesSource,
        created_by: String,
    ) -> Result<String, Failure> {
        let payloads = match &src.copy {
            Some(a) => self.payloads(a, st, &src).await?,
            None => Vec::new(),
        };
        let owner = src.copy.as_ref().and_then(|a| a.chown.clone());
        let chmod = src.copy.as_ref().and_then(|a| a.chmod);
        let workdir = src.workdir;
        let layer = RwLayer::new(&self.d, &st.image)?;
        let mount = self.d.images.rw_layer_mount(&layer.id)?;
        let id_map = self.d.images.id_map().copied();
        with_rootfs(
            Source::Snapshot {
                mount,
                writable: true,
            },
            move |root| {
                if let Some(w) = &workdir {
                    files::mkdir_p(root, w, id_map.as_ref())?;
                }
                // `--chown` names container ids; the extractor shifts them.
                let ids = owner
                    .as_deref()
                    .map(|o| resolve_owner(root, o))
                    .transpose()?;
                for p in &payloads {
                    files::write(root, p, ids, chmod, id_map.as_ref())?;
                }
                Ok(())
            },
        )
        .await?;
        let opts = berth_image::CommitOptions {
            config,
            created_by,
            container_id: String::new(),
            ..Default::default()
        };
        let images = self.d.images.clone();
        let id = layer.id.clone();
        blocking(move || images.commit(&id, opts)).await
    }

    /// What a COPY/ADD writes, from the context or another image.
    async fn payloads(
        &self,
        a: &CopyArgs,
        st: &State,
        src: &FilesSource,
    ) -> Result<Vec<Payload>, Failure> {
        let dest = if a.dest.starts_with('/') {
            a.dest.clone()
        } else {
            let wd = st.config.working_dir.clone().unwrap_or_else(|| "/".into());
            let joined = format!("{}/{}", wd.trim_end_matches('/'), a.dest);
            // `COPY f .` names the working directory itself.
            if a.dest == "." || a.dest.ends_with('/') {
                format!("{joined}/")
            } else {
                joined
            }
        };
        let args = a.clone();
        let (add, downloads) = (src.add, src.downloads.clone());
        match src.from.clone() {
            None => {
                let files = self.ctx.files();
                blocking(move || {
                    let fd = files
                        .dir()
                        .and_then(std::fs::File::open)
                        .map_err(|e| Failure::Daemon(format!("opening the build context: {e}")))?;
                    Ok::<_, Failure>(files::payloads(fd.as_fd(), &args, &dest, add, &downloads)?)
                })
                .await
            }
            Some(image) => {
                let layer = RwLayer::new(&self.d, &image)?;
                let mount = self.d.images.rw_layer_mount(&layer.id)?;
                Ok(with_rootfs(
                    Source::Snapshot {
                        mount,
                        writable: false,
                    },
                    move |root| files::payloads(root, &args, &dest, add, &downloads),
                )
                .await?)
            }
        }
    }

    /// A RUN's environment: the ARGs in scope, then Docker's predefined
    /// proxy args given with `--build-arg` (usable without an ARG line, and
    /// like Docker kept out of the cache key and the history).
    fn run_env(&self, st: &State) -> Vec<String> {
        let mut env = st.arg_env();
        for name in PROXY_ARGS {
            let declared = env.iter().any(|e| e.split('=').next() == Some(name));
            if let Some(Some(v)) = self.req.build_args.get(*name).filter(|_| !declared) {
                env.push(format!("{name}={v}"));
            }
        }
        env
    }

    /// The `labels` of the request, on top of the final image.
    pub async fn add_labels(&self, id: &str) -> Result<String, Failure> {
        let mut config = self.d.images.resolve(id)?.config;
        let labels = config.labels.get_or_insert_with(Default::default);
        for (k, v) in &self.req.labels {
            labels.insert(k.clone(), v.clone());
        }
        let images = self.d.images.clone();
        let parent = id.to_string();
        blocking(move || images.derive_config(&parent, config, "/bin/sh -c #(nop) LABEL")).await
    }
}

/// Where a COPY/ADD/WORKDIR step's files come from.
struct FilesSource {
    copy: Option<CopyArgs>,
    workdir: Option<String>,
    from: Option<String>,
    add: bool,
    downloads: Vec<Download>,
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Fetches an `ADD <url>` source, checked against `--checksum` if given.
async fn download(url: &str, checksum: Option<&str>) -> Result<Download, Failure> {
    let fail = |e: String| Failure::Daemon(format!("failed to GET {url}: {e}"));
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path
        .splitn(4, '/')
        .nth(3)
        .and_then(|p| p.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            Failure::Daemon(format!(
                "cannot determine filename from url: {url}: please specify a destination file name"
            ))
        })?
        .to_string();
    let resp = reqwest::get(url).await.map_err(|e| fail(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Failure::Daemon(format!(
            "failed to GET {url} with status {status}"
        )));
    }
    let mtime = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map_or(0, |t| t.timestamp().max(0) as u64);
    let content = resp
        .bytes()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_vec();
    if let Some(want) = checksum {
        let got = format!("sha256:{}", sha256_hex(&content));
        if want != got {
            return Err(Failure::Daemon(format!(
                "digest mismatch {got}: {want} (ADD --checksum of {url})"
            )));
        }
    }
    Ok(Download {
        url: url.to_string(),
        name,
        content,
        mtime,
    })
}

/// A rw layer outside any container (named `build-<random>`), removed on drop.
struct RwLayer {
    d: Arc<Daemon>,
    id: String,
}

impl RwLayer {
    fn new(d: &Arc<Daemon>, image: &str) -> Result<RwLayer, Failure> {
        let id = format!(
            "build-{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        d.images.create_rw_layer(&id, image)?;
        Ok(RwLayer { d: d.clone(), id })
    }
}

impl Drop for RwLayer {
    fn drop(&mut self) {
        if let Err(e) = self.d.images.remove_rw_layer(&self.id) {
            tracing::warn!("removing build layer {}: {e}", self.id);
        }
    }
}

/// `--chown=user[:group]` resolved with the image's own passwd/group.
fn resolve_owner(
    root: std::os::fd::BorrowedFd<'_>,
    spec: &str,
) -> Result<(u32, u32), crate::fsops::FsError> {
    use crate::fsops::resolve::open_in_root;
    use crate::fsops::FsError;
    let keep = std::cell::RefCell::new(Vec::new());
    let lookup = |p: &str| -> Option<std::path::PathBuf> {
        let fd = open_in_root(root, std::path::Path::new(p), nix::fcntl::OFlag::O_RDONLY).ok()?;
        let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        keep.borrow_mut().push(fd);
        Some(path.into())
    };
    let u =
        crate::users::resolve(spec, &[], &lookup).map_err(|e| FsError::Invalid(e.to_string()))?;
    Ok((u.uid, u.gid))
}

async fn blocking<T, E, F>(f: F) -> Result<T, Failure>
where
    T: Send + 'static,
    E: Into<Failure> + Send + 'static,
    F: FnOnce() -> Result<T, E> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::Daemon(e.to_string()))?
        .map_err(Into::into)
}
