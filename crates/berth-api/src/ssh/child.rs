//! One `ssh` process per connection, from spawn to reaping. A supervisor task
//! owns the child: it keeps ssh's stderr (the reason when it fails), reaps ssh
//! when it exits and kills it when the connection is dropped, so no ssh is left
//! running or unreaped behind a connection.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::oneshot;

use super::command::PROGRAM;
use super::{Failure, SshHost};

/// The most of ssh's stderr kept (its end: the last lines say what failed).
const STDERR_KEPT: usize = 16 * 1024;

/// How long stderr may stay open once ssh has exited: a `ControlPersist`
/// master that ssh forked keeps it open for as long as it lives.
const STDERR_GRACE: Duration = Duration::from_millis(200);

/// A running ssh: its stdin and stdout carry the connection.
pub struct SshChild {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    /// How ssh ended, sent once it has: `Some` for a failure.
    pub ended: oneshot::Receiver<Option<Failure>>,
    /// Dropping it kills ssh (if still running).
    pub kill: oneshot::Sender<()>,
}

/// Starts `ssh` for `host` and its supervisor. Must run inside a tokio runtime.
pub fn spawn(host: &SshHost) -> Result<SshChild, Failure> {
    spawn_program(PROGRAM.as_ref(), host)
}

/// [`spawn`] with another program in ssh's place (tests).
pub fn spawn_program(program: &std::ffi::OsStr, host: &SshHost) -> Result<SshChild, Failure> {
    let mut cmd = Command::new(program);
    cmd.args(host.ssh_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A backstop: the supervisor kills and reaps, unless the runtime goes first.
        .kill_on_drop(true);
    detach(&mut cmd);
    let mut child = cmd.spawn().map_err(|e| Failure::start(&e))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        unreachable!("all three streams are piped");
    };
    let (kill, killed) = oneshot::channel();
    let (report, ended) = oneshot::channel();
    tokio::spawn(supervise(
        child,
        stderr,
        killed,
        report,
        host.command_line(),
    ));
    Ok(SshChild {
        stdin,
        stdout,
        ended,
        kill,
    })
}

/// Runs ssh as docker does: in a session of its own, so the terminal's
/// signals (Ctrl-C while attached) reach the CLI and not the connection, and
/// killed if the thread that started it dies, so a killed CLI leaves no ssh.
fn detach(cmd: &mut Command) {
    use std::ffi::{c_int, c_ulong};
    extern "C" {
        fn setsid() -> c_int;
        fn prctl(option: c_int, ...) -> c_int;
    }
    const PR_SET_PDEATHSIG: c_int = 1;
    const SIGKILL: c_ulong = 9;
    // SAFETY: between fork and exec only async-signal-safe calls are made:
    // setsid(2) and prctl(2), with no allocation or locking.
    unsafe {
        cmd.pre_exec(|| {
            if setsid() < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Waits for ssh to exit (or for the connection to go, then kills it), reaps
/// it, and reports how it ended with what it wrote on stderr.
async fn supervise(
    mut child: Child,
    mut stderr: ChildStderr,
    mut killed: oneshot::Receiver<()>,
    report: oneshot::Sender<Option<Failure>>,
    command: String,
) {
    let mut kept = Vec::new();
    let mut stderr_open = true;
    let mut chunk = [0u8; 4096];
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = &mut killed => {
                // Sent or dropped alike: the connection is gone, nobody reads the report.
                let _ = child.start_kill();
                let _ = child.wait().await;
                return;
            }
            n = stderr.read(&mut chunk), if stderr_open => match n {
                Ok(0) | Err(_) => stderr_open = false,
                Ok(n) => keep_tail(&mut kept, &chunk[..n]),
            },
        }
    };
    if stderr_open {
        let rest = async {
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                keep_tail(&mut kept, &chunk[..n]);
            }
        };
        let _ = tokio::time::timeout(STDERR_GRACE, rest).await;
    }
    let failure = match status {
        Ok(status) => Failure::exited(&command, status, &kept),
        Err(e) => Some(Failure::Start(format!("waiting for ssh: {e}"))),
    };
    let _ = report.send(failure);
}

/// Appends `data`, dropping the oldest bytes beyond [`STDERR_KEPT`].
fn keep_tail(kept: &mut Vec<u8>, data: &[u8]) {
    kept.extend_from_slice(data);
    if kept.len() > STDERR_KEPT {
        kept.drain(..kept.len() - STDERR_KEPT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_end_of_stderr() {
        let mut kept = Vec::new();
        keep_tail(&mut kept, &vec![b'a'; STDERR_KEPT]);
        keep_tail(&mut kept, b"the reason");
        assert_eq!(kept.len(), STDERR_KEPT);
        assert!(kept.ends_with(b"the reason"));
    }
}
