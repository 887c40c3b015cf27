//! Real tests: compile Docker's default profile, install it in a forked child
//! and check what the kernel then allows.
use super::*;

fn docker_default_caps() -> Vec<String> {
    [
        "CHOWN",
        "DAC_OVERRIDE",
        "FSETID",
        "FOWNER",
        "MKNOD",
        "NET_RAW",
        "SETGID",
        "SETUID",
        "SETFCAP",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "SYS_CHROOT",
        "KILL",
        "AUDIT_WRITE",
    ]
    .iter()
    .map(|c| format!("CAP_{c}"))
    .collect()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// -1 with errno `e`?
fn fails_with(rc: libc::c_long, e: i32) -> bool {
    rc == -1 && errno() == e
}

/// Forks; the child runs `checks` after installing `prog` and exits with its
/// result (0 = all good, else the number of the failed check). The child only
/// makes raw system calls: the test process is multi-threaded, so allocating
/// after fork could deadlock.
fn in_child(prog: &Program, checks: fn() -> i32) -> i32 {
    // SAFETY: the child only calls async-signal-safe functions and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: plain prctl/_exit calls.
        unsafe {
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                libc::_exit(100);
            }
            if install(prog).is_err() {
                libc::_exit(101);
            }
            libc::_exit(checks());
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    libc::WEXITSTATUS(status)
}

/// "Seccomp:\t2" in /proc/self/status, read without allocating.
fn seccomp_mode_is_filter() -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: valid C string, buffer length passed correctly.
    let n = unsafe {
        let fd = libc::open(c"/proc/self/status".as_ptr(), libc::O_RDONLY);
        if fd < 0 {
            return false;
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    n > 0 && buf[..n as usize].windows(10).any(|w| w == b"Seccomp:\t2")
}

fn default_profile_checks() -> i32 {
    // SAFETY: raw syscalls with valid (or deliberately null) arguments.
    unsafe {
        if !seccomp_mode_is_filter() {
            return 1;
        }
        if libc::getpid() <= 0 {
            return 2;
        }
        // Denied without CAP_SYS_ADMIN: the default action, EPERM.
        if !fails_with(libc::unshare(libc::CLONE_NEWNS) as _, libc::EPERM) {
            return 3;
        }
        let rc = libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        );
        if !fails_with(rc as _, libc::EPERM) {
            return 4;
        }
        // clone with a namespace flag hits the MASKED_EQ rule's default.
        let rc = libc::syscall(
            libc::SYS_clone,
            libc::CLONE_NEWUTS | libc::SIGCHLD,
            0,
            0,
            0,
            0,
        );
        if rc == 0 {
            libc::_exit(0);
        }
        if !fails_with(rc, libc::EPERM) {
            return 5;
        }
        // clone3 gets ENOSYS so libcs fall back to clone.
        if !fails_with(libc::syscall(libc::SYS_clone3, 0, 0), libc::ENOSYS) {
            return 6;
        }
        // socket: AF_VSOCK (40) is outside the allowed families, AF_UNIX inside.
        if !fails_with(libc::socket(40, libc::SOCK_STREAM, 0) as _, libc::EPERM) {
            return 7;
        }
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
        if fd < 0 {
            return 8;
        }
        libc::close(fd);
        // personality: querying (0xffffffff) allowed, other personas not.
        // Numbers beyond every syscall the profile knows: ENOSYS (runc's stub).
        if !fails_with(libc::syscall(1000), libc::ENOSYS) {
            return 11;
        }
        if libc::personality(0xffff_ffff) == -1 {
            return 9;
        }
        if !fails_with(libc::personality(0x0040000) as _, libc::EPERM) {
            return 10;
        }
        0
    }
}

#[test]
fn default_profile_blocks_admin_syscalls() {
    let oci = default_profile(&docker_default_caps()).expect("translate");
    let prog = compile(&oci).expect("compile");
    assert!(prog.len() > 100);
    assert_eq!(in_child(&prog, default_profile_checks), 0);
}

fn sys_admin_checks() -> i32 {
    // SAFETY: raw syscalls.
    unsafe {
        if !seccomp_mode_is_filter() {
            return 1;
        }
        // With CAP_SYS_ADMIN in the set the profile allows unshare (we are root).
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            return 2;
        }
        0
    }
}

#[test]
fn sys_admin_profile_allows_unshare() {
    let mut caps = docker_default_caps();
    caps.push("CAP_SYS_ADMIN".into());
    let prog = compile(&default_profile(&caps).unwrap()).unwrap();
    assert_eq!(in_child(&prog, sys_admin_checks), 0);
}

const CUSTOM: &str = r#"{
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [
        {"names": ["getppid", "no_such_syscall_anywhere"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99},
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["dup"], "action": "SCMP_ACT_ERRNO", "errnoRet": 55,
         "args": [{"index": 0, "value": 1000, "op": "SCMP_CMP_GT"}]},
        {"names": ["dup3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 44,
         "args": [{"index": 0, "value": 5000, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 6000, "op": "SCMP_CMP_EQ"}]},
        {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
         "args": [{"index": 0, "value": 448, "valueTwo": 448, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}
    ]
}"#;

fn custom_checks() -> i32 {
    // SAFETY: raw syscalls on invalid fds / our own pid.
    unsafe {
        if !fails_with(libc::syscall(libc::SYS_getppid), 99) {
            return 1;
        }
        let me = libc::getpid();
        if !fails_with(libc::kill(me, 0) as _, 77) {
            return 2;
        }
        if libc::kill(me, libc::SIGCONT) != 0 {
            return 3;
        }
        if !fails_with(libc::dup(2000) as _, 55) || !fails_with(libc::dup(1000) as _, libc::EBADF) {
            return 4;
        }
        let dup3 = |fd: libc::c_long| libc::syscall(libc::SYS_dup3, fd, 7001, 0);
        if !fails_with(dup3(5000), 44) || !fails_with(dup3(6000), 44) {
            return 5;
        }
        if !fails_with(dup3(7000), libc::EBADF) {
            return 6;
        }
        if !fails_with(libc::syscall(libc::SYS_umask, 0o777), 33) {
            return 7;
        }
        if libc::syscall(libc::SYS_umask, 0o022) < 0 {
            return 8;
        }
        0
    }
}

#[test]
fn custom_rules_and_argument_conditions() {
    let oci = docker_profile_to_oci(CUSTOM.as_bytes(), &[]).unwrap();
    let prog = compile(&oci).unwrap();
    assert_eq!(in_child(&prog, custom_checks), 0);
}

#[test]
fn program_bytes_round_trip() {
    let prog = compile(&default_profile(&docker_default_caps()).unwrap()).unwrap();
    let again = Program::from_bytes(prog.as_bytes()).unwrap();
    assert_eq!(prog, again);
    assert!(Program::from_bytes(&[]).is_err());
    assert!(Program::from_bytes(&[0; 12]).is_err());
    assert!(Program::from_bytes(&vec![0; 8 * 4097]).is_err());
}

#[test]
fn caps_change_the_compiled_filter() {
    let plain = compile(&default_profile(&docker_default_caps()).unwrap()).unwrap();
    let mut caps = docker_default_caps();
    caps.push("CAP_SYS_ADMIN".into());
    let admin = compile(&default_profile(&caps).unwrap()).unwrap();
    assert_ne!(plain, admin);
}

#[test]
fn notify_is_rejected() {
    let p = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_NOTIFY"}]}"#;
    let oci = docker_profile_to_oci(p.as_bytes(), &[]).unwrap();
    assert!(matches!(compile(&oci), Err(SeccompError::Profile(_))));
}
