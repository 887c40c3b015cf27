//! Bridges between async HTTP bodies and the blocking readers/writers the
//! archive code works with, with bounded buffering (a 256 MiB layer is never
//! held in memory: the producer waits for the consumer).

use std::io::{self, Read, Write};

use axum::body::Body;
use berth_registry::coalesce::Coalescer;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// Chunks in flight between the two sides.
const DEPTH: usize = 8;
const CHUNK: usize = 64 * 1024;

/// A blocking reader fed from a request body by [`pump_body`].
pub struct BodyReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// A reader for a blocking consumer and the sender `pump_body` fills.
pub fn body_channel() -> (mpsc::Sender<Bytes>, BodyReader) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (
        tx,
        BodyReader {
            rx,
            cur: Bytes::new(),
        },
    )
}

/// Forwards the request body until it ends or the consumer stops reading.
/// Small frames are gathered into larger chunks ([`Coalescer`]): every
/// chunk wakes the blocking consumer, and a 10 MiB build context arrives in
/// hundreds of 16 KiB frames.
pub async fn pump_body(body: Body, tx: mpsc::Sender<Bytes>) -> Result<(), String> {
    let mut stream = body.into_data_stream();
    let mut chunks = Coalescer::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        if let Some(out) = chunks.push(chunk) {
            if tx.send(out).await.is_err() {
                return Ok(());
            }
        }
    }
    if let Some(rest) = chunks.finish() {
        let _ = tx.send(rest).await;
    }
    Ok(())
}

/// A blocking writer whose output becomes a response body.
pub struct BodyWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: BytesMut,
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// A writer for a blocking producer and the body streaming what it writes.
pub fn response_channel() -> (BodyWriter, Body) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        BodyWriter {
            tx,
            buf: BytesMut::with_capacity(CHUNK),
        },
        Body::from_stream(stream),
    )
}
