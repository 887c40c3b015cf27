//! Linux capabilities: OCI capability sets turned into bitmasks before fork,
//! then applied in the child with raw capset/prctl (one capset call sets all
//! three main sets at once, which avoids ordering problems between them).

use std::str::FromStr;

use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Result, RuntimeError};

/// The five capability sets of a process as bitmasks (bit n = capability n).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

impl CapMasks {
    pub fn from_spec(caps: &LinuxCapabilities) -> CapMasks {
        CapMasks {
            bounding: mask(caps.bounding()),
            effective: mask(caps.effective()),
            permitted: mask(caps.permitted()),
            inheritable: mask(caps.inheritable()),
            ambient: mask(caps.ambient()),
        }
    }
}

/// Bitmask of a set. Capabilities this kernel ABI does not know are skipped,
/// as runc does (it warns and ignores them).
fn mask(set: &Option<Capabilities>) -> u64 {
    set.iter()
        .flatten()
        .filter_map(|c| caps::Capability::from_str(&format!("CAP_{c}")).ok())
        .fold(0, |m, c| m | c.bitmask())
}

/// Highest capability number the running kernel knows.
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drops every capability not in `keep` from the bounding set. Needs
/// CAP_SETPCAP, so it runs before the user switch.
pub fn drop_bounding(keep: u64, last_cap: u32) -> Result<()> {
    for cap in 0..=last_cap.min(63) {
        if keep & (1u64 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        // EINVAL: the kernel does not know this capability; nothing to drop.
        if r != 0 && Errno::last() != Errno::EINVAL {
            return Err(RuntimeError::sys(
                format!("drop capability {cap} from bounding set"),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets effective, permitted and inheritable in one capset call, then raises
/// the ambient ones (which must already be permitted and inheritable).
pub fn apply(m: &CapMasks) -> Result<()> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: m.effective as u32,
            permitted: m.permitted as u32,
            inheritable: m.inheritable as u32,
        },
        CapData {
            effective: (m.effective >> 32) as u32,
            permitted: (m.permitted >> 32) as u32,
            inheritable: (m.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: header and a two-element data array as capset(2) v3 expects.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(RuntimeError::sys("capset", Errno::last()));
    }
    for cap in 0..64u64 {
        if m.ambient & (1 << cap) == 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let r = unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap as libc::c_ulong,
                0,
                0,
            )
        };
        if r != 0 && Errno::last() != Errno::EINVAL {
            return Err(RuntimeError::sys(
                format!("raise ambient capability {cap}"),
                Errno::last(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder};

    fn docker_default() -> Capabilities {
        use Capability::*;
        [
            Chown,
            DacOverride,
            Fsetid,
            Fowner,
            Mknod,
            NetRaw,
            Setgid,
            Setuid,
            Setfcap,
            Setpcap,
            NetBindService,
            SysChroot,
            Kill,
            AuditWrite,
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn docker_default_set_is_a80425fb() {
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(docker_default())
            .effective(docker_default())
            .permitted(docker_default())
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build()
            .unwrap();
        let m = CapMasks::from_spec(&caps);
        assert_eq!(m.bounding, 0xa80425fb);
        assert_eq!(m.effective, 0xa80425fb);
        assert_eq!(m.permitted, 0xa80425fb);
        assert_eq!(m.inheritable, 0);
        assert_eq!(m.ambient, 0);
    }

    #[test]
    fn single_capability_bit() {
        let set: Capabilities = [Capability::NetBindService].into_iter().collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .effective(set)
            .build()
            .unwrap();
        assert_eq!(CapMasks::from_spec(&caps).effective, 0x400);
    }

    #[test]
    fn last_cap_is_plausible() {
        assert!((36..64).contains(&last_cap()));
    }
}
