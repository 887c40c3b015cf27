//! Healthchecks: a monitor task per running container with a healthcheck runs
//! the probe as an exec through the shim, keeps Docker's `State.Health`
//! (status, failing streak, last five results) and publishes
//! `health_status: <status>` events when the status changes.

use crate::container::Status;
use crate::daemon::{Daemon, Entry, Generation};
use crate::exec::ExecInstance;
use crate::shimctl;
use berth_shim::protocol::{self, ExecRequest, Request as ShimRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Results kept in `State.Health.Log`, as Docker.
const MAX_LOG: usize = 5;
/// Probe output kept per result, as Docker.
const MAX_OUTPUT: usize = 4096;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// Docker's `State.Health`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Health {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "FailingStreak")]
    pub failing_streak: u32,
    #[serde(rename = "Log")]
    pub log: Vec<ProbeResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeResult {
    #[serde(rename = "Start")]
    pub start: String,
    #[serde(rename = "End")]
    pub end: String,
    #[serde(rename = "ExitCode")]
    pub exit_code: i32,
    #[serde(rename = "Output")]
    pub output: String,
}

/// The effective healthcheck of a container (Config.Healthcheck, with the
/// image's already merged in at create time).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub argv: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

fn duration_ns(v: Option<&Value>, default: Duration) -> Duration {
    match v.and_then(Value::as_i64) {
        Some(ns) if ns > 0 => Duration::from_nanos(ns as u64),
        _ => default,
    }
}

impl Probe {
    /// None when there is no healthcheck or it is `["NONE"]`.
    pub fn from_config(hc: Option<&Value>) -> Option<Probe> {
        let hc = hc?;
        let test: Vec<String> = hc
            .get("Test")?
            .as_array()?
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let argv = match test.first().map(String::as_str) {
            Some("CMD") if test.len() > 1 => test[1..].to_vec(),
            Some("CMD-SHELL") if test.len() > 1 => {
                vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")]
            }
            _ => return None,
        };
        Some(Probe {
            argv,
            interval: duration_ns(hc.get("Interval"), DEFAULT_INTERVAL),
            timeout: duration_ns(hc.get("Timeout"), DEFAULT_TIMEOUT),
            start_period: duration_ns(hc.get("StartPeriod"), Duration::ZERO),
            start_interval: duration_ns(hc.get("StartInterval"), DEFAULT_START_INTERVAL),
            retries: match hc.get("Retries").and_then(Value::as_i64) {
                Some(n) if n > 0 => n as u32,
                _ => DEFAULT_RETRIES,
            },
        })
    }
}

impl Health {
    /// Folds one probe result in, as Docker's handleProbeResult: success is
    /// healthy at once; failures count only after the start period, and
    /// `retries` of them in a row make the container unhealthy.
    pub fn record(&mut self, result: ProbeResult, retries: u32, in_start_period: bool) {
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
        } else if !(in_start_period && self.status == STARTING) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = UNHEALTHY.into();
            }
        }
        self.log.push(result);
        if self.log.len() > MAX_LOG {
            let extra = self.log.len() - MAX_LOG;
            self.log.drain(..extra);
        }
    }
}

/// Docker's ps suffix: " (healthy)", " (unhealthy)", " (health: starting)".
pub fn status_suffix(h: Option<&Health>) -> String {
    match h.map(|h| h.status.as_str()) {
        Some(STARTING) => " (health: starting)".into(),
        Some(s) if !s.is_empty() => format!(" ({s})"),
        _ => String::new(),
    }
}

fn now() -> String {
    crate::container::rfc3339(chrono::Utc::now())
}

/// Starts the monitor for a container that just started (or that the daemon
/// found running at startup). Does nothing without a healthcheck.
pub fn spawn_monitor(d: &Arc<Daemon>, e: &Arc<Entry>) {
    let c = e.get();
    let Some(probe) = Probe::from_config(c.config.get("Healthcheck")) else {
        return;
    };
    let gen = *e.changed.borrow();
    // Each run starts over, as Docker: "starting" until the first result.
    e.with(|c| {
        let h = c.state.health.get_or_insert_with(Health::default);
        h.status = STARTING.into();
        h.failing_streak = 0;
    });
    save(d, e);
    let (d, e) = (d.clone(), e.clone());
    tokio::spawn(async move { monitor(d, e, probe, gen).await });
}

/// A stopped container is no longer healthy (Docker reports "unhealthy").
pub fn on_exit(e: &Entry) {
    e.with(|c| {
        if let Some(h) = c.state.health.as_mut() {
            h.status = UNHEALTHY.into();
        }
    });
}

fn save(d: &Daemon, e: &Entry) {
    if let Err(err) = d.store.update(&e.get()) {
        tracing::warn!("health: saving state of {}: {err}", e.id);
    }
}

async fn monitor(d: Arc<Daemon>, e: Arc<Entry>, probe: Probe, run: Generation) {
    let mut rx = e.changed.subscribe();
    let started = std::time::Instant::now();
    loop {
        let in_start_period = started.elapsed() < probe.start_period;
        let starting = e.get().state.health.is_some_and(|h| h.status == STARTING);
        let wait = if in_start_period && starting {
            probe.start_interval.min(probe.interval)
        } else {
            probe.interval
        };
        // Wake on the timer, or end when the container stops or restarts.
        let ended = tokio::select! {
            _ = tokio::time::sleep(wait) => false,
            r = wait_for_stop(&mut rx, run) => r,
        };
        if ended || !is_current(&e, run) {
            return;
        }
        if e.get().state.status == Status::Paused {
            continue;
        }
        let result = run_probe(&d, &e, &probe).await;
        if !is_current(&e, run) {
            return;
        }
        let in_start_period = started.elapsed() < probe.start_period;
        let changed = e.with(|c| {
            let h = c.state.health.get_or_insert_with(Health::default);
            let before = h.status.clone();
            h.record(result, probe.retries, in_start_period);
            (before != h.status).then(|| h.status.clone())
        });
        save(&d, &e);
        if let Some(status) = changed {
            d.container_event(&e.get(), &format!("health_status: {status}"), &[]);
        }
    }
}

/// Whether the container is still in the run this monitor was started for.
fn is_current(e: &Entry, run: Generation) -> bool {
    same_run(&e.changed.borrow(), run) && e.get().state.status.is_running()
}

fn same_run(g: &Generation, run: Generation) -> bool {
    !g.removed && g.starts == run.starts && g.exits == run.exits
}

/// Resolves once the container run this monitor belongs to is over.
async fn wait_for_stop(rx: &mut watch::Receiver<Generation>, run: Generation) -> bool {
    loop {
        if rx.changed().await.is_err() {
            return true;
        }
        if !same_run(&rx.borrow_and_update(), run) {
            return true;
        }
    }
}

/// Runs the probe once; a probe that cannot run counts as a failure, as Docker.
async fn run_probe(d: &Arc<Daemon>, e: &Arc<Entry>, probe: &Probe) -> ProbeResult {
    let start = now();
    let (exit_code, output) = match tokio::time::timeout(probe.timeout, exec(d, e, probe)).await {
        Ok(Ok(r)) => r,
        Ok(Err(msg)) => (-1, msg),
        Err(_) => (
            -1,
            format!(
                "Health check exceeded timeout ({})",
                go_duration(probe.timeout)
            ),
        ),
    };
    ProbeResult {
        start,
        end: now(),
        exit_code,
        output,
    }
}

/// Go's `time.Duration.String()`: "30s", "1m30s", "1.5s", "500ms".
fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let frac = |v: u128, unit: u128| {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = unit.ilog10() as usize;
            let f = format!("{rest:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000));
    }
    let secs = ns / 1_000_000_000;
    let (h, m) = (secs / 3600, (secs / 60) % 60);
    let s = frac(ns % 60_000_000_000, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// Kills the probe's process if the probe is abandoned (timeout).
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0 > 0 {
            // SAFETY: plain syscall; the pid is the shim's child, still unreaped
            // because the shim only reaps after reporting the exit we did not see.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

async fn exec(d: &Arc<Daemon>, e: &Arc<Entry>, probe: &Probe) -> Result<(i32, String), String> {
    let x = ExecInstance {
        id: String::new(),
        container_id: e.id.clone(),
        cmd: probe.argv.clone(),
        env: Vec::new(),
        user: String::new(),
        working_dir: String::new(),
        tty: false,
        privileged: false,
        attach_stdin: false,
        attach_stdout: true,
        attach_stderr: true,
        running: false,
        exit_code: None,
        pid: 0,
        started: false,
    };
    let process = crate::exec::process(d, &x).map_err(|err| err.message)?;
    // Probes show up as execs in the event stream, as with Docker.
    let exec_id = hex::encode(rand::random::<[u8; 32]>());
    let cmd = probe.argv.join(" ");
    let attrs = [("execID", exec_id.clone())];
    d.container_event(&e.get(), &format!("exec_create: {cmd}"), &attrs);
    let req = ShimRequest::Exec(Box::new(ExecRequest {
        process,
        stdin: false,
    }));
    let stream = shimctl::open_stream(&d.bundle(&e.id), &req)
        .await
        .map_err(|err| err.to_string())?;
    d.container_event(&e.get(), &format!("exec_start: {cmd}"), &attrs);
    let (mut rd, _wr) = stream.into_split();
    let mut guard = KillOnDrop(0);
    let mut output = Vec::new();
    while let Ok(Some((kind, payload))) = shimctl::read_frame(&mut rd).await {
        match kind {
            protocol::FRAME_STDOUT | protocol::FRAME_STDERR => {
                let room = MAX_OUTPUT.saturating_sub(output.len());
                output.extend_from_slice(&payload[..payload.len().min(room)]);
            }
            protocol::FRAME_STARTED => {
                guard.0 = serde_json::from_slice::<Value>(&payload)
                    .ok()
                    .and_then(|v| v.get("pid").and_then(Value::as_i64))
                    .unwrap_or(0) as i32;
            }
            protocol::FRAME_ERROR => {
                guard.0 = 0;
                let msg = String::from_utf8_lossy(&payload);
                return Err(format!(
                    "OCI runtime exec failed: exec failed: unable to start container process: {msg}: unknown"
                ));
            }
            protocol::FRAME_EXIT => {
                guard.0 = 0;
                let code = serde_json::from_slice::<protocol::ExitStatus>(&payload)
                    .map(|x| x.code)
                    .unwrap_or(-1);
                let die = [("execID", exec_id), ("exitCode", code.to_string())];
                d.container_event(&e.get(), "exec_die", &die);
                return Ok((code, String::from_utf8_lossy(&output).into_owned()));
            }
            _ => {}
        }
    }
    guard.0 = 0;
    Err("health check probe ended without an exit status".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(code: i32) -> ProbeResult {
        ProbeResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn parses_healthcheck_config() {
        let p = Probe::from_config(Some(
            &json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000i64, "Retries": 2}),
        ))
        .unwrap();
        assert_eq!(p.argv, ["/bin/sh", "-c", "true"]);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert_eq!(p.retries, 2);
        let p = Probe::from_config(Some(&json!({"Test": ["CMD", "ls", "/"]}))).unwrap();
        assert_eq!(p.argv, ["ls", "/"]);
        assert!(Probe::from_config(Some(&json!({"Test": ["NONE"]}))).is_none());
        assert!(Probe::from_config(Some(&json!({"Test": []}))).is_none());
        assert!(Probe::from_config(None).is_none());
    }

    #[test]
    fn formats_durations_like_go() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn status_follows_results() {
        let mut h = Health {
            status: STARTING.into(),
            ..Default::default()
        };
        h.record(result(1), 2, true);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        h.record(result(1), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 1));
        h.record(result(0), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        h.record(result(1), 2, false);
        assert_eq!(h.status, HEALTHY);
        h.record(result(1), 2, false);
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        for _ in 0..5 {
            h.record(result(0), 2, false);
        }
        assert_eq!(h.log.len(), MAX_LOG);
        assert_eq!(status_suffix(Some(&h)), " (healthy)");
        h.status = STARTING.into();
        assert_eq!(status_suffix(Some(&h)), " (health: starting)");
        assert_eq!(status_suffix(None), "");
    }
}
