//! The container's filesystem view, built inside its new mount namespace:
//! root mount, spec mounts, /dev, pivot_root, sysctls, read-only and masked
//! paths, read-only root.

use std::fs;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::unistd::{chdir, pivot_root};
use oci_spec::runtime::Spec;

use crate::devices::{self, DeviceNode};
use crate::error::{Context, Result, RuntimeError};
use crate::inroot::InRoot;
use crate::mount_opts::{self, MountOptions};
use crate::paths::secure_join;
use crate::RootfsMount;

/// One entry of spec.mounts, parsed.
#[derive(Debug, Clone)]
pub(crate) struct MountPlan {
    pub dest: PathBuf,
    pub typ: String,
    pub source: Option<PathBuf>,
    pub opts: MountOptions,
}

/// All the filesystem work for a new container, prepared before fork.
#[derive(Debug, Clone)]
pub(crate) struct RootfsPlan {
    pub root: PathBuf,
    pub rootfs_mount: Option<RootfsMount>,
    pub readonly: bool,
    pub propagation: MsFlags,
    pub mounts: Vec<MountPlan>,
    pub setup_dev: bool,
    pub devices: Vec<DeviceNode>,
    pub cgroup_mounts: Vec<(String, PathBuf)>,
    pub sysctl: Vec<(PathBuf, String)>,
    pub masked: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub cwd: PathBuf,
    /// In a new user namespace: see [`RootfsPlan::for_user_namespace`].
    pub userns: Option<UsernsRootfs>,
}

/// What changes when the container has its own user namespace.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsernsRootfs {
    /// The root filesystem, already mounted (detached) by the parent.
    pub detached_root: Option<RawFd>,
    /// sysfs can only be mounted from a user namespace that owns the network
    /// namespace; with a joined (daemon-made) one the host's /sys is bound
    /// read-only instead, as runc does.
    pub bind_sys: bool,
}

impl RootfsPlan {
    pub fn new(
        spec: &Spec,
        rootfs_mount: Option<&RootfsMount>,
        cgroup_mounts: Vec<(String, PathBuf)>,
    ) -> Result<RootfsPlan> {
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| RuntimeError::InvalidSpec("root is missing".into()))?;
        let root_path = std::path::absolute(root.path())
            .ctx(|| format!("resolve root path {}", root.path().display()))?;
        let linux = spec.linux().as_ref();
        crate::sysctl::check_spec(spec).map_err(RuntimeError::InvalidSpec)?;
        let propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
            None | Some("") => MsFlags::MS_SLAVE | MsFlags::MS_REC,
            Some(p) => mount_opts::propagation_for(p)
                .ok_or_else(|| RuntimeError::InvalidSpec(format!("rootfsPropagation {p:?}")))?,
        };
        let mounts: Vec<MountPlan> = spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| {
                let typ = m.typ().clone().unwrap_or_else(|| "none".into());
                let mut opts = mount_opts::parse(m.options().as_deref().unwrap_or(&[]));
                if typ == "bind" {
                    opts.flags |= MsFlags::MS_BIND;
                }
                MountPlan {
                    dest: m.destination().clone(),
                    typ,
                    source: m.source().clone(),
                    opts,
                }
            })
            .collect();
        // A bind-mounted /dev comes complete from the host (runc's rule).
        let setup_dev = !mounts
            .iter()
            .any(|m| m.dest == Path::new("/dev") && m.opts.is_bind());
        let paths = |v: Option<&Vec<String>>| v.into_iter().flatten().map(PathBuf::from).collect();
        Ok(RootfsPlan {
            root: root_path,
            rootfs_mount: rootfs_mount.cloned(),
            readonly: root.readonly().unwrap_or(false),
            propagation,
            mounts,
            setup_dev,
            devices: devices::plan(linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[])),
            cgroup_mounts,
            sysctl: linux
                .and_then(|l| l.sysctl().as_ref())
                .into_iter()
                .flatten()
                .map(|(k, v)| (sysctl_path(k), v.clone()))
                .collect(),
            masked: paths(linux.and_then(|l| l.masked_paths().as_ref())),
            readonly_paths: paths(linux.and_then(|l| l.readonly_paths().as_ref())),
            cwd: spec
                .process()
                .as_ref()
                .map(|p| p.cwd().clone())
                .unwrap_or_else(|| PathBuf::from("/")),
            userns: None,
        })
    }

    /// Switches the plan to a container with a new user namespace.
    pub fn for_user_namespace(&mut self, detached_root: Option<RawFd>, new_net: bool) {
        self.userns = Some(UsernsRootfs {
            detached_root,
            bind_sys: !new_net,
        });
    }

    /// Child side, first half: every mount, /dev, then pivot_root into the
    /// new root. `console` is the pty slave to show as /dev/console. A
    /// terminal opened from the container's own /dev/ptmx is set up between
    /// this and [`RootfsPlan::finish`], before anything turns read-only.
    pub fn enter(&self, console: Option<RawFd>) -> Result<()> {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            self.propagation,
            None::<&str>,
        )
        .ctx(|| "set propagation of /")?;
        self.mount_root()?;
        for m in &self.mounts {
            self.mount_one(m)?;
        }
        if self.setup_dev {
            let dev = self.root.join("dev");
            devices::create_nodes(&self.root, &self.devices)?;
            devices::create_symlinks(&dev)?;
            if let Some(fd) = console {
                devices::bind_console(&dev, fd)?;
            }
        }
        enter_root(&self.root)?;
        Ok(())
    }

    /// Binds the terminal on fd `slave` over /dev/console, after
    /// [`RootfsPlan::enter`], when this runtime built /dev.
    pub fn bind_console(&self, slave: RawFd) -> Result<()> {
        if self.setup_dev {
            devices::bind_console(Path::new("/dev"), slave)?;
        }
        Ok(())
    }

    /// Child side, second half (inside the new root): sysctls, read-only and
    /// masked paths, the working directory, a read-only root.
    pub fn finish(&self) -> Result<()> {
        for (path, value) in &self.sysctl {
            fs::write(path, value).ctx(|| format!("write sysctl {}", path.display()))?;
        }
        for p in &self.readonly_paths {
            readonly_path(p)?;
        }
        for p in &self.masked {
            mask_path(p)?;
        }
        // Docker creates a missing working directory (`-w /tmp/new/dir`);
        // never through a magic link such as /proc/self/fd/<n>, which could
        // name a directory of the host (CVE-2024-21626).
        if !self.cwd.exists() {
            InRoot::dir(Path::new("/"), &self.cwd)
                .ctx(|| format!("mkdir cwd {}", self.cwd.display()))?;
        }
        if self.readonly {
            let keep = preserved_flags(Path::new("/"));
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
                None::<&str>,
            )
            .ctx(|| "remount / read-only")?;
        }
        Ok(())
    }

    fn mount_root(&self) -> Result<()> {
        let root = &self.root;
        if let Some(fd) = self.userns.and_then(|u| u.detached_root) {
            return crate::detached::attach(fd, root);
        }
        match &self.rootfs_mount {
            Some(rm) if rm.fstype == "bind" => bind(Path::new(&rm.source), root, true),
            Some(rm) => {
                // Relative layer paths keep 100+ layer option strings under
                // the page-size limit; they resolve against `chdir`.
                if let Some(dir) = &rm.chdir {
                    chdir(dir).ctx(|| format!("chdir {}", dir.display()))?;
                }
                let data = (!rm.data.is_empty()).then_some(rm.data.as_str());
                let r = mount(
                    Some(rm.source.as_str()),
                    root,
                    Some(rm.fstype.as_str()),
                    MsFlags::empty(),
                    data,
                )
                .ctx(|| format!("mount {} rootfs at {}", rm.fstype, root.display()));
                if rm.chdir.is_some() {
                    chdir("/").ctx(|| "chdir /")?;
                }
                r
            }
            // pivot_root needs the root to be a mount point.
            None => bind(root, root, true),
        }
    }

    fn mount_one(&self, m: &MountPlan) -> Result<()> {
        let dest = secure_join(&self.root, &m.dest)
            .ctx(|| format!("resolve mount point {}", m.dest.display()))?;
        if m.typ == "cgroup" {
            return self.mount_cgroup(&dest, &m.opts);
        }
        if m.typ == "sysfs" && self.userns.is_some_and(|u| u.bind_sys) {
            fs::create_dir_all(&dest).ctx(|| format!("mkdir {}", dest.display()))?;
            bind(Path::new("/sys"), &dest, true)?;
            let flags = m.opts.remount_flags() | MsFlags::MS_RDONLY | preserved_flags(&dest);
            return remount_bind(&dest, flags);
        }
        // The mount point is created and held by fd inside the root (see
        // inroot.rs); `dest` is then re-resolved the same way to reach the
        // new mount for remounts and propagation.
        if m.opts.is_bind() {
            let src = m.source.as_deref().ok_or_else(|| {
                RuntimeError::InvalidSpec(format!("bind mount {} has no source", m.dest.display()))
            })?;
            let meta = fs::metadata(src).ctx(|| format!("bind source {}", src.display()))?;
            let point = if meta.is_dir() {
                InRoot::dir(&self.root, &m.dest).ctx(|| format!("mkdir {}", dest.display()))?
            } else {
                InRoot::file(&self.root, &m.dest)
                    .ctx(|| format!("create mount point {}", dest.display()))?
            };
            bind(
                src,
                &point.proc_path(),
                m.opts.flags.contains(MsFlags::MS_REC),
            )?;
            let mounted = InRoot::open(&self.root, &m.dest)
                .ctx(|| format!("open mount {}", m.dest.display()))?;
            let dest = mounted.proc_path();
            let mut extra = m.opts.remount_flags();
            if !extra.is_empty() && self.userns.is_some() {
                // Flags of mounts from a more privileged namespace are locked:
                // a remount must keep them or it fails with EPERM.
                extra |= preserved_flags(&dest);
            }
            if !extra.is_empty() {
                mount(
                    None::<&str>,
                    &dest,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                    None::<&str>,
                )
                .ctx(|| format!("remount {} with {extra:?}", m.dest.display()))?;
            }
            set_propagation(&dest, m)?;
        } else {
            let point =
                InRoot::dir(&self.root, &m.dest).ctx(|| format!("mkdir {}", dest.display()))?;
            let source = m.source.clone().unwrap_or_else(|| PathBuf::from(&m.typ));
            let data = (!m.opts.data.is_empty()).then_some(m.opts.data.as_str());
            mount(
                Some(&source),
                &point.proc_path(),
                Some(m.typ.as_str()),
                m.opts.flags,
                data,
            )
            .ctx(|| format!("mount {} on {}", m.typ, m.dest.display()))?;
            let mounted = InRoot::open(&self.root, &m.dest)
                .ctx(|| format!("open mount {}", m.dest.display()))?;
            set_propagation(&mounted.proc_path(), m)?;
        }
        Ok(())
    }

    /// A "cgroup" mount: a tmpfs holding, per controller, a read-only bind of
    /// this container's own cgroup directory, so the container sees its own
    /// limits at the usual paths. On cgroup v2 the one directory is bound
    /// directly.
    fn mount_cgroup(&self, dest: &Path, opts: &MountOptions) -> Result<()> {
        let base = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
        let ro = opts.flags & MsFlags::MS_RDONLY;
        fs::create_dir_all(dest).ctx(|| format!("mkdir {}", dest.display()))?;
        if let [(name, host)] = self.cgroup_mounts.as_slice() {
            if name.is_empty() {
                bind(host, dest, false)?;
                return remount_bind(dest, base | ro);
            }
        }
        mount(Some("tmpfs"), dest, Some("tmpfs"), base, Some("mode=755"))
            .ctx(|| format!("mount tmpfs on {}", dest.display()))?;
        for (name, host) in &self.cgroup_mounts {
            let sub = dest.join(name);
            fs::create_dir_all(&sub).ctx(|| format!("mkdir {}", sub.display()))?;
            bind(host, &sub, false)?;
            remount_bind(&sub, base | ro)?;
            // Co-mounted v1 controllers ("cpu,cpuacct") are also reachable
            // under each single name, as on the host.
            if name.contains(',') {
                for part in name.split(',') {
                    match std::os::unix::fs::symlink(name, dest.join(part)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => {
                            return Err(RuntimeError::io(format!("symlink cgroup {part}"), &e))
                        }
                    }
                }
            }
        }
        if !ro.is_empty() {
            mount(
                None::<&str>,
                dest,
                None::<&str>,
                MsFlags::MS_REMOUNT | base | ro,
                Some("mode=755"),
            )
            .ctx(|| format!("remount {} read-only", dest.display()))?;
        }
        Ok(())
    }
}

fn set_propagation(dest: &Path, m: &MountPlan) -> Result<()> {
    for p in &m.opts.propagation {
        mount(None::<&str>, dest, None::<&str>, *p, None::<&str>)
            .ctx(|| format!("set propagation of {}", m.dest.display()))?;
    }
    Ok(())
}

/// "net.ipv4.ip_forward" → /proc/sys/net/ipv4/ip_forward.
pub(crate) fn sysctl_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

fn bind(src: &Path, dest: &Path, recursive: bool) -> Result<()> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(src), dest, None::<&str>, flags, None::<&str>)
        .ctx(|| format!("bind {} on {}", src.display(), dest.display()))
}

fn remount_bind(dest: &Path, flags: MsFlags) -> Result<()> {
    if flags.is_empty() {
        return Ok(());
    }
    mount(
        None::<&str>,
        dest,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
        None::<&str>,
    )
    .ctx(|| format!("remount {}", dest.display()))
}

/// pivot_root(".", ".") then detaching the old root, which is stacked on the
/// same directory: no temporary directory needed in the image.
fn enter_root(root: &Path) -> Result<()> {
    chdir(root).ctx(|| format!("chdir {}", root.display()))?;
    pivot_root(".", ".").ctx(|| format!("pivot_root {}", root.display()))?;
    // The old root must not propagate its unmount back to the host.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "make old root rslave")?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root")?;
    chdir("/").ctx(|| "chdir /")
}

/// Per-mount flags a bind remount would otherwise clear.
fn preserved_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs_flag, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs_flag) {
            out |= ms;
        }
    }
    out
}

/// Makes `path` (after pivot_root) read-only; a missing path is fine.
fn readonly_path(path: &Path) -> Result<()> {
    match mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    ) {
        Ok(()) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => {
            return Err(RuntimeError::sys(
                format!("bind {} read-only", path.display()),
                e,
            ))
        }
    }
    let keep = preserved_flags(path);
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC | keep,
        None::<&str>,
    )
    .ctx(|| format!("remount {} read-only", path.display()))
}

/// Hides `path`: /dev/null over a file, an empty read-only tmpfs over a dir.
fn mask_path(path: &Path) -> Result<()> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(RuntimeError::io(
                format!("stat masked path {}", path.display()),
                &e,
            ))
        }
    };
    let r = if meta.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
    } else {
        mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    r.ctx(|| format!("mask {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_proc_sys() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            sysctl_path("kernel.msgmax"),
            PathBuf::from("/proc/sys/kernel/msgmax")
        );
    }

    #[test]
    fn plan_from_default_spec() {
        let mut spec = Spec::default();
        spec.set_root(Some(
            oci_spec::runtime::RootBuilder::default()
                .path("/tmp/rootfs")
                .readonly(true)
                .build()
                .unwrap(),
        ));
        let plan = RootfsPlan::new(&spec, None, vec![]).unwrap();
        assert_eq!(plan.root, PathBuf::from("/tmp/rootfs"));
        assert!(plan.readonly);
        assert!(plan.setup_dev);
        assert_eq!(plan.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        let dev = plan
            .mounts
            .iter()
            .find(|m| m.dest == Path::new("/dev"))
            .unwrap();
        assert_eq!(dev.typ, "tmpfs");
        assert!(dev.opts.data.contains("mode=755"));
        assert!(plan.masked.contains(&PathBuf::from("/proc/kcore")));
        assert!(plan.readonly_paths.contains(&PathBuf::from("/proc/sys")));
    }
}
