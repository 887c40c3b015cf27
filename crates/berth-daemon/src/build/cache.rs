//! The build cache index: `(parent image, step key) -> child image`, in the
//! daemon's `berth.db` (table `build_cache`, owned by the builder). A row is
//! only a hint: a hit counts when the image still exists.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

/// Behind a mutex: the executor holds it across awaits, so it must be Sync.
pub struct BuildCache {
    conn: std::sync::Mutex<Connection>,
}

impl BuildCache {
    pub fn open(data_root: &Path) -> rusqlite::Result<BuildCache> {
        let conn = crate::db::open(data_root)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS build_cache (
                parent TEXT NOT NULL,
                key TEXT NOT NULL,
                image TEXT NOT NULL,
                PRIMARY KEY (parent, key)
            )",
        )?;
        Ok(BuildCache {
            conn: std::sync::Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, parent: &str, key: &str) -> Option<String> {
        let conn = self.conn();
        conn.prepare_cached("SELECT image FROM build_cache WHERE parent = ?1 AND key = ?2")
            .and_then(|mut st| st.query_row(params![parent, key], |r| r.get(0)).optional())
            .unwrap_or_else(|e| {
                tracing::warn!("reading the build cache: {e}");
                None
            })
    }

    pub fn put(&self, parent: &str, key: &str, image: &str) {
        if let Err(e) = self.conn().execute(
            "INSERT OR REPLACE INTO build_cache (parent, key, image) VALUES (?1, ?2, ?3)",
            params![parent, key, image],
        ) {
            tracing::warn!("writing the build cache: {e}");
        }
    }

    /// The image of every row.
    pub fn images(&self) -> rusqlite::Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT DISTINCT image FROM build_cache")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect()
    }

    /// Drops the rows pointing at `images`, or every row when `None`;
    /// returns how many went.
    pub fn forget(&self, images: Option<&[String]>) -> rusqlite::Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = match images {
            None => tx.execute("DELETE FROM build_cache", [])?,
            Some(list) => {
                let mut st = tx.prepare("DELETE FROM build_cache WHERE image = ?1")?;
                let mut n = 0;
                for image in list {
                    n += st.execute([image])?;
                }
                n
            }
        };
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().unwrap();
        let c = BuildCache::open(d.path()).unwrap();
        assert_eq!(c.get("p", "k"), None);
        c.put("p", "k", "sha256:1");
        c.put("p", "k", "sha256:2");
        assert_eq!(c.get("p", "k").as_deref(), Some("sha256:2"));
    }

    #[test]
    fn forgets_rows_by_image_or_all() {
        let d = tempfile::tempdir().unwrap();
        let c = BuildCache::open(d.path()).unwrap();
        c.put("p", "k1", "sha256:1");
        c.put("p", "k2", "sha256:2");
        c.put("q", "k1", "sha256:2");
        let mut images = c.images().unwrap();
        images.sort();
        assert_eq!(images, ["sha256:1", "sha256:2"]);
        assert_eq!(c.forget(Some(&["sha256:2".to_string()])).unwrap(), 2);
        assert_eq!(c.get("q", "k1"), None);
        assert_eq!(c.get("p", "k1").as_deref(), Some("sha256:1"));
        assert_eq!(c.forget(None).unwrap(), 1);
        assert!(c.images().unwrap().is_empty());
    }
}
