//! Container metadata in SQLite (`data-root/berth.db`, WAL). The database is
//! the truth: files a container needs are written before its row, and startup
//! reconciles rows with what is on disk and with the shims still running.

use crate::container::Container;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state store: bad record {id}: {source}")]
    Decode {
        id: String,
        source: serde_json::Error,
    },
    #[error("name in use")]
    NameInUse,
    /// Startup configuration that cannot be applied (e.g. a bad --bip).
    #[error("{0}")]
    Config(String),
}

pub struct Store {
    conn: Mutex<Connection>,
}

impl Store {
    pub fn open(data_root: &Path) -> Result<Store, StoreError> {
        let conn = crate::db::open(data_root)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS containers (
                id   TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                data TEXT NOT NULL
            );",
        )?;
        Ok(Store {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, c: &Container) -> Result<(), StoreError> {
        let data = serde_json::to_string(c).expect("container record serialises");
        match self.conn().execute(
            "INSERT INTO containers (id, name, data) VALUES (?1, ?2, ?3)",
            params![c.id, c.name, data],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::NameInUse)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn update(&self, c: &Container) -> Result<(), StoreError> {
        let data = serde_json::to_string(c).expect("container record serialises");
        match self.conn().execute(
            "UPDATE containers SET name = ?2, data = ?3 WHERE id = ?1",
            params![c.id, c.name, data],
        ) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::NameInUse)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM containers WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<Container>, StoreError> {
        let data: Option<String> = self
            .conn()
            .query_row(
                "SELECT data FROM containers WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        data.map(|d| {
            serde_json::from_str(&d).map_err(|source| StoreError::Decode {
                id: id.to_string(),
                source,
            })
        })
        .transpose()
    }

    pub fn load_all(&self) -> Result<Vec<Container>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id, data FROM containers")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, data) = row?;
            match serde_json::from_str(&data) {
                Ok(c) => out.push(c),
                Err(source) => tracing::warn!("{}", StoreError::Decode { id, source }),
            }
        }
        Ok(out)
    }
}
