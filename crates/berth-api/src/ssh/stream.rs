//! An ssh process as a byte stream: writes go to its stdin, reads come from
//! its stdout. When its output ends, the stream asks how ssh ended: a clean
//! exit is the end of the stream, a failure is an error carrying ssh's stderr
//! ([`Failure`]), which the client then reports instead of hyper's "connection
//! closed".

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::oneshot;
use tokio::time::Sleep;

use super::child::{self, SshChild};
use super::{Failure, SshHost};

/// How long ssh may outlive the end of its output before the stream takes the
/// end as clean anyway (docker waits as long).
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// A connection to the daemon through `ssh HOST docker system dial-stdio`.
/// Dropping it kills the ssh process; shutting down its write side closes
/// ssh's stdin, which the remote end passes on as a half-close.
pub struct SshStream {
    /// `None` once shut down.
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    end: End,
    /// Held only for its drop, which kills ssh.
    _kill: oneshot::Sender<()>,
}

impl SshStream {
    /// Starts ssh for `host`. Must run inside a tokio runtime.
    pub fn connect(host: &SshHost) -> Result<SshStream, Failure> {
        Ok(SshStream::new(child::spawn(host)?))
    }

    fn new(child: SshChild) -> SshStream {
        let SshChild {
            stdin,
            stdout,
            ended,
            kill,
        } = child;
        SshStream {
            stdin: Some(stdin),
            stdout,
            end: End::new(ended),
            _kill: kill,
        }
    }

    /// `err` from a read or write, or ssh's failure if ssh has failed: a broken
    /// pipe on its stdin means it is gone, and why is the better error.
    fn poll_explain(&mut self, cx: &mut Context<'_>, err: io::Error) -> Poll<io::Error> {
        if err.kind() != io::ErrorKind::BrokenPipe {
            return Poll::Ready(err);
        }
        match ready!(self.end.poll_failure(cx)) {
            Some(failure) => Poll::Ready(failure.into_io()),
            None => Poll::Ready(err),
        }
    }
}

impl AsyncRead for SshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if let Err(e) = ready!(Pin::new(&mut this.stdout).poll_read(cx, buf)) {
            return Poll::Ready(Err(ready!(this.poll_explain(cx, e))));
        }
        if buf.filled().len() > before || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        // End of output: the end of the stream only if ssh ended well.
        match ready!(this.end.poll_failure(cx)) {
            None => Poll::Ready(Ok(())),
            Some(failure) => Poll::Ready(Err(failure.into_io())),
        }
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(stdin) = this.stdin.as_mut() else {
            return Poll::Ready(Err(write_after_shutdown()));
        };
        match ready!(Pin::new(stdin).poll_write(cx, data)) {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) => Poll::Ready(Err(ready!(this.poll_explain(cx, e)))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().stdin.as_mut() {
            Some(stdin) => Pin::new(stdin).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing the pipe is ssh's EOF; stdout stays open for the answer.
        self.get_mut().stdin = None;
        Poll::Ready(Ok(()))
    }
}

fn write_after_shutdown() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "write on an ssh connection after its write side was shut down",
    )
}

/// How ssh ended, learned once.
struct End {
    /// The supervisor's report; `None` once taken.
    report: Option<oneshot::Receiver<Option<Failure>>>,
    /// Bounds the wait for the report, started by the first question.
    deadline: Option<Pin<Box<Sleep>>>,
    /// The answer once known: `Some(None)` for a clean end.
    known: Option<Option<Failure>>,
}

impl End {
    fn new(report: oneshot::Receiver<Option<Failure>>) -> End {
        End {
            report: Some(report),
            deadline: None,
            known: None,
        }
    }

    /// Ready with ssh's failure (`None`: it exited well) once it has exited;
    /// an ssh that outlives its output by [`EXIT_WAIT`] counts as a clean end.
    fn poll_failure(&mut self, cx: &mut Context<'_>) -> Poll<Option<Failure>> {
        if let Some(known) = &self.known {
            return Poll::Ready(known.clone());
        }
        let outcome = match self.report.as_mut() {
            Some(report) => match Pin::new(report).poll(cx) {
                Poll::Ready(Ok(outcome)) => outcome,
                // The supervisor is gone with the runtime: nothing to tell.
                Poll::Ready(Err(_)) => None,
                Poll::Pending => {
                    let deadline = self
                        .deadline
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(EXIT_WAIT)));
                    ready!(deadline.as_mut().poll(cx));
                    None
                }
            },
            None => None,
        };
        self.report = None;
        self.known = Some(outcome.clone());
        Poll::Ready(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Writes an executable script through a child `sh`, so this process never
    /// holds the file open for writing: a test thread forking meanwhile would
    /// pass such a descriptor on, and running the script would then fail with
    /// ETXTBSY ("Text file busy") until that child execs.
    fn write_executable(path: &std::path::Path, text: &str) {
        use std::io::Write;
        let mut child = std::process::Command::new("sh")
            .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
            .arg(path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(
            child.wait().unwrap().success(),
            "writing {}",
            path.display()
        );
    }

    /// An executable script standing in for ssh, in a directory of its own.
    struct FakeSsh(PathBuf);

    impl FakeSsh {
        fn new(name: &str, body: &str) -> FakeSsh {
            let dir = std::env::temp_dir()
                .join(format!("berth-api-fake-ssh-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            write_executable(&dir.join("ssh"), &format!("#!/bin/sh\n{body}\n"));
            FakeSsh(dir)
        }

        fn connect(&self) -> SshStream {
            let host = SshHost::parse("ssh://me@example:2222").unwrap();
            SshStream::new(child::spawn_program(self.0.join("ssh").as_os_str(), &host).unwrap())
        }
    }

    impl Drop for FakeSsh {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn relays_and_half_closes() {
        let fake = FakeSsh::new("cat", "exec cat");
        let mut s = fake.connect();
        s.write_all(b"ping").await.unwrap();
        s.shutdown().await.unwrap();
        let mut out = Vec::new();
        // cat sees EOF, exits 0: a clean end of the stream.
        s.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"ping");
    }

    #[tokio::test]
    async fn a_failing_ssh_is_the_error_with_its_stderr() {
        let fake = FakeSsh::new(
            "fail",
            "echo 'ssh: connect to host example port 2222: Connection refused' >&2; exit 255",
        );
        let mut s = fake.connect();
        let mut out = Vec::new();
        let err = s.read_to_end(&mut out).await.unwrap_err();
        let failure = Failure::from_io(&err).expect("the ssh failure");
        assert_eq!(
            failure.to_string(),
            "command [ssh -o ConnectTimeout=30 -T -l me -p 2222 -- example docker system \
             dial-stdio] has exited with exit status 255, make sure the URL is valid, and \
             Docker 18.09 or later is installed on the remote host: stderr=ssh: connect to \
             host example port 2222: Connection refused"
        );
        // Writes after ssh is gone say the same.
        let err = s.write_all(&[0; 256 * 1024]).await.unwrap_err();
        assert!(Failure::from_io(&err).is_some(), "{err}");
    }

    #[tokio::test]
    async fn dropping_kills_and_reaps_ssh() {
        let fake = FakeSsh::new("sleep", "echo $$; exec sleep 60");
        let mut s = fake.connect();
        let mut line = [0u8; 16];
        let n = s.read(&mut line).await.unwrap();
        let pid = String::from_utf8_lossy(&line[..n]).trim().to_string();
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        assert!(proc_dir.exists());
        drop(s);
        // Gone entirely: a zombie would still have its /proc entry.
        for _ in 0..100 {
            if !proc_dir.exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("ssh {pid} still there after the stream was dropped");
    }
}
