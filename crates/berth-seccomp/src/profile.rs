//! Docker's seccomp profile format -> OCI `LinuxSeccomp`, following moby's
//! profiles/seccomp `setupSeccomp`: pick the archMap entry of the host arch,
//! keep a rule only if its includes/excludes (caps, arches, minKernel) match.
use crate::SeccompError;
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompArg, LinuxSyscall};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: Option<Value>,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    flags: Option<Value>,
    #[serde(default)]
    listener_path: Option<Value>,
    #[serde(default)]
    listener_metadata: Option<Value>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: Value,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// What a rule's includes/excludes are checked against.
pub(crate) struct Host<'a> {
    /// Go's GOARCH spelling, which Docker profiles use ("amd64", "arm64"...).
    pub goarch: &'a str,
    /// The libseccomp name of the native arch ("SCMP_ARCH_X86_64").
    pub seccomp_arch: &'a str,
    /// (major, minor) of the running kernel.
    pub kernel: (u32, u32),
    /// Capability names, normalised to "CAP_XXX".
    pub caps: Vec<String>,
}

/// Host description for the machine we run on.
pub(crate) fn this_host(caps: &[String]) -> Result<Host<'static>, SeccompError> {
    let (goarch, seccomp_arch) = if cfg!(target_arch = "x86_64") {
        ("amd64", "SCMP_ARCH_X86_64")
    } else if cfg!(target_arch = "aarch64") {
        ("arm64", "SCMP_ARCH_AARCH64")
    } else if cfg!(target_arch = "x86") {
        ("386", "SCMP_ARCH_X86")
    } else if cfg!(target_arch = "arm") {
        ("arm", "SCMP_ARCH_ARM")
    } else if cfg!(target_arch = "s390x") {
        ("s390x", "SCMP_ARCH_S390X")
    } else if cfg!(target_arch = "powerpc64") {
        ("ppc64le", "SCMP_ARCH_PPC64LE")
    } else if cfg!(target_arch = "riscv64") {
        ("riscv64", "SCMP_ARCH_RISCV64")
    } else {
        ("unknown", "")
    };
    Ok(Host {
        goarch,
        seccomp_arch,
        kernel: kernel_version()?,
        caps: caps.iter().map(|c| normalize_cap(c)).collect(),
    })
}

/// "sys_admin" / "SYS_ADMIN" / "CAP_SYS_ADMIN" -> "CAP_SYS_ADMIN".
fn normalize_cap(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

fn kernel_version() -> Result<(u32, u32), SeccompError> {
    let uts = nix::sys::utsname::uname().map_err(|e| SeccompError::Kernel(e.to_string()))?;
    let release = uts.release().to_string_lossy().into_owned();
    parse_major_minor(&release).ok_or(SeccompError::Kernel(release))
}

/// "6.18.0-1-amd64" or "4.8" -> (6, 18) / (4, 8).
fn parse_major_minor(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it
        .next()
        .map(|m| {
            m.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    Some((major, minor))
}

fn kernel_at_least(host: &Host, want: &str) -> Result<bool, SeccompError> {
    let want = parse_major_minor(want)
        .ok_or_else(|| SeccompError::Profile(format!("invalid minKernel {want:?}")))?;
    Ok(host.kernel >= want)
}

/// Docker's filtering of one rule; Ok(false) drops it.
fn keep(call: &Syscall, host: &Host) -> Result<bool, SeccompError> {
    let has_cap = |c: &String| host.caps.contains(&normalize_cap(c));
    if let Some(ex) = &call.excludes {
        if ex.arches.iter().flatten().any(|a| a == host.goarch) {
            return Ok(false);
        }
        if ex.caps.iter().flatten().any(has_cap) {
            return Ok(false);
        }
        if let Some(k) = &ex.min_kernel {
            if kernel_at_least(host, k)? {
                return Ok(false);
            }
        }
    }
    if let Some(inc) = &call.includes {
        if let Some(arches) = inc.arches.as_ref().filter(|a| !a.is_empty()) {
            if !arches.iter().any(|a| a == host.goarch) {
                return Ok(false);
            }
        }
        if !inc.caps.iter().flatten().all(has_cap) {
            return Ok(false);
        }
        if let Some(k) = &inc.min_kernel {
            if !kernel_at_least(host, k)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

pub(crate) fn translate(json_bytes: &[u8], host: &Host) -> Result<LinuxSeccomp, SeccompError> {
    let p: Profile = serde_json::from_slice(json_bytes)?;
    let syscalls = p.syscalls.unwrap_or_default();
    let default_action = match p.default_action {
        Some(a) if a != json!("") => a,
        // Docker: no default action and no rules means seccomp is off. An
        // allow-everything filter is the closest thing this type can say.
        _ if syscalls.is_empty() => json!("SCMP_ACT_ALLOW"),
        _ => return Err(SeccompError::Profile("missing defaultAction".into())),
    };
    let arch_map = p.arch_map.unwrap_or_default();
    let mut architectures = p.architectures.unwrap_or_default();
    if !architectures.is_empty() && !arch_map.is_empty() {
        return Err(SeccompError::Profile(
            "both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'"
                .into(),
        ));
    }
    if let Some(m) = arch_map
        .iter()
        .find(|m| m.architecture == host.seccomp_arch)
    {
        architectures.push(m.architecture.clone());
        architectures.extend(m.sub_architectures.iter().flatten().cloned());
    }
    let architectures: Vec<Arch> = architectures
        .iter()
        .map(|a| {
            serde_json::from_value(json!(a))
                .map_err(|_| SeccompError::Profile(format!("unknown architecture {a:?}")))
        })
        .collect::<Result<_, _>>()?;

    let mut rules: Vec<LinuxSyscall> = Vec::new();
    for call in &syscalls {
        let names = match (&call.name, &call.names) {
            (Some(n), Some(ns)) if !n.is_empty() && !ns.is_empty() => {
                return Err(SeccompError::Profile(format!(
                    "both 'name' and 'names' are specified for {n:?}, use either 'name' or 'names'"
                )))
            }
            (Some(n), _) if !n.is_empty() => vec![n.clone()],
            (_, Some(ns)) => ns.clone(),
            _ => Vec::new(),
        };
        if !keep(call, host)? {
            continue;
        }
        let mut rule = json!({ "names": names, "action": call.action });
        if let Some(e) = call.errno_ret {
            rule["errnoRet"] = json!(e);
        }
        if let Some(args) = &call.args {
            rule["args"] = serde_json::to_value(args)?;
        }
        rules.push(serde_json::from_value(rule)?);
    }

    let mut out = json!({ "defaultAction": default_action });
    if let Some(e) = p.default_errno_ret {
        out["defaultErrnoRet"] = json!(e);
    }
    if !architectures.is_empty() {
        out["architectures"] = serde_json::to_value(&architectures)?;
    }
    for (k, v) in [
        ("flags", p.flags),
        ("listenerPath", p.listener_path),
        ("listenerMetadata", p.listener_metadata),
    ] {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            out[k] = v;
        }
    }
    let mut seccomp: LinuxSeccomp = serde_json::from_value(out)?;
    seccomp.set_syscalls(Some(rules));
    Ok(seccomp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompOperator};

    fn host(caps: &[&str]) -> Host<'static> {
        Host {
            goarch: "amd64",
            seccomp_arch: "SCMP_ARCH_X86_64",
            kernel: (5, 10),
            caps: caps.iter().map(|c| normalize_cap(c)).collect(),
        }
    }

    const PROFILE: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_LOONGARCH64", "subArchitectures": null}
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
             "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
            {"names": ["s390_runtime_instr"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
            {"names": ["futuristic"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9.1"}},
            {"name": "clone3", "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "comment": "x"}
        ]
    }"#;

    fn names(s: &LinuxSeccomp) -> Vec<String> {
        s.syscalls()
            .iter()
            .flatten()
            .flat_map(|r| r.names().clone())
            .collect()
    }

    #[test]
    fn filters_by_caps_arches_and_kernel() {
        let s = translate(PROFILE.as_bytes(), &host(&["CAP_CHOWN"])).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        assert_eq!(
            names(&s),
            vec!["read", "write", "clone", "arch_prctl", "ptrace", "clone3"]
        );
        let rules = s.syscalls().clone().unwrap();
        let clone = &rules[1];
        let arg = clone.args().clone().unwrap()[0];
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(arg.value(), 2114060288);
        assert_eq!(rules.last().unwrap().errno_ret(), Some(38));
    }

    #[test]
    fn sys_admin_swaps_clone_rule_for_mount() {
        let s = translate(PROFILE.as_bytes(), &host(&["sys_admin"])).unwrap();
        let n = names(&s);
        assert!(n.contains(&"mount".to_string()));
        assert!(!n.contains(&"clone".to_string()));
    }

    #[test]
    fn other_arch_uses_its_own_map_entry() {
        let mut h = host(&[]);
        h.goarch = "arm64";
        h.seccomp_arch = "SCMP_ARCH_AARCH64";
        let s = translate(PROFILE.as_bytes(), &h).unwrap();
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
        );
        assert!(!names(&s).contains(&"arch_prctl".to_string()));
    }

    #[test]
    fn rejects_bad_profiles() {
        assert!(translate(b"{not json", &host(&[])).is_err());
        let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#;
        assert!(translate(both.as_bytes(), &host(&[])).is_err());
        let name_and_names = r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}"#;
        assert!(translate(name_and_names.as_bytes(), &host(&[])).is_err());
        let bad_action = r#"{"defaultAction":"SCMP_ACT_NOPE"}"#;
        assert!(translate(bad_action.as_bytes(), &host(&[])).is_err());
    }

    #[test]
    fn empty_profile_allows_everything() {
        let s = translate(b"{}", &host(&[])).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert!(names(&s).is_empty());
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(parse_major_minor("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(parse_major_minor("4.8"), Some((4, 8)));
        assert_eq!(parse_major_minor("5"), Some((5, 0)));
        assert_eq!(parse_major_minor("x"), None);
    }
}
