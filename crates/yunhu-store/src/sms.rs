//! SMS from the agent desk: a tenant's provider settings, its templates and the messages sent.

use crate::filter::Where;
use crate::rows::Change;
use crate::{Db, Result, StoreError, TenantId};
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// A tenant's SMS provider settings as stored (the secret sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSettings {
    /// `aliyun`, `tencent` or `webhook`.
    pub provider: String,
    /// Aliyun AccessKeyId, Tencent SecretId; empty for the webhook.
    pub access_key_id: String,
    /// The provider secret, sealed with the master key.
    pub secret_sealed: String,
    /// The signature (签名) the provider puts before the text.
    pub sign_name: String,
    /// Aliyun TemplateCode, Tencent TemplateId.
    pub template_code: String,
    /// The template variable the agent's text goes into (Aliyun).
    pub template_param: String,
    /// Tencent SmsSdkAppId.
    pub app_id: String,
    /// The provider region (Aliyun RegionId, Tencent X-TC-Region).
    pub region: String,
    /// Base URL of the provider; empty for its real host.
    pub endpoint: String,
    /// How many messages one agent may send in a minute.
    pub rate_per_minute: i64,
}

/// An SMS template of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsTemplateRow {
    /// Name, unique in the tenant.
    pub name: String,
    /// Text with placeholders.
    pub body: String,
    /// Whether agents start from this one.
    pub is_default: bool,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSms {
    /// Id.
    pub id: i64,
    /// The staff account that sent it.
    pub staff: String,
    /// The number, whole.
    pub telephone: String,
    /// The text.
    pub body: String,
    /// The provider it went to (`aliyun`, `tencent`, `webhook`).
    pub provider: String,
    /// The provider's id of the message, once sent.
    pub provider_message_id: String,
    /// `sending`, `sent`, `failed` or `refused`.
    pub status: String,
    /// Why it was not sent.
    pub error: String,
    /// When it was asked for, ms.
    pub created_at: i64,
}

/// Filters of the message listing; `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct SmsFilter {
    /// Staff account.
    pub staff: Option<String>,
    /// Status.
    pub status: Option<String>,
}

fn settings_from(r: &AnyRow) -> Result<SmsSettings> {
    Ok(SmsSettings {
        provider: r.try_get("provider")?,
        access_key_id: r.try_get("access_key_id")?,
        secret_sealed: r.try_get("secret_sealed")?,
        sign_name: r.try_get("sign_name")?,
        template_code: r.try_get("template_code")?,
        template_param: r.try_get("template_param")?,
        app_id: r.try_get("app_id")?,
        region: r.try_get("region")?,
        endpoint: r.try_get("endpoint")?,
        rate_per_minute: r.try_get("rate_per_minute")?,
    })
}

fn template_from(r: &AnyRow) -> Result<SmsTemplateRow> {
    Ok(SmsTemplateRow {
        name: r.try_get("name")?,
        body: r.try_get("body")?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
    })
}

fn sms_from(r: &AnyRow) -> Result<StoredSms> {
    Ok(StoredSms {
        id: r.try_get("id")?,
        staff: r.try_get("staff")?,
        telephone: r.try_get("telephone")?,
        body: r.try_get("body")?,
        provider: r.try_get("provider")?,
        provider_message_id: r.try_get("provider_message_id")?,
        status: r.try_get("status")?,
        error: r.try_get("error")?,
        created_at: r.try_get("created_at")?,
    })
}

const SETTINGS_COLS: &str = "provider, access_key_id, secret_sealed, sign_name, template_code, template_param, \
                             app_id, region, endpoint, rate_per_minute";
const SMS_COLS: &str = "id, staff, telephone, body, provider, provider_message_id, status, error, created_at";

impl Db {
    /// The tenant's SMS settings, if it has any.
    pub async fn sms_settings(&self, tenant: TenantId) -> Result<Option<SmsSettings>> {
        let row = sqlx::query(&format!("SELECT {SETTINGS_COLS} FROM sms_settings WHERE tenant_id = $1"))
            .bind(tenant.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(settings_from).transpose()
    }

    /// Writes the tenant's SMS settings; touches nothing when they are already stored as given.
    pub async fn put_sms_settings(&self, tenant: TenantId, s: &SmsSettings, now_ms: i64) -> Result<Change> {
        let stored = self.sms_settings(tenant).await?;
        if stored.as_ref() == Some(s) {
            return Ok(Change::Unchanged);
        }
        sqlx::query(&format!(
            "INSERT INTO sms_settings (tenant_id, {SETTINGS_COLS}, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
             ON CONFLICT (tenant_id) DO UPDATE SET provider = $2, access_key_id = $3, secret_sealed = $4, \
             sign_name = $5, template_code = $6, template_param = $7, app_id = $8, region = $9, endpoint = $10, \
             rate_per_minute = $11, updated_at = $12"
        ))
        .bind(tenant.0)
        .bind(&s.provider)
        .bind(&s.access_key_id)
        .bind(&s.secret_sealed)
        .bind(&s.sign_name)
        .bind(&s.template_code)
        .bind(&s.template_param)
        .bind(&s.app_id)
        .bind(&s.region)
        .bind(&s.endpoint)
        .bind(s.rate_per_minute)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(if stored.is_some() { Change::Updated } else { Change::Created })
    }

    /// The tenant's SMS templates, by name.
    pub async fn sms_templates(&self, tenant: TenantId) -> Result<Vec<SmsTemplateRow>> {
        let rows = sqlx::query("SELECT name, body, is_default FROM sms_templates WHERE tenant_id = $1 ORDER BY name")
            .bind(tenant.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(template_from).collect()
    }

    /// The tenant's template named `name`.
    pub async fn sms_template(&self, tenant: TenantId, name: &str) -> Result<Option<SmsTemplateRow>> {
        let row = sqlx::query("SELECT name, body, is_default FROM sms_templates WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.0)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(template_from).transpose()
    }

    /// The tenant's default template, if one is marked.
    pub async fn default_sms_template(&self, tenant: TenantId) -> Result<Option<SmsTemplateRow>> {
        let row = sqlx::query(
            "SELECT name, body, is_default FROM sms_templates WHERE tenant_id = $1 AND is_default = 1 \
             ORDER BY name LIMIT 1",
        )
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(template_from).transpose()
    }

    /// Creates or updates a template; one marked default unmarks the tenant's others, in the
    /// same transaction.
    pub async fn put_sms_template(&self, tenant: TenantId, t: &SmsTemplateRow, now_ms: i64) -> Result<Change> {
        let stored = self.sms_template(tenant, &t.name).await?;
        if stored.as_ref() == Some(t) {
            return Ok(Change::Unchanged);
        }
        let mut tx = self.pool.begin().await?;
        if t.is_default {
            sqlx::query(
                "UPDATE sms_templates SET is_default = 0, updated_at = $3 \
                 WHERE tenant_id = $1 AND name <> $2 AND is_default = 1",
            )
            .bind(tenant.0)
            .bind(&t.name)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO sms_templates (tenant_id, name, body, is_default, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (tenant_id, name) DO UPDATE SET body = $3, is_default = $4, updated_at = $5",
        )
        .bind(tenant.0)
        .bind(&t.name)
        .bind(&t.body)
        .bind(i64::from(t.is_default))
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::classify(e, &format!("sms template {}", t.name)))?;
        tx.commit().await?;
        Ok(if stored.is_some() { Change::Updated } else { Change::Created })
    }

    /// Deletes a template; whether there was one.
    pub async fn delete_sms_template(&self, tenant: TenantId, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sms_templates WHERE tenant_id = $1 AND name = $2")
            .bind(tenant.0)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a message in `status` (`sending` or `refused`); its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_sms_message(
        &self,
        tenant: TenantId,
        staff: &str,
        telephone: &str,
        body: &str,
        provider: &str,
        status: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sms_messages (tenant_id, staff, telephone, body, provider, status, error, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(tenant.0)
        .bind(staff)
        .bind(telephone)
        .bind(body)
        .bind(provider)
        .bind(status)
        .bind(error)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    /// Sets the outcome of a message that was being sent.
    pub async fn finish_sms_message(
        &self,
        tenant: TenantId,
        id: i64,
        status: &str,
        provider_message_id: &str,
        error: &str,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sms_messages SET status = $3, provider_message_id = $4, error = $5, updated_at = $6 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(status)
        .bind(provider_message_id)
        .bind(error)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many messages `staff` asked the provider to send since `since_ms` (sending, sent or
    /// failed: refused ones never left).
    pub async fn sms_sent_since(&self, tenant: TenantId, staff: &str, since_ms: i64) -> Result<i64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sms_messages WHERE tenant_id = $1 AND staff = $2 AND created_at > $3 \
             AND status <> 'refused'",
        )
        .bind(tenant.0)
        .bind(staff)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    /// The earliest of `staff`'s messages since `since_ms` that counts toward the rate limit, ms.
    pub async fn sms_oldest_since(&self, tenant: TenantId, staff: &str, since_ms: i64) -> Result<Option<i64>> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(created_at) FROM sms_messages WHERE tenant_id = $1 AND staff = $2 AND created_at > $3 \
             AND status <> 'refused'",
        )
        .bind(tenant.0)
        .bind(staff)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(at)
    }

    /// One page of the tenant's messages, newest first, and how many match in all.
    pub async fn sms_messages(
        &self,
        tenant: TenantId,
        filter: &SmsFilter,
        page: i64,
        page_size: i64,
    ) -> Result<(i64, Vec<StoredSms>)> {
        let mut w = Where::new("tenant_id = $1");
        if let Some(s) = &filter.staff {
            w.and("staff =", s.as_str());
        }
        if let Some(s) = &filter.status {
            w.and("status =", s.as_str());
        }
        let size = page_size.clamp(1, 500);
        let offset = (page.max(1) - 1).saturating_mul(size);
        let (rows, total) = self.counted_page(tenant, SMS_COLS, "sms_messages", &w, "id DESC", offset, size).await?;
        Ok((total, rows.iter().map(sms_from).collect::<Result<_>>()?))
    }
}
