//! The classic builder's executor: runs a [`berth_build::Plan`] step by
//! step, each step on top of the previous image. RUN goes through the
//! daemon's normal container service (create, start, wait, commit, remove);
//! COPY/ADD/WORKDIR write into a fresh rw layer that is committed; the
//! other instructions only derive a new image config. Every step's result
//! is recorded in the build cache.

mod cache;
mod context;
mod files;
mod step;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use berth_build::{BuildError, Plan};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::daemon::Daemon;
pub use cache::BuildCache;
pub use context::Context;
pub use step::collect_leftovers;

/// What `POST /build` asked for.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub tags: Vec<String>,
    pub quiet: bool,
    pub no_cache: bool,
    pub build_args: HashMap<String, Option<String>>,
    pub dockerfile: String,
    pub labels: BTreeMap<String, String>,
    pub target: Option<String>,
    /// Remove the containers of successful steps (Docker's default).
    pub rm: bool,
    pub force_rm: bool,
    /// Pull base images even when present locally.
    pub pull: bool,
    /// `--cache-from`: images whose steps stand for the build's own.
    pub cache_from: Vec<String>,
    /// HostConfig fields for the RUN containers: NetworkMode, ExtraHosts,
    /// Memory, MemorySwap, CpuShares, CpusetCpus, CpuPeriod, CpuQuota, ShmSize.
    pub host_config: serde_json::Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Docker's wording for a failing RUN.
    #[error("The command '{cmd}' returned a non-zero code: {code}")]
    NonZero { cmd: String, code: i32 },
    #[error("{0}")]
    Daemon(String),
}

impl From<crate::error::ApiError> for Failure {
    fn from(e: crate::error::ApiError) -> Self {
        Failure::Daemon(e.message)
    }
}

impl From<crate::fsops::FsError> for Failure {
    fn from(e: crate::fsops::FsError) -> Self {
        Failure::Daemon(e.to_string())
    }
}

impl From<berth_image::ImageError> for Failure {
    fn from(e: berth_image::ImageError) -> Self {
        Failure::Daemon(e.to_string())
    }
}

/// The client-facing message stream.
#[derive(Clone)]
pub struct Out {
    tx: UnboundedSender<Value>,
    quiet: bool,
}

impl Out {
    pub fn new(tx: UnboundedSender<Value>, quiet: bool) -> Out {
        Out { tx, quiet }
    }

    /// Progress text (`{"stream": ...}`), left out with `q=1`.
    pub fn text(&self, s: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(json!({ "stream": s.into() }));
        }
    }

    pub fn aux_id(&self, id: &str) {
        let _ = self.tx.send(json!({"aux": {"ID": id}}));
    }

    /// With `q=1` the only output is the image id: the docker CLI prints
    /// the stream text it got, not the aux message.
    pub fn quiet_result(&self, id: &str) {
        if self.quiet {
            let _ = self.tx.send(json!({ "stream": format!("{id}\n") }));
        }
    }

    /// Pull progress for a missing base image, silenced with `q=1`.
    pub fn progress(&self) -> berth_registry::Progress {
        if self.quiet {
            let (tx, _) = tokio::sync::mpsc::unbounded_channel();
            berth_registry::Progress::new(tx)
        } else {
            berth_registry::Progress::new(self.tx.clone())
        }
    }

    pub fn error(&self, msg: &str) {
        let _ = self
            .tx
            .send(json!({"errorDetail": {"message": msg}, "error": msg}));
    }
}

pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Runs a whole build; returns the final image id (tagged as requested).
pub async fn build(
    d: &Arc<Daemon>,
    req: &Request,
    ctx: &Context,
    out: &Out,
) -> Result<String, Failure> {
    let text = ctx.dockerfile(&req.dockerfile).map_err(|e| {
        Failure::Daemon(format!(
            "Cannot locate specified Dockerfile: {}: {e}",
            req.dockerfile
        ))
    })?;
    let plan = Plan::new(berth_build::parse(&text)?)?;
    let stages = plan.stages_for(req.target.as_deref())?;
    let data_root = d.opts.data_root.clone();
    let cache = tokio::task::spawn_blocking(move || cache::BuildCache::open(&data_root))
        .await
        .map_err(|e| Failure::Daemon(e.to_string()))?
        .map_err(|e| Failure::Daemon(format!("opening the build cache: {e}")))?;
    let mut run = step::Runner {
        d: d.clone(),
        req,
        ctx,
        out,
        cache,
        total: 0,
        n: 0,
        global: HashMap::new(),
        done: vec![None; stages.len()],
        current: 0,
        cache_from: cache_sources(d, &req.cache_from),
    };
    // Stages the target does not need are not built, and stages that do
    // not depend on each other build at the same time (as BuildKit).
    let deps = run.stage_deps(&plan.global_args, stages)?;
    let needed = Plan::needed(&deps);
    run.total = plan.step_count(stages, &needed);
    run.global_args(&plan.global_args)?;
    let first_steps = first_steps(plan.global_args.len(), stages, &needed);
    loop {
        let ready: Vec<usize> = (0..stages.len())
            .filter(|&i| needed[i] && run.done[i].is_none())
            .filter(|&i| deps[i].iter().all(|&j| run.done[j].is_some()))
            .collect();
        let Some(&first) = ready.first() else { break };
        if ready.len() == 1 {
            run.n = first_steps[first] - 1;
            let id = run.stage(&stages[first], stages).await?;
            run.done[first] = Some(id);
            continue;
        }
        let mut forks = Vec::new();
        for &i in &ready {
            let data_root = d.opts.data_root.clone();
            let cache = tokio::task::spawn_blocking(move || cache::BuildCache::open(&data_root))
                .await
                .map_err(|e| Failure::Daemon(e.to_string()))?
                .map_err(|e| Failure::Daemon(format!("opening the build cache: {e}")))?;
            forks.push((i, run.fork(cache, first_steps[i])));
        }
        // Every stage of the wave runs to its end, so none is cut off in the
        // middle of a RUN (which would leave its container behind).
        let results = futures_util::future::join_all(
            forks
                .iter_mut()
                .map(|(i, r)| async { (*i, r.stage(&stages[*i], stages).await) }),
        )
        .await;
        for (i, result) in results {
            run.done[i] = Some(result?);
        }
    }
    let mut id = run.done.last().cloned().flatten().unwrap_or_default();
    if !req.labels.is_empty() {
        id = run.add_labels(&id).await?;
    }
    out.aux_id(&id);
    out.text(format!("Successfully built {}\n", short(&id)));
    for t in &req.tags {
        d.images.tag(&id, t, None)?;
        out.text(format!("Successfully tagged {}\n", familiar(t)));
    }
    out.quiet_result(&id);
    Ok(id)
}

/// The ids of the `--cache-from` images. As in Docker's classic builder,
/// they are not pulled: one not found locally is skipped.
fn cache_sources(d: &Daemon, names: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        match d.images.resolve(name) {
            Ok(img) => ids.push(img.id),
            Err(e) => {
                tracing::warn!("could not look up {name} for cache resolution, skipping: {e}")
            }
        }
    }
    ids
}

/// The "Step N" number of each stage's FROM, numbering the needed stages
/// in file order after the global ARGs.
fn first_steps(global_args: usize, stages: &[berth_build::Stage], needed: &[bool]) -> Vec<usize> {
    let mut next = global_args + 1;
    stages
        .iter()
        .zip(needed)
        .map(|(s, need)| {
            let first = next;
            if *need {
                next += 1 + s.steps.len();
            }
            first
        })
        .collect()
}

/// `busybox` -> `busybox:latest`, as Docker prints tags.
fn familiar(t: &str) -> String {
    let last = t.rsplit('/').next().unwrap_or(t);
    if last.contains(':') || t.contains('@') {
        t.to_string()
    } else {
        format!("{t}:latest")
    }
}
