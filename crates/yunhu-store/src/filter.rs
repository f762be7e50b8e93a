//! WHERE clauses built from optional filters: the text with its `$n` placeholders and the values
//! they bind, `$1` always being the tenant.

use crate::{Db, Result, TenantId, Val};
use sqlx::Row as _;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;

/// A query over the `Any` driver.
pub type AnyQuery<'q> = Query<'q, sqlx::Any, AnyArguments<'q>>;

/// A WHERE clause under construction; values bind from `$2` on.
#[derive(Debug, Clone)]
pub(crate) struct Where {
    pub sql: String,
    pub params: Vec<Val>,
}

impl Where {
    /// Starts from `base` (which uses `$1` for the tenant).
    pub fn new(base: &str) -> Self {
        Self { sql: base.to_string(), params: Vec::new() }
    }

    /// Adds `AND <clause> $n` with `v` bound to `$n`.
    pub fn and(&mut self, clause: &str, v: impl Into<Val>) {
        self.value(&format!(" AND {clause} $?"), v.into());
    }

    /// Appends `clause`, its `$?` becoming the placeholder of `v`.
    pub fn value(&mut self, clause: &str, v: Val) {
        self.params.push(v);
        self.sql.push_str(&clause.replace("$?", &format!("${}", self.params.len() + 1)));
    }

    /// Adds `AND col LIKE $n ESCAPE '!'`: `col` contains `text`, wildcards and all.
    pub fn contains(&mut self, col: &str, text: &str) {
        self.value(&format!(" AND {col} LIKE $? ESCAPE '{LIKE_ESCAPE}'"), Val::Text(contains(text)));
    }

    /// Appends `AND col IN (...)` over `values`, when there are any.
    pub fn any_of(&mut self, col: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let mut list = Vec::new();
        for v in values {
            self.params.push(Val::Text(v.clone()));
            list.push(format!("${}", self.params.len() + 1));
        }
        self.sql.push_str(&format!(" AND {col} IN ({})", list.join(", ")));
    }

    /// The placeholder number after the filter's own.
    pub fn next(&self) -> usize {
        self.params.len() + 2
    }
}

/// The escape character of every `LIKE` pattern built from a client's text.
pub(crate) const LIKE_ESCAPE: char = '!';

/// `LIKE` pattern for "contains `text`", its `%`, `_` and [`LIKE_ESCAPE`] taken literally; use it
/// with `ESCAPE '!'` (both backends need the clause: neither has a default escape character in
/// common).
pub(crate) fn contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Db {
    /// One page of `select` over `from` filtered by `w` in `order`, by LIMIT/OFFSET, and how many
    /// rows match. Only for the small per-tenant tables (staff, projects, tasks, members, agent
    /// history) whose dialects number their pages; call records page by key instead.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn counted_page(
        &self,
        tenant: TenantId,
        select: &str,
        from: &str,
        w: &Where,
        order: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AnyRow>, i64)> {
        let count = format!("SELECT COUNT(*) FROM {from} WHERE {}", w.sql);
        let total: i64 =
            bind_all(sqlx::query(&count).bind(tenant.0), &w.params).fetch_one(&self.pool).await?.try_get(0)?;
        let page = format!(
            "SELECT {select} FROM {from} WHERE {} ORDER BY {order} LIMIT ${} OFFSET ${}",
            w.sql,
            w.next(),
            w.next() + 1
        );
        let rows = bind_all(sqlx::query(&page).bind(tenant.0), &w.params)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok((rows, total))
    }
}

/// Binds values to a query, in order.
pub fn bind_all<'q>(mut q: AnyQuery<'q>, params: &[Val]) -> AnyQuery<'q> {
    for p in params {
        q = match p {
            Val::Int(i) => q.bind(*i),
            Val::Text(s) => q.bind(s.clone()),
        };
    }
    q
}
