//! SQLite's event-log writer: one connection on a thread of its own, reached once per batch.
//!
//! Through sqlx every statement is a round trip to the connection's worker thread, and a pool
//! checkout and return add more; a call's dozen events cost over a hundred thread wake-ups. Here
//! a batch (its events, its call records, the commit) crosses threads once each way, and the
//! statements run back to back on prepared statements the connection keeps.

use crate::calls::{
    CALL_EVENTS_SQL, DELETE_RECORD_SQL, EventRow, INSERT_EVENT_SQL, INSERT_RECORD_SQL, RecordParam, StoredEvent,
    record_params,
};
use crate::{Result, StoreError, TenantId};
use rusqlite::{Connection, TransactionBehavior, params};
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;
use yunhu_core::call::CallRecord;

enum Job {
    Write {
        events: Vec<EventRow>,
        records: Vec<(TenantId, String, CallRecord)>,
        durable: bool,
        reply: oneshot::Sender<Result<Vec<i64>>>,
    },
    Events {
        tenant: TenantId,
        call_id: String,
        reply: oneshot::Sender<Result<Vec<StoredEvent>>>,
    },
    /// Make every commit durable, close the connection, then answer.
    Stop(oneshot::Sender<()>),
}

/// Handle on the writer thread; the thread ends when every handle is gone or on [`Writer::stop`].
#[derive(Debug)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl rusqlite::ToSql for RecordParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            RecordParam::Int(i) => i.to_sql(),
            RecordParam::MaybeInt(i) => i.to_sql(),
            RecordParam::Text(s) => s.to_sql(),
        }
    }
}

impl Writer {
    /// Opens a second connection to the database file at `path` (already migrated, in WAL mode)
    /// and starts its thread.
    pub(crate) fn start(path: &Path) -> Result<Writer> {
        let conn = Connection::open(path).map_err(StoreError::Embedded)?;
        // The busy timeout covers the pool's own writes.
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;")
            .map_err(StoreError::Embedded)?;
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("yunhu-db-writer".into())
            .spawn(move || serve(conn, rx))
            .map_err(|e| StoreError::Invalid(format!("database writer thread: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Appends events and writes call records in one transaction; the events' ids in order.
    /// Only a `durable` commit waits for the disk (and so makes the earlier ones durable too);
    /// a `durable` write of nothing makes the earlier commits durable.
    pub(crate) async fn write(
        &self,
        events: Vec<EventRow>,
        records: Vec<(TenantId, String, CallRecord)>,
        durable: bool,
    ) -> Result<Vec<i64>> {
        let (reply, done) = oneshot::channel();
        self.send(Job::Write { events, records, durable, reply })?;
        done.await.map_err(|_| stopped())?
    }

    /// A call's events in order, read on the writer's connection: a call has a few dozen at most,
    /// and a long read here would hold up every commit.
    pub(crate) async fn call_events(&self, tenant: TenantId, call_id: &str) -> Result<Vec<StoredEvent>> {
        let (reply, done) = oneshot::channel();
        self.send(Job::Events { tenant, call_id: call_id.to_string(), reply })?;
        done.await.map_err(|_| stopped())?
    }

    /// Ends the thread after the jobs already sent, with every commit on disk and the
    /// connection closed; later jobs fail.
    pub(crate) async fn stop(&self) {
        let (reply, done) = oneshot::channel();
        if self.send(Job::Stop(reply)).is_ok() {
            let _ = done.await;
        }
    }

    fn send(&self, job: Job) -> Result<()> {
        self.jobs.send(job).map_err(|_| stopped())
    }
}

/// The writer's connection and whether a commit since the last disk flush is not yet on disk.
struct Log {
    conn: Connection,
    /// The connection's `synchronous` is FULL (else NORMAL).
    full: bool,
    /// A NORMAL commit has not been flushed to disk yet.
    unflushed: bool,
}

fn serve(conn: Connection, jobs: mpsc::Receiver<Job>) {
    let mut log = Log { conn, full: true, unflushed: false };
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Write { events, records, durable, reply } => {
                let _ = reply.send(log.write(&events, &records, durable).map_err(StoreError::Embedded));
            }
            Job::Events { tenant, call_id, reply } => {
                let _ = reply.send(read_events(&log.conn, tenant, &call_id).map_err(StoreError::Embedded));
            }
            Job::Stop(done) => {
                if let Err(e) = log.make_durable() {
                    tracing::error!(error = %e, "the event log's last commits could not be flushed to disk");
                }
                drop(log);
                let _ = done.send(());
                return;
            }
        }
    }
}

/// Tries of a batch that finds the database locked past the busy timeout (a long transaction of
/// the pool's, such as a large number file being imported).
const BUSY_TRIES: usize = 3;

impl Log {
    fn write(
        &mut self,
        events: &[EventRow],
        records: &[(TenantId, String, CallRecord)],
        durable: bool,
    ) -> rusqlite::Result<Vec<i64>> {
        if events.is_empty() && records.is_empty() {
            if durable {
                self.make_durable()?;
            }
            return Ok(Vec::new());
        }
        self.sync_mode(durable)?;
        let mut tries = 0;
        loop {
            tries += 1;
            match write(&mut self.conn, events, records) {
                Err(e) if tries < BUSY_TRIES && is_busy(&e) => {
                    tracing::warn!(error = %e, "event log commit found the database locked; trying again");
                }
                Err(e) => return Err(e),
                Ok(ids) => {
                    self.unflushed = !durable;
                    return Ok(ids);
                }
            }
        }
    }

    /// In WAL mode FULL flushes the log to disk at each commit; NORMAL leaves it to the next FULL
    /// commit or checkpoint, and such a commit is still safe from the process dying, only not
    /// from a power cut until then.
    fn sync_mode(&mut self, durable: bool) -> rusqlite::Result<()> {
        if self.full != durable {
            self.conn.pragma_update(None, "synchronous", if durable { "FULL" } else { "NORMAL" })?;
            self.full = durable;
        }
        Ok(())
    }

    /// Puts the NORMAL commits not yet flushed on disk: a checkpoint flushes the log first.
    fn make_durable(&mut self) -> rusqlite::Result<()> {
        if self.unflushed {
            self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            self.unflushed = false;
        }
        Ok(())
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

fn write(
    conn: &mut Connection,
    events: &[EventRow],
    records: &[(TenantId, String, CallRecord)],
) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut ids = Vec::with_capacity(events.len());
    {
        let mut insert = tx.prepare_cached(INSERT_EVENT_SQL)?;
        for (tenant, call_id, kind, at, data) in events {
            insert.execute(params![tenant.0, call_id, kind, at, data])?;
            ids.push(tx.last_insert_rowid());
        }
    }
    for (tenant, call_id, record) in records {
        tx.prepare_cached(DELETE_RECORD_SQL)?.execute(params![tenant.0, call_id])?;
        let values = record_params(*tenant, call_id, record);
        tx.prepare_cached(INSERT_RECORD_SQL)?.execute(rusqlite::params_from_iter(values.iter()))?;
    }
    tx.commit()?;
    Ok(ids)
}

fn read_events(conn: &Connection, tenant: TenantId, call_id: &str) -> rusqlite::Result<Vec<StoredEvent>> {
    let mut select = conn.prepare_cached(CALL_EVENTS_SQL)?;
    let rows = select.query_map(params![tenant.0, call_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    rows.collect()
}

fn stopped() -> StoreError {
    StoreError::Invalid("database writer stopped".into())
}
