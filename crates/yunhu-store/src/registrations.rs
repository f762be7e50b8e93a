//! Registrations of record: the SIP bindings of extensions, written when a REGISTER changes them
//! and read at start, so a restart does not make every phone unreachable.

use crate::{Db, Result, TenantId};
use sqlx::Row as _;

/// One registered contact of an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The extension's tenant.
    pub tenant: TenantId,
    /// The tenant's SIP domain (lower case).
    pub domain: String,
    /// The extension.
    pub user: String,
    /// The Contact URI registered.
    pub contact: String,
    /// Where the REGISTER came from (`ip:port`).
    pub source: String,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The Path the REGISTER carried, if any.
    pub path: String,
    /// When it lapses, ms UTC.
    pub expires_at: i64,
}

impl Db {
    /// Makes `bindings` the registrations of `user` at `domain` (none: the user has none left).
    pub async fn replace_registrations(
        &self,
        domain: &str,
        user: &str,
        bindings: &[Registration],
        now_ms: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM registrations WHERE domain = $1 AND username = $2")
            .bind(domain)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        for b in bindings {
            sqlx::query(
                "INSERT INTO registrations (tenant_id, domain, username, contact, source, transport, path, \
                 expires_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(b.tenant.0)
            .bind(domain)
            .bind(user)
            .bind(&b.contact)
            .bind(&b.source)
            .bind(&b.transport)
            .bind(&b.path)
            .bind(b.expires_at)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every registration still valid at `now_ms`; the expired ones are deleted.
    pub async fn live_registrations(&self, now_ms: i64) -> Result<Vec<Registration>> {
        sqlx::query("DELETE FROM registrations WHERE expires_at <= $1").bind(now_ms).execute(&self.pool).await?;
        let rows = sqlx::query(
            "SELECT tenant_id, domain, username, contact, source, transport, path, expires_at FROM registrations \
             ORDER BY domain, username, updated_at",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Registration {
                    tenant: TenantId(r.try_get(0)?),
                    domain: r.try_get(1)?,
                    user: r.try_get(2)?,
                    contact: r.try_get(3)?,
                    source: r.try_get(4)?,
                    transport: r.try_get(5)?,
                    path: r.try_get(6)?,
                    expires_at: r.try_get(7)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn registrations_are_replaced_and_expired_ones_dropped() {
        for url in crate::testing::scratch_urls().await.unwrap() {
            let db = Db::open(&url).await.unwrap();
            let (tenant, _) = db.put_tenant("900001", "Reg", "Asia/Shanghai", "900001.yunhu", 0).await.unwrap();
            let reg = |contact: &str, expires_at: i64| Registration {
                tenant,
                domain: "900001.yunhu".into(),
                user: "1001".into(),
                contact: contact.into(),
                source: "127.0.0.1:5070".into(),
                transport: "udp".into(),
                path: String::new(),
                expires_at,
            };
            let both = [reg("sip:1001@127.0.0.1:5070", 10_000), reg("sip:1001@127.0.0.1:5072", 60_000)];
            db.replace_registrations("900001.yunhu", "1001", &both, 0).await.unwrap();
            assert_eq!(db.live_registrations(0).await.unwrap(), both.to_vec());
            assert_eq!(db.live_registrations(20_000).await.unwrap(), both[1..].to_vec(), "{url}");
            db.replace_registrations("900001.yunhu", "1001", &[], 30_000).await.unwrap();
            assert!(db.live_registrations(30_000).await.unwrap().is_empty());
        }
    }
}
