//! Progress messages in the Engine API's JSON-stream shape
//! (`{"status","id","progressDetail","progress"}`), sent on a channel the
//! daemon turns into the response body.

use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

#[derive(Clone, Default)]
pub struct Progress {
    tx: Option<UnboundedSender<Value>>,
}

/// Docker's short id for a digest: 12 hex characters.
pub fn short_id(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// Docker's progress bar: `[=====>     ]  1.05MB/2.1MB`.
fn bar(current: u64, total: Option<u64>) -> String {
    const WIDTH: u64 = 50;
    match total.filter(|t| *t > 0) {
        Some(t) => {
            let filled = (current.min(t) * WIDTH / t) as usize;
            let arrow = if filled < WIDTH as usize { ">" } else { "" };
            let pad = (WIDTH as usize).saturating_sub(filled + arrow.len());
            format!(
                "[{}{arrow}{}] {:>8}/{}",
                "=".repeat(filled),
                " ".repeat(pad),
                human(current),
                human(t)
            )
        }
        None => format!("{:>8}", human(current)),
    }
}

/// Decimal units, as Docker's `units.HumanSize`.
fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", format_sig(v), units[i])
}

fn format_sig(v: f64) -> String {
    // Four significant digits, trailing zeros trimmed (Go's %.4g).
    let s = if v >= 100.0 {
        format!("{v:.1}")
    } else if v >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    s
}

impl Progress {
    pub fn new(tx: UnboundedSender<Value>) -> Progress {
        Progress { tx: Some(tx) }
    }

    fn send(&self, v: Value) {
        if let Some(tx) = &self.tx {
            // The client went away: the operation still completes.
            let _ = tx.send(v);
        }
    }

    /// A line of its own: `Digest: sha256:...`.
    pub fn status(&self, msg: &str) {
        self.send(json!({ "status": msg }));
    }

    /// `v1: Pulling from compat/bb`.
    pub fn with_id(&self, id: &str, msg: &str) {
        self.send(json!({ "status": msg, "id": id }));
    }

    /// A layer's state change: `abc123: Pull complete`.
    pub fn layer(&self, id: &str, msg: &str) {
        self.send(json!({ "status": msg, "progressDetail": {}, "id": id }));
    }

    /// Byte progress of a layer; docker shows it only on a terminal.
    pub fn bytes(&self, id: &str, msg: &str, current: u64, total: Option<u64>) {
        let mut detail = json!({ "current": current });
        if let Some(t) = total {
            detail["total"] = json!(t);
        }
        self.send(json!({
            "status": msg,
            "progressDetail": detail,
            "progress": bar(current, total),
            "id": id,
        }));
    }

    pub fn aux(&self, v: Value) {
        self.send(json!({ "progressDetail": {}, "aux": v }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_sizes() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(human(999), "999B");
        assert_eq!(human(1_050_000), "1.05MB");
        assert_eq!(human(2_100_000), "2.1MB");
        let b = bar(50, Some(100));
        assert!(b.starts_with("[=========================>"), "{b}");
        assert!(b.ends_with("50B/100B"), "{b}");
        assert!(bar(100, Some(100)).starts_with(&format!("[{}]", "=".repeat(50))));
    }

    #[tokio::test]
    async fn messages_have_docker_shape() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let p = Progress::new(tx);
        p.layer("abc", "Pull complete");
        p.with_id("v1", "Pulling from compat/bb");
        assert_eq!(
            rx.recv().await.unwrap(),
            json!({"status":"Pull complete","progressDetail":{},"id":"abc"})
        );
        assert_eq!(
            rx.recv().await.unwrap(),
            json!({"status":"Pulling from compat/bb","id":"v1"})
        );
        Progress::default().status("nobody listens");
    }
}
