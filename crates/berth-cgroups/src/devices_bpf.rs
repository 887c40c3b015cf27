//! The device cgroup on cgroup v2: the OCI device rules compiled to a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program and attached to the container's
//! cgroup, as runc and crun do (v2 has no `devices` controller).
//!
//! The program is assembled here by hand. It is a dozen instruction shapes
//! (load, and, shift, compare-and-jump, mov, exit); the crates that emit BPF
//! either need an LLVM/BTF toolchain at build time (aya's eBPF side,
//! libbpf-rs with clang) or are not kept up, and neither is worth it for a
//! straight-line filter the kernel's verifier checks anyway.
//!
//! Rules are first reduced the way the v1 kernel controller (and runc's
//! emulator) would apply them in order: a rule of type `a` resets everything
//! to "allow all" or "deny all", other rules add exceptions to that default
//! or take access bits away from an identical exception. The program then
//! tests the exceptions one block each and falls through to the default:
//!
//! ```text
//!   r2 = ctx->access_type & 0xffff   // device type
//!   r3 = ctx->access_type >> 16      // requested access
//!   r4 = ctx->major; r5 = ctx->minor
//!   per exception: type? access? major? minor? -> return !default
//!   return default
//! ```
use crate::CgroupError;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

// struct bpf_cgroup_dev_ctx.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: u8 = 1;
const ACC_READ: u8 = 2;
const ACC_WRITE: u8 = 4;
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// One kernel `struct bpf_insn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one (little endian
    /// bitfields; cgroup v2 hosts berth runs on are all little endian).
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (class | op | source).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JNE_K: u8 = 0x55;
const JMP_EXIT: u8 = 0x95;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// Registers: r0 return value, r1 context (then scratch), r2..r5 the fields.
const PROLOGUE: [Insn; 6] = [
    insn(LDX_MEM_W, 2, 1, 0, 0),        // r2 = access_type
    insn(ALU64_AND_K, 2, 0, 0, 0xffff), // r2 &= 0xffff (type)
    insn(LDX_MEM_W, 3, 1, 0, 0),        // r3 = access_type
    insn(ALU64_RSH_K, 3, 0, 0, 16),     // r3 >>= 16 (access)
    insn(LDX_MEM_W, 4, 1, 4, 0),        // r4 = major
    insn(LDX_MEM_W, 5, 1, 8, 0),        // r5 = minor
];

/// A rule that is not a reset, after parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exception {
    block: bool,
    major: Option<u32>,
    minor: Option<u32>,
    access: u8,
}

/// The reduced rule set: a default and the exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    default_allow: bool,
    exceptions: Vec<Exception>,
}

fn access_bits(s: &str) -> Result<u8, String> {
    s.chars().try_fold(0u8, |acc, c| match c {
        'r' => Ok(acc | ACC_READ),
        'w' => Ok(acc | ACC_WRITE),
        'm' => Ok(acc | ACC_MKNOD),
        _ => Err(format!("invalid device access {s:?}")),
    })
}

fn number(n: Option<i64>) -> Result<Option<u32>, String> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|&n| n <= i32::MAX as u32)
            .map(Some)
            .ok_or_else(|| format!("device number {n} out of range")),
    }
}

impl Filter {
    /// Applies the rules in order, as the v1 controller does with lines
    /// written to devices.allow/devices.deny. Starts from "deny all".
    pub(crate) fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<Filter, String> {
        let mut f = Filter {
            default_allow: false,
            exceptions: Vec::new(),
        };
        for r in rules {
            let access = access_bits(r.access().as_deref().unwrap_or("rwm"))?;
            let block = match r.typ() {
                None | Some(LinuxDeviceType::A) => {
                    // The kernel treats any "a ..." line as a full reset.
                    f.default_allow = r.allow();
                    f.exceptions.clear();
                    continue;
                }
                Some(LinuxDeviceType::B) => true,
                Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => false,
                Some(LinuxDeviceType::P) => {
                    return Err("fifo device rules are not supported by the device cgroup".into())
                }
            };
            let ex = Exception {
                block,
                major: number(r.major())?,
                minor: number(r.minor())?,
                access,
            };
            if access == 0 {
                continue;
            }
            let same =
                |e: &Exception| e.block == ex.block && e.major == ex.major && e.minor == ex.minor;
            if r.allow() != f.default_allow {
                // An exception to the default: merged with an identical one.
                match f.exceptions.iter_mut().find(|e| same(e)) {
                    Some(e) => e.access |= access,
                    None => f.exceptions.push(ex),
                }
            } else {
                // Same sense as the default: takes bits away from an exception.
                for e in f.exceptions.iter_mut().filter(|e| same(e)) {
                    e.access &= !access;
                }
                f.exceptions.retain(|e| e.access != 0);
            }
        }
        Ok(f)
    }

    /// The program: prologue, one block per exception, default verdict.
    pub(crate) fn program(&self) -> Vec<Insn> {
        let mut prog = PROLOGUE.to_vec();
        let verdict = i32::from(!self.default_allow);
        for e in &self.exceptions {
            // Each test is a list of instructions whose last one jumps to the
            // next block when the test fails; offsets are patched below.
            let mut tests: Vec<Vec<Insn>> = Vec::new();
            let ty = if e.block { DEV_BLOCK } else { DEV_CHAR };
            tests.push(vec![insn(JMP_JNE_K, 2, 0, 0, ty)]);
            if e.access != ACC_ALL {
                let t = if self.default_allow {
                    // Deny exception: matches when any requested bit is denied.
                    vec![
                        insn(ALU64_MOV_X, 1, 3, 0, 0),
                        insn(ALU64_AND_K, 1, 0, 0, i32::from(e.access)),
                        insn(JMP_JEQ_K, 1, 0, 0, 0),
                    ]
                } else {
                    // Allow exception: matches when every requested bit is allowed.
                    vec![
                        insn(ALU64_MOV_X, 1, 3, 0, 0),
                        insn(ALU64_AND_K, 1, 0, 0, i32::from(!e.access & ACC_ALL)),
                        insn(JMP_JNE_K, 1, 0, 0, 0),
                    ]
                };
                tests.push(t);
            }
            if let Some(m) = e.major {
                tests.push(vec![insn(JMP_JNE_K, 4, 0, 0, m as i32)]);
            }
            if let Some(m) = e.minor {
                tests.push(vec![insn(JMP_JNE_K, 5, 0, 0, m as i32)]);
            }
            let tail = [
                insn(ALU64_MOV_K, 0, 0, 0, verdict),
                insn(JMP_EXIT, 0, 0, 0, 0),
            ];
            let mut remaining: usize = tests.iter().map(Vec::len).sum::<usize>() + tail.len();
            for t in tests {
                remaining -= t.len();
                let mut t = t;
                if let Some(j) = t.last_mut() {
                    // Skip the rest of this block: the later tests and the tail.
                    j.off = remaining as i16;
                }
                prog.extend(t);
            }
            prog.extend(tail);
        }
        prog.push(insn(ALU64_MOV_K, 0, 0, 0, i32::from(self.default_allow)));
        prog.push(insn(JMP_EXIT, 0, 0, 0, 0));
        prog
    }
}

// bpf(2) commands, program and attach types, flags.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The leading fields of `union bpf_attr` for BPF_PROG_LOAD.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// BPF_PROG_ATTACH / BPF_PROG_DETACH.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// BPF_PROG_QUERY.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: attr is a live, fully initialised repr(C) prefix of union
    // bpf_attr; the size passed is its own, so the kernel reads no further.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned_fd(raw: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor to us alone.
    unsafe { OwnedFd::from_raw_fd(raw as i32) }
}

/// Loads the program; a verifier refusal carries the verifier's log.
fn load(prog: &[Insn]) -> Result<OwnedFd, (io::Error, String)> {
    let license = CString::new("Apache").expect("no NUL");
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(first) => {
            // Load again with a log only to explain the failure.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err((
                first,
                String::from_utf8_lossy(&log[..end]).trim().to_string(),
            ))
        }
    }
}

/// Ids of the device programs attached to the cgroup itself (not inherited).
fn attached(cgroup: &OwnedFd) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

fn detach(cgroup: &OwnedFd, id: u32) -> io::Result<()> {
    let mut get = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    let prog = match bpf(BPF_PROG_GET_FD_BY_ID, &mut get) {
        Ok(fd) => owned_fd(fd),
        // Detached (and freed) by someone else meanwhile.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_DETACH, &mut attr) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r.map(|_| ()),
    }
}

/// Compiles `rules`, attaches the program to the cgroup directory `dir`
/// (BPF_F_ALLOW_MULTI, so programs of parent cgroups keep applying) and
/// then detaches any device program attached there before. While both are
/// attached the kernel requires both to allow, so the switch never lets
/// through what either rule set denies.
pub(crate) fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let fail = |msg: String, source: io::Error| CgroupError::DeviceFilter {
        path: dir.to_path_buf(),
        msg,
        source,
    };
    let filter = Filter::from_rules(rules)
        .map_err(|m| fail(m, io::Error::from_raw_os_error(libc::EINVAL)))?;
    let cgroup = std::fs::File::open(dir)
        .map(OwnedFd::from)
        .map_err(|e| fail("opening the cgroup".into(), e))?;
    let old = attached(&cgroup).map_err(|e| fail("querying device programs".into(), e))?;
    let prog = load(&filter.program()).map_err(|(e, log)| {
        let msg = if log.is_empty() {
            "loading the device program".to_string()
        } else {
            format!("loading the device program (verifier: {log})")
        };
        fail(msg, e)
    })?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| fail("attaching the device program".into(), e))?;
    // The cgroup now holds its own reference; `prog` can close.
    for id in old {
        detach(&cgroup, id).map_err(|e| fail(format!("detaching old device program {id}"), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;

    fn rule(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        mm: (i64, i64),
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .access(access);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if mm.0 >= 0 {
            b = b.major(mm.0);
        }
        if mm.1 >= 0 {
            b = b.minor(mm.1);
        }
        b.build().unwrap()
    }

    const C: Option<LinuxDeviceType> = Some(LinuxDeviceType::C);
    const B: Option<LinuxDeviceType> = Some(LinuxDeviceType::B);

    /// The list the daemon puts in every non-privileged spec (spec.rs).
    fn docker_defaults() -> Vec<LinuxDeviceCgroup> {
        let mut v = vec![
            rule(false, None, (-1, -1), "rwm"),
            rule(true, C, (-1, -1), "m"),
            rule(true, B, (-1, -1), "m"),
        ];
        for (ma, mi) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
            (10, 200),
        ] {
            v.push(rule(true, C, (ma, mi), "rwm"));
        }
        v.push(rule(true, C, (136, -1), "rwm"));
        v
    }

    /// Runs the program on a context the way the kernel would, so the
    /// reduction and the jump offsets are checked without a kernel.
    fn run(prog: &[Insn], block: bool, major: u32, minor: u32, access: u8) -> u64 {
        let ty = if block { DEV_BLOCK } else { DEV_CHAR } as u32;
        let ctx = [(u32::from(access) << 16) | ty, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU64_AND_K => r[dst] &= imm,
                ALU64_RSH_K => r[dst] >>= imm,
                ALU64_MOV_K => r[dst] = imm,
                ALU64_MOV_X => r[dst] = r[src],
                JMP_JEQ_K if r[dst] == imm => pc += i.off as usize,
                JMP_JNE_K if r[dst] != imm => pc += i.off as usize,
                JMP_JEQ_K | JMP_JNE_K => {}
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const R: u8 = ACC_READ;
    const W: u8 = ACC_WRITE;
    const M: u8 = ACC_MKNOD;

    #[test]
    fn default_rules_compile_to_an_allow_list() {
        let f = Filter::from_rules(&docker_defaults()).unwrap();
        assert!(!f.default_allow);
        assert_eq!(f.exceptions.len(), 12);
        let p = f.program();
        assert_eq!(run(&p, false, 1, 3, R | W), 1, "/dev/null");
        assert_eq!(run(&p, false, 136, 7, R | W), 1, "pts");
        assert_eq!(run(&p, false, 10, 200, R), 1, "tun");
        assert_eq!(run(&p, false, 1, 11, R), 0, "kmsg");
        assert_eq!(run(&p, false, 1, 11, M), 1, "mknod of any char device");
        assert_eq!(run(&p, true, 8, 0, R), 0, "sda");
        assert_eq!(run(&p, true, 8, 0, M), 1, "mknod of any block device");
        assert_eq!(run(&p, true, 1, 3, R), 0, "block 1:3 is not /dev/null");
    }

    #[test]
    fn access_subsets_and_removal() {
        let mut rules = docker_defaults();
        rules.push(rule(true, C, (1, 11), "r"));
        let p = Filter::from_rules(&rules).unwrap().program();
        assert_eq!(run(&p, false, 1, 11, R), 1);
        assert_eq!(run(&p, false, 1, 11, R | W), 0, "write not granted");
        // A later allow of the same device merges; a deny takes bits away.
        rules.push(rule(true, C, (1, 11), "w"));
        let p = Filter::from_rules(&rules).unwrap().program();
        assert_eq!(run(&p, false, 1, 11, R | W), 1);
        rules.push(rule(false, C, (1, 11), "rw"));
        let p = Filter::from_rules(&rules).unwrap().program();
        assert_eq!(run(&p, false, 1, 11, R), 0);
        assert_eq!(run(&p, false, 1, 11, M), 1, "still covered by c *:* m");
    }

    #[test]
    fn allow_all_and_deny_lists() {
        let p = Filter::from_rules(&[rule(true, None, (-1, -1), "rwm")])
            .unwrap()
            .program();
        assert_eq!(p.len(), PROLOGUE.len() + 2);
        assert_eq!(run(&p, true, 8, 0, R | W), 1);
        // Allow all but writes to 1:11 (a deny list, v1's blacklist mode).
        let rules = [
            rule(true, None, (-1, -1), "rwm"),
            rule(false, C, (1, 11), "w"),
        ];
        let p = Filter::from_rules(&rules).unwrap().program();
        assert_eq!(run(&p, false, 1, 11, R), 1);
        assert_eq!(run(&p, false, 1, 11, R | W), 0);
        assert_eq!(run(&p, false, 1, 12, W), 1);
        assert!(Filter::from_rules(&[rule(true, C, (1, 3), "rx")]).is_err());
        assert!(
            Filter::from_rules(&[rule(true, Some(LinuxDeviceType::P), (-1, -1), "r")]).is_err()
        );
    }

    #[test]
    fn verifier_log_reaches_the_error() {
        // No exit: the verifier refuses, and says why.
        let (err, log) = load(&PROLOGUE).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
        assert!(!log.is_empty());
    }

    /// A cgroup of its own in the host's cgroup2 tree (/sys/fs/cgroup on v2,
    /// /sys/fs/cgroup/unified on hybrid), removed on drop.
    struct TestCgroup(PathBuf);
    impl TestCgroup {
        fn new(tag: &str) -> TestCgroup {
            let root = crate::mounts()
                .unified
                .clone()
                .expect("a cgroup2 hierarchy (unified or hybrid host)");
            let dir = root.join("berth-test").join(format!(
                "{tag}-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TestCgroup(dir)
        }
    }
    impl Drop for TestCgroup {
        fn drop(&mut self) {
            let _ = crate::ops::remove_tree(&self.0);
        }
    }

    /// What a child that moved itself into `cg` gets from `op`: 0 or errno.
    /// Only raw syscalls between fork and _exit (the test harness is
    /// multithreaded); paths are prepared before the fork.
    fn in_cgroup(cg: &Path, op: Op, path: &Path) -> i32 {
        let procs = CString::new(cg.join("cgroup.procs").as_os_str().as_bytes()).unwrap();
        let path = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: fork in a test; the child calls only async-signal-safe
        // functions (open, write, mknod, close, _exit) on prepared data.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            unsafe {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    libc::_exit(255);
                }
                libc::close(fd);
                let r = match op {
                    Op::Open(flags) => libc::open(path.as_ptr(), flags),
                    Op::Mknod(dev) => libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o600, dev),
                };
                let code = if r >= 0 { 0 } else { *libc::__errno_location() };
                libc::_exit(code);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let w = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(w, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        let code = libc::WEXITSTATUS(status);
        assert_ne!(code, 255, "child could not join {}", cg.display());
        code
    }

    #[derive(Clone, Copy)]
    enum Op {
        Open(i32),
        Mknod(libc::dev_t),
    }

    /// A temporary directory with a kmsg-numbered (1:11) and a null (1:3)
    /// node, made outside any filtered cgroup.
    struct Nodes(PathBuf);
    impl Nodes {
        fn new() -> Nodes {
            let dir = std::env::temp_dir().join(format!(
                "berth-devbpf-{}-{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir(&dir).unwrap();
            for (name, ma, mi) in [("kmsg", 1, 11), ("null", 1, 3)] {
                let p = CString::new(dir.join(name).as_os_str().as_bytes()).unwrap();
                // SAFETY: plain syscall on a valid path.
                let r = unsafe {
                    libc::mknod(p.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(ma, mi))
                };
                assert_eq!(r, 0, "mknod {name}: {}", io::Error::last_os_error());
            }
            Nodes(dir)
        }
        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }
    impl Drop for Nodes {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn kernel_enforces_default_rules() {
        let cg = TestCgroup::new("devbpf-default");
        let nodes = Nodes::new();
        let (kmsg, null) = (nodes.path("kmsg"), nodes.path("null"));
        // Without a program everything opens.
        assert_eq!(in_cgroup(&cg.0, Op::Open(libc::O_RDONLY), &kmsg), 0);
        // Through the v2 driver, as Cgroup::create does on a pure v2 host.
        let res = oci_spec::runtime::LinuxResourcesBuilder::default()
            .devices(docker_defaults())
            .build()
            .unwrap();
        crate::v2::apply(&cg.0, &res).unwrap();
        assert_eq!(in_cgroup(&cg.0, Op::Open(libc::O_RDWR), &null), 0);
        assert_eq!(
            in_cgroup(&cg.0, Op::Open(libc::O_RDWR), Path::new("/dev/null")),
            0
        );
        assert_eq!(
            in_cgroup(&cg.0, Op::Open(libc::O_RDONLY), &kmsg),
            libc::EPERM
        );
        assert_eq!(
            in_cgroup(&cg.0, Op::Open(libc::O_RDONLY), Path::new("/dev/kmsg")),
            libc::EPERM
        );
        // mknod of any char device stays allowed (c *:* m); opening it does not.
        let made = nodes.path("made");
        assert_eq!(in_cgroup(&cg.0, Op::Mknod(libc::makedev(1, 11)), &made), 0);
        assert_eq!(
            in_cgroup(&cg.0, Op::Open(libc::O_RDONLY), &made),
            libc::EPERM
        );
        // A process outside the cgroup is not affected.
        assert!(std::fs::File::open(&kmsg).is_ok());
    }

    #[test]
    fn kernel_enforces_extra_and_allow_all_rules_and_replaces_programs() {
        let cg = TestCgroup::new("devbpf-extra");
        let nodes = Nodes::new();
        let kmsg = nodes.path("kmsg");
        let cgroup_fd = OwnedFd::from(std::fs::File::open(&cg.0).unwrap());
        // --device /dev/kmsg:/dev/kmsg:r
        let mut rules = docker_defaults();
        rules.push(rule(true, C, (1, 11), "r"));
        apply(&cg.0, &rules).unwrap();
        assert_eq!(attached(&cgroup_fd).unwrap().len(), 1);
        assert_eq!(in_cgroup(&cg.0, Op::Open(libc::O_RDONLY), &kmsg), 0);
        assert_eq!(in_cgroup(&cg.0, Op::Open(libc::O_RDWR), &kmsg), libc::EPERM);
        // An update back to the defaults replaces the program.
        apply(&cg.0, &docker_defaults()).unwrap();
        assert_eq!(attached(&cgroup_fd).unwrap().len(), 1);
        assert_eq!(
            in_cgroup(&cg.0, Op::Open(libc::O_RDONLY), &kmsg),
            libc::EPERM
        );
        // --privileged: allow everything.
        apply(&cg.0, &[rule(true, None, (-1, -1), "rwm")]).unwrap();
        assert_eq!(attached(&cgroup_fd).unwrap().len(), 1);
        assert_eq!(in_cgroup(&cg.0, Op::Open(libc::O_RDWR), &kmsg), 0);
    }
}
