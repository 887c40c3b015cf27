//! `berth registry serve CONFIG.yml` (the reference registry's config
//! format) with `http.tls`, deletes off by default as in the reference
//! registry, and `berth registry gc` removing a blob no manifest names.
//! Talks HTTP with curl (Debian package, installed by .ci/run).

mod common;

use std::process::Command;

use common::{scratch, Registry, BERTH};

/// `berth registry serve <args>` once it accepts connections on `port`;
/// `dir` goes with it.
fn serve(dir: &std::path::Path, port: u16, args: &[&std::ffi::OsStr]) -> Registry {
    Registry::serve(dir, &format!("127.0.0.1:{port}"), args)
}

fn free_port() -> u16 {
    common::free_port("127.0.0.1")
}

fn sha256(data: &str) -> String {
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("printf '%s' '{data}' | sha256sum | cut -d' ' -f1"),
        ])
        .output()
        .unwrap();
    format!("sha256:{}", String::from_utf8_lossy(&out.stdout).trim())
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-s", "-S"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

#[test]
fn config_file_tls_deletes_off_and_gc() {
    let dir = scratch("regcfg");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    let port = free_port();
    let root = dir.join("storage");
    let config = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
         http:\n  addr: 127.0.0.1:{port}\n  tls:\n    certificate: {}\n    key: {}\n",
        root.display(),
        dir.join("cert.pem").display(),
        dir.join("key.pem").display()
    );
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let served = serve(&dir, port, &[dir.join("config.yml").as_os_str()]);
    let base = format!("https://localhost:{port}");
    let ca = dir.join("cert.pem");
    let ca = ca.to_str().unwrap();

    // HTTPS with the certificate from the file; plain HTTP gets nowhere.
    assert_eq!(
        curl(&["--cacert", ca, &format!("{base}/v2/")]),
        (true, "{}".into())
    );
    let (_, plain) = curl(&[&format!("http://127.0.0.1:{port}/v2/")]);
    assert_ne!(plain, "{}");
    // Without the CA the handshake fails.
    assert!(!curl(&[&format!("{base}/v2/")]).0);

    // A monolithic blob upload, then a DELETE the config did not enable.
    let data = "a blob no manifest names";
    let digest = sha256(data);
    let (ok, _) = curl(&[
        "--cacert",
        ca,
        "-X",
        "POST",
        "--data-binary",
        data,
        "-H",
        "Content-Type: application/octet-stream",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/v2/t/blobs/uploads/?digest={digest}"),
    ]);
    assert!(ok);
    let (_, got) = curl(&["--cacert", ca, &format!("{base}/v2/t/blobs/{digest}")]);
    assert_eq!(got, data);
    let (_, code) = curl(&[
        "--cacert",
        ca,
        "-X",
        "DELETE",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/v2/t/blobs/{digest}"),
    ]);
    assert_eq!(code, "405");

    // gc (the server may keep running for a blob no one pushes now).
    let out = Command::new(BERTH)
        .args(["registry", "gc", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("blob eligible for deletion: {digest}")),
        "{text}"
    );
    let (_, code) = curl(&[
        "--cacert",
        ca,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/v2/t/blobs/{digest}"),
    ]);
    assert_eq!(code, "404");
    drop(served);
}

/// `--token-auth`: the server is its own token service. The berth daemon
/// follows the Bearer challenge with the htpasswd login (`login`, `push`,
/// `pull`); a token is only good for the repository and actions it names.
#[test]
fn token_auth_for_the_docker_flow() {
    // tester / s3cret, as the compat fixture.
    const HTPASSWD: &str = "tester:$2b$10$x4PqjbT8ZdFN9wW.k/1lwOHKiw7iqg6s60ekmok/JrOTB2Zf6jTkG\n";
    let dir = scratch("regtok");
    std::fs::write(dir.join("htpasswd"), HTPASSWD).unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let (root, htpasswd) = (dir.join("storage"), dir.join("htpasswd"));
    let _served = serve(
        &dir,
        port,
        &[
            "--addr".as_ref(),
            addr.as_ref(),
            "--token-auth".as_ref(),
            "--root".as_ref(),
            root.as_os_str(),
            "--htpasswd".as_ref(),
            htpasswd.as_os_str(),
        ],
    );
    // The challenge names the token service and the scope.
    let (_, headers) = curl(&[
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("http://{addr}/v2/x/tags/list"),
    ]);
    assert!(
        headers.contains(&format!(
            "Bearer realm=\"http://{addr}/token\",service=\"berth-registry\",scope=\"repository:x:pull\""
        )),
        "{headers}"
    );
    let (_, code) = curl(&[
        "-u",
        "tester:wrong",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{addr}/token?service=berth-registry&scope=repository:x:pull"),
    ]);
    assert_eq!(code, "401");
    let token_for = |scope: &str| -> String {
        let (_, body) = curl(&[
            "-u",
            "tester:s3cret",
            &format!("http://{addr}/token?service=berth-registry&scope={scope}"),
        ]);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["token"].as_str().unwrap().to_string()
    };
    let t = token_for("repository:x:pull");
    let get = |token: &str, path: &str| {
        curl(&[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{addr}{path}"),
        ])
        .1
    };
    assert_eq!(get(&t, "/v2/"), "200");
    // Not for another repository.
    assert_eq!(get(&t, "/v2/y/tags/list"), "401");

    let d = common::Daemon::start("regtoken");
    d.busybox();
    let image = format!("{addr}/tok/bb:v1");
    d.ok(&["tag", "busybox", &image]);
    let login = d.cli_in(
        &["login", "-u", "tester", "--password-stdin", &addr],
        "s3cret\n",
    );
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    d.ok(&["push", &image]);
    d.ok(&["rmi", &image]);
    d.ok(&["pull", &image]);
    assert_eq!(d.ok(&["run", "--rm", &image, "echo", "tok"]).trim(), "tok");
    let t = token_for("repository:tok/bb:pull");
    assert_eq!(get(&t, "/v2/tok/bb/manifests/v1"), "200");
}

/// The OCI referrers API: an artifact manifest pushed with a `subject` is
/// listed under `/v2/<name>/referrers/<subject digest>` (filterable by
/// `artifactType`), and its PUT answers with `OCI-Subject`.
#[test]
fn referrers_list_manifests_by_subject() {
    let dir = scratch("regref");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let root = dir.join("storage");
    let _served = serve(
        &dir,
        port,
        &[
            "--addr".as_ref(),
            addr.as_ref(),
            "--root".as_ref(),
            root.as_os_str(),
        ],
    );
    let empty = "{}";
    let empty_d = sha256(empty);
    let (ok, _) = curl(&[
        "-X",
        "POST",
        "--data-binary",
        empty,
        "-H",
        "Content-Type: application/octet-stream",
        &format!("http://{addr}/v2/r/blobs/uploads/?digest={empty_d}"),
    ]);
    assert!(ok);
    let put = |reference: &str, body: &str| {
        curl(&[
            "-X",
            "PUT",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-H",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "--data-binary",
            body,
            &format!("http://{addr}/v2/r/manifests/{reference}"),
        ])
        .1
    };
    let image = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty_d}","size":2}},"layers":[]}}"#
    );
    let headers = put("v1", &image);
    assert!(headers.starts_with("HTTP/1.1 201"), "{headers}");
    let image_d = sha256(&image);
    let sig = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty_d}","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{image_d}","size":{}}},"annotations":{{"k":"v"}}}}"#,
        image.len()
    );
    let sig_d = sha256(&sig);
    let headers = put(&sig_d, &sig);
    assert!(headers.starts_with("HTTP/1.1 201"), "{headers}");
    assert!(
        headers
            .to_lowercase()
            .contains(&format!("oci-subject: {image_d}")),
        "{headers}"
    );

    let (_, body) = curl(&[&format!("http://{addr}/v2/r/referrers/{image_d}")]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["mediaType"], "application/vnd.oci.image.index.v1+json");
    let list = v["manifests"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["digest"], sig_d.as_str());
    assert_eq!(list[0]["artifactType"], "application/vnd.example.sig");
    assert_eq!(list[0]["annotations"]["k"], "v");
    assert_eq!(list[0]["size"], sig.len());
    let (_, body) = curl(&[&format!(
        "http://{addr}/v2/r/referrers/{image_d}?artifactType=application/vnd.example.other"
    )]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 0, "{body}");
    // Nothing refers to the signature itself.
    let (_, body) = curl(&[&format!("http://{addr}/v2/r/referrers/{sig_d}")]);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["manifests"].as_array().unwrap().is_empty());
}
