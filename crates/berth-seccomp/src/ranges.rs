//! The "allow-range prelude": unconditionally allowed syscalls as a binary
//! search over runs of consecutive numbers, ahead of libseccomp's program.
//!
//! Why hand-written: libseccomp emits at least one comparison per syscall
//! (its optimize level 2 builds a tree over single numbers) and never merges
//! runs of neighbouring numbers. Docker's default profile allows ~370 names
//! unconditionally on amd64, ~300 numbers per arch, which form only 30 to 60
//! runs; libseccomp spent ~1250 instructions on three arches, and the kernel's
//! cost of attaching a filter (bpf_convert_filter, the JIT) is linear in the
//! instruction count. Here every run costs two `jge` nodes.
//!
//! Only names whose every rule is an unconditional `SCMP_ACT_ALLOW` are taken,
//! and only when libseccomp would have done nothing else with them: names it
//! cannot resolve on some arch of the filter, names sharing a number with a
//! rule left to libseccomp, and calls it multiplexes (x86 socketcall/ipc)
//! unless the multiplexer itself is taken stay with libseccomp. Names are
//! resolved per arch as libseccomp translates a rule: native number ->
//! native name -> that arch's number. Only exactly consecutive numbers are
//! merged, so the
//! prelude never allows a number the profile did not name. Everything else
//! (conditional rules, other actions, the default and bad-arch actions) stays
//! libseccomp's: a number the prelude does not allow jumps to its program.
use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};
use std::collections::{BTreeSet, HashMap, HashSet};

use crate::bpf::{
    audit_arch, insn, ARCH, JA, JEQ_K, JGE_K, LD_W_ABS, NR, RET_K, SECCOMP_RET_ALLOW, X32_BIT,
};

/// x86 calls libseccomp also matches through socketcall(2) ...
const X86_SOCKETCALL: &[&str] = &[
    "socket",
    "bind",
    "connect",
    "listen",
    "accept",
    "getsockname",
    "getpeername",
    "socketpair",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "accept4",
    "recvmmsg",
    "sendmmsg",
];
/// ... or ipc(2).
const X86_IPC: &[&str] = &[
    "semop",
    "semget",
    "semctl",
    "semtimedop",
    "msgsnd",
    "msgrcv",
    "msgget",
    "msgctl",
    "shmat",
    "shmdt",
    "shmget",
    "shmctl",
];

/// The x86 call `name` is multiplexed through, if any.
fn x86_multiplexer(name: &str) -> Option<&'static str> {
    if X86_SOCKETCALL.contains(&name) {
        Some("socketcall")
    } else if X86_IPC.contains(&name) {
        Some("ipc")
    } else {
        None
    }
}

/// One rule as the compiler adds it (after the errno/default mapping).
pub(crate) struct Rule<'a> {
    pub action: ScmpAction,
    pub has_args: bool,
    pub names: &'a [String],
}

/// A name's number on each arch of the filter (None: nothing on that arch).
type PerArch = Vec<(ScmpArch, Option<u32>)>;

/// The prelude's instructions and the names libseccomp must no longer see.
pub(crate) struct Prelude {
    pub bytes: Vec<u8>,
    pub names: HashSet<String>,
}

/// Direct x86 numbers of the multiplexed calls. libseccomp resolves their
/// names to pseudo numbers (socket is -101 on x86) but, adding a rule, also
/// matches the direct call where its table has one (recvmmsg is 337); its
/// reverse lookup shows which.
fn x86_direct_numbers() -> HashMap<String, u32> {
    (0..1024)
        .filter_map(|nr| {
            let name = ScmpSyscall::from(nr).get_name_by_arch(ScmpArch::X86).ok()?;
            x86_multiplexer(&name).map(|_| (name, nr as u32))
        })
        .collect()
}

/// The number `name` has on `arch`: `Ok(Some(nr))` a real number,
/// `Ok(None)` nothing to do on this arch (libseccomp ignores pseudo numbers
/// of calls it does not multiplex), `Err(())` leave the name to libseccomp.
fn number_on(
    name: &str,
    arch: ScmpArch,
    x86_direct: &HashMap<String, u32>,
) -> Result<Option<u32>, ()> {
    if arch == ScmpArch::X86 && x86_multiplexer(name).is_some() {
        return Ok(x86_direct.get(name).copied());
    }
    let nr = i32::from(ScmpSyscall::from_name_by_arch(name, arch).map_err(|_| ())?);
    if nr < 0 {
        return Ok(None);
    }
    let nr = nr as u32;
    // x32 numbers must carry the x32 bit, nothing else may.
    if (arch == ScmpArch::X32) != (nr & X32_BIT != 0) {
        return Err(());
    }
    Ok(Some(nr))
}

/// Plans the prelude for a filter over `arches` (native included) with
/// `default` as its default action. `None` when there is nothing to take or
/// an arch of the filter is not handled here: then libseccomp gets everything.
pub(crate) fn plan(rules: &[Rule], arches: &[ScmpArch], default: ScmpAction) -> Option<Prelude> {
    if default == ScmpAction::Allow || arches.iter().any(|&a| audit_arch(a).is_none()) {
        return None;
    }
    // Per name, over the rules libseccomp would add: all unconditional
    // allows? all allows?
    let mut eligible: HashMap<&str, (bool, bool)> = HashMap::new();
    for r in rules {
        // libseccomp skips rules equal to the default action; so does compile.
        if r.action == default {
            continue;
        }
        let allow = r.action == ScmpAction::Allow;
        for n in r.names {
            let e = eligible.entry(n.as_str()).or_insert((true, true));
            e.0 &= allow && !r.has_args;
            e.1 &= allow;
        }
    }
    // Names the compiler skips (unknown natively) take part in nothing. The
    // others are looked up per arch under the native number's name, as
    // libseccomp translates a rule to the filter's other arches.
    let mut canon: HashMap<&str, String> = HashMap::new();
    eligible.retain(|&n, _| match ScmpSyscall::from_name(n) {
        Ok(nr) => {
            canon.insert(n, nr.get_name().unwrap_or_else(|_| n.to_string()));
            true
        }
        Err(_) => false,
    });
    let x86 = arches.contains(&ScmpArch::X86);
    let x86_direct = if x86 {
        x86_direct_numbers()
    } else {
        HashMap::new()
    };
    // Numbers per (name, arch); None in `numbers` = libseccomp keeps the name.
    let mut numbers: HashMap<&str, Option<PerArch>> = HashMap::new();
    for (&n, &(unconditional, _)) in &eligible {
        let nrs = arches
            .iter()
            .map(|&a| number_on(&canon[n], a, &x86_direct).map(|nr| (a, nr)))
            .collect::<Result<Vec<_>, ()>>()
            .ok();
        numbers.insert(n, if unconditional { nrs } else { None });
    }
    // A number also reached through a name libseccomp keeps stays with
    // libseccomp, and so does every name mapping to it; repeat until stable.
    // On x86 libseccomp also matches socket and SysV IPC calls through
    // socketcall/ipc (arg0 = call): the prelude may take such a call only
    // together with its multiplexer, whose unconditional allow then covers
    // the multiplexed form; and a multiplexer stays with libseccomp when a
    // call it carries has a rule other than allow there.
    loop {
        let mut claimed: HashSet<(ScmpArch, u32)> = HashSet::new();
        for (&n, nrs) in &numbers {
            if nrs.is_some() {
                continue;
            }
            for &a in arches {
                if let Ok(Some(nr)) = number_on(&canon[n], a, &x86_direct) {
                    claimed.insert((a, nr));
                }
            }
            if let (true, Some(m)) = (x86, x86_multiplexer(&canon[n])) {
                if !eligible[n].1 {
                    if let Ok(Some(nr)) = number_on(m, ScmpArch::X86, &x86_direct) {
                        claimed.insert((ScmpArch::X86, nr));
                    }
                }
            }
        }
        let demote: Vec<&str> = numbers
            .iter()
            .filter(|&(&n, nrs)| {
                let Some(v) = nrs else { return false };
                v.iter()
                    .any(|&(a, nr)| nr.is_some_and(|nr| claimed.contains(&(a, nr))))
                    || (x86
                        && x86_multiplexer(&canon[n])
                            .is_some_and(|m| !numbers.get(m).is_some_and(|m| m.is_some())))
            })
            .map(|(&n, _)| n)
            .collect();
        if demote.is_empty() {
            break;
        }
        for n in demote {
            numbers.insert(n, None);
        }
    }
    // Sorted numbers per audit arch (x86_64 and x32 share one list).
    let mut per_audit: Vec<(u32, BTreeSet<u32>)> = Vec::new();
    for &a in arches {
        let aa = audit_arch(a)?;
        if !per_audit.iter().any(|(x, _)| *x == aa) {
            per_audit.push((aa, BTreeSet::new()));
        }
    }
    let mut names = HashSet::new();
    for (&n, nrs) in &numbers {
        let Some(nrs) = nrs else { continue };
        names.insert(n.to_string());
        for &(a, nr) in nrs {
            if let (Some(nr), Some(aa)) = (nr, audit_arch(a)) {
                if let Some((_, set)) = per_audit.iter_mut().find(|(x, _)| *x == aa) {
                    set.insert(nr);
                }
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    let blocks: Vec<(u32, Vec<(u32, u32)>)> = per_audit
        .into_iter()
        .filter(|(_, set)| !set.is_empty())
        .map(|(aa, set)| (aa, runs(set)))
        .collect();
    let bytes = emit(&blocks)?;
    Some(Prelude { bytes, names })
}

/// Sorted numbers -> maximal runs [lo, hi] of exactly consecutive numbers.
pub(crate) fn runs(nrs: impl IntoIterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for nr in nrs {
        match out.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(nr) => *hi = nr,
            Some((_, hi)) if *hi >= nr => {}
            _ => out.push((nr, nr)),
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Target {
    Node(usize),
    Allow,
    Deny,
}

/// A `jge k` node: true -> `jt`, false -> `jf`.
struct Node {
    k: u32,
    jt: Target,
    jf: Target,
}

/// Appends the search over intervals lo..=hi (interval i lies between
/// breakpoints i-1 and i; odd intervals are allowed) in preorder, so the
/// false branch is always the next instruction or a leaf.
fn tree(bps: &[u32], lo: usize, hi: usize, out: &mut Vec<Node>) -> Target {
    if lo == hi {
        return if lo % 2 == 1 {
            Target::Allow
        } else {
            Target::Deny
        };
    }
    let mid = (lo + hi) / 2;
    let me = out.len();
    out.push(Node {
        k: bps[mid],
        jt: Target::Deny,
        jf: Target::Deny,
    });
    let jf = tree(bps, lo, mid, out);
    let jt = tree(bps, mid + 1, hi, out);
    out[me].jt = jt;
    out[me].jf = jf;
    Target::Node(me)
}

/// Lays out, after `ld arch`, one block per audit arch:
/// `jeq arch (else next block); ld nr; jge tree; ret ALLOW; ja END`, where
/// END (the last block's deny target, no `ja` needed) is libseccomp's
/// program. `None` when a conditional jump would exceed 255.
pub(crate) fn emit(blocks: &[(u32, Vec<(u32, u32)>)]) -> Option<Vec<u8>> {
    let bps: Vec<Vec<u32>> = blocks.iter().map(|(_, r)| breakpoints(r)).collect();
    let lens: Vec<usize> = bps
        .iter()
        .enumerate()
        .map(|(i, b)| block_len(b.len(), i + 1 == blocks.len()))
        .collect();
    let mut out = Vec::new();
    out.extend(insn(LD_W_ABS, 0, 0, ARCH));
    for (i, (aa, _)) in blocks.iter().enumerate() {
        let last = i + 1 == blocks.len();
        let len = lens[i];
        // Instructions after this block up to libseccomp's program.
        let rest: usize = lens[i + 1..].iter().sum();
        let mut nodes = Vec::with_capacity(bps[i].len());
        tree(&bps[i], 0, bps[i].len(), &mut nodes);
        // Positions relative to the block start.
        let first_node = 2;
        let allow = first_node + nodes.len();
        let deny = allow + 1;
        out.extend(insn(JEQ_K, 0, u8::try_from(len - 1).ok()?, *aa));
        out.extend(insn(LD_W_ABS, 0, 0, NR));
        let pos = |t: Target| match t {
            Target::Node(n) => first_node + n,
            Target::Allow => allow,
            Target::Deny => deny,
        };
        for (n, node) in nodes.iter().enumerate() {
            let next = first_node + n + 1;
            let jt = u8::try_from(pos(node.jt) - next).ok()?;
            let jf = u8::try_from(pos(node.jf) - next).ok()?;
            out.extend(insn(JGE_K, jt, jf, node.k));
        }
        out.extend(insn(RET_K, 0, 0, SECCOMP_RET_ALLOW));
        if !last {
            out.extend(insn(JA, 0, 0, u32::try_from(rest).ok()?));
        }
    }
    Some(out)
}

/// Where allowed-ness changes: each run's first number and the one after it
/// (none after a run ending at u32::MAX).
fn breakpoints(runs: &[(u32, u32)]) -> Vec<u32> {
    let mut bps = Vec::with_capacity(runs.len() * 2);
    for &(lo, hi) in runs {
        bps.push(lo);
        if let Some(end) = hi.checked_add(1) {
            bps.push(end);
        }
    }
    bps
}

/// jeq + ld + one node per breakpoint + ret + ja unless last.
fn block_len(breakpoints: usize, last: bool) -> usize {
    2 + breakpoints + 1 + usize::from(!last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64};

    #[test]
    fn runs_merge_only_consecutive_numbers() {
        assert_eq!(
            runs([0, 1, 2, 4, 5, 7, 7, 9]),
            vec![(0, 2), (4, 5), (7, 7), (9, 9)]
        );
        assert_eq!(
            runs([u32::MAX - 1, u32::MAX]),
            vec![(u32::MAX - 1, u32::MAX)]
        );
        assert!(runs([]).is_empty());
    }

    #[test]
    fn layout_gives_up_beyond_eight_bit_jumps() {
        // 200 runs: 400 nodes, the arch check cannot skip them.
        let many: Vec<(u32, u32)> = (0..200).map(|i| (3 * i, 3 * i + 1)).collect();
        assert!(emit(&[(AUDIT_ARCH_X86_64, many)]).is_none());
        let few: Vec<(u32, u32)> = (0..50).map(|i| (3 * i, 3 * i + 1)).collect();
        let b = emit(&[(AUDIT_ARCH_X86_64, few.clone()), (AUDIT_ARCH_I386, few)]).unwrap();
        // ld arch + (jeq, ld, 100 nodes, ret, ja) + (jeq, ld, 100 nodes, ret)
        assert_eq!(b.len(), 8 * (1 + 104 + 103));
        // The first block's ja skips the whole second block.
        assert_eq!(&b[8 * 104..8 * 105], &insn(JA, 0, 0, 103));
    }
}
