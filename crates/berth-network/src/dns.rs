//! The embedded DNS server of user-defined networks. One UDP socket per
//! container, opened inside the container's network namespace on
//! 127.0.0.11:53 (Docker's address), so the container's resolv.conf is the
//! same as with Docker and the server knows who asks without a lookup.
//! Names of the container's networks are answered here; anything else is
//! relayed to the host's resolvers.

use crate::error::{NetError, Result};
use crate::netns;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{rdata::A, rdata::AAAA, RData, Record, RecordType};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub const RESOLVER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Resolves a name (lower case, no trailing dot) for one container: None if
/// the name is not one of its networks'. IPv4 addresses answer A queries,
/// IPv6 ones (networks with IPv6) AAAA queries.
pub type Lookup = Arc<dyn Fn(&str) -> Option<Vec<IpAddr>> + Send + Sync>;

/// Binds 127.0.0.11:53 in the namespace at `ns`.
pub fn bind_in(ns: &Path) -> Result<std::net::UdpSocket> {
    netns::run_in(ns, || {
        let s = std::net::UdpSocket::bind((RESOLVER_IP, 53))?;
        s.set_nonblocking(true)?;
        Ok(s)
    })?
    .map_err(|e: std::io::Error| NetError::io("binding the DNS server on 127.0.0.11:53", e))
}

/// Serves queries on `sock` until the task is aborted.
pub fn serve(
    sock: std::net::UdpSocket,
    lookup: Lookup,
    upstreams: Vec<SocketAddr>,
) -> Result<tokio::task::JoinHandle<()>> {
    let sock =
        Arc::new(tokio::net::UdpSocket::from_std(sock).map_err(|e| NetError::io("DNS socket", e))?);
    let upstreams = Arc::new(upstreams);
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            // A receive error on a UDP socket is about one datagram: log it
            // and serve on, rather than leave the container without DNS.
            let (n, peer) = match sock.recv_from(&mut buf).await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("embedded DNS server: receiving a query: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let query = buf[..n].to_vec();
            match answer(&query, &lookup) {
                Some(reply) => {
                    let _ = sock.send_to(&reply, peer).await;
                }
                None => {
                    let (sock, ups) = (sock.clone(), upstreams.clone());
                    tokio::spawn(async move {
                        let reply = relay(&query, &ups)
                            .await
                            .or_else(|| failure(&query, ResponseCode::ServFail));
                        if let Some(r) = reply {
                            let _ = sock.send_to(&r, peer).await;
                        }
                    });
                }
            }
        }
    }))
}

/// The reply for a query about one of our names; None to relay it.
pub fn answer(query: &[u8], lookup: &Lookup) -> Option<Vec<u8>> {
    let req = match Message::from_vec(query) {
        Ok(m) => m,
        // Unparsable: a FORMERR if at least the ID is there.
        Err(_) => return failure(query, ResponseCode::FormErr),
    };
    let q = req.queries().first()?.clone();
    let name = q
        .name()
        .to_utf8()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let ips = lookup(&name)?;
    let mut resp = Message::new();
    resp.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(req.recursion_desired())
        .set_recursion_available(true)
        .add_query(q.clone());
    if ips.is_empty() {
        resp.set_response_code(ResponseCode::NXDomain);
    } else {
        for ip in ips {
            let rdata = match (q.query_type(), ip) {
                (RecordType::A, IpAddr::V4(ip)) => RData::A(A(ip)),
                (RecordType::AAAA, IpAddr::V6(ip)) => RData::AAAA(AAAA(ip)),
                _ => continue,
            };
            resp.add_answer(Record::from_rdata(q.name().clone(), 600, rdata));
        }
    }
    resp.to_vec().ok()
}

/// A bare error reply echoing the query's ID and question.
fn failure(query: &[u8], code: ResponseCode) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut r = query[..12].to_vec();
    r[2] = 0x80 | (query[2] & 0x01); // QR, keep RD
    r[3] = 0x80 | (u16::from(code) as u8 & 0x0f); // RA + rcode
    r[4..12].fill(0);
    Some(r)
}

async fn relay(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let Ok(s) = tokio::net::UdpSocket::bind(bind).await else {
            continue;
        };
        if s.send_to(query, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_secs(3), s.recv_from(&mut buf)).await
        {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// The host's resolvers (from its resolv.conf) the server relays to.
pub fn host_upstreams() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use std::str::FromStr;

    fn query(name: &str, t: RecordType) -> Vec<u8> {
        let mut m = Message::new();
        m.set_id(7).set_recursion_desired(true);
        m.add_query(Query::query(Name::from_str(name).unwrap(), t));
        m.to_vec().unwrap()
    }

    #[test]
    fn answers_known_names_and_relays_others() {
        let lookup: Lookup =
            Arc::new(|n: &str| (n == "srv").then(|| vec![Ipv4Addr::new(10, 200, 0, 2).into()]));
        let r =
            Message::from_vec(&answer(&query("SRV.", RecordType::A), &lookup).unwrap()).unwrap();
        assert_eq!(r.id(), 7);
        assert_eq!(r.answers().len(), 1);
        assert_eq!(
            r.answers()[0].data(),
            Some(&RData::A(A(Ipv4Addr::new(10, 200, 0, 2))))
        );
        let r =
            Message::from_vec(&answer(&query("srv.", RecordType::AAAA), &lookup).unwrap()).unwrap();
        assert_eq!(r.response_code(), ResponseCode::NoError);
        assert!(r.answers().is_empty());
        assert!(answer(&query("example.com.", RecordType::A), &lookup).is_none());
        // A dual-stack name: A and AAAA each get their own family.
        let v6: std::net::Ipv6Addr = "fd00:db8:1::2".parse().unwrap();
        let dual: Lookup = Arc::new(move |n: &str| {
            (n == "srv").then(|| vec![Ipv4Addr::new(10, 200, 0, 2).into(), v6.into()])
        });
        let r =
            Message::from_vec(&answer(&query("srv.", RecordType::AAAA), &dual).unwrap()).unwrap();
        assert_eq!(r.answers().len(), 1);
        assert_eq!(r.answers()[0].data(), Some(&RData::AAAA(AAAA(v6))));
        let r = Message::from_vec(&answer(&query("srv.", RecordType::A), &dual).unwrap()).unwrap();
        assert_eq!(r.answers().len(), 1);
        let f = failure(&query("x.", RecordType::A), ResponseCode::ServFail).unwrap();
        assert_eq!(
            Message::from_vec(&f).unwrap().response_code(),
            ResponseCode::ServFail
        );
    }
}
