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
