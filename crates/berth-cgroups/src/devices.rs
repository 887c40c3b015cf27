//! OCI device cgroup rules in the v1 devices.allow/devices.deny syntax.
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// "c 1:3 rwm"; missing major/minor are wildcards, missing access is "rwm".
pub(crate) fn rule_line(d: &LinuxDeviceCgroup) -> String {
    let ty = match d.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::P) => 'p',
        Some(LinuxDeviceType::A) | None => 'a',
    };
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = d.access().clone().unwrap_or_else(|| "rwm".to_string());
    format!("{ty} {}:{} {access}", num(d.major()), num(d.minor()))
}

/// True for the "deny everything" rule Docker puts first; runc writes it as
/// the short form "a" to devices.deny, which also clears inherited allows.
pub(crate) fn is_deny_all(d: &LinuxDeviceCgroup) -> bool {
    !d.allow()
        && matches!(d.typ(), None | Some(LinuxDeviceType::A))
        && d.major().is_none_or(|m| m < 0)
        && d.minor().is_none_or(|m| m < 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    #[test]
    fn formats_rules() {
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(rule_line(&d), "c 1:3 rwm");
        assert!(!is_deny_all(&d));
        let d = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(136)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(rule_line(&d), "c 136:* rwm");
        let all = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert!(is_deny_all(&all));
        assert_eq!(rule_line(&all), "a *:* rwm");
    }
}
