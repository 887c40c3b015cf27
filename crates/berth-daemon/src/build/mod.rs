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
pub use context::Context;

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
    };
    // Stages the target does not need are not built (as BuildKit).
    let needed = run.needed_stages(&plan.global_args, stages)?;
    run.total = plan.step_count(stages, &needed);
    run.global_args(&plan.global_args)?;
    for (stage, need) in stages.iter().zip(&needed) {
        if *need {
            let id = run.stage(stage, stages).await?;
            run.done[stage.index] = Some(id);
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

/// `busybox` -> `busybox:latest`, as Docker prints tags.
fn familiar(t: &str) -> String {
    let last = t.rsplit('/').next().unwrap_or(t);
    if last.contains(':') || t.contains('@') {
        t.to_string()
    } else {
        format!("{t}:latest")
    }
}
