//! Reading the directory the way agent desktops and CRMs ask for it: staff pages, an agent's
//! skill groups, scripts, work-order objects, caller IDs.

use crate::{CcError, Services, TenantId};
use std::collections::BTreeMap;
use yunhu_core::Role;
use yunhu_store::directory as tables;
pub use yunhu_store::directory::StaffFilter;
use yunhu_store::{Row, Val};

/// A staff member as listings show them.
#[derive(Debug, Clone)]
pub struct StaffEntry {
    /// 32-hex public id.
    pub stream_id: String,
    /// Account, short form.
    pub user_code: String,
    /// Name.
    pub name: String,
    /// Extension, short form ("" when none).
    pub agent_id: String,
    /// Role.
    pub role: Role,
    /// Team code ("" when none) and its name.
    pub team: Option<(String, String)>,
    /// Numeric ids of the staff member's skill groups.
    pub queue_ids: Vec<i64>,
    /// Default skill group code ("" when none).
    pub default_queue: String,
    /// Mobile.
    pub work_phone: String,
    /// E-mail.
    pub email: String,
    /// May work.
    pub enabled: bool,
    /// Calls follow to the mobile.
    pub phone_take_along: bool,
    /// Routing priority.
    pub priority: i64,
    /// Free text.
    pub remark: String,
    /// Who created / last changed the entry.
    pub created_by: String,
    /// Who last changed the entry.
    pub updated_by: String,
    /// Creation time, ms UTC.
    pub created_at: i64,
    /// Last change, ms UTC.
    pub updated_at: i64,
}

/// A skill group with the names of what it refers to.
#[derive(Debug, Clone)]
pub struct QueueEntry {
    /// Numeric id.
    pub id: i64,
    /// Short code.
    pub code: String,
    /// Name.
    pub name: String,
    /// `in` or `out`.
    pub direction: String,
    /// Work-order object code and name.
    pub data_object: Option<(String, String)>,
    /// Script public id.
    pub script_stream: Option<String>,
    /// Caller-ID number.
    pub caller_id: String,
    /// Reminder after this many seconds.
    pub tip_timeout: i64,
    /// Outbound project code and name.
    pub project: Option<(String, String)>,
    /// 0 predictive, 1 preview.
    pub call_type: i64,
}

/// A value/label pair, the shape of option lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// Identifier.
    pub value: String,
    /// What a person reads.
    pub label: String,
}

fn names(rows: &[Row], key: &str) -> BTreeMap<String, String> {
    rows.iter().map(|r| (r[key].text().to_string(), r["name"].text().to_string())).collect()
}

impl Services {
    /// A page (1-based) of the tenant's staff matching `filter`, and the total.
    pub async fn search_staff(
        &self,
        tenant: TenantId,
        filter: &StaffFilter,
        page: i64,
        page_size: i64,
    ) -> Result<(Vec<StaffEntry>, i64), CcError> {
        let (rows, total) = self.db.list_staff(tenant, filter, (page - 1) * page_size, page_size).await?;
        let teams = names(&self.db.list_rows(tenant, &tables::TEAMS).await?, "code");
        let queue_ids = self.db.serial_ids(tenant, &tables::QUEUES).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let user_code = r["user_code"].text().to_string();
            let codes = self.db.staff_queue_codes(tenant, &user_code).await?;
            let team = r["team"].text();
            out.push(StaffEntry {
                stream_id: r["stream_id"].text().into(),
                name: r["name"].text().into(),
                agent_id: r["agent_id"].text().into(),
                role: Role::parse(r["role"].text()).unwrap_or(Role::Agent),
                team: (!team.is_empty()).then(|| (team.to_string(), teams.get(team).cloned().unwrap_or_default())),
                queue_ids: codes.iter().filter_map(|c| queue_ids.get(c).copied()).collect(),
                default_queue: r["default_queue"].text().into(),
                work_phone: r["work_phone"].text().into(),
                email: r["email"].text().into(),
                enabled: r["enabled"].int() != 0,
                phone_take_along: r["phone_take_along"].int() != 0,
                priority: r["priority"].int(),
                remark: r["remark"].text().into(),
                created_by: r["created_by"].text().into(),
                updated_by: r["updated_by"].text().into(),
                created_at: r["created_at"].int(),
                updated_at: r["updated_at"].int(),
                user_code,
            });
        }
        Ok((out, total))
    }

    /// The tenant's whole staff, by account (`who` `None`), or the one staff member `who` names
    /// by account or extension (`NotFound` if none does). Disabled staff are included: they are
    /// still in the directory.
    pub async fn staff_entries(&self, tenant: TenantId, who: Option<&str>) -> Result<Vec<StaffEntry>, CcError> {
        const PAGE: i64 = 500;
        let mut filter = StaffFilter::default();
        if let Some(who) = who {
            let row = self.staff_by_code_or_extension(tenant, who).await.map_err(|e| match e {
                CcError::NotFound(_) => CcError::NotFound(format!("no staff member {who}")),
                e => e,
            })?;
            filter.user_code = Some(row["user_code"].text().to_string());
        }
        let mut out = Vec::new();
        for page in 1.. {
            let (entries, total) = self.search_staff(tenant, &filter, page, PAGE).await?;
            let done = entries.len() < PAGE as usize || (page * PAGE) >= total;
            out.extend(entries);
            if done {
                break;
            }
        }
        Ok(out)
    }

    /// Whether a live staff member has extension `agent_id`.
    pub async fn extension_exists(&self, tenant: TenantId, agent_id: &str) -> Result<bool, CcError> {
        Ok(self.staff_by_extension(tenant, agent_id).await.is_ok())
    }

    /// The codes of the tenant's live skill groups.
    pub async fn queue_codes(&self, tenant: TenantId) -> Result<Vec<String>, CcError> {
        Ok(self.db.serial_ids(tenant, &tables::QUEUES).await?.into_keys().collect())
    }

    /// The names of the tenant's skill groups by code, for listings that name the queue a call
    /// waited in.
    pub async fn queue_names(&self, tenant: TenantId) -> Result<BTreeMap<String, String>, CcError> {
        Ok(names(&self.db.list_rows(tenant, &tables::QUEUES).await?, "code"))
    }

    /// The live staff member with extension `agent_id`, or `NotFound`.
    pub(crate) async fn staff_by_extension(&self, tenant: TenantId, agent_id: &str) -> Result<Row, CcError> {
        self.db
            .staff_by_extension(tenant, agent_id)
            .await?
            .ok_or_else(|| CcError::NotFound(format!("no staff member has extension {agent_id}")))
    }

    /// Replaces the skill groups of the staff member at extension `agent_id`.
    pub async fn reset_queues(
        &self,
        tenant: TenantId,
        agent_id: &str,
        queues: &[String],
        default_queue: &str,
    ) -> Result<(), CcError> {
        let mut staff = self.staff_by_extension(tenant, agent_id).await?;
        if queues.is_empty() {
            return Err(CcError::Invalid("queues must name at least one skill group".into()));
        }
        let known = self.db.serial_ids(tenant, &tables::QUEUES).await?;
        if let Some(q) = queues.iter().find(|q| !known.contains_key(*q)) {
            return Err(CcError::NotFound(format!("skill group {q}")));
        }
        if !queues.iter().any(|q| q == default_queue) {
            return Err(CcError::Invalid(format!("defaultQueue {default_queue} is not one of queues")));
        }
        let user_code = staff["user_code"].text().to_string();
        staff.insert("default_queue", Val::from(default_queue));
        staff.insert("updated_by", Val::from("api"));
        self.db.put_row(tenant, &tables::STAFF, &staff, self.now_ms()).await?;
        self.db.set_staff_queues(tenant, &user_code, queues).await?;
        Ok(())
    }

    /// The skill groups of the staff member at extension `agent_id`.
    pub async fn queues_of_agent(&self, tenant: TenantId, agent_id: &str) -> Result<Vec<QueueEntry>, CcError> {
        let staff = self.staff_by_extension(tenant, agent_id).await?;
        let codes = self.db.staff_queue_codes(tenant, staff["user_code"].text()).await?;
        let ids = self.db.serial_ids(tenant, &tables::QUEUES).await?;
        let objects = names(&self.db.list_rows(tenant, &tables::DATA_OBJECTS).await?, "code");
        let projects = names(&self.db.list_rows(tenant, &tables::PROJECTS).await?, "code");
        let scripts: BTreeMap<String, String> = self
            .db
            .list_rows(tenant, &tables::SCRIPTS)
            .await?
            .iter()
            .map(|r| (r["name"].text().to_string(), r["stream_id"].text().to_string()))
            .collect();
        let named = |map: &BTreeMap<String, String>, code: &str| {
            (!code.is_empty()).then(|| (code.to_string(), map.get(code).cloned().unwrap_or_default()))
        };
        Ok(self
            .db
            .list_rows(tenant, &tables::QUEUES)
            .await?
            .into_iter()
            .filter(|q| codes.iter().any(|c| c == q["code"].text()))
            .map(|q| QueueEntry {
                id: ids.get(q["code"].text()).copied().unwrap_or_default(),
                code: q["code"].text().into(),
                name: q["name"].text().into(),
                direction: q["direction"].text().into(),
                data_object: named(&objects, q["data_object"].text()),
                script_stream: scripts.get(q["script"].text()).cloned(),
                caller_id: q["caller_id"].text().into(),
                tip_timeout: q["tip_timeout"].int(),
                project: named(&projects, q["project"].text()),
                call_type: q["call_type"].int(),
            })
            .collect())
    }

    /// The tenant's scripts: public id and name.
    pub async fn script_choices(&self, tenant: TenantId) -> Result<Vec<Choice>, CcError> {
        let rows = self.db.list_rows(tenant, &tables::SCRIPTS).await?;
        Ok(rows
            .iter()
            .map(|r| Choice { value: r["stream_id"].text().into(), label: r["name"].text().into() })
            .collect())
    }

    /// The tenant's work-order objects: short code and name.
    pub async fn data_object_choices(&self, tenant: TenantId) -> Result<Vec<Choice>, CcError> {
        let rows = self.db.list_rows(tenant, &tables::DATA_OBJECTS).await?;
        Ok(rows.iter().map(|r| Choice { value: r["code"].text().into(), label: r["name"].text().into() }).collect())
    }

    /// The tenant's caller-ID numbers: numeric id and number.
    pub async fn caller_id_choices(&self, tenant: TenantId) -> Result<Vec<Choice>, CcError> {
        let ids = self.db.serial_ids(tenant, &tables::CALLER_IDS).await?;
        let mut out: Vec<(i64, String)> = ids.into_iter().map(|(number, id)| (id, number)).collect();
        out.sort();
        Ok(out.into_iter().map(|(id, number)| Choice { value: id.to_string(), label: number }).collect())
    }
}
