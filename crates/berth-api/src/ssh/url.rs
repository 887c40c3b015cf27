//! `ssh://[user@]host[:port][/socket]` daemon addresses, read as the docker CLI
//! reads them: Go's `net/url` syntax first (its errors are `parse "URL": ...`),
//! then docker's own refusals (`ssh host connection is not valid: ...`).

use std::fmt;

/// A daemon reached through `ssh`: where to log in, and which socket the
/// remote `docker` should use (its default when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshHost {
    /// `-l user`; `None` lets ssh pick (its config, the local user).
    pub user: Option<String>,
    /// The host name or address (an IPv6 address without its brackets).
    pub host: String,
    /// `-p port`; `None` lets ssh pick.
    pub port: Option<u16>,
    /// The URL's path: the remote runs `docker --host unix://<path>`.
    pub socket_path: Option<String>,
}

/// Why an `ssh://` address cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL by Go's rules (docker reports `url.Parse`'s error as is).
    #[error("parse {url:?}: {reason}")]
    Syntax { url: String, reason: String },
    /// A URL docker refuses as an ssh destination.
    #[error("ssh host connection is not valid: invalid SSH URL: {0}")]
    Refused(String),
}

impl SshHost {
    /// Parses `url`, which starts with `ssh://` (any case, as Go lowercases schemes).
    pub fn parse(url: &str) -> Result<SshHost, UrlError> {
        let syntax = |reason: String| UrlError::Syntax {
            url: url.to_string(),
            reason,
        };
        if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(syntax("net/url: invalid control character in URL".into()));
        }
        let rest = url
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case("ssh://"))
            .map(|_| &url[6..])
            .ok_or_else(|| UrlError::Refused("incorrect scheme".into()))?;
        // Go cuts the fragment first, then the query, then the path.
        let (rest, fragment) = split_off(rest, '#');
        let (rest, query) = split_off(rest, '?');
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let user = userinfo.map(parse_userinfo).transpose().map_err(syntax)?;
        let (host, port) = split_host_port(hostport).map_err(syntax)?;
        let path = unescape(path).map_err(syntax)?;
        let fragment = fragment.map(unescape).transpose().map_err(syntax)?;

        // docker's checks, in its order.
        let user = match user {
            Some(Userinfo { password: true, .. }) => {
                return Err(UrlError::Refused(
                    "plain-text password is not supported".into(),
                ))
            }
            Some(Userinfo { name, .. }) => Some(name).filter(|n| !n.is_empty()),
            None => None,
        };
        if host.is_empty() {
            return Err(UrlError::Refused("hostname is empty".into()));
        }
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            return Err(UrlError::Refused(format!(
                "query parameters are not allowed: {q:?}"
            )));
        }
        if let Some(f) = fragment.filter(|f| !f.is_empty()) {
            return Err(UrlError::Refused(format!(
                "fragments are not allowed: {f:?}"
            )));
        }
        Ok(SshHost {
            user,
            host,
            port,
            socket_path: Some(path).filter(|p| !p.is_empty()),
        })
    }
}

impl fmt::Display for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        if let Some(path) = &self.socket_path {
            f.write_str(path)?;
        }
        Ok(())
    }
}

/// `s` cut at the first `sep`: what precedes it, and what follows if it is there.
fn split_off(s: &str, sep: char) -> (&str, Option<&str>) {
    match s.split_once(sep) {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

struct Userinfo {
    name: String,
    /// A `:` was there, even with nothing after it: Go then has a password.
    password: bool,
}

fn parse_userinfo(s: &str) -> Result<Userinfo, String> {
    // Go's validUserinfo: unreserved, sub-delims, ':', '@' and escapes.
    let valid = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b));
    if !valid {
        return Err("net/url: invalid userinfo".into());
    }
    let (name, password) = split_off(s, ':');
    Ok(Userinfo {
        name: unescape(name)?,
        password: password.is_some(),
    })
}

/// Go's host parsing: a bracketed IPv6 literal or a name, then an optional
/// all-digit port (empty is no port).
fn split_host_port(s: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let end = inner.find(']').ok_or("missing ']' in host")?;
        let after = &inner[end + 1..];
        if !after.is_empty() && !after.starts_with(':') {
            return Err(format!("invalid port {after:?} after host"));
        }
        (&inner[..end], after)
    } else {
        match s.rfind(':') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        }
    };
    let digits = port.strip_prefix(':').unwrap_or("");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {port:?} after host"));
    }
    let port = match digits {
        "" => None,
        d => Some(
            d.parse::<u16>()
                .map_err(|_| format!("invalid port {port:?} after host"))?,
        ),
    };
    if let Some(bad) = host.chars().find(|&c| !host_char(c)) {
        return Err(format!(
            "invalid character {:?} in host name",
            bad.to_string()
        ));
    }
    Ok((unescape(host)?, port))
}

/// What Go lets through in a host name (non-ASCII for internationalized names).
fn host_char(c: char) -> bool {
    !c.is_ascii() || c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"%".contains(c)
}

/// Decodes `%XX` escapes.
fn unescape(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    let bad: String = s[i..].chars().take(3).collect();
                    format!("invalid URL escape {bad:?}")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("invalid UTF-8 in {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(user: Option<&str>, host: &str, port: Option<u16>, path: Option<&str>) -> SshHost {
        SshHost {
            user: user.map(Into::into),
            host: host.into(),
            port,
            socket_path: path.map(Into::into),
        }
    }

    #[test]
    fn parses_what_docker_takes() {
        let ok = |s: &str| SshHost::parse(s).unwrap();
        assert_eq!(ok("ssh://example"), host(None, "example", None, None));
        assert_eq!(
            ok("ssh://me@example:2222"),
            host(Some("me"), "example", Some(2222), None)
        );
        // An empty port or user is none at all.
        assert_eq!(ok("ssh://@example:"), host(None, "example", None, None));
        assert_eq!(ok("SSH://example"), host(None, "example", None, None));
        // A path names the remote socket, "/" included; an empty query is none.
        assert_eq!(
            ok("ssh://example/var/run/x.sock?"),
            host(None, "example", None, Some("/var/run/x.sock"))
        );
        assert_eq!(ok("ssh://example/"), host(None, "example", None, Some("/")));
        // IPv6 literals lose their brackets; escapes are decoded.
        assert_eq!(
            ok("ssh://me@[fe80::1]:22"),
            host(Some("me"), "fe80::1", Some(22), None)
        );
        assert_eq!(
            ok("ssh://me%20x@example/a%2Fb"),
            host(Some("me x"), "example", None, Some("/a/b"))
        );
        // The last '@' ends the user.
        assert_eq!(
            ok("ssh://a@b@example"),
            host(Some("a@b"), "example", None, None)
        );
        // A host that looks like an option stays a host (the argv has `--`).
        assert_eq!(
            ok("ssh://-oProxyCommand=x"),
            host(None, "-oProxyCommand=x", None, None)
        );
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let err = |s: &str| SshHost::parse(s).unwrap_err().to_string();
        let refused = "ssh host connection is not valid: invalid SSH URL: ";
        assert_eq!(
            err("ssh://example?x=1"),
            format!("{refused}query parameters are not allowed: \"x=1\"")
        );
        assert_eq!(
            err("ssh://example#frag"),
            format!("{refused}fragments are not allowed: \"frag\"")
        );
        assert_eq!(
            err("ssh://me:pw@example"),
            format!("{refused}plain-text password is not supported")
        );
        assert_eq!(
            err("ssh://me:@example"),
            format!("{refused}plain-text password is not supported")
        );
        for empty in ["ssh://", "ssh://:22", "ssh://me@", "ssh:///sock"] {
            assert_eq!(err(empty), format!("{refused}hostname is empty"), "{empty}");
        }
        assert_eq!(
            err("ssh://example:notaport"),
            "parse \"ssh://example:notaport\": invalid port \":notaport\" after host"
        );
        assert_eq!(
            err("ssh://ex ample"),
            "parse \"ssh://ex ample\": invalid character \" \" in host name"
        );
        assert_eq!(
            err("ssh://[::1"),
            "parse \"ssh://[::1\": missing ']' in host"
        );
        assert_eq!(
            err("ssh://example/%zz"),
            "parse \"ssh://example/%zz\": invalid URL escape \"%zz\""
        );
        assert!(err("ssh://example:70000").contains("invalid port \":70000\""));
        assert!(err("ssh://exa\nmple").contains("invalid control character"));
    }

    #[test]
    fn displays_as_a_url() {
        for s in [
            "ssh://example",
            "ssh://me@example:2222/run/x.sock",
            "ssh://me@[fe80::1]:22",
        ] {
            assert_eq!(SshHost::parse(s).unwrap().to_string(), s);
        }
    }
}
