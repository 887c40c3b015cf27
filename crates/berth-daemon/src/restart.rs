//! Restart policies: `no`, `on-failure[:N]`, `always`, `unless-stopped`, with
//! Docker's backoff (100 ms doubling, reset after 10 s of running).

use crate::container::Status;
use crate::daemon::{Daemon, Entry};
use std::sync::Arc;
use std::time::Duration;

fn should_restart(
    policy: &str,
    max: i64,
    restart_count: i64,
    exit_code: i32,
    stopped_by_user: bool,
) -> bool {
    if stopped_by_user {
        return false;
    }
    match policy {
        "always" | "unless-stopped" => true,
        "on-failure" => exit_code != 0 && (max <= 0 || restart_count < max),
        _ => false,
    }
}

fn backoff(restart_count: i64) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << restart_count.clamp(0, 10) as u32);
    Duration::from_millis(ms.min(60_000))
}

pub fn maybe_restart(daemon: Arc<Daemon>, e: Arc<Entry>, exit_code: i32) {
    let c = e.get();
    let (policy, max) = c.restart_policy();
    if !should_restart(
        &policy,
        max,
        c.restart_count,
        exit_code,
        c.state.stopped_by_user,
    ) {
        return;
    }
    let delay = backoff(c.restart_count);
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if let Err(err) = daemon.restart_after_policy(&e).await {
            tracing::warn!("restart of {} failed: {err}", e.id);
        }
    });
}

/// `always` containers, and `unless-stopped` ones the user did not stop, come
/// back when the daemon starts.
pub fn on_daemon_start(daemon: Arc<Daemon>) {
    for e in daemon.all() {
        let c = e.get();
        let (policy, _) = c.restart_policy();
        let wanted = match policy.as_str() {
            "always" => true,
            "unless-stopped" => !c.state.stopped_by_user,
            _ => false,
        };
        if wanted && c.state.status == Status::Exited {
            let d = daemon.clone();
            tokio::spawn(async move {
                if let Err(err) = d.start(&e.id).await {
                    tracing::warn!("restart of {} at daemon start failed: {err}", e.id);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert!(!should_restart("no", 0, 0, 1, false));
        assert!(should_restart("on-failure", 2, 1, 1, false));
        assert!(!should_restart("on-failure", 2, 2, 1, false));
        assert!(!should_restart("on-failure", 0, 5, 0, false));
        assert!(should_restart("always", 0, 9, 0, false));
        assert!(!should_restart("always", 0, 0, 0, true));
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
    }
}
