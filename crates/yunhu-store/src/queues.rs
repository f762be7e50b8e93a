//! An inbound queue's history, counted per interval from the call records.

use crate::{Db, Result, TenantId};
use sqlx::Row as _;

/// What happened to the callers who entered a queue within one interval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueSlot {
    /// The interval's index from the start of the range (0 is the first).
    pub slot: i64,
    /// Callers who entered (offered).
    pub offered: i64,
    /// Answered by an agent.
    pub answered: i64,
    /// Of those, answered within the threshold.
    pub answered_within: i64,
    /// Hung up while waiting.
    pub abandoned: i64,
    /// Of those, hung up within the threshold.
    pub abandoned_within: i64,
    /// Sent to the overflow.
    pub overflowed: i64,
    /// Left the line for a callback.
    pub callbacks: i64,
    /// Sum of the answered callers' waits (ms).
    pub answer_wait_ms: i64,
}

impl Db {
    /// The tenant's callers of `queue` who entered it in `[from_ms, to_ms)`, counted per
    /// `interval_ms` from `from_ms` (only intervals with callers); a wait of at most
    /// `threshold_ms` is within the service level. Calls still up have no record yet.
    pub async fn queue_history(
        &self,
        tenant: TenantId,
        queue: &str,
        from_ms: i64,
        to_ms: i64,
        interval_ms: i64,
        threshold_ms: i64,
    ) -> Result<Vec<QueueSlot>> {
        // PostgreSQL sums BIGINTs as NUMERIC: cast back so both backends answer integers.
        let rows = sqlx::query(
            "SELECT (queue_start - $3) / $5 AS slot, COUNT(*), \
             CAST(SUM(CASE WHEN queue_outcome = 'answered' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN queue_outcome = 'answered' AND queue_end - queue_start <= $6 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN queue_outcome = 'abandoned' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN queue_outcome = 'abandoned' AND queue_end - queue_start <= $6 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN queue_outcome = 'overflowed' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN queue_outcome = 'callback' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN queue_outcome = 'answered' THEN queue_end - queue_start ELSE 0 END) AS BIGINT) \
             FROM call_records WHERE tenant_id = $1 AND queue = $2 AND queue_start >= $3 AND queue_start < $4 \
             GROUP BY slot ORDER BY slot",
        )
        .bind(tenant.0)
        .bind(queue)
        .bind(from_ms)
        .bind(to_ms)
        .bind(interval_ms.max(1))
        .bind(threshold_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let n = |i: usize| -> Result<i64> { Ok(r.try_get::<Option<i64>, _>(i)?.unwrap_or(0)) };
                Ok(QueueSlot {
                    slot: n(0)?,
                    offered: n(1)?,
                    answered: n(2)?,
                    answered_within: n(3)?,
                    abandoned: n(4)?,
                    abandoned_within: n(5)?,
                    overflowed: n(6)?,
                    callbacks: n(7)?,
                    answer_wait_ms: n(8)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunhu_core::call::CallRecord;

    fn queued(start: i64, wait_ms: i64, outcome: &str) -> CallRecord {
        CallRecord {
            queue: "9100".into(),
            queue_start: Some(start),
            queue_end: Some(start + wait_ms),
            queue_outcome: outcome.into(),
            ..Default::default()
        }
    }

    async fn counts_callers_per_interval_by_how_they_left(url: &str) {
        let db = Db::open(url).await.unwrap();
        let (t, _) = db.put_tenant("777777", "A", "Asia/Shanghai", "a.yunhu", 1).await.unwrap();
        let (other, _) = db.put_tenant("888888", "B", "Asia/Shanghai", "b.yunhu", 1).await.unwrap();
        let base = 1_800_000_000_000;
        let min = 60_000;
        for (i, r) in [
            queued(base + 1_000, 5_000, "answered"),
            queued(base + 2_000, 25_000, "answered"),
            queued(base + 3_000, 10_000, "abandoned"),
            queued(base + 4_000, 40_000, "abandoned"),
            queued(base + 2 * min, 20_000, "answered"),
            queued(base + 2 * min + 1, 1_000, "overflowed"),
            queued(base + 2 * min + 2, 1_000, "callback"),
            // Outside the range, another queue, no queue.
            queued(base + 3 * min, 1_000, "answered"),
            CallRecord { queue: "9200".into(), ..queued(base, 1_000, "answered") },
            CallRecord::default(),
        ]
        .into_iter()
        .enumerate()
        {
            db.put_call_record(t, &format!("c{i}"), &r).await.unwrap();
        }
        db.put_call_record(other, "x", &queued(base, 1_000, "answered")).await.unwrap();
        let slots = db.queue_history(t, "9100", base, base + 3 * min, min, 20_000).await.unwrap();
        assert_eq!(
            slots,
            [
                QueueSlot {
                    slot: 0,
                    offered: 4,
                    answered: 2,
                    answered_within: 1,
                    abandoned: 2,
                    abandoned_within: 1,
                    answer_wait_ms: 30_000,
                    ..Default::default()
                },
                QueueSlot {
                    slot: 2,
                    offered: 3,
                    answered: 1,
                    answered_within: 1,
                    overflowed: 1,
                    callbacks: 1,
                    answer_wait_ms: 20_000,
                    ..Default::default()
                },
            ]
        );
        db.close().await;
    }

    #[tokio::test]
    async fn counts_callers_per_interval_on_both_backends() {
        for url in crate::testing::scratch_urls().await.unwrap() {
            counts_callers_per_interval_by_how_they_left(&url).await;
        }
    }
}
