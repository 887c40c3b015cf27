//! Volume metadata in SQLite (`data-root/berth.db`): the `volumes` table, and
//! `volume_mounts`, one row per mount point of a container, which is what makes
//! a volume "in use". Reference checks and changes happen under one lock and
//! in one transaction, so a volume cannot be removed while a container is
//! being created with it.

use super::parse::MountPoint;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// RFC 3339, seconds precision, as Docker shows it.
    pub created_at: String,
    /// Made for a container (`-v /path`, image VOLUME): `rm -v` and prune take it.
    pub anonymous: bool,
}

pub struct VolumeDb {
    conn: Mutex<Connection>,
}

impl VolumeDb {
    pub fn open(data_root: &Path) -> rusqlite::Result<VolumeDb> {
        let conn = crate::db::open(data_root)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS volumes (
                name       TEXT PRIMARY KEY,
                driver     TEXT NOT NULL,
                labels     TEXT NOT NULL,
                options    TEXT NOT NULL,
                created_at TEXT NOT NULL,
                anonymous  INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS volume_mounts (
                container_id TEXT NOT NULL,
                destination  TEXT NOT NULL,
                volume       TEXT,
                data         TEXT NOT NULL,
                PRIMARY KEY (container_id, destination)
            );
            CREATE INDEX IF NOT EXISTS volume_mounts_by_volume ON volume_mounts (volume);",
        )?;
        Ok(VolumeDb {
            conn: Mutex::new(conn),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic under the lock cannot leave a transaction half-applied:
        // rusqlite rolls back a dropped transaction.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

fn row_to_record(r: &rusqlite::Row) -> rusqlite::Result<VolumeRecord> {
    let labels: String = r.get(2)?;
    let options: String = r.get(3)?;
    Ok(VolumeRecord {
        name: r.get(0)?,
        driver: r.get(1)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        options: serde_json::from_str(&options).unwrap_or_default(),
        created_at: r.get(4)?,
        anonymous: r.get::<_, i64>(5)? != 0,
    })
}

const SELECT: &str = "SELECT name, driver, labels, options, created_at, anonymous FROM volumes";

pub fn get(conn: &Connection, name: &str) -> rusqlite::Result<Option<VolumeRecord>> {
    conn.query_row(
        &format!("{SELECT} WHERE name = ?1"),
        params![name],
        row_to_record,
    )
    .optional()
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<VolumeRecord>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY name"))?;
    let rows = stmt.query_map([], row_to_record)?;
    rows.collect()
}

/// Inserts unless a volume of that name exists; true when inserted.
pub fn insert(conn: &Connection, v: &VolumeRecord) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO volumes (name, driver, labels, options, created_at, anonymous)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            v.name,
            v.driver,
            to_json(&v.labels),
            to_json(&v.options),
            v.created_at,
            v.anonymous as i64
        ],
    )?;
    Ok(n > 0)
}

pub fn delete(conn: &Connection, name: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM volumes WHERE name = ?1", params![name])?;
    Ok(())
}

/// Containers whose mounts reference the volume.
pub fn users(conn: &Connection, name: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT DISTINCT container_id FROM volume_mounts WHERE volume = ?1 ORDER BY container_id",
    )?;
    let rows = stmt.query_map(params![name], |r| r.get(0))?;
    rows.collect()
}

pub fn insert_mounts(
    conn: &Connection,
    container_id: &str,
    mounts: &[MountPoint],
) -> rusqlite::Result<()> {
    for m in mounts {
        let volume = (m.kind == super::parse::MountType::Volume).then_some(m.name.as_str());
        conn.execute(
            "INSERT OR REPLACE INTO volume_mounts (container_id, destination, volume, data)
             VALUES (?1, ?2, ?3, ?4)",
            params![container_id, m.destination, volume, to_json(m)],
        )?;
    }
    Ok(())
}

pub fn mounts(conn: &Connection, container_id: &str) -> rusqlite::Result<Vec<MountPoint>> {
    // Cached: every container inspect and start asks.
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM volume_mounts WHERE container_id = ?1 ORDER BY destination",
    )?;
    let rows = stmt.query_map(params![container_id], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for data in rows {
        match serde_json::from_str(&data?) {
            Ok(m) => out.push(m),
            Err(e) => tracing::warn!("volume_mounts of {container_id}: bad record: {e}"),
        }
    }
    Ok(out)
}

pub fn delete_mounts(conn: &Connection, container_id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM volume_mounts WHERE container_id = ?1",
        params![container_id],
    )?;
    Ok(())
}

pub fn mount_owners(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT container_id FROM volume_mounts")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volumes::parse::parse_bind;

    fn record(name: &str) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            labels: BTreeMap::from([("a".into(), "b".into())]),
            options: BTreeMap::new(),
            created_at: "2024-01-01T00:00:00Z".into(),
            anonymous: false,
        }
    }

    #[test]
    fn volumes_and_references_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = VolumeDb::open(dir.path()).unwrap();
        let conn = db.lock();
        assert!(insert(&conn, &record("v1")).unwrap());
        assert!(
            !insert(&conn, &record("v1")).unwrap(),
            "second insert is a no-op"
        );
        assert_eq!(get(&conn, "v1").unwrap(), Some(record("v1")));
        assert_eq!(get(&conn, "nope").unwrap(), None);

        let mut mp = parse_bind("v1:/data").unwrap();
        mp.source = "/x/_data".into();
        insert_mounts(&conn, "c1", &[mp.clone(), parse_bind("/tmp:/b").unwrap()]).unwrap();
        assert_eq!(users(&conn, "v1").unwrap(), vec!["c1".to_string()]);
        assert_eq!(mounts(&conn, "c1").unwrap().len(), 2);
        assert_eq!(mount_owners(&conn).unwrap(), vec!["c1".to_string()]);
        delete_mounts(&conn, "c1").unwrap();
        assert!(users(&conn, "v1").unwrap().is_empty());
        delete(&conn, "v1").unwrap();
        assert!(list(&conn).unwrap().is_empty());
    }
}
