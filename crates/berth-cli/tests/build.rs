//! End-to-end builds through the daemon: here-documents, COPY/ADD flags,
//! ADD of archives and URLs, ONBUILD triggers, stage pruning, and Docker's
//! errors for bad Dockerfiles. Needs root, overlayfs and busybox-static.

mod common;

use common::{text, Daemon};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

fn context(d: &Daemon, name: &str, dockerfile: &str) -> PathBuf {
    let ctx = d.root.join(name);
    let _ = std::fs::remove_dir_all(&ctx);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    ctx
}

fn build(d: &Daemon, tag: &str, ctx: &Path) -> String {
    d.ok(&["build", "-t", tag, ctx.to_str().unwrap()])
}

/// Serves `body` over HTTP on loopback for as many requests as come.
fn serve(body: &'static [u8]) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let resp = if req.starts_with("GET /files/data.txt") {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(body);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = s.write_all(&resp);
        }
    });
    format!("http://{addr}")
}

#[test]
fn heredocs_chmod_and_add_archives() {
    let d = Daemon::start("bheredoc");
    d.busybox();
    let ctx = context(
        &d,
        "ctx",
        "FROM busybox\n\
         ARG WHO=builder\n\
         RUN <<EOF\n\
         echo one > /run1\n\
         echo two >> /run1\n\
         EOF\n\
         RUN cat <<END > /run2\n\
         fed by $WHO\n\
         END\n\
         COPY <<-EOF /etc/greeting\n\
         \thello $WHO\n\
         \tEOF\n\
         COPY <<'RAW' /raw.txt\n\
         $WHO stays\n\
         RAW\n\
         COPY --chmod=751 script.sh /bin/script.sh\n\
         ADD tree.tar.gz /unpacked/\n\
         ADD plain.txt /plain/\n",
    );
    std::fs::write(ctx.join("script.sh"), "#!/bin/sh\necho script\n").unwrap();
    std::fs::write(ctx.join("plain.txt"), "not an archive\n").unwrap();
    // A gzip'd tar made by the system's tar, with an owner of its own.
    let src = d.root.join("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/inner.txt"), "from the archive\n").unwrap();
    let st = std::process::Command::new("tar")
        .args(["-czf"])
        .arg(ctx.join("tree.tar.gz"))
        .args(["--owner=1234", "--group=2345", "-C"])
        .arg(&src)
        .arg("sub")
        .status()
        .unwrap();
    assert!(st.success());
    build(&d, "hd:1", &ctx);
    let out = d.ok(&[
        "run",
        "--rm",
        "hd:1",
        "sh",
        "-c",
        "cat /run1 /run2 /etc/greeting /raw.txt /unpacked/sub/inner.txt /plain/plain.txt; \
         stat -c '%a' /bin/script.sh; stat -c '%u:%g' /unpacked/sub/inner.txt",
    ]);
    assert_eq!(
        out,
        "one\ntwo\nfed by builder\nhello builder\n$WHO stays\nfrom the archive\nnot an archive\n751\n1234:2345\n"
    );
    // A rebuild with nothing changed is served from the cache entirely.
    let again = build(&d, "hd:2", &ctx);
    assert_eq!(again.matches("Using cache").count(), 7, "{again}");
    let ids = (
        d.ok(&["inspect", "-f", "{{.Id}}", "hd:1"]),
        d.ok(&["inspect", "-f", "{{.Id}}", "hd:2"]),
    );
    assert_eq!(ids.0, ids.1);
}

#[test]
fn add_url_checksum_onbuild_and_stage_pruning() {
    let d = Daemon::start("bonbuild");
    d.busybox();
    let base = serve(b"downloaded content\n");
    let sum = {
        use std::process::Command;
        let o = Command::new("sh")
            .args(["-c", "printf 'downloaded content\\n' | sha256sum"])
            .output()
            .unwrap();
        text(&o).split_whitespace().next().unwrap().to_string()
    };
    let parent = context(
        &d,
        "parent",
        "FROM busybox\nONBUILD RUN echo triggered > /trigger\nONBUILD COPY marker /marker\n",
    );
    build(&d, "onb:parent", &parent);
    let onb = d.ok(&["inspect", "-f", "{{json .Config.OnBuild}}", "onb:parent"]);
    assert!(onb.contains("RUN echo triggered"), "{onb}");

    let child = context(
        &d,
        "child",
        &format!(
            "FROM busybox AS unused\n\
             RUN exit 3\n\
             FROM onb:parent\n\
             ADD --checksum=sha256:{sum} {base}/files/data.txt /dl/\n\
             ADD {base}/files/data.txt /named.txt\n"
        ),
    );
    std::fs::write(child.join("marker"), "copied by a trigger\n").unwrap();
    let out = build(&d, "onb:child", &child);
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    let got = d.ok(&[
        "run",
        "--rm",
        "onb:child",
        "sh",
        "-c",
        "cat /trigger /marker /dl/data.txt /named.txt; stat -c '%a %Y' /named.txt",
    ]);
    assert_eq!(
        got,
        "triggered\ncopied by a trigger\ndownloaded content\ndownloaded content\n600 1445412480\n"
    );
    // The child does not inherit the triggers.
    let onb = d.ok(&["inspect", "-f", "{{json .Config.OnBuild}}", "onb:child"]);
    assert!(onb.trim() == "null" || onb.trim() == "[]", "{onb}");

    // A wrong checksum fails the build and tags nothing.
    let bad = context(
        &d,
        "bad",
        &format!(
            "FROM busybox\nADD --checksum=sha256:{} {base}/files/data.txt /x\n",
            "0".repeat(64)
        ),
    );
    let o = d.cli(&["build", "-t", "bad:1", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("digest mismatch")
            || String::from_utf8_lossy(&o.stderr).contains("digest mismatch")
    );
    assert!(!d.cli(&["image", "inspect", "bad:1"]).status.success());
}

#[test]
fn bad_dockerfiles_fail_with_dockers_message_and_leave_nothing() {
    let d = Daemon::start("bbad");
    d.busybox();
    let cases = [
        ("FROM busybox\nCOPY --bogus=1 a /b\n", "Unknown flag: bogus"),
        (
            "FROM busybox\nONBUILD ONBUILD RUN true\n",
            "Chaining ONBUILD",
        ),
        (
            "FROM busybox\nRUN <<EOF\necho never closed\n",
            "unterminated heredoc EOF",
        ),
        (
            "FROM busybox\nCOPY http://example.invalid/x /x\n",
            "source can't be a URL for COPY",
        ),
        ("FROM busybox\nRUN exit 7\n", "returned a non-zero code: 7"),
    ];
    for (i, (df, want)) in cases.iter().enumerate() {
        let ctx = context(&d, &format!("c{i}"), df);
        let o = d.cli(&["build", "-t", &format!("bad:{i}"), ctx.to_str().unwrap()]);
        let all = format!("{}{}", text(&o), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success(), "case {i} succeeded: {all}");
        assert_eq!(o.status.code(), Some(1), "{all}");
        assert!(all.contains(want), "case {i}: want {want:?} in {all}");
    }
    assert_eq!(d.ok(&["ps", "-aq"]), "", "build containers left behind");
}

#[test]
fn stdin_contexts_iidfile_and_run_options() {
    let d = Daemon::start("bstdin");
    d.busybox();
    // A Dockerfile on stdin is the whole context.
    let o = d.cli_in(
        &["build", "-q", "-t", "stdin:df", "-"],
        "FROM busybox\nRUN echo from-stdin > /f\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        d.ok(&["run", "--rm", "stdin:df", "cat", "/f"]),
        "from-stdin\n"
    );

    // `-f -`: the Dockerfile from stdin, the files from the directory.
    let ctx = context(&d, "fctx", "FROM busybox\nRUN false\n");
    std::fs::write(ctx.join("data"), "context file\n").unwrap();
    let iid = d.root.join("iid");
    let o = d.cli_in(
        &[
            "build",
            "-f",
            "-",
            "--iidfile",
            iid.to_str().unwrap(),
            "-t",
            "stdin:f",
            ctx.to_str().unwrap(),
        ],
        "FROM busybox\nCOPY data /data\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(
        format!("{}\n", id),
        d.ok(&["inspect", "-f", "{{.Id}}", "stdin:f"])
    );
    assert_eq!(
        d.ok(&["run", "--rm", "stdin:f", "cat", "/data"]),
        "context file\n"
    );

    // A tar on stdin is the context.
    let tarred = d.root.join("ctx.tar");
    let st = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&tarred)
        .arg("-C")
        .arg(&ctx)
        .arg("data")
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nCOPY data /tarred\n").unwrap();
    let st = std::process::Command::new("tar")
        .arg("-rf")
        .arg(&tarred)
        .arg("-C")
        .arg(&ctx)
        .arg("Dockerfile")
        .status()
        .unwrap();
    assert!(st.success());
    let sh = format!(
        "{} -H {} build -q -t stdin:tar - < {}",
        common::BERTH,
        d.sock(),
        tarred.display()
    );
    let o = std::process::Command::new("sh")
        .args(["-c", &sh])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        d.ok(&["run", "--rm", "stdin:tar", "cat", "/tarred"]),
        "context file\n"
    );

    // RUN containers get the build's network, hosts and limits.
    let ctx = context(
        &d,
        "opts",
        "FROM busybox\n\
         RUN --network=none ls /sys/class/net > /nets\n\
         RUN grep myhost /etc/hosts > /hosts\n\
         RUN cat /sys/fs/cgroup/memory.max > /mem 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes > /mem\n",
    );
    d.ok(&[
        "build",
        "-q",
        "-t",
        "opts:1",
        "--add-host",
        "myhost:10.1.2.3",
        "-m",
        "64m",
        ctx.to_str().unwrap(),
    ]);
    let got = d.ok(&["run", "--rm", "opts:1", "cat", "/nets", "/hosts", "/mem"]);
    assert_eq!(got, "lo\n10.1.2.3\tmyhost\n67108864\n");

    // The stock docker CLI's `--ulimit` and `--cgroup-parent` reach the RUN
    // containers too.
    let parent = format!("berth-e2e-bparent-{}", std::process::id());
    let ctx = context(
        &d,
        "limits",
        "FROM busybox\n\
         RUN ulimit -n > /nofile\n\
         RUN grep -c /berth-e2e-bparent- /proc/self/cgroup > /parent\n",
    );
    let o = d.docker(&[
        "build",
        "-q",
        "-t",
        "limits:1",
        "--ulimit",
        "nofile=1234:1234",
        "--cgroup-parent",
        &format!("/{parent}"),
        ctx.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = d.ok(&["run", "--rm", "limits:1", "cat", "/nofile", "/parent"]);
    let (nofile, parents) = got.split_once('\n').unwrap();
    assert_eq!(nofile, "1234");
    assert_ne!(parents.trim(), "0", "{got}");
    common::cleanup::remove_cgroup_parent(&parent);

    // RUN --mount needs BuildKit, as Docker's classic builder says.
    let ctx = context(
        &d,
        "mount",
        "FROM busybox\nRUN --mount=type=cache,target=/c true\n",
    );
    let o = d.cli(&["build", ctx.to_str().unwrap()]);
    assert!(!o.status.success());
    let all = format!("{}{}", text(&o), String::from_utf8_lossy(&o.stderr));
    assert!(
        all.contains("the --mount option requires BuildKit"),
        "{all}"
    );
}

/// Independent stages build at the same time: stage `a` fetches from a
/// server that stage `b` runs (over the host network), which only works when
/// both run at once; a sequential builder would wait forever (cut off here).
#[test]
fn independent_stages_build_in_parallel() {
    let d = Daemon::start("bparallel");
    d.busybox();
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::create_dir_all(d.root.join("par")).unwrap();
    std::fs::write(
        d.root.join("par/serve.sh"),
        // httpd reads the request before answering (a one-shot `nc -l` could
        // reset the connection under wget); it serves for 10 s, long enough
        // for stage a, which runs at the same time.
        format!(
            "mkdir -p /www && echo from-b > /www/x\ntimeout 10 httpd -f -p {port} -h /www\ntrue\n"
        ),
    )
    .unwrap();
    let ctx = d.root.join("par");
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox AS a\n\
             RUN --network=host sh -c 'until wget -qO /got http://127.0.0.1:{port}/x; do sleep 0.1; done'\n\
             FROM busybox AS b\n\
             COPY serve.sh /serve.sh\n\
             RUN --network=host sh /serve.sh\n\
             FROM busybox\n\
             COPY --from=a /got /got\n\
             COPY --from=b /serve.sh /b\n"
        ),
    )
    .unwrap();
    let o = std::process::Command::new("timeout")
        .args([
            "120",
            common::BERTH,
            "-H",
            &d.sock(),
            "build",
            "-t",
            "par:1",
        ])
        .arg(&ctx)
        .output()
        .unwrap();
    let out = text(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Step numbers follow the file, whatever order the stages ran in.
    for step in [
        "Step 1/8 : FROM busybox AS a",
        "Step 3/8 : FROM busybox AS b",
        "Step 8/8 : COPY --from=b /serve.sh /b",
    ] {
        assert!(out.contains(step), "{step} missing in {out}");
    }
    assert_eq!(d.ok(&["run", "--rm", "par:1", "cat", "/got"]), "from-b\n");
}

/// A build cut off by a daemon crash leaves nothing behind once the
/// daemon is back: its RUN container is removed at start.
#[test]
fn build_containers_are_collected_after_a_daemon_crash() {
    let mut d = Daemon::start("bcrash");
    d.busybox();
    let ctx = context(&d, "crash", "FROM busybox\nRUN sleep 60\n");
    let mut build = std::process::Command::new(common::BERTH)
        .args(["-H", &d.sock(), "build", "-q"])
        .arg(&ctx)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while d.ok(&["ps", "-q"]).trim().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the RUN step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    d.kill9();
    let _ = build.wait();
    d.spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !d.ok(&["ps", "-aq"]).trim().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "build container left after restart: {}",
            d.ok(&["ps", "-a"])
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Docker's predefined proxy args reach RUN without an ARG line, and do not
/// change the cache key or show in the history.
#[test]
fn predefined_proxy_args() {
    let d = Daemon::start("bproxy");
    d.busybox();
    let ctx = context(
        &d,
        "proxy",
        "FROM busybox\nRUN echo \"p=$HTTP_PROXY\" > /p\n",
    );
    let dir = ctx.to_str().unwrap();
    d.ok(&[
        "build",
        "-q",
        "-t",
        "px:1",
        "--build-arg",
        "HTTP_PROXY=http://proxy.test:3128",
        dir,
    ]);
    assert_eq!(
        d.ok(&["run", "--rm", "px:1", "cat", "/p"]),
        "p=http://proxy.test:3128\n"
    );
    let history = d.ok(&["history", "--no-trunc", "px:1"]);
    assert!(!history.contains("proxy.test"), "{history}");
    let again = d.ok(&[
        "build",
        "-t",
        "px:2",
        "--build-arg",
        "HTTP_PROXY=http://other:1",
        dir,
    ]);
    assert!(again.contains("Using cache"), "{again}");
}

/// The cache key of a COPY follows its sources' content, whether the
/// context comes from a directory or from a tar on stdin that starts with
/// `./` (as `tar -C dir -c .` writes), and the image gets that content:
/// the context holds most file contents back from the disk until a COPY
/// reads them, and hashes them as they arrive.
#[test]
fn the_cache_follows_content_for_both_context_forms() {
    let d = Daemon::start("bcontent");
    d.busybox();
    let ctx = context(
        &d,
        "content",
        "FROM busybox\nCOPY big /big\nCOPY small /small\n",
    );
    let fill = |c: u8| vec![c; 300_000];
    std::fs::write(ctx.join("big"), fill(b'a')).unwrap();
    std::fs::write(ctx.join("small"), "s1\n").unwrap();
    let dir = ctx.to_str().unwrap();
    let head = |tag: &str| {
        d.ok(&[
            "run",
            "--rm",
            tag,
            "sh",
            "-c",
            "head -c 3 /big; wc -c </big; cat /small",
        ])
    };

    d.ok(&["build", "-q", "-t", "c:1", dir]);
    assert_eq!(head("c:1"), "aaa300000\ns1\n");
    let again = d.ok(&["build", "-t", "c:1", dir]);
    assert_eq!(again.matches("Using cache").count(), 2, "{again}");

    // Same size, other bytes: the first COPY must run again.
    std::fs::write(ctx.join("big"), fill(b'b')).unwrap();
    let changed = d.ok(&["build", "-t", "c:2", dir]);
    assert_eq!(changed.matches("Using cache").count(), 0, "{changed}");
    assert_eq!(head("c:2"), "bbb300000\ns1\n");

    // The same through a `./` tar on stdin, built twice, then changed.
    let by_tar = |tag: &str| {
        let sh = format!(
            "tar -C {dir} -c . | {} -H {} build -t {tag} -",
            common::BERTH,
            d.sock()
        );
        let o = std::process::Command::new("sh")
            .args(["-c", &sh])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let first = by_tar("c:3");
    assert_eq!(head("c:3"), "bbb300000\ns1\n");
    let cached = by_tar("c:3");
    assert_eq!(
        cached.matches("Using cache").count(),
        2,
        "{first}\n{cached}"
    );
    std::fs::write(ctx.join("big"), fill(b'c')).unwrap();
    std::fs::write(ctx.join("small"), "s2\n").unwrap();
    let changed = by_tar("c:4");
    assert_eq!(changed.matches("Using cache").count(), 0, "{changed}");
    assert_eq!(head("c:4"), "ccc300000\ns2\n");
}

/// `builder prune` removes cached step images nothing holds and forgets
/// their cache rows; `-a` forgets every row, so the next build runs all
/// steps, while tagged images stay.
#[test]
fn builder_prune_removes_dangling_cache_and_all_forgets_it() {
    let d = Daemon::start("bprune");
    d.busybox();
    let ctx = context(
        &d,
        "prune",
        "FROM busybox\nRUN echo 1 > /a\nRUN echo 2 > /b\n",
    );
    let dir = ctx.to_str().unwrap();
    d.ok(&["build", "-q", "-t", "p:1", dir]);
    let old = d.ok(&["inspect", "-f", "{{.Id}}", "p:1"]);
    // The tag moves: the old last step's image is left to the cache alone.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo 1 > /a\nRUN echo 3 > /b\n",
    )
    .unwrap();
    d.ok(&["build", "-q", "-t", "p:1", dir]);

    let out = d.ok(&["builder", "prune", "-f"]);
    assert!(out.starts_with("Deleted build cache objects:\n"), "{out}");
    assert!(out.contains(old.trim()), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_ne!(
        d.cli(&["image", "inspect", old.trim()]).status.code(),
        Some(0)
    );
    // The shared first step and the tagged image are still cached.
    let again = d.ok(&["build", "-t", "p:1", dir]);
    assert_eq!(again.matches("Using cache").count(), 2, "{again}");

    let out = d.ok(&["builder", "prune", "-af"]);
    assert!(out.contains("Total reclaimed space: 0B"), "{out}");
    let fresh = d.ok(&["build", "-t", "p:2", dir]);
    assert_eq!(fresh.matches("Using cache").count(), 0, "{fresh}");
    assert_eq!(d.ok(&["run", "--rm", "p:1", "cat", "/a", "/b"]), "1\n3\n");
    let (code, body) = d.api(
        "POST",
        "/v1.47/build/prune?filters=%7B%22bogus%22%3A%5B%221%22%5D%7D",
        "",
    );
    assert_eq!(
        (code, body.trim()),
        (400, r#"{"message":"invalid filter 'bogus'"}"#)
    );
}

/// A COPY with a glob is cached by what the glob matches now: other
/// content in a matched file, or one more matching file, runs it again.
#[test]
fn glob_copies_follow_the_files_they_match() {
    let d = Daemon::start("bglob");
    d.busybox();
    let ctx = context(
        &d,
        "glob",
        "FROM busybox\nCOPY *.txt /g/\nRUN cat /g/* > /all\n",
    );
    std::fs::write(ctx.join("a.txt"), "one\n").unwrap();
    let dir = ctx.to_str().unwrap();
    let all = |tag: &str| d.ok(&["run", "--rm", tag, "cat", "/all"]);
    d.ok(&["build", "-q", "-t", "g:1", dir]);
    assert_eq!(all("g:1"), "one\n");
    let again = d.ok(&["build", "-t", "g:1", dir]);
    assert_eq!(again.matches("Using cache").count(), 2, "{again}");

    std::fs::write(ctx.join("a.txt"), "two\n").unwrap();
    let changed = d.ok(&["build", "-t", "g:2", dir]);
    assert_eq!(changed.matches("Using cache").count(), 0, "{changed}");
    assert_eq!(all("g:2"), "two\n");

    std::fs::write(ctx.join("b.txt"), "three\n").unwrap();
    let more = d.ok(&["build", "-t", "g:3", dir]);
    assert_eq!(more.matches("Using cache").count(), 0, "{more}");
    assert_eq!(all("g:3"), "two\nthree\n");
}

/// `--cache-from` (through the stock docker CLI): an image that came
/// without its build cache (here saved, removed with the cache, loaded
/// back, as a pull would bring it) stands for the steps it was built with,
/// and rebuilding the same gives the same image id. The history names
/// each step as Docker's does, COPY with a content hash.
#[test]
fn cache_from_images_stand_for_their_steps() {
    let d = Daemon::start("bcachefrom");
    d.busybox();
    let ctx = context(
        &d,
        "cachefrom",
        "FROM busybox\nENV A=1\nCOPY a.txt /a.txt\nCOPY d /d\n\
         RUN echo ran > /ran\nCMD [\"sh\"]\n",
    );
    std::fs::write(ctx.join("a.txt"), "a\n").unwrap();
    std::fs::create_dir(ctx.join("d")).unwrap();
    std::fs::write(ctx.join("d/x"), "x\n").unwrap();
    let dir = ctx.to_str().unwrap();
    d.ok(&["build", "-q", "-t", "app:1", dir]);
    let id = d.ok(&["inspect", "-f", "{{.Id}}", "app:1"]);

    let history = d.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|",
        "app:1",
    ]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines[0], "/bin/sh -c #(nop)  CMD [\"sh\"]|", "{history}");
    assert_eq!(lines[1], "/bin/sh -c echo ran > /ran|", "{history}");
    assert!(
        lines[2].starts_with("/bin/sh -c #(nop) COPY dir:") && lines[2].ends_with(" in /d |"),
        "{history}"
    );
    assert!(
        lines[3].starts_with("/bin/sh -c #(nop) COPY file:") && lines[3].ends_with(" in /a.txt |"),
        "{history}"
    );
    assert_eq!(lines[4], "/bin/sh -c #(nop)  ENV A=1|", "{history}");

    // Away with the image and every cache row; back with the image alone.
    let tar = d.root.join("app.tar");
    d.ok(&["save", "-o", tar.to_str().unwrap(), "app:1"]);
    d.ok(&["rmi", "app:1"]);
    d.ok(&["builder", "prune", "-af"]);
    d.ok(&["load", "-i", tar.to_str().unwrap()]);
    let plain = d.ok(&["build", "--no-cache", "-q", "-t", "fresh", dir]);
    assert_ne!(plain.trim(), id.trim());
    d.ok(&["builder", "prune", "-af"]);

    let docker = |args: &[&str]| common::ok_output("docker build", d.docker(args));
    let out = docker(&["build", "--cache-from", "app:1", "-t", "app:2", dir]);
    assert_eq!(out.matches("Using cache").count(), 5, "{out}");
    assert!(!out.contains("Running in"), "{out}");
    assert_eq!(d.ok(&["inspect", "-f", "{{.Id}}", "app:2"]), id);
    assert_eq!(
        d.ok(&["run", "--rm", "app:2", "cat", "/a.txt", "/d/x", "/ran"]),
        "a\nx\nran\n"
    );

    // A changed file: the steps before it still come from the image, the
    // rest run; an image not found locally is skipped, as Docker does.
    d.ok(&["builder", "prune", "-af"]);
    std::fs::write(ctx.join("d/x"), "y\n").unwrap();
    let out = docker(&[
        "build",
        "--cache-from",
        "nosuch:image",
        "--cache-from",
        "app:1",
        "-t",
        "app:3",
        dir,
    ]);
    assert_eq!(out.matches("Using cache").count(), 2, "{out}");
    assert_eq!(out.matches("Running in").count(), 1, "{out}");
    assert_eq!(
        d.ok(&["run", "--rm", "app:3", "cat", "/a.txt", "/d/x", "/ran"]),
        "a\ny\nran\n"
    );
    let cmd = d.ok(&[
        "inspect",
        "-f",
        "{{json .Config.Cmd}} {{.Config.Env}}",
        "app:3",
    ]);
    assert!(
        cmd.starts_with("[\"sh\"] [") && cmd.contains("A=1"),
        "{cmd}"
    );
}
