//! Storage for yunhu: one code path over SQLite (default, WAL) and PostgreSQL.
//!
//! SQL is written once with `$n` placeholders, which both backends accept, and only the column
//! types both share (`BIGINT`, `TEXT`). Every table that holds tenant data has a `tenant_id`
//! column and every query here takes the tenant it is scoped to.

pub mod calls;
mod db;
pub mod desk;
pub mod directory;
pub mod filter;
mod memo;
mod migrations;
pub mod numberfiles;
pub mod outbound;
pub mod queues;
pub mod registrations;
mod rows;
pub mod sms;
pub mod testing;
pub mod uploads;
mod writer;

pub use db::{Backend, Db};
pub use rows::{Change, Col, ColType, Row, Table, Val};

/// A tenant's numeric id (open95 `tenantId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub i64);

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// SQLite said no to the event-log writer's own connection.
    #[error("database: {0}")]
    Embedded(#[from] rusqlite::Error),
    /// A URL the store cannot use.
    #[error("unsupported database url: {0}")]
    BadUrl(String),
    /// A request the store cannot run (a malformed filter).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A unique key is already held by another row.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// Store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Turns unique-violation errors into `Conflict` so callers can answer them clearly.
    pub(crate) fn classify(e: sqlx::Error, what: &str) -> StoreError {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::Conflict(what.to_string());
        }
        StoreError::Db(e)
    }
}
