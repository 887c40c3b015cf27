//! Exit statuses and error printing, following the docker CLI.

pub mod clap_errors;
pub mod go_strconv;
mod invocation;

use std::fmt;

/// An error with the process exit code it maps to. `message` is printed as is
/// (empty: nothing printed, e.g. `run` passing on the container's exit code).
#[derive(Debug)]
pub struct StatusError {
    pub code: i32,
    pub message: String,
}

impl StatusError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        StatusError {
            code,
            message: message.into(),
        }
    }

    /// Exit with `code` printing nothing.
    pub fn silent(code: i32) -> Self {
        StatusError::new(code, "")
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

/// A flag value the docker CLI refuses while it parses flags (pflag's `Set`
/// failing): `invalid argument "v" for "--flag" flag: reason`. Commands print
/// it with their usage line ([`FlagError::with_usage`]), as cobra does.
#[derive(Debug)]
pub struct FlagError {
    pub flag: String,
    pub value: String,
    pub reason: String,
}

impl FlagError {
    pub fn new(flag: &str, value: &str, reason: impl fmt::Display) -> Self {
        FlagError {
            flag: flag.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// cobra's flag error: the message, `Usage:  <usage>` and a pointer to
    /// `<command> --help`, exit status 125.
    pub fn with_usage(&self, usage: &str, command: &str) -> StatusError {
        flag_usage_error(self, usage, command)
    }
}

/// cobra's answer to any flag it cannot parse (docker's `FlagErrorFunc`):
/// `message`, the command's usage line and a pointer to its help, exit 125.
pub fn flag_usage_error(message: impl fmt::Display, usage: &str, command: &str) -> StatusError {
    StatusError::new(
        125,
        format!("{message}\n\nUsage:  {usage}\n\nRun '{command} --help' for more information"),
    )
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid argument {:?} for \"{}\" flag: {}",
            self.value, self.flag, self.reason
        )
    }
}

impl std::error::Error for FlagError {}

/// The text docker prints for an error: API errors from the daemon get the
/// `Error response from daemon: ` prefix, everything else prints as is.
pub fn error_text(err: &anyhow::Error) -> String {
    if let Some(api) = err.downcast_ref::<berth_api::Error>() {
        return api_error_text(api);
    }
    format!("{err:#}")
}

/// Text of an API client error.
pub fn api_error_text(err: &berth_api::Error) -> String {
    match err {
        berth_api::Error::Daemon { message, .. } => {
            format!("Error response from daemon: {message}")
        }
        other => other.to_string(),
    }
}

/// Prints `err` as docker would and returns the exit code.
pub fn report(err: &anyhow::Error) -> i32 {
    if let Some(status) = err.downcast_ref::<StatusError>() {
        if !status.message.is_empty() {
            eprintln!("{}", status.message);
        }
        return status.code;
    }
    eprintln!("{}", error_text(err));
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemon_errors_are_prefixed() {
        let e = anyhow::Error::new(berth_api::Error::Daemon {
            status: 404,
            message: "No such container: x".into(),
        });
        assert_eq!(
            error_text(&e),
            "Error response from daemon: No such container: x"
        );
        assert_eq!(
            error_text(&anyhow::anyhow!("Error: No such object: x")),
            "Error: No such object: x"
        );
    }

    #[test]
    fn flag_errors_read_as_cobra_prints_them() {
        let e = FlagError::new(
            "--device-cgroup-rule",
            "x 1:2 r",
            "invalid device cgroup format 'x 1:2 r'",
        );
        assert_eq!(
            e.to_string(),
            "invalid argument \"x 1:2 r\" for \"--device-cgroup-rule\" flag: invalid device cgroup format 'x 1:2 r'"
        );
        let s = e.with_usage(
            "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]",
            "berth create",
        );
        assert_eq!(s.code, 125);
        assert!(s.message.ends_with(
            "\n\nUsage:  berth create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth create --help' for more information"
        ));
    }
}
