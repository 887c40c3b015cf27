//! Finds cgroup hierarchies from /proc/self/mountinfo instead of assuming
//! /sys/fs/cgroup layouts (distros co-mount "cpu,cpuacct", containers remount, ...).
use std::path::PathBuf;

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Hierarchy {
    /// Controllers attached to it ("cpu", "cpuacct", or "name=systemd").
    pub controllers: Vec<String>,
    pub mount_point: PathBuf,
}

impl V1Hierarchy {
    /// Name the hierarchy has under /sys/fs/cgroup: the mount dir's basename,
    /// e.g. "cpu,cpuacct" or "systemd".
    pub fn dir_name(&self) -> String {
        self.mount_point
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.controllers.join(","))
    }

    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Mounts {
    pub v1: Vec<V1Hierarchy>,
    pub unified: Option<PathBuf>,
}

/// Mountinfo escapes spaces etc. as \040 octal sequences.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).ok();
            if let Some(v) = oct.and_then(|o| u8::from_str_radix(o, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Known v1 controller option names; anything else in the super options
/// (rw, nsdelegate, ...) is a mount flag.
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
];

pub(crate) fn parse(text: &str) -> Mounts {
    let mut m = Mounts::default();
    for line in text.lines() {
        // fields: id parent major:minor root mountpoint opts [optional...] - fstype source superopts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let lf: Vec<&str> = left.split(' ').collect();
        let rf: Vec<&str> = right.split(' ').collect();
        if lf.len() < 5 || rf.len() < 3 {
            continue;
        }
        let mount_point = PathBuf::from(unescape(lf[4]));
        match rf[0] {
            "cgroup2" if m.unified.is_none() => m.unified = Some(mount_point),
            "cgroup" => {
                let controllers: Vec<String> = rf[2]
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect();
                if controllers.is_empty() {
                    continue;
                }
                // The same hierarchy may be mounted twice (bind mounts); keep the first.
                if m.v1.iter().any(|h| h.controllers == controllers) {
                    continue;
                }
                m.v1.push(V1Hierarchy {
                    controllers,
                    mount_point,
                });
            }
            _ => {}
        }
    }
    m
}

pub(crate) fn load() -> Mounts {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse(&t))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:1 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
99 50 0:31 / /mnt/my\\040dir rw,relatime - cgroup cgroup rw,cpuset
";

    #[test]
    fn parses_hybrid() {
        let m = parse(HYBRID);
        assert_eq!(m.unified, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(m.v1.len(), 3);
        assert_eq!(m.v1[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m.v1[0].dir_name(), "cpu,cpuacct");
        assert!(m.v1[0].has("cpuacct"));
        assert_eq!(m.v1[2].controllers, vec!["name=systemd"]);
        assert_eq!(m.v1[2].dir_name(), "systemd");
    }

    #[test]
    fn parses_pure_v2() {
        let m = parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert!(m.v1.is_empty());
        assert_eq!(m.unified, Some(PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/mnt/my\\040dir"), "/mnt/my dir");
        assert_eq!(unescape("plain"), "plain");
    }
}
