//! Directory tables described as data, so provisioning, the admin API and the CLI share one
//! idempotent upsert: a row is written only when it differs from what is stored.

use crate::{Db, Result, StoreError, TenantId};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// The storage type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// `BIGINT NOT NULL`.
    Int,
    /// `TEXT NOT NULL`.
    Text,
}

/// A column of a directory table.
#[derive(Debug, Clone, Copy)]
pub struct Col {
    /// Column name.
    pub name: &'static str,
    /// Column type.
    pub ty: ColType,
}

/// A tenant-scoped directory table: `tenant_id`, the listed columns, `deleted`, `created_at`,
/// `updated_at`.
#[derive(Debug)]
pub struct Table {
    /// Table name.
    pub name: &'static str,
    /// Columns that, with the tenant, identify a row.
    pub key: &'static [&'static str],
    /// Every column the service sets, keys included.
    pub cols: &'static [Col],
}

/// A column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
}

impl Val {
    /// The text, or "" for an integer.
    pub fn text(&self) -> &str {
        match self {
            Val::Text(s) => s,
            Val::Int(_) => "",
        }
    }

    /// The integer, or 0 for a text.
    pub fn int(&self) -> i64 {
        match self {
            Val::Int(i) => *i,
            Val::Text(_) => 0,
        }
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Self {
        Val::Text(s.to_string())
    }
}
impl From<String> for Val {
    fn from(s: String) -> Self {
        Val::Text(s)
    }
}
impl From<i64> for Val {
    fn from(i: i64) -> Self {
        Val::Int(i)
    }
}
impl From<bool> for Val {
    fn from(b: bool) -> Self {
        Val::Int(i64::from(b))
    }
}

/// A row's values by column name.
pub type Row = BTreeMap<&'static str, Val>;

/// What a put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new row.
    Created,
    /// An existing row got new values (or came back from deletion).
    Updated,
    /// The stored row already had these values.
    Unchanged,
}

use crate::filter::AnyQuery;

fn bind_val<'q>(q: AnyQuery<'q>, v: &Val) -> AnyQuery<'q> {
    match v {
        Val::Int(i) => q.bind(*i),
        Val::Text(s) => q.bind(s.clone()),
    }
}

pub(crate) fn decode(row: &AnyRow, table: &Table) -> Result<Row> {
    let mut out = Row::new();
    for col in table.cols {
        let v = match col.ty {
            ColType::Int => Val::Int(row.try_get::<i64, _>(col.name)?),
            ColType::Text => Val::Text(row.try_get::<String, _>(col.name)?),
        };
        out.insert(col.name, v);
    }
    Ok(out)
}

fn key_where(table: &Table, first: usize) -> String {
    table.key.iter().enumerate().map(|(i, k)| format!(" AND {k} = ${}", first + i)).collect()
}

fn col_list(table: &Table) -> String {
    table.cols.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

impl Db {
    /// The row with `key` (deleted or not) and whether it is deleted.
    pub async fn get_row(&self, tenant: TenantId, table: &Table, key: &[Val]) -> Result<Option<(Row, bool)>> {
        let sql = format!(
            "SELECT {}, deleted FROM {} WHERE tenant_id = $1{}",
            col_list(table),
            table.name,
            key_where(table, 2)
        );
        let mut q = sqlx::query(&sql).bind(tenant.0);
        for k in key {
            q = bind_val(q, k);
        }
        match q.fetch_optional(&self.pool).await? {
            Some(r) => Ok(Some((decode(&r, table)?, r.try_get::<i64, _>("deleted")? != 0))),
            None => Ok(None),
        }
    }

    /// Inserts or updates `row`; touches nothing when the stored row already equals it.
    pub async fn put_row(&self, tenant: TenantId, table: &Table, row: &Row, now_ms: i64) -> Result<Change> {
        let key: Vec<Val> = table.key.iter().map(|k| row[k].clone()).collect();
        let what = format!("{} {:?}", table.name, key);
        let values: Vec<&Val> = table.cols.iter().map(|c| &row[c.name]).collect();
        match self.get_row(tenant, table, &key).await? {
            Some((stored, false)) if &stored == row => Ok(Change::Unchanged),
            Some(_) => {
                let sets: String =
                    table.cols.iter().enumerate().map(|(i, c)| format!("{} = ${}, ", c.name, i + 3)).collect();
                let sql = format!(
                    "UPDATE {} SET {sets}deleted = 0, updated_at = $2 WHERE tenant_id = $1{}",
                    table.name,
                    key_where(table, table.cols.len() + 3)
                );
                let mut q = sqlx::query(&sql).bind(tenant.0).bind(now_ms);
                for v in values.iter().copied().chain(key.iter()) {
                    q = bind_val(q, v);
                }
                q.execute(&self.pool).await.map_err(|e| StoreError::classify(e, &what))?;
                self.memo.invalidate();
                Ok(Change::Updated)
            }
            None => {
                let params: String = (0..table.cols.len()).map(|i| format!(", ${}", i + 3)).collect();
                let sql = format!(
                    "INSERT INTO {} (tenant_id, created_at, updated_at, {}) VALUES ($1, $2, $2{params})",
                    table.name,
                    col_list(table)
                );
                let mut q = sqlx::query(&sql).bind(tenant.0).bind(now_ms);
                for v in values {
                    q = bind_val(q, v);
                }
                q.execute(&self.pool).await.map_err(|e| StoreError::classify(e, &what))?;
                self.memo.invalidate();
                Ok(Change::Created)
            }
        }
    }

    /// Marks the row deleted; it stays in the database for the call data that refers to it.
    pub async fn delete_row(&self, tenant: TenantId, table: &Table, key: &[Val], now_ms: i64) -> Result<bool> {
        let sql = format!(
            "UPDATE {} SET deleted = 1, updated_at = $2 WHERE tenant_id = $1 AND deleted = 0{}",
            table.name,
            key_where(table, 3)
        );
        let mut q = sqlx::query(&sql).bind(tenant.0).bind(now_ms);
        for k in key {
            q = bind_val(q, k);
        }
        let done = q.execute(&self.pool).await?.rows_affected() > 0;
        self.memo.invalidate();
        Ok(done)
    }

    /// The tenant's live rows of `table`, in key order.
    pub async fn list_rows(&self, tenant: TenantId, table: &Table) -> Result<Vec<Row>> {
        let load = async {
            let sql = format!(
                "SELECT {} FROM {} WHERE tenant_id = $1 AND deleted = 0 ORDER BY {}",
                col_list(table),
                table.name,
                table.key.join(", ")
            );
            let rows = sqlx::query(&sql).bind(tenant.0).fetch_all(&self.pool).await?;
            rows.iter().map(|r| decode(r, table)).collect()
        };
        self.memo.get(format!("rows\0{}\0{}", tenant.0, table.name), load).await
    }
}
