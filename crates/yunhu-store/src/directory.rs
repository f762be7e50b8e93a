//! The directory tables and the queries the services need beyond plain upserts.

use crate::filter::Where;
use crate::rows::{Change, Col, ColType, Row, Table};
use crate::{Db, Result, StoreError, TenantId};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

const fn t(name: &'static str) -> Col {
    Col { name, ty: ColType::Text }
}
const fn i(name: &'static str) -> Col {
    Col { name, ty: ColType::Int }
}

/// Per-dialect credentials of a tenant; `single_use` 1 makes each crm sign serve one request.
pub const CREDENTIALS: Table = Table {
    name: "tenant_credentials",
    key: &["kind"],
    cols: &[t("kind"), t("principal"), t("secret"), i("single_use")],
};
/// open95 OAuth2 clients.
pub const API_CLIENTS: Table =
    Table { name: "api_clients", key: &["client_id"], cols: &[t("client_id"), t("secret_hash"), t("scopes")] };
/// Teams (班组).
pub const TEAMS: Table = Table { name: "teams", key: &["code"], cols: &[t("code"), t("name")] };
/// Work-order objects (工单对象).
pub const DATA_OBJECTS: Table = Table { name: "data_objects", key: &["code"], cols: &[t("code"), t("name")] };
/// Scripts (话术).
pub const SCRIPTS: Table = Table { name: "scripts", key: &["name"], cols: &[t("name"), t("stream_id"), t("content")] };
/// Caller-ID numbers (外显号码).
pub const CALLER_IDS: Table = Table { name: "caller_ids", key: &["number"], cols: &[t("number")] };
/// Numbers the dialer must never call (黑名单 / do-not-call).
pub const DO_NOT_CALL: Table = Table { name: "do_not_call", key: &["number"], cols: &[t("number"), t("reason")] };
/// Outbound projects (外呼项目).
pub const PROJECTS: Table = Table { name: "projects", key: &["code"], cols: &[t("code"), t("name")] };
/// Skill groups (技能组).
pub const QUEUES: Table = Table {
    name: "queues",
    key: &["code"],
    cols: &[
        t("code"),
        t("name"),
        t("direction"),
        t("data_object"),
        t("script"),
        t("caller_id"),
        i("tip_timeout"),
        t("project"),
        i("call_type"),
        t("acd"),
    ],
};
/// IVR menus: the start node and the nodes as JSON.
pub const IVRS: Table = Table { name: "ivrs", key: &["name"], cols: &[t("name"), t("start_node"), t("nodes")] };
/// Inbound routes: a dialled number to a menu, queue or extension (`target`), another out of
/// business hours (`after_hours`); hours and holidays as JSON lists.
pub const ROUTES: Table = Table {
    name: "inbound_routes",
    key: &["number"],
    cols: &[t("number"), t("target"), t("after_hours"), t("hours"), t("holidays")],
};
/// Staff (员工).
pub const STAFF: Table = Table {
    name: "staff",
    key: &["user_code"],
    cols: &[
        t("user_code"),
        t("stream_id"),
        t("name"),
        t("agent_id"),
        t("sip_ha1"),
        t("role"),
        t("team"),
        t("default_queue"),
        t("work_phone"),
        t("email"),
        i("enabled"),
        i("phone_take_along"),
        i("priority"),
        t("skills"),
        t("remark"),
        t("desk_hash"),
        t("created_by"),
        t("updated_by"),
    ],
};

/// A tenant (企业).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Numeric id (open95 `tenantId`).
    pub id: TenantId,
    /// 企业号.
    pub corp_id: String,
    /// Display name.
    pub name: String,
    /// IANA zone the skins show times in.
    pub time_zone: String,
    /// SIP domain (and digest realm) of the tenant's extensions.
    pub sip_domain: String,
    /// When the tenant was created, ms.
    pub created_at: i64,
}

/// An open95 API client as the token endpoint needs it.
#[derive(Debug, Clone)]
pub struct ApiClient {
    /// Owning tenant.
    pub tenant: TenantId,
    /// Public id.
    pub client_id: String,
    /// PHC string of the secret's hash.
    pub secret_hash: String,
    /// Scopes the client may ask for, comma separated.
    pub scopes: String,
}

/// The live token a hash resolves to.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// Tenant the token acts for.
    pub tenant: TenantId,
    /// Client that holds it.
    pub client_id: String,
    /// Granted scopes, comma separated.
    pub scopes: String,
    /// Expiry, ms.
    pub expires_at: i64,
}

/// Filters of the staff listing; `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct StaffFilter {
    /// Account (short form).
    pub user_code: Option<String>,
    /// Substring of the name.
    pub name_contains: Option<String>,
    /// Extension (short form).
    pub agent_id: Option<String>,
    /// Stored role name.
    pub role: Option<String>,
    /// Mobile number.
    pub work_phone: Option<String>,
    /// Enabled or disabled.
    pub enabled: Option<bool>,
    /// Team code (short form).
    pub team: Option<String>,
}

fn tenant_from(r: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId(r.try_get("id")?),
        corp_id: r.try_get("corp_id")?,
        name: r.try_get("name")?,
        time_zone: r.try_get("time_zone")?,
        sip_domain: r.try_get("sip_domain")?,
        created_at: r.try_get("created_at")?,
    })
}

const TENANT_COLS: &str = "id, corp_id, name, time_zone, sip_domain, created_at";

impl Db {
    /// Creates or updates the tenant with `corp_id`; revives a deleted one.
    pub async fn put_tenant(
        &self,
        corp_id: &str,
        name: &str,
        time_zone: &str,
        sip_domain: &str,
        now_ms: i64,
    ) -> Result<(TenantId, Change)> {
        let existing = sqlx::query(&format!("SELECT {TENANT_COLS}, deleted FROM tenants WHERE corp_id = $1"))
            .bind(corp_id)
            .fetch_optional(&self.pool)
            .await?;
        let what = format!("tenant {corp_id} / sip domain {sip_domain}");
        match existing {
            Some(r) => {
                let t = tenant_from(&r)?;
                let deleted: i64 = r.try_get("deleted")?;
                if deleted == 0 && t.name == name && t.time_zone == time_zone && t.sip_domain == sip_domain {
                    return Ok((t.id, Change::Unchanged));
                }
                sqlx::query(
                    "UPDATE tenants SET name = $2, time_zone = $3, sip_domain = $4, deleted = 0, updated_at = $5 \
                     WHERE id = $1",
                )
                .bind(t.id.0)
                .bind(name)
                .bind(time_zone)
                .bind(sip_domain)
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| StoreError::classify(e, &what))?;
                self.memo.invalidate();
                Ok((t.id, Change::Updated))
            }
            None => {
                let id: i64 = sqlx::query_scalar(
                    // Ids start at 10001 so that the long codes open95 prints (tenant id + short
                    // code) read unambiguously.
                    "INSERT INTO tenants (id, corp_id, name, time_zone, sip_domain, created_at, updated_at) \
                     SELECT COALESCE(MAX(id), 10000) + 1, $1, $2, $3, $4, $5, $5 FROM tenants RETURNING id",
                )
                .bind(corp_id)
                .bind(name)
                .bind(time_zone)
                .bind(sip_domain)
                .bind(now_ms)
                .fetch_one(&self.pool)
                .await
                .map_err(|e| StoreError::classify(e, &what))?;
                self.memo.invalidate();
                Ok((TenantId(id), Change::Created))
            }
        }
    }

    /// The tenant's limit on calls at once (0: none).
    pub async fn tenant_max_calls(&self, id: TenantId) -> Result<i64> {
        let load = async {
            let n: Option<i64> = sqlx::query_scalar("SELECT max_calls FROM tenants WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
            Ok(n.unwrap_or(0))
        };
        self.memo.get(format!("max_calls\0{}", id.0), load).await
    }

    /// Over how many days the tenant's abandonment cap is measured (1 or 30).
    pub async fn tenant_abandon_window_days(&self, id: TenantId) -> Result<i64> {
        let load = async {
            let n: Option<i64> = sqlx::query_scalar("SELECT abandon_window_days FROM tenants WHERE id = $1")
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
            Ok(n.unwrap_or(1))
        };
        self.memo.get(format!("abandon_window\0{}", id.0), load).await
    }

    /// Sets the tenant's abandonment window in days; whether it changed.
    pub async fn set_tenant_abandon_window_days(&self, id: TenantId, days: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE tenants SET abandon_window_days = $2 WHERE id = $1 AND abandon_window_days <> $2")
                .bind(id.0)
                .bind(days)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() > 0 {
            self.memo.invalidate();
        }
        Ok(done.rows_affected() > 0)
    }

    /// Sets the tenant's limit on calls at once; whether it changed.
    pub async fn set_tenant_max_calls(&self, id: TenantId, limit: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE tenants SET max_calls = $2 WHERE id = $1 AND max_calls <> $2")
            .bind(id.0)
            .bind(limit)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() > 0 {
            self.memo.invalidate();
        }
        Ok(done.rows_affected() > 0)
    }

    /// The live tenant with `corp_id`.
    pub async fn tenant_by_corp(&self, corp_id: &str) -> Result<Option<Tenant>> {
        let r = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE corp_id = $1 AND deleted = 0"))
            .bind(corp_id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(tenant_from).transpose()
    }

    /// The live tenant with numeric id `id`.
    pub async fn tenant_by_id(&self, id: TenantId) -> Result<Option<Tenant>> {
        let load = async {
            let r = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1 AND deleted = 0"))
                .bind(id.0)
                .fetch_optional(&self.pool)
                .await?;
            r.as_ref().map(tenant_from).transpose()
        };
        self.memo.get(format!("tenant\0{}", id.0), load).await
    }

    /// Every live tenant, by corp id.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants WHERE deleted = 0 ORDER BY corp_id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from).collect()
    }

    /// Marks the tenant deleted; its data stays.
    pub async fn delete_tenant(&self, corp_id: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE tenants SET deleted = 1, updated_at = $2 WHERE corp_id = $1 AND deleted = 0")
            .bind(corp_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        self.memo.invalidate();
        Ok(done.rows_affected() > 0)
    }

    /// The tenant, stored secret and single-use flag of a live credential of `kind` named `principal`.
    pub async fn credential_by_principal(
        &self,
        kind: &str,
        principal: &str,
    ) -> Result<Option<(TenantId, String, bool)>> {
        let key = format!("credential\0{kind}\0{principal}");
        self.memo.get(key, self.load_credential(kind, principal)).await
    }

    async fn load_credential(&self, kind: &str, principal: &str) -> Result<Option<(TenantId, String, bool)>> {
        let r = sqlx::query(
            "SELECT c.tenant_id, c.secret, c.single_use FROM tenant_credentials c JOIN tenants t ON t.id = c.tenant_id \
             WHERE c.kind = $1 AND c.principal = $2 AND c.deleted = 0 AND t.deleted = 0",
        )
        .bind(kind)
        .bind(principal)
        .fetch_optional(&self.pool)
        .await?;
        match r {
            Some(r) => Ok(Some((
                TenantId(r.try_get("tenant_id")?),
                r.try_get("secret")?,
                r.try_get::<i64, _>("single_use")? != 0,
            ))),
            None => Ok(None),
        }
    }

    /// The live API client `client_id` of a live tenant.
    pub async fn api_client(&self, client_id: &str) -> Result<Option<ApiClient>> {
        let r = sqlx::query(
            "SELECT c.tenant_id, c.client_id, c.secret_hash, c.scopes FROM api_clients c \
             JOIN tenants t ON t.id = c.tenant_id WHERE c.client_id = $1 AND c.deleted = 0 AND t.deleted = 0",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        match r {
            Some(r) => Ok(Some(ApiClient {
                tenant: TenantId(r.try_get("tenant_id")?),
                client_id: r.try_get("client_id")?,
                secret_hash: r.try_get("secret_hash")?,
                scopes: r.try_get("scopes")?,
            })),
            None => Ok(None),
        }
    }

    /// Makes `token_hash` the client's one live token, voiding the one it had.
    pub async fn replace_token(
        &self,
        tenant: TenantId,
        client_id: &str,
        token_hash: &str,
        scopes: &str,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE api_clients SET token_hash = $3, token_scopes = $4, token_expires_at = $5 \
             WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(tenant.0)
        .bind(client_id)
        .bind(token_hash)
        .bind(scopes)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        self.memo.invalidate();
        Ok(())
    }

    /// Voids the client's live token (its secret or scopes changed, or it was deleted).
    pub async fn void_token(&self, tenant: TenantId, client_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE api_clients SET token_hash = NULL, token_scopes = NULL, token_expires_at = NULL \
             WHERE tenant_id = $1 AND client_id = $2",
        )
        .bind(tenant.0)
        .bind(client_id)
        .execute(&self.pool)
        .await?;
        self.memo.invalidate();
        Ok(())
    }

    /// The grant behind a token hash, if a live client of a live tenant holds it.
    pub async fn token_grant(&self, token_hash: &str) -> Result<Option<TokenGrant>> {
        self.memo.get(format!("grant\0{token_hash}"), self.load_token_grant(token_hash)).await
    }

    async fn load_token_grant(&self, token_hash: &str) -> Result<Option<TokenGrant>> {
        let r = sqlx::query(
            "SELECT c.tenant_id, c.client_id, c.token_scopes, c.token_expires_at FROM api_clients c \
             JOIN tenants t ON t.id = c.tenant_id WHERE c.token_hash = $1 AND c.deleted = 0 AND t.deleted = 0",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        match r {
            Some(r) => Ok(Some(TokenGrant {
                tenant: TenantId(r.try_get("tenant_id")?),
                client_id: r.try_get("client_id")?,
                scopes: r.try_get("token_scopes")?,
                expires_at: r.try_get("token_expires_at")?,
            })),
            None => Ok(None),
        }
    }

    /// A page of the tenant's live staff matching `filter`, by account, and the total count.
    pub async fn list_staff(
        &self,
        tenant: TenantId,
        filter: &StaffFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Row>, i64)> {
        let mut w = Where::new("tenant_id = $1 AND deleted = 0");
        if let Some(v) = &filter.user_code {
            w.and("user_code =", v.as_str());
        }
        if let Some(v) = &filter.name_contains {
            w.contains("name", v);
        }
        if let Some(v) = &filter.agent_id {
            w.and("agent_id =", v.as_str());
        }
        if let Some(v) = &filter.role {
            w.and("role =", v.as_str());
        }
        if let Some(v) = &filter.work_phone {
            w.and("work_phone =", v.as_str());
        }
        if let Some(v) = filter.enabled {
            w.and("enabled =", v);
        }
        if let Some(v) = &filter.team {
            w.and("team =", v.as_str());
        }
        let cols = STAFF.cols.iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
        let select = format!("{cols}, created_at, updated_at");
        let (rows, total) = self.counted_page(tenant, &select, "staff", &w, "user_code", offset, limit).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row = crate::rows::decode(r, &STAFF)?;
            row.insert("created_at", crate::Val::Int(r.try_get("created_at")?));
            row.insert("updated_at", crate::Val::Int(r.try_get("updated_at")?));
            out.push(row);
        }
        Ok((out, total))
    }

    /// The live staff member with extension `agent_id`.
    pub async fn staff_by_extension(&self, tenant: TenantId, agent_id: &str) -> Result<Option<Row>> {
        if agent_id.is_empty() {
            return Ok(None);
        }
        let load = async {
            let cols = STAFF.cols.iter().map(|c| c.name).collect::<Vec<_>>().join(", ");
            let sql = format!("SELECT {cols} FROM staff WHERE tenant_id = $1 AND agent_id = $2 AND deleted = 0");
            let row = sqlx::query(&sql).bind(tenant.0).bind(agent_id).fetch_optional(&self.pool).await?;
            row.as_ref().map(|r| crate::rows::decode(r, &STAFF)).transpose()
        };
        self.memo.get(format!("staff_by_extension\0{}\0{agent_id}", tenant.0), load).await
    }

    /// Whether a live tenant other than `tenant` has a live staff member with extension
    /// `agent_id` (extensions are per tenant; a dialect tells "not yours" from "no such one").
    /// Asked only about extensions `tenant` lacks; the staff index leads with the tenant, so
    /// this scans the live staff, which directories keep small.
    pub async fn extension_elsewhere(&self, tenant: TenantId, agent_id: &str) -> Result<bool> {
        if agent_id.is_empty() {
            return Ok(false);
        }
        let load = async {
            let found: Option<i64> = sqlx::query_scalar(
                "SELECT s.tenant_id FROM staff s JOIN tenants t ON t.id = s.tenant_id \
                 WHERE s.agent_id = $1 AND s.tenant_id <> $2 AND s.deleted = 0 AND t.deleted = 0 LIMIT 1",
            )
            .bind(agent_id)
            .bind(tenant.0)
            .fetch_optional(&self.pool)
            .await?;
            Ok(found.is_some())
        };
        self.memo.get(format!("extension_elsewhere\0{}\0{agent_id}", tenant.0), load).await
    }

    /// The queue codes a staff member belongs to, sorted.
    pub async fn staff_queue_codes(&self, tenant: TenantId, user_code: &str) -> Result<Vec<String>> {
        let key = format!("staff_queues\0{}\0{user_code}", tenant.0);
        self.memo.get(key, self.load_staff_queue_codes(tenant, user_code)).await
    }

    async fn load_staff_queue_codes(&self, tenant: TenantId, user_code: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT queue_code FROM staff_queues WHERE tenant_id = $1 AND user_code = $2 ORDER BY queue_code",
        )
        .bind(tenant.0)
        .bind(user_code)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Replaces a staff member's queue set; returns whether it changed.
    pub async fn set_staff_queues(&self, tenant: TenantId, user_code: &str, codes: &[String]) -> Result<bool> {
        let mut wanted: Vec<String> = codes.to_vec();
        wanted.sort();
        wanted.dedup();
        let mut tx = self.pool.begin().await?;
        let stored: Vec<String> = sqlx::query_scalar(
            "SELECT queue_code FROM staff_queues WHERE tenant_id = $1 AND user_code = $2 ORDER BY queue_code",
        )
        .bind(tenant.0)
        .bind(user_code)
        .fetch_all(&mut *tx)
        .await?;
        if stored == wanted {
            return Ok(false);
        }
        sqlx::query("DELETE FROM staff_queues WHERE tenant_id = $1 AND user_code = $2")
            .bind(tenant.0)
            .bind(user_code)
            .execute(&mut *tx)
            .await?;
        for code in &wanted {
            sqlx::query("INSERT INTO staff_queues (tenant_id, user_code, queue_code) VALUES ($1, $2, $3)")
                .bind(tenant.0)
                .bind(user_code)
                .bind(code)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.memo.invalidate();
        Ok(true)
    }

    /// Numeric ids of a table that has one (`queues`, `caller_ids`), by the value of `key_col`.
    pub async fn serial_ids(&self, tenant: TenantId, table: &Table) -> Result<BTreeMap<String, i64>> {
        let key = table.key[0];
        let sql = format!("SELECT {key}, id FROM {} WHERE tenant_id = $1 AND deleted = 0", table.name);
        let rows = sqlx::query(&sql).bind(tenant.0).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get::<String, _>(key)?, r.try_get::<i64, _>("id")?))).collect()
    }

    /// Every row of every yunhu table, as sorted text lines: what tests compare to prove that an
    /// operation changed nothing.
    pub async fn dump(&self) -> Result<String> {
        let tables = [
            "tenants",
            "tenant_credentials",
            "api_clients",
            "teams",
            "data_objects",
            "scripts",
            "caller_ids",
            "projects",
            "queues",
            "staff",
            "staff_queues",
            "trunks",
            "events",
            "call_records",
        ];
        let mut out = String::new();
        for table in tables {
            let rows = sqlx::query(&format!("SELECT * FROM {table}")).fetch_all(&self.pool).await?;
            let mut lines: Vec<String> = rows
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| match r.try_get::<Option<i64>, _>(i) {
                            Ok(v) => format!("{v:?}"),
                            Err(_) => format!("{:?}", r.try_get::<Option<String>, _>(i).unwrap_or_default()),
                        })
                        .collect::<Vec<_>>()
                        .join("|")
                })
                .collect();
            lines.sort();
            for l in lines {
                out.push_str(table);
                out.push(':');
                out.push_str(&l);
                out.push('\n');
            }
        }
        Ok(out)
    }
}
