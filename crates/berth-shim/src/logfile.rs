//! Docker's json-file log format: one JSON object per line,
//! `{"log":"text\n","stream":"stdout","time":"2006-01-02T15:04:05.999999999Z"}`.
//!
//! Output is split at newlines; a partial line is held until its newline
//! arrives, the buffer passes 16 KiB (Docker's limit) or the stream ends.
//!
//! With `max-size`, an entry that would start past the limit first rotates
//! the file: `<log>.N-1` is dropped, each `<log>.i` becomes `<log>.i+1`, the
//! log becomes `<log>.1` and a fresh log is started (Docker's json-file
//! rotation). Entries are never split across files, so readers can simply
//! concatenate the files oldest first.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::bundle::LogRotate;

const MAX_PARTIAL: usize = 16 * 1024;

pub struct LogWriter {
    out: BufWriter<File>,
    partial: [Vec<u8>; 2],
    path: PathBuf,
    rotate: Option<LogRotate>,
    /// Bytes in the current file (written or buffered).
    size: u64,
    line: Vec<u8>,
}

/// `<log>.n`
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
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
        LogWriter::open_rotating(path, None)
    }

    pub fn open_rotating(path: &Path, rotate: Option<LogRotate>) -> std::io::Result<LogWriter> {
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        let size = f.metadata()?.len();
        Ok(LogWriter {
            out: BufWriter::with_capacity(256 * 1024, f),
            partial: [Vec::new(), Vec::new()],
            path: path.to_path_buf(),
            rotate,
            size,
            line: Vec::with_capacity(256),
        })
    }

    /// Shifts the files up by one and starts an empty log.
    fn rotate_files(&mut self, r: LogRotate) -> std::io::Result<()> {
        self.out.flush()?;
        if r.max_files <= 1 {
            // Nothing kept: start over in place (Docker truncates too).
            self.out.get_ref().set_len(0)?;
        } else {
            for n in (1..r.max_files - 1).rev() {
                let from = rotated_path(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, rotated_path(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.out = BufWriter::with_capacity(256 * 1024, f);
        }
        self.size = 0;
        Ok(())
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
        let mut buf = std::mem::take(&mut self.line);
        buf.clear();
        buf.extend_from_slice(b"{\"log\":");
        let text = String::from_utf8_lossy(line);
        serde_json::to_writer(&mut buf, text.as_ref())?;
        writeln!(
            buf,
            ",\"stream\":\"{}\",\"time\":\"{}\"}}",
            stream.name(),
            time
        )?;
        if let Some(r) = self.rotate {
            if self.size > 0 && self.size + buf.len() as u64 > r.max_size {
                self.rotate_files(r)?;
            }
        }
        let result = self.out.write_all(&buf);
        self.size += buf.len() as u64;
        self.line = buf;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let rotate = LogRotate {
            max_size: 300,
            max_files: 3,
        };
        let mut w = LogWriter::open_rotating(&p, Some(rotate)).unwrap();
        for i in 0..100 {
            w.write(Stream::Stdout, format!("line-{i}\n").as_bytes())
                .unwrap();
        }
        w.flush().unwrap();
        assert!(p.exists() && rotated_path(&p, 1).exists() && rotated_path(&p, 2).exists());
        assert!(!rotated_path(&p, 3).exists());
        let mut all = String::new();
        for f in [rotated_path(&p, 2), rotated_path(&p, 1), p.clone()] {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(
                text.len() <= 300,
                "{} has {} bytes",
                f.display(),
                text.len()
            );
            all.push_str(&text);
        }
        let lines: Vec<String> = all
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["log"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        // The newest entries survive, in order, ending with the last one.
        assert_eq!(lines.last().unwrap(), "line-99\n");
        let first: usize = lines[0].trim_start_matches("line-").trim().parse().unwrap();
        let expect: Vec<String> = (first..100).map(|i| format!("line-{i}\n")).collect();
        assert_eq!(lines, expect);
    }

    #[test]
    fn one_file_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        let rotate = LogRotate {
            max_size: 200,
            max_files: 1,
        };
        let mut w = LogWriter::open_rotating(&p, Some(rotate)).unwrap();
        for i in 0..50 {
            w.write(Stream::Stdout, format!("line-{i}\n").as_bytes())
                .unwrap();
        }
        w.flush().unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
        assert!(!rotated_path(&p, 1).exists());
    }

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
