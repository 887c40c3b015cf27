//! Progress streams (`/images/create`, `/images/load`, `/build`...): one JSON
//! object per line, `{"status":..,"id":..,"progress":..}` or `{"error":..}`.

use std::io::Write;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// `errorDetail` of a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonError {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// One line of a progress stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(
        rename = "errorDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_detail: Option<JsonError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
    #[serde(
        rename = "progressDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub progress_detail: Option<serde_json::Value>,
}

impl JsonMessage {
    /// The error this message carries, if any.
    pub fn error_text(&self) -> Option<String> {
        if let Some(d) = &self.error_detail {
            if !d.message.is_empty() {
                return Some(d.message.clone());
            }
        }
        self.error.clone()
    }

    /// The line docker prints for this message on a non-terminal output.
    pub fn display_line(&self) -> Option<String> {
        if let Some(s) = &self.stream {
            return Some(s.clone());
        }
        // docker draws byte progress ("Downloading", "Pushing") only on a
        // terminal; elsewhere those messages are skipped.
        let has_bytes = |k: &str| {
            self.progress_detail
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(|v| v.as_i64())
                .is_some_and(|n| n > 0)
        };
        if has_bytes("current") || has_bytes("total") {
            return None;
        }
        let status = self.status.as_deref()?;
        let mut line = String::new();
        if let Some(id) = &self.id {
            line.push_str(id);
            line.push_str(": ");
        }
        line.push_str(status);
        if let Some(p) = &self.progress {
            if !p.is_empty() {
                line.push(' ');
                line.push_str(p);
            }
        }
        line.push('\n');
        Some(line)
    }
}

/// Reads a progress stream, printing each message to `out` (unless `quiet`), and
/// calling `on_aux` for `aux` payloads. An `error` message ends the stream as
/// `Err(message)`.
pub async fn display_stream<R, W, F>(
    reader: R,
    out: &mut W,
    quiet: bool,
    mut on_aux: F,
) -> Result<(), crate::Error>
where
    R: AsyncRead + Unpin,
    W: Write,
    F: FnMut(&serde_json::Value),
{
    let mut lines = BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let msg: JsonMessage = serde_json::from_str(line)?;
        if let Some(err) = msg.error_text() {
            return Err(crate::Error::Protocol(err));
        }
        if let Some(aux) = &msg.aux {
            on_aux(aux);
        }
        if quiet {
            continue;
        }
        if let Some(text) = msg.display_line() {
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn prints_status_lines_and_stops_on_error() {
        let input = concat!(
            "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\n",
            "{\"status\":\"Downloading\",\"progress\":\"[=>  ]\",\"id\":\"abc\"}\r\n",
            "{\"status\":\"sha256:1234\"}\n",
            "{\"error\":\"boom\",\"errorDetail\":{\"message\":\"boom detail\"}}\n",
            "{\"status\":\"never\"}\n",
        );
        let mut out = Vec::new();
        let err = display_stream(input.as_bytes(), &mut out, false, |_| {})
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "boom detail");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "latest: Pulling from library/busybox\nabc: Downloading [=>  ]\nsha256:1234\n"
        );
    }

    #[tokio::test]
    async fn quiet_collects_aux() {
        let input = "{\"aux\":{\"ID\":\"sha256:ff\"}}\n{\"status\":\"x\"}\n";
        let mut out = Vec::new();
        let mut ids = Vec::new();
        display_stream(input.as_bytes(), &mut out, true, |aux| {
            ids.push(aux["ID"].as_str().unwrap_or_default().to_string())
        })
        .await
        .unwrap();
        assert!(out.is_empty());
        assert_eq!(ids, vec!["sha256:ff"]);
    }
}
