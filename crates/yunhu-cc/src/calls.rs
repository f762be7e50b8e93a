//! Call records and agent history as the dialects list them: one listing, keyset-paged in call
//! start order, below every skin.

use crate::{CcError, Services, TenantId};
use yunhu_core::agent::AgentEventKind;
pub use yunhu_store::calls::{AgentEventFilter, CallRecordFilter, StoredCallRecord};
pub use yunhu_store::outbound::Customer;

/// Largest page any dialect gets.
pub const MAX_PAGE: i64 = 1000;

/// How deep page numbers reach: dialects that number pages skip at most this many records, so no
/// request walks a large table; past it, a narrower time range (or a cursor) is needed.
pub const MAX_PAGED_OFFSET: i64 = 100_000;

/// A staff member as call listings name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// Account.
    pub user_code: String,
    /// Extension (short form).
    pub agent_id: String,
    /// Name.
    pub name: String,
    /// Calls follow to the mobile (手机随行).
    pub phone_take_along: bool,
    /// Skill group codes (when asked for).
    pub queues: Vec<String>,
    /// Skills and their levels (1 best).
    pub skills: std::collections::BTreeMap<String, u8>,
    /// Routing priority (lower first among equals).
    pub priority: i64,
}

/// One agent presence change with how long the agent stayed in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentHistoryEntry {
    /// Event id.
    pub id: i64,
    /// The agent's account.
    pub user_code: String,
    /// When it began (ms).
    pub start: i64,
    /// When the agent's next change came (ms); `None` while it lasts.
    pub end: Option<i64>,
    /// The change.
    pub event: AgentEventKind,
}

fn check_offset(offset: i64) -> Result<(), CcError> {
    if !(0..=MAX_PAGED_OFFSET).contains(&offset) {
        return Err(CcError::Invalid(format!(
            "pages reach {MAX_PAGED_OFFSET} records deep; narrow the time range to see older ones"
        )));
    }
    Ok(())
}

impl Services {
    /// A keyset page of the tenant's call records (`filter.after_id` is the cursor).
    pub async fn list_call_records(
        &self,
        tenant: TenantId,
        filter: &CallRecordFilter,
        limit: i64,
    ) -> Result<Vec<StoredCallRecord>, CcError> {
        check_offset(filter.offset)?;
        Ok(self.db.list_call_records(tenant, filter, limit.clamp(1, MAX_PAGE)).await?)
    }

    /// A page of the tenant's call records (as [`Services::list_call_records`]) and how many
    /// match `filter` (cursor and offset aside), for the dialects that number pages.
    pub async fn list_call_records_counted(
        &self,
        tenant: TenantId,
        filter: &CallRecordFilter,
        limit: i64,
    ) -> Result<(Vec<StoredCallRecord>, i64), CcError> {
        check_offset(filter.offset)?;
        Ok(self.db.list_call_records_counted(tenant, filter, limit.clamp(1, MAX_PAGE)).await?)
    }

    /// Notes that `client` has fetched these records (sipcdr syncflag).
    pub async fn mark_fetched(&self, tenant: TenantId, client: &str, ids: &[i64]) -> Result<(), CcError> {
        Ok(self.db.mark_fetched(tenant, client, ids, self.now_ms()).await?)
    }

    /// A page of agent presence changes, newest first, and how many match.
    pub async fn agent_history(
        &self,
        tenant: TenantId,
        filter: &AgentEventFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AgentHistoryEntry>, i64), CcError> {
        if !(0..=MAX_PAGED_OFFSET).contains(&offset) {
            return Err(CcError::Invalid(format!(
                "pages reach {MAX_PAGED_OFFSET} records deep; narrow the time range"
            )));
        }
        let (rows, total) = self.db.agent_events(tenant, filter, offset, limit.clamp(1, MAX_PAGE)).await?;
        let entries = rows
            .into_iter()
            .filter_map(|r| {
                let event = serde_json::from_str::<AgentEventKind>(&r.data).ok()?;
                Some(AgentHistoryEntry { id: r.id, user_code: r.user_code, start: r.at, end: r.until, event })
            })
            .collect();
        Ok((entries, total))
    }
}

impl Services {
    /// How many of the tenant's call records match `filter`.
    pub async fn count_call_records(&self, tenant: TenantId, filter: &CallRecordFilter) -> Result<i64, CcError> {
        Ok(self.db.count_call_records(tenant, filter).await?)
    }

    /// One call's record.
    pub async fn call_record(&self, tenant: TenantId, call_id: &str) -> Result<Option<StoredCallRecord>, CcError> {
        Ok(self.db.call_record(tenant, call_id).await?)
    }

    /// Staff names by account, for listings that show who took a call.
    pub async fn staff_names(&self, tenant: TenantId) -> Result<std::collections::HashMap<String, String>, CcError> {
        Ok(self.roster(tenant, false).await?.into_iter().map(|m| (m.user_code, m.name)).collect())
    }

    /// The tenant's staff as call listings name them; with their skill groups when `queues`.
    pub async fn roster(&self, tenant: TenantId, queues: bool) -> Result<Vec<RosterEntry>, CcError> {
        let rows = self.db.list_rows(tenant, &yunhu_store::directory::STAFF).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let user_code = r["user_code"].text().to_string();
            let queues = if queues { self.db.staff_queue_codes(tenant, &user_code).await? } else { Vec::new() };
            out.push(RosterEntry {
                name: r["name"].text().into(),
                agent_id: r["agent_id"].text().into(),
                phone_take_along: r["phone_take_along"].int() != 0,
                user_code,
                queues,
                skills: serde_json::from_str(r.get("skills").map(|v| v.text()).unwrap_or("{}")).unwrap_or_default(),
                priority: r["priority"].int(),
            });
        }
        Ok(out)
    }
}

impl Services {
    /// Gives a staff member a customer record; `false` when they already have that number.
    pub async fn add_customer(&self, tenant: TenantId, customer: &Customer) -> Result<bool, CcError> {
        Ok(self.db.add_customer(tenant, customer, self.now_ms()).await?)
    }

    /// A staff member's customer records.
    pub async fn customers_of(&self, tenant: TenantId, staff: &str) -> Result<Vec<Customer>, CcError> {
        Ok(self.db.customers_of(tenant, staff).await?)
    }

    /// The live staff member with this account (not an extension): their directory row.
    pub async fn staff_account_row(&self, tenant: TenantId, user_code: &str) -> Result<yunhu_store::Row, CcError> {
        match self.db.get_row(tenant, &yunhu_store::directory::STAFF, &[user_code.into()]).await? {
            Some((row, false)) => Ok(row),
            _ => Err(CcError::NotFound(format!("staff {user_code}"))),
        }
    }

    /// The account of the live staff member with this account or extension.
    pub async fn staff_account(&self, tenant: TenantId, staff: &str) -> Result<String, CcError> {
        Ok(self.staff_by_code_or_extension(tenant, staff).await?["user_code"].text().to_string())
    }
}
