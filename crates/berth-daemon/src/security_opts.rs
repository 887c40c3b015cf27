//! `HostConfig.SecurityOpt`, parsed with Docker's rules (its daemon's
//! parseSecurityOpt) so that a bad option is refused at create, before any
//! container exists, with Docker's wording; and the host's security features
//! as `docker info` reports them.

use std::path::Path;

use serde_json::Value;

/// The options that change how a container is confined.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SecurityOpts {
    /// `seccomp=<profile JSON>` or `seccomp=unconfined`; None: the default.
    pub seccomp: Option<String>,
    /// `apparmor=<profile>`.
    pub apparmor: Option<String>,
    /// `label=...` (SELinux; accepted, applied only on an SELinux host).
    pub labels: Vec<String>,
    pub no_new_privileges: bool,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub unconfined_paths: bool,
}

/// Parses the list; the error is Docker's message.
pub fn parse(opts: &[String]) -> Result<SecurityOpts, String> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        match opt.as_str() {
            "no-new-privileges" => {
                out.no_new_privileges = true;
                continue;
            }
            "disable" => {
                out.labels.push("disable".into());
                continue;
            }
            _ => {}
        }
        // `=` is the separator; the deprecated `:` only when there is no `=`.
        let kv = opt.split_once('=').or_else(|| opt.split_once(':'));
        let Some((k, v)) = kv else {
            return Err(format!("invalid --security-opt 1: {opt:?}"));
        };
        match k {
            "label" => out.labels.push(v.to_string()),
            "apparmor" => out.apparmor = Some(v.to_string()),
            "seccomp" => out.seccomp = Some(v.to_string()),
            "no-new-privileges" => {
                out.no_new_privileges =
                    parse_bool(v).ok_or_else(|| format!("invalid --security-opt 2: {opt:?}"))?
            }
            "systempaths" if v == "unconfined" => out.unconfined_paths = true,
            _ => return Err(format!("invalid --security-opt 2: {opt:?}")),
        }
    }
    Ok(out)
}

/// The option list of a host config (missing or null: none).
pub fn from_host_config(hc: &serde_json::Map<String, Value>) -> Result<SecurityOpts, String> {
    let list: Vec<String> = hc
        .get("SecurityOpt")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    parse(&list)
}

/// Checks a create request's options: Docker's messages for unknown ones,
/// and a seccomp profile must translate (Docker finds a bad profile only at
/// start; refusing it here leaves no container that can never run).
pub fn validate_host_config(hc: &serde_json::Map<String, Value>) -> crate::error::ApiResult<()> {
    use crate::error::ApiError;
    let opts = from_host_config(hc).map_err(ApiError::bad_request)?;
    if selinux_enabled() {
        validate_labels(&opts.labels).map_err(ApiError::bad_request)?;
    }
    if let Some(profile) = opts.seccomp_profile() {
        berth_seccomp::docker_profile_to_oci(profile.as_bytes(), &[])
            .map_err(|e| ApiError::bad_request(format!("decoding seccomp profile failed: {e}")))?;
    }
    Ok(())
}

impl SecurityOpts {
    /// A custom seccomp profile's JSON (not `unconfined` or `builtin`).
    pub fn seccomp_profile(&self) -> Option<&str> {
        self.seccomp
            .as_deref()
            .filter(|s| !matches!(*s, "" | "unconfined" | "builtin"))
    }
}

/// The daemon's capability bounding set (CapBnd of /proc/self/status).
pub fn own_bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapBnd:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Go's strconv.ParseBool.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `label=` values as the SELinux library Docker uses checks them
/// (InitLabels): `disable`, `nested`, or `user:`, `role:`, `type:`,
/// `level:`, `filetype:` followed by a value. Checked only on an SELinux
/// host: elsewhere Docker never looks at them (berth applies no labels).
pub fn validate_labels(labels: &[String]) -> Result<(), String> {
    for opt in labels {
        if matches!(opt.as_str(), "disable" | "nested") {
            continue;
        }
        let Some((key, _)) = opt.split_once(':') else {
            return Err(format!(
                "Bad label option {opt:?}, valid options 'disable' or \n'user, role, level, type, filetype' followed by ':' and a value"
            ));
        };
        if !matches!(key, "user" | "role" | "type" | "level" | "filetype") {
            return Err(format!(
                "Bad label option {key:?}, valid options 'disable, user, role, level, type, filetype'"
            ));
        }
    }
    Ok(())
}

/// Whether SELinux is enabled (selinuxfs mounted).
pub fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// `SecurityOptions` of `GET /info`, in Docker's order.
/// `cgroupns`: containers get a private cgroup namespace by default.
pub fn info_security_options(cgroupns: bool) -> Vec<String> {
    let mut v = Vec::new();
    if crate::apparmor::enabled() {
        v.push("name=apparmor".to_string());
    }
    v.push("name=seccomp,profile=builtin".to_string());
    if selinux_enabled() {
        v.push("name=selinux".to_string());
    }
    if cgroupns {
        v.push("name=cgroupns".to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[&str]) -> Result<SecurityOpts, String> {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn known_options() {
        let o = p(&[
            "no-new-privileges",
            "seccomp=unconfined",
            "apparmor=docker-default",
            "label=disable",
            "label:level:s0",
        ])
        .unwrap();
        assert!(o.no_new_privileges);
        assert_eq!(o.seccomp.as_deref(), Some("unconfined"));
        assert_eq!(o.apparmor.as_deref(), Some("docker-default"));
        assert_eq!(o.labels, ["disable", "level:s0"]);
        assert!(!p(&["no-new-privileges=false"]).unwrap().no_new_privileges);
        assert!(p(&["no-new-privileges=1"]).unwrap().no_new_privileges);
        assert!(p(&["systempaths=unconfined"]).unwrap().unconfined_paths);
        // A profile's JSON keeps its own `:` and `=`.
        let o = p(&[r#"seccomp={"a":"b=c"}"#]).unwrap();
        assert_eq!(o.seccomp.as_deref(), Some(r#"{"a":"b=c"}"#));
    }

    #[test]
    fn selinux_label_values() {
        let l = |v: &[&str]| validate_labels(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        l(&["disable"]).unwrap();
        l(&["nested"]).unwrap();
        l(&[
            "user:u",
            "role:r",
            "type:svirt_t",
            "level:s0:c1,c2",
            "filetype:f",
        ])
        .unwrap();
        assert_eq!(
            l(&["bogus"]).unwrap_err(),
            "Bad label option \"bogus\", valid options 'disable' or \n'user, role, level, type, filetype' followed by ':' and a value"
        );
        assert_eq!(
            l(&["foo:bar"]).unwrap_err(),
            "Bad label option \"foo\", valid options 'disable, user, role, level, type, filetype'"
        );
    }

    #[test]
    fn docker_errors() {
        assert_eq!(
            p(&["foo=bar"]).unwrap_err(),
            r#"invalid --security-opt 2: "foo=bar""#
        );
        assert_eq!(
            p(&["no-new-privileges=maybe"]).unwrap_err(),
            r#"invalid --security-opt 2: "no-new-privileges=maybe""#
        );
        assert_eq!(
            p(&["foo"]).unwrap_err(),
            r#"invalid --security-opt 1: "foo""#
        );
    }
}
