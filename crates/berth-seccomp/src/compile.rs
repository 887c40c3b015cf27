//! OCI seccomp -> classic BPF, through libseccomp.
//!
//! Why libseccomp rather than seccompiler: Docker's profile relies on what
//! libseccomp does for it. Names are resolved per architecture (x86 and x32
//! sub-arches get their own syscall tables, x86-only names like "chown32" still
//! resolve), multiplexed calls such as socketcall on x86 are handled, and
//! 64-bit argument comparisons (the clone MASKED_EQ and personality rules) are
//! generated correctly for 32-bit arches. seccompiler supports one arch per
//! filter and no name table. runc and crun use libseccomp for the same reasons.
//!
//! The program is `[ENOSYS stub][allow-range prelude][libseccomp]`: the
//! prelude (ranges.rs) takes the unconditionally allowed names, which cuts
//! Docker's default profile from ~1250 to ~340 instructions and its attach
//! time (kernel BPF conversion and JIT, linear in the length) from ~340 to
//! ~135 us.
use crate::{Program, SeccompError};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::str::FromStr;

fn lib_err(
    context: impl Into<String>,
) -> impl FnOnce(libseccomp::error::SeccompError) -> SeccompError {
    let context = context.into();
    move |source| SeccompError::Libseccomp { context, source }
}

/// runc's mapping: errno actions default to EPERM, KILL means kill the thread.
fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, SeccompError> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(SeccompError::Profile(
                "SCMP_ACT_NOTIFY needs a seccomp agent, which berth does not support".into(),
            ))
        }
    })
}

fn condition(a: &LinuxSeccompArg) -> Result<ScmpArgCompare, SeccompError> {
    if a.index() > 5 {
        return Err(SeccompError::Profile(format!(
            "syscall argument index {} out of range 0..=5",
            a.index()
        )));
    }
    let op = match a.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // OCI: value is the mask, valueTwo the expected result.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return Ok(ScmpArgCompare::new(
                a.index() as u32,
                ScmpCompareOp::MaskedEqual(a.value()),
                a.value_two().unwrap_or(0),
            ))
        }
    };
    Ok(ScmpArgCompare::new(a.index() as u32, op, a.value()))
}

/// Compiles with the allow-range prelude (ranges.rs) in front of libseccomp's
/// program whenever it can be laid out.
pub(crate) fn compile(s: &LinuxSeccomp) -> Result<Program, SeccompError> {
    compile_with(s, true)
}

/// Everything through libseccomp, as before the prelude existed (the
/// equivalence tests compare against it).
#[cfg(test)]
pub(crate) fn compile_libseccomp_only(s: &LinuxSeccomp) -> Result<Program, SeccompError> {
    compile_with(s, false)
}

fn compile_with(s: &LinuxSeccomp, use_prelude: bool) -> Result<Program, SeccompError> {
    let default = action(s.default_action(), s.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new_filter(default).map_err(lib_err("creating filter"))?;
    // A binary search over syscall numbers instead of libseccomp's linear
    // chain. The kernel, when a filter is attached, emulates it once per
    // syscall number to build its always-allowed bitmap; on the ~1000
    // instructions of Docker's profile that walk dominated every start and
    // exec. Older libseccomp (API level < 4) keeps the linear layout.
    let _ = ctx.set_ctl_optimize(2);
    // The filter's arches: native (new_filter adds it) and the listed ones.
    let mut arches = vec![ScmpArch::native()];
    for arch in s.architectures().iter().flatten() {
        let name = arch.to_string();
        let a = ScmpArch::from_str(&name).map_err(lib_err(format!("architecture {name}")))?;
        ctx.add_arch(a)
            .map_err(lib_err(format!("adding architecture {name}")))?;
        if !arches.contains(&a) {
            arches.push(a);
        }
    }
    let rules = s
        .syscalls()
        .iter()
        .flatten()
        .map(|r| {
            let act = action(r.action(), r.errno_ret())?;
            for a in r.args().iter().flatten() {
                condition(a)?;
            }
            Ok(crate::ranges::Rule {
                action: act,
                has_args: r.args().as_ref().is_some_and(|a| !a.is_empty()),
                names: r.names(),
            })
        })
        .collect::<Result<Vec<_>, SeccompError>>()?;
    // Names the prelude allows must not reach libseccomp: leaving them out is
    // what makes its program small.
    let prelude = if use_prelude {
        crate::ranges::plan(&rules, &arches, default)
    } else {
        None
    };
    for (rule, r) in s.syscalls().iter().flatten().zip(&rules) {
        let act = r.action;
        // libseccomp refuses rules equal to the default action; they are no-ops.
        if act == default {
            continue;
        }
        let conds = rule
            .args()
            .iter()
            .flatten()
            .map(condition)
            .collect::<Result<Vec<_>, _>>()?;
        // libseccomp ANDs conditions but can't AND two on the same argument, so
        // (like runc) such rules become one rule per condition, i.e. an OR.
        let mut per_index = [0usize; 6];
        for a in rule.args().iter().flatten() {
            per_index[a.index()] += 1;
        }
        let split = per_index.iter().any(|&n| n > 1);
        for name in rule.names() {
            if prelude.as_ref().is_some_and(|p| p.names.contains(name)) {
                continue;
            }
            // Names unknown to libseccomp (newer than its tables) are skipped,
            // as Docker/runc do.
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let ctx_msg = || format!("adding rule for {name}");
            if conds.is_empty() {
                ctx.add_rule(act, nr).map_err(lib_err(ctx_msg()))?;
            } else if split {
                for c in &conds {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                        .map_err(lib_err(ctx_msg()))?;
                }
            } else {
                ctx.add_rule_conditional(act, nr, &conds)
                    .map_err(lib_err(ctx_msg()))?;
            }
        }
    }
    let bpf = export(&ctx)?;
    if default == ScmpAction::Allow {
        return Ok(bpf);
    }
    // Per-arch ENOSYS stub (see enosys.rs) for the native arch and the listed
    // ones. Every name counts, those the prelude allows included.
    let names: Vec<&String> = s
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|r| r.names())
        .collect();
    let maxes: Vec<(ScmpArch, u32)> = arches
        .into_iter()
        .filter_map(|a| crate::enosys::max_nr(names.iter().copied(), a).map(|m| (a, m)))
        .collect();
    // Layout: stub, prelude, libseccomp. The stub's "not ENOSYS" exit is its
    // next instruction, the prelude's "not allowed" exit is libseccomp's
    // first; the prelude only allows numbers the profile names, which the
    // stub never turns into ENOSYS.
    let mut bytes = crate::enosys::stub(&maxes);
    if let Some(p) = &prelude {
        bytes.extend_from_slice(&p.bytes);
    }
    bytes.extend_from_slice(bpf.as_bytes());
    Program::from_bytes(&bytes)
}

/// libseccomp 2.5 can only export to a file descriptor; a memfd avoids both
/// temp files and the pipe-buffer deadlock a large filter could hit.
fn export(ctx: &ScmpFilterContext) -> Result<Program, SeccompError> {
    // SAFETY: memfd_create with a valid NUL-terminated name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(SeccompError::Export(std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor we own exclusively.
    let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&mut file)
        .map_err(lib_err("exporting BPF"))?;
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(SeccompError::Export)?;
    Program::from_bytes(&bytes)
}
