//! Wire protocol between the daemon and a shim.
//!
//! A connection to the shim's socket starts with one JSON line, a [`Request`].
//! Control requests get one JSON line back (a [`Reply`]) and the connection
//! closes. `Stream` and `Exec` requests turn the connection into a framed duplex
//! stream: every frame is `[kind u8][len u32 big-endian][payload]`, the same
//! header size as Docker's stdcopy so stdout/stderr frames can be forwarded
//! with one header rewrite.

use serde::{Deserialize, Serialize};

/// Frame kinds, shim -> daemon.
pub const FRAME_STDOUT: u8 = 1;
pub const FRAME_STDERR: u8 = 2;
/// Payload: JSON [`ExitStatus`]. Last frame of a stream.
pub const FRAME_EXIT: u8 = 3;
/// Payload: UTF-8 error text (an exec that could not start).
pub const FRAME_ERROR: u8 = 4;
/// Payload: JSON `{"pid": N}` (an exec that started).
pub const FRAME_STARTED: u8 = 5;
/// Frame kinds, daemon -> shim.
pub const FRAME_STDIN: u8 = 0;
pub const FRAME_STDIN_CLOSE: u8 = 6;
/// Payload: JSON [`WinSize`].
pub const FRAME_RESIZE: u8 = 7;

pub const HEADER_LEN: usize = 5;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Attach to the container's stdio (output frames, stdin accepted) and receive its exit.
    Stream,
    /// Start a process in the container; the connection carries its stdio and exit.
    /// Boxed: a whole OCI process dwarfs the other variants.
    Exec(Box<ExecRequest>),
    /// Send a signal to the container's init.
    Kill { signal: i32 },
    /// Resize the init's terminal.
    Resize(WinSize),
    /// Current state.
    State,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ExecRequest {
    pub process: oci_spec::runtime::Process,
    pub stdin: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct WinSize {
    pub height: u16,
    pub width: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitStatus {
    pub code: i32,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds, as Docker's FinishedAt.
    pub finished_at: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

/// First line the shim prints on its stdout once the container runs (or failed to).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StartReport {
    /// With `net_handshake`: a first line, the init exists (host pid) and
    /// waits. The daemon answers with one line on the shim's stdin: empty
    /// to go on, else the text of the error that stops the start. The
    /// final report (`pid` or `error`) follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn frame_header(kind: u8, len: usize) -> [u8; HEADER_LEN] {
    let l = (len as u32).to_be_bytes();
    [kind, l[0], l[1], l[2], l[3]]
}

pub fn parse_header(h: &[u8; HEADER_LEN]) -> (u8, usize) {
    (h[0], u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize)
}
