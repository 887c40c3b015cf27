//! Volumes (local driver) and the mounts of containers.
//!
//! A volume is a row in the `volumes` table and a directory
//! `data-root/volumes/<name>/_data`; the directory is made before the row and
//! removed after it, so a crash leaves at most an orphan directory, which
//! [`Volumes::gc`] collects at startup. A container's resolved mount points
//! are rows of `volume_mounts`, written before the container's own row; they
//! are what makes a volume "in use".

pub mod copyup;
pub mod parse;
pub mod store;

use crate::error::ApiError;
use axum::http::StatusCode;
use berth_image::SnapshotMount;
use parse::{MountPoint, MountType, Requests};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use store::{VolumeDb, VolumeRecord};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("volume store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl VolumeError {
    pub fn invalid(m: impl Into<String>) -> VolumeError {
        VolumeError::Invalid(m.into())
    }
    fn io(context: impl Into<String>, source: std::io::Error) -> VolumeError {
        VolumeError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> ApiError {
        let status = match &e {
            VolumeError::Invalid(_) => StatusCode::BAD_REQUEST,
            VolumeError::NotFound(_) => StatusCode::NOT_FOUND,
            VolumeError::Conflict(_) => StatusCode::CONFLICT,
            VolumeError::Sql(_) | VolumeError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

type Result<T> = std::result::Result<T, VolumeError>;

/// Options the local driver understands (`-o type=tmpfs -o device=tmpfs -o o=size=1m`).
const LOCAL_OPTIONS: &[&str] = &["type", "device", "o", "size"];

fn random_name() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// What `POST /volumes/create` asks for.
#[derive(Debug, Default)]
pub struct CreateRequest {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

pub struct Volumes {
    root: PathBuf,
    db: VolumeDb,
    /// `--userns-remap`: (uid, gid) of the remapped root, who owns `_data`.
    owner: Option<(u32, u32)>,
}

impl Volumes {
    /// Opens the tables; `data-root/volumes` is made with the first volume.
    pub fn open(data_root: &Path) -> rusqlite::Result<Volumes> {
        Ok(Volumes {
            root: data_root.join("volumes"),
            db: VolumeDb::open(data_root)?,
            owner: None,
        })
    }

    /// New volumes' `_data` belongs to `owner` so a remapped container's
    /// root can write to it, as with Docker.
    pub fn owned_by(mut self, owner: Option<(u32, u32)>) -> Volumes {
        self.owner = owner;
        self
    }

    fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    /// Docker's volume JSON.
    pub fn to_json(&self, v: &VolumeRecord) -> Value {
        let map_or_null = |m: &BTreeMap<String, String>| {
            if m.is_empty() {
                Value::Null
            } else {
                json!(m)
            }
        };
        json!({
            "CreatedAt": v.created_at,
            "Driver": v.driver,
            "Labels": map_or_null(&v.labels),
            "Mountpoint": self.data_dir(&v.name).to_string_lossy(),
            "Name": v.name,
            "Options": map_or_null(&v.options),
            "Scope": "local",
        })
    }

    /// Makes the directory, then the row; returns the existing volume if the
    /// name is taken. Runs under the caller's connection (and transaction).
    fn ensure(
        &self,
        conn: &rusqlite::Connection,
        req: CreateRequest,
        anonymous: bool,
        made: &mut Vec<PathBuf>,
    ) -> Result<VolumeRecord> {
        let name = if req.name.is_empty() {
            random_name()
        } else {
            req.name
        };
        let fail = |m: String| VolumeError::invalid(format!("create {name}: {m}"));
        if !req.driver.is_empty() && req.driver != "local" {
            return Err(VolumeError::NotFound(format!(
                "create {name}: error looking up volume plugin {d}: plugin \"{d}\" not found",
                d = req.driver
            )));
        }
        parse::validate_volume_name(&name)?;
        if let Some(existing) = store::get(conn, &name)? {
            return Ok(existing);
        }
        if let Some(bad) = req
            .options
            .keys()
            .find(|k| !LOCAL_OPTIONS.contains(&k.as_str()))
        {
            return Err(fail(format!("invalid option: \"{bad}\"")));
        }
        if req.options.contains_key("device") != req.options.contains_key("type") {
            return Err(fail(
                "missing required option: \"type\" and \"device\" go together".into(),
            ));
        }
        let rec = VolumeRecord {
            name: name.clone(),
            driver: "local".into(),
            labels: req.labels,
            options: req.options,
            created_at: now(),
            anonymous,
        };
        let dir = self.data_dir(&name);
        std::fs::create_dir_all(&dir).map_err(|e| {
            VolumeError::io(format!("create {name}: creating {}", dir.display()), e)
        })?;
        made.push(self.root.join(&name));
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(|e| {
                VolumeError::io(format!("create {name}: chown {}", dir.display()), e)
            })?;
        }
        store::insert(conn, &rec)?;
        Ok(rec)
    }

    /// POST /volumes/create
    pub fn create(&self, req: CreateRequest) -> Result<Value> {
        let conn = self.db.lock();
        let mut made = Vec::new();
        match self.ensure(&conn, req, false, &mut made) {
            Ok(rec) => Ok(self.to_json(&rec)),
            Err(e) => {
                remove_dirs(&made);
                Err(e)
            }
        }
    }

    /// GET /volumes/{name}
    pub fn inspect(&self, name: &str) -> Result<Value> {
        let conn = self.db.lock();
        store::get(&conn, name)?
            .map(|v| self.to_json(&v))
            .ok_or_else(|| VolumeError::NotFound(format!("get {name}: no such volume")))
    }

    /// GET /volumes with Docker's filters (name, label, dangling, driver).
    pub fn list(&self, filters: &HashMap<String, Vec<String>>) -> Result<Vec<Value>> {
        for (k, vals) in filters {
            match k.as_str() {
                "name" | "label" | "driver" => {}
                "dangling" => {
                    if let Some(bad) = vals
                        .iter()
                        .find(|v| !matches!(v.as_str(), "true" | "false" | "1" | "0"))
                    {
                        return Err(VolumeError::invalid(format!(
                            "Invalid filter 'dangling={bad}'"
                        )));
                    }
                }
                other => return Err(VolumeError::invalid(format!("Invalid filter '{other}'"))),
            }
        }
        let conn = self.db.lock();
        let mut out = Vec::new();
        for v in store::list(&conn)? {
            let dangling = store::users(&conn, &v.name)?.is_empty();
            let keep = filters.iter().all(|(k, vals)| {
                vals.is_empty()
                    || match k.as_str() {
                        "name" => vals
                            .iter()
                            .any(|p| crate::humanize::regex_like_match(p, &v.name)),
                        "driver" => vals
                            .iter()
                            .any(|p| crate::humanize::regex_like_match(p, &v.driver)),
                        "label" => label_match(&v.labels, vals),
                        "dangling" => vals
                            .iter()
                            .any(|d| matches!(d.as_str(), "true" | "1") == dangling),
                        _ => true,
                    }
            });
            if keep {
                out.push(self.to_json(&v));
            }
        }
        Ok(out)
    }

    /// Every volume with Docker's `UsageData` (`system df`): the bytes in
    /// it and how many containers use it.
    pub fn list_with_usage(&self) -> Result<Vec<Value>> {
        let conn = self.db.lock();
        let mut out = Vec::new();
        for v in store::list(&conn)? {
            let refs = store::users(&conn, &v.name)?.len();
            let mut j = self.to_json(&v);
            let size = crate::prune::dir_size(&self.data_dir(&v.name));
            j["UsageData"] = json!({"RefCount": refs, "Size": size});
            out.push(j);
        }
        Ok(out)
    }

    /// DELETE /volumes/{name}: refused while any container references it.
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let conn = self.db.lock();
        if store::get(&conn, name)?.is_none() {
            if force {
                return Ok(());
            }
            return Err(VolumeError::NotFound(format!("get {name}: no such volume")));
        }
        let users = store::users(&conn, name)?;
        if !users.is_empty() {
            return Err(VolumeError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        store::delete(&conn, name)?;
        drop(conn);
        remove_dirs(&[self.root.join(name)]);
        Ok(())
    }

    /// POST /volumes/prune: unused anonymous volumes, or all unused ones
    /// with `all=true` (API 1.42+); `label` / `label!` narrow it.
    pub fn prune(&self, filters: &HashMap<String, Vec<String>>) -> Result<(Vec<String>, u64)> {
        let mut all = false;
        for (k, vals) in filters {
            match k.as_str() {
                "label" | "label!" => {}
                "all" => all = vals.iter().any(|v| matches!(v.as_str(), "true" | "1")),
                other => return Err(VolumeError::invalid(format!("Invalid filter '{other}'"))),
            }
        }
        let conn = self.db.lock();
        let mut gone = Vec::new();
        for v in store::list(&conn)? {
            if !(all || v.anonymous) || !store::users(&conn, &v.name)?.is_empty() {
                continue;
            }
            if let Some(want) = filters.get("label").filter(|l| !l.is_empty()) {
                if !label_match(&v.labels, want) {
                    continue;
                }
            }
            if let Some(not) = filters.get("label!").filter(|l| !l.is_empty()) {
                if not
                    .iter()
                    .any(|l| label_match(&v.labels, std::slice::from_ref(l)))
                {
                    continue;
                }
            }
            store::delete(&conn, &v.name)?;
            gone.push(v.name);
        }
        drop(conn);
        let mut reclaimed = 0;
        for name in &gone {
            reclaimed += dir_size(&self.root.join(name));
        }
        remove_dirs(&gone.iter().map(|n| self.root.join(n)).collect::<Vec<_>>());
        Ok((gone, reclaimed))
    }

    /// Resolves a new container's mounts, creating the named and anonymous
    /// volumes they need, and records them as the container's. On error
    /// nothing is left behind. `mounts_of` resolves a `--volumes-from` name
    /// to a container id.
    pub fn prepare(
        &self,
        container_id: &str,
        config: &Map<String, Value>,
        host_config: &Map<String, Value>,
        container_of: &dyn Fn(&str) -> std::result::Result<String, ApiError>,
    ) -> std::result::Result<Vec<MountPoint>, ApiError> {
        let req = Requests::from_config(config, host_config);
        let from = |name: &str| -> Result<Vec<MountPoint>> {
            // Docker answers 400 here: a 404 would make the CLI try to pull the image.
            let id = container_of(name).map_err(|e| VolumeError::Invalid(e.message))?;
            Ok(store::mounts(&self.db.lock(), &id)?)
        };
        let mut plan = parse::plan(&req, &from)?;
        let mut conn = self.db.lock();
        let mut made = Vec::new();
        let result = (|| -> Result<()> {
            let tx = berth_image::write_tx(&mut conn)?;
            for mp in plan.iter_mut().filter(|m| m.kind == MountType::Volume) {
                let anonymous = mp.name.is_empty();
                let rec = self.ensure(
                    &tx,
                    CreateRequest {
                        name: mp.name.clone(),
                        ..Default::default()
                    },
                    anonymous,
                    &mut made,
                )?;
                mp.name = rec.name.clone();
                mp.source = self.data_dir(&rec.name).to_string_lossy().into_owned();
            }
            store::insert_mounts(&tx, container_id, &plan)?;
            tx.commit()?;
            Ok(())
        })();
        drop(conn);
        if let Err(e) = result {
            remove_dirs(&made);
            return Err(e.into());
        }
        Ok(plan)
    }

    /// Forgets a removed container's mounts; with `remove_anonymous` (rm -v,
    /// --rm) also its anonymous volumes that no other container uses.
    pub fn release(&self, container_id: &str, remove_anonymous: bool) {
        let r = (|| -> Result<Vec<String>> {
            let mut conn = self.db.lock();
            let tx = berth_image::write_tx(&mut conn)?;
            let mounts = store::mounts(&tx, container_id)?;
            store::delete_mounts(&tx, container_id)?;
            let mut gone = Vec::new();
            if remove_anonymous {
                for m in mounts.iter().filter(|m| m.kind == MountType::Volume) {
                    let anon = store::get(&tx, &m.name)?.is_some_and(|v| v.anonymous);
                    if anon && store::users(&tx, &m.name)?.is_empty() {
                        store::delete(&tx, &m.name)?;
                        gone.push(m.name.clone());
                    }
                }
            }
            tx.commit()?;
            Ok(gone)
        })();
        match r {
            Ok(gone) => remove_dirs(&gone.iter().map(|n| self.root.join(n)).collect::<Vec<_>>()),
            Err(e) => tracing::warn!("releasing mounts of {container_id}: {e}"),
        }
    }

    /// The container's mount points as inspect and ps show them.
    pub fn mounts_json(&self, container_id: &str) -> Value {
        let mounts = store::mounts(&self.db.lock(), container_id).unwrap_or_default();
        Value::Array(mounts.iter().map(mount_json).collect())
    }

    /// Readies the container's mounts for a start (missing `-v` bind sources
    /// made, empty volumes filled from the image) and returns them as OCI mounts.
    pub fn setup(
        &self,
        container_id: &str,
        rootfs: &SnapshotMount,
        scratch: &Path,
    ) -> Result<Vec<Value>> {
        let (mounts, options) = {
            let conn = self.db.lock();
            let mounts = store::mounts(&conn, container_id)?;
            let mut options = HashMap::new();
            for m in mounts.iter().filter(|m| m.kind == MountType::Volume) {
                if let Some(v) = store::get(&conn, &m.name)? {
                    options.insert(m.name.clone(), v.options);
                }
            }
            (mounts, options)
        };
        let mut jobs = Vec::new();
        for m in &mounts {
            match m.kind {
                MountType::Bind if m.create_source && !Path::new(&m.source).exists() => {
                    std::fs::create_dir_all(&m.source).map_err(|e| {
                        VolumeError::io(
                            format!("error while creating mount source path '{}'", m.source),
                            e,
                        )
                    })?;
                }
                MountType::Volume => {
                    if !options.contains_key(&m.name) {
                        return Err(VolumeError::NotFound(format!(
                            "get {}: no such volume",
                            m.name
                        )));
                    }
                    let plain = !options[&m.name].contains_key("type");
                    if plain && m.copy_data && copyup::is_empty_dir(Path::new(&m.source)) {
                        jobs.push(copyup::Job {
                            image_path: m.destination.clone(),
                            volume_dir: PathBuf::from(&m.source),
                        });
                    }
                }
                _ => {}
            }
        }
        copyup::copy_up(rootfs, scratch, jobs)
            .map_err(|e| VolumeError::io("copying image content into a volume", e))?;
        Ok(mounts
            .iter()
            .map(|m| oci_mount(m, options.get(&m.name)))
            .collect())
    }

    /// Startup: drops mount rows of containers that no longer exist and
    /// volume directories no row points to (left by a crash mid-create).
    pub fn gc(&self, containers: &HashSet<String>) {
        let r = (|| -> Result<()> {
            let conn = self.db.lock();
            for id in store::mount_owners(&conn)? {
                if !containers.contains(&id) {
                    store::delete_mounts(&conn, &id)?;
                }
            }
            let known: HashSet<String> = store::list(&conn)?.into_iter().map(|v| v.name).collect();
            drop(conn);
            if let Ok(entries) = std::fs::read_dir(&self.root) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !known.contains(&name) {
                        tracing::info!("removing orphan volume directory {name}");
                        remove_dirs(&[e.path()]);
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            tracing::warn!("volume gc: {e}");
        }
    }
}

fn label_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
        None => labels.contains_key(w.as_str()),
    })
}

fn remove_dirs(dirs: &[PathBuf]) {
    for d in dirs {
        if let Err(e) = std::fs::remove_dir_all(d) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", d.display());
            }
        }
    }
}

fn dir_size(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(p)
        .map(|it| it.flatten().map(|e| dir_size(&e.path())).sum())
        .unwrap_or(0)
}

/// One entry of inspect's `Mounts`.
pub fn mount_json(m: &MountPoint) -> Value {
    let mut v = json!({
        "Type": m.kind.as_str(),
        "Source": m.source,
        "Destination": m.destination,
        "Mode": m.mode,
        "RW": m.rw,
        "Propagation": m.propagation,
    });
    if m.kind == MountType::Volume {
        v["Name"] = json!(m.name);
        v["Driver"] = json!("local");
    }
    v
}

/// The OCI mount for a mount point. A local volume with `type`/`device`
/// options is mounted as that filesystem (per container), as `mount -t` would.
fn oci_mount(m: &MountPoint, volume_options: Option<&BTreeMap<String, String>>) -> Value {
    let rw = if m.rw { "rw" } else { "ro" };
    match m.kind {
        MountType::Tmpfs => {
            let mut opts = vec!["nosuid".to_string(), "nodev".into(), "noexec".into()];
            opts.extend(m.tmpfs_options.iter().cloned());
            opts.push(rw.into());
            json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts})
        }
        _ => {
            if let Some(o) = volume_options.filter(|o| o.contains_key("type")) {
                let mut opts: Vec<String> = o
                    .get("o")
                    .map(|s| {
                        s.split(',')
                            .filter(|x| !x.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default();
                let typ = if opts.iter().any(|x| x == "bind" || x == "rbind") {
                    "bind"
                } else {
                    o["type"].as_str()
                };
                opts.push(rw.into());
                return json!({"destination": m.destination, "type": typ,
                    "source": o.get("device").cloned().unwrap_or_default(), "options": opts});
            }
            let propagation = if m.propagation.is_empty() {
                "rprivate"
            } else {
                m.propagation.as_str()
            };
            json!({"destination": m.destination, "type": "bind", "source": m.source,
                "options": ["rbind", propagation, rw]})
        }
    }
}

fn depth(dest: &str) -> usize {
    dest.split('/').filter(|s| !s.is_empty()).count()
}

/// Puts the container's mounts into the spec: a user mount replaces a
/// default one at the same place, and parents are mounted before children
/// (a volume on /etc goes under the /etc/hosts bind, not over it).
pub fn merge_into_spec(
    spec: &mut oci_spec::runtime::Spec,
    extra: Vec<Value>,
) -> std::result::Result<(), String> {
    let extra: Vec<oci_spec::runtime::Mount> = extra
        .into_iter()
        .map(serde_json::from_value)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| format!("building mounts: {e}"))?;
    if extra.is_empty() {
        return Ok(());
    }
    let mut all = spec.mounts().clone().unwrap_or_default();
    all.retain(|d| !extra.iter().any(|m| m.destination() == d.destination()));
    all.extend(extra);
    all.sort_by_key(|m| depth(&m.destination().to_string_lossy()));
    spec.set_mounts(Some(all));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volumes() -> (tempfile::TempDir, Volumes) {
        let dir = tempfile::tempdir().unwrap();
        let v = Volumes::open(dir.path()).unwrap();
        (dir, v)
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn no_containers(name: &str) -> std::result::Result<String, ApiError> {
        Err(ApiError::no_such_container(name))
    }

    #[test]
    fn create_inspect_remove() {
        let (_d, vols) = volumes();
        let v = vols
            .create(CreateRequest {
                name: "v1".into(),
                labels: BTreeMap::from([("a".into(), "b".into())]),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(v["Name"], "v1");
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["Labels"]["a"], "b");
        assert_eq!(v["Options"], Value::Null);
        assert!(Path::new(v["Mountpoint"].as_str().unwrap()).is_dir());
        // Creating again returns the existing volume.
        assert_eq!(
            vols.create(CreateRequest {
                name: "v1".into(),
                ..Default::default()
            })
            .unwrap(),
            v
        );
        let err = vols
            .create(CreateRequest {
                name: "x1".into(),
                driver: "foo".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "create x1: error looking up volume plugin foo: plugin \"foo\" not found"
        );
        let err = vols
            .create(CreateRequest {
                name: "x2".into(),
                options: BTreeMap::from([("foo".into(), "bar".into())]),
                ..Default::default()
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "create x2: invalid option: \"foo\"");
        assert!(vols.inspect("x2").is_err(), "failed create leaves nothing");
        vols.remove("v1", false).unwrap();
        assert_eq!(
            vols.inspect("v1").unwrap_err().to_string(),
            "get v1: no such volume"
        );
        assert!(!Path::new(v["Mountpoint"].as_str().unwrap()).exists());
        vols.remove("v1", true).unwrap();
    }

    #[test]
    fn container_references_block_removal_and_rm_v_cleans_anonymous() {
        let (_d, vols) = volumes();
        let config = obj(json!({"Volumes": {"/anon": {}}}));
        let hc = obj(json!({"Binds": ["named:/data"]}));
        let mounts = vols.prepare("c1", &config, &hc, &no_containers).unwrap();
        assert_eq!(mounts.len(), 2);
        let anon = mounts
            .iter()
            .find(|m| m.destination == "/anon")
            .unwrap()
            .name
            .clone();
        assert_eq!(anon.len(), 64);
        let err = vols.remove("named", false).unwrap_err();
        assert_eq!(err.to_string(), "remove named: volume is in use - [c1]");
        assert_eq!(ApiError::from(err).status, StatusCode::CONFLICT);
        let dangling = vols
            .list(&HashMap::from([("dangling".into(), vec!["true".into()])]))
            .unwrap();
        assert!(dangling.is_empty());

        // Another container shares the anonymous volume through --volumes-from.
        let c1 = |n: &str| {
            if n == "first" {
                Ok("c1".to_string())
            } else {
                no_containers(n)
            }
        };
        let hc2 = obj(json!({"VolumesFrom": ["first:ro"]}));
        let m2 = vols.prepare("c2", &Map::new(), &hc2, &c1).unwrap();
        assert!(m2.iter().all(|m| !m.rw));
        let err = vols
            .prepare(
                "c3",
                &Map::new(),
                &obj(json!({"VolumesFrom": ["nope"]})),
                &c1,
            )
            .unwrap_err();
        assert_eq!(
            (err.status, err.message.as_str()),
            (StatusCode::BAD_REQUEST, "No such container: nope")
        );

        vols.release("c1", true);
        assert!(vols.inspect(&anon).is_ok(), "still used by c2");
        vols.release("c2", true);
        assert!(
            vols.inspect(&anon).is_err(),
            "anonymous volume removed with its last user"
        );
        assert!(vols.inspect("named").is_ok(), "named volumes survive rm -v");
        vols.remove("named", false).unwrap();
    }

    #[test]
    fn failed_prepare_leaves_nothing() {
        let (_d, vols) = volumes();
        let hc = obj(
            json!({"Binds": ["fresh:/a"], "Mounts": [{"Type": "bind", "Source": "/nonexistent-berth", "Target": "/b"}]}),
        );
        assert!(vols
            .prepare("c1", &Map::new(), &hc, &no_containers)
            .is_err());
        assert!(vols.list(&HashMap::new()).unwrap().is_empty());
    }

    #[test]
    fn prune_takes_unused_anonymous_volumes() {
        let (_d, vols) = volumes();
        vols.create(CreateRequest {
            name: "keep".into(),
            ..Default::default()
        })
        .unwrap();
        let config = obj(json!({"Volumes": {"/anon": {}}}));
        vols.prepare("c1", &config, &Map::new(), &no_containers)
            .unwrap();
        assert!(vols.prune(&HashMap::new()).unwrap().0.is_empty(), "in use");
        vols.release("c1", false);
        let (gone, _) = vols.prune(&HashMap::new()).unwrap();
        assert_eq!(gone.len(), 1);
        let (gone, _) = vols
            .prune(&HashMap::from([("all".into(), vec!["true".into()])]))
            .unwrap();
        assert_eq!(gone, vec!["keep".to_string()]);
    }

    #[test]
    fn inspect_json_has_dockers_shape() {
        let m = parse::parse_bind("/h:/c:ro").unwrap();
        assert_eq!(
            mount_json(&m),
            json!({"Type": "bind", "Source": "/h", "Destination": "/c", "Mode": "ro", "RW": false, "Propagation": "rprivate"})
        );
        let v = parse::parse_bind("v1:/d").unwrap();
        assert_eq!(mount_json(&v)["Name"], "v1");
        assert_eq!(mount_json(&v)["Driver"], "local");
        let oci = oci_mount(&m, None);
        assert_eq!(oci["options"], json!(["rbind", "rprivate", "ro"]));
    }
}
