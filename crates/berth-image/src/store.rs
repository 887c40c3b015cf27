//! `ImageStore`: opening (schema, driver probe, crash cleanup), lookups by
//! reference/id/prefix, and tagging.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use rusqlite::Connection;

use crate::config::{ImageConfig, ImageJson};
use crate::content::ContentStore;
use crate::db::{self, ImageRow};
use crate::driver::Driver;
use crate::error::{ImageError, PathContext};
use crate::idmap::IdMap;
use crate::reference::{self, AnyReference, Reference};

/// An image as the daemon needs it to create containers.
#[derive(Clone, Debug)]
pub struct Image {
    /// `sha256:<hex>`
    pub id: String,
    pub config: ImageConfig,
    /// Familiar form: `busybox:latest`.
    pub repo_tags: Vec<String>,
}

/// A container's layers as (cache id, link id), top-most first.
pub(crate) type RwChain = Arc<Vec<(String, String)>>;

pub struct ImageStore {
    db: Mutex<Connection>,
    /// Layer creation (until an image row references the layer) holds this
    /// shared; deleting layers holds it exclusively, so a layer that an
    /// import is about to reference is never collected under it.
    layer_gc: RwLock<()>,
    pub(crate) content: ContentStore,
    pub(crate) driver: Driver,
    /// Each container's layer chain (cache id, link id), top-most first,
    /// once looked up: exec and inspect ask for it on every request, and it
    /// cannot change while the rw layer exists.
    pub(crate) rw_chains: Mutex<HashMap<String, RwChain>>,
}

impl ImageStore {
    pub fn open(data_root: &Path, driver: Option<&str>) -> Result<ImageStore, ImageError> {
        ImageStore::open_remapped(data_root, driver, None)
    }

    /// As [`ImageStore::open`], for a `--userns-remap` daemon: layers are
    /// unpacked with owners shifted by `ids` and archived shifted back.
    pub fn open_remapped(
        data_root: &Path,
        driver: Option<&str>,
        ids: Option<IdMap>,
    ) -> Result<ImageStore, ImageError> {
        fs::create_dir_all(data_root).at("creating", data_root)?;
        remove_stale_probes(data_root);
        let conn = db::open(&data_root.join("berth.db"))?;
        let content = ContentStore::open(data_root)?;
        let driver = Driver::open(data_root, driver)?.with_ids(ids);
        let store = ImageStore {
            db: Mutex::new(conn),
            layer_gc: RwLock::new(()),
            content,
            driver,
            rw_chains: Mutex::default(),
        };
        store.collect_garbage()?;
        Ok(store)
    }

    /// "overlay2" or "vfs".
    pub fn driver(&self) -> &str {
        self.driver.name()
    }

    /// The remapped daemon's id map, if any.
    pub fn id_map(&self) -> Option<&IdMap> {
        self.driver.ids()
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave the connection in a
        // state worse than SQLite's own transaction rollback, so recover.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Crash recovery: snapshot dirs that no layer or rw-layer row points to
    /// were left by an interrupted import/create/pull (a pull's staged
    /// layers are such dirs until their ordered commit) and are removed.
    fn collect_garbage(&self) -> Result<(), ImageError> {
        let conn = self.conn();
        let mut keep = HashSet::new();
        let mut st = conn.prepare(
            "SELECT cache_id FROM layer_layers UNION ALL SELECT container_id FROM layer_rw",
        )?;
        for id in st.query_map([], |r| r.get::<_, String>(0))? {
            keep.insert(id?);
        }
        drop(st);
        drop(conn);
        self.driver.gc(&keep);
        self.prune_layers()
    }

    pub(crate) fn layers_in_use(&self) -> RwLockReadGuard<'_, ()> {
        self.layer_gc.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn layers_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.layer_gc.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn layers_try_exclusive(&self) -> Option<RwLockWriteGuard<'_, ()>> {
        match self.layer_gc.try_write() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// The blob store, for save/load/push/pull.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    pub fn resolve(&self, name: &str) -> Result<Image, ImageError> {
        let conn = self.conn();
        let row = lookup(&conn, name)?;
        let repo_tags = repo_tags(&conn, &row.id)?;
        let json = parse_config(&row)?;
        Ok(Image {
            id: row.id,
            config: json.config,
            repo_tags,
        })
    }

    pub fn tag(&self, source: &str, repo: &str, tag: Option<&str>) -> Result<(), ImageError> {
        let target = tag_reference(repo, tag)?;
        let mut conn = self.conn();
        let row = lookup(&conn, source)?;
        let tx = crate::db::write_tx(&mut conn)?;
        db::set_ref(&tx, &target.to_string(), &row.id, false)?;
        tx.commit()?;
        Ok(())
    }
}

/// Docker's checks for `POST /images/{name}/tag?repo=&tag=`.
pub(crate) fn tag_reference(repo: &str, tag: Option<&str>) -> Result<Reference, ImageError> {
    let r = reference::parse_normalized_named(repo)?;
    if r.digest.is_some() {
        return Err(ImageError::invalid(
            "refusing to create a tag with a digest reference",
        ));
    }
    let r = match tag {
        Some(t) if !t.is_empty() => r.with_tag(t)?,
        _ => r.with_default_tag(),
    };
    if r.familiar_name() == "scratch" {
        return Err(ImageError::invalid("'scratch' is a reserved name"));
    }
    Ok(r)
}

fn remove_stale_probes(data_root: &Path) {
    if let Ok(entries) = fs::read_dir(data_root) {
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(".overlay-probe-")
            {
                let _ =
                    nix::mount::umount2(&e.path().join("merged"), nix::mount::MntFlags::MNT_DETACH);
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

pub(crate) fn parse_config(row: &ImageRow) -> Result<ImageJson, ImageError> {
    serde_json::from_str(&row.config)
        .map_err(|e| ImageError::Internal(format!("corrupt config of image {}: {e}", row.id)))
}

/// Familiar `repo:tag` names of an image (digest refs excluded).
pub(crate) fn repo_tags(conn: &Connection, id: &str) -> Result<Vec<String>, ImageError> {
    Ok(db::refs_of(conn, id)?
        .into_iter()
        .filter(|(_, d)| !d)
        .map(|(n, _)| familiar(&n))
        .collect())
}

pub(crate) fn repo_digests(conn: &Connection, id: &str) -> Result<Vec<String>, ImageError> {
    Ok(db::refs_of(conn, id)?
        .into_iter()
        .filter(|(_, d)| *d)
        .map(|(n, _)| familiar(&n))
        .collect())
}

pub(crate) fn familiar(stored: &str) -> String {
    reference::parse_normalized_named(stored)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| stored.to_string())
}

/// Finds an image by reference, full id or unique id prefix (Docker's GetImage).
pub(crate) fn lookup(conn: &Connection, name: &str) -> Result<ImageRow, ImageError> {
    let not_found_name = match reference::parse_any(name)? {
        AnyReference::Id(id) => {
            return db::get_image(conn, &id)?
                .ok_or_else(|| ImageError::NoSuchImage(name.to_string()))
        }
        AnyReference::Named(r) => {
            let r = r.with_default_tag();
            if let Some(id) = db::ref_target(conn, &r.to_string())? {
                if let Some(row) = db::get_image(conn, &id)? {
                    return Ok(row);
                }
            }
            r.familiar_string()
        }
    };
    if reference::is_short_id(name) {
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        let ids = db::image_ids_with_prefix(conn, hex)?;
        if let [only] = ids.as_slice() {
            if let Some(row) = db::get_image(conn, only)? {
                return Ok(row);
            }
        }
    }
    Err(ImageError::NoSuchImage(not_found_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_send_and_sync() {
        // The daemon shares one store across blocking threads.
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ImageStore>();
    }

    #[test]
    fn tag_reference_validation() {
        assert_eq!(
            tag_reference("imp", Some("v2")).unwrap().to_string(),
            "docker.io/library/imp:v2"
        );
        assert_eq!(
            tag_reference("imp", None).unwrap().tag.as_deref(),
            Some("latest")
        );
        assert_eq!(
            tag_reference("Imp", None).unwrap_err().to_string(),
            "invalid reference format: repository name must be lowercase"
        );
        assert_eq!(
            tag_reference("imp", Some("-x")).unwrap_err().to_string(),
            "invalid tag format"
        );
        assert!(tag_reference("scratch", None).is_err());
    }
}
