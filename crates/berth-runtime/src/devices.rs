//! The container's /dev: device nodes (mknod, or a bind of the host node when
//! mknod is refused), the standard symlinks, and /dev/console for a terminal.

use std::fs;
use std::os::fd::RawFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chown, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::error::{Context, Result};
use crate::paths::{ensure_file, secure_join};

/// One device node to create, at a path inside the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceNode {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The nodes every container gets (runc's default device list).
pub(crate) fn default_devices() -> Vec<DeviceNode> {
    [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ]
    .into_iter()
    .map(|(name, major, minor)| DeviceNode {
        path: PathBuf::from("/dev").join(name),
        kind: SFlag::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// The defaults plus the spec's devices (a spec entry replaces a default one
/// with the same path).
pub(crate) fn plan(spec_devices: &[LinuxDevice]) -> Vec<DeviceNode> {
    let mut out = default_devices();
    for d in spec_devices {
        let kind = match d.typ() {
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        let node = DeviceNode {
            path: d.path().clone(),
            kind,
            major: d.major().max(0) as u64,
            minor: d.minor().max(0) as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        out.retain(|n| n.path != node.path);
        out.push(node);
    }
    out
}

/// Creates `nodes` under `root` (before pivot_root, so host nodes can still be
/// bound when mknod is not allowed).
pub(crate) fn create_nodes(root: &Path, nodes: &[DeviceNode]) -> Result<()> {
    for n in nodes {
        let dest =
            secure_join(root, &n.path).ctx(|| format!("resolve device {}", n.path.display()))?;
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).ctx(|| format!("mkdir {}", parent.display()))?;
        }
        let dev = makedev(n.major, n.minor);
        let mode = Mode::from_bits_truncate(n.mode);
        let mut made = mknod(&dest, n.kind, mode, dev);
        if made == Err(Errno::EEXIST) {
            let _ = fs::remove_file(&dest);
            made = mknod(&dest, n.kind, mode, dev);
        }
        match made {
            Ok(()) => {
                // mknod honours the umask; the spec's mode is exact.
                fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(n.mode))
                    .ctx(|| format!("chmod {}", dest.display()))?;
                chown(
                    &dest,
                    Some(Uid::from_raw(n.uid)),
                    Some(Gid::from_raw(n.gid)),
                )
                .ctx(|| format!("chown {}", dest.display()))?;
            }
            Err(Errno::EPERM) => bind_host_node(&n.path, &dest)?,
            Err(e) => {
                return Err(crate::RuntimeError::sys(
                    format!("mknod {}", dest.display()),
                    e,
                ))
            }
        }
    }
    Ok(())
}

fn bind_host_node(host: &Path, dest: &Path) -> Result<()> {
    ensure_file(dest).ctx(|| format!("create {}", dest.display()))?;
    mount(
        Some(host),
        dest,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| format!("bind {} to {}", host.display(), dest.display()))
}

/// fd, stdin, stdout, stderr and ptmx links, as in every Docker container.
pub(crate) fn create_symlinks(dev: &Path) -> Result<()> {
    let links = [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("pts/ptmx", "ptmx"),
    ];
    for (target, name) in links {
        let link = dev.join(name);
        match symlink(target, &link) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(crate::RuntimeError::io(
                    format!("symlink {}", link.display()),
                    &e,
                ))
            }
        }
    }
    Ok(())
}

/// Binds the terminal the process got (a pty slave) over /dev/console.
pub(crate) fn bind_console(dev: &Path, slave: RawFd) -> Result<()> {
    let source = fs::read_link(format!("/proc/self/fd/{slave}")).ctx(|| "readlink console fd")?;
    let dest = dev.join("console");
    ensure_file(&dest).ctx(|| format!("create {}", dest.display()))?;
    mount(
        Some(&source),
        &dest,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| format!("bind {} to /dev/console", source.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceBuilder;

    #[test]
    fn defaults_are_the_docker_six() {
        let names: Vec<_> = default_devices()
            .iter()
            .map(|d| d.path.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["null", "zero", "full", "random", "urandom", "tty"]);
    }

    #[test]
    fn spec_device_added_and_overrides_default() {
        let fuse = LinuxDeviceBuilder::default()
            .path("/dev/fuse")
            .typ(LinuxDeviceType::C)
            .major(10i64)
            .minor(229i64)
            .file_mode(0o600u32)
            .build()
            .unwrap();
        let null = LinuxDeviceBuilder::default()
            .path("/dev/null")
            .typ(LinuxDeviceType::C)
            .major(1i64)
            .minor(3i64)
            .file_mode(0o600u32)
            .build()
            .unwrap();
        let nodes = plan(&[fuse, null]);
        assert_eq!(nodes.len(), 7);
        assert_eq!(
            nodes
                .iter()
                .filter(|n| n.path == Path::new("/dev/null"))
                .count(),
            1
        );
        let f = nodes
            .iter()
            .find(|n| n.path == Path::new("/dev/fuse"))
            .unwrap();
        assert_eq!((f.major, f.minor, f.mode), (10, 229, 0o600));
    }
}
