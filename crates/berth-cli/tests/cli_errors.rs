//! Command-line mistakes: berth must print what the stock docker CLI prints
//! (with "berth" for "docker") and exit with the same status. Both CLIs find
//! these mistakes before they talk to a daemon, so both are pointed at a
//! socket that does not exist. Skipped when no `docker` is on PATH.

mod common;

use std::process::{Command, Output, Stdio};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// Command lines both CLIs refuse, one per line, split on spaces.
///
/// Left out, as berth cannot match them:
/// - `builder ...` and `build` errors: docker without buildx prints a
///   deprecation banner first.
/// - a management command alone (`image`): docker prints its own help on
///   stderr; berth prints clap's help.
const CASES: &str = "\
run
run --oops
run -z
run -it -z busybox
run -itz busybox
run -zit busybox
run --name
run -e
run --net
run --cpu-shares abc busybox
run -c abc busybox
run --cpu-shares=99999999999999999999 busybox
run --memory-swappiness abc busybox
run --pids-limit x busybox
run --blkio-weight x busybox
run --blkio-weight 99999 busybox
run --blkio-weight -1 busybox
run --stop-timeout x busybox
run --rm=abc busybox
run -d=maybe busybox
run -t=abc busybox
run --sig-proxy=x busybox
run --rm= busybox
run -d= busybox
run -it=x busybox
run -dit=maybe busybox
run -i=1 -t=yes busybox
run --rm=true --rm=no busybox
run --name a --name b --oops busybox
run --privileged=on busybox
run --tty=tRUE busybox
container run
create
create --oops busybox
create --cpu-shares abc busybox
container create -z
exec
exec c
exec -it
exec -z
exec --oops c ls
exec -e
exec -d=x c ls
container exec -u
rm
rm --oops
rm -z c
rm -f=x c
container rm
container remove
start
stop
stop -t
stop --time
stop -t x c
stop --time x c
restart -t x c
kill -s
wait c --oops
tag a
tag a b c
tag a b c d
tag a b c --oops
tag --oops a b
image tag a
rename a
rename a b c
rename a b c --oops
images a b
images a b --oops
images --filter
images -q=x
image ls a b
image ls -z
image ls --oops
image inspect
image rm
image rm --oops
image history -H=x a
image pull --oops
image foo
image foo --oops
image foo -z
image --oops
inspect
inspect --oops
inspect -f
inspect -s=x a
container inspect
container inspect -s=x a
logs
logs a b
logs -n
logs --tail
logs --since
logs -f=x a
container logs -n
ps x
ps -n x
ps --last x
ps -n
ps -q=maybe
container ls x
container list x
container ls -z
container foo
container --oops
container foo --oops
network foo
network --oops
network create
network create a b
network create -d
network create --ipv6=x a
network create --internal=x a
network connect a
network connect --oops a b
network disconnect a
network rm
network rm -f=x a
network ls x
network inspect
network prune x
volume foo
volume --oops
volume create a b
volume create -d
volume rm
volume rm -f=x a
volume inspect
volume ls x
volume prune --oops
system foo
system df x
system df -v x
system df --verbose=x
system prune -a=x
system info x
system events --since
context foo
context create
context use
context use a b
context show x
context rm
context export a b c
context import a
version x
version --format
version --oops x
info x
events --until
search
search --limit x a
search --limit 99999999999999999999 a
pull
push
history
save
load x
commit
commit a b c
commit a b c --oops
cp a
cp a b c
attach
diff a b
export -o
port
port a b c
port a b c --oops
top
update
update --cpu-shares x c
update --blkio-weight 70000 c
stats --no-stream=x
import
login a b
logout a b
foo
foo bar
foo --oops
--oops
--oops foo
-z
-Dz
--config
-H
--host
-l
--log-level
-c
--debug=x
-v=x
--tls=x ps
--tlsverify=x
--debug=
-D=2 ps
history --human=x a
commit --pause=x a
attach --sig-proxy=x a
start -a=x c
exec -i=x c ls
images --digests=x
network ls --no-trunc=x
volume ls -q=x
system prune -f=x
context ls -q=x";

/// Runs `cli` with `args`, a daemon address nothing listens on and a config
/// dir of its own, so neither CLI reads the user's contexts.
fn run(cli: &str, args: &[&str], config: &std::path::Path) -> Output {
    Command::new(cli)
        .args(args)
        .env("DOCKER_HOST", "unix:///nonexistent/x.sock")
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn command_line_mistakes_read_as_docker_words_them() {
    common::require_docker();
    let config = tempfile::tempdir().unwrap();
    let lines: Vec<&str> = CASES.lines().collect();
    assert!(lines.len() >= 25);
    let mut mismatches = Vec::new();
    for line in &lines {
        let args: Vec<&str> = line.split(' ').collect();
        let docker = run("docker", &args, config.path());
        let berth = run(BERTH, &args, config.path());
        let expected = text(&docker.stderr).replace("docker", "berth");
        // Every case is a mistake docker reports on stderr alone.
        assert!(docker.stdout.is_empty(), "docker {line}: wrote to stdout");
        assert!(
            expected.contains("berth") || expected.contains("arg(s)"),
            "docker {line}: not a command-line error: {expected}"
        );
        let (got, code) = (text(&berth.stderr), berth.status.code());
        if got != expected || code != docker.status.code() || !berth.stdout.is_empty() {
            mismatches.push(format!(
                "berth {line}: exit {code:?}, want {:?}\n--- want stderr:\n{expected}--- got stderr:\n{got}--- got stdout:\n{}",
                docker.status.code(),
                text(&berth.stdout)
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        lines.len(),
        mismatches.join("\n")
    );
}

/// `-H` is a list flag to docker that must name one daemon: a second one
/// is refused when the endpoint is resolved, not taken in the first's place;
/// a host that cannot be used is refused in docker's words.
#[test]
fn a_second_or_unusable_host_is_refused_as_docker_refuses_it() {
    common::require_docker();
    let config = tempfile::tempdir().unwrap();
    for line in [
        "-H unix:///a -H unix:///b ps",
        "-H unix:///a -H unix:///b context ls",
        "-H unix:///a -H unix:///b -c x ps",
        // Hosts neither CLI can use fail while it initializes.
        "-H foo://x ps",
        "-H ssh://user:pw@host ps",
        "-H ssh://host?x=1 version",
    ] {
        let args: Vec<&str> = line.split(' ').collect();
        let docker = run("docker", &args, config.path());
        let berth = run(BERTH, &args, config.path());
        // Both say "docker endpoint": berth keeps docker's words here.
        assert_eq!(text(&berth.stderr), text(&docker.stderr), "{line}");
        assert_eq!(berth.status.code(), docker.status.code(), "{line}");
        assert_eq!(berth.stdout, docker.stdout, "{line}");
    }
}
