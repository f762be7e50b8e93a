//! Number files (open95 §6.3.2 号码文件): what is known of each uploaded file. The bytes are on
//! disk, kept by `yunhu-cc`; this table is the only way from a name to them.

use crate::{Db, Result, StoreError, TenantId};
use sqlx::Row as _;
use sqlx::any::AnyRow;

/// An uploaded number file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNumberFile {
    /// Row id; also the file's name on disk.
    pub id: i64,
    /// The name the API knows it by (unique among the tenant's live files).
    pub name: String,
    /// The name it was uploaded under.
    pub original_name: String,
    /// Size in bytes.
    pub size: i64,
    /// Valid distinct numbers it holds.
    pub row_count: i64,
    /// Upload time, ms.
    pub created_at: i64,
    /// Last rename (or upload) time, ms.
    pub updated_at: i64,
}

const COLS: &str = "id, name, original_name, size, row_count, created_at, updated_at";

fn from_row(r: &AnyRow) -> Result<StoredNumberFile> {
    Ok(StoredNumberFile {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        original_name: r.try_get("original_name")?,
        size: r.try_get("size")?,
        row_count: r.try_get("row_count")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Db {
    /// Records a new live file; `Conflict` when a live file already has `name`.
    pub async fn insert_number_file(
        &self,
        tenant: TenantId,
        name: &str,
        original_name: &str,
        size: i64,
        row_count: i64,
        now_ms: i64,
    ) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO number_files (tenant_id, name, original_name, size, row_count, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(tenant.0)
        .bind(name)
        .bind(original_name)
        .bind(size)
        .bind(row_count)
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::classify(e, &format!("number file {name}")))
    }

    /// The live file called `name`.
    pub async fn number_file(&self, tenant: TenantId, name: &str) -> Result<Option<StoredNumberFile>> {
        let r =
            sqlx::query(&format!("SELECT {COLS} FROM number_files WHERE tenant_id = $1 AND name = $2 AND deleted = 0"))
                .bind(tenant.0)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        r.as_ref().map(from_row).transpose()
    }

    /// Live files whose name contains `text` (all when `None`), newest first, at most `limit`.
    pub async fn number_files(
        &self,
        tenant: TenantId,
        text: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredNumberFile>> {
        // instr/strpos differ between the backends; LIKE with the wildcards escaped does not.
        let pattern = crate::filter::contains(text.unwrap_or_default());
        let exact = text.unwrap_or_default();
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM number_files WHERE tenant_id = $1 AND deleted = 0 \
             AND (name LIKE $2 ESCAPE '!' OR name = $3) ORDER BY id DESC LIMIT $4"
        ))
        .bind(tenant.0)
        .bind(pattern)
        .bind(exact)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Renames live file `id`; false when it is gone, `Conflict` when `new_name` is taken.
    pub async fn rename_number_file(&self, tenant: TenantId, id: i64, new_name: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE number_files SET name = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2 AND deleted = 0",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(new_name)
        .bind(now_ms)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::classify(e, &format!("number file {new_name}")))?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks live file `id` deleted; false when it already was.
    pub async fn delete_number_file(&self, tenant: TenantId, id: i64, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE number_files SET deleted = 1, updated_at = $3 WHERE tenant_id = $1 AND id = $2 AND deleted = 0",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
