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
        self.conn()
            .query_row(
                "SELECT image FROM build_cache WHERE parent = ?1 AND key = ?2",
                params![parent, key],
                |r| r.get(0),
            )
            .optional()
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
}
