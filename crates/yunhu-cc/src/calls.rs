//! Call records as the dialects list them: one listing, keyset-paged, below every skin.

use crate::{CcError, Services, TenantId};
pub use yunhu_store::calls::{CallRecordFilter, StoredCallRecord};

/// Largest page any dialect gets.
pub const MAX_PAGE: i64 = 1000;

impl Services {
    /// A keyset page of the tenant's call records (`filter.after_id` is the cursor).
    pub async fn list_call_records(
        &self,
        tenant: TenantId,
        filter: &CallRecordFilter,
        limit: i64,
    ) -> Result<Vec<StoredCallRecord>, CcError> {
        Ok(self.db.list_call_records(tenant, filter, limit.clamp(1, MAX_PAGE)).await?)
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
        let rows = self.db.list_rows(tenant, &yunhu_store::directory::STAFF).await?;
        Ok(rows.iter().map(|r| (r["user_code"].text().to_string(), r["name"].text().to_string())).collect())
    }
}
