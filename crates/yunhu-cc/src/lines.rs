//! Extensions as lines: whose an extension is, whether it may work, and what its phone is doing —
//! the directory and the switch together, for the dialects that watch extensions. Without
//! telephony every line is `Unregistered`: nothing can have registered.

use crate::switch::{LineState, Switch};
use crate::{CcError, Services, Tenant, TenantId};
use yunhu_store::Row;
use yunhu_store::calls::TRUNKS;
use yunhu_store::directory::StaffFilter;

/// One of the tenant's extensions and its state.
#[derive(Debug, Clone)]
pub struct Line {
    /// The extension (short form).
    pub extension: String,
    /// The staff account it belongs to.
    pub user_code: String,
    /// The staff member's name.
    pub name: String,
    /// The staff member may work (a disabled one cannot register).
    pub enabled: bool,
    /// What its phone is doing.
    pub state: LineState,
}

/// What a tenant's question about an extension finds.
#[derive(Debug, Clone)]
pub enum LineLookup {
    /// One of the tenant's own.
    Found(Line),
    /// Not the tenant's, but another tenant has it.
    Elsewhere,
    /// No tenant has it.
    Unknown,
}

fn line_of(switch: Option<&Switch>, tenant: &Tenant, row: &Row) -> Line {
    let extension = row["agent_id"].text().to_string();
    let user_code = row["user_code"].text().to_string();
    let state = match switch {
        Some(s) => s.line_state(tenant, &user_code, &extension),
        None => LineState::Unregistered,
    };
    Line { extension, user_code, name: row["name"].text().into(), enabled: row["enabled"].int() != 0, state }
}

/// Orders extensions as numbers where they are: `99` before `100`.
fn by_number(a: &str, b: &str) -> std::cmp::Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Services {
    /// Extension `ext` as `tenant` asks about it, its state from `switch` (none: no telephony).
    pub async fn line(&self, switch: Option<&Switch>, tenant: &Tenant, ext: &str) -> Result<LineLookup, CcError> {
        match self.db.staff_by_extension(tenant.id, ext).await? {
            Some(row) => Ok(LineLookup::Found(line_of(switch, tenant, &row))),
            None if self.db.extension_elsewhere(tenant.id, ext).await? => Ok(LineLookup::Elsewhere),
            None => Ok(LineLookup::Unknown),
        }
    }

    /// The tenant's extensions, only the enabled or the disabled ones if `enabled` says so, in
    /// extension order.
    pub async fn lines(
        &self,
        switch: Option<&Switch>,
        tenant: &Tenant,
        enabled: Option<bool>,
    ) -> Result<Vec<Line>, CcError> {
        const PAGE: i64 = 500;
        let filter = StaffFilter { enabled, ..Default::default() };
        let mut out = Vec::new();
        for page in 0.. {
            let (rows, total) = self.db.list_staff(tenant.id, &filter, page * PAGE, PAGE).await?;
            let done = rows.len() < PAGE as usize || (page + 1) * PAGE >= total;
            out.extend(rows.iter().filter(|r| !r["agent_id"].text().is_empty()).map(|r| line_of(switch, tenant, r)));
            if done {
                break;
            }
        }
        out.sort_by(|a, b| by_number(&a.extension, &b.extension));
        Ok(out)
    }

    /// The number the tenant's calls to customers show: its trunk's caller ID, else its first
    /// caller ID ("" when it has neither).
    pub async fn shown_caller_id(&self, tenant: TenantId) -> Result<String, CcError> {
        match self.db.list_rows(tenant, &TRUNKS).await?.first() {
            Some(trunk) => self.trunk_caller_id(tenant, trunk).await,
            None => self.first_caller_id(tenant).await,
        }
    }

    /// The caller ID calls through `trunk` show: its own, else the tenant's first.
    pub(crate) async fn trunk_caller_id(&self, tenant: TenantId, trunk: &Row) -> Result<String, CcError> {
        match trunk["caller_id"].text() {
            "" => self.first_caller_id(tenant).await,
            c => Ok(c.to_string()),
        }
    }

    async fn first_caller_id(&self, tenant: TenantId) -> Result<String, CcError> {
        Ok(self.caller_id_choices(tenant).await?.first().map(|c| c.label.clone()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::by_number;

    #[test]
    fn extensions_sort_as_numbers() {
        let mut exts = vec!["1002", "100", "99", "1001", "8001a"];
        exts.sort_by(|a, b| by_number(a, b));
        assert_eq!(exts, ["99", "100", "1001", "1002", "8001a"]);
    }
}
