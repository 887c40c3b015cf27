//! Reading the json-file log back for `logs` (tail, since/until, timestamps,
//! follow) and for attach's `logs=1` replay.

use crate::daemon::Entry;
use bytes::{BufMut, Bytes, BytesMut};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    pub follow: bool,
    /// None = all.
    pub tail: Option<usize>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Raw output (tty) instead of stdcopy frames.
    pub raw: bool,
    /// `--details`: the entry's extra attributes before the text (none are
    /// recorded, so Docker's empty attribute string and its space).
    pub details: bool,
}

#[derive(serde::Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    log: std::borrow::Cow<'a, str>,
    stream: &'a str,
    time: &'a str,
}

/// Docker's `since`/`until` values: unix seconds (with fraction) or RFC 3339.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if s.is_empty() || s == "0" {
        return None;
    }
    if let Ok(f) = s.parse::<f64>() {
        let secs = f.trunc() as i64;
        let nanos = ((f.fract()) * 1e9) as u32;
        return chrono::DateTime::from_timestamp(secs, nanos);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Stdcopy header: stream 1 = stdout, 2 = stderr; 3 zero bytes; u32 BE length.
pub fn stdcopy_frame(kind: u8, data: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(8 + data.len());
    b.put_u8(kind);
    b.put_slice(&[0, 0, 0]);
    b.put_u32(data.len() as u32);
    b.put_slice(data);
    b.freeze()
}

/// Appends one log entry to `out` as the client wants it; false if filtered out.
fn render(line: &str, opts: &LogOptions, out: &mut BytesMut) -> bool {
    let Ok(l) = serde_json::from_str::<Line>(line) else {
        return false;
    };
    let kind = if l.stream == "stderr" { 2 } else { 1 };
    if (kind == 1 && !opts.stdout) || (kind == 2 && !opts.stderr) {
        return false;
    }
    if opts.since.is_some() || opts.until.is_some() {
        let Some(t) = parse_time(l.time) else {
            return false;
        };
        if opts.since.is_some_and(|s| t < s) || opts.until.is_some_and(|u| t > u) {
            return false;
        }
    }
    let mut payload = Vec::with_capacity(l.log.len() + 32);
    if opts.timestamps {
        payload.extend_from_slice(l.time.as_bytes());
        payload.push(b' ');
    }
    if opts.details {
        payload.push(b' ');
    }
    payload.extend_from_slice(l.log.as_bytes());
    if opts.raw {
        out.put_slice(&payload);
    } else {
        out.put_slice(&stdcopy_frame(kind, &payload));
    }
    true
}

/// Streams the log to `tx` in chunks; with `follow`, keeps reading until the
/// container stops running.
pub async fn stream(path: PathBuf, entry: Arc<Entry>, opts: LogOptions, tx: mpsc::Sender<Bytes>) {
    let Some((file, mut inode)) = crate::logrotate::open_all(&path).await else {
        return;
    };
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    // Set when the shim rotated the log under us: drain the old file once
    // more, then move to the new one.
    let mut rotated = false;
    let mut chunk = BytesMut::with_capacity(256 * 1024);
    let mut line = String::new();
    if let Some(n) = opts.tail {
        // Tail needs the last N matching entries: collect, then send.
        let mut ring: std::collections::VecDeque<Bytes> = std::collections::VecDeque::new();
        while matches!(reader.read_line(&mut line).await, Ok(k) if k > 0) {
            let mut one = BytesMut::new();
            if line.ends_with('\n') && render(line.trim_end_matches('\n'), &opts, &mut one) {
                ring.push_back(one.freeze());
                if ring.len() > n {
                    ring.pop_front();
                }
            }
            line.clear();
        }
        for b in ring {
            if tx.send(b).await.is_err() {
                return;
            }
        }
    }
    loop {
        let mut progressed = false;
        loop {
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if !line.ends_with('\n') {
                        // A line being written; retry it when complete.
                        break;
                    }
                    progressed = true;
                    render(line.trim_end_matches('\n'), &opts, &mut chunk);
                    line.clear();
                    if chunk.len() >= 128 * 1024 && tx.send(chunk.split().freeze()).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !chunk.is_empty() && tx.send(chunk.split().freeze()).await.is_err() {
            return;
        }
        if rotated {
            if let Some((file, ino)) = crate::logrotate::open_current(&path).await {
                reader = BufReader::with_capacity(256 * 1024, file);
                inode = ino;
            }
            rotated = false;
            continue;
        }
        if opts.follow && crate::logrotate::inode(&path).is_some_and(|i| i != inode) {
            rotated = true;
            continue;
        }
        if !opts.follow {
            return;
        }
        let running = entry.get().state.status.is_running();
        if !running && !progressed {
            return;
        }
        if !running {
            continue;
        }
        let mut rx = entry.changed.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = rx.changed() => {}
            _ = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_frames_and_filters() {
        let opts = LogOptions {
            stdout: true,
            stderr: false,
            ..Default::default()
        };
        let mut out = BytesMut::new();
        assert!(render(
            r#"{"log":"hi\n","stream":"stdout","time":"2024-01-01T00:00:00.5Z"}"#,
            &opts,
            &mut out
        ));
        assert_eq!(&out[..], &[1, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
        assert!(!render(
            r#"{"log":"e\n","stream":"stderr","time":"2024-01-01T00:00:00Z"}"#,
            &opts,
            &mut out
        ));
        let opts = LogOptions {
            stdout: true,
            raw: true,
            timestamps: true,
            ..Default::default()
        };
        let mut out = BytesMut::new();
        render(
            r#"{"log":"x","stream":"stdout","time":"T"}"#,
            &opts,
            &mut out,
        );
        assert_eq!(&out[..], b"T x");
    }

    #[test]
    fn parses_since_values() {
        assert_eq!(parse_time("1700000000").unwrap().timestamp(), 1700000000);
        assert!(parse_time("2024-01-01T00:00:00Z").is_some());
        assert!(parse_time("0").is_none());
    }
}
