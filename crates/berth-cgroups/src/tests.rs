//! Real cgroup tests (we run as root on the build host).
use super::*;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResourcesBuilder,
};
use std::process::{Child, Command};

fn unique(tag: &str) -> String {
    format!(
        "berth-test/{tag}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

fn sleeper() -> Child {
    Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep")
}

/// Cleans up after a failed assertion so test runs do not leak cgroups.
/// Owns the child so its pid is never signalled after being reaped.
struct Guard<'a>(&'a Cgroup, Child);
impl Drop for Guard<'_> {
    fn drop(&mut self) {
        let _ = self.1.kill();
        let _ = self.1.wait();
        let _ = self.0.thaw();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let _ = self.0.destroy();
    }
}

fn read_file(cg: &Cgroup, controller: &str, file: &str) -> String {
    let dir = cg.controller_dir(controller).expect("controller dir");
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

fn limits() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 * 1024 * 1024)
                .swap(128 * 1024 * 1024)
                .reservation(32 * 1024 * 1024)
                .build()
                .unwrap(),
        )
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(150000)
                .period(100000u64)
                .cpus("0")
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(50).build().unwrap())
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(1)
                .minor(3)
                .access("rwm")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap()
}

#[test]
fn normalizes_paths() {
    assert_eq!(normalize("/berth/abc").unwrap(), PathBuf::from("berth/abc"));
    assert!(normalize("berth/../../etc").is_err());
    assert!(normalize("/").is_err());
}

#[test]
fn detects_mode_from_mountinfo() {
    let mode = detect();
    let v2_root = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(mode == Mode::V2, v2_root);
}

#[test]
fn lifecycle_with_limits() {
    let rel = unique("life");
    let cg = Cgroup::create(&rel, &limits()).expect("create");
    match cg.mode() {
        Mode::V2 => {
            assert_eq!(read_file(&cg, "memory", "memory.max"), "67108864");
            assert_eq!(read_file(&cg, "memory", "memory.swap.max"), "67108864");
            assert_eq!(read_file(&cg, "cpu", "cpu.max"), "150000 100000");
            assert_eq!(read_file(&cg, "cpu", "cpu.weight"), "20");
        }
        _ => {
            assert_eq!(
                read_file(&cg, "memory", "memory.limit_in_bytes"),
                "67108864"
            );
            assert_eq!(
                read_file(&cg, "memory", "memory.soft_limit_in_bytes"),
                "33554432"
            );
            if cg
                .controller_dir("memory")
                .unwrap()
                .join("memory.memsw.limit_in_bytes")
                .exists()
            {
                assert_eq!(
                    read_file(&cg, "memory", "memory.memsw.limit_in_bytes"),
                    "134217728"
                );
            }
            assert_eq!(read_file(&cg, "cpu", "cpu.shares"), "512");
            assert_eq!(read_file(&cg, "cpu", "cpu.cfs_quota_us"), "150000");
            assert_eq!(read_file(&cg, "cpu", "cpu.cfs_period_us"), "100000");
            assert_eq!(read_file(&cg, "devices", "devices.list"), "c 1:3 rwm");
            // The intermediate directory got cpuset values too.
            let parent = cg.controller_dir("cpuset").unwrap().parent().unwrap();
            assert!(!std::fs::read_to_string(parent.join("cpuset.mems"))
                .unwrap()
                .trim()
                .is_empty());
        }
    }
    assert_eq!(read_file(&cg, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(read_file(&cg, "pids", "pids.max"), "50");

    let mut guard = Guard(&cg, sleeper());
    let pid = guard.1.id() as i32;
    cg.add_task(pid).expect("add_task");
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    assert!(!cg.is_frozen().unwrap());
    cg.freeze().expect("freeze");
    assert!(cg.is_frozen().unwrap());
    cg.thaw().expect("thaw");
    assert!(!cg.is_frozen().unwrap());

    let st = cg.stats().expect("stats");
    assert_eq!(st.pids.current, 1);
    assert_eq!(st.pids.limit, Some(50));
    assert_eq!(st.memory.limit, 64 * 1024 * 1024);
    // Usage can be 0: v1 does not move a task's existing charges on migration.
    assert!(!st.memory.stats.is_empty());
    assert!(st.cpu.total_usage < 3600 * 1_000_000_000);
    assert_eq!(cg.oom_kill_count().unwrap(), 0);

    let mounts = cg.container_mounts();
    assert!(!mounts.is_empty());
    if cg.mode() != Mode::V2 {
        let names: Vec<&str> = mounts.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.iter().any(|n| n.split(',').any(|c| c == "memory")));
        assert!(mounts.iter().all(|(_, d)| d.ends_with(&rel)));
    }

    // Reopen as a restarted daemon would.
    let again = Cgroup::open(&rel).expect("open");
    assert_eq!(again.pids().unwrap(), vec![pid]);

    cg.kill_all(libc::SIGKILL).expect("kill_all");
    let status = guard.1.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    cg.destroy().expect("destroy");
    for (_, dir) in mounts {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
    // Destroying twice is fine.
    cg.destroy().expect("second destroy");
    assert!(matches!(Cgroup::open(&rel), Err(CgroupError::NotFound(_))));
}

#[test]
fn update_raises_and_lowers_memory_with_swap() {
    let rel = unique("upd");
    let cg = Cgroup::create(&rel, &limits()).expect("create");
    let mem = |limit: i64, swap: i64| {
        LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(limit)
                    .swap(swap)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    const M: i64 = 1024 * 1024;
    // Raising both: swap must be written first or the kernel refuses.
    cg.update(&mem(512 * M, 1024 * M)).expect("raise");
    // Lowering both: memory first.
    cg.update(&mem(16 * M, 32 * M)).expect("lower");
    if cg.mode() != Mode::V2 {
        assert_eq!(
            read_file(&cg, "memory", "memory.limit_in_bytes"),
            (16 * M).to_string()
        );
        if cg
            .controller_dir("memory")
            .unwrap()
            .join("memory.memsw.limit_in_bytes")
            .exists()
        {
            assert_eq!(
                read_file(&cg, "memory", "memory.memsw.limit_in_bytes"),
                (32 * M).to_string()
            );
        }
    }
    // Unlimited again.
    cg.update(&mem(-1, -1)).expect("unlimit");
    let pids = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(0).build().unwrap())
        .build()
        .unwrap();
    cg.update(&pids).expect("pids unlimited");
    assert_eq!(read_file(&cg, "pids", "pids.max"), "max");
    cg.destroy().unwrap();
}

#[test]
fn bad_limits_fail_and_clean_up() {
    let rel = unique("bad");
    let res = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().cpus("9999").build().unwrap())
        .build()
        .unwrap();
    let err = Cgroup::create(&rel, &res).unwrap_err();
    assert!(err.to_string().contains("cpuset.cpus"), "{err}");
    assert!(matches!(Cgroup::open(&rel), Err(CgroupError::NotFound(_))));
}

/// The cgroup lines of /proc/<pid>/cgroup that name `rel`.
fn cgroup_lines_naming(pid: i32, rel: &str) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter(|l| l.ends_with(&format!("/{rel}")))
        .count()
}

#[test]
fn procs_writer_moves_processes_with_the_files_opened_once() {
    let rel = unique("procs");
    let cg = Cgroup::create(&rel, &LinuxResources::default()).expect("create");
    let writer = cg.procs_writer().expect("procs_writer");
    let mut first = Guard(&cg, sleeper());
    let a = first.1.id() as i32;
    assert_eq!(cgroup_lines_naming(a, &rel), 0);
    writer.add(a).expect("add first");
    // Every hierarchy: each v1 one, plus the unified one (v2, or hybrid
    // where this cgroup got its unified directory).
    let want = cg.container_mounts().len()
        + usize::from(cg.mode() == Mode::Hybrid && cg.unified.is_some());
    assert_eq!(cgroup_lines_naming(a, &rel), want);
    // The same files serve the next process.
    let mut second = sleeper();
    let b = second.id() as i32;
    writer.add(b).expect("add second");
    let mut pids = cg.pids().unwrap();
    pids.sort();
    assert_eq!(pids, {
        let mut v = vec![a, b];
        v.sort();
        v
    });
    assert_eq!(cgroup_lines_naming(b, &rel), want);
    let _ = second.kill();
    let _ = second.wait();
    // A pid that does not exist is an error naming the file.
    let err = writer.add(i32::MAX).unwrap_err();
    assert!(err.to_string().contains("cgroup.procs"), "{err}");
    let _ = first.1.kill();
    let _ = first.1.wait();
}
