//! runc's "ENOSYS stub": syscalls newer than anything the profile names must
//! fail with ENOSYS, not the profile's default EPERM, or libcs never fall back
//! to older calls (glibc's fchmodat2 -> fchmodat, clone3 -> clone...). Docker
//! inherits this from runc's patchbpf; libseccomp alone does not do it.
//!
//! The stub is prepended to libseccomp's program: per architecture, load the
//! syscall number and return ENOSYS when it exceeds the highest number the
//! profile mentions for that arch; otherwise fall through to the real filter.
//! Classic BPF only jumps forward, so prepending leaves the program intact.
use libseccomp::{ScmpArch, ScmpSyscall};

use crate::bpf::{
    audit_arch, insn, ARCH, JA, JEQ_K, JGT_K, JSET_K, LD_W_ABS, NR, RET_K, SECCOMP_RET_ERRNO,
    X32_BIT,
};

/// Highest syscall number among `names` on `arch` (pseudo numbers are < 0).
pub(crate) fn max_nr<'a>(names: impl Iterator<Item = &'a String>, arch: ScmpArch) -> Option<u32> {
    names
        .filter_map(|n| ScmpSyscall::from_name_by_arch(n, arch).ok())
        .map(i32::from)
        .filter(|&nr| nr >= 0)
        .max()
        .map(|nr| nr as u32)
}

/// Stub instructions (bytes) for (arch, max_nr) pairs; empty when none apply.
pub(crate) fn stub(arches: &[(ScmpArch, u32)]) -> Vec<u8> {
    let blocks: Vec<(u32, u32, bool)> = arches
        .iter()
        // x32 is checked inside the x86_64 block (its numbers carry X32_BIT).
        .filter(|&&(a, _)| a != ScmpArch::X32)
        .filter_map(|&(a, max)| audit_arch(a).map(|aa| (aa, max, a == ScmpArch::X8664)))
        .collect();
    if blocks.is_empty() {
        return Vec::new();
    }
    // Layout: ld arch; blocks...; ja PROG; ENOSYS: ret; PROG: (libseccomp)
    let block_len = |x86_64: bool| if x86_64 { 4 } else { 3 };
    let total: usize = 1 + blocks.iter().map(|b| block_len(b.2)).sum::<usize>() + 2;
    let enosys = total - 1;
    let prog = total;
    let mut out = Vec::with_capacity(total * 8);
    out.extend(insn(LD_W_ABS, 0, 0, ARCH));
    let mut pc = 1;
    for (aa, max, x86_64) in blocks {
        let len = block_len(x86_64);
        // Not this arch: skip the rest of the block (A still holds the arch).
        out.extend(insn(JEQ_K, 0, (len - 1) as u8, aa));
        out.extend(insn(LD_W_ABS, 0, 0, NR));
        pc += 2;
        if x86_64 {
            let to_prog = (prog - (pc + 1)) as u8;
            out.extend(insn(JSET_K, to_prog, 0, X32_BIT));
            pc += 1;
        }
        let (to_enosys, to_prog) = ((enosys - (pc + 1)) as u8, (prog - (pc + 1)) as u8);
        out.extend(insn(JGT_K, to_enosys, to_prog, max));
        pc += 1;
    }
    out.extend(insn(JA, 0, 0, 1));
    out.extend(insn(RET_K, 0, 0, SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    debug_assert_eq!(out.len(), total * 8);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_layout() {
        let s = stub(&[(ScmpArch::X8664, 450), (ScmpArch::X86, 460)]);
        // ld + (4 + 3) + ja + ret
        assert_eq!(s.len(), 10 * 8);
        assert_eq!(&s[0..8], &insn(LD_W_ABS, 0, 0, ARCH));
        // x86_64 block: jeq skips its 3 remaining instructions on mismatch.
        assert_eq!(&s[8..16], &insn(JEQ_K, 0, 3, 0xc000_003e));
        // jgt at index 4 jumps to ENOSYS (index 9) or the program (index 10).
        assert_eq!(&s[32..40], &insn(JGT_K, 4, 5, 450));
        assert!(stub(&[(ScmpArch::S390X, 1)]).is_empty());
    }

    #[test]
    fn max_syscall_numbers() {
        let names = [
            "read".to_string(),
            "openat".to_string(),
            "chown32".to_string(),
        ];
        // openat is 257 on x86_64; chown32 does not exist there.
        assert_eq!(max_nr(names.iter(), ScmpArch::X8664), Some(257));
        // On x86 chown32 is 212, openat 295.
        assert_eq!(max_nr(names.iter(), ScmpArch::X86), Some(295));
    }
}
