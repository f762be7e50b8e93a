//! The event log and the call records projected from it.

use crate::filter::{Where, bind_all};
use crate::rows::{Col, ColType, Table};
use crate::{Backend, Db, Result, TenantId, Val};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use std::fmt::Write as _;
use yunhu_core::call::{CallMethod, CallRecord, Cause, HangupSide, LegTimes};

/// Trunks (中继) of a tenant.
pub const TRUNKS: Table = Table {
    name: "trunks",
    key: &["name"],
    cols: &[
        Col { name: "name", ty: ColType::Text },
        Col { name: "address", ty: ColType::Text },
        Col { name: "transport", ty: ColType::Text },
        Col { name: "caller_id", ty: ColType::Text },
        Col { name: "allow_ips", ty: ColType::Text },
        Col { name: "username", ty: ColType::Text },
        Col { name: "password_sealed", ty: ColType::Text },
        Col { name: "register", ty: ColType::Int },
    ],
};

/// A call record as stored, with its row id (the cursor dialects page by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCallRecord {
    /// Row id, increasing with insertion.
    pub id: i64,
    /// The call's id.
    pub call_id: String,
    /// The record.
    pub record: CallRecord,
}

/// Filters of a call-record listing; `None` and empty lists mean any.
#[derive(Debug, Clone, Default)]
pub struct CallRecordFilter {
    /// Staff account.
    pub staff: Option<String>,
    /// Any of these extensions.
    pub extensions: Vec<String>,
    /// Customer number.
    pub customer: Option<String>,
    /// Custom data 1.
    pub codeid_1: Option<String>,
    /// Custom data 2.
    pub codeid_2: Option<String>,
    /// Custom data of the originating request, each key holding the value; keys are
    /// `[A-Za-z0-9_]` only (they become part of the query).
    pub call_data: Vec<(String, String)>,
    /// Any of these directions (`outbound`, `inbound`, `internal`).
    pub directions: Vec<String>,
    /// Any of these methods.
    pub methods: Vec<CallMethod>,
    /// Who hung up.
    pub hangup_side: Option<HangupSide>,
    /// Both sides talked (`Some(true)`), or not.
    pub connected: Option<bool>,
    /// Talk seconds at least.
    pub talk_min: Option<i64>,
    /// Talk seconds at most.
    pub talk_max: Option<i64>,
    /// Only calls with a recording.
    pub with_recording: bool,
    /// Only records `client` has fetched (`true`) or has not (`false`).
    pub fetched_by: Option<(String, bool)>,
    /// Call start at or after (ms).
    pub from_ms: Option<i64>,
    /// Call start at or before (ms).
    pub to_ms: Option<i64>,
    /// The cursor: the id of the last record of the previous page; the next page holds the
    /// records after it in the listing's order (call start, then id).
    pub after_id: Option<i64>,
    /// Oldest first.
    pub ascending: bool,
    /// Records to skip (page-numbered dialects, within their bounded window); 0 with a cursor.
    pub offset: i64,
}

/// The WHERE clause of a filter (after `tenant_id = $1`) and the values it binds from `$2` on.
fn record_where(f: &CallRecordFilter, backend: Backend) -> Result<(String, Vec<Val>)> {
    let mut w = Where::new("tenant_id = $1");
    for (col, v) in
        [("staff", &f.staff), ("customer", &f.customer), ("codeid_1", &f.codeid_1), ("codeid_2", &f.codeid_2)]
    {
        if let Some(v) = v {
            w.value(&format!(" AND {col} = $?"), Val::Text(v.clone()));
        }
    }
    for (key, value) in &f.call_data {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(crate::StoreError::Invalid(format!("custom data key {key:?}")));
        }
        let expr = match backend {
            Backend::Sqlite => format!("json_extract(call_data, '$.{key}')"),
            Backend::Postgres => format!("(call_data::jsonb ->> '{key}')"),
        };
        w.value(&format!(" AND {expr} = $?"), Val::Text(value.clone()));
    }
    let methods: Vec<String> = f.methods.iter().map(|m| m.as_str().to_string()).collect();
    w.any_of("extension", &f.extensions);
    w.any_of("direction", &f.directions);
    w.any_of("method", &methods);
    if let Some(side) = f.hangup_side {
        w.value(" AND hangup_side = $?", Val::Text(side.as_str().into()));
    }
    match f.connected {
        Some(true) => w.sql.push_str(" AND agent_answer IS NOT NULL AND customer_answer IS NOT NULL"),
        Some(false) => w.sql.push_str(" AND (agent_answer IS NULL OR customer_answer IS NULL)"),
        None => {}
    }
    if f.with_recording {
        w.sql.push_str(" AND recording <> ''");
    }
    for (clause, v) in [
        (" AND talk_secs >= $?", f.talk_min),
        (" AND talk_secs <= $?", f.talk_max),
        (" AND started_at >= $?", f.from_ms),
        (" AND started_at <= $?", f.to_ms),
    ] {
        if let Some(v) = v {
            w.value(clause, Val::Int(v));
        }
    }
    if let Some((client, fetched)) = &f.fetched_by {
        let not = if *fetched { "" } else { "NOT " };
        w.value(
            &format!(
                " AND {not}EXISTS (SELECT 1 FROM record_fetches x WHERE x.tenant_id = call_records.tenant_id \
                 AND x.client = $? AND x.record_id = call_records.id)"
            ),
            Val::Text(client.clone()),
        );
    }
    if let Some(after) = f.after_id {
        let op = if f.ascending { ">" } else { "<" };
        w.value(
            &format!(
                " AND (started_at, id) {op} (SELECT c.started_at, c.id FROM call_records c \
                 WHERE c.tenant_id = $1 AND c.id = $?)"
            ),
            Val::Int(after),
        );
    }
    Ok((w.sql, w.params))
}

const RECORD_COLS: &str = "id, call_id, direction, staff, extension, customer, caller_id, trunk, agent_start, agent_ring, \
     agent_answer, agent_end, customer_start, customer_ring, customer_answer, customer_end, ring_secs, talk_secs, \
     bill_secs, cause, hangup_side, recording, recording_repaired, codeid_1, codeid_2, method, call_data, task_id, digits, transferred_to, holds, \
     ivr_name, ivr_digits, ivr_last_node, ivr_start, ivr_end, queue, queue_start, queue_end, queue_outcome, satisfaction";

/// Where [`Db::list_call_records_counted_sql`] puts the count: after [`RECORD_COLS`].
const COUNT_COL: usize = 41;

/// Decodes a row of [`RECORD_COLS`] by position: listings decode many rows per request.
fn record_from(r: &AnyRow) -> Result<StoredCallRecord> {
    let leg = |at: usize| -> Result<LegTimes> {
        Ok(LegTimes {
            start: r.try_get(at)?,
            ring: r.try_get(at + 1)?,
            answer: r.try_get(at + 2)?,
            end: r.try_get(at + 3)?,
        })
    };
    // Columns only looked at are read in place, not copied out of the row.
    let side: &str = r.try_get(20)?;
    let direction: &str = r.try_get(2)?;
    let call_data: &str = r.try_get(26)?;
    Ok(StoredCallRecord {
        id: r.try_get(0)?,
        call_id: r.try_get(1)?,
        record: CallRecord {
            method: CallMethod::parse(r.try_get(25)?, direction),
            direction: direction.to_string(),
            staff: r.try_get(3)?,
            extension: r.try_get(4)?,
            customer: r.try_get(5)?,
            caller_id: r.try_get(6)?,
            trunk: r.try_get(7)?,
            agent: leg(8)?,
            customer_leg: leg(12)?,
            ring_secs: r.try_get(16)?,
            talk_secs: r.try_get(17)?,
            bill_secs: r.try_get(18)?,
            cause: Cause::parse(r.try_get(19)?),
            hangup_side: match side {
                "agent" => Some(HangupSide::Agent),
                "customer" => Some(HangupSide::Customer),
                "system" => Some(HangupSide::System),
                _ => None,
            },
            recording: r.try_get(21)?,
            recording_repaired: r.try_get::<i64, _>(22)? != 0,
            codeid_1: r.try_get(23)?,
            codeid_2: r.try_get(24)?,
            task_id: r.try_get(27)?,
            call_data: if call_data == "{}" {
                Default::default()
            } else {
                serde_json::from_str(call_data).unwrap_or_default()
            },
            digits: r.try_get(28)?,
            transferred_to: {
                let t: &str = r.try_get(29)?;
                t.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
            },
            holds: u32::try_from(r.try_get::<i64, _>(30)?).unwrap_or(0),
            ivr_name: r.try_get(31)?,
            ivr_digits: r.try_get(32)?,
            ivr_last_node: r.try_get(33)?,
            ivr_start: r.try_get(34)?,
            ivr_end: r.try_get(35)?,
            queue: r.try_get(36)?,
            queue_start: r.try_get(37)?,
            queue_end: r.try_get(38)?,
            queue_outcome: r.try_get(39)?,
            satisfaction: u8::try_from(r.try_get::<i64, _>(40)?).ok(),
        },
    })
}

impl Db {
    /// Appends an event; returns its id.
    pub async fn append_event(&self, tenant: TenantId, call_id: &str, kind: &str, at: i64, data: &str) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO events (tenant_id, call_id, kind, at, data) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(tenant.0)
        .bind(call_id)
        .bind(kind)
        .bind(at)
        .bind(data)
        .fetch_one(&self.pool)
        .await?)
    }

    /// A call's events in order: `(id, kind, at, data)`.
    pub async fn call_events(&self, tenant: TenantId, call_id: &str) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(CALL_EVENTS_SQL).bind(tenant.0).bind(call_id).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("kind")?, r.try_get("at")?, r.try_get("data")?))).collect()
    }

    /// One call's events, as [`Db::call_events`], for projecting its record as it ends: on SQLite
    /// read on the event log's own connection, without the pool's round trips. Only for a call's
    /// own stream, whose few dozen events cannot hold up the commits queued behind the read.
    pub async fn events_for_record(&self, tenant: TenantId, call_id: &str) -> Result<Vec<StoredEvent>> {
        match self.writer() {
            Some(writer) => writer.call_events(tenant, call_id).await,
            None => self.call_events(tenant, call_id).await,
        }
    }

    /// Calls that have events but no record: `(tenant, call_id)`; after a crash these are finished.
    /// Agent (`agent/…`, `desk/…`, `predictive/…`), announcement and task (`task/…`) streams are not calls.
    pub async fn calls_without_record(&self) -> Result<Vec<(TenantId, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT e.tenant_id, e.call_id FROM events e WHERE e.call_id NOT LIKE 'agent/%' \
             AND e.call_id NOT LIKE 'task/%' AND e.call_id NOT LIKE 'predictive/%' AND e.call_id NOT LIKE 'desk/%' \
             AND e.call_id NOT LIKE 'announce/%' AND NOT EXISTS \
             (SELECT 1 FROM call_records c WHERE c.tenant_id = e.tenant_id AND c.call_id = e.call_id)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((TenantId(r.try_get("tenant_id")?), r.try_get("call_id")?))).collect()
    }

    /// The live trunks (of live tenants) at `source` or allowing its IP: `(tenant, name)`.
    pub async fn trunks_allowing(&self, source: std::net::SocketAddr) -> Result<Vec<(TenantId, String)>> {
        let load = async {
            let ip = source.ip().to_string();
            let rows = sqlx::query(
                "SELECT r.tenant_id, r.name, r.address, r.allow_ips FROM trunks r JOIN tenants t ON t.id = r.tenant_id \
                 WHERE r.deleted = 0 AND t.deleted = 0 ORDER BY r.tenant_id, r.name",
            )
            .fetch_all(&self.pool)
            .await?;
            let mut out = Vec::new();
            for r in &rows {
                let allow: String = r.try_get("allow_ips")?;
                let address: String = r.try_get("address")?;
                if address.parse::<std::net::SocketAddr>().ok() == Some(source)
                    || allow.split(',').any(|a| a.trim() == ip)
                {
                    out.push((TenantId(r.try_get("tenant_id")?), r.try_get("name")?));
                }
            }
            Ok(out)
        };
        self.memo.get(format!("trunks_allowing\0{source}"), load).await
    }

    /// Every live trunk of a live tenant that yunhu registers to: `(tenant, row)`.
    pub async fn registering_trunks(&self) -> Result<Vec<(TenantId, crate::Row)>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT r.tenant_id FROM trunks r JOIN tenants t ON t.id = r.tenant_id \
             WHERE r.deleted = 0 AND t.deleted = 0 AND r.register = 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for id in ids {
            for row in self.list_rows(TenantId(id), &TRUNKS).await? {
                if row["register"].int() == 1 {
                    out.push((TenantId(id), row));
                }
            }
        }
        Ok(out)
    }

    /// The newest presence event of every agent: `(tenant, stream, data)`.
    pub async fn latest_agent_events(&self) -> Result<Vec<(TenantId, String, String)>> {
        self.latest_stream_events("agent/").await
    }

    /// The newest event of every stream whose name starts with `prefix` (`agent/`, `predictive/`):
    /// `(tenant, stream, data)`.
    pub async fn latest_stream_events(&self, prefix: &str) -> Result<Vec<(TenantId, String, String)>> {
        let rows = sqlx::query(
            "SELECT e.tenant_id, e.call_id, e.data FROM events e JOIN \
             (SELECT tenant_id, call_id, MAX(id) AS id FROM events WHERE call_id LIKE $1 GROUP BY tenant_id, call_id) m \
             ON e.id = m.id",
        )
        .bind(format!("{prefix}%"))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((TenantId(r.try_get("tenant_id")?), r.try_get("call_id")?, r.try_get("data")?)))
            .collect()
    }

    /// Writes (or rewrites, for a replay) the record of a call.
    pub async fn put_call_record(&self, tenant: TenantId, call_id: &str, r: &CallRecord) -> Result<()> {
        self.write_batch(Vec::new(), vec![(tenant, call_id.to_string(), r.clone())], true).await.map(|_| ())
    }

    /// Appends events and writes call records in one transaction (group commit): one commit for
    /// everything a busy switch produced meanwhile. Returns the events' ids.
    ///
    /// A `durable` commit survives a power cut once this returns. Any commit survives yunhu being
    /// killed; one that is not `durable` skips the wait for the disk flush (SQLite: it becomes
    /// durable with the next one that is; PostgreSQL: its `synchronous_commit = off`).
    pub async fn write_batch(
        &self,
        events: Vec<EventRow>,
        records: Vec<(TenantId, String, CallRecord)>,
        durable: bool,
    ) -> Result<Vec<i64>> {
        if let Some(writer) = self.writer() {
            return writer.write(events, records, durable).await;
        }
        let skip_flush = !durable && self.backend() == Backend::Postgres;
        // A lone event (the common case on a quiet switch) commits on its own: a transaction
        // around it would cost two more round trips to the database for nothing.
        if records.is_empty() && events.len() == 1 && !skip_flush {
            let mut conn = self.pool.acquire().await?;
            return insert_events(&mut conn, &events).await;
        }
        let mut tx = self.pool.begin().await?;
        if skip_flush {
            // PostgreSQL's own form of a commit that does not wait for the disk: lost only if
            // the server itself stops within a moment, never when yunhu does.
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
        }
        let mut ids = Vec::with_capacity(events.len());
        for chunk in events.chunks(EVENTS_PER_INSERT) {
            ids.extend(insert_events(&mut tx, chunk).await?);
        }
        for (tenant, call_id, r) in &records {
            write_record(&mut tx, *tenant, call_id, r).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The record of one call.
    pub async fn call_record(&self, tenant: TenantId, call_id: &str) -> Result<Option<StoredCallRecord>> {
        let r = sqlx::query(&format!("SELECT {RECORD_COLS} FROM call_records WHERE tenant_id = $1 AND call_id = $2"))
            .bind(tenant.0)
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(record_from).transpose()
    }

    /// The record whose recording is `path`.
    pub async fn call_record_by_recording(&self, tenant: TenantId, path: &str) -> Result<Option<StoredCallRecord>> {
        let r = sqlx::query(&format!(
            "SELECT {RECORD_COLS} FROM call_records WHERE tenant_id = $1 AND recording = $2 AND recording <> ''"
        ))
        .bind(tenant.0)
        .bind(path)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(record_from).transpose()
    }

    /// A page of call records in the listing's order (call start, then id): after the cursor
    /// (`after_id`), or past `offset` records for dialects that number pages.
    pub async fn list_call_records(
        &self,
        tenant: TenantId,
        f: &CallRecordFilter,
        limit: i64,
    ) -> Result<Vec<StoredCallRecord>> {
        let (sql, binds) = self.list_call_records_sql(f)?;
        let q = bind_all(sqlx::query(&sql).bind(tenant.0), &binds);
        let rows = self.fetch_listing(q.bind(limit).bind(f.offset)).await?;
        rows.iter().map(record_from).collect()
    }

    /// A page of call records (as [`Db::list_call_records`]) and how many match (as
    /// [`Db::count_call_records`]), read by one statement: the count rides on each row of the
    /// page as a scalar subquery, so a page costs one checkout and one round trip, not two.
    pub async fn list_call_records_counted(
        &self,
        tenant: TenantId,
        f: &CallRecordFilter,
        limit: i64,
    ) -> Result<(Vec<StoredCallRecord>, i64)> {
        let (sql, binds) = self.list_call_records_counted_sql(f)?;
        let q = bind_all(sqlx::query(&sql).bind(tenant.0), &binds);
        let rows = self.fetch_listing(q.bind(limit).bind(f.offset)).await?;
        let total = match rows.first() {
            Some(r) => r.try_get(COUNT_COL)?,
            // No page, so no row to carry the count: nothing matches at all, or the page lies
            // past the end (or past the cursor) and the count is asked on its own.
            None if f.offset == 0 && f.after_id.is_none() => 0,
            None => self.count_call_records(tenant, f).await?,
        };
        Ok((rows.iter().map(record_from).collect::<Result<_>>()?, total))
    }

    /// The one statement [`Db::list_call_records_counted`] runs (the page, each row with the
    /// count of all matches, cursor and offset aside) and the values it binds after the tenant
    /// (then limit and offset), for benchmarks that time the bare query beside the API.
    pub fn list_call_records_counted_sql(&self, f: &CallRecordFilter) -> Result<(String, Vec<Val>)> {
        let (count_clauses, count_binds) =
            record_where(&CallRecordFilter { after_id: None, ..f.clone() }, self.backend())?;
        let (clauses, binds) = record_where(f, self.backend())?;
        // The cursor is the last value the WHERE builder binds, so the count's values are the
        // page's first ones and its placeholders name the same values.
        debug_assert!(binds.starts_with(&count_binds));
        let order = if f.ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {RECORD_COLS}, (SELECT COUNT(*) FROM call_records WHERE {count_clauses}) AS total \
             FROM call_records WHERE {clauses} ORDER BY started_at {order}, id {order} LIMIT ${} OFFSET ${}",
            binds.len() + 2,
            binds.len() + 3
        );
        Ok((sql, binds))
    }

    /// The SQL a listing runs and the values it binds after the tenant (then limit and offset),
    /// for benchmarks that time the bare query beside the API.
    pub fn list_call_records_sql(&self, f: &CallRecordFilter) -> Result<(String, Vec<Val>)> {
        let (clauses, binds) = record_where(f, self.backend())?;
        let order = if f.ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {RECORD_COLS} FROM call_records WHERE {clauses} ORDER BY started_at {order}, id {order} LIMIT ${} \
             OFFSET ${}",
            binds.len() + 2,
            binds.len() + 3
        );
        Ok((sql, binds))
    }

    /// The SQL counting a listing's matches (cursor and offset aside) and the values it binds
    /// after the tenant.
    pub fn count_call_records_sql(&self, f: &CallRecordFilter) -> Result<(String, Vec<Val>)> {
        let f = CallRecordFilter { after_id: None, ..f.clone() };
        let (clauses, binds) = record_where(&f, self.backend())?;
        Ok((format!("SELECT COUNT(*) FROM call_records WHERE {clauses}"), binds))
    }

    /// How many call records match (cursor and offset aside).
    pub async fn count_call_records(&self, tenant: TenantId, f: &CallRecordFilter) -> Result<i64> {
        let (sql, binds) = self.count_call_records_sql(f)?;
        let row = bind_all(sqlx::query(&sql).bind(tenant.0), &binds).fetch_one(&self.pool).await?;
        Ok(row.try_get(0)?)
    }

    /// Marks records as fetched by `client` (sipcdr syncflag).
    pub async fn mark_fetched(&self, tenant: TenantId, client: &str, ids: &[i64], now_ms: i64) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query(
                "INSERT INTO record_fetches (tenant_id, client, record_id, fetched_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(tenant.0)
            .bind(client)
            .bind(*id)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The live tenant whose SIP domain is `domain`.
    pub async fn tenant_by_sip_domain(&self, domain: &str) -> Result<Option<crate::directory::Tenant>> {
        let load = async {
            let id: Option<i64> =
                sqlx::query_scalar("SELECT id FROM tenants WHERE lower(sip_domain) = lower($1) AND deleted = 0")
                    .bind(domain)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(id)
        };
        match self.memo.get(format!("sip_domain\0{}", domain.to_lowercase()), load).await? {
            Some(id) => self.tenant_by_id(TenantId(id)).await,
            None => Ok(None),
        }
    }
}

/// Most events written by one INSERT (five values each, well under the backends' parameter limits).
const EVENTS_PER_INSERT: usize = 128;

/// Inserts events with one statement and returns their ids in the order given. The ids come back
/// sorted rather than in RETURNING's order, which neither backend promises: both number the rows
/// of one VALUES list in the order listed.
async fn insert_events(conn: &mut sqlx::AnyConnection, events: &[EventRow]) -> Result<Vec<i64>> {
    let mut sql = String::from("INSERT INTO events (tenant_id, call_id, kind, at, data) VALUES ");
    for i in 0..events.len() {
        let b = i * 5;
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(sql, "{sep}(${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5);
    }
    sql.push_str(" RETURNING id");
    let mut q = sqlx::query_scalar::<_, i64>(&sql);
    for (tenant, call_id, kind, at, data) in events {
        q = q.bind(tenant.0).bind(call_id.as_str()).bind(*kind).bind(*at).bind(data.as_str());
    }
    let mut ids = q.fetch_all(&mut *conn).await?;
    ids.sort_unstable();
    Ok(ids)
}

/// One event as stored: id, kind, time (ms), JSON data.
pub type StoredEvent = (i64, String, i64, String);

/// One event to append: tenant, call (or other stream) id, kind, time (ms), JSON data.
pub type EventRow = (TenantId, String, &'static str, i64, String);

/// One call's events in order, as [`StoredEvent`]s (read through the pool or on SQLite's writer).
pub(crate) const CALL_EVENTS_SQL: &str =
    "SELECT id, kind, at, data FROM events WHERE tenant_id = $1 AND call_id = $2 ORDER BY id";

/// Appends one event (SQLite's writer runs it once per event on a prepared statement).
pub(crate) const INSERT_EVENT_SQL: &str =
    "INSERT INTO events (tenant_id, call_id, kind, at, data) VALUES ($1, $2, $3, $4, $5)";

/// Removes a call's record before it is written again (a replay rewrites it).
pub(crate) const DELETE_RECORD_SQL: &str = "DELETE FROM call_records WHERE tenant_id = $1 AND call_id = $2";

/// Writes one call record; its 42 values come from [`record_params`].
pub(crate) const INSERT_RECORD_SQL: &str = "INSERT INTO call_records (tenant_id, call_id, direction, staff, \
     extension, customer, caller_id, trunk, agent_start, agent_ring, agent_answer, agent_end, customer_start, \
     customer_ring, customer_answer, customer_end, ring_secs, talk_secs, bill_secs, cause, hangup_side, recording, \
     recording_repaired, codeid_1, codeid_2, started_at, method, call_data, task_id, digits, transferred_to, holds, ivr_name, ivr_digits, ivr_last_node, ivr_start, ivr_end, queue, \
     queue_start, queue_end, queue_outcome, satisfaction) VALUES \
     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, \
     $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42)";

/// One value of a call record's row, for either driver to bind.
pub(crate) enum RecordParam<'a> {
    Int(i64),
    MaybeInt(Option<i64>),
    Text(std::borrow::Cow<'a, str>),
}

/// The values of [`INSERT_RECORD_SQL`], in order.
pub(crate) fn record_params<'a>(tenant: TenantId, call_id: &'a str, r: &'a CallRecord) -> Vec<RecordParam<'a>> {
    use RecordParam::{Int, MaybeInt, Text};
    let text = |s: &'a str| Text(s.into());
    vec![
        Int(tenant.0),
        text(call_id),
        text(&r.direction),
        text(&r.staff),
        text(&r.extension),
        text(&r.customer),
        text(&r.caller_id),
        text(&r.trunk),
        MaybeInt(r.agent.start),
        MaybeInt(r.agent.ring),
        MaybeInt(r.agent.answer),
        MaybeInt(r.agent.end),
        MaybeInt(r.customer_leg.start),
        MaybeInt(r.customer_leg.ring),
        MaybeInt(r.customer_leg.answer),
        MaybeInt(r.customer_leg.end),
        Int(r.ring_secs),
        Int(r.talk_secs),
        Int(r.bill_secs),
        text(r.cause.map(|c| c.name()).unwrap_or("")),
        text(r.hangup_side.map(|s| s.as_str()).unwrap_or("")),
        text(&r.recording),
        Int(i64::from(r.recording_repaired)),
        text(&r.codeid_1),
        text(&r.codeid_2),
        Int(r.started_at()),
        text(r.method.as_str()),
        Text(serde_json::to_string(&r.call_data).unwrap_or_else(|_| "{}".into()).into()),
        text(&r.task_id),
        text(&r.digits),
        Text(r.transferred_to.join(",").into()),
        Int(i64::from(r.holds)),
        text(&r.ivr_name),
        text(&r.ivr_digits),
        text(&r.ivr_last_node),
        MaybeInt(r.ivr_start),
        MaybeInt(r.ivr_end),
        text(&r.queue),
        MaybeInt(r.queue_start),
        MaybeInt(r.queue_end),
        text(&r.queue_outcome),
        Int(r.satisfaction.map_or(-1, i64::from)),
    ]
}

async fn write_record(conn: &mut sqlx::AnyConnection, tenant: TenantId, call_id: &str, r: &CallRecord) -> Result<()> {
    sqlx::query(DELETE_RECORD_SQL).bind(tenant.0).bind(call_id).execute(&mut *conn).await?;
    let mut insert = sqlx::query(INSERT_RECORD_SQL);
    for value in record_params(tenant, call_id, r) {
        insert = match value {
            RecordParam::Int(i) => insert.bind(i),
            RecordParam::MaybeInt(i) => insert.bind(i),
            RecordParam::Text(s) => insert.bind(s.into_owned()),
        };
    }
    insert.execute(&mut *conn).await?;
    Ok(())
}

/// One agent presence event as stored: which agent's stream, when, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAgentEvent {
    /// Event id.
    pub id: i64,
    /// The agent's account (`agent/<account>` stream).
    pub user_code: String,
    /// When (ms).
    pub at: i64,
    /// When the agent's next event came (ms), if it has.
    pub until: Option<i64>,
    /// The event's JSON.
    pub data: String,
}

/// Filters of the agent-event listing; empty lists mean any.
#[derive(Debug, Clone, Default)]
pub struct AgentEventFilter {
    /// Any of these accounts.
    pub user_codes: Option<Vec<String>>,
    /// Any of these kinds (`agent_login`, ...).
    pub kinds: Vec<String>,
    /// At or after (ms).
    pub from_ms: Option<i64>,
    /// At or before (ms).
    pub to_ms: Option<i64>,
}

impl Db {
    /// A page of a tenant's agent presence events, newest first, and how many match.
    pub async fn agent_events(
        &self,
        tenant: TenantId,
        f: &AgentEventFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<StoredAgentEvent>, i64)> {
        let mut w = Where::new("tenant_id = $1 AND call_id LIKE 'agent/%'");
        if let Some(codes) = &f.user_codes {
            if codes.is_empty() {
                return Ok((Vec::new(), 0));
            }
            let streams: Vec<String> = codes.iter().map(|c| format!("agent/{c}")).collect();
            w.any_of("call_id", &streams);
        }
        w.any_of("kind", &f.kinds);
        for (clause, v) in [(" AND at >= $?", f.from_ms), (" AND at <= $?", f.to_ms)] {
            if let Some(v) = v {
                w.value(clause, Val::Int(v));
            }
        }
        let select = "id, call_id, at, data, (SELECT MIN(n.at) FROM events n WHERE n.tenant_id = events.tenant_id \
                      AND n.call_id = events.call_id AND n.id > events.id) AS until";
        let (rows, total) = self.counted_page(tenant, select, "events", &w, "id DESC", offset, limit).await?;
        let events = rows
            .iter()
            .map(|r| {
                let stream: &str = r.try_get("call_id")?;
                Ok(StoredAgentEvent {
                    id: r.try_get("id")?,
                    user_code: stream.trim_start_matches("agent/").to_string(),
                    at: r.try_get("at")?,
                    until: r.try_get("until")?,
                    data: r.try_get("data")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((events, total))
    }

    /// Keeps a dialect login token (its hash) until `expires_at`, dropping expired ones.
    pub async fn put_dialect_token(
        &self,
        tenant: TenantId,
        kind: &str,
        principal: &str,
        token_hash: &str,
        expires_at: i64,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM dialect_tokens WHERE expires_at < $1").bind(now_ms).execute(&self.pool).await?;
        sqlx::query(
            "INSERT INTO dialect_tokens (token_hash, tenant_id, kind, principal, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(tenant.0)
        .bind(kind)
        .bind(principal)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        self.memo.invalidate();
        Ok(())
    }

    /// The tenant and principal of a live dialect token of `kind` (its credential still live).
    pub async fn dialect_token(&self, kind: &str, token_hash: &str, now_ms: i64) -> Result<Option<(TenantId, String)>> {
        let load = async {
            let r = sqlx::query(
                "SELECT d.tenant_id, d.principal, d.expires_at FROM dialect_tokens d JOIN tenant_credentials c \
                 ON c.tenant_id = d.tenant_id AND c.kind = d.kind AND c.principal = d.principal \
                 JOIN tenants t ON t.id = d.tenant_id \
                 WHERE d.token_hash = $1 AND d.kind = $2 AND c.deleted = 0 AND t.deleted = 0",
            )
            .bind(token_hash)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await?;
            r.map(|r| -> Result<(TenantId, String, i64)> {
                Ok((TenantId(r.try_get("tenant_id")?), r.try_get("principal")?, r.try_get("expires_at")?))
            })
            .transpose()
        };
        let found = self.memo.get(format!("dialect_token\0{kind}\0{token_hash}"), load).await?;
        Ok(found.filter(|(_, _, expires_at)| *expires_at > now_ms).map(|(t, p, _)| (t, p)))
    }
}

impl Db {
    /// When the tenant's latest customer-first call to `number` that a live person answered and no
    /// agent took (abandoned) was answered, if any since `since_ms`.
    pub async fn last_abandoned_at(&self, tenant: TenantId, number: &str, since_ms: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MAX(customer_answer) FROM call_records WHERE tenant_id = $1 AND customer = $2 AND started_at >= $3 \
             AND method = 'predictive' AND customer_answer IS NOT NULL AND agent_answer IS NULL",
        )
        .bind(tenant.0)
        .bind(number)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?)
    }
}

/// One earlier attempt of a task, as the dialer's pacer learns from it after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PastAttempt {
    /// When the attempt ended (ms).
    pub at: i64,
    /// Dialing to answer (or to the end, unanswered), ms.
    pub ring_ms: i64,
    /// A live person answered.
    pub live: bool,
    /// Answered, and no agent took it.
    pub abandoned: bool,
    /// Hung up by the dialer while still ringing: its ringing time is a lower bound only.
    pub dropped: bool,
    /// Talk, ms.
    pub talk_ms: i64,
}

impl Db {
    /// A task's customer-first calls that started since `since_ms`, oldest first (at most `limit`).
    pub async fn past_attempts(
        &self,
        tenant: TenantId,
        task_code: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<PastAttempt>> {
        let rows = sqlx::query(
            "SELECT started_at, customer_answer, customer_end, agent_answer, talk_secs, cause, hangup_side \
             FROM call_records \
             WHERE tenant_id = $1 AND task_id = $2 AND method = 'predictive' AND started_at >= $3 \
             ORDER BY started_at, id LIMIT $4",
        )
        .bind(tenant.0)
        .bind(task_code)
        .bind(since_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let start: i64 = r.try_get(0)?;
                let answer: Option<i64> = r.try_get(1)?;
                let end: Option<i64> = r.try_get(2)?;
                let agent: Option<i64> = r.try_get(3)?;
                let talk: i64 = r.try_get(4)?;
                let cause: String = r.try_get(5)?;
                let side: String = r.try_get(6)?;
                let end = end.unwrap_or(start);
                Ok(PastAttempt {
                    at: end,
                    ring_ms: (answer.unwrap_or(end) - start).max(0),
                    live: answer.is_some(),
                    abandoned: answer.is_some() && agent.is_none(),
                    dropped: answer.is_none()
                        && cause == Cause::OriginatorCancel.name()
                        && side == HangupSide::System.as_str(),
                    talk_ms: talk * 1000,
                })
            })
            .collect()
    }
}
