//! `ssh://` daemon addresses, as the docker CLI reaches them: every connection
//! is its own `ssh [-l user] [-p port] -- host docker system dial-stdio`
//! process, and HTTP goes over that process's stdin and stdout.
//!
//! - `url`: [`SshHost`], parsed and refused as docker does.
//! - `command`: the ssh argv, docker's.
//! - `child`: spawning, supervising and reaping the ssh process.
//! - `stream`: [`SshStream`], the process as a byte stream.
//! - `failure`: [`Failure`], ssh's failure in docker's words.

mod child;
mod command;
mod failure;
mod stream;
mod url;

pub use failure::Failure;
pub use stream::SshStream;
pub use url::{SshHost, UrlError};

/// The `Host` header of requests over ssh, docker's placeholder: the daemon
/// sits behind a process, not a name.
pub const HTTP_HOST: &str = "docker.example.com";
