//! The crate's error type.
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("parsing seccomp profile: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("invalid seccomp profile: {0}")]
    Profile(String),
    #[error("reading the kernel release from uname: {0}")]
    Kernel(String),
    #[error("libseccomp: {context}: {source}")]
    Libseccomp {
        context: String,
        source: libseccomp::error::SeccompError,
    },
    #[error("exporting BPF through a memfd: {0}")]
    Export(io::Error),
    #[error("invalid BPF program: {0}")]
    Program(String),
    #[error("seccomp(SECCOMP_SET_MODE_FILTER): {0}")]
    Install(io::Error),
}
