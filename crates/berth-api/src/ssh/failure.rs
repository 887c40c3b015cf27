//! How an ssh connection fails, worded as the docker CLI words it (Go's `exec`
//! errors and docker's `commandconn` message with ssh's stderr).

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// The ssh command could not carry the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No `ssh` in `PATH`.
    #[error("exec: \"ssh\": executable file not found in $PATH")]
    NotFound,
    /// `ssh` could not be started for another reason.
    #[error("exec: \"ssh\": {0}")]
    Start(String),
    /// ssh ended unsuccessfully: it could not log in, the remote has no
    /// `docker`, the remote daemon is down... `stderr` says which.
    #[error(
        "command [{command}] has exited with {status}, make sure the URL is valid, \
         and Docker 18.09 or later is installed on the remote host: stderr={stderr}"
    )]
    Exited {
        command: String,
        /// Go's wording: `exit status 255`, `signal: killed`.
        status: String,
        stderr: String,
    },
}

impl Failure {
    /// The failure to start ssh.
    pub fn start(err: &io::Error) -> Failure {
        match err.kind() {
            io::ErrorKind::NotFound => Failure::NotFound,
            _ => Failure::Start(err.to_string()),
        }
    }

    /// ssh's end, if it is a failure: anything but exit status 0.
    pub fn exited(command: &str, status: ExitStatus, stderr: &[u8]) -> Option<Failure> {
        if status.success() {
            return None;
        }
        Some(Failure::Exited {
            command: command.to_string(),
            status: status_text(status),
            // One line on the terminal: docker's message would end in ssh's newline.
            stderr: String::from_utf8_lossy(stderr).trim_end().to_string(),
        })
    }

    /// The failure carried by an I/O error from an ssh connection, if it is one.
    pub fn from_io(err: &io::Error) -> Option<&Failure> {
        err.get_ref()?.downcast_ref::<Failure>()
    }

    /// As an I/O error, for the reads and writes of the connection.
    pub fn into_io(self) -> io::Error {
        io::Error::other(self)
    }
}

/// An exit status as Go's `ProcessState.String` has it.
fn status_text(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    let Some(sig) = status.signal() else {
        return status.to_string();
    };
    let name = match sig {
        1 => "hangup".to_string(),
        2 => "interrupt".to_string(),
        3 => "quit".to_string(),
        6 => "aborted".to_string(),
        9 => "killed".to_string(),
        11 => "segmentation fault".to_string(),
        13 => "broken pipe".to_string(),
        15 => "terminated".to_string(),
        n => format!("signal {n}"),
    };
    let core = if status.core_dumped() {
        " (core dumped)"
    } else {
        ""
    };
    format!("signal: {name}{core}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockers_wording() {
        let f = Failure::exited(
            "ssh -- example docker system dial-stdio",
            ExitStatus::from_raw(255 << 8),
            b"ssh: connect to host example port 22: Connection refused\r\n",
        )
        .unwrap();
        assert_eq!(
            f.to_string(),
            "command [ssh -- example docker system dial-stdio] has exited with exit status 255, \
             make sure the URL is valid, and Docker 18.09 or later is installed on the remote \
             host: stderr=ssh: connect to host example port 22: Connection refused"
        );
        assert_eq!(Failure::exited("ssh", ExitStatus::from_raw(0), b"x"), None);
        assert_eq!(status_text(ExitStatus::from_raw(9)), "signal: killed");
        assert_eq!(status_text(ExitStatus::from_raw(34)), "signal: signal 34");
        let missing = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(
            Failure::start(&missing).to_string(),
            "exec: \"ssh\": executable file not found in $PATH"
        );
    }

    #[test]
    fn travels_in_io_errors() {
        let io = Failure::NotFound.into_io();
        assert_eq!(Failure::from_io(&io), Some(&Failure::NotFound));
        assert_eq!(Failure::from_io(&io::Error::other("x")), None);
    }
}
