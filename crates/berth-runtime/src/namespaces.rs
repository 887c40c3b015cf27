//! Which namespaces a container process gets: created fresh by clone, joined
//! by path (setns in the child), or, when not listed in the spec, shared with
//! the caller (that is how `--pid host`, `--network host` ... arrive).

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::error::{Context, Result, RuntimeError};

/// Namespace work for one container process, prepared before fork.
#[derive(Debug)]
pub(crate) struct NamespacePlan {
    /// Fresh namespaces created by clone itself (never the cgroup one).
    pub clone_flags: CloneFlags,
    /// A fresh cgroup namespace is unshared by the child only after the
    /// parent has moved it into its cgroup, so that cgroup becomes its root.
    pub new_cgroup: bool,
    /// Existing namespaces the child enters with setns.
    pub join: Vec<(OwnedFd, CloneFlags)>,
    /// An existing pid namespace: entered by the *parent* for its children
    /// (setns on a pid namespace only affects processes forked afterwards).
    pub join_pid: Option<OwnedFd>,
    pub new_mount: bool,
    pub new_uts: bool,
    /// A fresh network namespace, whose loopback the child brings up.
    pub new_net: bool,
    /// A fresh user namespace (created by clone, so it owns every other new
    /// namespace); the parent writes its id maps before the go-ahead.
    pub new_user: bool,
    /// A fresh IPC namespace unshared by the child once it is root of its
    /// new user namespace (instead of by clone): the namespace's mqueue
    /// superblock is made when the namespace is, with the creator's fsuid as
    /// owner of its root, so a clone by the host's root would leave
    /// /dev/mqueue owned by an unmapped id (`nobody`) inside (runc unshares
    /// it after setuid 0 in the user namespace, too).
    pub unshare_ipc: bool,
    /// Existing namespaces the *parent* enters around the clone: with a new
    /// user namespace the child loses its capabilities over namespaces owned
    /// by the initial one (e.g. the daemon-made network namespace), so it
    /// inherits them instead (runc joins them before unsharing the user ns).
    pub join_in_parent: Vec<(OwnedFd, CloneFlags)>,
    /// An existing user namespace (joined by path) while others are fresh:
    /// they must belong to it (runc joins it, then unshares the rest), so
    /// the child is cloned from inside it, by a helper (see
    /// `spawn::clone_in`), and becomes its root first thing, as with a new
    /// one; joined namespaces it owns (a `container:` network) are entered
    /// by the child afterwards.
    pub via_user: Option<OwnedFd>,
}

impl Default for NamespacePlan {
    fn default() -> Self {
        NamespacePlan {
            clone_flags: CloneFlags::empty(),
            new_cgroup: false,
            join: Vec::new(),
            join_pid: None,
            new_mount: false,
            new_uts: false,
            new_net: false,
            new_user: false,
            unshare_ipc: false,
            join_in_parent: Vec::new(),
            via_user: None,
        }
    }
}

impl NamespacePlan {
    /// For a new container: fresh namespaces, or joined ones for entries with
    /// a path.
    pub fn for_create(linux: &Linux) -> Result<NamespacePlan> {
        let mut plan = NamespacePlan::default();
        for ns in linux.namespaces().iter().flatten() {
            let flag = flag_for(ns.typ())?;
            match ns.path() {
                Some(path) => {
                    let fd = open_ns(path)?;
                    if ns.typ() == LinuxNamespaceType::Pid {
                        plan.join_pid = Some(fd);
                    } else {
                        plan.join.push((fd, flag));
                    }
                }
                None if ns.typ() == LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                None => {
                    plan.clone_flags |= flag;
                    plan.new_mount |= ns.typ() == LinuxNamespaceType::Mount;
                    plan.new_uts |= ns.typ() == LinuxNamespaceType::Uts;
                    plan.new_net |= ns.typ() == LinuxNamespaceType::Network;
                    plan.new_user |= ns.typ() == LinuxNamespaceType::User;
                }
            }
        }
        if !plan.new_user && !plan.clone_flags.is_empty() {
            if let Some(i) = plan
                .join
                .iter()
                .position(|(_, f)| *f == CloneFlags::CLONE_NEWUSER)
            {
                plan.via_user = Some(plan.join.remove(i).0);
            }
        }
        let in_userns = plan.new_user || plan.via_user.is_some();
        if in_userns && plan.clone_flags.contains(CloneFlags::CLONE_NEWIPC) {
            plan.clone_flags.remove(CloneFlags::CLONE_NEWIPC);
            plan.unshare_ipc = true;
        }
        if plan.new_user {
            // A joined mount or cgroup namespace would move the parent's
            // root or cgroup view; those stay with the child.
            let (parent, child): (Vec<_>, Vec<_>) = plan.join.drain(..).partition(|(_, f)| {
                *f != CloneFlags::CLONE_NEWNS && *f != CloneFlags::CLONE_NEWCGROUP
            });
            plan.join_in_parent = parent;
            plan.join = child;
        } else {
            // Joining an existing user namespace first gives the child its
            // capabilities over the namespaces that user namespace owns.
            plan.join
                .sort_by_key(|(_, f)| *f != CloneFlags::CLONE_NEWUSER);
        }
        Ok(plan)
    }

    /// For `exec`: join every namespace of the container's init that differs
    /// from the caller's own, for each type the spec lists.
    pub fn for_exec(init_pid: i32, linux: &Linux) -> Result<NamespacePlan> {
        let mut plan = NamespacePlan::default();
        for ns in linux.namespaces().iter().flatten() {
            let flag = flag_for(ns.typ())?;
            let name = proc_name(ns.typ());
            let theirs = format!("/proc/{init_pid}/ns/{name}");
            let ours = format!("/proc/self/ns/{name}");
            let same = match (std::fs::read_link(&theirs), std::fs::read_link(&ours)) {
                (Ok(a), Ok(b)) => a == b,
                (Err(e), _) => {
                    return Err(RuntimeError::io(
                        format!("container process {init_pid}: readlink {theirs}"),
                        &e,
                    ))
                }
                _ => false,
            };
            if same {
                continue;
            }
            let fd = open_ns(Path::new(&theirs))?;
            if ns.typ() == LinuxNamespaceType::Pid {
                plan.join_pid = Some(fd);
            } else {
                plan.join.push((fd, flag));
            }
        }
        // Enter the mount namespace late (nsenter's order) and the user
        // namespace last: from the initial user namespace every other one
        // can be joined, but once inside the container's user namespace the
        // daemon-made network namespace (owned by the initial one) cannot.
        plan.join.sort_by_key(|(_, f)| match *f {
            CloneFlags::CLONE_NEWUSER => 2,
            CloneFlags::CLONE_NEWNS => 1,
            _ => 0,
        });
        Ok(plan)
    }

    /// Whether [`NamespacePlan::enter`] makes the process root of a user
    /// namespace (new, joined or the one fresh namespaces belong to), which
    /// a process sharing its memory with another cannot do.
    pub fn enters_user(&self) -> bool {
        self.new_user
            || self.via_user.is_some()
            || self
                .join
                .iter()
                .any(|(_, f)| *f == CloneFlags::CLONE_NEWUSER)
    }

    /// Child side, after the parent's go-ahead: setns into joined namespaces,
    /// then unshare a fresh cgroup namespace if asked.
    pub fn enter(&self) -> Result<()> {
        if self.new_user || self.via_user.is_some() {
            crate::userns::become_root()?;
        }
        if self.unshare_ipc {
            unshare(CloneFlags::CLONE_NEWIPC).ctx(|| "unshare ipc namespace")?;
        }
        for (fd, flag) in &self.join {
            setns(fd.as_fd(), *flag).ctx(|| format!("setns {flag:?}"))?;
            if *flag == CloneFlags::CLONE_NEWUSER {
                crate::userns::become_root()?;
            }
        }
        if self.new_cgroup {
            unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "unshare cgroup namespace")?;
        }
        if self.new_net {
            loopback_up()?;
        }
        Ok(())
    }
}

/// A fresh network namespace has only `lo`, and it is down; runc and Docker
/// bring it up so programs can talk to 127.0.0.1 (`--network none`).
fn loopback_up() -> Result<()> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq we own; the socket
    // is closed on every path.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(RuntimeError::io(
                "socket for loopback",
                &std::io::Error::last_os_error(),
            ));
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        let mut rc = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req);
        if rc == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            rc = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
        }
        let err = std::io::Error::last_os_error();
        libc::close(sock);
        if rc != 0 {
            return Err(RuntimeError::io("bring up loopback", &err));
        }
    }
    Ok(())
}

fn open_ns(path: &Path) -> Result<OwnedFd> {
    File::open(path)
        .map(OwnedFd::from)
        .ctx(|| format!("open namespace {}", path.display()))
}

fn flag_for(t: LinuxNamespaceType) -> Result<CloneFlags> {
    Ok(match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Time => {
            return Err(RuntimeError::InvalidSpec(format!(
                "{t} namespaces are not supported"
            )))
        }
    })
}

/// The name under /proc/<pid>/ns/.
fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// While alive, the caller itself is in other (network, ipc, uts ...)
/// namespaces, so a child cloned meanwhile inherits them; dropping it
/// switches back. The caller must be single-threaded.
pub(crate) struct ParentNsSwitch {
    originals: Vec<(OwnedFd, CloneFlags)>,
}

impl ParentNsSwitch {
    pub fn enter(targets: &[(OwnedFd, CloneFlags)]) -> Result<ParentNsSwitch> {
        let mut switch = ParentNsSwitch {
            originals: Vec::new(),
        };
        for (fd, flag) in targets {
            let name = proc_name(type_for(*flag));
            let original = open_ns(Path::new(&format!("/proc/self/ns/{name}")))?;
            setns(fd.as_fd(), *flag).ctx(|| format!("setns {flag:?} for the container"))?;
            // Pushed only once entered: Drop restores exactly what changed.
            switch.originals.push((original, *flag));
        }
        Ok(switch)
    }
}

impl Drop for ParentNsSwitch {
    fn drop(&mut self) {
        for (fd, flag) in self.originals.iter().rev() {
            // Returning to the caller's own namespaces is always permitted.
            let _ = setns(fd.as_fd(), *flag);
        }
    }
}

fn type_for(flag: CloneFlags) -> LinuxNamespaceType {
    match flag {
        CloneFlags::CLONE_NEWNS => LinuxNamespaceType::Mount,
        CloneFlags::CLONE_NEWCGROUP => LinuxNamespaceType::Cgroup,
        CloneFlags::CLONE_NEWUTS => LinuxNamespaceType::Uts,
        CloneFlags::CLONE_NEWIPC => LinuxNamespaceType::Ipc,
        CloneFlags::CLONE_NEWPID => LinuxNamespaceType::Pid,
        CloneFlags::CLONE_NEWUSER => LinuxNamespaceType::User,
        _ => LinuxNamespaceType::Network,
    }
}

/// While alive, the caller's future children are created in another pid
/// namespace; dropping it switches back.
pub(crate) struct PidNsSwitch<'a> {
    original: Original<'a>,
}

/// The caller's own pid namespace: opened for one switch, or kept open by
/// the caller across many ([`crate::ExecContext`]).
enum Original<'a> {
    Opened(OwnedFd),
    Kept(BorrowedFd<'a>),
}

/// The caller's own pid namespace for children, to come back to after a
/// [`PidNsSwitch`].
pub(crate) fn own_pid_for_children() -> Result<OwnedFd> {
    open_ns(Path::new("/proc/self/ns/pid_for_children"))
}

impl PidNsSwitch<'static> {
    pub fn enter(target: &OwnedFd) -> Result<PidNsSwitch<'static>> {
        let original = Original::Opened(own_pid_for_children()?);
        setns(target.as_fd(), CloneFlags::CLONE_NEWPID).ctx(|| "setns pid namespace")?;
        Ok(PidNsSwitch { original })
    }
}

impl<'a> PidNsSwitch<'a> {
    /// [`PidNsSwitch::enter`] returning to `original` (from
    /// [`own_pid_for_children`]) instead of opening it again.
    pub fn enter_from(target: &OwnedFd, original: &'a OwnedFd) -> Result<PidNsSwitch<'a>> {
        setns(target.as_fd(), CloneFlags::CLONE_NEWPID).ctx(|| "setns pid namespace")?;
        Ok(PidNsSwitch {
            original: Original::Kept(original.as_fd()),
        })
    }
}

impl Drop for PidNsSwitch<'_> {
    fn drop(&mut self) {
        let fd = match &self.original {
            Original::Opened(fd) => fd.as_fd(),
            Original::Kept(fd) => *fd,
        };
        // Going back to our own pid namespace is always permitted; nothing
        // sensible can be done if it failed anyway.
        let _ = setns(fd, CloneFlags::CLONE_NEWPID);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder};

    fn linux(types: &[LinuxNamespaceType]) -> Linux {
        let ns = types
            .iter()
            .map(|t| LinuxNamespaceBuilder::default().typ(*t).build().unwrap())
            .collect::<Vec<_>>();
        LinuxBuilder::default().namespaces(ns).build().unwrap()
    }

    #[test]
    fn fresh_namespaces_become_clone_flags_except_cgroup() {
        use LinuxNamespaceType::*;
        let plan =
            NamespacePlan::for_create(&linux(&[Pid, Network, Ipc, Uts, Mount, Cgroup])).unwrap();
        assert_eq!(
            plan.clone_flags,
            CloneFlags::CLONE_NEWPID
                | CloneFlags::CLONE_NEWNET
                | CloneFlags::CLONE_NEWIPC
                | CloneFlags::CLONE_NEWUTS
                | CloneFlags::CLONE_NEWNS
        );
        assert!(plan.new_cgroup && plan.new_mount && plan.new_uts);
        assert!(plan.join.is_empty() && plan.join_pid.is_none());
    }

    #[test]
    fn unlisted_namespace_is_shared() {
        use LinuxNamespaceType::*;
        let plan = NamespacePlan::for_create(&linux(&[Mount, Ipc])).unwrap();
        assert!(!plan.clone_flags.contains(CloneFlags::CLONE_NEWPID));
        assert!(!plan.new_uts);
    }

    #[test]
    fn namespace_path_is_joined() {
        let ns = LinuxNamespaceBuilder::default()
            .typ(LinuxNamespaceType::Network)
            .path("/proc/self/ns/net")
            .build()
            .unwrap();
        let l = LinuxBuilder::default()
            .namespaces(vec![ns])
            .build()
            .unwrap();
        let plan = NamespacePlan::for_create(&l).unwrap();
        assert!(plan.clone_flags.is_empty());
        assert_eq!(plan.join.len(), 1);
        assert_eq!(plan.join[0].1, CloneFlags::CLONE_NEWNET);
    }

    #[test]
    fn time_namespaces_are_refused() {
        let err = NamespacePlan::for_create(&linux(&[LinuxNamespaceType::Time])).unwrap_err();
        assert!(matches!(err, RuntimeError::InvalidSpec(_)));
    }

    #[test]
    fn new_user_namespace_moves_joined_network_to_the_parent() {
        use LinuxNamespaceType::*;
        let net = LinuxNamespaceBuilder::default()
            .typ(Network)
            .path("/proc/self/ns/net")
            .build()
            .unwrap();
        let mut list = vec![net];
        for t in [User, Mount, Pid] {
            list.push(LinuxNamespaceBuilder::default().typ(t).build().unwrap());
        }
        let l = LinuxBuilder::default().namespaces(list).build().unwrap();
        let plan = NamespacePlan::for_create(&l).unwrap();
        assert!(plan.new_user);
        assert!(plan.clone_flags.contains(CloneFlags::CLONE_NEWUSER));
        assert!(!plan.unshare_ipc);
        assert!(plan.join.is_empty());
        assert_eq!(plan.join_in_parent.len(), 1);
        assert_eq!(plan.join_in_parent[0].1, CloneFlags::CLONE_NEWNET);
    }

    #[test]
    fn new_user_namespace_unshares_ipc_in_the_child() {
        use LinuxNamespaceType::*;
        let plan = NamespacePlan::for_create(&linux(&[User, Ipc, Mount, Pid])).unwrap();
        assert!(plan.unshare_ipc);
        assert!(!plan.clone_flags.contains(CloneFlags::CLONE_NEWIPC));
        assert!(plan.clone_flags.contains(CloneFlags::CLONE_NEWPID));
        // Without a user namespace clone creates it as before.
        let plan = NamespacePlan::for_create(&linux(&[Ipc, Mount])).unwrap();
        assert!(!plan.unshare_ipc);
        assert!(plan.clone_flags.contains(CloneFlags::CLONE_NEWIPC));
    }

    #[test]
    fn joined_user_namespace_clones_the_fresh_ones_inside_it() {
        use LinuxNamespaceType::*;
        let mut list = Vec::new();
        for (t, path) in [
            (User, true),
            (Network, true),
            (Mount, false),
            (Pid, false),
            (Ipc, false),
        ] {
            let mut b = LinuxNamespaceBuilder::default().typ(t);
            if path {
                b = b.path(format!("/proc/self/ns/{}", proc_name(t)));
            }
            list.push(b.build().unwrap());
        }
        let l = LinuxBuilder::default().namespaces(list).build().unwrap();
        let plan = NamespacePlan::for_create(&l).unwrap();
        assert!(plan.via_user.is_some() && !plan.new_user);
        assert_eq!(
            plan.clone_flags,
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID
        );
        assert!(plan.unshare_ipc);
        assert_eq!(plan.join.len(), 1);
        assert_eq!(plan.join[0].1, CloneFlags::CLONE_NEWNET);
        assert!(plan.join_in_parent.is_empty());
    }

    #[test]
    fn exec_into_own_namespaces_joins_nothing() {
        use LinuxNamespaceType::*;
        let me = std::process::id() as i32;
        let plan = NamespacePlan::for_exec(me, &linux(&[Pid, Network, Mount])).unwrap();
        assert!(plan.join.is_empty() && plan.join_pid.is_none());
    }
}
