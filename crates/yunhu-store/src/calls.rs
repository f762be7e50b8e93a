//! The event log and the call records projected from it.

use crate::rows::{Col, ColType, Table};
use crate::{Db, Result, TenantId};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use yunhu_core::call::{CallRecord, Cause, HangupSide, LegTimes};

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

/// Filters of a call-record listing; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct CallRecordFilter {
    /// Staff account.
    pub staff: Option<String>,
    /// Extension.
    pub extension: Option<String>,
    /// Customer number.
    pub customer: Option<String>,
    /// Custom data 1.
    pub codeid_1: Option<String>,
    /// Custom data 2.
    pub codeid_2: Option<String>,
    /// Agent-leg start at or after (ms).
    pub from_ms: Option<i64>,
    /// Agent-leg start at or before (ms).
    pub to_ms: Option<i64>,
    /// Only ids above this (ascending) or below it (descending).
    pub after_id: Option<i64>,
    /// Ascending by id.
    pub ascending: bool,
    /// Rows to skip (page-numbered dialects); 0 with keyset paging.
    pub offset: i64,
}

/// The WHERE clause of a filter (after `tenant_id = $1`), its text and then its integer values.
fn record_where(f: &CallRecordFilter) -> (String, Vec<String>, Vec<i64>) {
    let mut clauses = String::from("tenant_id = $1");
    let mut texts: Vec<String> = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    let mut n = 1;
    for (col, v) in [
        ("staff", &f.staff),
        ("extension", &f.extension),
        ("customer", &f.customer),
        ("codeid_1", &f.codeid_1),
        ("codeid_2", &f.codeid_2),
    ] {
        if let Some(v) = v {
            n += 1;
            clauses.push_str(&format!(" AND {col} = ${n}"));
            texts.push(v.clone());
        }
    }
    let id_op = if f.ascending { ">" } else { "<" };
    for (expr, v) in
        [("agent_start >=", f.from_ms), ("agent_start <=", f.to_ms), (&format!("id {id_op}") as &str, f.after_id)]
    {
        if let Some(v) = v {
            n += 1;
            clauses.push_str(&format!(" AND {expr} ${n}"));
            ints.push(v);
        }
    }
    (clauses, texts, ints)
}

const RECORD_COLS: &str = "id, call_id, direction, staff, extension, customer, caller_id, trunk, agent_start, agent_ring, \
     agent_answer, agent_end, customer_start, customer_ring, customer_answer, customer_end, ring_secs, talk_secs, \
     bill_secs, cause, hangup_side, recording, recording_repaired, codeid_1, codeid_2";

fn record_from(r: &AnyRow) -> Result<StoredCallRecord> {
    let leg = |p: &str| -> Result<LegTimes> {
        Ok(LegTimes {
            start: r.try_get(format!("{p}_start").as_str())?,
            ring: r.try_get(format!("{p}_ring").as_str())?,
            answer: r.try_get(format!("{p}_answer").as_str())?,
            end: r.try_get(format!("{p}_end").as_str())?,
        })
    };
    let side: String = r.try_get("hangup_side")?;
    Ok(StoredCallRecord {
        id: r.try_get("id")?,
        call_id: r.try_get("call_id")?,
        record: CallRecord {
            direction: r.try_get("direction")?,
            staff: r.try_get("staff")?,
            extension: r.try_get("extension")?,
            customer: r.try_get("customer")?,
            caller_id: r.try_get("caller_id")?,
            trunk: r.try_get("trunk")?,
            agent: leg("agent")?,
            customer_leg: leg("customer")?,
            ring_secs: r.try_get("ring_secs")?,
            talk_secs: r.try_get("talk_secs")?,
            bill_secs: r.try_get("bill_secs")?,
            cause: Cause::parse(&r.try_get::<String, _>("cause")?),
            hangup_side: match side.as_str() {
                "agent" => Some(HangupSide::Agent),
                "customer" => Some(HangupSide::Customer),
                "system" => Some(HangupSide::System),
                _ => None,
            },
            recording: r.try_get("recording")?,
            recording_repaired: r.try_get::<i64, _>("recording_repaired")? != 0,
            codeid_1: r.try_get("codeid_1")?,
            codeid_2: r.try_get("codeid_2")?,
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
    pub async fn call_events(&self, tenant: TenantId, call_id: &str) -> Result<Vec<(i64, String, i64, String)>> {
        let rows =
            sqlx::query("SELECT id, kind, at, data FROM events WHERE tenant_id = $1 AND call_id = $2 ORDER BY id")
                .bind(tenant.0)
                .bind(call_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("kind")?, r.try_get("at")?, r.try_get("data")?))).collect()
    }

    /// Calls that have events but no record: `(tenant, call_id)`; after a crash these are finished.
    pub async fn calls_without_record(&self) -> Result<Vec<(TenantId, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT e.tenant_id, e.call_id FROM events e WHERE e.call_id NOT LIKE 'agent/%' AND NOT EXISTS \
             (SELECT 1 FROM call_records c WHERE c.tenant_id = e.tenant_id AND c.call_id = e.call_id)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((TenantId(r.try_get("tenant_id")?), r.try_get("call_id")?))).collect()
    }

    /// The live trunks (of live tenants) at `source` or allowing its IP: `(tenant, name)`.
    pub async fn trunks_allowing(&self, source: std::net::SocketAddr) -> Result<Vec<(TenantId, String)>> {
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
            if address.parse::<std::net::SocketAddr>().ok() == Some(source) || allow.split(',').any(|a| a.trim() == ip)
            {
                out.push((TenantId(r.try_get("tenant_id")?), r.try_get("name")?));
            }
        }
        Ok(out)
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
        let rows = sqlx::query(
            "SELECT e.tenant_id, e.call_id, e.data FROM events e JOIN \
             (SELECT tenant_id, call_id, MAX(id) AS id FROM events WHERE call_id LIKE 'agent/%' GROUP BY tenant_id, call_id) m \
             ON e.id = m.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((TenantId(r.try_get("tenant_id")?), r.try_get("call_id")?, r.try_get("data")?)))
            .collect()
    }

    /// Writes (or rewrites, for a replay) the record of a call.
    pub async fn put_call_record(&self, tenant: TenantId, call_id: &str, r: &CallRecord) -> Result<()> {
        self.write_batch(&[], &[(tenant, call_id.to_string(), r.clone())]).await.map(|_| ())
    }

    /// Appends events and writes call records in one transaction (group commit): one durable
    /// commit for everything a busy switch produced meanwhile. Returns the events' ids.
    pub async fn write_batch(
        &self,
        events: &[(TenantId, String, &'static str, i64, String)],
        records: &[(TenantId, String, CallRecord)],
    ) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await?;
        let mut ids = Vec::with_capacity(events.len());
        for (tenant, call_id, kind, at, data) in events {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO events (tenant_id, call_id, kind, at, data) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(tenant.0)
            .bind(call_id)
            .bind(*kind)
            .bind(*at)
            .bind(data)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        for (tenant, call_id, r) in records {
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

    /// A page of call records: by key (`after_id`), or by `offset` for dialects that number pages.
    pub async fn list_call_records(
        &self,
        tenant: TenantId,
        f: &CallRecordFilter,
        limit: i64,
    ) -> Result<Vec<StoredCallRecord>> {
        let (clauses, texts, ints) = record_where(f);
        let n = 1 + texts.len() + ints.len();
        let order = if f.ascending { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {RECORD_COLS} FROM call_records WHERE {clauses} ORDER BY id {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut q = sqlx::query(&sql).bind(tenant.0);
        for t in texts {
            q = q.bind(t);
        }
        for i in ints {
            q = q.bind(i);
        }
        let rows = q.bind(limit).bind(f.offset).fetch_all(&self.pool).await?;
        rows.iter().map(record_from).collect()
    }

    /// How many call records match (cursor and offset aside).
    pub async fn count_call_records(&self, tenant: TenantId, f: &CallRecordFilter) -> Result<i64> {
        let f = CallRecordFilter { after_id: None, ..f.clone() };
        let (clauses, texts, ints) = record_where(&f);
        let sql = format!("SELECT COUNT(*) FROM call_records WHERE {clauses}");
        let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(tenant.0);
        for t in texts {
            q = q.bind(t);
        }
        for i in ints {
            q = q.bind(i);
        }
        Ok(q.fetch_one(&self.pool).await?)
    }

    /// The live tenant whose SIP domain is `domain`.
    pub async fn tenant_by_sip_domain(&self, domain: &str) -> Result<Option<crate::directory::Tenant>> {
        let r = sqlx::query("SELECT id, corp_id FROM tenants WHERE lower(sip_domain) = lower($1) AND deleted = 0")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await?;
        match r {
            Some(r) => self.tenant_by_id(TenantId(r.try_get("id")?)).await,
            None => Ok(None),
        }
    }
}

async fn write_record(conn: &mut sqlx::AnyConnection, tenant: TenantId, call_id: &str, r: &CallRecord) -> Result<()> {
    sqlx::query("DELETE FROM call_records WHERE tenant_id = $1 AND call_id = $2")
        .bind(tenant.0)
        .bind(call_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO call_records (tenant_id, call_id, direction, staff, extension, customer, caller_id, trunk, \
             agent_start, agent_ring, agent_answer, agent_end, customer_start, customer_ring, customer_answer, \
             customer_end, ring_secs, talk_secs, bill_secs, cause, hangup_side, recording, recording_repaired, \
             codeid_1, codeid_2) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $21, $22, $23, $24, $25)",
    )
    .bind(tenant.0)
    .bind(call_id)
    .bind(&r.direction)
    .bind(&r.staff)
    .bind(&r.extension)
    .bind(&r.customer)
    .bind(&r.caller_id)
    .bind(&r.trunk)
    .bind(r.agent.start)
    .bind(r.agent.ring)
    .bind(r.agent.answer)
    .bind(r.agent.end)
    .bind(r.customer_leg.start)
    .bind(r.customer_leg.ring)
    .bind(r.customer_leg.answer)
    .bind(r.customer_leg.end)
    .bind(r.ring_secs)
    .bind(r.talk_secs)
    .bind(r.bill_secs)
    .bind(r.cause.map(|c| c.name()).unwrap_or(""))
    .bind(r.hangup_side.map(|s| s.as_str()).unwrap_or(""))
    .bind(&r.recording)
    .bind(i64::from(r.recording_repaired))
    .bind(&r.codeid_1)
    .bind(&r.codeid_2)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
