//! The daemon's `-H` addresses: parsing them, opening the sockets (unix with
//! its mode and group, TCP, systemd-activated `fd://`), and serving the API
//! on plain connections. TLS on top of TCP is `tls.rs`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::os::fd::{FromRawFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::Context;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tower::ServiceExt;

/// The whole API as one cloneable service: what every listener serves.
pub type ApiService =
    tower::util::BoxCloneSyncService<axum::extract::Request, axum::response::Response, Infallible>;

/// Group that owns the unix socket when `-G` is not given (Docker's is `docker`).
pub const DEFAULT_SOCKET_GROUP: &str = "berth";

/// First descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: RawFd = 3;

/// One `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSpec {
    Unix(PathBuf),
    /// `host:port`, ready for bind.
    Tcp(String),
    /// `fd://` (None: every activated socket) or `fd://N`.
    Fd(Option<RawFd>),
}

impl HostSpec {
    /// Parses a `-H` value as dockerd does: a TCP address without a port gets
    /// 2376 when TLS is on and 2375 otherwise; without a host, `localhost`.
    pub fn parse(host: &str, tls: bool) -> anyhow::Result<HostSpec> {
        if let Some(path) = host.strip_prefix("unix://") {
            if path.is_empty() {
                anyhow::bail!("invalid host {host}: unix:// needs a socket path");
            }
            return Ok(HostSpec::Unix(PathBuf::from(path)));
        }
        if let Some(addr) = host.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            let default_port = if tls { 2376 } else { 2375 };
            let (h, p) = split_host_port(addr);
            if addr.contains('/') {
                anyhow::bail!("invalid host {host}: tcp:// takes host:port, not a path");
            }
            let h = if h.is_empty() { "localhost" } else { h };
            let port: u16 = match p {
                None | Some("") => default_port,
                Some(p) => p
                    .parse()
                    .with_context(|| format!("invalid port in host {host}"))?,
            };
            let h = if h.contains(':') && !h.starts_with('[') {
                format!("[{h}]")
            } else {
                h.to_string()
            };
            return Ok(HostSpec::Tcp(format!("{h}:{port}")));
        }
        if let Some(n) = host.strip_prefix("fd://") {
            if n.is_empty() || n == "*" {
                return Ok(HostSpec::Fd(None));
            }
            let fd = n
                .parse()
                .with_context(|| format!("invalid host {host}: fd:// takes a descriptor number"))?;
            return Ok(HostSpec::Fd(Some(fd)));
        }
        anyhow::bail!("invalid host {host}: use unix:///path, tcp://host:port or fd://")
    }
}

/// Splits `host:port`, `[v6]:port`, `host` or `:port`.
fn split_host_port(addr: &str) -> (&str, Option<&str>) {
    if let Some(rest) = addr.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            return (h, tail.strip_prefix(':'));
        }
    }
    match addr.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((h, _)) if h.contains(':') => (addr, None),
        Some((h, p)) => (h, Some(p)),
        None => (addr, None),
    }
}

/// An open listening socket, before serving.
pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// The gid for the unix sockets: `-G` must exist; the default group may be
/// missing, and then root keeps the socket (as dockerd does with `docker`).
pub fn socket_gid(group: Option<&str>) -> anyhow::Result<u32> {
    let (name, explicit) = match group {
        Some(g) => (g, true),
        None => (DEFAULT_SOCKET_GROUP, false),
    };
    // A numeric -G is a gid, as with dockerd.
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(name).with_context(|| format!("looking up group {name}"))? {
        Some(g) => Ok(g.gid.as_raw()),
        None if explicit => anyhow::bail!(
            "group {name} for the API socket does not exist (create it or pass another -G/--group)"
        ),
        None => {
            tracing::info!("group {name} not found; the API socket stays owned by root:root");
            Ok(0)
        }
    }
}

/// Binds a unix socket with mode 0660, owned by root and `gid`.
pub fn bind_unix(path: &Path, gid: u32) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
        .with_context(|| format!("giving {} to gid {gid}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(listener)
}

/// The sockets systemd passed, by `LISTEN_PID`/`LISTEN_FDS`. Each descriptor is
/// handed out once, even if `fd://` and `fd://N` both name it.
pub struct Activation {
    fds: Vec<RawFd>,
    taken: HashSet<RawFd>,
}

impl Activation {
    /// Reads the environment; an error when it does not hold sockets for us.
    pub fn from_env() -> anyhow::Result<Activation> {
        let count = std::env::var("LISTEN_FDS").map_err(|_| {
            anyhow::anyhow!(
                "fd:// needs systemd socket activation, but LISTEN_FDS is not set \
                 (start the daemon from a .socket unit)"
            )
        })?;
        let pid = std::env::var("LISTEN_PID").unwrap_or_default();
        if pid.parse::<u32>().ok() != Some(std::process::id()) {
            anyhow::bail!(
                "fd:// sockets were passed to process {pid:?}, not this one ({})",
                std::process::id()
            );
        }
        let count: RawFd = count
            .parse()
            .with_context(|| format!("invalid LISTEN_FDS {count:?}"))?;
        Ok(Activation {
            fds: (LISTEN_FDS_START..LISTEN_FDS_START + count.max(0)).collect(),
            taken: HashSet::new(),
        })
    }

    /// The listeners for `fd://` (all) or `fd://N` (that one).
    pub fn take(&mut self, which: Option<RawFd>) -> anyhow::Result<Vec<Listener>> {
        let wanted: Vec<RawFd> = match which {
            None => self.fds.clone(),
            Some(fd) if self.fds.contains(&fd) => vec![fd],
            Some(fd) => anyhow::bail!(
                "fd://{fd} was not passed by systemd (LISTEN_FDS gives {} socket(s) from fd {LISTEN_FDS_START})",
                self.fds.len()
            ),
        };
        if wanted.is_empty() {
            anyhow::bail!("fd:// given but systemd passed no sockets (LISTEN_FDS=0)");
        }
        let mut out = Vec::new();
        for fd in wanted {
            if self.taken.insert(fd) {
                out.push(adopt(fd).with_context(|| format!("using activated socket fd {fd}"))?);
            }
        }
        Ok(out)
    }
}

/// Takes ownership of an inherited listening socket, unix or TCP by its address family.
fn adopt(fd: RawFd) -> anyhow::Result<Listener> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use nix::sys::socket::{
        getsockname, getsockopt, sockopt, AddressFamily, SockaddrLike, SockaddrStorage,
    };
    // SAFETY: systemd passed this descriptor to us; from here it is owned exactly once
    // (Activation hands each fd out a single time).
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    if !getsockopt(&owned, sockopt::AcceptConn).context("not a socket")? {
        anyhow::bail!("not a listening socket");
    }
    // systemd leaves them inheritable; shims and containers must not keep the API socket.
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).context("setting close-on-exec")?;
    let family = getsockname::<SockaddrStorage>(fd)
        .context("reading the socket address")?
        .family();
    match family {
        Some(AddressFamily::Unix) => {
            let std_l = std::os::unix::net::UnixListener::from(owned);
            std_l.set_nonblocking(true)?;
            Ok(Listener::Unix(UnixListener::from_std(std_l)?))
        }
        Some(AddressFamily::Inet) | Some(AddressFamily::Inet6) => {
            let std_l = std::net::TcpListener::from(owned);
            std_l.set_nonblocking(true)?;
            Ok(Listener::Tcp(TcpListener::from_std(std_l)?))
        }
        other => anyhow::bail!("unsupported socket family {other:?} (want unix or tcp)"),
    }
}

/// Says how exposed a TCP listener is: loudly when it is off loopback and
/// nobody has to prove who they are.
pub fn warn_exposure(listener: &TcpListener, tls: Option<&crate::tls::TlsSettings>) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let loopback = addr.ip().is_loopback();
    match tls {
        Some(t) if t.verify => {
            tracing::info!("API listening on tcp://{addr} (TLS, client certificates required)")
        }
        Some(_) if loopback => tracing::info!(
            "API listening on tcp://{addr} (TLS without client authentication, loopback only)"
        ),
        Some(_) => tracing::warn!(
            "API listening on tcp://{addr} with TLS but without --tlsverify: anyone who can reach \
             this address controls the host; use --tlsverify with client certificates"
        ),
        None if loopback => {
            tracing::info!("API listening on tcp://{addr} without TLS (loopback only)")
        }
        None => tracing::warn!(
            "API listening on tcp://{addr} WITHOUT TLS: anyone who can reach this address \
             controls the host; use --tlsverify with --tlscacert/--tlscert/--tlskey"
        ),
    }
}

/// Serves HTTP/1.1 (or h2 by prior knowledge) on one accepted connection, with
/// upgrades so hijacked attach/exec streams work, as `axum::serve` does.
pub async fn serve_connection<IO>(io: IO, svc: ApiService)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let hyper_svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        svc.clone().oneshot(req.map(axum::body::Body::new))
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(io), hyper_svc)
        .await
    {
        tracing::debug!("connection closed with an error: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_like_dockerd() {
        let p = |h: &str, tls: bool| HostSpec::parse(h, tls).unwrap();
        assert_eq!(
            p("unix:///run/x.sock", false),
            HostSpec::Unix("/run/x.sock".into())
        );
        assert_eq!(
            p("tcp://127.0.0.1:1234", false),
            HostSpec::Tcp("127.0.0.1:1234".into())
        );
        assert_eq!(
            p("tcp://127.0.0.1", false),
            HostSpec::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            p("tcp://127.0.0.1", true),
            HostSpec::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(p("tcp://:99", false), HostSpec::Tcp("localhost:99".into()));
        assert_eq!(
            p("tcp://0.0.0.0:", true),
            HostSpec::Tcp("0.0.0.0:2376".into())
        );
        assert_eq!(p("tcp://[::1]:5", false), HostSpec::Tcp("[::1]:5".into()));
        assert_eq!(p("tcp://[::1]", true), HostSpec::Tcp("[::1]:2376".into()));
        assert_eq!(p("fd://", false), HostSpec::Fd(None));
        assert_eq!(p("fd://4", false), HostSpec::Fd(Some(4)));
        assert!(HostSpec::parse("unix://", false).is_err());
        assert!(HostSpec::parse("tcp://h:port", false).is_err());
        assert!(HostSpec::parse("fd://x", false).is_err());
        assert!(HostSpec::parse("ssh://h", false).is_err());
    }

    #[test]
    fn missing_default_group_falls_back_to_root() {
        assert_eq!(socket_gid(Some("0")).unwrap(), 0);
        assert_eq!(socket_gid(Some("root")).unwrap(), 0);
        let err = socket_gid(Some("no-such-group-berth-test")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
