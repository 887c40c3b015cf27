//! Opening the daemon's SQLite database (`data-root/berth.db`). Every service
//! keeps its own connection to it, all with the same settings: WAL (readers
//! never block the writer) and `synchronous=NORMAL`, which in WAL mode keeps
//! the database consistent across a crash or power loss while sparing an
//! fsync per commit on the container start path.

use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

pub fn open(data_root: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(data_root.join("berth.db"))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}
