use crate::filter::AnyQuery;
use crate::writer::Writer;
use crate::{Result, StoreError, migrations};
use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which database engine is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection pool to the yunhu database, with its schema migrated.
#[derive(Debug, Clone)]
pub struct Db {
    pub(crate) pool: AnyPool,
    backend: Backend,
    pub(crate) memo: std::sync::Arc<crate::memo::Memo>,
    readers: Arc<Readers>,
    /// SQLite's event-log writer; `None` on PostgreSQL and in-memory databases.
    writer: Option<Arc<Writer>>,
}

/// How many SQLite connections listings keep for themselves; more listings at once use the pool.
const MAX_READERS: usize = 2;

/// SQLite connections taken out of the pool for listings' reads. A pool checkout is cheap but
/// its return is not: sqlx spawns a task that pings the connection's worker thread before the
/// connection is idle again, two more thread wake-ups per statement. Measured on 2 cores,
/// `SELECT 1` through the pool took 36 µs at p50 and 568 µs at p99, on a held connection 6 µs
/// and 20 µs. A listing is one read statement, so a connection it leaves mid-way (its request
/// dropped) only has that statement to finish, which its worker thread does before the next.
#[derive(Debug, Default)]
struct Readers {
    idle: Mutex<Vec<AnyConnection>>,
    /// How many have been taken out of the pool (at most [`MAX_READERS`]).
    taken: AtomicUsize,
}

/// A reader in use; back to the idle list when dropped.
struct Reader<'a> {
    conn: Option<AnyConnection>,
    readers: &'a Readers,
}

/// A reader slot claimed while its connection is being checked out.
struct Slot<'a>(&'a Readers);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers.idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        }
    }
}

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and runs pending migrations.
    pub async fn open(url: &str) -> Result<Db> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10));
        let options = if backend == Backend::Sqlite {
            // An embedded connection cannot be dropped by a peer: no ping (a round trip to its
            // worker thread) before each checkout. FULL sync: a committed call record survives a
            // power cut.
            options.test_before_acquire(false).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                         PRAGMA busy_timeout=5000; PRAGMA foreign_keys=ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await?;
        let mut db = Db { pool, backend, memo: Default::default(), readers: Default::default(), writer: None };
        migrations::run(&db).await?;
        if backend == Backend::Sqlite {
            let file: Option<String> = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_optional(&db.pool)
                .await?;
            if let Some(file) = file.filter(|f| !f.is_empty()) {
                match Writer::start(std::path::Path::new(&file)) {
                    Ok(writer) => db.writer = Some(Arc::new(writer)),
                    Err(e) => {
                        db.pool.close().await;
                        return Err(e);
                    }
                }
            }
        }
        Ok(db)
    }

    /// The connection pool, for benchmarks that time bare SQL beside the services.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// SQLite's event-log writer, when there is one.
    pub(crate) fn writer(&self) -> Option<&Writer> {
        self.writer.as_deref()
    }

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs a listing's one read statement: on SQLite on one of a few connections kept out of
    /// the pool for listings when one is free, else through the pool. Benchmarks time their
    /// bare SQL through this too, so both sides take the same way to the database.
    pub async fn fetch_listing(&self, query: AnyQuery<'_>) -> Result<Vec<AnyRow>> {
        match self.reader().await? {
            Some(mut reader) => {
                let conn = reader.conn.as_mut().expect("a reader holds its connection until dropped");
                Ok(query.fetch_all(conn).await?)
            }
            None => Ok(query.fetch_all(&self.pool).await?),
        }
    }

    /// An idle listing connection, or a new one while fewer than [`MAX_READERS`] exist; `None`
    /// on PostgreSQL, whose pool is kept as it is, and when all are busy.
    async fn reader(&self) -> Result<Option<Reader<'_>>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let readers = &*self.readers;
        if let Some(conn) = readers.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(Some(Reader { conn: Some(conn), readers }));
        }
        if readers
            .taken
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < MAX_READERS).then_some(n + 1))
            .is_err()
        {
            return Ok(None);
        }
        // The slot is given back if the checkout fails or its caller goes away meanwhile.
        let slot = Slot(readers);
        let conn = self.pool.acquire().await?;
        std::mem::forget(slot);
        // Out of the pool for good: the pool may open another in its place.
        Ok(Some(Reader { conn: Some(conn.detach()), readers }))
    }

    /// Closes every connection.
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.stop().await;
        }
        let idle = std::mem::take(&mut *self.readers.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for conn in idle {
            let _ = conn.close().await;
        }
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    fn counts(db: &Db) -> (usize, usize) {
        (db.readers.taken.load(Ordering::Relaxed), db.readers.idle.lock().unwrap().len())
    }

    #[tokio::test]
    async fn listings_share_a_few_held_connections_and_see_each_write() {
        let db = Db::open(&crate::testing::scratch_sqlite_url()).await.unwrap();
        sqlx::query("CREATE TABLE t (n BIGINT)").execute(&db.pool).await.unwrap();
        let count = || db.fetch_listing(sqlx::query("SELECT n FROM t"));
        assert!(count().await.unwrap().is_empty());
        // More listings at once than readers: the rest go through the pool.
        let many = (0..8).map(|_| {
            tokio::spawn({
                let db = db.clone();
                async move { db.fetch_listing(sqlx::query("SELECT n FROM t")).await.map(|r| r.len()) }
            })
        });
        for task in many {
            assert_eq!(task.await.unwrap().unwrap(), 0);
        }
        let (taken, idle) = counts(&db);
        assert!((1..=MAX_READERS).contains(&taken) && idle == taken, "{taken} taken, {idle} idle");
        sqlx::query("INSERT INTO t VALUES (1)").execute(&db.pool).await.unwrap();
        assert_eq!(count().await.unwrap().len(), 1);

        // A listing dropped while it waits on its statement gives its connection back, which
        // then serves the next listing.
        let mut dropped = Box::pin(db.fetch_listing(sqlx::query("SELECT n FROM t")));
        let waker = std::task::Waker::noop();
        let _ = dropped.as_mut().poll(&mut std::task::Context::from_waker(waker));
        drop(dropped);
        assert_eq!(counts(&db), (taken, taken));
        assert_eq!(count().await.unwrap().len(), 1);
        db.close().await;
        assert_eq!(counts(&db).1, 0);
    }
}
