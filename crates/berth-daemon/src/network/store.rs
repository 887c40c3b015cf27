//! Network records in SQLite (`data-root/berth.db`): networks, the networks
//! each container is meant to join (`net_attachments`, kept while the
//! container exists) and the live sandbox of each running container
//! (`net_sandboxes`: its namespace, endpoints and published ports), from which
//! IPAM state and nftables rules are rebuilt after a daemon restart.

use super::model::{Attachment, NetworkRec, Sandbox};
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::Mutex;

pub struct NetDb {
    conn: Mutex<Connection>,
}

pub struct Loaded {
    pub networks: Vec<NetworkRec>,
    pub attachments: Vec<(String, Attachment)>,
    pub sandboxes: Vec<Sandbox>,
}

fn json_err(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

impl NetDb {
    pub fn open(data_root: &Path) -> rusqlite::Result<NetDb> {
        let conn = crate::db::open(data_root)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS networks (
                id     TEXT PRIMARY KEY,
                name   TEXT NOT NULL UNIQUE,
                record TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS net_attachments (
                container_id TEXT NOT NULL,
                network_id   TEXT NOT NULL,
                record       TEXT NOT NULL,
                PRIMARY KEY (container_id, network_id)
            );
            CREATE TABLE IF NOT EXISTS net_sandboxes (
                container_id TEXT PRIMARY KEY,
                record       TEXT NOT NULL
            );",
        )?;
        Ok(NetDb {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn load(&self) -> rusqlite::Result<Loaded> {
        let c = self.conn();
        let mut networks = Vec::new();
        let mut st = c.prepare("SELECT record FROM networks")?;
        for r in st.query_map([], |r| r.get::<_, String>(0))? {
            networks.push(serde_json::from_str(&r?).map_err(json_err)?);
        }
        let mut attachments = Vec::new();
        let mut st =
            c.prepare("SELECT container_id, record FROM net_attachments ORDER BY rowid")?;
        for r in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (cid, rec) = r?;
            attachments.push((cid, serde_json::from_str(&rec).map_err(json_err)?));
        }
        let mut sandboxes = Vec::new();
        let mut st = c.prepare("SELECT record FROM net_sandboxes")?;
        for r in st.query_map([], |r| r.get::<_, String>(0))? {
            sandboxes.push(serde_json::from_str(&r?).map_err(json_err)?);
        }
        Ok(Loaded {
            networks,
            attachments,
            sandboxes,
        })
    }

    pub fn put_network(&self, n: &NetworkRec) -> rusqlite::Result<()> {
        let rec = serde_json::to_string(n).map_err(json_err)?;
        self.conn().execute(
            "INSERT OR REPLACE INTO networks (id, name, record) VALUES (?1, ?2, ?3)",
            params![n.id, n.name, rec],
        )?;
        Ok(())
    }

    pub fn delete_network(&self, id: &str) -> rusqlite::Result<()> {
        self.conn()
            .execute("DELETE FROM networks WHERE id = ?1", params![id])?;
        Ok(())
    }

    pub fn put_attachment(&self, cid: &str, a: &Attachment) -> rusqlite::Result<()> {
        let rec = serde_json::to_string(a).map_err(json_err)?;
        self.conn().execute(
            "INSERT OR REPLACE INTO net_attachments (container_id, network_id, record) VALUES (?1, ?2, ?3)",
            params![cid, a.network_id, rec],
        )?;
        Ok(())
    }

    pub fn delete_attachment(&self, cid: &str, network_id: &str) -> rusqlite::Result<()> {
        self.conn().execute(
            "DELETE FROM net_attachments WHERE container_id = ?1 AND network_id = ?2",
            params![cid, network_id],
        )?;
        Ok(())
    }

    pub fn delete_attachments(&self, cid: &str) -> rusqlite::Result<()> {
        self.conn().execute(
            "DELETE FROM net_attachments WHERE container_id = ?1",
            params![cid],
        )?;
        Ok(())
    }

    pub fn put_sandbox(&self, s: &Sandbox) -> rusqlite::Result<()> {
        let rec = serde_json::to_string(s).map_err(json_err)?;
        self.conn().execute(
            "INSERT OR REPLACE INTO net_sandboxes (container_id, record) VALUES (?1, ?2)",
            params![s.container_id, rec],
        )?;
        Ok(())
    }

    pub fn delete_sandbox(&self, cid: &str) -> rusqlite::Result<()> {
        self.conn().execute(
            "DELETE FROM net_sandboxes WHERE container_id = ?1",
            params![cid],
        )?;
        Ok(())
    }
}
