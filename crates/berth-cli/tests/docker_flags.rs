//! The stock docker CLI and berth against the same fake Engine API: what
//! `create`, `update` and `build` send for the resource, device and cgroup
//! flags, and how both refuse bad values. Each CLI run gets its own fake
//! server (a unix socket answering `/_ping`, create, pull, update and build)
//! that records the requests. Needs no daemon and no root; skipped when no
//! `docker` is on PATH.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
mod common;

use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// One request the fake daemon answered.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// The path without the `/v1.xx` prefix, and the decoded query.
    path: String,
    query: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn params(&self, key: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A fake Engine API on a unix socket in its own temporary directory.
struct Fake {
    dir: tempfile::TempDir,
    requests: Arc<Mutex<Vec<Request>>>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn read_request(stream: &UnixStream) -> Option<Request> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(n) = headers.get("content-length") {
        body.resize(n.parse().ok()?, 0);
        r.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let path = match path.strip_prefix("/v") {
        Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
        None => path,
    };
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
        body,
    })
}

fn respond(mut stream: &UnixStream, head_only: bool, status: &str, ctype: &str, body: &str) {
    let head = format!(
        "HTTP/1.1 {status}\r\nApi-Version: 1.47\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    if !head_only {
        let _ = stream.write_all(body.as_bytes());
    }
}

const ID: &str = "0123456789ab0123456789ab0123456789ab0123456789ab0123456789ab0123";
/// An image the fake has until it is pulled once.
const MISSING: &str = "quiet/pull";

fn serve(stream: UnixStream, requests: Arc<Mutex<Vec<Request>>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Some(req) = read_request(&stream) else {
        return;
    };
    let head = req.method == "HEAD";
    let pulled = |reqs: &[Request]| reqs.iter().any(|r| r.path == "/images/create");
    let mut reqs = requests.lock().unwrap();
    if req.path != "/_ping" {
        reqs.push(req.clone());
    }
    let p = req.path.as_str();
    if p == "/_ping" {
        respond(&stream, head, "200 OK", "text/plain", "OK");
    } else if p == "/containers/create" {
        let image = req.json()["Image"].as_str().unwrap_or("").to_string();
        if image.starts_with(MISSING) && !pulled(&reqs) {
            let msg = json!({"message": format!("No such image: {MISSING}:latest")});
            respond(
                &stream,
                false,
                "404 Not Found",
                "application/json",
                &msg.to_string(),
            );
        } else {
            let body = json!({"Id": ID, "Warnings": []}).to_string();
            respond(&stream, false, "201 Created", "application/json", &body);
        }
    } else if p == "/images/create" {
        let body = concat!(
            "{\"status\":\"Pulling from quiet/pull\",\"id\":\"latest\"}\r\n",
            "{\"status\":\"Digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\"}\r\n",
            "{\"status\":\"Status: Downloaded newer image for quiet/pull:latest\"}\r\n",
        );
        respond(&stream, false, "200 OK", "application/json", body);
    } else if p.starts_with("/containers/") && p.ends_with("/start") {
        respond(&stream, false, "204 No Content", "text/plain", "");
    } else if p.starts_with("/containers/") && p.ends_with("/wait") {
        respond(
            &stream,
            false,
            "200 OK",
            "application/json",
            "{\"StatusCode\":0}",
        );
    } else if p.starts_with("/containers/") && p.ends_with("/update") {
        respond(
            &stream,
            false,
            "200 OK",
            "application/json",
            "{\"Warnings\":[]}",
        );
    } else if p == "/system/df" {
        respond(
            &stream,
            false,
            "200 OK",
            "application/json",
            &disk_usage().to_string(),
        );
    } else if p == "/build" {
        let body = "{\"stream\":\"Successfully built 0123456789ab\\n\"}\r\n{\"aux\":{\"ID\":\"sha256:0123\"}}\r\n";
        respond(&stream, false, "200 OK", "application/json", body);
    } else {
        let msg = json!({"message": format!("not faked: {p}")}).to_string();
        respond(&stream, false, "404 Not Found", "application/json", &msg);
    }
}

impl Fake {
    fn start() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("docker.sock")).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let reqs = reqs.clone();
                thread::spawn(move || serve(stream, reqs));
            }
        });
        Fake { dir, requests }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("docker.sock").display())
    }

    fn requests(&self, path: &str) -> Vec<Request> {
        let reqs = self.requests.lock().unwrap();
        reqs.iter().filter(|r| r.path == path).cloned().collect()
    }
}

/// Runs `cli` (docker or berth) with `args` against a fresh fake; a config
/// dir of its own so neither reads the user's contexts or logins.
fn run(cli: &str, args: &[&str]) -> (Output, Fake) {
    let fake = Fake::start();
    let config: PathBuf = fake.dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let out = Command::new(cli)
        .args(args)
        .env("DOCKER_HOST", fake.host())
        .env("DOCKER_CONFIG", &config)
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CONTENT_TRUST")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out, fake)
}

fn both(args: &[&str]) -> [(Output, Fake); 2] {
    [run("docker", args), run(BERTH, args)]
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one create body a run sent.
fn create_body(o: &Output, fake: &Fake) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    let reqs = fake.requests("/containers/create");
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    reqs[0].json()
}

/// Docker sends every field, berth leaves out the empty ones: the daemon
/// reads both the same.
fn normalized(v: Option<&Value>) -> Value {
    match v {
        None => Value::Null,
        Some(Value::Array(a)) if a.is_empty() => Value::Null,
        Some(Value::Object(o)) if o.is_empty() => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Value::Null,
        Some(Value::Bool(false)) => Value::Null,
        Some(v) => v.clone(),
    }
}

const HOST_CONFIG_FIELDS: &[&str] = &[
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "DeviceCgroupRules",
    "DeviceRequests",
    "MemorySwappiness",
    "OomScoreAdj",
    "CgroupParent",
    "CgroupnsMode",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "Isolation",
    "KernelMemory",
    "StorageOpt",
    "VolumeDriver",
];

fn assert_same_host_config(args: &[&str]) {
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    all.push("busybox");
    let [(d_out, d_fake), (b_out, b_fake)] = both(&all);
    let (d, b) = (create_body(&d_out, &d_fake), create_body(&b_out, &b_fake));
    for key in HOST_CONFIG_FIELDS {
        assert_eq!(
            normalized(b["HostConfig"].get(*key)),
            normalized(d["HostConfig"].get(*key)),
            "HostConfig.{key} for {args:?}"
        );
    }
    let ipam = |v: &Value| {
        normalized(v["NetworkingConfig"]["EndpointsConfig"]["default"].get("IPAMConfig"))
    };
    assert_eq!(ipam(&b), ipam(&d), "IPAMConfig for {args:?}");
}

#[test]
fn create_bodies_match_the_docker_cli() {
    common::require_docker();
    // Nothing given: docker still sends MemorySwappiness -1.
    assert_same_host_config(&[]);
    assert_same_host_config(&[
        "--blkio-weight-device",
        "/dev/sda:200",
        "--blkio-weight-device",
        "/dev/sdb:0",
        "--device-read-bps",
        "/dev/sda:1mb",
        "--device-write-bps",
        "/dev/sda:10k",
        "--device-read-iops",
        "/dev/sda:100",
        "--device-write-iops",
        "/dev/sdb:200",
        "--device-cgroup-rule",
        "c 1:3 mr",
        "--device-cgroup-rule",
        "a *:* rwm",
        "--memory-swappiness",
        "10",
        "--oom-score-adj",
        "-500",
        "--cgroup-parent",
        "/foo",
        "--cgroupns",
        "host",
        "--cpu-rt-period",
        "1000",
        "--cpu-rt-runtime",
        "950",
    ]);
    assert_same_host_config(&[
        "--memory-swappiness=0",
        "--cgroupns",
        "private",
        "--isolation",
        "default",
        "--kernel-memory",
        "10m",
        "--link-local-ip",
        "169.254.1.1",
        "--link-local-ip",
        "fe80::1",
        "--storage-opt",
        "size=1G",
        "--storage-opt",
        "=x",
        "--gpus",
        "all",
        "--gpus",
        "\"device=0,1\",driver=nvidia,\"capabilities=compute,utility\",\"options=a=b,c\"",
        "--gpus",
        "count=1,2",
        "--volume-driver",
        "local",
        "--disable-content-trust",
    ]);
}

#[test]
fn refused_values_match_the_docker_cli() {
    common::require_docker();
    for args in [
        &["--blkio-weight-device", "x"][..],
        &["--blkio-weight-device", "/dev/sda:5"],
        &["--blkio-weight-device", "sda:200"],
        &["--device-read-bps", "/dev/sda:-1"],
        &["--device-write-bps", "/dev/sda:lots"],
        &["--device-read-iops", "/dev/sda:1k"],
        &["--device-write-iops", "/dev/sda:"],
        &["--device-cgroup-rule", "x 1:2 r"],
        &["--memory-swappiness", "101"],
        &["--memory-swappiness", "-2"],
        &["--cgroupns", "foo"],
        &["--storage-opt", "foo"],
        &["--gpus", "foo"],
        &["--gpus", ""],
        &["--gpus", "driver=a,driver=b"],
        &["--gpus", "x=1"],
        &["--gpus", "\"all"],
        &["--kernel-memory", "abc"],
    ] {
        let mut all = vec!["create"];
        all.extend_from_slice(args);
        all.push("busybox");
        let [(d, d_fake), (b, b_fake)] = both(&all);
        assert_eq!(b.status.code(), d.status.code(), "exit code of {args:?}");
        assert_eq!(b.status.code(), Some(125), "{args:?}");
        assert_eq!(
            stderr(&b),
            stderr(&d).replace("docker", "berth"),
            "stderr of {args:?}"
        );
        assert!(d_fake.requests("/containers/create").is_empty());
        assert!(b_fake.requests("/containers/create").is_empty());
    }
}

#[test]
fn quiet_pull_prints_nothing() {
    common::require_docker();
    for args in [
        &["create", "-q", MISSING][..],
        &["run", "-d", "-q", MISSING],
    ] {
        for (o, fake) in both(args) {
            assert_eq!(stderr(&o), "", "{args:?}");
            assert_eq!(fake.requests("/images/create").len(), 1, "{args:?}");
            assert_eq!(fake.requests("/containers/create").len(), 2, "{args:?}");
        }
    }
    // Without -q both say what they pull.
    let [(d, _), (b, _)] = both(&["create", MISSING]);
    let first = |o: &Output| stderr(o).lines().next().unwrap_or("").to_string();
    assert_eq!(first(&b), first(&d));
    assert_eq!(
        first(&b),
        format!("Unable to find image '{MISSING}:latest' locally")
    );
}

#[test]
fn update_sends_realtime_cpu_limits() {
    common::require_docker();
    let [(d, d_fake), (b, b_fake)] = both(&[
        "update",
        "--cpu-rt-period",
        "1000",
        "--cpu-rt-runtime",
        "950",
        "c1",
    ]);
    assert!(d.status.success() && b.status.success(), "{}", stderr(&b));
    let path = "/containers/c1/update";
    let (dv, bv) = (
        d_fake.requests(path)[0].json(),
        b_fake.requests(path)[0].json(),
    );
    for key in ["CpuRealtimePeriod", "CpuRealtimeRuntime"] {
        assert_eq!(bv[key], dv[key], "{key}");
    }
}

#[test]
fn build_params_match_the_docker_cli() {
    common::require_docker();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\n").unwrap();
    let dir = ctx.path().to_str().unwrap();
    let [(d, d_fake), (b, b_fake)] = both(&[
        "build",
        "--cache-from",
        "a",
        "--cache-from",
        "b,\"c,d\"",
        "--cgroup-parent",
        "/x",
        "--compress",
        "--disable-content-trust",
        "--isolation",
        "hyperv",
        "--security-opt",
        "seccomp=unconfined,label=x",
        "--ulimit",
        "nofile=1:2",
        "--ulimit",
        "nproc=5",
        dir,
    ]);
    assert!(d.status.success(), "{}", stderr(&d));
    assert!(b.status.success(), "{}", stderr(&b));
    let (dr, br) = (&d_fake.requests("/build")[0], &b_fake.requests("/build")[0]);
    for key in [
        "cachefrom",
        "cgroupparent",
        "isolation",
        "securityopt",
        "ulimits",
    ] {
        assert_eq!(br.params(key), dr.params(key), "{key}");
    }
    // --compress: a gzipped context.
    assert!(dr.body.starts_with(&[0x1f, 0x8b]));
    assert!(br.body.starts_with(&[0x1f, 0x8b]));

    let [(d, _), (b, _)] = both(&["build", "--ulimit", "x", dir]);
    assert_eq!((b.status.code(), d.status.code()), (Some(125), Some(125)));
    let usage = |o: &Output| {
        stderr(o)
            .lines()
            .filter(|l| l.starts_with("invalid argument") || l.starts_with("Run '"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(usage(&b), usage(&d).replace("docker", "berth"));
}

/// The body of the first create request, whatever became of the run after
/// it (`run` without `-d` attaches, which the fake does not answer).
fn first_create(fake: &Fake) -> Value {
    let reqs = fake.requests("/containers/create");
    assert!(!reqs.is_empty(), "no create request");
    reqs[0].json()
}

/// Fields the bool and repeated flags below set, as JSON pointers.
const CREATE_FIELDS: &[&str] = &[
    "/Tty",
    "/OpenStdin",
    "/StdinOnce",
    "/AttachStdin",
    "/AttachStdout",
    "/AttachStderr",
    "/ExposedPorts",
    "/Healthcheck/Test",
    "/HostConfig/AutoRemove",
    "/HostConfig/Privileged",
    "/HostConfig/Init",
    "/HostConfig/ReadonlyRootfs",
    "/HostConfig/PublishAllPorts",
    "/HostConfig/OomKillDisable",
    "/HostConfig/Memory",
    "/HostConfig/NanoCpus",
    "/HostConfig/RestartPolicy/Name",
    "/HostConfig/PortBindings",
];

#[test]
fn bool_values_and_repeated_flags_match_the_docker_cli() {
    common::require_docker();
    let cases: &[&[&str]] = &[
        &["create", "--rm=false", "busybox"],
        &[
            "create",
            "--rm=true",
            "--privileged=false",
            "--init=true",
            "busybox",
        ],
        &[
            "create",
            "--rm",
            "--rm",
            "--rm=0",
            "--privileged=T",
            "busybox",
        ],
        &["create", "-it=false", "busybox"],
        &["create", "-i=false", "-t", "busybox"],
        &["create", "--tty=FALSE", "--interactive=True", "busybox"],
        &["create", "-it", "-i=f", "busybox"],
        &[
            "create",
            "--read-only=1",
            "-P=0",
            "--oom-kill-disable=t",
            "busybox",
        ],
        &["create", "-P=true", "-p", "80", "-p", "81:81", "busybox"],
        &["create", "--no-healthcheck=true", "busybox"],
        &["create", "--init=false", "--init", "busybox"],
        &["create", "--name", "a", "--name", "b", "busybox"],
        &[
            "create",
            "-m",
            "10m",
            "-m",
            "20m",
            "--memory=30m",
            "busybox",
        ],
        &["create", "--cpus", "1", "--cpus", "2", "busybox"],
        &[
            "create",
            "--restart",
            "no",
            "--restart",
            "always",
            "busybox",
        ],
        &["create", "-e", "A=1", "-e", "B=2", "--env=C=3", "busybox"],
        &["container", "create", "-a=stdout", "busybox"],
        &["run", "-d=true", "--rm=true", "busybox"],
        &["run", "-dit", "busybox"],
        &["run", "-d", "--rm=false", "-t=false", "busybox"],
        &["run", "--detach=T", "--name", "x", "--name", "y", "busybox"],
        &["run", "-d", "-q=false", "--sig-proxy=false", "busybox"],
    ];
    for args in cases {
        let [(d_out, d_fake), (b_out, b_fake)] = both(args);
        assert_eq!(
            b_out.status.code(),
            d_out.status.code(),
            "exit code of {args:?}: docker {}, berth {}",
            stderr(&d_out),
            stderr(&b_out)
        );
        let (d, b) = (first_create(&d_fake), first_create(&b_fake));
        for field in CREATE_FIELDS {
            assert_eq!(
                normalized(b.pointer(field)),
                normalized(d.pointer(field)),
                "{field} for {args:?}"
            );
        }
        // docker 28 orders Env as it pleases (a map's order, from run to run).
        let env = |v: &Value| {
            let mut vars: Vec<String> = v["Env"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| Some(e.as_str()?.to_string()))
                .collect();
            vars.sort();
            vars
        };
        assert_eq!(env(&b), env(&d), "Env for {args:?}");
        let name = |f: &Fake| f.requests("/containers/create")[0].params("name").join(",");
        assert_eq!(name(&b_fake), name(&d_fake), "?name= for {args:?}");
    }
}

#[test]
fn bool_values_and_repeats_in_queries_match_the_docker_cli() {
    common::require_docker();
    // (command line, the request it makes, the query parameters compared)
    let cases: &[(&[&str], &str, &[&str])] = &[
        (
            &["ps", "-a=false"],
            "/containers/json",
            &["all", "limit", "size"],
        ),
        (
            &["ps", "-a=1", "-s=true"],
            "/containers/json",
            &["all", "size"],
        ),
        (
            &["ps", "-aq=0", "-n", "3", "-n", "5"],
            "/containers/json",
            &["all", "limit"],
        ),
        (
            &["ps", "-a", "-a=false", "-l=true"],
            "/containers/json",
            &["all", "limit"],
        ),
        (&["images", "-a=true"], "/images/json", &["all"]),
        (
            &["images", "-a=false", "--digests=true"],
            "/images/json",
            &["all", "digests"],
        ),
        (
            &["rm", "-f=true", "-v=false", "c1"],
            "/containers/c1",
            &["force", "v", "link"],
        ),
        (&["rm", "--force=0", "c1"], "/containers/c1", &["force"]),
        (
            &["stop", "-t", "1", "-t", "2", "c1"],
            "/containers/c1/stop",
            &["t"],
        ),
        (
            &["kill", "-s", "INT", "-s", "HUP", "c1"],
            "/containers/c1/kill",
            &["signal"],
        ),
        (
            &["rmi", "-f=false", "--no-prune=1", "i1"],
            "/images/i1",
            &["force", "noprune"],
        ),
        (
            &["-D=false", "--tls=false", "volume", "rm", "-f=1", "v1"],
            "/volumes/v1",
            &["force"],
        ),
        (
            &["logs", "-f=false", "-t=true", "-n", "1", "-n", "2", "c1"],
            "/containers/c1/json",
            &[],
        ),
    ];
    for (args, path, keys) in cases {
        let [(d_out, d_fake), (b_out, b_fake)] = both(args);
        let (d, b) = (d_fake.requests(path), b_fake.requests(path));
        assert!(!d.is_empty(), "docker {args:?}: {}", stderr(&d_out));
        assert!(!b.is_empty(), "berth {args:?}: {}", stderr(&b_out));
        for key in *keys {
            // docker leaves a false or default parameter out; so may berth.
            let value = |r: &Request| {
                let v = r.params(key).join(",");
                match v.as_str() {
                    "0" | "false" => String::new(),
                    "1" | "true" => "1".to_string(),
                    _ => v,
                }
            };
            assert_eq!(value(&b[0]), value(&d[0]), "?{key}= for {args:?}");
        }
    }
}

/// A `/system/df` answer with one of each kind of record, its times counted
/// back from now so both CLIs print the same ages.
fn disk_usage() -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // RFC 3339 in UTC, as the API gives build cache times.
    let rfc3339 = |t: i64| {
        let (days, secs) = (t.div_euclid(86400), t.rem_euclid(86400));
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    };
    json!({
        "LayersSize": 3_968_606,
        "Images": [
            {"Id": "sha256:c92035426fe349245434746d1d6f12d015d087b0ab5346d2b8e44f85c97cab25",
             "ParentId": "", "RepoTags": ["cf2:latest", "cf2:other"], "RepoDigests": null,
             "Created": now - 2160, "Size": 1_984_310, "SharedSize": 1_984_291,
             "Labels": {}, "Containers": 0},
            {"Id": "sha256:94ac2fee2acc5b9e79c9aedaf5021d38f05f397f5943862e5a90ae5d0c262cc1",
             "ParentId": "", "RepoTags": [], "RepoDigests": [], "Created": now - 3 * 3600 - 100,
             "Size": 1_984_296, "SharedSize": -1, "Labels": {}, "Containers": 2},
            {"Id": "sha256:4ac5748fb99932848e3d361dfe493c6b4f06e84b149953dc7d910b1060f2b84c",
             "ParentId": "", "RepoTags": ["127.0.0.1:5077/x/bb:t1"], "RepoDigests": [],
             "Created": now - 19 * 3600, "Size": 45_000_000, "SharedSize": 0,
             "Labels": {}, "Containers": 1},
        ],
        "Containers": [
            {"Id": "ec402a741f61a2a7033b68d62495d1983b48899da9b64c85c5e917ce1576c1b9",
             "Names": ["/exb"], "Image": "busybox",
             "ImageID": "sha256:4ac5748fb99932848e3d361dfe493c6b4f06e84b149953dc7d910b1060f2b84c",
             "Command": "sleep 10000 with a long tail", "Created": now - 2340, "Ports": [],
             "SizeRw": 12_345, "SizeRootFs": 1_984_291, "Labels": {}, "State": "running",
             "Status": "Up 39 minutes", "HostConfig": {"NetworkMode": "default"},
             "NetworkSettings": {"Networks": {}},
             "Mounts": [
                {"Type": "volume", "Name": "data", "Source": "/v/data", "Destination": "/d",
                 "Driver": "local", "Mode": "", "RW": true, "Propagation": ""},
                {"Type": "bind", "Source": "/x", "Destination": "/x", "Mode": "", "RW": true,
                 "Propagation": "rprivate"}
             ]},
            {"Id": "de3d2310f9e91db999c9e2d6ad5e93053a39c0bcd9f0141b0283fb96c2fe9e2f",
             "Names": ["/heuristic_hopper", "/exb/peer"],
             "Image": "sha256:4ac5748fb99932848e3d361dfe493c6b4f06e84b149953dc7d910b1060f2b84c",
             "ImageID": "sha256:4ac5748fb99932848e3d361dfe493c6b4f06e84b149953dc7d910b1060f2b84c",
             "Command": "true", "Created": now - 3 * 86400, "Ports": [], "Labels": {},
             "State": "created", "Status": "Created", "HostConfig": {"NetworkMode": "default"},
             "NetworkSettings": {"Networks": {}}, "Mounts": []},
        ],
        "Volumes": [
            {"Name": "data", "Driver": "local", "Mountpoint": "/v/data", "Labels": null,
             "Scope": "local", "Options": null, "CreatedAt": rfc3339(now - 500),
             "UsageData": {"RefCount": 1, "Size": 123_456}},
            {"Name": "3f2c9d0b8a7e6f5d4c3b2a1908f7e6d5c4b3a291807f6e5d4c3b2a1908f7e6d5",
             "Driver": "local", "Mountpoint": "/v/anon", "Labels": {"a": "b"}, "Scope": "local",
             "Options": null, "CreatedAt": rfc3339(now - 500),
             "UsageData": {"RefCount": 0, "Size": 0}},
        ],
        "BuildCache": [
            {"ID": "old0123456789abcdefghij", "Parents": null, "Type": "regular",
             "Description": "mount / from exec /bin/sh -c true", "InUse": false,
             "Shared": false, "Size": 2_000_000, "CreatedAt": rfc3339(now - 7200),
             "LastUsedAt": rfc3339(now - 3600), "UsageCount": 2},
            {"ID": "new0123456789abcdefghij", "Parents": ["old0123456789abcdefghij"],
             "Type": "source.local", "Description": "local source for context",
             "InUse": true, "Shared": true, "Size": 500,
             // Created first, used last: the order goes by last use.
             "CreatedAt": rfc3339(now - 6 * 86400),
             "LastUsedAt": rfc3339(now - 60), "UsageCount": 5},
            {"ID": "unused456789abcdefghij", "Parents": null, "Type": "regular",
             "Description": "", "InUse": false, "Shared": false, "Size": 1000,
             "CreatedAt": rfc3339(now - 4 * 86400), "LastUsedAt": null, "UsageCount": 0},
        ],
    })
}

#[test]
fn verbose_disk_usage_matches_the_docker_cli() {
    common::require_docker();
    for args in [
        &["system", "df", "-v"][..],
        &["system", "df", "--verbose=true", "--format", "table"],
        &[
            "system",
            "df",
            "-v",
            "--format",
            "{{range .Images}}{{.Repository}}:{{.Tag}} {{.ID}} {{.UniqueSize}};{{end}}\n\
             {{range .Containers}}{{.ID}} {{.Image}} {{.Command}} {{.Names}} {{.LocalVolumes}};{{end}}\n\
             {{range .Volumes}}{{.Name}} {{.Links}} {{.Size}};{{end}}\n\
             {{range .BuildCache}}{{.ID}} {{.Size}} {{.LastUsedSince}} {{.Shared}};{{end}}",
        ],
        // Not verbose: the summary, as before.
        &["system", "df", "-v=false"],
    ] {
        let [(d, _), (b, _)] = both(args);
        assert!(d.status.success(), "docker {args:?}: {}", stderr(&d));
        assert!(b.status.success(), "berth {args:?}: {}", stderr(&b));
        assert_eq!(
            String::from_utf8_lossy(&b.stdout),
            String::from_utf8_lossy(&d.stdout),
            "{args:?}"
        );
    }
}
