//! What the agent workbench keeps: the events a desktop replays, desk tokens, the tenant's
//! wrap-up limit and reasons, CRM field definitions and the customer records the pop shows.

use crate::{Db, Result, TenantId};
use sqlx::Row as _;

/// One event as a desktop's feed carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Event id: the frame's sequence number.
    pub id: i64,
    /// Tenant.
    pub tenant: TenantId,
    /// Stream (`agent/<account>`, `desk/<account>`, `announce/all`).
    pub stream: String,
    /// Kind.
    pub kind: String,
    /// When (ms).
    pub at: i64,
    /// JSON data.
    pub data: String,
}

/// A CRM custom field of the customer form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrmField {
    /// Field name (the key in `fields`).
    pub name: String,
    /// `text`, `long_text`, `select`, `multi_select` or `checkbox`.
    pub kind: String,
    /// Choices of select, multi-select and checkbox fields.
    #[serde(default)]
    pub options: Vec<String>,
    /// Must be filled in on submit.
    #[serde(default)]
    pub required: bool,
}

/// A customer record (seed 003 `info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerForm {
    /// 客户信息编号.
    pub uuid: String,
    /// The task it came from (0: the tenant's own customers).
    pub task_id: i64,
    /// The task's project code ('' for none).
    pub project: String,
    /// Number.
    pub telephone: String,
    /// Name.
    pub name: String,
    /// 标签组.
    pub group: String,
    /// Submitted field values, a JSON object.
    pub fields: String,
    /// 呼叫状态: 0 not reached yet, 1 talked with.
    pub status: i64,
    /// The staff account that owns it ('' for a task's).
    pub owner: String,
    /// When imported (ms).
    pub imported_at: i64,
    /// When last submitted (ms).
    pub edited_at: Option<i64>,
}

const FORM_COLS: &str = "uuid, task_id, project, telephone, name, grp, fields, status, owner, imported_at, edited_at";

fn form(r: &sqlx::any::AnyRow) -> Result<CustomerForm> {
    Ok(CustomerForm {
        uuid: r.try_get("uuid")?,
        task_id: r.try_get("task_id")?,
        project: r.try_get("project")?,
        telephone: r.try_get("telephone")?,
        name: r.try_get("name")?,
        group: r.try_get("grp")?,
        fields: r.try_get("fields")?,
        status: r.try_get("status")?,
        owner: r.try_get("owner")?,
        imported_at: r.try_get("imported_at")?,
        edited_at: r.try_get("edited_at")?,
    })
}

impl Db {
    /// The events of an agent's desk feed after `after_id`, oldest first, at most `limit`:
    /// the agent's presence and desk streams and the tenant's announcements.
    pub async fn desk_feed(
        &self,
        tenant: TenantId,
        user_code: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<FeedEvent>> {
        let rows = sqlx::query(
            "SELECT id, call_id, kind, at, data FROM events WHERE tenant_id = $1 AND call_id IN ($2, $3, $4) \
             AND id > $5 ORDER BY id LIMIT $6",
        )
        .bind(tenant.0)
        .bind(format!("agent/{user_code}"))
        .bind(format!("desk/{user_code}"))
        .bind(yunhu_core::agent::ANNOUNCE_STREAM)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FeedEvent {
                    id: r.try_get("id")?,
                    tenant,
                    stream: r.try_get("call_id")?,
                    kind: r.try_get("kind")?,
                    at: r.try_get("at")?,
                    data: r.try_get("data")?,
                })
            })
            .collect()
    }

    /// The newest event id of an agent's desk feed (0: none yet).
    pub async fn desk_feed_head(&self, tenant: TenantId, user_code: &str) -> Result<i64> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM events WHERE tenant_id = $1 AND call_id IN ($2, $3, $4)")
                .bind(tenant.0)
                .bind(format!("agent/{user_code}"))
                .bind(format!("desk/{user_code}"))
                .bind(yunhu_core::agent::ANNOUNCE_STREAM)
                .fetch_one(&self.pool)
                .await?;
        Ok(id.unwrap_or(0))
    }

    /// The desk password hash of a live, enabled staff member of a live tenant, by corp id and
    /// account: `(tenant, hash)`.
    pub async fn desk_login(&self, corp_id: &str, user_code: &str) -> Result<Option<(TenantId, String)>> {
        let r = sqlx::query(
            "SELECT s.tenant_id, s.desk_hash FROM staff s JOIN tenants t ON t.id = s.tenant_id \
             WHERE t.corp_id = $1 AND s.user_code = $2 AND s.deleted = 0 AND s.enabled = 1 AND t.deleted = 0",
        )
        .bind(corp_id)
        .bind(user_code)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| Ok((TenantId(r.try_get("tenant_id")?), r.try_get("desk_hash")?))).transpose()
    }

    /// The tenant and account of a live desk token (its staff member still enabled).
    pub async fn desk_token(&self, token_hash: &str, now_ms: i64) -> Result<Option<(TenantId, String)>> {
        let r = sqlx::query(
            "SELECT d.tenant_id, d.principal FROM dialect_tokens d JOIN staff s \
             ON s.tenant_id = d.tenant_id AND s.user_code = d.principal JOIN tenants t ON t.id = d.tenant_id \
             WHERE d.token_hash = $1 AND d.kind = 'desk' AND d.expires_at > $2 AND s.deleted = 0 AND s.enabled = 1 \
             AND t.deleted = 0",
        )
        .bind(token_hash)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| Ok((TenantId(r.try_get("tenant_id")?), r.try_get("principal")?))).transpose()
    }

    /// The tenant's after-call work limit (0 none, -1 no limit, n seconds) and its own not-ready
    /// reasons (a JSON object).
    pub async fn desk_settings(&self, tenant: TenantId) -> Result<(i64, String)> {
        let load = async {
            let r = sqlx::query("SELECT wrap_up_secs, not_ready_reasons FROM tenants WHERE id = $1")
                .bind(tenant.0)
                .fetch_optional(&self.pool)
                .await?;
            match r {
                Some(r) => Ok((r.try_get("wrap_up_secs")?, r.try_get("not_ready_reasons")?)),
                None => Ok((0, "{}".to_string())),
            }
        };
        self.memo.get(format!("desk_settings\0{}", tenant.0), load).await
    }

    /// Sets the tenant's wrap-up limit and reasons; whether they changed.
    pub async fn set_desk_settings(&self, tenant: TenantId, wrap_up_secs: i64, reasons: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tenants SET wrap_up_secs = $2, not_ready_reasons = $3 WHERE id = $1 \
             AND (wrap_up_secs <> $2 OR not_ready_reasons <> $3)",
        )
        .bind(tenant.0)
        .bind(wrap_up_secs)
        .bind(reasons)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            self.memo.invalidate();
        }
        Ok(done.rows_affected() > 0)
    }

    /// The CRM fields of a project's form: the tenant-wide ones, then the project's own, in order.
    pub async fn crm_fields(&self, tenant: TenantId, project: &str) -> Result<Vec<CrmField>> {
        let rows = sqlx::query(
            "SELECT name, kind, options, required FROM crm_fields WHERE tenant_id = $1 AND (project = '' OR project = $2) \
             ORDER BY CASE WHEN project = '' THEN 0 ELSE 1 END, position, name",
        )
        .bind(tenant.0)
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let options: String = r.try_get("options")?;
                Ok(CrmField {
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    options: serde_json::from_str(&options).unwrap_or_default(),
                    required: r.try_get::<i64, _>("required")? != 0,
                })
            })
            .collect()
    }

    /// Replaces the CRM fields of a project ('' = tenant-wide) with `fields`, in their order.
    pub async fn put_crm_fields(&self, tenant: TenantId, project: &str, fields: &[CrmField]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM crm_fields WHERE tenant_id = $1 AND project = $2")
            .bind(tenant.0)
            .bind(project)
            .execute(&mut *tx)
            .await?;
        for (position, f) in fields.iter().enumerate() {
            sqlx::query(
                "INSERT INTO crm_fields (tenant_id, project, name, kind, options, required, position) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(tenant.0)
            .bind(project)
            .bind(&f.name)
            .bind(&f.kind)
            .bind(serde_json::to_string(&f.options).unwrap_or_else(|_| "[]".into()))
            .bind(i64::from(f.required))
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A customer record by its uuid, within the tenant.
    pub async fn customer_form(&self, tenant: TenantId, uuid: &str) -> Result<Option<CustomerForm>> {
        let r = sqlx::query(&format!("SELECT {FORM_COLS} FROM customer_forms WHERE tenant_id = $1 AND uuid = $2"))
            .bind(tenant.0)
            .bind(uuid)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(form).transpose()
    }

    /// The customer record of a task's number, made from `new` when there is none yet.
    pub async fn customer_form_for(&self, tenant: TenantId, new: &CustomerForm) -> Result<CustomerForm> {
        sqlx::query(
            "INSERT INTO customer_forms (tenant_id, uuid, task_id, project, telephone, name, grp, fields, status, owner, \
             imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (tenant_id, task_id, telephone) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(&new.uuid)
        .bind(new.task_id)
        .bind(&new.project)
        .bind(&new.telephone)
        .bind(&new.name)
        .bind(&new.group)
        .bind(&new.fields)
        .bind(new.status)
        .bind(&new.owner)
        .bind(new.imported_at)
        .execute(&self.pool)
        .await?;
        let r = sqlx::query(&format!(
            "SELECT {FORM_COLS} FROM customer_forms WHERE tenant_id = $1 AND task_id = $2 AND telephone = $3"
        ))
        .bind(tenant.0)
        .bind(new.task_id)
        .bind(&new.telephone)
        .fetch_one(&self.pool)
        .await?;
        form(&r)
    }

    /// Stores submitted field values; whether the record exists in the tenant.
    pub async fn submit_customer_form(
        &self,
        tenant: TenantId,
        uuid: &str,
        fields: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE customer_forms SET fields = $3, edited_at = $4, edited_by = $5, status = 1 \
             WHERE tenant_id = $1 AND uuid = $2",
        )
        .bind(tenant.0)
        .bind(uuid)
        .bind(fields)
        .bind(now_ms)
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Where a call's customer came from, if the call belongs to a task: the task's numeric id
    /// and project, and when the number was imported.
    pub async fn call_task_number(
        &self,
        tenant: TenantId,
        call_id: &str,
        number: &str,
    ) -> Result<Option<(i64, String, i64)>> {
        let created: Option<String> = sqlx::query_scalar(
            "SELECT data FROM events WHERE tenant_id = $1 AND call_id = $2 AND kind = 'created' ORDER BY id LIMIT 1",
        )
        .bind(tenant.0)
        .bind(call_id)
        .fetch_optional(&self.pool)
        .await?;
        let task: String = created
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .and_then(|v| v["task_id"].as_str().map(str::to_string))
            .unwrap_or_default();
        if task.is_empty() {
            return Ok(None);
        }
        let r = sqlx::query(
            "SELECT t.id, t.project, n.created_at FROM outbound_tasks t JOIN outbound_numbers n ON n.task_id = t.id \
             AND n.tenant_id = t.tenant_id WHERE t.tenant_id = $1 AND t.task_code = $2 AND t.deleted = 0 AND n.mobile = $3",
        )
        .bind(tenant.0)
        .bind(&task)
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| Ok((r.try_get("id")?, r.try_get("project")?, r.try_get("created_at")?))).transpose()
    }

    /// A staff member's customer of this number (AddCBaseData): name and when it was added.
    pub async fn staff_customer(&self, tenant: TenantId, staff: &str, phone: &str) -> Result<Option<(String, i64)>> {
        let r =
            sqlx::query("SELECT name, created_at FROM customers WHERE tenant_id = $1 AND staff = $2 AND phone = $3")
                .bind(tenant.0)
                .bind(staff)
                .bind(phone)
                .fetch_optional(&self.pool)
                .await?;
        r.map(|r| Ok((r.try_get("name")?, r.try_get("created_at")?))).transpose()
    }
}
