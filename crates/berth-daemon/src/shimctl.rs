//! Starting shims and talking to them over their unix sockets.

use berth_shim::bundle::{self, ShimOptions};
use berth_shim::protocol::{self, Reply, Request, StartReport};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("shim: {context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The container could not be started; the text is the runtime's.
    #[error("{0}")]
    Start(String),
    #[error("{0}")]
    Reply(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ShimError {
    let context = context.into();
    move |source| ShimError::Io { context, source }
}

pub struct Started {
    pub pid: i32,
    /// The daemon's end of the initial stream.
    pub stream: UnixStream,
}

/// Writes the bundle and starts `berth shim` for it. Returns once the
/// container's init has exec'd (or with the runtime's error).
///
/// `on_created` (with `opts.net_handshake`) runs once the init exists and
/// waits, with its host pid; its error stops the start and is returned as
/// [`ShimError::Start`].
pub async fn start<F, Fut>(
    exe: &Path,
    bundle_dir: &Path,
    spec: &oci_spec::runtime::Spec,
    opts: &ShimOptions,
    on_created: Option<F>,
) -> Result<Started, ShimError>
where
    F: FnOnce(i32) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    std::fs::create_dir_all(bundle_dir).map_err(io("create bundle"))?;
    let _ = std::fs::remove_file(bundle::exit_path(bundle_dir));
    let config = serde_json::to_vec(spec).map_err(|e| ShimError::Start(e.to_string()))?;
    bundle::write_atomic(&bundle_dir.join(bundle::CONFIG), &config)
        .map_err(io("write config.json"))?;
    let options = serde_json::to_vec(opts).map_err(|e| ShimError::Start(e.to_string()))?;
    bundle::write_atomic(&bundle_dir.join(bundle::OPTIONS), &options)
        .map_err(io("write shim.json"))?;

    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(io("socketpair"))?;
    let theirs: OwnedFd = theirs.into();
    let their_fd = theirs.as_raw_fd();
    let log = std::fs::File::create(bundle_dir.join("shim.log")).map_err(io("create shim.log"))?;
    // From the sealed (read-only, detached) mount of the binary, so no
    // container process can write the runtime through /proc/<pid>/exe.
    let mut cmd = tokio::process::Command::new(crate::sealed_exe::program(exe));
    cmd.arg0(exe)
        .arg("shim")
        .arg("--bundle")
        .arg(bundle_dir)
        .arg("--stream-fd")
        .arg("3")
        .stdin(if opts.net_handshake {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(log);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(their_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Its own session: signals to the daemon's group must not reach it.
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(io("spawn shim"))?;
    drop(theirs);
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| ShimError::Start("shim without stdout".into()))?;
    let mut stdin = child.stdin.take();
    // The shim lives on after the report; reap it whenever it ends.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let mut stdout = BufReader::new(stdout);
    let mut on_created = on_created;
    let mut failed = None;
    let report = loop {
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .await
            .map_err(io("read shim report"))?;
        let report: StartReport = serde_json::from_str(line.trim()).map_err(|_| {
            let log = std::fs::read_to_string(bundle_dir.join("shim.log")).unwrap_or_default();
            ShimError::Start(format!("shim failed: {}", log.trim()))
        })?;
        let Some(pid) = report.created else {
            break report;
        };
        // The init waits for this answer: empty to go on, else the error.
        let verdict = match on_created.take() {
            Some(f) => f(pid).await,
            None => Err("unexpected container handshake".to_string()),
        };
        let answer = match &verdict {
            Ok(()) => "\n".to_string(),
            Err(e) => format!("{}\n", e.replace('\n', " ")),
        };
        failed = verdict.err();
        let w = stdin
            .as_mut()
            .ok_or_else(|| ShimError::Start("shim handshake without stdin".into()))?;
        w.write_all(answer.as_bytes())
            .await
            .map_err(io("answer shim"))?;
    };
    drop(stdin);
    if let Some(e) = failed {
        return Err(ShimError::Start(e));
    }
    if let Some(e) = report.error {
        return Err(ShimError::Start(e));
    }
    ours.set_nonblocking(true).map_err(io("socket mode"))?;
    Ok(Started {
        pid: report.pid.unwrap_or(0),
        stream: UnixStream::from_std(ours).map_err(io("socket"))?,
    })
}

async fn connect(bundle_dir: &Path) -> Result<UnixStream, ShimError> {
    let (_dir, path) = bundle::connectable_socket_path(bundle_dir).map_err(io("open bundle"))?;
    UnixStream::connect(&path).await.map_err(io("connect"))
}

/// Sends a control request and returns the shim's reply.
pub async fn request(bundle_dir: &Path, req: &Request) -> Result<Reply, ShimError> {
    let mut s = connect(bundle_dir).await?;
    let mut line = serde_json::to_vec(req).map_err(|e| ShimError::Reply(e.to_string()))?;
    line.push(b'\n');
    s.write_all(&line).await.map_err(io("send request"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(io("read reply"))?;
    let reply: Reply = serde_json::from_slice(&buf)
        .map_err(|e| ShimError::Reply(format!("bad shim reply: {e}")))?;
    match reply.error {
        Some(e) => Err(ShimError::Reply(e)),
        None => Ok(reply),
    }
}

/// Opens a stream connection (attach to init, or an exec).
pub async fn open_stream(bundle_dir: &Path, req: &Request) -> Result<UnixStream, ShimError> {
    let mut s = connect(bundle_dir).await?;
    let mut line = serde_json::to_vec(req).map_err(|e| ShimError::Reply(e.to_string()))?;
    line.push(b'\n');
    s.write_all(&line).await.map_err(io("send request"))?;
    Ok(s)
}

/// Reads one frame; None at end of stream.
pub async fn read_frame<R: AsyncReadExt + Unpin>(
    r: &mut R,
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut h = [0u8; protocol::HEADER_LEN];
    match r.read_exact(&mut h).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let (kind, len) = protocol::parse_header(&h);
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok(Some((kind, payload)))
}

pub async fn write_frame<W: AsyncWriteExt + Unpin>(
    w: &mut W,
    kind: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    w.write_all(&protocol::frame_header(kind, payload.len()))
        .await?;
    w.write_all(payload).await
}
