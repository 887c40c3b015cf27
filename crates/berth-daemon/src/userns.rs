//! `--userns-remap`: which subordinate id ranges container root maps to,
//! the remapped data root `<data-root>/<uid>.<gid>`, and what a container
//! of such a daemon needs (a user namespace in its spec, files it can use).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_image::idmap::{IdMap, IdRange, IdRanges, MAX_RANGES};
use serde_json::{Map, Value};

/// The user `--userns-remap default` stands for (Docker's is `dockremap`).
pub const DEFAULT_USER: &str = "berthremap";
/// Size of the range given to [`DEFAULT_USER`] when it has none.
const DEFAULT_RANGE: u32 = 65536;
/// Subordinate ranges start above the ids of ordinary users.
const FIRST_SUBID: u64 = 100000;

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("invalid --userns-remap {0:?}: use default, user, user:group or uid:gid")]
    Syntax(String),
    #[error("--userns-remap: no user {0:?} on this host")]
    NoUser(String),
    #[error("--userns-remap: no group {0:?} on this host")]
    NoGroup(String),
    #[error("--userns-remap: no subordinate {kind} range for {name:?} in {file}")]
    NoRange {
        kind: &'static str,
        name: String,
        file: &'static str,
    },
    #[error("--userns-remap: {0}")]
    Setup(String),
    #[error("--userns-remap: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> UsernsError {
    let context = context.into();
    move |source| UsernsError::Io { context, source }
}

/// `--userns-remap` split into its user and optional group part.
#[derive(Debug, PartialEq, Eq)]
struct RemapSpec {
    user: String,
    group: Option<String>,
}

fn parse_flag(value: &str) -> Result<RemapSpec, UsernsError> {
    let bad = || UsernsError::Syntax(value.to_string());
    let (user, group) = match value.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (value, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) || group.is_some_and(|g| g.contains(':'))
    {
        return Err(bad());
    }
    let user = if user == "default" {
        if group.is_some() {
            return Err(bad());
        }
        DEFAULT_USER
    } else {
        user
    };
    Ok(RemapSpec {
        user: user.to_string(),
        group: group.map(String::from),
    })
}

/// Every range of `/etc/subuid`-format `text` whose owner field is one of
/// `names` (a name or a numeric id, as shadow-utils accepts), in file order:
/// container ids 0.. run through them one after another, as with Docker.
pub fn find_ranges(text: &str, names: &[&str]) -> Vec<IdRange> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut f = line.split(':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            if !names.contains(&owner) {
                return None;
            }
            let host: u32 = start.trim().parse().ok()?;
            let size: u32 = count.trim().parse().ok()?;
            (size > 0 && host.checked_add(size).is_some()).then_some(IdRange { host, size })
        })
        .collect()
}

/// The first of [`find_ranges`].
pub fn find_range(text: &str, names: &[&str]) -> Option<IdRange> {
    find_ranges(text, names).into_iter().next()
}

/// [`find_ranges`] as the map's ranges: none is an error, and so is a
/// total beyond 2^32 container ids or more ranges than the map holds.
fn ranges_of(
    text: &str,
    names: &[&str],
    kind: &'static str,
    name: &str,
    file: &'static str,
) -> Result<IdRanges, UsernsError> {
    let found = find_ranges(text, names);
    if found.is_empty() {
        return Err(UsernsError::NoRange {
            kind,
            name: name.to_string(),
            file,
        });
    }
    let total: u64 = found.iter().map(|r| u64::from(r.size)).sum();
    if total > u64::from(u32::MAX) {
        return Err(UsernsError::Setup(format!(
            "the {kind} ranges of {name:?} in {file} add up to more than 2^32 ids"
        )));
    }
    IdRanges::new(&found).ok_or_else(|| {
        UsernsError::Setup(format!(
            "{name:?} has {} {kind} ranges in {file}; at most {MAX_RANGES} are supported",
            found.len()
        ))
    })
}

/// The first id after every range of `text` (at least [`FIRST_SUBID`]).
fn next_free(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let _ = f.next()?;
            let start: u64 = f.next()?.trim().parse().ok()?;
            let count: u64 = f.next()?.trim().parse().ok()?;
            Some(start + count)
        })
        .fold(FIRST_SUBID, u64::max)
}

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

fn read_subids(file: &str) -> Result<String, UsernsError> {
    match std::fs::read_to_string(file) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io(format!("reading {file}"))(e)),
    }
}

/// Creates [`DEFAULT_USER`] (a system user without a shell) and gives it one
/// range in both files when it has none, as dockerd does for `dockremap`.
fn ensure_default_user() -> Result<(), UsernsError> {
    if nix::unistd::User::from_name(DEFAULT_USER)
        .map_err(|e| io("looking up users")(e.into()))?
        .is_none()
    {
        let out = Command::new("useradd")
            .args(["-r", "-s", "/bin/false", DEFAULT_USER])
            .output()
            .map_err(io("running useradd"))?;
        if !out.status.success() {
            return Err(UsernsError::Setup(format!(
                "useradd {DEFAULT_USER}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    for file in [SUBUID, SUBGID] {
        let text = read_subids(file)?;
        if find_range(&text, &[DEFAULT_USER]).is_none() {
            let start = next_free(&text);
            let mut new = text.clone();
            if !new.is_empty() && !new.ends_with('\n') {
                new.push('\n');
            }
            new.push_str(&format!("{DEFAULT_USER}:{start}:{DEFAULT_RANGE}\n"));
            std::fs::write(file, new).map_err(io(format!("writing {file}")))?;
        }
    }
    Ok(())
}

/// Resolves `--userns-remap` to the id ranges container root maps to.
pub fn resolve(flag: &str) -> Result<IdMap, UsernsError> {
    let spec = parse_flag(flag)?;
    if spec.user == DEFAULT_USER {
        ensure_default_user()?;
    }
    let lookup = |e: nix::Error| io("looking up users")(e.into());
    let user = match spec.user.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(uid.into()).map_err(lookup)?,
        Err(_) => nix::unistd::User::from_name(&spec.user).map_err(lookup)?,
    }
    .ok_or_else(|| UsernsError::NoUser(spec.user.clone()))?;
    let group_name = match &spec.group {
        None => user.name.clone(),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => nix::unistd::Group::from_gid(gid.into())
                .map_err(lookup)?
                .map(|g| g.name)
                .ok_or_else(|| UsernsError::NoGroup(g.clone()))?,
            Err(_) => nix::unistd::Group::from_name(g)
                .map_err(lookup)?
                .map(|g| g.name)
                .ok_or_else(|| UsernsError::NoGroup(g.clone()))?,
        },
    };
    let uid_text = user.uid.to_string();
    let uids = ranges_of(
        &read_subids(SUBUID)?,
        &[&user.name, &uid_text],
        "uid",
        &user.name,
        SUBUID,
    )?;
    let gid_num = nix::unistd::Group::from_name(&group_name)
        .ok()
        .flatten()
        .map(|g| g.gid.to_string())
        .unwrap_or_default();
    let gids = ranges_of(
        &read_subids(SUBGID)?,
        &[&group_name, &gid_num],
        "gid",
        &group_name,
        SUBGID,
    )?;
    Ok(IdMap { uids, gids })
}

/// The daemon's start: with `--userns-remap`, the id map and the remapped
/// data root every store lives under; without, `data_root` unchanged.
pub fn setup(
    flag: Option<&str>,
    data_root: PathBuf,
) -> Result<(PathBuf, Option<IdMap>), UsernsError> {
    match flag.filter(|f| !f.is_empty()) {
        None => Ok((data_root, None)),
        Some(f) => {
            let map = resolve(f)?;
            let root = prepare_root(&data_root, &map)?;
            let (uid, gid) = map.root();
            let (uids, gids) = map.sizes();
            tracing::info!(
                "userns-remap {f}: container root is {uid}:{gid} ({uids} uids in {} ranges, {gids} gids in {}), state under {}",
                map.uids.len(),
                map.gids.len(),
                root.display()
            );
            Ok((root, Some(map)))
        }
    }
}

/// Makes the remapped data root `<data_root>/<uid>.<gid>` and returns it.
/// As Docker: the data root itself stays root's (others may only traverse
/// it), the remapped root is `0710 root:<remapped gid>`, so the container's
/// root can reach what is bind-mounted from below it (hosts, volumes) and
/// nobody else can look in.
pub fn prepare_root(data_root: &Path, map: &IdMap) -> Result<PathBuf, UsernsError> {
    let (uid, gid) = map.root();
    let root = data_root.join(format!("{uid}.{gid}"));
    std::fs::create_dir_all(&root).map_err(io(format!("creating {}", root.display())))?;
    std::fs::set_permissions(data_root, std::fs::Permissions::from_mode(0o711))
        .map_err(io(format!("chmod {}", data_root.display())))?;
    std::os::unix::fs::chown(&root, Some(0), Some(gid))
        .map_err(io(format!("chown {}", root.display())))?;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o710))
        .map_err(io(format!("chmod {}", root.display())))?;
    Ok(root)
}

/// True when the container opted out with `--userns host`.
pub fn host_mode(host_config: &Map<String, Value>) -> bool {
    host_config.get("UsernsMode").and_then(Value::as_str) == Some("host")
}

pub const PRIVILEGED_MESSAGE: &str = "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode";

/// Docker's create-time checks of `UsernsMode` (and `--privileged` on a
/// remapped daemon); the error is Docker's message.
pub fn validate(host_config: &Map<String, Value>, remapped: bool) -> Result<(), String> {
    let mode = host_config
        .get("UsernsMode")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !matches!(mode, "" | "host") {
        return Err(format!("invalid USER mode: {mode}"));
    }
    let privileged = host_config
        .get("Privileged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if remapped && privileged && mode != "host" {
        return Err(PRIVILEGED_MESSAGE.to_string());
    }
    Ok(())
}

/// Gives the container a user namespace mapping its root to the remapped
/// range (unless `--userns host`).
pub fn apply_to_spec(
    spec: &mut oci_spec::runtime::Spec,
    host_config: &Map<String, Value>,
    map: &IdMap,
) -> Result<(), String> {
    use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType};
    if host_mode(host_config) {
        return Ok(());
    }
    let linux = spec
        .linux_mut()
        .as_mut()
        .ok_or("the spec has no linux section")?;
    let user = LinuxNamespaceBuilder::default()
        .typ(LinuxNamespaceType::User)
        .build()
        .map_err(|e| e.to_string())?;
    linux
        .namespaces_mut()
        .get_or_insert_with(Vec::new)
        .push(user);
    linux.set_uid_mappings(Some(id_mappings(&map.uids)?));
    linux.set_gid_mappings(Some(id_mappings(&map.gids)?));
    // The container's network namespace belongs to its user namespace, where
    // Docker's default ping range names unmapped gids (EINVAL): like Docker,
    // no ping sockets by default in a user namespace; `--sysctl` still wins.
    let user_set = host_config
        .get("Sysctls")
        .and_then(Value::as_object)
        .is_some_and(|s| s.contains_key(PING_GROUP_RANGE));
    if !user_set {
        if let Some(sysctls) = linux.sysctl_mut().as_mut() {
            sysctls.remove(PING_GROUP_RANGE);
        }
    }
    Ok(())
}

const PING_GROUP_RANGE: &str = "net.ipv4.ping_group_range";

/// `--network container:<x>` under remap: the network namespace of `x`
/// (init `pid`) belongs to `x`'s user namespace, so the joiner joins that
/// user namespace too instead of making its own, as Docker does ("to share
/// a net namespace, they must also share a user namespace"); its other new
/// namespaces then belong to it. A target running in the daemon's own user
/// namespace (`--userns host`) is not joined: the joiner keeps a user
/// namespace of its own.
pub fn join_user_namespace_of(spec: &mut oci_spec::runtime::Spec, pid: i32) {
    use oci_spec::runtime::LinuxNamespaceType;
    let theirs = format!("/proc/{pid}/ns/user");
    match (
        std::fs::read_link(&theirs),
        std::fs::read_link("/proc/self/ns/user"),
    ) {
        (Ok(a), Ok(b)) if a != b => {}
        _ => return,
    }
    let nss = spec
        .linux_mut()
        .as_mut()
        .and_then(|l| l.namespaces_mut().as_mut());
    for ns in nss.into_iter().flatten() {
        if ns.typ() == LinuxNamespaceType::User {
            ns.set_path(Some(theirs.clone().into()));
        }
    }
}

/// One OCI mapping per range, container ids contiguous across them.
fn id_mappings(ranges: &[IdRange]) -> Result<Vec<oci_spec::runtime::LinuxIdMapping>, String> {
    let mut inside = 0u32;
    let mut out = Vec::new();
    for r in ranges {
        out.push(
            oci_spec::runtime::LinuxIdMappingBuilder::default()
                .container_id(inside)
                .host_id(r.host)
                .size(r.size)
                .build()
                .map_err(|e| e.to_string())?,
        );
        inside = inside.wrapping_add(r.size);
    }
    Ok(out)
}

/// The container's hosts, hostname and resolv.conf belong to its root, so
/// it can edit them as under Docker. Done at each start: the daemon may
/// have rewritten them meanwhile.
pub fn chown_container_files(files: &[&Path], map: &IdMap) -> std::io::Result<()> {
    let (uid, gid) = map.root();
    for f in files {
        match std::os::unix::fs::chown(f, Some(uid), Some(gid)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            r => r?,
        }
    }
    Ok(())
}

/// `SecurityOptions` of `docker info`: Docker lists `name=userns` after
/// seccomp/selinux and before cgroupns.
pub fn add_security_option(info: &mut Value, remapped: bool) {
    if !remapped {
        return;
    }
    if let Some(list) = info
        .get_mut("SecurityOptions")
        .and_then(Value::as_array_mut)
    {
        let at = list
            .iter()
            .position(|v| v.as_str() == Some("name=cgroupns"))
            .unwrap_or(list.len());
        list.insert(at, Value::from("name=userns"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_forms() {
        let s = parse_flag("default").unwrap();
        assert_eq!((s.user.as_str(), s.group), (DEFAULT_USER, None));
        let s = parse_flag("alice:staff").unwrap();
        assert_eq!(
            (s.user.as_str(), s.group.as_deref()),
            ("alice", Some("staff"))
        );
        let s = parse_flag("1000:1000").unwrap();
        assert_eq!(
            (s.user.as_str(), s.group.as_deref()),
            ("1000", Some("1000"))
        );
        for bad in ["", ":", "a:", ":b", "a:b:c", "default:x"] {
            assert!(parse_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subid_ranges() {
        let text = "# comment\nother:100000:65536\n\nalice:200000:1000\nalice:300000:5\n1001:400000:10\nbroken:x:1\n";
        assert_eq!(
            find_range(text, &["alice"]),
            Some(IdRange {
                host: 200000,
                size: 1000
            })
        );
        assert_eq!(
            find_range(text, &["bob", "1001"]),
            Some(IdRange {
                host: 400000,
                size: 10
            })
        );
        assert_eq!(find_range(text, &["broken"]), None);
        assert_eq!(find_range(text, &["nobody"]), None);
        assert_eq!(find_range("zero:1:0\n", &["zero"]), None);
    }

    #[test]
    fn every_range_is_mapped_in_order() {
        let text = "alice:200000:1000\nother:1:5\nalice:300000:5\n";
        let r = |host, size| IdRange { host, size };
        assert_eq!(
            find_ranges(text, &["alice"]),
            vec![r(200000, 1000), r(300000, 5)]
        );
        let got = ranges_of(text, &["alice"], "uid", "alice", SUBUID).unwrap();
        let maps = id_mappings(&got).unwrap();
        let lines: Vec<(u32, u32, u32)> = maps
            .iter()
            .map(|m| (m.container_id(), m.host_id(), m.size()))
            .collect();
        assert_eq!(lines, vec![(0, 200000, 1000), (1000, 300000, 5)]);
        assert!(matches!(
            ranges_of(text, &["bob"], "uid", "bob", SUBUID),
            Err(UsernsError::NoRange { .. })
        ));
        let many: String = (0..=MAX_RANGES)
            .map(|i| format!("m:{}:1\n", 100000 + i))
            .collect();
        assert!(matches!(
            ranges_of(&many, &["m"], "uid", "m", SUBUID),
            Err(UsernsError::Setup(_))
        ));
    }

    #[test]
    fn new_ranges_go_after_existing_ones() {
        assert_eq!(next_free(""), 100000);
        assert_eq!(next_free("a:100000:65536\nb:300000:65536\n"), 365536);
    }

    #[test]
    fn create_checks() {
        let hc = |v: Value| v.as_object().cloned().unwrap();
        let priv_ = hc(serde_json::json!({"Privileged": true}));
        assert_eq!(validate(&priv_, true).unwrap_err(), PRIVILEGED_MESSAGE);
        assert!(validate(&priv_, false).is_ok());
        let host = hc(serde_json::json!({"Privileged": true, "UsernsMode": "host"}));
        assert!(validate(&host, true).is_ok());
        let bad = hc(serde_json::json!({"UsernsMode": "private"}));
        assert_eq!(
            validate(&bad, true).unwrap_err(),
            "invalid USER mode: private"
        );
    }

    #[test]
    fn info_lists_userns_before_cgroupns() {
        let mut v = serde_json::json!({"SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"]});
        add_security_option(&mut v, true);
        assert_eq!(
            v["SecurityOptions"],
            serde_json::json!([
                "name=seccomp,profile=builtin",
                "name=userns",
                "name=cgroupns"
            ])
        );
    }
}
