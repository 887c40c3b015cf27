//! The runtime's error type, and its wire form: errors that happen inside the
//! container child cannot be returned, so the child encodes them into the error
//! pipe and the parent decodes them back into the same variant.

use nix::errno::Errno;

/// Everything that can stop a container process from starting.
///
/// The `exec:` variants reproduce runc's wording on purpose: the docker CLI maps
/// them to exit codes 127 / 126 by looking for these substrings.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `process.args[0]` contains a '/' and does not exist.
    #[error("exec: \"{0}\": stat {0}: no such file or directory")]
    NotFound(String),
    /// `process.args[0]` has no '/' and no directory of `$PATH` holds it.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    NotInPath(String),
    /// The program is a directory, not executable, or execve said EACCES.
    #[error("exec: \"{0}\": permission denied")]
    PermissionDenied(String),
    /// A system call failed; `context` says which and on what.
    #[error("{context}: {errno}")]
    Sys { context: String, errno: Errno },
    /// The spec asks for something this runtime cannot do.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    #[error("cgroup: {0}")]
    Cgroup(#[from] berth_cgroups::CgroupError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] berth_seccomp::SeccompError),
    /// An error reported by the container child that has no richer variant
    /// (its text is kept as is).
    #[error("{0}")]
    Child(String),
}

impl RuntimeError {
    pub(crate) fn sys(context: impl Into<String>, errno: Errno) -> Self {
        RuntimeError::Sys {
            context: context.into(),
            errno,
        }
    }

    pub(crate) fn io(context: impl Into<String>, err: &std::io::Error) -> Self {
        let errno = Errno::from_raw(err.raw_os_error().unwrap_or(libc::EIO));
        Self::sys(context, errno)
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Adds a context string to a failing system call.
pub(crate) trait Context<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| RuntimeError::sys(what(), e))
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx<S: Into<String>>(self, what: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| RuntimeError::io(what(), &e))
    }
}

const TAG_NOT_FOUND: u8 = 1;
const TAG_NOT_IN_PATH: u8 = 2;
const TAG_PERMISSION: u8 = 3;
const TAG_SYS: u8 = 4;
const TAG_INVALID: u8 = 5;
const TAG_OTHER: u8 = 6;

/// Serializes an error for the trip from the child to the parent.
pub(crate) fn encode(err: &RuntimeError) -> Vec<u8> {
    let (tag, errno, text) = match err {
        RuntimeError::NotFound(p) => (TAG_NOT_FOUND, 0, p.clone()),
        RuntimeError::NotInPath(p) => (TAG_NOT_IN_PATH, 0, p.clone()),
        RuntimeError::PermissionDenied(p) => (TAG_PERMISSION, 0, p.clone()),
        RuntimeError::Sys { context, errno } => (TAG_SYS, *errno as i32, context.clone()),
        RuntimeError::InvalidSpec(m) => (TAG_INVALID, 0, m.clone()),
        other => (TAG_OTHER, 0, other.to_string()),
    };
    let mut out = Vec::with_capacity(5 + text.len());
    out.push(tag);
    out.extend_from_slice(&errno.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// Inverse of [`encode`]; never fails (garbage becomes a `Child` error).
pub(crate) fn decode(buf: &[u8]) -> RuntimeError {
    if buf.len() < 5 {
        return RuntimeError::Child(format!(
            "container process failed with a truncated error report ({} bytes)",
            buf.len()
        ));
    }
    let errno = i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let text = String::from_utf8_lossy(&buf[5..]).into_owned();
    match buf[0] {
        TAG_NOT_FOUND => RuntimeError::NotFound(text),
        TAG_NOT_IN_PATH => RuntimeError::NotInPath(text),
        TAG_PERMISSION => RuntimeError::PermissionDenied(text),
        TAG_SYS => RuntimeError::sys(text, Errno::from_raw(errno)),
        TAG_INVALID => RuntimeError::InvalidSpec(text),
        _ => RuntimeError::Child(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_wording_for_exec_errors() {
        assert_eq!(
            RuntimeError::NotFound("/nonexistent".into()).to_string(),
            "exec: \"/nonexistent\": stat /nonexistent: no such file or directory"
        );
        assert_eq!(
            RuntimeError::NotInPath("foo".into()).to_string(),
            "exec: \"foo\": executable file not found in $PATH"
        );
        assert_eq!(
            RuntimeError::PermissionDenied("/etc/passwd".into()).to_string(),
            "exec: \"/etc/passwd\": permission denied"
        );
    }

    #[test]
    fn wire_round_trip_keeps_variant_and_text() {
        let cases = [
            RuntimeError::NotFound("/x".into()),
            RuntimeError::NotInPath("foo".into()),
            RuntimeError::PermissionDenied("/etc".into()),
            RuntimeError::sys("mount /proc", Errno::EPERM),
            RuntimeError::InvalidSpec("no root".into()),
            RuntimeError::Child("seccomp: boom".into()),
        ];
        for err in cases {
            let back = decode(&encode(&err));
            assert_eq!(back.to_string(), err.to_string());
            assert_eq!(std::mem::discriminant(&back), std::mem::discriminant(&err));
        }
    }

    #[test]
    fn garbage_report_is_an_error_not_a_panic() {
        assert!(matches!(decode(&[1, 2]), RuntimeError::Child(_)));
        assert!(matches!(
            decode(&[99, 0, 0, 0, 0, b'x']),
            RuntimeError::Child(_)
        ));
    }
}
