//! WHERE clauses built from optional filters: the text with its `$n` placeholders and the values
//! they bind, `$1` always being the tenant.

use crate::Val;
use sqlx::any::AnyArguments;
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
