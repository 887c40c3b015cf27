//! Docker's json-file log format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2006-01-02T15:04:05.999999999Z"}`.
//!
//! Output is split at newlines; a partial line is held until its newline
//! arrives, the buffer passes 16 KiB (Docker's limit) or the stream ends.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

const MAX_PARTIAL: usize = 16 * 1024;

pub struct LogWriter {
    out: BufWriter<File>,
    partial: [Vec<u8>; 2],
}

#[derive(Clone, Copy)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

pub fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

impl LogWriter {
    pub fn open(path: &Path) -> std::io::Result<LogWriter> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(LogWriter {
            out: BufWriter::with_capacity(256 * 1024, f),
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Appends a chunk read from the container. One timestamp per chunk: the
    /// lines in it arrived together, and formatting a time per line would
    /// dominate the cost of logging chatty containers.
    pub fn write(&mut self, stream: Stream, mut data: &[u8]) -> std::io::Result<()> {
        let time = timestamp();
        let idx = stream as usize;
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = data.split_at(pos + 1);
            if self.partial[idx].is_empty() {
                self.entry(stream, line, &time)?;
            } else {
                let mut full = std::mem::take(&mut self.partial[idx]);
                full.extend_from_slice(line);
                self.entry(stream, &full, &time)?;
            }
            data = rest;
        }
        if !data.is_empty() {
            self.partial[idx].extend_from_slice(data);
            if self.partial[idx].len() >= MAX_PARTIAL {
                let full = std::mem::take(&mut self.partial[idx]);
                self.entry(stream, &full, &time)?;
            }
        }
        Ok(())
    }

    /// Writes out held partial lines and flushes (stream ended or idle).
    pub fn flush_partial(&mut self) -> std::io::Result<()> {
        let time = timestamp();
        for (idx, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if !self.partial[idx].is_empty() {
                let full = std::mem::take(&mut self.partial[idx]);
                self.entry(stream, &full, &time)?;
            }
        }
        self.out.flush()
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    fn entry(&mut self, stream: Stream, line: &[u8], time: &str) -> std::io::Result<()> {
        self.out.write_all(b"{\"log\":")?;
        let text = String::from_utf8_lossy(line);
        serde_json::to_writer(&mut self.out, text.as_ref())?;
        writeln!(
            self.out,
            ",\"stream\":\"{}\",\"time\":\"{}\"}}",
            stream.name(),
            time
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_holds_partials() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.json");
        let mut w = LogWriter::open(&p).unwrap();
        w.write(Stream::Stdout, b"out1\nout").unwrap();
        w.write(Stream::Stderr, b"err1\n").unwrap();
        w.write(Stream::Stdout, b"2\nno newline").unwrap();
        w.flush_partial().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let logs: Vec<(String, String)> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["stream"].as_str().unwrap().to_string(),
                    v["log"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            logs,
            vec![
                ("stdout".into(), "out1\n".into()),
                ("stderr".into(), "err1\n".into()),
                ("stdout".into(), "out2\n".into()),
                ("stdout".into(), "no newline".into()),
            ]
        );
    }
}
