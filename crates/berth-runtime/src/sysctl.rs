//! Which sysctls a container may set: only those of a kernel namespace the
//! container has its own copy of (runc's rules). Anything else would write
//! the host's value: `kernel.panic` from a container spec must never reach
//! the host, nor `net.*` with `--network host`.

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// IPC-namespaced keys besides the `fs.mqueue.` prefix.
const IPC_KEYS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Ok when `key` belongs to a namespace `private` says the container has
/// its own of; otherwise runc's message for it.
pub fn check(key: &str, private: impl Fn(LinuxNamespaceType) -> bool) -> Result<(), String> {
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        if private(LinuxNamespaceType::Ipc) {
            return Ok(());
        }
        return Err(format!(
            "sysctl {key:?} is not allowed in the hosts ipc namespace"
        ));
    }
    if key.starts_with("net.") {
        if private(LinuxNamespaceType::Network) {
            return Ok(());
        }
        return Err(format!(
            "sysctl {key:?} not allowed in host network namespace"
        ));
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if private(LinuxNamespaceType::Uts) {
            return Ok(());
        }
        return Err(format!(
            "sysctl {key:?} is not allowed in the hosts uts namespace"
        ));
    }
    Err(format!(
        "sysctl {key:?} is not in a separate kernel namespace"
    ))
}

/// Every sysctl of `spec` checked against the namespaces it lists (listed,
/// with or without a path to join, means not the host's).
pub fn check_spec(spec: &Spec) -> Result<(), String> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let listed = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        check(key, listed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_keys_of_private_namespaces_pass() {
        let all = |_| true;
        let none = |_| false;
        for key in [
            "net.ipv4.ip_forward",
            "kernel.shmmax",
            "fs.mqueue.msg_max",
            "kernel.domainname",
        ] {
            assert_eq!(check(key, all), Ok(()), "{key}");
            assert!(check(key, none).is_err(), "{key}");
        }
        // Not namespaced at all: refused whatever the namespaces.
        for key in [
            "kernel.panic",
            "vm.swappiness",
            "kernel.shmmaxx",
            "fs.file-max",
        ] {
            assert!(check(key, all).is_err(), "{key}");
        }
        assert_eq!(
            check("net.core.somaxconn", none).unwrap_err(),
            "sysctl \"net.core.somaxconn\" not allowed in host network namespace"
        );
        // Only the namespace a key belongs to matters.
        let only_net = |t| t == LinuxNamespaceType::Network;
        assert_eq!(check("net.ipv4.tcp_syncookies", only_net), Ok(()));
        assert!(check("kernel.sem", only_net).is_err());
    }
}
