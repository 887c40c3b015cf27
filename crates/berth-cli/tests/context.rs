//! End-to-end: the client configuration berth shares with the stock docker
//! CLI. Contexts made by either CLI drive the other (`--context`, `context
//! use`, TLS material), `-H`/`DOCKER_HOST`/`DOCKER_CONTEXT` rank as in docker,
//! and `--config DIR` wins over `$DOCKER_CONFIG` for contexts and logins.
//! Needs root, busybox-static and the docker CLI at /usr/local/bin/docker.

use std::path::Path;
use std::process::{Command, Output};

use rcgen::ExtendedKeyUsagePurpose;

mod common;
use common::*;

const DOCKER: &str = "/usr/local/bin/docker";

/// Runs `bin` (docker or berth) with config dir `config` and none of the
/// caller's DOCKER_* settings; `env` sets some.
fn client(bin: &str, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin);
    c.args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("DOCKER_CONFIG", config);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn berth(config: &Path, args: &[&str]) -> Output {
    client(BERTH, config, args, &[])
}

fn docker(config: &Path, args: &[&str]) -> Output {
    client(DOCKER, config, args, &[])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A daemon with one container, `marker`, so a listing shows which daemon answered.
fn daemon_with_marker(name: &str, extra: &[&str], marker: &str) -> Daemon {
    let d = Daemon::start_with(name, extra);
    d.busybox();
    d.ok(&["create", "--name", marker, "busybox", "true"]);
    d
}

/// Container names `bin` lists with `args` (global flags) before `ps -a`.
fn names(bin: &str, config: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut all = args.to_vec();
    all.extend(["ps", "-a", "--format", "{{.Names}}"]);
    let what = format!("{bin} {all:?}");
    ok_output(&what, client(bin, config, &all, env))
}

fn meta_json(config: &Path, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let id = hex::encode(Sha256::digest(name.as_bytes()));
    std::fs::read_to_string(config.join("contexts/meta").join(id).join("meta.json")).unwrap()
}

#[test]
fn a_docker_context_drives_berth() {
    let d = daemon_with_marker("ctx-docker", &[], "ctx-marker");
    let cfg = d.root.join("docker-config");
    let host = format!("host={}", d.sock());
    ok_output(
        "docker context create",
        docker(
            &cfg,
            &[
                "context",
                "create",
                "from-docker",
                "--docker",
                &host,
                "--description",
                "by docker",
            ],
        ),
    );

    // --context: the context's host is where berth goes.
    assert_eq!(
        names(BERTH, &cfg, &["--context", "from-docker"], &[]),
        "ctx-marker\n"
    );
    let ls = ok_output(
        "context ls",
        berth(
            &cfg,
            &[
                "context",
                "ls",
                "--format",
                "{{.Name}}|{{.Current}}|{{.Description}}|{{.DockerEndpoint}}",
            ],
        ),
    );
    assert!(
        ls.lines()
            .any(|l| l == format!("from-docker|false|by docker|{}", d.sock())),
        "{ls}"
    );
    assert!(ls.lines().any(|l| l.starts_with("default|true|")), "{ls}");
    // Without it berth does not reach this daemon (its default socket is another).
    let plain = berth(&cfg, &["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !(plain.status.success() && text(&plain).contains("ctx-marker")),
        "plain berth ps reached the test daemon"
    );

    // `context use` writes config.json's currentContext, which docker reads too.
    let out = berth(&cfg, &["context", "use", "from-docker"]);
    assert_eq!(ok_output("context use", out.clone()), "from-docker\n");
    assert_eq!(stderr(&out), "Current context is now \"from-docker\"\n");
    assert_eq!(
        ok_output("docker context show", docker(&cfg, &["context", "show"])),
        "from-docker\n"
    );
    assert_eq!(names(BERTH, &cfg, &[], &[]), "ctx-marker\n");

    // DOCKER_HOST and -H override the current context; DOCKER_CONTEXT does too.
    let nowhere = "unix:///nonexistent/berth-ctx.sock";
    for (args, env) in [
        (vec!["ps"], vec![("DOCKER_HOST", nowhere)]),
        (vec!["-H", nowhere, "ps"], vec![]),
    ] {
        let out = client(BERTH, &cfg, &args, &env);
        assert!(!out.status.success(), "{args:?} {env:?}: {}", text(&out));
        assert!(stderr(&out).contains(nowhere), "{}", stderr(&out));
    }
    let out = client(BERTH, &cfg, &["ps"], &[("DOCKER_CONTEXT", "nosuch")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(
            "Failed to initialize: unable to resolve docker endpoint: context \"nosuch\": context not found"
        ),
        "{}",
        stderr(&out)
    );

    // -H with --context is refused by both CLIs alike.
    for bin in [DOCKER, BERTH] {
        let out = client(
            bin,
            &cfg,
            &["-H", &d.sock(), "--context", "from-docker", "ps"],
            &[],
        );
        assert_eq!(out.status.code(), Some(1), "{bin}");
        assert_eq!(
            stderr(&out),
            "conflicting options: cannot specify both --host and --context\n",
            "{bin}"
        );
    }

    // The context in use is not removed without -f, with docker's words.
    let by_docker = docker(&cfg, &["context", "rm", "from-docker"]);
    let by_berth = berth(&cfg, &["context", "rm", "from-docker"]);
    assert_eq!(by_berth.status.code(), Some(1));
    assert_eq!(stderr(&by_berth), stderr(&by_docker));
    assert_eq!(
        stderr(&by_berth),
        "context \"from-docker\" is in use, set -f flag to force remove\n"
    );
    ok_output("use default", berth(&cfg, &["context", "use", "default"]));
    let config_json = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(!config_json.contains("currentContext"), "{config_json}");
    assert_eq!(
        ok_output("rm", berth(&cfg, &["context", "rm", "from-docker"])),
        "from-docker\n"
    );
    let left = ok_output("docker ls", docker(&cfg, &["context", "ls", "-q"]));
    assert_eq!(left, "default\n");
}

#[test]
fn a_berth_context_drives_docker() {
    let d = daemon_with_marker("ctx-berth", &[], "ctx-marker");
    let cfg = d.root.join("docker-config");
    let sock = d.sock();
    let host = format!("host={sock}");
    let create = |bin: &str, name: &str| {
        let out = client(
            bin,
            &cfg,
            &[
                "context",
                "create",
                name,
                "--docker",
                &host,
                "--description",
                "shared",
            ],
            &[],
        );
        assert_eq!(
            stderr(&out),
            format!("Successfully created context \"{name}\"\n")
        );
        assert_eq!(ok_output("context create", out), format!("{name}\n"));
    };
    create(BERTH, "from-berth");
    create(DOCKER, "twin");
    // Byte for byte what docker writes for the same context.
    assert_eq!(
        meta_json(&cfg, "from-berth"),
        meta_json(&cfg, "twin").replace("\"twin\"", "\"from-berth\"")
    );

    let version = ok_output(
        "docker --context version",
        docker(
            &cfg,
            &[
                "--context",
                "from-berth",
                "version",
                "--format",
                "{{.Server.Version}}",
            ],
        ),
    );
    assert!(!version.trim().is_empty());
    assert_eq!(
        names(DOCKER, &cfg, &["--context", "from-berth"], &[]),
        "ctx-marker\n"
    );
    // Both CLIs describe the store alike.
    for args in [
        vec!["context", "inspect", "from-berth", "twin"],
        vec!["-H", &sock, "context", "ls"],
        vec!["context", "ls", "--format", "json"],
    ] {
        let (b, k) = (berth(&cfg, &args), docker(&cfg, &args));
        assert_eq!(
            ok_output("berth", b),
            ok_output("docker", k).replace(
                "unix:///var/run/docker.sock",
                "unix:///run/berth/berth.sock"
            ),
            "{args:?}"
        );
    }
    // Unknown and invalid names fail as in docker.
    for args in [
        vec!["context", "inspect", "nosuch"],
        vec!["context", "use", "nosuch"],
        vec!["context", "use", "a/b"],
        vec!["context", "create", "x"],
        vec!["context", "create", "twin", "--docker", "host=unix:///x"],
        vec!["context", "rm", "nosuch"],
        vec!["context", "update", "default"],
        vec![
            "context",
            "create",
            "bad1",
            "--docker",
            "host=unix:///x,foo=bar",
        ],
    ] {
        let (b, k) = (berth(&cfg, &args), docker(&cfg, &args));
        assert_eq!(b.status.code(), Some(1), "{args:?}");
        assert_eq!(b.status.code(), k.status.code(), "{args:?}");
        assert_eq!(stderr(&b), stderr(&k), "{args:?}");
        assert_eq!(text(&b), text(&k), "{args:?}");
    }
}

#[test]
fn config_flag_beats_docker_config() {
    let d = daemon_with_marker("ctx-config", &[], "ctx-marker");
    let env_cfg = d.root.join("docker-config");
    let flag_cfg = d.root.join("flag-config");
    let flag = flag_cfg.to_str().unwrap();
    let sock = d.sock();

    // Logins: the same entry in both files; logout with --config drops only its own.
    let login = r#"{"auths":{"127.0.0.1:5999":{"auth":"dTpw"}},"psFormat":"{{.Names}}"}"#;
    for dir in [&env_cfg, &flag_cfg] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.json"), login).unwrap();
    }
    let out = berth(
        &env_cfg,
        &["--config", flag, "-H", &sock, "logout", "127.0.0.1:5999"],
    );
    assert_eq!(
        ok_output("logout", out),
        "Removing login credentials for 127.0.0.1:5999\n"
    );
    let flag_json = std::fs::read_to_string(flag_cfg.join("config.json")).unwrap();
    assert!(!flag_json.contains("127.0.0.1:5999"), "{flag_json}");
    assert!(flag_json.contains("psFormat"), "{flag_json}");
    assert_eq!(
        std::fs::read_to_string(env_cfg.join("config.json")).unwrap(),
        login
    );

    // Contexts: made, listed and used under --config only.
    let host = format!("host={sock}");
    ok_output(
        "create",
        berth(
            &env_cfg,
            &[
                "--config", flag, "context", "create", "flagctx", "--docker", &host,
            ],
        ),
    );
    let listed = |bin: &str, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["context", "ls", "-q"]);
        ok_output("ls", client(bin, &env_cfg, &all, &[]))
    };
    assert_eq!(listed(DOCKER, &["--config", flag]), "default\nflagctx\n");
    assert_eq!(listed(DOCKER, &[]), "default\n");
    assert_eq!(listed(BERTH, &[]), "default\n");
    assert_eq!(
        names(
            BERTH,
            &env_cfg,
            &["--config", flag, "--context", "flagctx"],
            &[]
        ),
        "ctx-marker\n"
    );
    let out = berth(&env_cfg, &["--context", "flagctx", "ps"]);
    assert!(
        stderr(&out).contains("context \"flagctx\": context not found"),
        "{}",
        stderr(&out)
    );
    // currentContext is read from and written to --config's config.json.
    ok_output(
        "use",
        berth(&env_cfg, &["--config", flag, "context", "use", "flagctx"]),
    );
    assert_eq!(
        names(BERTH, &env_cfg, &["--config", flag], &[]),
        "ctx-marker\n"
    );
    let env_json = std::fs::read_to_string(env_cfg.join("config.json")).unwrap();
    assert!(!env_json.contains("currentContext"), "{env_json}");
}

#[test]
fn context_tls_material_is_used() {
    let pki = scratch("ctx-pki");
    let (server, good) = (pki.join("server"), pki.join("client"));
    let ca = Ca::new("berth context CA");
    ca.issue(
        &server,
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
        false,
    );
    ca.issue(&good, &[], ExtendedKeyUsagePurpose::ClientAuth, false);
    let port = free_port("127.0.0.1");
    let tcp = format!("tcp://127.0.0.1:{port}");
    let file = |dir: &Path, f: &str| dir.join(f).to_str().unwrap().to_string();
    let (sca, scert, skey) = (
        file(&server, "ca.pem"),
        file(&server, "cert.pem"),
        file(&server, "key.pem"),
    );
    let d = daemon_with_marker(
        "ctx-tls",
        &[
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &sca,
            "--tlscert",
            &scert,
            "--tlskey",
            &skey,
        ],
        "ctx-marker",
    );
    let cfg = d.root.join("docker-config");
    let full = format!(
        "host={tcp},ca={},cert={},key={}",
        file(&good, "ca.pem"),
        file(&good, "cert.pem"),
        file(&good, "key.pem")
    );
    ok_output(
        "berth create",
        berth(&cfg, &["context", "create", "tls-berth", "--docker", &full]),
    );
    ok_output(
        "docker create",
        docker(
            &cfg,
            &["context", "create", "tls-docker", "--docker", &full],
        ),
    );
    let material = ok_output(
        "inspect",
        berth(
            &cfg,
            &[
                "context",
                "inspect",
                "-f",
                "{{json .TLSMaterial}}",
                "tls-berth",
            ],
        ),
    );
    assert_eq!(
        material,
        "{\"docker\":[\"ca.pem\",\"cert.pem\",\"key.pem\"]}\n"
    );
    // The daemon wants a client certificate: getting through means the
    // context's files were used, by both CLIs, whichever made the context.
    for bin in [BERTH, DOCKER] {
        for ctx in ["tls-berth", "tls-docker"] {
            assert_eq!(
                names(bin, &cfg, &["--context", ctx], &[]),
                "ctx-marker\n",
                "{bin} {ctx}"
            );
        }
    }
    // Only the CA: the daemon refuses us.
    let ca_only = format!("host={tcp},ca={}", file(&good, "ca.pem"));
    ok_output(
        "create",
        berth(
            &cfg,
            &["context", "create", "tls-nocert", "--docker", &ca_only],
        ),
    );
    let out = berth(&cfg, &["--context", "tls-nocert", "ps"]);
    assert!(!out.status.success(), "{}", text(&out));
    // skip-tls-verify: no CA needed, the key pair still sent.
    let skip = format!(
        "host={tcp},skip-tls-verify=true,cert={},key={}",
        file(&good, "cert.pem"),
        file(&good, "key.pem")
    );
    ok_output(
        "create",
        berth(&cfg, &["context", "create", "tls-skip", "--docker", &skip]),
    );
    assert_eq!(
        names(BERTH, &cfg, &["--context", "tls-skip"], &[]),
        "ctx-marker\n"
    );
}

/// Runs `bin` as [`client`] does, in directory `cwd`, with `stdin` as its input.
fn client_at(bin: &str, config: &Path, args: &[&str], cwd: &Path, stdin: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The files of a context's TLS dir, `<endpoint>/<file>` → contents.
fn tls_files(config: &Path, name: &str) -> Vec<(String, Vec<u8>)> {
    use sha2::{Digest, Sha256};
    let dir = config
        .join("contexts/tls")
        .join(hex::encode(Sha256::digest(name.as_bytes())));
    let mut out = Vec::new();
    for ep in std::fs::read_dir(&dir).unwrap() {
        let ep = ep.unwrap();
        for f in std::fs::read_dir(ep.path()).unwrap() {
            let f = f.unwrap();
            let key = format!(
                "{}/{}",
                ep.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            );
            out.push((key, std::fs::read(f.path()).unwrap()));
        }
    }
    out.sort();
    out
}

/// Docker 28 ends its export right after the last file's data; berth writes
/// the same bytes, then the padding and end-of-archive blocks tar requires.
fn assert_same_archive(docker: &[u8], berth: &[u8], what: &str) {
    assert!(
        berth.len() > docker.len() && berth.starts_with(docker),
        "{what}: docker's {} bytes are not the start of berth's {}",
        docker.len(),
        berth.len()
    );
    assert!(berth[docker.len()..].iter().all(|b| *b == 0), "{what}");
    assert_eq!(berth.len() % 512, 0, "{what}");
}

#[test]
fn contexts_move_between_clis_by_export_and_import() {
    let d = Daemon::start("ctx-export");
    let cfg = d.root.join("docker-config");
    let work = d.root.join("export-work");
    std::fs::create_dir_all(&work).unwrap();
    let run = |bin: &str, args: &[&str], stdin: &[u8]| client_at(bin, &cfg, args, &work, stdin);
    let ok = |what: &str, out: Output| {
        assert!(out.status.success(), "{what}: {}", stderr(&out));
        out
    };
    let pki = work.join("pki");
    Ca::new("berth export CA").issue(&pki, &[], ExtendedKeyUsagePurpose::ClientAuth, false);
    let pem = |f: &str| pki.join(f).to_str().unwrap().to_string();
    let host = format!("host={}", d.sock());
    let tls = format!(
        "host=tcp://127.0.0.1:1,ca={},cert={},key={}",
        pem("ca.pem"),
        pem("cert.pem"),
        pem("key.pem")
    );
    for (name, opts) in [("by-docker", &host), ("tls-docker", &tls)] {
        ok(
            "docker create",
            run(
                DOCKER,
                &[
                    "context",
                    "create",
                    name,
                    "--docker",
                    opts,
                    "--description",
                    "moved",
                ],
                b"",
            ),
        );
    }

    // docker exports (to a file, to stdout) → berth imports (from a file, from stdin).
    let out = ok(
        "docker export",
        run(DOCKER, &["context", "export", "by-docker"], b""),
    );
    assert_eq!(stderr(&out), "Written file \"by-docker.dockercontext\"\n");
    let docker_plain = std::fs::read(work.join("by-docker.dockercontext")).unwrap();
    let docker_tls = ok(
        "docker export -",
        run(DOCKER, &["context", "export", "tls-docker", "-"], b""),
    )
    .stdout;
    let out = ok(
        "berth import",
        run(
            BERTH,
            &[
                "context",
                "import",
                "from-docker",
                "by-docker.dockercontext",
            ],
            b"",
        ),
    );
    assert_eq!(text(&out), "from-docker\n");
    assert_eq!(
        stderr(&out),
        "Successfully imported context \"from-docker\"\n"
    );
    ok(
        "berth import -",
        run(
            BERTH,
            &["context", "import", "tls-from-docker", "-"],
            &docker_tls,
        ),
    );
    assert_eq!(
        meta_json(&cfg, "from-docker"),
        meta_json(&cfg, "by-docker").replace("\"by-docker\"", "\"from-docker\"")
    );
    assert_eq!(
        tls_files(&cfg, "tls-from-docker"),
        tls_files(&cfg, "tls-docker")
    );
    assert_eq!(tls_files(&cfg, "tls-from-docker").len(), 3);
    let version = ok(
        "berth --context version",
        run(
            BERTH,
            &[
                "--context",
                "from-docker",
                "version",
                "--format",
                "{{.Server.Version}}",
            ],
            b"",
        ),
    );
    assert!(!text(&version).trim().is_empty());

    // berth exports: docker's bytes, then tar's end; docker imports them.
    let out = ok(
        "berth export",
        run(BERTH, &["context", "export", "from-docker"], b""),
    );
    assert_eq!(stderr(&out), "Written file \"from-docker.dockercontext\"\n");
    assert!(text(&out).is_empty());
    let berth_plain = std::fs::read(work.join("from-docker.dockercontext")).unwrap();
    let berth_tls = ok(
        "berth export -",
        run(BERTH, &["context", "export", "tls-docker", "-"], b""),
    )
    .stdout;
    assert_same_archive(&docker_tls, &berth_tls, "tls-docker");
    let berth_of_docker = ok(
        "berth export",
        run(BERTH, &["context", "export", "by-docker", "-"], b""),
    )
    .stdout;
    assert_same_archive(&docker_plain, &berth_of_docker, "by-docker");
    assert!(berth_plain.windows(13).any(|w| w == b"\"from-docker\""));
    ok(
        "docker import",
        run(
            DOCKER,
            &[
                "context",
                "import",
                "from-berth",
                "from-docker.dockercontext",
            ],
            b"",
        ),
    );
    ok(
        "docker import -",
        run(
            DOCKER,
            &["context", "import", "tls-from-berth", "-"],
            &berth_tls,
        ),
    );
    assert_eq!(
        tls_files(&cfg, "tls-from-berth"),
        tls_files(&cfg, "tls-docker")
    );
    let version = ok(
        "docker --context version",
        run(
            DOCKER,
            &[
                "--context",
                "from-berth",
                "version",
                "--format",
                "{{.Server.Version}}",
            ],
            b"",
        ),
    );
    assert!(!text(&version).trim().is_empty());
    // The default context is exported as -H makes it, by both alike.
    let sock = d.sock();
    let (b, k) = (
        ok(
            "berth",
            run(
                BERTH,
                &["-H", &sock, "context", "export", "default", "-"],
                b"",
            ),
        )
        .stdout,
        ok(
            "docker",
            run(
                DOCKER,
                &["-H", &sock, "context", "export", "default", "-"],
                b"",
            ),
        )
        .stdout,
    );
    assert_same_archive(&k, &b, "default");

    // Errors, with docker's words and exit codes.
    std::fs::write(work.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(work.join("empty"), "").unwrap();
    std::fs::write(work.join("junk"), [b'x'; 1024]).unwrap();
    let mut other = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path("other.json").unwrap();
    h.set_size(2);
    h.set_cksum();
    other.append(&h, &b"{}"[..]).unwrap();
    std::fs::write(work.join("other.tar"), other.into_inner().unwrap()).unwrap();
    for args in [
        vec!["context", "export", "x"],
        vec!["context", "export", "by-docker", "by-docker.dockercontext"],
        vec!["context", "export", "by-docker", "/nonexistent/dir/x.tar"],
        vec!["context", "import", "by-docker", "by-docker.dockercontext"],
        vec!["context", "import", "default", "by-docker.dockercontext"],
        vec!["context", "import", "a/b", "by-docker.dockercontext"],
        vec!["context", "import", "new-one", "/nonexistent.tar"],
        vec!["context", "import", "new-one", "hello.txt"],
        vec!["context", "import", "new-one", "empty"],
        vec!["context", "import", "new-one", "junk"],
        vec!["context", "import", "new-one", "other.tar"],
    ] {
        let (b, k) = (run(BERTH, &args, b""), run(DOCKER, &args, b""));
        assert_eq!(b.status.code(), Some(1), "{args:?}: {}", stderr(&b));
        assert_eq!(b.status.code(), k.status.code(), "{args:?}");
        assert_eq!(stderr(&b), stderr(&k), "{args:?}");
        assert_eq!(text(&b), text(&k), "{args:?}");
    }
    // An unknown context fails after the file is made, leaving it empty, as in docker.
    let (b, k) = (
        run(BERTH, &["context", "export", "nosuch", "b-nosuch"], b""),
        run(DOCKER, &["context", "export", "nosuch", "d-nosuch"], b""),
    );
    assert_eq!(b.status.code(), Some(1));
    assert_eq!(b.status.code(), k.status.code());
    assert_eq!(stderr(&b), stderr(&k));
    assert!(
        stderr(&b).contains("context \"nosuch\": context not found"),
        "{}",
        stderr(&b)
    );
    for f in ["b-nosuch", "d-nosuch"] {
        assert_eq!(std::fs::metadata(work.join(f)).unwrap().len(), 0, "{f}");
    }
    let left = ok("ls", run(DOCKER, &["context", "ls", "-q"], b""));
    assert!(!text(&left).contains("new-one"), "{}", text(&left));
}
