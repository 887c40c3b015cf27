//! Wiring the caller's fds (pipes or a pty slave) to the child's 0, 1, 2.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};
use nix::unistd::{dup2, setsid};

use crate::error::{Context, Result, RuntimeError};

/// The container process's standard streams.
#[derive(Debug)]
pub enum Stdio {
    /// fds become the process's 0,1,2 (stdin may be an fd of /dev/null)
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// pty slave becomes 0,1,2 and the controlling terminal (setsid + TIOCSCTTY)
    Pty { slave: OwnedFd },
}

impl Stdio {
    /// Child side: a new session, then the fds on 0, 1, 2. Returns the pty
    /// slave (now fd 0) when there is a terminal, for /dev/console.
    pub(crate) fn install(&self) -> Result<Option<RawFd>> {
        setsid().ctx(|| "setsid")?;
        match self {
            Stdio::Pipes {
                stdin,
                stdout,
                stderr,
            } => {
                let fds = [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()];
                place(fds)?;
                Ok(None)
            }
            Stdio::Pty { slave } => {
                let fd = slave.as_raw_fd();
                // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
                if unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) } != 0 {
                    return Err(RuntimeError::sys("ioctl TIOCSCTTY", Errno::last()));
                }
                place([fd, fd, fd])?;
                Ok(Some(0))
            }
        }
    }
}

/// Puts `fds` on 0, 1, 2. Each is first copied above 2 so that a source
/// already sitting on 0..2 is not overwritten before it is used.
fn place(fds: [RawFd; 3]) -> Result<()> {
    let mut high = [0; 3];
    for (i, fd) in fds.iter().enumerate() {
        high[i] = fcntl(*fd, FcntlArg::F_DUPFD_CLOEXEC(3)).ctx(|| format!("dup fd {fd}"))?;
    }
    for (target, fd) in high.iter().enumerate() {
        // dup2 clears CLOEXEC on the new descriptor, as wanted for 0..2.
        dup2(*fd, target as RawFd).ctx(|| format!("dup2 onto fd {target}"))?;
    }
    Ok(())
}
