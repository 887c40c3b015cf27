//! End-to-end: how the daemon's registry client gets its bytes across.
//! Resumable layer uploads (a TCP proxy cuts the first PATCH off midway,
//! against berth's registry and Debian's `docker-registry`), the upload
//! status query both servers answer, HTTPS first for `--insecure-registry`
//! hosts with a plain-HTTP fallback, and per-registry CAs from a certs.d
//! directory (`BERTH_CERTS_D`). Needs root, curl, docker-registry; the
//! non-loopback registries live on 198.19.x addresses added to `lo`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{image_id, scratch, Daemon, HostAddr, Registry};

/// A request the proxy forwarded: its line, `Content-Range`, how many body
/// bytes went through, and whether the proxy cut the connection in it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    content_range: Option<String>,
    body: u64,
    cut: bool,
}

/// An HTTP/1.1 proxy on loopback in front of `upstream` that records every
/// request and cuts the connection carrying the first PATCH once `cut_after`
/// bytes of its body went through. Requests are parsed (Content-Length and
/// chunked bodies); responses are copied as they come.
struct Proxy {
    addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: &str, cut_after: u64) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let cut_done = Arc::new(AtomicBool::new(false));
        let (seen2, stop2, upstream) = (seen.clone(), stop.clone(), upstream.to_string());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let (seen, cut_done, upstream) =
                            (seen2.clone(), cut_done.clone(), upstream.clone());
                        std::thread::spawn(move || {
                            let _ = relay(client, &upstream, &seen, &cut_done, cut_after);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Proxy { addr, seen, stop }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn relay(
    client: TcpStream,
    upstream: &str,
    seen: &Mutex<Vec<Seen>>,
    cut_done: &AtomicBool,
    cut_after: u64,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    let (mut from_server, mut to_client) = (server.try_clone()?, client.try_clone()?);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let cut = |s: &TcpStream| {
        let _ = s.shutdown(Shutdown::Both);
        let _ = client.shutdown(Shutdown::Both);
    };
    let mut r = BufReader::new(client.try_clone()?);
    let mut w = server.try_clone()?;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line)? == 0 {
                return Ok(());
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        w.write_all(head.as_bytes())?;
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let mut len = None;
        let mut chunked = false;
        let mut content_range = None;
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse::<u64>().ok(),
                    "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                    "content-range" => content_range = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        let cutting = method == "PATCH" && !cut_done.swap(true, Ordering::SeqCst);
        let index = {
            let mut s = seen.lock().unwrap();
            s.push(Seen {
                method,
                path,
                content_range,
                body: 0,
                cut: false,
            });
            s.len() - 1
        };
        let mut body = 0u64;
        // Copies `n` body bytes; false once the connection was cut.
        let mut copy = |r: &mut BufReader<TcpStream>, w: &mut TcpStream, n: u64| {
            let mut left = n;
            let mut buf = vec![0u8; 64 * 1024];
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let k = r.read(&mut buf[..want])?;
                if k == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                w.write_all(&buf[..k])?;
                left -= k as u64;
                body += k as u64;
                seen.lock().unwrap()[index].body = body;
                if cutting && body >= cut_after {
                    seen.lock().unwrap()[index].cut = true;
                    // Let the registry take in what it got, then hang up.
                    std::thread::sleep(Duration::from_millis(200));
                    cut(w);
                    return Ok(false);
                }
            }
            Ok::<bool, std::io::Error>(true)
        };
        if chunked {
            loop {
                let mut size_line = String::new();
                r.read_line(&mut size_line)?;
                w.write_all(size_line.as_bytes())?;
                let size = u64::from_str_radix(
                    size_line.trim().split(';').next().unwrap_or("").trim(),
                    16,
                )
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
                if size == 0 {
                    loop {
                        let mut t = String::new();
                        r.read_line(&mut t)?;
                        w.write_all(t.as_bytes())?;
                        if t == "\r\n" || t.is_empty() {
                            break;
                        }
                    }
                    break;
                }
                if !copy(&mut r, &mut w, size)? {
                    return Ok(());
                }
                let mut crlf = [0u8; 2];
                r.read_exact(&mut crlf)?;
                w.write_all(&crlf)?;
            }
        } else if let Some(n) = len {
            if !copy(&mut r, &mut w, n)? {
                return Ok(());
            }
        }
    }
}

/// An image whose one layer is `mib` MiB of random bytes (gzip stores
/// them as they are, so the upload is about as large).
fn random_image(d: &Daemon, name: &str, mib: usize) {
    let dir = d.root.join("random-layer");
    std::fs::create_dir_all(&dir).unwrap();
    let mut data = vec![0u8; mib << 20];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut data)
        .unwrap();
    std::fs::write(dir.join("random.bin"), &data).unwrap();
    let tar = d.root.join("random-layer.tar");
    let out = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&tar)
        .arg("random.bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {out:?}");
    d.ok(&["import", tar.to_str().unwrap(), name]);
}

/// The first number of a `Content-Range: <start>-<end>`.
fn range_start(r: &str) -> u64 {
    r.trim_start_matches("bytes ")
        .split('-')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// A push whose layer PATCH is cut off after 6 MiB resumes where berth's
/// registry stands: one GET on the session, then `Content-Range` chunks
/// from a non-zero offset on the same session; the image pulled back is
/// the same.
#[test]
fn interrupted_layer_upload_resumes_at_the_registry_offset() {
    let reg = Registry::berth("resume", "127.0.0.1", &[]);
    let proxy = Proxy::start(&reg.addr, 6 << 20);
    let a = Daemon::start("xport-resume-a");
    let image = format!("{}/resume/big:v1", proxy.addr);
    random_image(&a, &image, 20);
    let out = a.ok(&["push", &image]);
    assert!(out.contains("digest: sha256:"), "{out}");

    let seen = proxy.seen();
    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == "PATCH").collect();
    assert!(patches.len() >= 2, "{seen:#?}");
    assert!(
        patches[0].cut && patches[0].content_range.is_none(),
        "{seen:#?}"
    );
    let first_patch = seen.iter().position(|s| s.method == "PATCH").unwrap();
    let status = &seen[first_patch + 1];
    assert_eq!(status.method, "GET", "{seen:#?}");
    assert!(status.path.contains("/blobs/uploads/"), "{seen:#?}");
    // The same session, continued where the registry stood: past zero and
    // no further than what reached it.
    let session = |p: &str| p.split('?').next().unwrap().to_string();
    let resumed = patches[1].content_range.as_deref().expect("Content-Range");
    let start = range_start(resumed);
    assert!(start > 0 && start <= patches[0].body, "{seen:#?}");
    assert_eq!(session(&patches[1].path), session(&patches[0].path));
    // Later chunks follow on exactly.
    let mut next = start;
    for p in &patches[1..] {
        let r = p.content_range.as_deref().unwrap();
        assert_eq!(range_start(r), next, "{seen:#?}");
        next += p.body;
    }
    assert!(next > 20 << 20, "{seen:#?}");
    // One session for the layer (and one for the config): no restart.
    let posts = seen.iter().filter(|s| s.method == "POST").count();
    assert_eq!(posts, 2, "{seen:#?}");

    let b = Daemon::start("xport-resume-b");
    b.ok(&["pull", &image]);
    assert_eq!(image_id(&b, &image), image_id(&a, &image));
}

/// The reference registry cannot resume a session whose request was cut
/// (its `_state` token no longer matches, and it cancels the session on
/// the status query): berth starts the layer over once, and the push works.
#[test]
fn interrupted_upload_to_the_reference_registry_starts_over() {
    let reg = Registry::reference("refresume");
    let proxy = Proxy::start(&reg.addr, 4 << 20);
    let a = Daemon::start("xport-refresume-a");
    let image = format!("{}/resume/ref:v1", proxy.addr);
    random_image(&a, &image, 12);
    a.ok(&["push", &image]);
    let seen = proxy.seen();
    let patches: Vec<&Seen> = seen.iter().filter(|s| s.method == "PATCH").collect();
    assert_eq!(patches.len(), 2, "{seen:#?}");
    assert!(patches[0].cut, "{seen:#?}");
    assert!(
        patches[1].content_range.is_none() && !patches[1].cut,
        "{seen:#?}"
    );
    assert!(patches[1].body > 12 << 20, "{seen:#?}");
    let first_patch = seen.iter().position(|s| s.method == "PATCH").unwrap();
    assert_eq!(seen[first_patch + 1].method, "GET", "{seen:#?}");
    let b = Daemon::start("xport-refresume-b");
    b.ok(&["pull", &image]);
    assert_eq!(image_id(&b, &image), image_id(&a, &image));
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-S", "-i"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn header<'a>(resp: &'a str, name: &str) -> &'a str {
    resp.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in {resp}"))
}

/// `GET` on an upload session, as a resuming client asks it: 204 with
/// `Range: 0-<last byte>` and the session's `Location`, from berth's
/// registry and the reference one alike.
#[test]
fn upload_status_from_berth_and_the_reference_registry() {
    for reg in [
        Registry::berth("status", "127.0.0.1", &[]),
        Registry::reference("refstatus"),
    ] {
        let base = format!("http://{}", reg.addr);
        let abs = |loc: &str| {
            if loc.starts_with("http") {
                loc.to_string()
            } else {
                format!("{base}{loc}")
            }
        };
        let started = curl(&["-X", "POST", &format!("{base}/v2/st/x/blobs/uploads/")]);
        assert!(started.starts_with("HTTP/1.1 202"), "{started}");
        let loc = abs(header(&started, "Location"));
        let fresh = curl(&[&loc]);
        assert!(fresh.starts_with("HTTP/1.1 204"), "{fresh}");
        assert_eq!(header(&fresh, "Range"), "0-0", "{fresh}");
        let patched = curl(&[
            "-X",
            "PATCH",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            "hello world",
            &loc,
        ]);
        assert!(patched.starts_with("HTTP/1.1 202"), "{patched}");
        let loc = abs(header(&patched, "Location"));
        let status = curl(&[&loc]);
        assert!(status.starts_with("HTTP/1.1 204"), "{status}");
        assert_eq!(header(&status, "Range"), "0-10", "{status}");
        assert!(!header(&status, "Location").is_empty());
        assert!(!header(&status, "Docker-Upload-UUID").is_empty());
    }
}

/// `198.19.<n>.<host>`: a /24 of this test binary, apart from other tests'.
fn test_ip(host: u8) -> String {
    format!("198.19.{}.{host}", std::process::id() % 250)
}

/// A CA, a server certificate it issued for `ip` and a client certificate,
/// written to `dir/ca.crt`, `dir/server.pem`, `dir/server.key`,
/// `dir/client.cert`, `dir/client.key`.
fn issue_server_cert(dir: &std::path::Path, ip: &str) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    std::fs::create_dir_all(dir).unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "berth registry test CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca = p.self_signed(&ca_key).unwrap();
    let mut s = CertificateParams::new(vec![ip.to_string()]).unwrap();
    s.distinguished_name.push(DnType::CommonName, ip);
    let key = KeyPair::generate().unwrap();
    let cert = s.signed_by(&key, &ca, &ca_key).unwrap();
    let mut c = CertificateParams::new(Vec::<String>::new()).unwrap();
    c.distinguished_name
        .push(DnType::CommonName, "berth client");
    c.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate().unwrap();
    let client = c.signed_by(&client_key, &ca, &ca_key).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("client.cert"), client.pem()).unwrap();
    std::fs::write(dir.join("client.key"), client_key.serialize_pem()).unwrap();
}

fn tls_args(dir: &std::path::Path) -> [String; 4] {
    [
        "--tls-cert".into(),
        dir.join("server.pem").display().to_string(),
        "--tls-key".into(),
        dir.join("server.key").display().to_string(),
    ]
}

/// A daemon whose certs.d root is `certs_d` (never the real /etc).
fn daemon_with_certs_d(name: &str, extra: &[&str], certs_d: &std::path::Path) -> Daemon {
    let dir = certs_d.to_path_buf();
    let wrap: common::Wrap = Arc::new(move |mut c: Command| {
        c.env("BERTH_CERTS_D", &dir);
        c
    });
    Daemon::start_wrapped(name, extra, Some(wrap))
}

/// `--insecure-registry` hosts are tried over HTTPS first, without
/// verifying the certificate (no CA anywhere here), and over plain HTTP
/// when the TLS handshake fails; both push and pull. A daemon without the
/// flag refuses the unverifiable certificate.
#[test]
fn insecure_registries_try_https_first() {
    let (tls_ip, plain_ip) = (test_ip(1), test_ip(2));
    let _a1 = HostAddr::add(&tls_ip);
    let _a2 = HostAddr::add(&plain_ip);
    let pki = scratch("insecure-pki");
    issue_server_cert(&pki, &tls_ip);
    let args = tls_args(&pki);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tls = Registry::berth("insecure-tls", &tls_ip, &args);
    let plain = Registry::berth("insecure-plain", &plain_ip, &[]);
    let empty = scratch("insecure-certs-d");
    let cidr = format!("{}.0/24", tls_ip.rsplit_once('.').unwrap().0);
    let d = daemon_with_certs_d("xport-insecure", &["--insecure-registry", &cidr], &empty);
    d.busybox();
    for reg in [&tls, &plain] {
        let image = format!("{}/insecure/bb:v1", reg.addr);
        d.ok(&["tag", "busybox", &image]);
        d.ok(&["push", &image]);
        d.ok(&["rmi", &image]);
        d.ok(&["pull", &image]);
        assert_eq!(
            d.ok(&["run", "--rm", &image, "echo", "ok"]).trim(),
            "ok",
            "{image}"
        );
    }
    // The TLS registry spoke TLS only: the push went over HTTPS.
    let plain_http = Command::new("curl")
        .args(["-s", "-o", "/dev/null"])
        .arg(format!("http://{}/v2/", tls.addr))
        .status()
        .unwrap();
    assert!(
        !plain_http.success(),
        "the TLS registry answered plain HTTP"
    );

    let strict = daemon_with_certs_d("xport-strict", &[], &empty);
    strict.busybox();
    let image = format!("{}/insecure/bb:v2", tls.addr);
    strict.ok(&["tag", "busybox", &image]);
    let refused = strict.cli(&["push", &image]);
    assert!(
        !refused.status.success(),
        "pushed to an unverified registry"
    );
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("x509: certificate signed by unknown authority"),
        "{err}"
    );
}

/// A registry whose CA is in `<certs.d>/<host:port>/ca.crt` is trusted
/// without `--insecure-registry`; without that file the push fails with
/// Docker's x509 error.
#[test]
fn registry_ca_from_certs_d() {
    let ip = test_ip(3);
    let _a = HostAddr::add(&ip);
    let pki = scratch("certsd-pki");
    issue_server_cert(&pki, &ip);
    let args = tls_args(&pki);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reg = Registry::berth("certsd", &ip, &args);
    let certs_d = scratch("certs-d");
    let d = daemon_with_certs_d("xport-certsd", &[], &certs_d);
    d.busybox();
    let image = format!("{}/ca/bb:v1", reg.addr);
    d.ok(&["tag", "busybox", &image]);

    let refused = d.cli(&["push", &image]);
    assert!(!refused.status.success(), "pushed without the CA");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("x509: certificate signed by unknown authority"),
        "{err}"
    );

    let host_dir = certs_d.join(&reg.addr);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(pki.join("ca.crt"), host_dir.join("ca.crt")).unwrap();
    d.ok(&["push", &image]);
    d.ok(&["rmi", &image]);
    d.ok(&["pull", &image]);
    assert_eq!(d.ok(&["run", "--rm", &image, "echo", "ok"]).trim(), "ok");
    let _ = std::fs::remove_dir_all(&certs_d);
    let _ = std::fs::remove_dir_all(&pki);
}

/// A registry that requires client certificates (`--tls-client-ca`): the
/// pair `client.cert`/`client.key` in its certs.d directory is presented;
/// with only the CA there the handshake is refused.
#[test]
fn client_certificate_from_certs_d() {
    let ip = test_ip(4);
    let _a = HostAddr::add(&ip);
    let pki = scratch("clientcert-pki");
    issue_server_cert(&pki, &ip);
    let mut args = tls_args(&pki).to_vec();
    args.push("--tls-client-ca".into());
    args.push(pki.join("ca.crt").display().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let reg = Registry::berth("clientcert", &ip, &args);
    let certs_d = scratch("clientcert-certs-d");
    let host_dir = certs_d.join(&reg.addr);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(pki.join("ca.crt"), host_dir.join("ca.crt")).unwrap();
    let d = daemon_with_certs_d("xport-clientcert", &[], &certs_d);
    d.busybox();
    let image = format!("{}/mtls/bb:v1", reg.addr);
    d.ok(&["tag", "busybox", &image]);

    let refused = d.cli(&["push", &image]);
    assert!(
        !refused.status.success(),
        "pushed without a client certificate"
    );

    for f in ["client.cert", "client.key"] {
        std::fs::copy(pki.join(f), host_dir.join(f)).unwrap();
    }
    d.ok(&["push", &image]);
    d.ok(&["rmi", &image]);
    d.ok(&["pull", &image]);
    assert_eq!(d.ok(&["run", "--rm", &image, "echo", "ok"]).trim(), "ok");
    let _ = std::fs::remove_dir_all(&certs_d);
    let _ = std::fs::remove_dir_all(&pki);
}
