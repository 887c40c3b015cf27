//! The registry's own token service (`--token-auth`): the Bearer flow the
//! docker CLI and daemon follow. A request without a valid token gets a 401
//! whose `WWW-Authenticate: Bearer realm=".../token",service=...,scope=...`
//! names the access it needs; the client fetches a token from `/token` with
//! its htpasswd credentials (Basic) and retries with `Authorization: Bearer`.
//!
//! Tokens are opaque random strings held in memory with their grants and
//! expiry (a restart only makes clients fetch new ones). htpasswd has no
//! per-repository rights: an authenticated user is granted what it asks for,
//! an anonymous request nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

/// The `service` the challenge names and tokens are issued for.
pub const SERVICE: &str = "berth-registry";
/// How long a token is valid, as the reference token servers (5 minutes).
const TTL: Duration = Duration::from_secs(300);

/// One access a token grants: a repository and its actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub name: String,
    pub actions: Vec<String>,
}

impl Access {
    /// `repository:<name>:<a,b>` (names may contain ':'? no: they cannot).
    pub fn parse(scope: &str) -> Option<Access> {
        let rest = scope.strip_prefix("repository:")?;
        let (name, actions) = rest.rsplit_once(':')?;
        Some(Access {
            name: name.to_string(),
            actions: actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    pub fn scope(&self) -> String {
        format!("repository:{}:{}", self.name, self.actions.join(","))
    }
}

struct Grant {
    access: Vec<Access>,
    expires: Instant,
}

#[derive(Default)]
pub struct Tokens {
    live: Mutex<HashMap<String, Grant>>,
}

impl Tokens {
    /// Issues a token granting `scopes` (all of them for a user, none for
    /// an anonymous request); the JSON body `/token` answers with.
    pub fn issue(&self, user: Option<&str>, scopes: &[String]) -> Value {
        let access: Vec<Access> = match user {
            Some(_) => scopes.iter().filter_map(|s| Access::parse(s)).collect(),
            None => Vec::new(),
        };
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.retain(|_, g| g.expires > now);
        live.insert(
            token.clone(),
            Grant {
                access,
                expires: now + TTL,
            },
        );
        let issued = chrono_like_now();
        json!({
            "token": token,
            "access_token": token,
            "expires_in": TTL.as_secs(),
            "issued_at": issued,
        })
    }

    /// Whether `authorization` carries a live token; with `need`, one that
    /// grants every action of it on its repository.
    pub fn allows(&self, authorization: Option<&str>, need: Option<&Access>) -> bool {
        let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ")) else {
            return false;
        };
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let Some(g) = live
            .get(token.trim())
            .filter(|g| g.expires > Instant::now())
        else {
            return false;
        };
        let Some(need) = need else {
            return true;
        };
        need.actions.iter().all(|a| {
            g.access
                .iter()
                .any(|h| h.name == need.name && h.actions.iter().any(|x| x == a || x == "*"))
        })
    }
}

/// RFC 3339 UTC time of now, without a date crate.
fn chrono_like_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_grant_what_users_asked_and_nothing_to_anonymous() {
        let t = Tokens::default();
        let body = t.issue(Some("tester"), &["repository:a/b:pull,push".into()]);
        let bearer = format!("Bearer {}", body["token"].as_str().unwrap());
        let need = |s: &str| Access::parse(s).unwrap();
        assert!(t.allows(Some(&bearer), None));
        assert!(t.allows(Some(&bearer), Some(&need("repository:a/b:pull"))));
        assert!(t.allows(Some(&bearer), Some(&need("repository:a/b:push,pull"))));
        assert!(!t.allows(Some(&bearer), Some(&need("repository:a/c:pull"))));
        assert!(!t.allows(Some(&bearer), Some(&need("repository:a/b:delete"))));
        let anon = t.issue(None, &["repository:a/b:pull".into()]);
        let anon = format!("Bearer {}", anon["token"].as_str().unwrap());
        assert!(!t.allows(Some(&anon), Some(&need("repository:a/b:pull"))));
        assert!(!t.allows(Some("Bearer nope"), None));
        assert!(!t.allows(None, None));
        assert_eq!(body["expires_in"], 300);
        assert!(body["issued_at"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn scopes_parse_with_ports_in_no_names() {
        let a = Access::parse("repository:x/y:pull,push").unwrap();
        assert_eq!(a.name, "x/y");
        assert_eq!(a.actions, ["pull", "push"]);
        assert_eq!(a.scope(), "repository:x/y:pull,push");
        assert!(Access::parse("registry:catalog:*").is_none());
    }
}
