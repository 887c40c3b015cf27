//! A compiled classic-BPF filter and its installation.
use crate::SeccompError;

/// Size of one `struct sock_filter` (u16 code, u8 jt, u8 jf, u32 k).
const INSN: usize = 8;
/// The kernel's BPF_MAXINSNS.
const MAX_INSNS: usize = 4096;

/// Classic BPF instructions in native byte order, as `seccomp(2)` takes them.
/// Stored as u64 words so the buffer is aligned for `struct sock_filter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program(Vec<u64>);

impl Program {
    /// The raw instructions, e.g. to cache a compiled filter in a file.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: any u64 slice is a valid, initialised byte slice of 8x the length.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>(), self.0.len() * INSN) }
    }

    /// Loads bytes from `as_bytes`, checking only the shape the kernel needs.
    pub fn from_bytes(b: &[u8]) -> Result<Program, SeccompError> {
        if b.is_empty() || !b.len().is_multiple_of(INSN) {
            return Err(SeccompError::Program(format!(
                "length {} is not a non-zero multiple of {INSN}",
                b.len()
            )));
        }
        if b.len() / INSN > MAX_INSNS {
            return Err(SeccompError::Program(format!(
                "{} instructions exceed the kernel limit of {MAX_INSNS}",
                b.len() / INSN
            )));
        }
        Ok(Program(
            b.chunks_exact(INSN)
                .map(|c| {
                    let mut w = [0u8; INSN];
                    w.copy_from_slice(c);
                    u64::from_ne_bytes(w)
                })
                .collect(),
        ))
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// seccomp(SECCOMP_SET_MODE_FILTER). The caller must have set no_new_privs or
/// hold CAP_SYS_ADMIN. Allocation-free, so it is safe right before execve in a
/// freshly forked child.
pub fn install(prog: &Program) -> Result<(), SeccompError> {
    let fprog = libc::sock_fprog {
        len: prog.0.len() as libc::c_ushort,
        filter: prog.0.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at len valid instructions that outlive the call;
    // the kernel copies them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0 as libc::c_uint,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc != 0 {
        // from_raw_os_error does not allocate.
        return Err(SeccompError::Install(std::io::Error::last_os_error()));
    }
    Ok(())
}
