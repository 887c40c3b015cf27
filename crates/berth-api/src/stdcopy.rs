//! Docker's stdcopy framing: when a container has no TTY, attach/logs/exec
//! streams carry frames of `[stream, 0, 0, 0, len_be32...] payload` where stream
//! is 0 (stdin), 1 (stdout) or 2 (stderr).

use std::io::Write;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Which standard stream a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamType {
    Stdin,
    Stdout,
    Stderr,
    /// Docker uses 3 for "systemerr": an error the daemon reports in-band.
    SystemErr,
}

impl StreamType {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Self::Stdin),
            1 => Some(Self::Stdout),
            2 => Some(Self::Stderr),
            3 => Some(Self::SystemErr),
            _ => None,
        }
    }
}

/// Length of a frame header.
pub const HEADER_LEN: usize = 8;

/// Encodes one frame (used by tests and by anything that needs to produce the format).
pub fn encode_frame(stream: StreamType, payload: &[u8]) -> Vec<u8> {
    let kind = match stream {
        StreamType::Stdin => 0,
        StreamType::Stdout => 1,
        StreamType::Stderr => 2,
        StreamType::SystemErr => 3,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Incremental frame decoder: feed bytes as they arrive, take complete frames out.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

impl Demuxer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Returns the next complete frame, `Ok(None)` if more bytes are needed, or an
    /// error for an unknown stream type (the stream is not framed).
    pub fn next_frame(&mut self) -> std::io::Result<Option<(StreamType, Vec<u8>)>> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let stream = StreamType::from_byte(self.buf[0]).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("Unrecognized input header: {}", self.buf[0]),
            )
        })?;
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some((stream, payload)))
    }

    /// Bytes received but not yet forming a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Reads a framed stream to its end, writing stdout frames to `stdout` and
/// stderr frames to `stderr`. A systemerr frame ends the copy with its text as error.
pub async fn demux<R, O, E>(mut reader: R, stdout: &mut O, stderr: &mut E) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    O: Write,
    E: Write,
{
    let mut demuxer = Demuxer::new();
    let mut chunk = vec![0u8; 32 * 1024];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        demuxer.push(&chunk[..n]);
        while let Some((stream, payload)) = demuxer.next_frame()? {
            match stream {
                StreamType::Stdout | StreamType::Stdin => {
                    stdout.write_all(&payload)?;
                    stdout.flush()?;
                }
                StreamType::Stderr => {
                    stderr.write_all(&payload)?;
                    stderr.flush()?;
                }
                StreamType::SystemErr => {
                    return Err(std::io::Error::other(
                        String::from_utf8_lossy(&payload).into_owned(),
                    ));
                }
            }
        }
    }
}

/// Copies an unframed (TTY) stream straight to `out`.
pub async fn raw_copy<R, O>(mut reader: R, out: &mut O) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    O: Write,
{
    let mut chunk = vec![0u8; 32 * 1024];
    loop {
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&chunk[..n])?;
        out.flush()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_frames_split_across_pushes() {
        let mut data = encode_frame(StreamType::Stdout, b"hello\n");
        data.extend(encode_frame(StreamType::Stderr, b"oops\n"));
        let mut d = Demuxer::new();
        d.push(&data[..5]);
        assert!(d.next_frame().unwrap().is_none());
        d.push(&data[5..10]);
        assert!(d.next_frame().unwrap().is_none());
        d.push(&data[10..]);
        assert_eq!(
            d.next_frame().unwrap(),
            Some((StreamType::Stdout, b"hello\n".to_vec()))
        );
        assert_eq!(
            d.next_frame().unwrap(),
            Some((StreamType::Stderr, b"oops\n".to_vec()))
        );
        assert!(d.next_frame().unwrap().is_none());
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn rejects_unknown_stream_type() {
        let mut d = Demuxer::new();
        d.push(b"hello world, not framed");
        assert!(d.next_frame().is_err());
    }

    #[tokio::test]
    async fn demux_splits_stdout_and_stderr() {
        let mut data = encode_frame(StreamType::Stdout, b"out1 ");
        data.extend(encode_frame(StreamType::Stderr, b"err"));
        data.extend(encode_frame(StreamType::Stdout, b"out2"));
        data.extend(encode_frame(StreamType::Stdout, b""));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        demux(&data[..], &mut out, &mut err).await.unwrap();
        assert_eq!(out, b"out1 out2");
        assert_eq!(err, b"err");
    }

    #[tokio::test]
    async fn systemerr_frame_is_an_error() {
        let data = encode_frame(StreamType::SystemErr, b"boom");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let e = demux(&data[..], &mut out, &mut err).await.unwrap_err();
        assert_eq!(e.to_string(), "boom");
    }
}
