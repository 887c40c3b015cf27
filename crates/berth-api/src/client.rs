//! HTTP client for the Engine API over a unix socket, TCP or ssh.
//!
//! One connection per request keeps the client simple and matches the CLI's use:
//! a command makes a handful of calls. Hijacked streams (attach/exec) need their
//! own connection anyway.

use std::io;
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_util::io::{ReaderStream, StreamReader};

use crate::error::Error;
use crate::ssh::{self, SshHost, SshStream};
use crate::tls::TlsConnector;

/// Highest API version this client speaks.
pub const API_VERSION: &str = "1.47";

/// Request body type used by the client.
pub type Body = BoxBody<Bytes, io::Error>;

/// An empty request body.
pub fn empty_body() -> Body {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed()
}

/// A JSON request body.
pub fn json_body<T: Serialize + ?Sized>(value: &T) -> Result<Body, Error> {
    let bytes = serde_json::to_vec(value)?;
    Ok(Full::new(Bytes::from(bytes))
        .map_err(|e| match e {})
        .boxed())
}

/// A request body streamed from a reader (tar uploads, stdin).
pub fn reader_body<R: AsyncRead + Send + Sync + 'static>(reader: R) -> Body {
    let stream = ReaderStream::new(reader).map_ok(Frame::data);
    BodyExt::boxed(StreamBody::new(stream))
}

/// Where the daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    /// `host:port`
    Tcp(String),
    /// `ssh://[user@]host[:port][/socket]`: each connection is an ssh process.
    Ssh(SshHost),
}

impl Host {
    /// Parses `unix:///path`, `tcp://host:port` (or `host:port`) and
    /// `ssh://[user@]host[:port][/socket]`, like DOCKER_HOST.
    pub fn parse(s: &str) -> Result<Host, Error> {
        if s.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("ssh://")) {
            return Ok(Host::Ssh(SshHost::parse(s)?));
        }
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(Error::InvalidHost(s.to_string()));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        let rest = s
            .strip_prefix("tcp://")
            .or_else(|| s.strip_prefix("http://"))
            .unwrap_or(s);
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains("://") {
            return Err(Error::InvalidHost(s.to_string()));
        }
        if rest.contains(':') {
            Ok(Host::Tcp(rest.to_string()))
        } else {
            // Docker's default TCP port.
            Ok(Host::Tcp(format!("{rest}:2375")))
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
            Host::Ssh(h) => write!(f, "{h}"),
        }
    }
}

/// Builds URL query strings (`?a=1&b=x`), skipping nothing: callers add what they mean.
#[derive(Default)]
pub struct Query {
    ser: Option<form_urlencoded::Serializer<'static, String>>,
}

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `key=value`.
    pub fn add(mut self, key: &str, value: impl AsRef<str>) -> Self {
        self.ser
            .get_or_insert_with(|| form_urlencoded::Serializer::new(String::new()))
            .append_pair(key, value.as_ref());
        self
    }

    /// Appends `key=value` only when `value` is Some.
    pub fn opt(self, key: &str, value: Option<impl AsRef<str>>) -> Self {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    /// Appends `key=1` only when `flag` is set (Docker's boolean query style).
    pub fn flag(self, key: &str, flag: bool) -> Self {
        if flag {
            self.add(key, "1")
        } else {
            self
        }
    }

    /// `?...` or "" when empty.
    pub fn build(mut self) -> String {
        match self.ser.as_mut() {
            Some(s) => format!("?{}", s.finish()),
            None => String::new(),
        }
    }
}

/// Boxed bidirectional byte stream of a hijacked connection.
pub trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// Engine API client.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    version: String,
    /// `X-Registry-Auth` sent with every request (pull, push, search).
    registry_auth: Option<String>,
    /// TLS on TCP connections (`--tls`/`--tlsverify`); unix sockets and ssh
    /// never use it (docker ignores TLS settings for ssh hosts too).
    tls: Option<TlsConnector>,
}

impl Client {
    /// A client for `host`, speaking [`API_VERSION`] until [`Client::negotiate`] says otherwise.
    pub fn new(host: Host) -> Self {
        Client {
            host,
            version: API_VERSION.to_string(),
            registry_auth: None,
            tls: None,
        }
    }

    /// A copy of this client that speaks TLS on TCP connections.
    pub fn with_tls(self, tls: TlsConnector) -> Client {
        Client {
            tls: Some(tls),
            ..self
        }
    }

    /// A copy of this client that sends `X-Registry-Auth: <value>`.
    pub fn with_registry_auth(&self, value: String) -> Client {
        Client {
            registry_auth: Some(value),
            ..self.clone()
        }
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// API version in use (without the `v`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// GET /_ping and lower our API version to the server's if it is older.
    pub async fn negotiate(&mut self) -> Result<(), Error> {
        let resp = self
            .send(Method::GET, "/_ping".to_string(), empty_body(), None, false)
            .await?;
        let server = resp
            .headers()
            .get("API-Version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let resp = check(resp).await?;
        drop(resp);
        if let Some(server) = server {
            if version_lt(&server, API_VERSION) {
                self.version = server;
            }
        }
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("/v{}{}", self.version, path)
    }

    /// A raw connection to the daemon, the kind each request gets (what
    /// `system dial-stdio` relays).
    pub async fn dial(&self) -> Result<Box<dyn Duplex>, Error> {
        let connect_err = |source| Error::Connect {
            host: self.host.to_string(),
            source,
        };
        match &self.host {
            Host::Ssh(h) => match SshStream::connect(h) {
                Ok(stream) => Ok(Box::new(stream)),
                Err(source) => Err(Error::Ssh {
                    request: None,
                    source,
                }),
            },
            Host::Unix(p) => Ok(Box::new(UnixStream::connect(p).await.map_err(connect_err)?)),
            Host::Tcp(a) => {
                let tcp = TcpStream::connect(a).await.map_err(connect_err)?;
                match &self.tls {
                    Some(tls) => Ok(Box::new(tls.connect(a, tcp).await?)),
                    None => Ok(Box::new(tcp)),
                }
            }
        }
    }

    /// Sends one request on a fresh connection and returns the raw response.
    async fn send(
        &self,
        method: Method,
        url: String,
        body: Body,
        content_type: Option<&str>,
        upgrade: bool,
    ) -> Result<Response<Incoming>, Error> {
        let request = go_request_name(&method, self.http_host(), &url);
        let io = self.dial().await.map_err(|e| match e {
            Error::Ssh { source, .. } => Error::Ssh {
                request: Some(request.clone()),
                source,
            },
            e => e,
        })?;
        let (mut sender, conn) = http1::handshake(TokioIo::new(io)).await?;
        // send_request only learns that the connection died; the connection task
        // knows why, which matters for TLS (with TLS 1.3 the daemon refuses a client
        // certificate after the handshake looks done to us).
        let (conn_err_tx, conn_err_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                let _ = conn_err_tx.send(e);
            }
        });
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header(HOST, self.http_host())
            .header(hyper::header::USER_AGENT, "berth-cli");
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        if let Some(a) = &self.registry_auth {
            req = req.header("X-Registry-Auth", a.as_str());
        }
        if upgrade {
            req = req
                .header(CONNECTION, HeaderValue::from_static("Upgrade"))
                .header(UPGRADE, HeaderValue::from_static("tcp"));
        }
        let req = req.body(body)?;
        match sender.send_request(req).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                // hyper puts the cause on the request's error or on the connection's,
                // depending on who saw it first.
                if let Some(err) = self.transport_failure(&e, &request) {
                    return Err(err);
                }
                if self.tls.is_some() || matches!(self.host, Host::Ssh(_)) {
                    // Bounded: a connection that is somehow still up must not hang the caller.
                    let conn_err =
                        tokio::time::timeout(std::time::Duration::from_secs(1), conn_err_rx).await;
                    if let Ok(Ok(conn_err)) = conn_err {
                        if let Some(err) = self.transport_failure(&conn_err, &request) {
                            return Err(err);
                        }
                    }
                }
                Err(e.into())
            }
        }
    }

    /// The `Host` header: docker's placeholders where there is no host name.
    fn http_host(&self) -> &str {
        match &self.host {
            Host::Unix(_) => "api.moby.localhost",
            Host::Tcp(a) => a,
            Host::Ssh(_) => ssh::HTTP_HOST,
        }
    }

    /// What the transport says about a request that got no answer, when it has
    /// something to say: the TLS refusal, or the ssh command's failure.
    fn transport_failure(&self, err: &hyper::Error, request: &str) -> Option<Error> {
        match &self.host {
            Host::Ssh(_) => ssh_failure(err).map(|source| Error::Ssh {
                request: Some(request.to_string()),
                source,
            }),
            _ if self.tls.is_some() => tls_failure(err).map(|source| Error::Handshake {
                host: self.host.to_string(),
                source,
            }),
            _ => None,
        }
    }

    /// Sends a request to a versioned path; error statuses become [`Error::Daemon`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>, Error> {
        let ct = match (&body, content_type) {
            (_, Some(ct)) => Some(ct),
            (Some(_), None) => Some("application/json"),
            (None, None) => None,
        };
        let resp = self
            .send(
                method,
                self.url(path),
                body.unwrap_or_else(empty_body),
                ct,
                false,
            )
            .await?;
        check(resp).await
    }

    /// GET and decode a JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let resp = self.request(Method::GET, path, None, None).await?;
        read_json(resp).await
    }

    /// GET and return the answer's raw bytes (inspect keeps the daemon's JSON as is).
    pub async fn get_bytes(&self, path: &str) -> Result<Bytes, Error> {
        let resp = self.request(Method::GET, path, None, None).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }

    /// POST a JSON body (or none) and decode a JSON answer.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, Error> {
        let body = body.map(json_body).transpose()?;
        let resp = self.request(Method::POST, path, body, None).await?;
        read_json(resp).await
    }

    /// POST without body, ignoring the answer's body.
    pub async fn post(&self, path: &str) -> Result<(), Error> {
        let resp = self.request(Method::POST, path, None, None).await?;
        drain(resp).await
    }

    /// DELETE, ignoring the answer's body.
    pub async fn delete(&self, path: &str) -> Result<(), Error> {
        let resp = self.request(Method::DELETE, path, None, None).await?;
        drain(resp).await
    }

    /// DELETE and decode a JSON answer.
    pub async fn delete_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let resp = self.request(Method::DELETE, path, None, None).await?;
        read_json(resp).await
    }

    /// Sends a request and returns the answer body as a byte stream (logs, pull).
    pub async fn stream(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
        content_type: Option<&str>,
    ) -> Result<impl AsyncRead + Unpin + Send, Error> {
        let resp = self.request(method, path, body, content_type).await?;
        Ok(body_reader(resp))
    }

    /// POST with `Connection: Upgrade` / `Upgrade: tcp` and return the raw
    /// duplex stream once the daemon answers 101 (attach, exec start).
    pub async fn hijack(&self, path: &str, body: Option<Body>) -> Result<Box<dyn Duplex>, Error> {
        let ct = body.as_ref().map(|_| "application/json");
        let resp = self
            .send(
                Method::POST,
                self.url(path),
                body.unwrap_or_else(empty_body),
                ct,
                true,
            )
            .await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            // An error status carries the daemon's message; anything else is a protocol break.
            let status = resp.status();
            check(resp).await?;
            return Err(Error::Protocol(format!(
                "expected 101 Switching Protocols, got {status}"
            )));
        }
        let upgraded = hyper::upgrade::on(resp).await?;
        Ok(Box::new(TokioIo::new(upgraded)))
    }
}

/// The TLS error (an alert from the daemon, a bad record) behind the error of a
/// request that got no answer. With TLS 1.3 the daemon judges our certificate
/// after our side of the handshake is done, so its refusal shows up here; when
/// its reset overtakes the alert, the reset is all there is to report.
fn tls_failure(err: &hyper::Error) -> Option<io::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(c) = cause {
        if let Some(io_err) = c.downcast_ref::<io::Error>() {
            if let Some(tls) = io_err
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return Some(io::Error::new(io::ErrorKind::InvalidData, tls.clone()));
            }
            if matches!(
                io_err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ) {
                return Some(io::Error::new(
                    io_err.kind(),
                    format!("{io_err} (the daemon closed the connection; was the client certificate refused?)"),
                ));
            }
        }
        cause = c.source();
    }
    None
}

/// The ssh command's failure behind the error of a request that got no answer
/// (the ssh stream reports it as the error of its read or write).
fn ssh_failure(err: &hyper::Error) -> Option<ssh::Failure> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(c) = cause {
        if let Some(failure) = c
            .downcast_ref::<io::Error>()
            .and_then(ssh::Failure::from_io)
        {
            return Some(failure.clone());
        }
        cause = c.source();
    }
    None
}

/// A request as Go's HTTP client names it in errors: `Get "http://host/path"`.
fn go_request_name(method: &Method, host: &str, path: &str) -> String {
    let m = method.as_str();
    let op = match m.get(..1) {
        Some(first) => format!("{first}{}", m[1..].to_ascii_lowercase()),
        None => String::new(),
    };
    format!("{op} \"http://{host}{path}\"")
}

/// Turns an error status into [`Error::Daemon`] with the body's message.
async fn check(resp: Response<Incoming>) -> Result<Response<Incoming>, Error> {
    let status = resp.status();
    if status.is_success() || status.is_informational() || status.is_redirection() {
        return Ok(resp);
    }
    let body = resp.into_body().collect().await?.to_bytes();
    Err(Error::Daemon {
        status: status.as_u16(),
        message: error_message(status, &body),
    })
}

/// Extracts the message of an error body: `{"message": ...}` or plain text.
pub fn error_message(status: StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorResponse {
        message: String,
    }
    if let Ok(e) = serde_json::from_slice::<ErrorResponse>(body) {
        return e.message;
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("unknown error")
            .to_string()
    } else {
        text
    }
}

async fn read_json<T: DeserializeOwned>(resp: Response<Incoming>) -> Result<T, Error> {
    let body = resp.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}

async fn drain(resp: Response<Incoming>) -> Result<(), Error> {
    resp.into_body().collect().await?;
    Ok(())
}

fn body_reader(resp: Response<Incoming>) -> impl AsyncRead + Unpin + Send {
    let stream = resp
        .into_body()
        .into_data_stream()
        .map_err(io::Error::other);
    StreamReader::new(stream)
}

/// Compares dotted versions numerically ("1.9" < "1.47").
pub fn version_lt(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(
            Host::parse("unix:///run/berth/berth.sock").unwrap(),
            Host::Unix("/run/berth/berth.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:2375").unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Host::parse("tcp://example").unwrap(),
            Host::Tcp("example:2375".into())
        );
        assert!(Host::parse("unix://").is_err());
    }

    #[test]
    fn parses_ssh_hosts() {
        let Host::Ssh(h) = Host::parse("ssh://me@example:2222").unwrap() else {
            panic!("not an ssh host");
        };
        assert_eq!(
            (h.user.as_deref(), h.host.as_str(), h.port),
            (Some("me"), "example", Some(2222))
        );
        assert_eq!(
            Host::parse("ssh://me@example:2222").unwrap().to_string(),
            "ssh://me@example:2222"
        );
        let e = Host::parse("ssh://example?x=1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ssh host connection is not valid: invalid SSH URL: query parameters are not allowed: \"x=1\""
        );
    }

    #[test]
    fn names_requests_as_go() {
        assert_eq!(
            go_request_name(&Method::GET, "docker.example.com", "/v1.47/containers/json"),
            "Get \"http://docker.example.com/v1.47/containers/json\""
        );
        assert_eq!(
            go_request_name(&Method::DELETE, "h", "/x"),
            "Delete \"http://h/x\""
        );
    }

    #[test]
    fn builds_queries() {
        assert_eq!(Query::new().build(), "");
        let q = Query::new()
            .add("name", "a b")
            .flag("force", true)
            .flag("v", false)
            .opt("tag", Some("latest"))
            .opt("x", None::<&str>)
            .build();
        assert_eq!(q, "?name=a+b&force=1&tag=latest");
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(
                StatusCode::NOT_FOUND,
                br#"{"message":"No such container: x"}"#
            ),
            "No such container: x"
        );
        assert_eq!(error_message(StatusCode::BAD_REQUEST, b"plain\n"), "plain");
        assert_eq!(
            error_message(StatusCode::INTERNAL_SERVER_ERROR, b""),
            "Internal Server Error"
        );
    }

    #[test]
    fn compares_versions() {
        assert!(version_lt("1.9", "1.47"));
        assert!(version_lt("1.24", "1.47"));
        assert!(!version_lt("1.47", "1.47"));
        assert!(!version_lt("1.48", "1.47"));
    }
}
