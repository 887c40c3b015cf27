//! Ports, addresses and HTTP probes for the tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// A TCP port nobody listens on right now on `ip` (`"::1"` for IPv6).
pub fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits up to 20 seconds for `addr` to accept connections; `what` names
/// the server in the panic.
pub fn wait_for_port(addr: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not come up on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `cond` for up to 5 seconds.
pub fn eventually(cond: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// `GET /index.html` from `addr` (HTTP/1.0), retried for up to 10 seconds
/// until an answer comes.
pub fn http_get(addr: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
            write!(s, "GET /index.html HTTP/1.0\r\n\r\n").ok()?;
            let mut out = String::new();
            if s.read_to_string(&mut out).is_ok() && !out.is_empty() {
                return Some(out);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A non-loopback address on `lo` for the test's lifetime.
pub struct HostAddr(String);

impl HostAddr {
    pub fn add(ip: &str) -> HostAddr {
        let _ = Command::new("ip")
            .args(["addr", "del", &format!("{ip}/32"), "dev", "lo"])
            .output();
        let out = Command::new("ip")
            .args(["addr", "add", &format!("{ip}/32"), "dev", "lo"])
            .output()
            .unwrap();
        assert!(out.status.success(), "ip addr add: {out:?}");
        HostAddr(ip.to_string())
    }
}

impl Drop for HostAddr {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["addr", "del", &format!("{}/32", self.0), "dev", "lo"])
            .output();
    }
}
