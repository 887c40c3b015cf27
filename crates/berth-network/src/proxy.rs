//! A userland port proxy, for the published ports NAT cannot serve: a port
//! bound on the IPv6 loopback (`-p [::1]:8080:80`; the kernel never routes a
//! `::1`-sourced packet off `lo`, and IPv6 has no `route_localnet`), and an
//! IPv6 host address for a container that has only IPv4. Docker serves every
//! published port this way (docker-proxy); berth only these, in the daemon.
//!
//! TCP connections are spliced both ways; UDP keeps one connected socket
//! towards the container per client, forgotten after [`UDP_IDLE`] without
//! traffic (Docker's proxy uses the same 90 s).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::AbortHandle;

/// How long a UDP client's mapping lives without traffic.
pub const UDP_IDLE: Duration = Duration::from_secs(90);

/// A running proxy; stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    task: AbortHandle,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `listen` now (so a taken port fails the caller at once) and serves
/// it in the background, forwarding to `target`. `proto` is "tcp" or "udp".
pub fn start(listen: SocketAddr, target: SocketAddr, proto: &str) -> io::Result<Proxy> {
    let task = match proto {
        "tcp" => {
            let l = TcpListener::from_std(bind_tcp(listen)?)?;
            tokio::spawn(serve_tcp(l, target)).abort_handle()
        }
        "udp" => {
            let s = UdpSocket::from_std(bind_udp(listen)?)?;
            tokio::spawn(serve_udp(Arc::new(s), target)).abort_handle()
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the userland proxy does not carry {other}"),
            ))
        }
    };
    Ok(Proxy { task })
}

/// IPv6 sockets are made v6-only: `[::]:p` must not take the IPv4 port
/// that NAT serves.
fn socket_for(addr: SocketAddr, ty: socket2::Type) -> io::Result<socket2::Socket> {
    let s = socket2::Socket::new(socket2::Domain::for_address(addr), ty, None)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if ty == socket2::Type::STREAM {
        s.set_reuse_address(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

fn bind_tcp(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = socket_for(addr, socket2::Type::STREAM)?;
    s.listen(1024)?;
    Ok(s.into())
}

fn bind_udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    Ok(socket_for(addr, socket2::Type::DGRAM)?.into())
}

async fn serve_tcp(listener: TcpListener, target: SocketAddr) {
    loop {
        let (mut client, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("proxy to {target}: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            match TcpStream::connect(target).await {
                Ok(mut upstream) => {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
                Err(e) => tracing::debug!("proxy to {target}: {e}"),
            }
        });
    }
}

type UdpMap = Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>;

async fn serve_udp(front: Arc<UdpSocket>, target: SocketAddr) {
    let clients: UdpMap = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = match front.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(_) => continue,
        };
        let known = clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&from)
            .cloned();
        let back = match known {
            Some(s) => s,
            None => match connect_udp(target).await {
                Ok(s) => {
                    let s = Arc::new(s);
                    clients
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(from, s.clone());
                    tokio::spawn(replies(s.clone(), front.clone(), from, clients.clone()));
                    s
                }
                Err(e) => {
                    tracing::debug!("proxy to {target}: {e}");
                    continue;
                }
            },
        };
        let _ = back.send(&buf[..n]).await;
    }
}

async fn connect_udp(target: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if target.is_ipv6() {
        "[::]:0".parse().expect("literal")
    } else {
        "0.0.0.0:0".parse().expect("literal")
    };
    let s = UdpSocket::bind(local).await?;
    s.connect(target).await?;
    Ok(s)
}

/// Carries the container's answers back to `client` until the mapping has
/// been idle for [`UDP_IDLE`].
async fn replies(back: Arc<UdpSocket>, front: Arc<UdpSocket>, client: SocketAddr, map: UdpMap) {
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, back.recv(&mut buf)).await {
        if front.send_to(&buf[..n], client).await.is_err() {
            break;
        }
    }
    map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&client);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn tcp_is_spliced_both_ways_and_stops_on_drop() {
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = backend.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = backend.accept().await.unwrap();
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.unwrap();
            s.write_all(&[&b[..], b"!"].concat()).await.unwrap();
        });
        // Any free port on the IPv6 loopback.
        let probe = std::net::TcpListener::bind("[::1]:0").unwrap();
        let listen = probe.local_addr().unwrap();
        drop(probe);
        let proxy = start(listen, target, "tcp").unwrap();
        // A second proxy on the same address is refused at once.
        assert!(start(listen, target, "tcp").is_err());
        let mut c = TcpStream::connect(listen).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping!");
        drop(proxy);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(listen).await.is_err());
    }

    #[tokio::test]
    async fn udp_answers_reach_the_client() {
        let backend = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = backend.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 64];
            loop {
                let (n, from) = backend.recv_from(&mut b).await.unwrap();
                let mut answer = b[..n].to_vec();
                answer.reverse();
                backend.send_to(&answer, from).await.unwrap();
            }
        });
        let probe = std::net::UdpSocket::bind("[::1]:0").unwrap();
        let listen = probe.local_addr().unwrap();
        drop(probe);
        let _proxy = start(listen, target, "udp").unwrap();
        let c = UdpSocket::bind("[::1]:0").await.unwrap();
        c.connect(listen).await.unwrap();
        for msg in [&b"abc"[..], b"hello"] {
            c.send(msg).await.unwrap();
            let mut b = [0u8; 64];
            let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut b))
                .await
                .unwrap()
                .unwrap();
            let mut want = msg.to_vec();
            want.reverse();
            assert_eq!(&b[..n], &want[..]);
        }
    }
}
