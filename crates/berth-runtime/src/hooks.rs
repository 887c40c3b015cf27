//! OCI hooks run by the caller (runtime namespace): prestart and
//! createRuntime once the container's namespaces exist (between fork and the
//! child's go-ahead, so e.g. a network hook can configure
//! /proc/<pid>/ns/net), poststart after the process started. Each hook gets
//! the container state JSON on stdin.
//!
//! createContainer / startContainer hooks (run inside the container's
//! namespaces) are not supported yet.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Spec};

use crate::error::{Result, RuntimeError};

/// Annotation the caller may set to give hooks the container id.
pub const ID_ANNOTATION: &str = "berth.container.id";

/// The hooks of a spec, ready to run.
#[derive(Debug, Clone, Default)]
pub(crate) struct HookPlan {
    pub before_start: Vec<Hook>,
    pub poststart: Vec<Hook>,
    oci_version: String,
    id: String,
    bundle: String,
    annotations: serde_json::Value,
}

impl HookPlan {
    pub fn new(spec: &Spec) -> HookPlan {
        let Some(hooks) = spec.hooks() else {
            return HookPlan::default();
        };
        #[allow(deprecated)] // prestart is what Docker 20.10-era tools use
        let mut before_start = hooks.prestart().clone().unwrap_or_default();
        before_start.extend(hooks.create_runtime().clone().unwrap_or_default());
        let annotations = spec.annotations().clone().unwrap_or_default();
        let bundle = spec
            .root()
            .as_ref()
            .and_then(|r| r.path().parent().map(|p| p.display().to_string()))
            .unwrap_or_default();
        HookPlan {
            before_start,
            poststart: hooks.poststart().clone().unwrap_or_default(),
            oci_version: spec.version().clone(),
            id: annotations.get(ID_ANNOTATION).cloned().unwrap_or_default(),
            bundle,
            annotations: serde_json::to_value(annotations).unwrap_or_default(),
        }
    }

    fn state(&self, status: &str, pid: i32) -> Vec<u8> {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status,
            "pid": pid,
            "bundle": self.bundle,
            "annotations": self.annotations,
        })
        .to_string()
        .into_bytes()
    }

    /// prestart + createRuntime; the first failure aborts the start.
    pub fn run_before_start(&self, pid: i32) -> Result<()> {
        let state = self.state("created", pid);
        self.before_start.iter().try_for_each(|h| run(h, &state))
    }

    /// poststart: failures do not stop the container (OCI: warn and go on).
    pub fn run_poststart(&self, pid: i32) {
        let state = self.state("running", pid);
        for h in &self.poststart {
            let _ = run(h, &state);
        }
    }
}

/// Runs one hook with `state` on stdin, within its timeout.
pub(crate) fn run(hook: &Hook, state: &[u8]) -> Result<()> {
    let path = hook.path();
    let what = || format!("hook {}", path.display());
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some((arg0, rest)) = args.split_first() {
            cmd.arg0(arg0).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::io(what(), &e))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE ignored).
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        if let Some(status) = child.try_wait().map_err(|e| RuntimeError::io(what(), &e))? {
            if status.success() {
                return Ok(());
            }
            return Err(RuntimeError::Child(format!("{} failed: {status}", what())));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RuntimeError::Child(format!("{} timed out", what())));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    fn sh(script: &str, timeout: Option<i64>) -> Hook {
        let mut b = HookBuilder::default()
            .path("/bin/sh")
            .args(vec!["sh".to_string(), "-c".to_string(), script.to_string()])
            .env(vec!["X=1".to_string()]);
        if let Some(t) = timeout {
            b = b.timeout(t);
        }
        b.build().unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin_and_its_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let hook = sh(
            &format!(
                "cat > {}; echo \"X=$X\" >> {}",
                out.display(),
                out.display()
            ),
            None,
        );
        run(&hook, b"{\"pid\":7}").unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), "{\"pid\":7}X=1\n");
    }

    #[test]
    fn failing_and_slow_hooks_are_errors() {
        assert!(run(&sh("exit 3", None), b"").is_err());
        let t = Instant::now();
        assert!(run(&sh("sleep 5", Some(1)), b"").is_err());
        assert!(t.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn state_json_shape() {
        let plan = HookPlan {
            oci_version: "1.0.2".into(),
            id: "abc".into(),
            bundle: "/b".into(),
            ..HookPlan::default()
        };
        let v: serde_json::Value = serde_json::from_slice(&plan.state("created", 42)).unwrap();
        assert_eq!(v["pid"], 42);
        assert_eq!(v["status"], "created");
        assert_eq!(v["id"], "abc");
        assert_eq!(v["bundle"], "/b");
    }
}
