//! Which context an invocation uses, and the default context's endpoint, by the
//! docker CLI's rules. Pure functions over the flags, an environment lookup and
//! config.json's `currentContext`, so the order is tested without a process.

use berth_api::TlsOptions;

use super::Endpoint;
use crate::cli::DEFAULT_HOST;
use crate::errors::StatusError;
use crate::tlsopts::DEFAULT_TLS_HOST;

/// The context made of `-H`/`DOCKER_HOST` and the `--tls*` flags; never stored.
pub const DEFAULT: &str = "default";

/// The global flags that choose the daemon, as given on the command line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flags<'a> {
    /// `-c, --context`
    pub context: Option<&'a str>,
    /// `-H, --host` (the flag only: `DOCKER_HOST` comes from `env`).
    pub host: Option<&'a str>,
}

/// The context name, in the docker CLI's order: `--context` (an error together
/// with `-H`); the default context when `-H` or `DOCKER_HOST` names a host;
/// `DOCKER_CONTEXT`; config.json's `currentContext`; else the default context.
/// Empty values count as not given, as in docker.
pub fn context_name(
    flags: Flags,
    env: impl Fn(&str) -> Option<String>,
    config_current: Option<&str>,
) -> Result<String, StatusError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    let host_flag = flags.host.filter(|h| !h.is_empty());
    if let Some(name) = flags.context.filter(|c| !c.is_empty()) {
        if host_flag.is_some() {
            return Err(StatusError::new(
                1,
                "conflicting options: cannot specify both --host and --context",
            ));
        }
        return Ok(name.to_string());
    }
    if host_flag.is_some() || set("DOCKER_HOST").is_some() {
        return Ok(DEFAULT.to_string());
    }
    if let Some(name) = set("DOCKER_CONTEXT") {
        return Ok(name);
    }
    Ok(config_current
        .filter(|c| !c.is_empty())
        .unwrap_or(DEFAULT)
        .to_string())
}

/// The default context's endpoint: `-H`, else `DOCKER_HOST`, else berth's
/// socket (docker's TLS address when TLS is on), with the `--tls*` settings.
pub fn default_endpoint(
    host_flag: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    tls: Option<TlsOptions>,
) -> Endpoint {
    let host = host_flag
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .or_else(|| env("DOCKER_HOST").filter(|h| !h.is_empty()))
        .unwrap_or_else(|| {
            if tls.is_some() {
                DEFAULT_TLS_HOST.to_string()
            } else {
                DEFAULT_HOST.to_string()
            }
        });
    Endpoint { host, tls }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testenv::env;

    fn name(flags: Flags, vars: &[(&str, &str)], current: Option<&str>) -> String {
        context_name(flags, env(vars), current).unwrap()
    }

    #[test]
    fn context_with_host_is_refused() {
        let e = context_name(
            Flags {
                context: Some("x"),
                host: Some("unix:///s"),
            },
            env(&[]),
            None,
        )
        .unwrap_err();
        assert_eq!(e.code, 1);
        assert_eq!(
            e.message,
            "conflicting options: cannot specify both --host and --context"
        );
        // DOCKER_HOST is no conflict: the flag wins.
        let f = Flags {
            context: Some("x"),
            host: None,
        };
        assert_eq!(name(f, &[("DOCKER_HOST", "unix:///s")], Some("y")), "x");
    }

    #[test]
    fn resolution_order() {
        let all = [("DOCKER_HOST", "unix:///h"), ("DOCKER_CONTEXT", "envctx")];
        let host = Flags {
            host: Some("unix:///flag"),
            ..Default::default()
        };
        let none = Flags::default();
        // -H or DOCKER_HOST: the default context, over DOCKER_CONTEXT and config.
        assert_eq!(name(host, &all[1..], Some("cfg")), DEFAULT);
        assert_eq!(name(none, &all, Some("cfg")), DEFAULT);
        // Then DOCKER_CONTEXT, then config.json, then default.
        assert_eq!(name(none, &all[1..], Some("cfg")), "envctx");
        assert_eq!(name(none, &[], Some("cfg")), "cfg");
        assert_eq!(name(none, &[], None), DEFAULT);
        // Empty values are not set.
        let empty = [("DOCKER_HOST", ""), ("DOCKER_CONTEXT", "")];
        let blank = Flags {
            context: Some(""),
            host: Some(""),
        };
        assert_eq!(name(blank, &empty, Some("cfg")), "cfg");
        assert_eq!(name(none, &empty, Some("")), DEFAULT);
    }

    #[test]
    fn default_endpoint_hosts() {
        let e = env(&[("DOCKER_HOST", "tcp://env:1")]);
        assert_eq!(
            default_endpoint(Some("unix:///f"), &e, None).host,
            "unix:///f"
        );
        assert_eq!(default_endpoint(None, &e, None).host, "tcp://env:1");
        assert_eq!(default_endpoint(None, env(&[]), None).host, DEFAULT_HOST);
        let tls = TlsOptions::default();
        let ep = default_endpoint(None, env(&[]), Some(tls.clone()));
        assert_eq!(ep.host, DEFAULT_TLS_HOST);
        assert_eq!(ep.tls, Some(tls));
    }
}
