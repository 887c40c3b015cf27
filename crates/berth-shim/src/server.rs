//! The shim's event loop: one thread, one `mio::Poll`.
//!
//! It owns the container's init and exec processes (as their parent, or as
//! subreaper for execs), pumps their output into the json-file log and to the
//! connected streams, feeds stdin, reaps children and records the exit status.

use crate::bundle::{self, ShimOptions};
use crate::logfile::{LogWriter, Stream};
use crate::protocol::*;
use mio::net::{UnixListener, UnixStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const SIGCHLD_PIPE: Token = Token(1);
const FIRST_DYNAMIC: usize = 16;
/// Stop reading a process's output while a subscriber has this much unsent:
/// a slow reader slows the container instead of growing the shim's memory.
const HIGH_WATER: usize = 4 << 20;
/// How long to wait for output pipes to drain after init died before the
/// remaining processes holding them are killed.
const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// How long a finished shim waits for streams to take their last frames.
const LINGER: Duration = Duration::from_secs(5);

struct Output {
    file: File,
    kind: u8,
    owner: i32,
    paused: bool,
}

struct Proc {
    stdin: Option<File>,
    pty: Option<File>,
    open_outputs: usize,
    status: Option<i32>,
    subscribers: Vec<Token>,
    is_init: bool,
    reaped_at: Option<Instant>,
}

enum ConnState {
    Handshake,
    Stream { pid: i32 },
    Closing,
}

struct Conn {
    sock: UnixStream,
    state: ConnState,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    writable_registered: bool,
}

pub struct Server {
    poll: Poll,
    listener: UnixListener,
    sigchld: File,
    opts: ShimOptions,
    spec: oci_spec::runtime::Spec,
    bundle: PathBuf,
    log: Option<LogWriter>,
    outputs: HashMap<Token, Output>,
    procs: HashMap<i32, Proc>,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    init_pid: i32,
    cgroup: Option<berth_cgroups::Cgroup>,
    exit: Option<ExitStatus>,
    finished_at: Option<Instant>,
    /// Exit codes of children reaped before we knew them (a fast exec).
    orphans: HashMap<i32, i32>,
    /// References to the init's namespaces. When the last process of a
    /// namespace exits, the kernel tears it down (unmounting the whole mount
    /// tree) before the parent is notified; holding a reference moves that
    /// work to after the exit has been reported.
    ns_refs: Vec<File>,
    /// What every exec into the container needs, prepared by the first one
    /// (seccomp filter, the init's namespaces, the cgroup's procs files...).
    /// Dropped as soon as the init is reaped: its namespace descriptors keep
    /// the container's namespaces (and mounts) alive.
    exec_ctx: Option<berth_runtime::ExecContext>,
}

/// What the daemon hands over at start besides the bundle.
pub struct Launch {
    pub bundle: PathBuf,
    pub opts: ShimOptions,
    pub spec: oci_spec::runtime::Spec,
    /// An already connected stream (the daemon's end of a socketpair), so output
    /// of short-lived containers cannot slip out before anyone attaches.
    pub initial_stream: Option<OwnedFd>,
}

fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(std::io::Error::from)?;
    Ok(())
}

fn pipe() -> std::io::Result<(File, File)> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    Ok((File::from(r), File::from(w)))
}

fn dev_null() -> std::io::Result<OwnedFd> {
    Ok(File::open("/dev/null")?.into())
}

/// The shim's ends of a process's stdio.
struct ShimStdio {
    stdin: Option<File>,
    pty: Option<File>,
    outputs: Vec<(File, u8)>,
    /// With a terminal: whether stdin is to be fed once the master is known.
    tty_stdin: Option<bool>,
}

impl ShimStdio {
    /// Takes the terminal master the runtime returned for a `NewPty` process:
    /// output is read from a nonblocking dup, stdin is written to the master
    /// (waiting for room, so input is never dropped), resizes go to the
    /// master itself.
    fn with_master(mut self, master: Option<OwnedFd>) -> std::io::Result<ShimStdio> {
        let Some(open_stdin) = self.tty_stdin else {
            return Ok(self);
        };
        let master = File::from(master.ok_or_else(|| {
            std::io::Error::other("the runtime returned no terminal for a tty process")
        })?);
        // The dup shares the master's file description, so the writer turns
        // nonblocking too: stdin writes wait for room instead (see
        // `write_all_waiting`). Reopening is no way out: a new open of ptmx
        // would be a new terminal.
        let reader = master.try_clone()?;
        set_nonblocking(reader.as_raw_fd())?;
        self.stdin = if open_stdin {
            Some(master.try_clone()?)
        } else {
            None
        };
        self.outputs = vec![(reader, FRAME_STDOUT)];
        self.pty = Some(master);
        self.tty_stdin = None;
        Ok(self)
    }
}

/// The container-side stdio for the runtime and the shim's ends. A terminal
/// is opened by the container process itself, on the container's devpts (so
/// it is /dev/pts/N inside, as with runc); its master arrives with the start
/// result and goes through [`ShimStdio::with_master`].
fn make_stdio(
    tty: bool,
    stdin: bool,
    size: Option<WinSize>,
) -> std::io::Result<(berth_runtime::Stdio, ShimStdio)> {
    if tty {
        let size = size.map(|s| berth_runtime::PtySize {
            rows: s.height,
            cols: s.width,
        });
        return Ok((
            berth_runtime::Stdio::NewPty { size },
            ShimStdio {
                stdin: None,
                pty: None,
                outputs: Vec::new(),
                tty_stdin: Some(stdin),
            },
        ));
    }
    let (in_child, in_shim) = if stdin {
        let (r, w) = pipe()?;
        (OwnedFd::from(r), Some(w))
    } else {
        (dev_null()?, None)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    set_nonblocking(out_r.as_raw_fd())?;
    set_nonblocking(err_r.as_raw_fd())?;
    Ok((
        berth_runtime::Stdio::Pipes {
            stdin: in_child,
            stdout: out_w.into(),
            stderr: err_w.into(),
        },
        ShimStdio {
            stdin: in_shim,
            pty: None,
            outputs: vec![(out_r, FRAME_STDOUT), (err_r, FRAME_STDERR)],
            tty_stdin: None,
        },
    ))
}

/// `net_handshake`: tells the daemon the init `pid` exists and waits for its
/// answer on stdin (see [`crate::protocol::StartReport::created`]).
fn await_daemon(pid: i32) -> Result<(), String> {
    use std::io::BufRead;
    crate::report(&crate::protocol::StartReport {
        created: Some(pid),
        ..Default::default()
    });
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) => Err("the daemon went away while preparing the container's network".into()),
        Ok(_) if line.trim().is_empty() => Ok(()),
        Ok(_) => Err(line.trim().to_string()),
        Err(e) => Err(format!("read the daemon's answer: {e}")),
    }
}

fn exit_code(status: nix::sys::wait::WaitStatus) -> Option<(i32, i32)> {
    use nix::sys::wait::WaitStatus;
    match status {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), code)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), 128 + sig as i32)),
        _ => None,
    }
}

impl Server {
    /// Creates the container and everything the loop needs. Errors here mean
    /// the container did not start; the caller reports them to the daemon.
    pub fn start(launch: Launch) -> anyhow::Result<Server> {
        use anyhow::Context;
        let Launch {
            bundle,
            opts,
            spec,
            initial_stream,
        } = launch;
        // Exec'd processes are re-parented to us when their intermediate
        // process (needed to enter the pid namespace) exits.
        nix::sys::prctl::set_child_subreaper(true).context("set child subreaper")?;
        let poll = Poll::new()?;
        let sock_path = bundle::socket_path(&bundle);
        let _ = std::fs::remove_file(&sock_path);
        let (_dir, bind_path) = bundle::connectable_socket_path(&bundle)?;
        let mut listener = UnixListener::bind(&bind_path)
            .with_context(|| format!("listen on {}", sock_path.display()))?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;

        let (sig_r, sig_w) = std::os::unix::net::UnixStream::pair()?;
        sig_r.set_nonblocking(true)?;
        sig_w.set_nonblocking(true)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGCHLD, sig_w)?;
        let sigchld = File::from(OwnedFd::from(sig_r));
        poll.registry().register(
            &mut SourceFd(&sigchld.as_raw_fd()),
            SIGCHLD_PIPE,
            Interest::READABLE,
        )?;

        let log = match &opts.log_path {
            Some(p) => Some(
                LogWriter::open_rotating(p, opts.log_rotate)
                    .with_context(|| format!("open log {}", p.display()))?,
            ),
            None => None,
        };
        let mut server = Server {
            poll,
            listener,
            sigchld,
            opts,
            spec,
            bundle,
            log,
            outputs: HashMap::new(),
            procs: HashMap::new(),
            conns: HashMap::new(),
            next_token: FIRST_DYNAMIC,
            init_pid: 0,
            cgroup: None,
            exit: None,
            finished_at: None,
            orphans: HashMap::new(),
            ns_refs: Vec::new(),
            exec_ctx: None,
        };
        let initial = match initial_stream {
            Some(fd) => {
                let s = std::os::unix::net::UnixStream::from(fd);
                s.set_nonblocking(true)?;
                Some(server.add_conn(UnixStream::from_std(s))?)
            }
            None => None,
        };

        let (child_stdio, stdio) = make_stdio(
            server.opts.tty,
            server.opts.open_stdin,
            server.opts.initial_size,
        )?;
        let rootfs = server
            .opts
            .rootfs
            .as_ref()
            .map(|r| berth_runtime::RootfsMount {
                fstype: r.fstype.clone(),
                source: r.source.clone(),
                data: r.data.clone(),
                chdir: r.chdir.clone(),
            });
        let mut prepare = |pid: i32| -> Result<(), String> {
            if server.opts.net_handshake {
                await_daemon(pid)
            } else {
                Ok(())
            }
        };
        let started = berth_runtime::create_and_start_with(
            &server.spec,
            rootfs.as_ref(),
            child_stdio,
            &mut prepare,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let stdio = match stdio.with_master(started.pty_master) {
            Ok(s) => s,
            Err(e) => {
                // Nobody could ever see its output: do not leave it running.
                let _ = kill(started.pid, libc::SIGKILL);
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(started.pid), None);
                return Err(anyhow::Error::new(e).context("container terminal"));
            }
        };
        server.init_pid = started.pid;
        server.ns_refs = ["mnt", "ipc", "uts", "pid"]
            .iter()
            .filter_map(|ns| File::open(format!("/proc/{}/ns/{ns}", started.pid)).ok())
            .collect();
        if let Some(path) = server
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().clone())
        {
            server.cgroup = berth_cgroups::Cgroup::open(&path.to_string_lossy()).ok();
        }
        server.add_proc(started.pid, true, stdio.stdin, stdio.pty, stdio.outputs)?;
        if let Some(tok) = initial {
            server.subscribe(tok, started.pid);
        }
        Ok(server)
    }

    pub fn init_pid(&self) -> i32 {
        self.init_pid
    }

    fn token(&mut self) -> Token {
        let t = Token(self.next_token);
        self.next_token += 1;
        t
    }

    fn add_conn(&mut self, mut sock: UnixStream) -> std::io::Result<Token> {
        let tok = self.token();
        self.poll
            .registry()
            .register(&mut sock, tok, Interest::READABLE)?;
        self.conns.insert(
            tok,
            Conn {
                sock,
                state: ConnState::Handshake,
                inbuf: Vec::new(),
                out: Vec::new(),
                writable_registered: false,
            },
        );
        Ok(tok)
    }

    fn add_proc(
        &mut self,
        pid: i32,
        is_init: bool,
        stdin: Option<File>,
        pty: Option<File>,
        outputs: Vec<(File, u8)>,
    ) -> std::io::Result<()> {
        let n = outputs.len();
        for (file, kind) in outputs {
            let tok = self.token();
            self.poll.registry().register(
                &mut SourceFd(&file.as_raw_fd()),
                tok,
                Interest::READABLE,
            )?;
            self.outputs.insert(
                tok,
                Output {
                    file,
                    kind,
                    owner: pid,
                    paused: false,
                },
            );
        }
        self.procs.insert(
            pid,
            Proc {
                stdin,
                pty,
                open_outputs: n,
                status: None,
                subscribers: Vec::new(),
                is_init,
                reaped_at: None,
            },
        );
        Ok(())
    }

    fn subscribe(&mut self, conn: Token, pid: i32) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Stream { pid };
        }
        if let Some(p) = self.procs.get_mut(&pid) {
            p.subscribers.push(conn);
        }
    }

    /// Runs until the container has exited and its streams took their last frames.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let mut events = Events::with_capacity(64);
        // A child may have exited before the SIGCHLD pipe existed.
        self.reap();
        self.check_done();
        loop {
            if let Some(t) = self.finished_at {
                let flushed = self.conns.values().all(|c| c.out.is_empty());
                let no_streams = !self
                    .conns
                    .values()
                    .any(|c| matches!(c.state, ConnState::Stream { .. }));
                if (flushed && no_streams) || t.elapsed() > LINGER {
                    return Ok(());
                }
            }
            let timeout = if self.finished_at.is_some() || self.draining() {
                Some(Duration::from_millis(50))
            } else {
                None
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    SIGCHLD_PIPE => {
                        let mut buf = [0u8; 64];
                        while matches!(self.sigchld.read(&mut buf), Ok(n) if n > 0) {}
                        self.reap();
                    }
                    tok if self.outputs.contains_key(&tok) => self.pump(tok),
                    tok => {
                        if ev.is_writable() {
                            self.flush_conn(tok);
                        }
                        if ev.is_readable() || ev.is_read_closed() {
                            self.read_conn(tok);
                        }
                    }
                }
            }
            self.check_drain_grace();
            self.check_done();
        }
    }

    fn draining(&self) -> bool {
        self.procs
            .values()
            .any(|p| p.status.is_some() && p.open_outputs > 0)
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    let _ = self.add_conn(sock);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => return,
            }
        }
    }

    /// Reads a process's output until it would block, fanning it out.
    fn pump(&mut self, tok: Token) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Some(out) = self.outputs.get_mut(&tok) else {
                return;
            };
            let owner = out.owner;
            let kind = out.kind;
            // Backpressure: leave data in the pipe while a reader is behind.
            let behind = self
                .procs
                .get(&owner)
                .map(|p| {
                    p.subscribers
                        .iter()
                        .any(|c| self.conns.get(c).is_some_and(|c| c.out.len() > HIGH_WATER))
                })
                .unwrap_or(false);
            if behind {
                out.paused = true;
                return;
            }
            out.paused = false;
            match out.file.read(&mut buf) {
                Ok(0) => return self.close_output(tok),
                Ok(n) => self.deliver(owner, kind, &buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // The pipe ran dry: make what was read visible to `logs`
                    // now; batching until here keeps chatty containers cheap.
                    if let Some(log) = self.log.as_mut() {
                        let _ = log.flush();
                    }
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // EIO: the pty's last slave closed.
                Err(_) => return self.close_output(tok),
            }
        }
    }

    fn deliver(&mut self, pid: i32, kind: u8, data: &[u8]) {
        let Some(p) = self.procs.get(&pid) else {
            return;
        };
        if p.is_init {
            if let Some(log) = self.log.as_mut() {
                let stream = if kind == FRAME_STDERR {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                };
                let _ = log.write(stream, data);
            }
        }
        let subs = p.subscribers.clone();
        for c in subs {
            self.send(c, kind, data);
        }
    }

    fn send(&mut self, tok: Token, kind: u8, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&tok) else {
            return;
        };
        c.out.extend_from_slice(&frame_header(kind, data.len()));
        c.out.extend_from_slice(data);
        self.flush_conn(tok);
    }

    fn flush_conn(&mut self, tok: Token) {
        let Some(c) = self.conns.get_mut(&tok) else {
            return;
        };
        let mut broken = false;
        while !c.out.is_empty() {
            match c.sock.write(&c.out) {
                Ok(0) => {
                    broken = true;
                    break;
                }
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        if broken {
            self.drop_conn(tok);
            return;
        }
        let want_write = !c.out.is_empty();
        if want_write != c.writable_registered {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let _ = self.poll.registry().reregister(&mut c.sock, tok, interest);
            c.writable_registered = want_write;
        }
        if !want_write {
            if matches!(c.state, ConnState::Closing) {
                self.drop_conn(tok);
                return;
            }
            self.resume_paused();
        }
    }

    fn resume_paused(&mut self) {
        let paused: Vec<Token> = self
            .outputs
            .iter()
            .filter(|(_, o)| o.paused)
            .map(|(t, _)| *t)
            .collect();
        for t in paused {
            self.pump(t);
        }
    }

    fn close_output(&mut self, tok: Token) {
        if let Some(out) = self.outputs.remove(&tok) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&out.file.as_raw_fd()));
            if let Some(p) = self.procs.get_mut(&out.owner) {
                p.open_outputs = p.open_outputs.saturating_sub(1);
            }
        }
    }

    fn drop_conn(&mut self, tok: Token) {
        if let Some(mut c) = self.conns.remove(&tok) {
            let _ = self.poll.registry().deregister(&mut c.sock);
            if let ConnState::Stream { pid } = c.state {
                if let Some(p) = self.procs.get_mut(&pid) {
                    p.subscribers.retain(|t| *t != tok);
                }
            }
        }
        self.resume_paused();
    }

    fn read_conn(&mut self, tok: Token) {
        let mut buf = [0u8; 16 * 1024];
        let mut eof = false;
        loop {
            let Some(c) = self.conns.get_mut(&tok) else {
                return;
            };
            match c.sock.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    eof = true;
                    break;
                }
            }
        }
        self.process_input(tok);
        if eof {
            self.drop_conn(tok);
        }
    }

    fn process_input(&mut self, tok: Token) {
        loop {
            let Some(c) = self.conns.get_mut(&tok) else {
                return;
            };
            match c.state {
                ConnState::Handshake => {
                    let Some(pos) = c.inbuf.iter().position(|&b| b == b'\n') else {
                        return;
                    };
                    let line: Vec<u8> = c.inbuf.drain(..=pos).collect();
                    match serde_json::from_slice::<Request>(&line) {
                        Ok(req) => self.handle_request(tok, req),
                        Err(e) => self.reply(
                            tok,
                            Reply {
                                error: Some(format!("bad request: {e}")),
                                ..Default::default()
                            },
                        ),
                    }
                }
                ConnState::Stream { pid } => {
                    if c.inbuf.len() < HEADER_LEN {
                        return;
                    }
                    let mut h = [0u8; HEADER_LEN];
                    h.copy_from_slice(&c.inbuf[..HEADER_LEN]);
                    let (kind, len) = parse_header(&h);
                    if c.inbuf.len() < HEADER_LEN + len {
                        return;
                    }
                    let payload: Vec<u8> =
                        c.inbuf.drain(..HEADER_LEN + len).skip(HEADER_LEN).collect();
                    self.stream_frame(pid, kind, &payload);
                }
                ConnState::Closing => {
                    c.inbuf.clear();
                    return;
                }
            }
        }
    }

    fn stream_frame(&mut self, pid: i32, kind: u8, payload: &[u8]) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        match kind {
            FRAME_STDIN => {
                // Blocking write: stdin pipes are left blocking on purpose so
                // input is never dropped (a terminal master, nonblocking
                // because its reader shares it, is waited on); a container
                // that never reads its stdin stalls only its own attach stream.
                if let Some(w) = p.stdin.as_mut() {
                    if write_all_waiting(w, payload).is_err() {
                        p.stdin = None;
                    }
                }
            }
            FRAME_STDIN_CLOSE => {
                // A client leaving closes the init's stdin only with StdinOnce
                // (`run -i`); `attach` to a `-dit` container must not end it.
                if p.is_init && !self.opts.stdin_once {
                    return;
                }
                if p.pty.is_some() {
                    // A terminal has no end of file; send EOT like a user typing ^D.
                    if let Some(w) = p.stdin.as_mut() {
                        let _ = w.write_all(&[4]);
                    }
                } else {
                    p.stdin = None;
                }
            }
            FRAME_RESIZE => {
                if let (Ok(ws), Some(pty)) =
                    (serde_json::from_slice::<WinSize>(payload), p.pty.as_ref())
                {
                    resize(pty, ws);
                }
            }
            _ => {}
        }
    }

    fn reply(&mut self, tok: Token, reply: Reply) {
        let Some(c) = self.conns.get_mut(&tok) else {
            return;
        };
        if let Ok(mut line) = serde_json::to_vec(&reply) {
            line.push(b'\n');
            c.out.extend_from_slice(&line);
        }
        c.state = ConnState::Closing;
        self.flush_conn(tok);
    }

    fn handle_request(&mut self, tok: Token, req: Request) {
        match req {
            Request::Stream => {
                if let Some(exit) = self.exit.clone() {
                    self.subscribe(tok, self.init_pid);
                    self.send_exit(tok, &exit);
                } else {
                    self.subscribe(tok, self.init_pid);
                }
            }
            Request::Kill { signal } => {
                let error = if self.exit.is_some() {
                    Some("container is not running".to_string())
                } else {
                    kill(self.init_pid, signal).err()
                };
                self.reply(
                    tok,
                    Reply {
                        error,
                        ..Default::default()
                    },
                );
            }
            Request::Resize(ws) => {
                if let Some(pty) = self.procs.get(&self.init_pid).and_then(|p| p.pty.as_ref()) {
                    resize(pty, ws);
                }
                self.reply(tok, Reply::default());
            }
            Request::State => {
                let reply = Reply {
                    pid: Some(self.init_pid),
                    exit: self.exit.clone(),
                    error: None,
                };
                self.reply(tok, reply);
            }
            Request::Exec(req) => self.start_exec(tok, req),
        }
    }

    fn start_exec(&mut self, tok: Token, req: Box<ExecRequest>) {
        if self.exit.is_some() {
            return self.exec_failed(tok, "container is not running".into());
        }
        let tty = req.process.terminal().unwrap_or(false);
        let (child_stdio, stdio) = match make_stdio(tty, req.stdin, None) {
            Ok(s) => s,
            Err(e) => return self.exec_failed(tok, format!("exec stdio: {e}")),
        };
        match self.run_exec(&req.process, child_stdio) {
            Ok(started) => {
                let stdio = match stdio.with_master(started.pty_master) {
                    Ok(s) => s,
                    Err(e) => {
                        // Its reaping is left to the SIGCHLD path like any exec.
                        let _ = kill(started.pid, libc::SIGKILL);
                        return self.exec_failed(tok, format!("exec terminal: {e}"));
                    }
                };
                if let Err(e) =
                    self.add_proc(started.pid, false, stdio.stdin, stdio.pty, stdio.outputs)
                {
                    return self.exec_failed(tok, format!("exec: {e}"));
                }
                self.subscribe(tok, started.pid);
                let payload = format!("{{\"pid\":{}}}", started.pid);
                self.send(tok, FRAME_STARTED, payload.as_bytes());
                // It may have been reaped already (fast exit before we knew its pid).
                self.reap();
            }
            Err(e) => self.exec_failed(tok, e.to_string()),
        }
    }

    /// Starts `process` in the container through the exec context, made
    /// by the first exec for the current init.
    fn run_exec(
        &mut self,
        process: &oci_spec::runtime::Process,
        stdio: berth_runtime::Stdio,
    ) -> Result<berth_runtime::Started, berth_runtime::RuntimeError> {
        // The init may have exited with its SIGCHLD not handled yet: the
        // context must not outlive it (reaping drops it).
        self.reap();
        let init_running = self
            .procs
            .get(&self.init_pid)
            .is_some_and(|p| p.status.is_none());
        if !init_running {
            // As before contexts: fails on the init's namespaces.
            self.exec_ctx = None;
            return berth_runtime::exec(self.init_pid, &self.spec, process, stdio);
        }
        if self
            .exec_ctx
            .as_ref()
            .is_some_and(|c| c.init_pid() != self.init_pid)
        {
            self.exec_ctx = None;
        }
        let ctx = match self.exec_ctx.take() {
            Some(ctx) => ctx,
            None => berth_runtime::ExecContext::new(self.init_pid, &self.spec)?,
        };
        let started = ctx.exec(process, stdio);
        self.exec_ctx = Some(ctx);
        started
    }

    fn exec_failed(&mut self, tok: Token, msg: String) {
        self.send(tok, FRAME_ERROR, msg.as_bytes());
        if let Some(c) = self.conns.get_mut(&tok) {
            c.state = ConnState::Closing;
        }
        self.flush_conn(tok);
    }

    fn reap(&mut self) {
        use nix::sys::wait::{waitpid, WaitPidFlag};
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) => {
                    if let Some((pid, code)) = exit_code(status) {
                        if pid == self.init_pid {
                            // Before the exit is reported (see `exec_ctx`).
                            self.exec_ctx = None;
                        }
                        if let Some(p) = self.procs.get_mut(&pid) {
                            p.status = Some(code);
                            p.reaped_at = Some(Instant::now());
                        } else {
                            self.orphans.insert(pid, code);
                        }
                    }
                }
            }
        }
        // An exec whose exit we saw before we learnt its pid.
        let known: Vec<i32> = self
            .orphans
            .keys()
            .copied()
            .filter(|pid| self.procs.contains_key(pid))
            .collect();
        for pid in known {
            if let (Some(code), Some(p)) = (self.orphans.remove(&pid), self.procs.get_mut(&pid)) {
                p.status = Some(code);
                p.reaped_at = Some(Instant::now());
            }
        }
    }

    /// After init died, output pipes may still be held open by processes
    /// outside its pid namespace (e.g. `--pid host`); kill them after a grace.
    fn check_drain_grace(&mut self) {
        let Some(p) = self.procs.get(&self.init_pid) else {
            return;
        };
        if p.open_outputs > 0 && p.reaped_at.is_some_and(|t| t.elapsed() > DRAIN_GRACE) {
            if let Some(cg) = &self.cgroup {
                let _ = cg.kill_all(libc::SIGKILL);
            }
            let toks: Vec<Token> = self
                .outputs
                .iter()
                .filter(|(_, o)| o.owner == self.init_pid)
                .map(|(t, _)| *t)
                .collect();
            for t in toks {
                self.pump(t);
                self.close_output(t);
            }
        }
    }

    fn check_done(&mut self) {
        let done: Vec<i32> = self
            .procs
            .iter()
            .filter(|(_, p)| p.status.is_some() && p.open_outputs == 0)
            .map(|(pid, _)| *pid)
            .collect();
        for pid in done {
            let Some(p) = self.procs.remove(&pid) else {
                continue;
            };
            let code = p.status.unwrap_or(0);
            if p.is_init {
                self.finish_init(code, p.subscribers);
            } else {
                let exit = ExitStatus {
                    code,
                    oom_killed: false,
                    finished_at: crate::logfile::timestamp(),
                };
                for tok in p.subscribers {
                    self.send_exit(tok, &exit);
                }
            }
        }
    }

    fn finish_init(&mut self, code: i32, subscribers: Vec<Token>) {
        self.exec_ctx = None;
        if let Some(log) = self.log.as_mut() {
            let _ = log.flush_partial();
        }
        let oom_killed = self
            .cgroup
            .as_ref()
            .and_then(|cg| cg.oom_kill_count().ok())
            .is_some_and(|n| n > 0);
        if let Some(cg) = self.cgroup.take() {
            // With its own pid namespace the container is already empty once
            // init is gone; the freeze-and-kill sweep costs tens of
            // milliseconds, so only pay it when something is left (--pid host).
            if cg.pids().map(|p| !p.is_empty()).unwrap_or(true) {
                let _ = cg.kill_all(libc::SIGKILL);
            }
            let _ = cg.destroy();
        }
        let exit = ExitStatus {
            code,
            oom_killed,
            finished_at: crate::logfile::timestamp(),
        };
        if let Ok(data) = serde_json::to_vec(&exit) {
            let _ = bundle::write_atomic(&bundle::exit_path(&self.bundle), &data);
        }
        self.exit = Some(exit.clone());
        for tok in subscribers {
            self.send_exit(tok, &exit);
        }
        self.finished_at = Some(Instant::now());
        // Everyone has been told; now let the kernel take the namespaces down.
        self.ns_refs.clear();
    }

    fn send_exit(&mut self, tok: Token, exit: &ExitStatus) {
        if let Ok(data) = serde_json::to_vec(exit) {
            self.send(tok, FRAME_EXIT, &data);
        }
        if let Some(c) = self.conns.get_mut(&tok) {
            c.state = ConnState::Closing;
        }
        self.flush_conn(tok);
    }

    pub fn bundle(&self) -> &Path {
        &self.bundle
    }
}

fn kill(pid: i32, signal: i32) -> Result<(), String> {
    let sig = nix::sys::signal::Signal::try_from(signal)
        .map_err(|e| format!("invalid signal {signal}: {e}"))?;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
        .map_err(|e| format!("kill {pid}: {e}"))
}

/// `write_all` that, on a nonblocking fd, waits for room instead of failing.
fn write_all_waiting(w: &mut File, mut buf: &[u8]) -> std::io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(w.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn resize(pty: &File, ws: WinSize) {
    let w = libc::winsize {
        ws_row: ws.height,
        ws_col: ws.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own for the duration of the call.
    unsafe {
        libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &w);
    }
}
