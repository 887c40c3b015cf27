//! The allow-range prelude must not change a single verdict: a small classic
//! BPF interpreter runs the libseccomp-only program and the prelude program
//! on every syscall number of every arch with a few argument vectors.
use crate::compile::{compile, compile_libseccomp_only};
use crate::{default_profile, docker_profile_to_oci, LinuxSeccomp, Program};
use oci_spec::runtime::Arch;

use crate::bpf::{AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_BIT};

/// struct seccomp_data, little-endian: nr, arch, instruction_pointer, args[6].
fn seccomp_data(arch: u32, nr: u32, args: &[u64; 6]) -> [u8; 64] {
    let mut d = [0u8; 64];
    d[0..4].copy_from_slice(&nr.to_le_bytes());
    d[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    d
}

/// Runs `prog` on `data` like the kernel's seccomp BPF: returns the RET value.
/// Panics on anything these programs should never contain.
fn run(prog: &Program, data: &[u8; 64]) -> u32 {
    let insns: Vec<(u16, u8, u8, u32)> = prog
        .as_bytes()
        .chunks_exact(8)
        .map(|c| {
            (
                u16::from_ne_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    loop {
        let (code, jt, jf, k) = *insns
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} ran off the program"));
        pc += 1;
        let jump = |cond: bool| if cond { jt as usize } else { jf as usize };
        match code {
            // LD W ABS
            0x20 => {
                let k = k as usize;
                assert!(k.is_multiple_of(4) && k + 4 <= 64, "load at {k}");
                a = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
            }
            0x00 => a = k,               // LD IMM
            0x01 => x = k,               // LDX IMM
            0x60 => a = mem[k as usize], // LD MEM
            0x61 => x = mem[k as usize], // LDX MEM
            0x02 => mem[k as usize] = a, // ST
            0x03 => mem[k as usize] = x, // STX
            0x54 => a &= k,              // ALU AND K
            0x44 => a |= k,              // ALU OR K
            0x5c => a &= x,              // ALU AND X
            0x07 => x = a,               // TAX
            0x87 => a = x,               // TXA
            0x05 => pc += k as usize,    // JA
            0x15 => pc += jump(a == k),
            0x25 => pc += jump(a > k),
            0x35 => pc += jump(a >= k),
            0x45 => pc += jump(a & k != 0),
            0x1d => pc += jump(a == x),
            0x2d => pc += jump(a > x),
            0x3d => pc += jump(a >= x),
            0x4d => pc += jump(a & x != 0),
            0x06 => return k, // RET K
            0x16 => return a, // RET A
            _ => panic!("unknown opcode {code:#x} at {}", pc - 1),
        }
    }
}

/// Argument vectors: zero, and the values Docker's rules look at
/// (personality, clone flags, socket families), with and without high bits.
fn arg_vectors() -> Vec<[u64; 6]> {
    let mut v = vec![[0u64; 6], [u64::MAX; 6], [0xffff_ffff; 6]];
    for a0 in [
        0u64,
        1,
        8,
        38,
        39,
        40,
        41,
        0x20000,
        0x20008,
        0xffff_ffff,
        0x1000_0000,
        0x7e02_0000,
        0x0000_0011,
        0x1_0000_0000,
        0x1_0000_0008,
        u64::MAX,
    ] {
        v.push([a0, 0, 0, 0, 0, 0]);
        v.push([a0, 1, 0x1000_0000, 7, 0, 0]);
    }
    v
}

/// (audit arch, numbers) to compare; unknown arches included.
fn cases(arm: bool) -> Vec<(u32, Vec<u32>)> {
    let nrs: Vec<u32> = (0..=600).collect();
    let mut c = vec![
        (AUDIT_ARCH_X86_64, nrs.clone()),
        (AUDIT_ARCH_X86_64, nrs.iter().map(|n| n | X32_BIT).collect()),
        (AUDIT_ARCH_I386, nrs.clone()),
        (0xdead_beef, vec![0, 1, 59, 600]),
        (
            AUDIT_ARCH_X86_64,
            vec![601, 1000, 0x3fff_ffff, X32_BIT + 1000, u32::MAX],
        ),
        (AUDIT_ARCH_I386, vec![1000, X32_BIT, u32::MAX]),
    ];
    if arm {
        c.push((AUDIT_ARCH_AARCH64, nrs.clone()));
        let mut arm_nrs = nrs;
        arm_nrs.extend(0xf_0000..=0xf_0010);
        c.push((AUDIT_ARCH_ARM, arm_nrs));
    } else {
        c.push((AUDIT_ARCH_AARCH64, vec![0, 1, 63, 221]));
        c.push((AUDIT_ARCH_ARM, vec![0, 1, 3, 11]));
    }
    c
}

/// Compiles `oci` both ways, checks every verdict and returns (old, new).
fn assert_equivalent(oci: &LinuxSeccomp, arm: bool) -> (Program, Program) {
    let old = compile_libseccomp_only(oci).expect("libseccomp-only compile");
    let new = compile(oci).expect("compile");
    let args = arg_vectors();
    let mut checked = 0usize;
    for (arch, nrs) in cases(arm) {
        for &nr in &nrs {
            for a in &args {
                let d = seccomp_data(arch, nr, a);
                let (o, n) = (run(&old, &d), run(&new, &d));
                assert_eq!(
                    o, n,
                    "arch {arch:#x} nr {nr:#x} args {a:x?}: libseccomp {o:#x}, prelude {n:#x}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000);
    (old, new)
}

fn caps(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

#[test]
fn prelude_keeps_default_profile_verdicts() {
    for caps in [
        caps(&[]),
        caps(&["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]),
        caps(&["CAP_CHOWN", "CAP_NET_RAW", "CAP_SETUID", "CAP_KILL"]),
    ] {
        let oci = default_profile(&caps).unwrap();
        let (old, new) = assert_equivalent(&oci, false);
        // The prelude must actually be there, or this compares nothing new.
        assert_ne!(old, new, "caps {caps:?}: no prelude emitted");
    }
}

#[test]
fn prelude_halves_the_default_profile() {
    for caps in [caps(&[]), caps(&["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"])] {
        let oci = default_profile(&caps).unwrap();
        let old = compile_libseccomp_only(&oci).unwrap();
        let new = compile(&oci).unwrap();
        println!(
            "caps {caps:?}: libseccomp only {} instructions, with prelude {}",
            old.len(),
            new.len()
        );
        assert!(
            new.len() * 2 < old.len(),
            "{} instructions is not less than half of {}",
            new.len(),
            old.len()
        );
    }
}

#[test]
fn prelude_keeps_verdicts_on_arm_arches() {
    let mut oci = default_profile(&[]).unwrap();
    oci.set_architectures(Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]));
    let (old, new) = assert_equivalent(&oci, true);
    assert!(new.len() * 2 < old.len(), "{} vs {}", new.len(), old.len());
}

/// Rules that must stay with libseccomp next to ones the prelude takes:
/// conditions and other actions on a name also allowed unconditionally,
/// x86-multiplexed calls, names existing on one arch only, aliases, unknown
/// names, rules equal to the default.
const MIXED: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["read", "write", "open", "close", "stat", "fstat", "lstat", "poll",
                   "bind", "listen", "semop", "shmat", "ipc", "chown32", "arch_prctl",
                   "umount", "umount2", "time", "getpid", "getppid", "kill",
                   "no_such_syscall_anywhere", "mmap", "mmap2", "rt_sigaction",
                   "execve", "execveat", "brk"],
         "action": "SCMP_ACT_ALLOW"},
        {"names": ["close"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9,
         "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
         "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
        {"names": ["connect", "sendmsg"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["lstat", "fstat"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["brk"], "action": "SCMP_ACT_LOG"},
        {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}
    ]
}"#;

#[test]
fn prelude_keeps_mixed_rule_verdicts() {
    let variants = [
        // ipc allowed: x86 SysV IPC calls join the prelude; socketcall not
        // named: socket calls stay with libseccomp.
        MIXED.to_string(),
        // socketcall allowed but socket has an errno rule: libseccomp keeps
        // socketcall and every socket call.
        MIXED.replace(r#""ipc","#, r#""socketcall","#),
        // socketcall allowed, socket's rule an allow: all in the prelude
        // except socket.
        MIXED
            .replace(r#""ipc","#, r#""ipc", "socketcall","#)
            .replace(r#""SCMP_ACT_ERRNO", "errnoRet": 97"#, r#""SCMP_ACT_ALLOW""#),
    ];
    for (i, json) in variants.iter().enumerate() {
        assert!(i == 0 || json.contains("socketcall"), "variant {i}");
        assert!(i != 2 || !json.contains("97"), "variant {i}");
        let oci = docker_profile_to_oci(json.as_bytes(), &[]).unwrap();
        let (old, new) = assert_equivalent(&oci, false);
        // The prelude is there (its runs are short on so scattered a profile).
        assert_ne!(old, new, "variant {i}");
    }
}

/// An arch the prelude does not handle: everything stays with libseccomp.
#[test]
fn unhandled_arch_compiles_as_before() {
    let mut oci = default_profile(&[]).unwrap();
    oci.set_architectures(Some(vec![Arch::ScmpArchX86, Arch::ScmpArchRiscv64]));
    let old = compile_libseccomp_only(&oci).unwrap();
    let new = compile(&oci).unwrap();
    assert_eq!(old, new);
}
