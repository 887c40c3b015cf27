//! The event log behind `GET /events`: every container and image change is
//! published to live subscribers, kept in a bounded in-memory ring for quick
//! `--since` replays, and written to a bounded SQLite table so history
//! survives a daemon restart.

use crate::container::Container;
use rusqlite::{params, Connection};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::broadcast;

/// Events kept in memory (Docker keeps 256; a little more costs nothing).
const RING_SIZE: usize = 1024;
/// Rows kept on disk; older ones are trimmed as new ones arrive.
const DB_KEEP: i64 = 10_000;
/// How often (in events) the table is trimmed.
const TRIM_EVERY: u64 = 256;

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Monotonic across restarts: lets a subscriber drop replayed duplicates.
    pub seq: u64,
    pub typ: String,
    pub action: String,
    pub id: String,
    pub attributes: BTreeMap<String, String>,
    pub time_nano: i64,
}

impl Event {
    /// Docker's JSON message, with the pre-1.22 `status`/`id`/`from` fields
    /// the stock CLI still reads for containers and images.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.typ == "container" || self.typ == "image" {
            m.insert("status".into(), json!(self.action));
            m.insert("id".into(), json!(self.id));
            if self.typ == "container" {
                if let Some(img) = self.attributes.get("image") {
                    m.insert("from".into(), json!(img));
                }
            }
        }
        m.insert("Type".into(), json!(self.typ));
        m.insert("Action".into(), json!(self.action));
        m.insert(
            "Actor".into(),
            json!({"ID": self.id, "Attributes": self.attributes}),
        );
        m.insert("scope".into(), json!("local"));
        m.insert("time".into(), json!(self.time_nano / 1_000_000_000));
        m.insert("timeNano".into(), json!(self.time_nano));
        Value::Object(m)
    }
}

/// Which events a client asked for (`filters` of `GET /events`).
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub by_key: HashMap<String, Vec<String>>,
}

impl Filter {
    pub fn matches(&self, e: &Event) -> bool {
        if self.since.is_some_and(|s| e.time_nano < s)
            || self.until.is_some_and(|u| e.time_nano > u)
        {
            return false;
        }
        let any = |key: &str, f: &dyn Fn(&str) -> bool| {
            self.by_key
                .get(key)
                .is_none_or(|vals| vals.is_empty() || vals.iter().any(|v| f(v)))
        };
        // "health_status: healthy" and "exec_start: sh" match on the verb.
        let verb = e.action.split(':').next().unwrap_or("");
        let name = e.attributes.get("name").map(String::as_str);
        let image = e.attributes.get("image").map(String::as_str);
        any("type", &|v| v == e.typ)
            && any("event", &|v| v == e.action || v == verb)
            && any("container", &|v| {
                e.typ == "container"
                    && (e.id.starts_with(v) || name == Some(v.trim_start_matches('/')))
            })
            && any("image", &|v| {
                image == Some(v)
                    || (e.typ == "image"
                        && (e.id == v || e.attributes.get("name").is_some_and(|n| n == v)))
            })
            && any("label", &|v| match v.split_once('=') {
                Some((k, val)) => e.attributes.get(k).is_some_and(|x| x == val),
                None => e.attributes.contains_key(v),
            })
    }
}

/// Parses Docker's `since`/`until` values: "seconds[.nanoseconds]" as the
/// CLI sends them, or an RFC 3339 date. Returns nanoseconds since the epoch.
pub fn parse_time(s: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        format!("{frac:0<9}").parse().ok()?
    };
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

pub struct Events {
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Event>,
    db: Arc<Mutex<Connection>>,
    /// To the thread that writes events to the database, so a request does
    /// not wait for SQLite (a crash loses at most the events of the last
    /// moment; a clean shutdown flushes them, see [`Events::flush`]).
    writer: mpsc::Sender<ToWriter>,
}

enum ToWriter {
    Event(Event),
    /// Answered once everything sent before it is written.
    Flush(mpsc::SyncSender<()>),
}

struct Ring {
    events: VecDeque<Event>,
    next_seq: u64,
}

impl Events {
    /// Opens (or creates) the `events` table in the daemon's database.
    pub fn open(data_root: &Path) -> Result<Events, rusqlite::Error> {
        let conn = crate::db::open(data_root)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                seq  INTEGER PRIMARY KEY,
                time INTEGER NOT NULL,
                data TEXT NOT NULL
            );",
        )?;
        let last: Option<i64> = conn.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
        let (tx, _) = broadcast::channel(RING_SIZE);
        let db = Arc::new(Mutex::new(conn));
        let (writer, queue) = mpsc::channel();
        let for_writer = db.clone();
        std::thread::Builder::new()
            .name("berth-events".into())
            .spawn(move || write_events(&for_writer, &queue))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Events {
            ring: Mutex::new(Ring {
                events: VecDeque::with_capacity(RING_SIZE),
                next_seq: last.unwrap_or(0) as u64 + 1,
            }),
            tx,
            db,
            writer,
        })
    }

    /// Returns once every event published so far is in the database.
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.writer.send(ToWriter::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Records and publishes one event.
    pub fn publish(&self, typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let time_nano = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let ev = {
            let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
            let ev = Event {
                seq: ring.next_seq,
                typ: typ.into(),
                action: action.into(),
                id: id.into(),
                attributes,
                time_nano,
            };
            ring.next_seq += 1;
            if ring.events.len() == RING_SIZE {
                ring.events.pop_front();
            }
            ring.events.push_back(ev.clone());
            ev
        };
        let _ = self.writer.send(ToWriter::Event(ev.clone()));
        let _ = self.tx.send(ev);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Past events matching `f`, oldest first: from the ring when it reaches
    /// back far enough, otherwise from the database.
    pub fn history(&self, f: &Filter) -> Vec<Event> {
        let Some(since) = f.since else {
            return Vec::new();
        };
        {
            let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
            let covered = ring.events.front().is_some_and(|e| e.time_nano <= since)
                || ring.events.len() as u64 == ring.next_seq - 1;
            if covered {
                return ring
                    .events
                    .iter()
                    .filter(|e| f.matches(e))
                    .cloned()
                    .collect();
            }
        }
        // Older than the ring: the table, once it has caught up.
        self.flush();
        match self.read_db(since) {
            Ok(list) => list.into_iter().filter(|e| f.matches(e)).collect(),
            Err(err) => {
                tracing::warn!("events: reading history: {err}");
                Vec::new()
            }
        }
    }

    fn read_db(&self, since: i64) -> Result<Vec<Event>, rusqlite::Error> {
        let conn = self.db.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt =
            conn.prepare("SELECT seq, time, data FROM events WHERE time >= ?1 ORDER BY seq")?;
        let rows = stmt.query_map(params![since], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, time_nano, data) = row?;
            let Ok(v) = serde_json::from_str::<Value>(&data) else {
                continue;
            };
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            out.push(Event {
                seq: seq as u64,
                typ: s("Type"),
                action: s("Action"),
                id: s("ID"),
                attributes: serde_json::from_value(v["Attributes"].clone()).unwrap_or_default(),
                time_nano,
            });
        }
        Ok(out)
    }
}

/// A container event's attributes: its labels, image and name, as Docker sends.
pub fn container_attributes(c: &Container) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = c
        .labels()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    let image = c.config_str("Image").unwrap_or(&c.image_id).to_string();
    a.insert("image".into(), image);
    a.insert("name".into(), c.name.trim_start_matches('/').to_string());
    a
}

impl crate::daemon::Daemon {
    /// Publishes a container event with Docker's attributes plus `extra`.
    pub(crate) fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs = container_attributes(c);
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.publish("container", action, &c.id, attrs);
    }

    /// Publishes an image event; `name` is the reference involved, if any.
    pub(crate) fn image_event(&self, id: &str, action: &str, name: Option<&str>) {
        let mut attrs = BTreeMap::new();
        if let Some(n) = name {
            attrs.insert("name".to_string(), n.to_string());
        }
        self.events.publish("image", action, id, attrs);
    }
}

impl Drop for Events {
    /// What was published is stored before the events log goes away.
    fn drop(&mut self) {
        self.flush();
    }
}

/// The writer thread: takes what has queued up and stores it in one
/// transaction, until the daemon drops its sender.
fn write_events(db: &Mutex<Connection>, queue: &mpsc::Receiver<ToWriter>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter().take(255));
        let mut flushes = Vec::new();
        let events: Vec<Event> = batch
            .into_iter()
            .filter_map(|m| match m {
                ToWriter::Event(e) => Some(e),
                ToWriter::Flush(done) => {
                    flushes.push(done);
                    None
                }
            })
            .collect();
        if !events.is_empty() {
            let mut conn = db.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(err) = persist(&mut conn, &events) {
                tracing::warn!("events: persisting {} events: {err}", events.len());
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn persist(conn: &mut Connection, events: &[Event]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut insert =
            tx.prepare_cached("INSERT INTO events (seq, time, data) VALUES (?1, ?2, ?3)")?;
        for ev in events {
            let data = json!({
                "Type": ev.typ, "Action": ev.action, "ID": ev.id, "Attributes": ev.attributes,
            })
            .to_string();
            insert.execute(params![ev.seq as i64, ev.time_nano, data])?;
            if ev.seq.is_multiple_of(TRIM_EVERY) {
                tx.execute(
                    "DELETE FROM events WHERE seq <= ?1",
                    params![ev.seq as i64 - DB_KEEP],
                )?;
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(typ: &str, action: &str, name: &str, t: i64) -> Event {
        let mut attributes = BTreeMap::new();
        attributes.insert("name".into(), name.into());
        attributes.insert("image".into(), "busybox".into());
        attributes.insert("tier".into(), "db".into());
        Event {
            seq: 1,
            typ: typ.into(),
            action: action.into(),
            id: "abcdef0123".into(),
            attributes,
            time_nano: t,
        }
    }

    /// Events published faster than the writer stores them are all in the
    /// table when history reaches past the ring, and after a reopen.
    #[test]
    fn history_beyond_the_ring_and_after_reopen_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let n = RING_SIZE as i64 + 300;
        {
            let events = Events::open(dir.path()).unwrap();
            for i in 0..n {
                events.publish("container", "start", &format!("c{i}"), BTreeMap::new());
            }
            let all = events.history(&Filter {
                since: Some(0),
                ..Default::default()
            });
            let ids: Vec<String> = all.iter().map(|e| e.id.clone()).collect();
            let want: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
            assert_eq!(ids, want);
            events.flush();
        }
        let reopened = Events::open(dir.path()).unwrap();
        let all = reopened.history(&Filter {
            since: Some(0),
            ..Default::default()
        });
        assert_eq!(all.len() as i64, n);
        assert_eq!(all.last().unwrap().seq, n as u64);
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("12"), Some(12_000_000_000));
        assert_eq!(parse_time("12.5"), Some(12_500_000_000));
        assert_eq!(parse_time("12.000000001"), Some(12_000_000_001));
        assert_eq!(parse_time("1970-01-01T00:00:02Z"), Some(2_000_000_000));
        assert_eq!(parse_time("soon"), None);
    }

    #[test]
    fn filters_match_like_docker() {
        let e = ev("container", "health_status: healthy", "web", 10);
        let f = |k: &str, v: &str| Filter {
            by_key: HashMap::from([(k.to_string(), vec![v.to_string()])]),
            ..Default::default()
        };
        assert!(f("event", "health_status").matches(&e));
        assert!(!f("event", "start").matches(&e));
        assert!(f("container", "web").matches(&e));
        assert!(f("container", "abcdef").matches(&e));
        assert!(!f("container", "other").matches(&e));
        assert!(f("image", "busybox").matches(&e));
        assert!(f("label", "tier=db").matches(&e));
        assert!(f("label", "tier").matches(&e));
        assert!(!f("label", "tier=web").matches(&e));
        assert!(!f("type", "image").matches(&e));
        let window = Filter {
            since: Some(11),
            ..Default::default()
        };
        assert!(!window.matches(&e));
    }

    #[test]
    fn history_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let ev = Events::open(dir.path()).unwrap();
        ev.publish("container", "create", "c1", BTreeMap::new());
        ev.publish("container", "start", "c1", BTreeMap::new());
        drop(ev);
        let ev = Events::open(dir.path()).unwrap();
        ev.publish("container", "die", "c1", BTreeMap::new());
        let all = ev.history(&Filter {
            since: Some(0),
            ..Default::default()
        });
        let actions: Vec<_> = all.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["create", "start", "die"]);
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        let j = all[0].to_json();
        assert_eq!(j["status"], "create");
        assert_eq!(j["scope"], "local");
    }
}
