//! Classic-BPF building blocks shared by the hand-written parts of a filter
//! (the ENOSYS stub and the allow-range prelude): opcodes, the offsets of
//! `struct seccomp_data`, audit arch values, and instruction encoding.
use libseccomp::ScmpArch;

pub(crate) const LD_W_ABS: u16 = 0x20;
pub(crate) const JEQ_K: u16 = 0x15;
pub(crate) const JGT_K: u16 = 0x25;
pub(crate) const JGE_K: u16 = 0x35;
pub(crate) const JSET_K: u16 = 0x45;
pub(crate) const JA: u16 = 0x05;
pub(crate) const RET_K: u16 = 0x06;
pub(crate) const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
pub(crate) const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// Offsets in struct seccomp_data.
pub(crate) const NR: u32 = 0;
pub(crate) const ARCH: u32 = 4;
/// x32 calls arrive as AUDIT_ARCH_X86_64 with this bit set in the number.
pub(crate) const X32_BIT: u32 = 0x4000_0000;
pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub(crate) const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub(crate) const AUDIT_ARCH_ARM: u32 = 0x4000_0028;

/// One `struct sock_filter` in native byte order.
pub(crate) fn insn(code: u16, jt: u8, jf: u8, k: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[0..2].copy_from_slice(&code.to_ne_bytes());
    b[2] = jt;
    b[3] = jf;
    b[4..8].copy_from_slice(&k.to_ne_bytes());
    b
}

/// The AUDIT_ARCH_* value the kernel reports for `a`, for the arches the
/// hand-written parts handle (x32 arrives as x86_64, see [`X32_BIT`]).
pub(crate) fn audit_arch(a: ScmpArch) -> Option<u32> {
    match a {
        ScmpArch::X8664 | ScmpArch::X32 => Some(AUDIT_ARCH_X86_64),
        ScmpArch::X86 => Some(AUDIT_ARCH_I386),
        ScmpArch::Aarch64 => Some(AUDIT_ARCH_AARCH64),
        ScmpArch::Arm => Some(AUDIT_ARCH_ARM),
        _ => None,
    }
}
