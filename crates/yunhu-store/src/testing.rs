//! Scratch databases for tests: a fresh SQLite file and a fresh PostgreSQL database each time,
//! so tests on both backends never see each other's rows.

use crate::{Result, StoreError};
use sqlx::Executor;
use sqlx::any::install_default_drivers;
use std::path::PathBuf;

/// The PostgreSQL server tests use: `YUNHU_TEST_POSTGRES`, or the local one.
pub fn postgres_base_url() -> String {
    std::env::var("YUNHU_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{}", std::process::id(), nanos % 1_000_000_000, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// A URL of a new, empty SQLite file under the system temp directory.
pub fn scratch_sqlite_url() -> String {
    let dir: PathBuf = std::env::temp_dir().join("yunhu-tests");
    let _ = std::fs::create_dir_all(&dir);
    format!("sqlite://{}?mode=rwc", dir.join(format!("{}.db", unique("t"))).display())
}

/// A URL of a new, empty PostgreSQL database on the test server.
pub async fn scratch_postgres_url() -> Result<String> {
    install_default_drivers();
    let base = postgres_base_url();
    let name = unique("yunhu_t");
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&base).await?;
    // Databases of test processes that are gone are dropped, so runs do not pile up.
    let old: Vec<String> = sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'yunhu_t_%'")
        .fetch_all(&mut conn)
        .await?;
    for db in old {
        let pid = db.split('_').nth(2).unwrap_or("");
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = conn.execute(format!("DROP DATABASE IF EXISTS {db}").as_str()).await;
        }
    }
    // Concurrent CREATE DATABASE calls fight over template1: take turns, across processes.
    conn.execute("SELECT pg_advisory_lock(7474)").await?;
    let created = conn.execute(format!("CREATE DATABASE {name}").as_str()).await;
    conn.execute("SELECT pg_advisory_unlock(7474)").await?;
    created?;
    let cut = base.rfind('/').ok_or_else(|| StoreError::BadUrl(base.clone()))?;
    Ok(format!("{}/{name}", &base[..cut]))
}

/// One scratch URL per backend: SQLite first, then PostgreSQL.
pub async fn scratch_urls() -> Result<Vec<String>> {
    Ok(vec![scratch_sqlite_url(), scratch_postgres_url().await?])
}
