//! Turns a container's mount requests into mount points, as Docker's
//! `registerMountPoints` does: `--volumes-from` first, then `HostConfig.Binds`
//! (`-v src:dst[:mode]`), then `HostConfig.Mounts` (`--mount`), then an
//! anonymous volume for every `Config.Volumes` path nothing else covers.
//!
//! Parsing is pure: which volumes exist, and creating them, is the caller's job.

use super::VolumeError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Volume,
    Tmpfs,
}

impl MountType {
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Volume => "volume",
            MountType::Tmpfs => "tmpfs",
        }
    }
}

/// One mount of a container, persisted with it and shown in inspect's `Mounts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountType,
    /// Volume name; empty for an anonymous volume until one is named, and for binds/tmpfs.
    pub name: String,
    /// Host path of a bind (a volume's is its `_data` directory, filled in later).
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// Docker's `Mode` column: the mode string given, "z" for named volumes.
    pub mode: String,
    /// Bind propagation ("rprivate" by default for binds, "" otherwise).
    pub propagation: String,
    /// Copy the image's content at `destination` into an empty volume.
    pub copy_data: bool,
    /// `-v /host:/dst` makes a missing host directory; `--mount` refuses it.
    pub create_source: bool,
    /// tmpfs mount options (size=, mode=).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
}

impl MountPoint {
    fn volume(name: &str, destination: &str, rw: bool, mode: &str) -> MountPoint {
        MountPoint {
            kind: MountType::Volume,
            name: name.to_string(),
            source: String::new(),
            destination: destination.to_string(),
            rw,
            mode: mode.to_string(),
            propagation: String::new(),
            copy_data: true,
            create_source: false,
            tmpfs_options: Vec::new(),
        }
    }
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Docker's `ValidMountMode`: at most one of rw/ro, one propagation, one
/// SELinux label (z/Z), one consistency flag and `nocopy`.
fn valid_mode(mode: &str) -> bool {
    let (mut rw, mut prop, mut label, mut copy, mut consistency) = (0, 0, 0, 0, 0);
    for m in mode.split(',') {
        match m {
            "rw" | "ro" => rw += 1,
            "z" | "Z" => label += 1,
            "nocopy" => copy += 1,
            "consistent" | "cached" | "delegated" => consistency += 1,
            p if PROPAGATIONS.contains(&p) => prop += 1,
            _ => return false,
        }
    }
    rw < 2 && prop < 2 && label < 2 && copy < 2 && consistency < 2
}

/// Docker's restricted name pattern for local volumes: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_volume_name(name: &str) -> Result<(), VolumeError> {
    if name.len() == 1 {
        return Err(VolumeError::invalid(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
        return Err(VolumeError::invalid(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn check_destination(raw: &str, kind: MountType, dst: &str) -> Result<String, VolumeError> {
    if !dst.starts_with('/') {
        let prefix = if raw.is_empty() {
            String::new()
        } else {
            format!("invalid volume specification: '{raw}': ")
        };
        return Err(VolumeError::invalid(format!(
            "{prefix}invalid mount config for type \"{}\": invalid mount path: '{dst}' mount path must be absolute",
            kind.as_str()
        )));
    }
    let dst = clean(dst);
    if dst == "/" {
        return Err(VolumeError::invalid(
            "invalid specification: destination can't be '/'",
        ));
    }
    Ok(dst)
}

/// One `-v` / `Binds` entry: `dst`, `dst:mode`, `src:dst` or `src:dst:mode`.
pub fn parse_bind(raw: &str) -> Result<MountPoint, VolumeError> {
    let spec_err = || VolumeError::invalid(format!("invalid volume specification: '{raw}'"));
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        // "dst:mode" is refused: an anonymous volume takes no mode.
        [_, b] if valid_mode(b) => return Err(spec_err()),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(spec_err()),
    };
    if dst.is_empty() {
        return Err(spec_err());
    }
    if !mode.is_empty() && !valid_mode(mode) {
        return Err(VolumeError::invalid(format!("invalid mode: {mode}")));
    }
    let modes: Vec<&str> = mode.split(',').collect();
    let rw = !modes.contains(&"ro");
    let kind = if src.starts_with('/') {
        MountType::Bind
    } else {
        MountType::Volume
    };
    if kind == MountType::Bind && !dst.starts_with('/') {
        return Err(spec_err());
    }
    let dst = check_destination(raw, kind, dst)?;
    if kind == MountType::Bind {
        let propagation = modes
            .iter()
            .find(|m| PROPAGATIONS.contains(m))
            .copied()
            .unwrap_or("rprivate");
        return Ok(MountPoint {
            kind,
            name: String::new(),
            source: clean(src),
            destination: dst,
            rw,
            mode: mode.to_string(),
            propagation: propagation.to_string(),
            copy_data: false,
            create_source: true,
            tmpfs_options: Vec::new(),
        });
    }
    if !src.is_empty() {
        validate_volume_name(src)?;
    }
    let shown_mode = if mode.is_empty() { "z" } else { mode };
    let mut mp = MountPoint::volume(src, &dst, rw, shown_mode);
    mp.copy_data = !modes.contains(&"nocopy");
    Ok(mp)
}

fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    field(m, key).and_then(Value::as_str).unwrap_or("")
}

/// One `HostConfig.Mounts` entry (`--mount type=...,src=...,dst=...`).
pub fn parse_mount(m: &Value) -> Result<MountPoint, VolumeError> {
    let empty = Map::new();
    let m = m.as_object().unwrap_or(&empty);
    let typ = str_field(m, "Type");
    let kind = match typ {
        "bind" => MountType::Bind,
        "volume" => MountType::Volume,
        "tmpfs" => MountType::Tmpfs,
        other => {
            return Err(VolumeError::invalid(format!(
                "invalid mount config for type \"{other}\": mount type unknown"
            )))
        }
    };
    let invalid =
        |msg: &str| VolumeError::invalid(format!("invalid mount config for type \"{typ}\": {msg}"));
    let target = str_field(m, "Target");
    if target.is_empty() {
        return Err(invalid("field Target must not be empty"));
    }
    let dst = check_destination("", kind, target)?;
    let source = str_field(m, "Source");
    let rw = !field(m, "ReadOnly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let has = |k: &str| field(m, k).is_some();
    match kind {
        MountType::Bind => {
            if source.is_empty() {
                return Err(invalid("field Source must not be empty"));
            }
            if has("VolumeOptions") {
                return Err(invalid("field VolumeOptions must not be specified"));
            }
            if has("TmpfsOptions") {
                return Err(invalid("field TmpfsOptions must not be specified"));
            }
            if !source.starts_with('/') {
                return Err(invalid(&format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            if !std::path::Path::new(source).exists() {
                return Err(invalid(&format!(
                    "bind source path does not exist: {source}"
                )));
            }
            let propagation = field(m, "BindOptions")
                .and_then(|b| b.get("Propagation"))
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
                .unwrap_or("rprivate");
            if !PROPAGATIONS.contains(&propagation) {
                return Err(invalid(&format!("invalid propagation mode: {propagation}")));
            }
            Ok(MountPoint {
                kind,
                name: String::new(),
                source: clean(source),
                destination: dst,
                rw,
                mode: String::new(),
                propagation: propagation.to_string(),
                copy_data: false,
                create_source: false,
                tmpfs_options: Vec::new(),
            })
        }
        MountType::Volume => {
            if has("BindOptions") {
                return Err(invalid("field BindOptions must not be specified"));
            }
            if has("TmpfsOptions") {
                return Err(invalid("field TmpfsOptions must not be specified"));
            }
            if !source.is_empty() {
                validate_volume_name(source)?;
            }
            let nocopy = field(m, "VolumeOptions")
                .and_then(|o| o.get("NoCopy"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut mp = MountPoint::volume(source, &dst, rw, "z");
            mp.copy_data = !nocopy;
            Ok(mp)
        }
        MountType::Tmpfs => {
            if !source.is_empty() {
                return Err(invalid("field Source must not be specified"));
            }
            if has("BindOptions") {
                return Err(invalid("field BindOptions must not be specified"));
            }
            if has("VolumeOptions") {
                return Err(invalid("field VolumeOptions must not be specified"));
            }
            let opts = field(m, "TmpfsOptions").and_then(Value::as_object);
            let mut tmpfs_options = Vec::new();
            if let Some(size) = opts
                .and_then(|o| o.get("SizeBytes"))
                .and_then(Value::as_i64)
            {
                if size < 0 {
                    return Err(invalid("invalid tmpfs size"));
                }
                if size > 0 {
                    tmpfs_options.push(tmpfs_size(size));
                }
            }
            if let Some(mode) = opts.and_then(|o| o.get("Mode")).and_then(Value::as_u64) {
                if mode > 0 {
                    tmpfs_options.push(format!("mode={:o}", mode & 0o7777));
                }
            }
            Ok(MountPoint {
                kind,
                name: String::new(),
                source: String::new(),
                destination: dst,
                rw,
                mode: String::new(),
                propagation: String::new(),
                copy_data: false,
                create_source: false,
                tmpfs_options,
            })
        }
    }
}

/// Docker writes tmpfs sizes in the largest whole unit (k, m, g).
fn tmpfs_size(bytes: i64) -> String {
    for (unit, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes % div == 0 {
            return format!("size={}{unit}", bytes / div);
        }
    }
    format!("size={bytes}")
}

/// `--volumes-from name[:ro|rw]`.
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>), VolumeError> {
    match spec.split_once(':') {
        None => Ok((spec.to_string(), None)),
        Some((id, mode)) => {
            if !valid_mode(mode) {
                return Err(VolumeError::invalid(format!("invalid mode: {mode}")));
            }
            let modes: Vec<&str> = mode.split(',').collect();
            let rw = if modes.contains(&"ro") {
                Some(false)
            } else if modes.contains(&"rw") {
                Some(true)
            } else {
                None
            };
            Ok((id.to_string(), rw))
        }
    }
}

/// The requests of one container, before volumes are looked up or created.
pub struct Requests {
    pub volumes_from: Vec<String>,
    pub binds: Vec<String>,
    pub mounts: Vec<Value>,
    /// `Config.Volumes` (image and `-v /path`), sorted.
    pub anonymous: Vec<String>,
}

impl Requests {
    pub fn from_config(config: &Map<String, Value>, host_config: &Map<String, Value>) -> Requests {
        let strs = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut anonymous: Vec<String> = config
            .get("Volumes")
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        anonymous.sort();
        Requests {
            volumes_from: strs(host_config.get("VolumesFrom")),
            binds: strs(host_config.get("Binds")),
            mounts: host_config
                .get("Mounts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            anonymous,
        }
    }
}

/// Resolves all requests into mount points keyed by destination. `from`
/// returns the mount points of a `--volumes-from` container.
pub fn plan(
    req: &Requests,
    from: &dyn Fn(&str) -> Result<Vec<MountPoint>, VolumeError>,
) -> Result<Vec<MountPoint>, VolumeError> {
    let mut out: Vec<MountPoint> = Vec::new();
    // A later request for the same destination replaces an earlier one.
    let put = |out: &mut Vec<MountPoint>, mp: MountPoint| {
        out.retain(|m| m.destination != mp.destination);
        out.push(mp);
    };
    for spec in &req.volumes_from {
        let (id, rw) = parse_volumes_from(spec)?;
        for mut mp in from(&id)? {
            if let Some(rw) = rw {
                mp.rw = rw;
            }
            // Docker shows the inherited mount without its original mode string.
            mp.mode = String::new();
            mp.copy_data = false;
            put(&mut out, mp);
        }
    }
    let mut bound: Vec<String> = Vec::new();
    for raw in &req.binds {
        let mp = parse_bind(raw)?;
        bound.push(mp.destination.clone());
        put(&mut out, mp);
    }
    for m in &req.mounts {
        let mp = parse_mount(m)?;
        if bound.contains(&mp.destination) {
            return Err(VolumeError::invalid(format!(
                "Duplicate mount point: {}",
                mp.destination
            )));
        }
        bound.push(mp.destination.clone());
        put(&mut out, mp);
    }
    for dst in &req.anonymous {
        let dst = check_destination("", MountType::Volume, dst)?;
        if out.iter().any(|m| m.destination == dst) {
            continue;
        }
        out.push(MountPoint::volume("", &dst, true, ""));
    }
    // Parents before children, as Docker sorts them for the runtime.
    out.sort_by(|a, b| a.destination.cmp(&b.destination));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binds_and_named_volumes() {
        let b = parse_bind("/host/dir:/mnt:ro").unwrap();
        assert_eq!(
            (b.kind, b.source.as_str(), b.destination.as_str(), b.rw),
            (MountType::Bind, "/host/dir", "/mnt", false)
        );
        assert_eq!(
            (b.mode.as_str(), b.propagation.as_str()),
            ("ro", "rprivate")
        );
        assert!(b.create_source);

        let v = parse_bind("v1:/data").unwrap();
        assert_eq!(
            (v.kind, v.name.as_str(), v.mode.as_str(), v.rw),
            (MountType::Volume, "v1", "z", true)
        );
        assert!(v.copy_data);
        assert!(!parse_bind("v1:/data:nocopy").unwrap().copy_data);

        let anon = parse_bind("/data").unwrap();
        assert_eq!((anon.kind, anon.name.as_str()), (MountType::Volume, ""));
        assert_eq!(
            parse_bind("/data:ro").unwrap_err().to_string(),
            "invalid volume specification: '/data:ro'"
        );
    }

    #[test]
    fn bad_binds_use_dockers_words() {
        assert_eq!(
            parse_bind("rel:x").unwrap_err().to_string(),
            "invalid volume specification: 'rel:x': invalid mount config for type \"volume\": invalid mount path: 'x' mount path must be absolute"
        );
        assert_eq!(
            parse_bind("a:/x:foo").unwrap_err().to_string(),
            "invalid mode: foo"
        );
        assert!(parse_bind("bad name:/x")
            .unwrap_err()
            .to_string()
            .starts_with("create bad name: \"bad name\" includes invalid characters"));
        assert_eq!(
            parse_bind("a:b:c:d").unwrap_err().to_string(),
            "invalid volume specification: 'a:b:c:d'"
        );
        assert_eq!(
            parse_bind("v1:/").unwrap_err().to_string(),
            "invalid specification: destination can't be '/'"
        );
    }

    #[test]
    fn mounts_validate_like_docker() {
        let err =
            parse_mount(&json!({"Type": "bind", "Source": "/nonexistent-berth", "Target": "/x"}))
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth"
        );
        let err =
            parse_mount(&json!({"Type": "tmpfs", "Source": "x", "Target": "/x"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid mount config for type \"tmpfs\": field Source must not be specified"
        );
        let t = parse_mount(&json!({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1777}}))
            .unwrap();
        assert_eq!(
            t.tmpfs_options,
            vec!["size=1m".to_string(), "mode=1777".into()]
        );
        let b = parse_mount(
            &json!({"Type": "bind", "Source": "/tmp", "Target": "/m", "ReadOnly": true}),
        )
        .unwrap();
        assert_eq!((b.rw, b.mode.as_str(), b.create_source), (false, "", false));
        let v = parse_mount(&json!({"Type": "volume", "Target": "/v"})).unwrap();
        assert_eq!((v.name.as_str(), v.mode.as_str()), ("", "z"));
    }

    #[test]
    fn plan_orders_and_overrides() {
        let req = Requests {
            volumes_from: vec!["other:ro".into()],
            binds: vec!["v1:/data".into(), "/tmp:/b".into()],
            mounts: vec![json!({"Type": "tmpfs", "Target": "/t"})],
            anonymous: vec!["/data".into(), "/anon".into()],
        };
        let from = |id: &str| -> Result<Vec<MountPoint>, VolumeError> {
            assert_eq!(id, "other");
            Ok(vec![MountPoint::volume("shared", "/shared", true, "z")])
        };
        let plan = plan(&req, &from).unwrap();
        let dsts: Vec<&str> = plan.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(dsts, ["/anon", "/b", "/data", "/shared", "/t"]);
        assert_eq!(plan[2].name, "v1");
        assert!(!plan[3].rw);
        assert_eq!(plan[3].mode, "");

        let dup = Requests {
            volumes_from: vec![],
            binds: vec!["v1:/x".into()],
            mounts: vec![json!({"Type": "tmpfs", "Target": "/x"})],
            anonymous: vec![],
        };
        assert_eq!(
            super::plan(&dup, &from).unwrap_err().to_string(),
            "Duplicate mount point: /x"
        );
    }
}
