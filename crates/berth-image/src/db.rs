//! The image store's tables in the shared SQLite database. Names are
//! prefixed `image_`, `layer_`, `ref_` (the daemon owns the rest).

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::ImageError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS layer_layers (
    chain_id  TEXT PRIMARY KEY,
    diff_id   TEXT NOT NULL,
    parent    TEXT,
    cache_id  TEXT NOT NULL UNIQUE,
    link_id   TEXT NOT NULL,
    size      INTEGER NOT NULL,
    blob      TEXT,
    created   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS image_images (
    id            TEXT PRIMARY KEY,
    config        TEXT NOT NULL,
    parent        TEXT,
    created       INTEGER NOT NULL,
    last_tag_time TEXT
);
CREATE TABLE IF NOT EXISTS ref_refs (
    name      TEXT PRIMARY KEY,
    image_id  TEXT NOT NULL,
    is_digest INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS ref_refs_image ON ref_refs(image_id);
CREATE TABLE IF NOT EXISTS layer_rw (
    container_id TEXT PRIMARY KEY,
    image_id     TEXT NOT NULL,
    top_chain    TEXT
);
";

pub fn open(path: &std::path::Path) -> Result<Connection, ImageError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Starts a transaction that will write. Every service of the daemon has a
/// connection of its own to the same WAL database, and a deferred
/// transaction that reads first and then writes fails at once with
/// "database is locked" (SQLITE_BUSY_SNAPSHOT, which skips the busy
/// timeout) when another connection committed in between. An immediate
/// transaction takes the write lock up front, waiting out the busy timeout.
pub fn write_tx(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

#[derive(Clone, Debug)]
pub struct LayerRow {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    pub cache_id: String,
    pub link_id: String,
    pub size: i64,
    pub blob: Option<String>,
}

pub fn get_layer(conn: &Connection, chain_id: &str) -> Result<Option<LayerRow>, ImageError> {
    Ok(conn
        .prepare_cached(
            "SELECT chain_id, diff_id, parent, cache_id, link_id, size, blob FROM layer_layers WHERE chain_id = ?1",
        )?
        .query_row(
            [chain_id],
            |r| {
                Ok(LayerRow {
                    chain_id: r.get(0)?,
                    diff_id: r.get(1)?,
                    parent: r.get(2)?,
                    cache_id: r.get(3)?,
                    link_id: r.get(4)?,
                    size: r.get(5)?,
                    blob: r.get(6)?,
                })
            },
        )
        .optional()?)
}

pub fn insert_layer(conn: &Connection, l: &LayerRow) -> Result<(), ImageError> {
    conn.execute(
        "INSERT INTO layer_layers (chain_id, diff_id, parent, cache_id, link_id, size, blob, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            l.chain_id,
            l.diff_id,
            l.parent,
            l.cache_id,
            l.link_id,
            l.size,
            l.blob,
            chrono::Utc::now().to_rfc3339()
        ],
    )?;
    Ok(())
}

#[derive(Clone, Debug)]
pub struct ImageRow {
    pub id: String,
    pub config: String,
    pub parent: Option<String>,
    pub last_tag_time: Option<String>,
}

fn image_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRow> {
    Ok(ImageRow {
        id: r.get(0)?,
        config: r.get(1)?,
        parent: r.get(2)?,
        last_tag_time: r.get(3)?,
    })
}

pub fn get_image(conn: &Connection, id: &str) -> Result<Option<ImageRow>, ImageError> {
    Ok(conn
        .prepare_cached("SELECT id, config, parent, last_tag_time FROM image_images WHERE id = ?1")?
        .query_row([id], image_from_row)
        .optional()?)
}

pub fn all_images(conn: &Connection) -> Result<Vec<ImageRow>, ImageError> {
    let mut st = conn.prepare(
        "SELECT id, config, parent, last_tag_time FROM image_images ORDER BY created DESC, id",
    )?;
    let rows = st.query_map([], image_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ids starting with `prefix` (hex, no "sha256:").
pub fn image_ids_with_prefix(conn: &Connection, prefix: &str) -> Result<Vec<String>, ImageError> {
    let mut st = conn.prepare_cached("SELECT id FROM image_images WHERE substr(id, 8, ?2) = ?1")?;
    let rows = st.query_map(params![prefix, prefix.len() as i64], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert_image(
    conn: &Connection,
    id: &str,
    config: &str,
    parent: Option<&str>,
    created: i64,
) -> Result<bool, ImageError> {
    let n = conn.execute(
        "INSERT OR IGNORE INTO image_images (id, config, parent, created) VALUES (?1, ?2, ?3, ?4)",
        params![id, config, parent, created],
    )?;
    Ok(n > 0)
}

pub fn ref_target(conn: &Connection, name: &str) -> Result<Option<String>, ImageError> {
    Ok(conn
        .prepare_cached("SELECT image_id FROM ref_refs WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Points `name` at `image_id` (moving it from any previous image).
pub fn set_ref(
    conn: &Connection,
    name: &str,
    image_id: &str,
    is_digest: bool,
) -> Result<(), ImageError> {
    conn.execute(
        "INSERT INTO ref_refs (name, image_id, is_digest) VALUES (?1, ?2, ?3)
         ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, is_digest = excluded.is_digest",
        params![name, image_id, is_digest],
    )?;
    conn.execute(
        "UPDATE image_images SET last_tag_time = ?2 WHERE id = ?1",
        params![
            image_id,
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        ],
    )?;
    Ok(())
}

pub fn delete_ref(conn: &Connection, name: &str) -> Result<(), ImageError> {
    conn.execute("DELETE FROM ref_refs WHERE name = ?1", [name])?;
    Ok(())
}

/// (name, is_digest) of every reference to `image_id`, sorted.
pub fn refs_of(conn: &Connection, image_id: &str) -> Result<Vec<(String, bool)>, ImageError> {
    let mut st = conn
        .prepare_cached("SELECT name, is_digest FROM ref_refs WHERE image_id = ?1 ORDER BY name")?;
    let rows = st.query_map([image_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn children_of(conn: &Connection, image_id: &str) -> Result<Vec<String>, ImageError> {
    let mut st = conn.prepare_cached("SELECT id FROM image_images WHERE parent = ?1")?;
    let rows = st.query_map([image_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get_rw(
    conn: &Connection,
    container_id: &str,
) -> Result<Option<(String, Option<String>)>, ImageError> {
    Ok(conn
        .prepare_cached("SELECT image_id, top_chain FROM layer_rw WHERE container_id = ?1")?
        .query_row([container_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

#[cfg(test)]
mod write_tx_tests {
    use super::*;

    /// Two connections that each read, then write, in a loop: with deferred
    /// transactions one of them soon fails with "database is locked".
    #[test]
    fn concurrent_read_then_write_transactions_never_fail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (k INTEGER)")
            .unwrap();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || -> rusqlite::Result<()> {
                    let mut conn = open(&path).unwrap();
                    for _ in 0..300 {
                        let tx = write_tx(&mut conn)?;
                        let n: i64 = tx.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?;
                        tx.execute("INSERT INTO t VALUES (?1)", [n])?;
                        tx.commit()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap().unwrap();
        }
        let n: i64 = open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 600);
    }
}
