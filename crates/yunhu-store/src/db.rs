use crate::{Result, StoreError, migrations};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
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
        let db = Db { pool, backend, memo: Default::default() };
        migrations::run(&db).await?;
        Ok(db)
    }

    /// The connection pool, for benchmarks that time bare SQL beside the services.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
