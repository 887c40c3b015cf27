//! Namespaces shared with other containers: `--pid container:<x>`,
//! `--ipc container:<x>` (whose donor must be `--ipc shareable`, as with
//! Docker), and, under `--userns-remap`, the user namespace of the
//! containers joined by network, pid or IPC namespace.
//!
//! As in Docker, a shareable container's /dev/shm is a tmpfs the daemon
//! mounts on the host (`<container dir>/mounts/shm`) and binds into the
//! container; containers joining its IPC namespace bind the same directory,
//! so POSIX shared memory is shared with SysV IPC and message queues. The
//! tmpfs is unmounted when the container stops or is removed.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::{Map, Value};

use crate::container::{Container, Paths};
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};

fn mode<'a>(hc: &'a Map<String, Value>, key: &str) -> &'a str {
    hc.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The container named by a `container:<x>` mode of `key`.
fn target<'a>(hc: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    mode(hc, key).strip_prefix("container:")
}

/// Create-time checks of `PidMode` and `IpcMode`: known modes only, and a
/// `container:<name>` is stored as `container:<id>` (Docker's record and
/// `inspect`), refused with "No such container" when there is none.
pub fn resolve_create(
    hc: &mut Map<String, Value>,
    lookup: &dyn Fn(&str) -> ApiResult<String>,
) -> ApiResult<()> {
    for (key, what, plain) in [
        ("PidMode", "PID", &["", "host"][..]),
        (
            "IpcMode",
            "IPC",
            &["", "none", "private", "shareable", "host"][..],
        ),
    ] {
        let m = mode(hc, key).to_string();
        if plain.contains(&m.as_str()) {
            continue;
        }
        match m.strip_prefix("container:") {
            Some(name) if !name.is_empty() => {
                let id = lookup(name)?;
                hc.insert(key.into(), Value::String(format!("container:{id}")));
            }
            _ => {
                return Err(ApiError::bad_request(format!("invalid {what} mode: {m}")));
            }
        }
    }
    Ok(())
}

/// Where a shareable container's /dev/shm tmpfs is mounted on the host.
pub fn shm_dir(paths: &Paths) -> PathBuf {
    paths.dir.join("mounts").join("shm")
}

fn is_mountpoint(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(dir), dir.parent().map(std::fs::metadata)) {
        (Ok(a), Some(Ok(b))) => a.dev() != b.dev(),
        _ => false,
    }
}

/// Unmounts the container's shareable /dev/shm, if it has one mounted.
pub fn release_shm(paths: &Paths) {
    let dir = shm_dir(paths);
    if is_mountpoint(&dir) {
        if let Err(err) = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH) {
            tracing::warn!("unmount {}: {err}", dir.display());
        }
    }
}

/// Mounts the shareable /dev/shm tmpfs of a container (kept when already
/// there), owned by the container's root.
fn mount_shm(paths: &Paths, size: i64, root: Option<(u32, u32)>) -> Result<PathBuf, String> {
    let dir = shm_dir(paths);
    if is_mountpoint(&dir) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let size = if size > 0 { size } else { 67108864 };
    nix::mount::mount(
        Some("shm"),
        &dir,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID
            | nix::mount::MsFlags::MS_NODEV
            | nix::mount::MsFlags::MS_NOEXEC,
        Some(format!("mode=1777,size={size}").as_str()),
    )
    .map_err(|e| format!("mounting shm tmpfs: {e}"))?;
    if let Some((uid, gid)) = root {
        if let Err(e) = std::os::unix::fs::chown(&dir, Some(uid), Some(gid)) {
            let _ = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH);
            return Err(format!("chown {}: {e}", dir.display()));
        }
    }
    Ok(dir)
}

/// The host directory holding the /dev/shm of `c`'s IPC namespace when
/// it can be shared: its own tmpfs (shareable), the host's (`host`), or
/// that of the container it joined.
fn shareable_shm(d: &Daemon, c: &Container, depth: u8) -> Option<PathBuf> {
    match mode(&c.host_config, "IpcMode") {
        "shareable" => {
            let dir = shm_dir(&d.paths(&c.id));
            is_mountpoint(&dir).then_some(dir)
        }
        "host" => Some(PathBuf::from("/dev/shm")),
        m => {
            let other = m.strip_prefix("container:").filter(|_| depth < 8)?;
            let e = d.lookup(other).ok()?;
            let donor = e.get();
            shareable_shm(d, &donor, depth + 1)
        }
    }
}

/// A running container's init pid, or Docker's error when it is not running.
fn running_pid(d: &Daemon, name: &str, err: &dyn Fn(String) -> String) -> ApiResult<(String, i32)> {
    let e = d
        .lookup(name)
        .map_err(|e| ApiError::not_found(err(e.message)))?;
    let t = e.get();
    if !t.state.status.is_running() || t.state.pid <= 0 {
        return Err(ApiError::conflict(err(format!(
            "container {} is not running",
            t.id
        ))));
    }
    Ok((t.id.clone(), t.state.pid))
}

fn set_namespace_path(spec: &mut Spec, typ: LinuxNamespaceType, path: String) {
    let nss = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut());
    for ns in nss.into_iter().flatten() {
        if ns.typ() == typ {
            ns.set_path(Some(path.clone().into()));
        }
    }
}

/// Replaces the spec's /dev/shm with a bind of `dir`.
fn bind_shm(spec: &mut Spec, dir: &Path) -> Result<(), String> {
    let shm: oci_spec::runtime::Mount = serde_json::from_value(serde_json::json!({
        "destination": "/dev/shm",
        "type": "bind",
        "source": dir,
        "options": ["rbind", "rprivate"],
    }))
    .map_err(|e| e.to_string())?;
    let mut all = spec.mounts().clone().unwrap_or_default();
    match all
        .iter_mut()
        .find(|m| m.destination() == Path::new("/dev/shm"))
    {
        Some(m) => *m = shm,
        None => all.push(shm),
    }
    spec.set_mounts(Some(all));
    Ok(())
}

/// Start-time: the pid and IPC namespaces `c` shares with other containers
/// (paths of their inits' namespaces in the spec), and the /dev/shm of a
/// shareable container or of the donor it joins. Errors are Docker's.
pub fn apply_pid_ipc(
    d: &Daemon,
    c: &Container,
    paths: &Paths,
    spec: &mut Spec,
    root: Option<(u32, u32)>,
) -> ApiResult<()> {
    let hc = &c.host_config;
    if let Some(name) = target(hc, "PidMode") {
        let (_, pid) = running_pid(d, name, &|m| m)?;
        set_namespace_path(spec, LinuxNamespaceType::Pid, format!("/proc/{pid}/ns/pid"));
    }
    match target(hc, "IpcMode") {
        Some(name) => {
            let what = |m: String| format!("can't join IPC of container {name}: {m}");
            let (id, pid) = running_pid(d, name, &what)?;
            let donor = d.lookup(&id)?.get();
            let Some(dir) = shareable_shm(d, &donor, 0) else {
                return Err(ApiError::bad_request(format!(
                    "can't join IPC of container {id}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
                )));
            };
            set_namespace_path(spec, LinuxNamespaceType::Ipc, format!("/proc/{pid}/ns/ipc"));
            bind_shm(spec, &dir).map_err(ApiError::internal)?;
        }
        None if mode(hc, "IpcMode") == "shareable" => {
            let size = hc.get("ShmSize").and_then(Value::as_i64).unwrap_or(0);
            let dir = mount_shm(paths, size, root).map_err(ApiError::internal)?;
            bind_shm(spec, &dir).map_err(ApiError::internal)?;
        }
        None => {}
    }
    Ok(())
}

/// The containers whose namespaces `c` joins, with the kind of namespace:
/// by network, pid and IPC mode.
fn joined_targets(c: &Container) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let crate::network::Mode::Container(x) = crate::network::mode_of(c) {
        out.push(("network", x));
    }
    for (kind, key) in [("PID", "PidMode"), ("IPC", "IpcMode")] {
        if let Some(x) = target(&c.host_config, key) {
            out.push((kind, x.to_string()));
        }
    }
    out
}

/// Under `--userns-remap`: a container joining the network, pid or IPC
/// namespace of other containers joins their user namespace instead of
/// making its own, as Docker does (those namespaces belong to it). A target
/// running with `--userns host` is not joined; its network namespace is
/// entered from the host's user namespace by the runtime, but its pid or IPC
/// namespace cannot be used from a user namespace of the joiner's own (no
/// /proc or /dev/mqueue could be mounted there: Docker fails in runc), so
/// that is refused up front, as are targets in different user namespaces.
pub fn join_user_namespace(d: &Daemon, c: &Container, spec: &mut Spec) -> ApiResult<()> {
    if crate::userns::host_mode(&c.host_config) {
        return Ok(());
    }
    let own = std::fs::read_link("/proc/self/ns/user").ok();
    let mut chosen: Option<(String, PathBuf, i32)> = None;
    let mut host_target: Option<String> = None;
    for (kind, name) in joined_targets(c) {
        let Ok(e) = d.lookup(&name) else { continue };
        let t = e.get();
        if t.state.pid <= 0 {
            continue;
        }
        let Ok(link) = std::fs::read_link(format!("/proc/{}/ns/user", t.state.pid)) else {
            continue;
        };
        if Some(&link) == own.as_ref() {
            if kind != "network" {
                return Err(ApiError::bad_request(format!(
                    "cannot join the {kind} namespace of container {}: it runs in the host's user namespace (--userns host); run this container with --userns host too",
                    t.id
                )));
            }
            host_target.get_or_insert(t.id.clone());
            continue;
        }
        match &chosen {
            Some((other, l, _)) if *l != link => {
                return Err(ApiError::bad_request(format!(
                    "cannot join the namespaces of containers {other} and {}: they are in different user namespaces",
                    t.id
                )));
            }
            Some(_) => {}
            None => chosen = Some((t.id.clone(), link, t.state.pid)),
        }
    }
    if let (Some((other, _, _)), Some(host)) = (&chosen, &host_target) {
        return Err(ApiError::bad_request(format!(
            "cannot join the namespaces of containers {other} and {host}: {host} runs in the host's user namespace (--userns host)"
        )));
    }
    if let Some((_, _, pid)) = chosen {
        crate::userns::join_user_namespace_of(spec, pid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn lookup(name: &str) -> ApiResult<String> {
        match name {
            "web" => Ok("abc123".into()),
            _ => Err(ApiError::no_such_container(name)),
        }
    }

    #[test]
    fn container_modes_are_stored_by_id() {
        let mut h = hc(json!({"PidMode": "container:web", "IpcMode": "container:web"}));
        resolve_create(&mut h, &lookup).unwrap();
        assert_eq!(h["PidMode"], "container:abc123");
        assert_eq!(h["IpcMode"], "container:abc123");
        let mut h = hc(json!({"PidMode": "host", "IpcMode": "shareable"}));
        resolve_create(&mut h, &lookup).unwrap();
        assert_eq!(h["IpcMode"], "shareable");
    }

    #[test]
    fn unknown_modes_and_containers_are_refused() {
        let mut h = hc(json!({"PidMode": "container:nope"}));
        let err = resolve_create(&mut h, &lookup).unwrap_err();
        assert_eq!(err.message, "No such container: nope");
        let mut h = hc(json!({"PidMode": "bogus"}));
        let err = resolve_create(&mut h, &lookup).unwrap_err();
        assert_eq!(err.message, "invalid PID mode: bogus");
        let mut h = hc(json!({"IpcMode": "container:"}));
        let err = resolve_create(&mut h, &lookup).unwrap_err();
        assert_eq!(err.message, "invalid IPC mode: container:");
    }

    #[test]
    fn shm_is_replaced_by_a_bind() {
        let mut spec = Spec::default();
        bind_shm(&mut spec, Path::new("/x/shm")).unwrap();
        let shm: Vec<_> = spec
            .mounts()
            .iter()
            .flatten()
            .filter(|m| m.destination() == Path::new("/dev/shm"))
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0].typ().as_deref(), Some("bind"));
        assert_eq!(shm[0].source().as_deref(), Some(Path::new("/x/shm")));
    }
}
