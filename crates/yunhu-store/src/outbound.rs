//! Outbound projects, manual outbound tasks with their numbers, and ids of skill-group
//! memberships (open95 §6.3). Every query is scoped to one tenant; every change that touches a
//! task's numbers and its counters runs in one transaction, so the counters never drift.

use crate::filter::Where;
use crate::{Db, Result, StoreError, TenantId};
use sqlx::Row as _;
use sqlx::any::AnyRow;

type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// An outbound project (外呼项目).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredProject {
    /// Short code (`JH001`).
    pub code: String,
    /// Name.
    pub name: String,
    /// Free text.
    pub remark: String,
    /// Creation time, ms.
    pub created_at: i64,
}

/// Filters of the project listing; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Short code, exactly.
    pub code: Option<String>,
    /// Substring of the name.
    pub name_contains: Option<String>,
}

/// Where a number is in its life. `Pending` waits for its due time, `Dialing` is out with the
/// dialer, the rest are the outcome that finished it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberState {
    /// Waiting to be dialed (first time, a retry, or a recall).
    Pending,
    /// Claimed by the dialer; its attempt has no outcome yet.
    Dialing,
    /// The customer answered and was put through.
    Answered,
    /// Rang out unanswered.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The customer declined the call.
    Rejected,
    /// The call could not be placed (bad number, trunk failure, ...).
    Failed,
    /// The customer answered but no agent was free, so the call was dropped.
    Abandoned,
    /// The agent declined the (preview) call.
    AgentRejected,
    /// The number is on a do-not-call list and was not dialed.
    Blacklisted,
}

/// Every state, in declaration order.
pub const ALL_NUMBER_STATES: [NumberState; 10] = [
    NumberState::Pending,
    NumberState::Dialing,
    NumberState::Answered,
    NumberState::NoAnswer,
    NumberState::Busy,
    NumberState::Rejected,
    NumberState::Failed,
    NumberState::Abandoned,
    NumberState::AgentRejected,
    NumberState::Blacklisted,
];

impl NumberState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberState::Pending => "pending",
            NumberState::Dialing => "dialing",
            NumberState::Answered => "answered",
            NumberState::NoAnswer => "no_answer",
            NumberState::Busy => "busy",
            NumberState::Rejected => "rejected",
            NumberState::Failed => "failed",
            NumberState::Abandoned => "abandoned",
            NumberState::AgentRejected => "agent_rejected",
            NumberState::Blacklisted => "blacklisted",
        }
    }

    /// Parses [`NumberState::as_str`].
    pub fn parse(s: &str) -> Option<NumberState> {
        ALL_NUMBER_STATES.into_iter().find(|st| st.as_str() == s)
    }
}

/// What one attempt on a number came to, as the dialer reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// Answered and put through to an agent.
    Answered,
    /// Rang out unanswered (retried after the task's idleTime).
    NoAnswer,
    /// Busy (retried after the task's idleTime).
    Busy,
    /// Declined by the customer.
    Rejected,
    /// Could not be placed.
    Failed,
    /// Answered, but dropped for want of a free agent.
    Abandoned,
    /// Declined by the agent.
    AgentRejected,
    /// Not dialed: the number is barred.
    Blacklisted,
}

impl AttemptOutcome {
    /// The state a number is left in when no retry follows.
    pub fn state(self) -> NumberState {
        match self {
            AttemptOutcome::Answered => NumberState::Answered,
            AttemptOutcome::NoAnswer => NumberState::NoAnswer,
            AttemptOutcome::Busy => NumberState::Busy,
            AttemptOutcome::Rejected => NumberState::Rejected,
            AttemptOutcome::Failed => NumberState::Failed,
            AttemptOutcome::Abandoned => NumberState::Abandoned,
            AttemptOutcome::AgentRejected => NumberState::AgentRejected,
            AttemptOutcome::Blacklisted => NumberState::Blacklisted,
        }
    }

    /// Whether the number is dialed again after the task's idleTime (二次呼叫间隔).
    pub fn retries(self) -> bool {
        matches!(self, AttemptOutcome::NoAnswer | AttemptOutcome::Busy)
    }

    /// Whether a call was really placed (counts as an attempt and towards callNum).
    pub fn is_call(self) -> bool {
        self != AttemptOutcome::Blacklisted
    }
}

/// A manual outbound task as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTask {
    /// Instance id (open95 `id` / `outboundInstanceId`).
    pub id: i64,
    /// Short task code (`taskId`).
    pub code: String,
    /// Name.
    pub name: String,
    /// Project code.
    pub project: String,
    /// Code of the outbound skill group created with the task (its groupDn, short form).
    pub queue: String,
    /// Caller-ID number ("" = the tenant's public one).
    pub caller_id: String,
    /// Where the numbers came from (`input`, ...).
    pub create_type: String,
    /// Daily calling window start, `HH:MM` in the tenant's zone.
    pub time_from: String,
    /// Daily calling window end, `HH:MM`.
    pub time_to: String,
    /// Work-order object code ("" = none).
    pub data_object: String,
    /// 0 predictive, 1 preview.
    pub call_type: i64,
    /// Dialing ratio 1-5.
    pub ratio: i64,
    /// Wait before a number is dialed again, ms.
    pub idle_time: i64,
    /// Attempts per number before it is given up (per round: a recall starts a new round).
    pub max_attempts: i64,
    /// Script public id ("" = none).
    pub script: String,
    /// Free text.
    pub remark: String,
    /// Seed status code (0, 2, 3, 4, 5, 6).
    pub status: i64,
    /// First start, ms.
    pub started_at: Option<i64>,
    /// When it last ended or was terminated, ms.
    pub ended_at: Option<i64>,
    /// Numbers dialed at least once (callNum).
    pub call_num: i64,
    /// Numbers in the task (contactNum).
    pub contact_num: i64,
    /// Numbers answered at least once (touchNum).
    pub touch_num: i64,
    /// Deleted (then status is 0).
    pub deleted: bool,
    /// Creation time, ms.
    pub created_at: i64,
}

/// The fields of a task that can be changed after creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSettings {
    /// Name.
    pub name: String,
    /// Caller-ID number.
    pub caller_id: String,
    /// Window start `HH:MM`.
    pub time_from: String,
    /// Window end `HH:MM`.
    pub time_to: String,
    /// Work-order object code.
    pub data_object: String,
    /// 0 predictive, 1 preview.
    pub call_type: i64,
    /// 1-5.
    pub ratio: i64,
    /// ms.
    pub idle_time: i64,
    /// Script public id.
    pub script: String,
    /// Free text.
    pub remark: String,
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// Short task code.
    pub code: String,
    /// Project code.
    pub project: String,
    /// Where the numbers came from.
    pub create_type: String,
    /// Attempts per number per round.
    pub max_attempts: i64,
    /// Initial status.
    pub status: i64,
    /// The changeable fields.
    pub settings: TaskSettings,
    /// Name of the script (the skill group refers to scripts by name).
    pub script_name: String,
}

/// A status change of a task, with the times it leaves behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    /// The status the task must still be in.
    pub from: i64,
    /// The status it gets.
    pub to: i64,
    /// Its start time afterwards.
    pub started_at: Option<i64>,
    /// Its end time afterwards.
    pub ended_at: Option<i64>,
}

/// Filters of the task listing; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Substring of the name.
    pub name_contains: Option<String>,
    /// Short code, exactly.
    pub code: Option<String>,
    /// Status code.
    pub status: Option<i64>,
    /// 0 or 1.
    pub call_type: Option<i64>,
    /// Project code.
    pub project: Option<String>,
}

/// One number of a task with its dialing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNumber {
    /// Row id (open95 `id` of the execution details).
    pub id: i64,
    /// Task instance id.
    pub task_id: i64,
    /// The number dialed.
    pub mobile: String,
    /// Data that travels with it (随路数据).
    pub mobile_des: String,
    /// Where it is in its life.
    pub state: NumberState,
    /// What its latest attempt gave (`None` before the first outcome).
    pub last_outcome: Option<NumberState>,
    /// Attempts with an outcome, all rounds.
    pub attempts: i64,
    /// Retries still allowed in this round.
    pub retries_left: i64,
    /// When the latest attempt was claimed, ms.
    pub last_attempt_at: Option<i64>,
    /// When it is due (pending numbers only mean it), ms.
    pub next_attempt_at: i64,
    /// First answer, ms.
    pub answered_at: Option<i64>,
    /// Call id of the latest attempt ("" when none).
    pub last_call_id: String,
}

/// Why an attempt could not be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptRefused {
    /// The task has no such number.
    NoSuchNumber,
    /// The number is not out with the dialer; it is in this state.
    NotDialing(NumberState),
}

/// A member of a skill group with the id open95 lists it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMember {
    /// Membership id.
    pub id: i64,
    /// Staff account.
    pub user_code: String,
    /// Staff name.
    pub name: String,
    /// Extension.
    pub agent_id: String,
    /// Routing priority.
    pub priority: i64,
    /// Team code.
    pub team: String,
}

const PROJECT_COLS: &str = "code, name, remark, created_at";
const TASK_COLS: &str = "id, task_code, name, project, queue, caller_id, create_type, time_from, time_to, \
     data_object, call_type, ratio, idle_time, max_attempts, script, remark, status, started_at, ended_at, \
     call_num, contact_num, touch_num, deleted, created_at";
const NUMBER_COLS: &str = "id, task_id, mobile, mobile_des, state, last_outcome, attempts, retries_left, \
     last_attempt_at, next_attempt_at, answered_at, last_call_id";

fn project_from(r: &AnyRow) -> Result<StoredProject> {
    Ok(StoredProject {
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        remark: r.try_get("remark")?,
        created_at: r.try_get("created_at")?,
    })
}

fn task_from(r: &AnyRow) -> Result<StoredTask> {
    Ok(StoredTask {
        id: r.try_get("id")?,
        code: r.try_get("task_code")?,
        name: r.try_get("name")?,
        project: r.try_get("project")?,
        queue: r.try_get("queue")?,
        caller_id: r.try_get("caller_id")?,
        create_type: r.try_get("create_type")?,
        time_from: r.try_get("time_from")?,
        time_to: r.try_get("time_to")?,
        data_object: r.try_get("data_object")?,
        call_type: r.try_get("call_type")?,
        ratio: r.try_get("ratio")?,
        idle_time: r.try_get("idle_time")?,
        max_attempts: r.try_get("max_attempts")?,
        script: r.try_get("script")?,
        remark: r.try_get("remark")?,
        status: r.try_get("status")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        call_num: r.try_get("call_num")?,
        contact_num: r.try_get("contact_num")?,
        touch_num: r.try_get("touch_num")?,
        deleted: r.try_get::<i64, _>("deleted")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

fn number_from(r: &AnyRow) -> Result<TaskNumber> {
    let state: String = r.try_get("state")?;
    let outcome: String = r.try_get("last_outcome")?;
    Ok(TaskNumber {
        id: r.try_get("id")?,
        task_id: r.try_get("task_id")?,
        mobile: r.try_get("mobile")?,
        mobile_des: r.try_get("mobile_des")?,
        state: NumberState::parse(&state)
            .ok_or_else(|| StoreError::Invalid(format!("stored number state {state:?} is unknown")))?,
        last_outcome: NumberState::parse(&outcome),
        attempts: r.try_get("attempts")?,
        retries_left: r.try_get("retries_left")?,
        last_attempt_at: r.try_get("last_attempt_at")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        answered_at: r.try_get("answered_at")?,
        last_call_id: r.try_get("last_call_id")?,
    })
}

/// Locks the task row for the rest of the transaction if it is live and in `status`: the write
/// takes PostgreSQL's row lock (SQLite's database lock), so a concurrent state change waits for
/// this transaction instead of slipping between its check and its write.
async fn lock_task(tx: &mut Tx, tenant: TenantId, id: i64, status: i64, now_ms: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbound_tasks SET updated_at = $4 WHERE tenant_id = $1 AND id = $2 AND status = $3 AND deleted = 0",
    )
    .bind(tenant.0)
    .bind(id)
    .bind(status)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Inserts numbers a task does not have yet; returns how many were new, and adds them to contactNum.
async fn insert_numbers(
    tx: &mut Tx,
    tenant: TenantId,
    task_id: i64,
    numbers: &[(String, String)],
    retries_left: i64,
    now_ms: i64,
) -> Result<i64> {
    let mut added = 0i64;
    // A few hundred rows per statement: far from either backend's parameter limit.
    for chunk in numbers.chunks(200) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, $2, ${}, ${}, 'pending', $3, $4, $4, $4)", 5 + 2 * i, 6 + 2 * i))
            .collect();
        let sql = format!(
            "INSERT INTO outbound_numbers (tenant_id, task_id, mobile, mobile_des, state, retries_left, \
             next_attempt_at, created_at, updated_at) VALUES {} ON CONFLICT (tenant_id, task_id, mobile) DO NOTHING",
            values.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(tenant.0).bind(task_id).bind(retries_left).bind(now_ms);
        for (mobile, des) in chunk {
            q = q.bind(mobile.clone()).bind(des.clone());
        }
        added += q.execute(&mut **tx).await?.rows_affected() as i64;
    }
    sqlx::query("UPDATE outbound_tasks SET contact_num = contact_num + $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.0)
        .bind(task_id)
        .bind(added)
        .execute(&mut **tx)
        .await?;
    Ok(added)
}

impl Db {
    /// Creates project `code`, or revives a deleted one under it; `Conflict` when it is live.
    pub async fn insert_project(
        &self,
        tenant: TenantId,
        code: &str,
        name: &str,
        remark: &str,
        now_ms: i64,
    ) -> Result<()> {
        let what = format!("project {code}");
        let mut tx = self.pool.begin().await?;
        let deleted: Option<i64> =
            sqlx::query_scalar("SELECT deleted FROM projects WHERE tenant_id = $1 AND code = $2")
                .bind(tenant.0)
                .bind(code)
                .fetch_optional(&mut *tx)
                .await?;
        let sql = match deleted {
            Some(0) => return Err(StoreError::Conflict(what)),
            Some(_) => {
                "UPDATE projects SET name = $3, remark = $4, deleted = 0, created_at = $5, updated_at = $5 \
                 WHERE tenant_id = $1 AND code = $2"
            }
            None => {
                "INSERT INTO projects (tenant_id, code, name, remark, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5)"
            }
        };
        sqlx::query(sql)
            .bind(tenant.0)
            .bind(code)
            .bind(name)
            .bind(remark)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::classify(e, &what))?;
        tx.commit().await?;
        self.memo.invalidate();
        Ok(())
    }

    /// The live project `code`.
    pub async fn project(&self, tenant: TenantId, code: &str) -> Result<Option<StoredProject>> {
        let r = sqlx::query(&format!(
            "SELECT {PROJECT_COLS} FROM projects WHERE tenant_id = $1 AND code = $2 AND deleted = 0"
        ))
        .bind(tenant.0)
        .bind(code)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(project_from).transpose()
    }

    /// A page of live projects, newest first, and how many match.
    pub async fn list_projects(
        &self,
        tenant: TenantId,
        filter: &ProjectFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<StoredProject>, i64)> {
        let mut w = Where::new("tenant_id = $1 AND deleted = 0");
        if let Some(c) = &filter.code {
            w.and("code =", c.as_str());
        }
        if let Some(n) = &filter.name_contains {
            w.contains("name", n);
        }
        let (rows, total) =
            self.counted_page(tenant, PROJECT_COLS, "projects", &w, "created_at DESC, code", offset, limit).await?;
        Ok((rows.iter().map(project_from).collect::<Result<_>>()?, total))
    }

    /// Renames a live project and replaces its remark; false when there is none.
    pub async fn update_project(
        &self,
        tenant: TenantId,
        code: &str,
        name: &str,
        remark: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE projects SET name = $3, remark = $4, updated_at = $5 WHERE tenant_id = $1 AND code = $2 AND deleted = 0",
        )
        .bind(tenant.0)
        .bind(code)
        .bind(name)
        .bind(remark)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        self.memo.invalidate();
        Ok(done.rows_affected() > 0)
    }

    /// Marks the live projects `codes` deleted, all or none: `Ok(false)` (nothing changed) when
    /// one of them is not live.
    pub async fn delete_projects(&self, tenant: TenantId, codes: &[String], now_ms: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        for code in codes {
            let done = sqlx::query(
                "UPDATE projects SET deleted = 1, updated_at = $3 WHERE tenant_id = $1 AND code = $2 AND deleted = 0",
            )
            .bind(tenant.0)
            .bind(code)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
        }
        tx.commit().await?;
        self.memo.invalidate();
        Ok(true)
    }

    /// What still uses project `code`: live skill groups and live tasks, as `queue 8829` / `task T1`.
    pub async fn project_users(&self, tenant: TenantId, code: &str) -> Result<Vec<String>> {
        let queues: Vec<String> = sqlx::query_scalar(
            "SELECT code FROM queues WHERE tenant_id = $1 AND project = $2 AND deleted = 0 ORDER BY code",
        )
        .bind(tenant.0)
        .bind(code)
        .fetch_all(&self.pool)
        .await?;
        let tasks: Vec<String> = sqlx::query_scalar(
            "SELECT task_code FROM outbound_tasks WHERE tenant_id = $1 AND project = $2 AND deleted = 0 ORDER BY id",
        )
        .bind(tenant.0)
        .bind(code)
        .fetch_all(&self.pool)
        .await?;
        Ok(queues.iter().map(|q| format!("queue {q}")).chain(tasks.iter().map(|t| format!("task {t}"))).collect())
    }

    /// Creates a task, its outbound skill group and its numbers in one transaction; returns the
    /// task instance id, the skill group's code and its numeric id.
    pub async fn insert_task(
        &self,
        tenant: TenantId,
        task: &NewTask,
        numbers: &[(String, String)],
        now_ms: i64,
    ) -> Result<(i64, String, i64)> {
        let s = &task.settings;
        let what = format!("task {}", task.code);
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbound_tasks (tenant_id, task_code, name, project, queue, caller_id, create_type, \
             time_from, time_to, data_object, call_type, ratio, idle_time, max_attempts, script, remark, status, \
             created_at, updated_at) \
             VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17) RETURNING id",
        )
        .bind(tenant.0)
        .bind(&task.code)
        .bind(&s.name)
        .bind(&task.project)
        .bind(&s.caller_id)
        .bind(&task.create_type)
        .bind(&s.time_from)
        .bind(&s.time_to)
        .bind(&s.data_object)
        .bind(s.call_type)
        .bind(s.ratio)
        .bind(s.idle_time)
        .bind(task.max_attempts)
        .bind(&s.script)
        .bind(&s.remark)
        .bind(task.status)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::classify(e, &what))?;
        // The skill group's code follows the instance id; a provisioned group could hold it, so
        // the first free variant is taken.
        let mut code = format!("9{id:04}");
        let mut n = 0;
        loop {
            let held: Option<i64> = sqlx::query_scalar("SELECT id FROM queues WHERE tenant_id = $1 AND code = $2")
                .bind(tenant.0)
                .bind(&code)
                .fetch_optional(&mut *tx)
                .await?;
            if held.is_none() {
                break;
            }
            n += 1;
            code = format!("9{id:04}{n}");
        }
        let queue_id: i64 = sqlx::query_scalar(
            "INSERT INTO queues (tenant_id, code, name, direction, data_object, script, caller_id, tip_timeout, \
             project, call_type, created_at, updated_at) \
             VALUES ($1, $2, $3, 'out', $4, $5, $6, 0, $7, $8, $9, $9) RETURNING id",
        )
        .bind(tenant.0)
        .bind(&code)
        .bind(&s.name)
        .bind(&s.data_object)
        .bind(&task.script_name)
        .bind(&s.caller_id)
        .bind(&task.project)
        .bind(s.call_type)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::classify(e, &format!("queue {code}")))?;
        sqlx::query("UPDATE outbound_tasks SET queue = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(id)
            .bind(&code)
            .execute(&mut *tx)
            .await?;
        insert_numbers(&mut tx, tenant, id, numbers, task.max_attempts - 1, now_ms).await?;
        tx.commit().await?;
        self.memo.invalidate();
        Ok((id, code, queue_id))
    }

    /// Task `id`, deleted or not.
    pub async fn task(&self, tenant: TenantId, id: i64) -> Result<Option<StoredTask>> {
        let r = sqlx::query(&format!("SELECT {TASK_COLS} FROM outbound_tasks WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(task_from).transpose()
    }

    /// The live task whose skill group is `queue`.
    pub async fn task_by_queue(&self, tenant: TenantId, queue: &str) -> Result<Option<StoredTask>> {
        let r = sqlx::query(&format!(
            "SELECT {TASK_COLS} FROM outbound_tasks WHERE tenant_id = $1 AND queue = $2 AND deleted = 0"
        ))
        .bind(tenant.0)
        .bind(queue)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(task_from).transpose()
    }

    /// A page of live tasks, newest first, and how many match.
    pub async fn list_tasks(
        &self,
        tenant: TenantId,
        filter: &TaskFilter,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<StoredTask>, i64)> {
        let mut w = Where::new("tenant_id = $1 AND deleted = 0");
        if let Some(v) = &filter.name_contains {
            w.contains("name", v);
        }
        if let Some(v) = &filter.code {
            w.and("task_code =", v.as_str());
        }
        if let Some(v) = filter.status {
            w.and("status =", v);
        }
        if let Some(v) = filter.call_type {
            w.and("call_type =", v);
        }
        if let Some(v) = &filter.project {
            w.and("project =", v.as_str());
        }
        let (rows, total) =
            self.counted_page(tenant, TASK_COLS, "outbound_tasks", &w, "id DESC", offset, limit).await?;
        Ok((rows.iter().map(task_from).collect::<Result<_>>()?, total))
    }

    /// The live tasks in `status`, oldest first (what the dialer works through).
    pub async fn tasks_in_status(&self, tenant: TenantId, status: i64) -> Result<Vec<StoredTask>> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLS} FROM outbound_tasks WHERE tenant_id = $1 AND status = $2 AND deleted = 0 ORDER BY id"
        ))
        .bind(tenant.0)
        .bind(status)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_from).collect()
    }

    /// Replaces a task's settings and brings its skill group along, if the task is still in
    /// `status`; false when it is not.
    pub async fn update_task(
        &self,
        tenant: TenantId,
        id: i64,
        status: i64,
        settings: &TaskSettings,
        script_name: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let s = settings;
        let mut tx = self.pool.begin().await?;
        if !lock_task(&mut tx, tenant, id, status, now_ms).await? {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE outbound_tasks SET name = $3, caller_id = $4, time_from = $5, time_to = $6, data_object = $7, \
             call_type = $8, ratio = $9, idle_time = $10, script = $11, remark = $12 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(&s.name)
        .bind(&s.caller_id)
        .bind(&s.time_from)
        .bind(&s.time_to)
        .bind(&s.data_object)
        .bind(s.call_type)
        .bind(s.ratio)
        .bind(s.idle_time)
        .bind(&s.script)
        .bind(&s.remark)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE queues SET name = $3, data_object = $4, script = $5, caller_id = $6, call_type = $7, updated_at = $8 \
             WHERE tenant_id = $1 AND code = (SELECT queue FROM outbound_tasks WHERE tenant_id = $1 AND id = $2)",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(&s.name)
        .bind(&s.data_object)
        .bind(script_name)
        .bind(&s.caller_id)
        .bind(s.call_type)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.memo.invalidate();
        Ok(true)
    }

    /// Moves a live task along `change`; false when it is no longer in `change.from`.
    pub async fn set_task_status(&self, tenant: TenantId, id: i64, change: &StatusChange, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbound_tasks SET status = $4, started_at = $5, ended_at = $6, updated_at = $7 \
             WHERE tenant_id = $1 AND id = $2 AND status = $3 AND deleted = 0",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(change.from)
        .bind(change.to)
        .bind(change.started_at)
        .bind(change.ended_at)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a task still in status `from`: status 0, hidden, its skill group deleted and its
    /// members released; false when the task is no longer in `from`.
    pub async fn delete_task(&self, tenant: TenantId, id: i64, from: i64, now_ms: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        if !lock_task(&mut tx, tenant, id, from, now_ms).await? {
            return Ok(false);
        }
        let queue: String = sqlx::query_scalar("SELECT queue FROM outbound_tasks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query("UPDATE outbound_tasks SET status = 0, deleted = 1 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE queues SET deleted = 1, updated_at = $3 WHERE tenant_id = $1 AND code = $2")
            .bind(tenant.0)
            .bind(&queue)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        for table in ["staff_queues", "queue_member_ids"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND queue_code = $2"))
                .bind(tenant.0)
                .bind(&queue)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.memo.invalidate();
        Ok(true)
    }

    /// Adds numbers to a task still in `status`; `None` when it is no longer in it, else how
    /// many were new (numbers the task already has are skipped).
    pub async fn append_numbers(
        &self,
        tenant: TenantId,
        id: i64,
        status: i64,
        numbers: &[(String, String)],
        now_ms: i64,
    ) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        if !lock_task(&mut tx, tenant, id, status, now_ms).await? {
            return Ok(None);
        }
        let max: i64 = sqlx::query_scalar("SELECT max_attempts FROM outbound_tasks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let added = insert_numbers(&mut tx, tenant, id, numbers, max - 1, now_ms).await?;
        tx.commit().await?;
        Ok(Some(added))
    }

    /// Puts a task's numbers in `states` back to pending, due now, with a fresh round of
    /// retries; `None` when the task is no longer in `status`, else how many.
    pub async fn requeue_numbers(
        &self,
        tenant: TenantId,
        id: i64,
        status: i64,
        states: &[NumberState],
        now_ms: i64,
    ) -> Result<Option<u64>> {
        let mut tx = self.pool.begin().await?;
        if !lock_task(&mut tx, tenant, id, status, now_ms).await? {
            return Ok(None);
        }
        let list: Vec<String> = (0..states.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            // An abandoned number waits out 72 h from its abandoned call, whatever the recall.
            "UPDATE outbound_numbers SET state = 'pending', updated_at = $3, next_attempt_at = \
             CASE WHEN state = 'abandoned' AND COALESCE(last_attempt_at, 0) + 259200000 > $3 \
             THEN COALESCE(last_attempt_at, 0) + 259200000 ELSE $3 END, \
             retries_left = (SELECT max_attempts - 1 FROM outbound_tasks t WHERE t.tenant_id = $1 AND t.id = $2) \
             WHERE tenant_id = $1 AND task_id = $2 AND state IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(&sql).bind(tenant.0).bind(id).bind(now_ms);
        for s in states {
            q = q.bind(s.as_str());
        }
        let n = q.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(Some(n))
    }

    /// Gives every claimed number back, due at `now_ms`: the dialer that claimed them is gone
    /// (a restart); their interrupted calls got records from the recovery. Returns how many.
    pub async fn release_claimed_numbers(&self, now_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE outbound_numbers SET state = 'pending', next_attempt_at = $1, updated_at = $1 WHERE state = 'dialing'",
        )
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Gives a claimed number back, due again at `due_ms` (the dialer may not call it before).
    pub async fn defer_number(
        &self,
        tenant: TenantId,
        task_id: i64,
        number_id: i64,
        due_ms: i64,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE outbound_numbers SET state = 'pending', next_attempt_at = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND task_id = $2 AND id = $3 AND state = 'dialing'",
        )
        .bind(tenant.0)
        .bind(task_id)
        .bind(number_id)
        .bind(due_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many of a task's numbers are in each state.
    pub async fn number_state_counts(&self, tenant: TenantId, task_id: i64) -> Result<Vec<(NumberState, i64)>> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM outbound_numbers WHERE tenant_id = $1 AND task_id = $2 GROUP BY state",
        )
        .bind(tenant.0)
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let s: String = r.try_get("state")?;
            if let Some(state) = NumberState::parse(&s) {
                out.push((state, r.try_get("n")?));
            }
        }
        out.sort_by_key(|(s, _)| ALL_NUMBER_STATES.iter().position(|x| x == s));
        Ok(out)
    }

    /// A page of a task's numbers in the order they were added, and how many it has.
    pub async fn list_numbers(
        &self,
        tenant: TenantId,
        task_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<TaskNumber>, i64)> {
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbound_numbers WHERE tenant_id = $1 AND task_id = $2")
                .bind(tenant.0)
                .bind(task_id)
                .fetch_one(&self.pool)
                .await?;
        let rows = sqlx::query(&format!(
            "SELECT {NUMBER_COLS} FROM outbound_numbers WHERE tenant_id = $1 AND task_id = $2 \
             ORDER BY id LIMIT $3 OFFSET $4"
        ))
        .bind(tenant.0)
        .bind(task_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((rows.iter().map(number_from).collect::<Result<_>>()?, total))
    }

    /// Marks up to `n` due pending numbers of a running task as dialing, oldest due first;
    /// nothing when the task is not running (status 3). Two claimers never get the same number.
    pub async fn claim_numbers(&self, tenant: TenantId, task_id: i64, n: i64, now_ms: i64) -> Result<Vec<TaskNumber>> {
        if n <= 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.pool.begin().await?;
        if !lock_task(&mut tx, tenant, task_id, 3, now_ms).await? {
            return Ok(Vec::new());
        }
        // The outer `state = 'pending'` is re-checked on the row a concurrent claimer may have
        // changed meanwhile, so a number is never handed out twice.
        let rows = sqlx::query(&format!(
            "UPDATE outbound_numbers SET state = 'dialing', last_attempt_at = $3, updated_at = $3 \
             WHERE tenant_id = $1 AND task_id = $2 AND state = 'pending' AND id IN (\
               SELECT id FROM outbound_numbers WHERE tenant_id = $1 AND task_id = $2 AND state = 'pending' \
               AND next_attempt_at <= $3 ORDER BY next_attempt_at, id LIMIT $4) \
             RETURNING {NUMBER_COLS}"
        ))
        .bind(tenant.0)
        .bind(task_id)
        .bind(now_ms)
        .bind(n)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut out = rows.iter().map(number_from).collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|x| (x.next_attempt_at, x.id));
        Ok(out)
    }

    /// Records the outcome of a dialing number's attempt and updates the task's counters, in one
    /// transaction. A retryable outcome with retries left puts the number back to pending, due
    /// after the task's idleTime; when a running task has nothing left to dial it ends (status 5).
    pub async fn finish_attempt(
        &self,
        tenant: TenantId,
        task_id: i64,
        number_id: i64,
        outcome: AttemptOutcome,
        call_id: &str,
        now_ms: i64,
    ) -> Result<std::result::Result<TaskNumber, AttemptRefused>> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(&format!(
            "SELECT {NUMBER_COLS} FROM outbound_numbers WHERE tenant_id = $1 AND task_id = $2 AND id = $3"
        ))
        .bind(tenant.0)
        .bind(task_id)
        .bind(number_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(number) = r.as_ref().map(number_from).transpose()? else {
            return Ok(Err(AttemptRefused::NoSuchNumber));
        };
        if number.state != NumberState::Dialing {
            return Ok(Err(AttemptRefused::NotDialing(number.state)));
        }
        let idle: i64 = sqlx::query_scalar("SELECT idle_time FROM outbound_tasks WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(task_id)
            .fetch_one(&mut *tx)
            .await?;
        let retry = outcome.retries() && number.retries_left > 0;
        let (state, next, retries_left) = if retry {
            (NumberState::Pending, now_ms + idle, number.retries_left - 1)
        } else {
            (outcome.state(), number.next_attempt_at, number.retries_left)
        };
        let first_call = outcome.is_call() && number.attempts == 0;
        let first_answer = outcome == AttemptOutcome::Answered && number.answered_at.is_none();
        let attempts = number.attempts + i64::from(outcome.is_call());
        let answered_at = if first_answer { Some(now_ms) } else { number.answered_at };
        let call_id = if call_id.is_empty() { number.last_call_id.clone() } else { call_id.to_string() };
        let done = sqlx::query(
            "UPDATE outbound_numbers SET state = $4, last_outcome = $5, attempts = $6, retries_left = $7, \
             next_attempt_at = $8, answered_at = $9, last_call_id = $10, updated_at = $11 \
             WHERE tenant_id = $1 AND task_id = $2 AND id = $3 AND state = 'dialing'",
        )
        .bind(tenant.0)
        .bind(task_id)
        .bind(number_id)
        .bind(state.as_str())
        .bind(outcome.state().as_str())
        .bind(attempts)
        .bind(retries_left)
        .bind(next)
        .bind(answered_at)
        .bind(&call_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Another report for the same attempt won the race.
            return Ok(Err(AttemptRefused::NotDialing(NumberState::Pending)));
        }
        sqlx::query(
            "UPDATE outbound_tasks SET call_num = call_num + $3, touch_num = touch_num + $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.0)
        .bind(task_id)
        .bind(i64::from(first_call))
        .bind(i64::from(first_answer))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE outbound_tasks SET status = 5, ended_at = $3 WHERE tenant_id = $1 AND id = $2 AND status = 3 \
             AND deleted = 0 AND NOT EXISTS (SELECT 1 FROM outbound_numbers n WHERE n.tenant_id = $1 \
             AND n.task_id = $2 AND n.state IN ('pending', 'dialing'))",
        )
        .bind(tenant.0)
        .bind(task_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(TaskNumber {
            state,
            last_outcome: Some(outcome.state()),
            attempts,
            retries_left,
            next_attempt_at: next,
            answered_at,
            last_call_id: call_id,
            ..number
        }))
    }

    /// A page of the members of skill group `queue` (optionally by name substring and
    /// extension), in the order they joined, and how many match. Memberships made elsewhere
    /// (provisioning) get their ids here.
    pub async fn queue_member_page(
        &self,
        tenant: TenantId,
        queue: &str,
        name_contains: Option<&str>,
        agent_id: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<QueueMember>, i64)> {
        sqlx::query(
            "INSERT INTO queue_member_ids (tenant_id, queue_code, user_code) \
             SELECT tenant_id, queue_code, user_code FROM staff_queues WHERE tenant_id = $1 AND queue_code = $2 \
             ORDER BY user_code ON CONFLICT (tenant_id, queue_code, user_code) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(queue)
        .execute(&self.pool)
        .await?;
        let mut w = Where::new(
            "m.tenant_id = $1 AND s.deleted = 0 AND EXISTS (SELECT 1 FROM staff_queues q WHERE q.tenant_id = m.tenant_id \
             AND q.queue_code = m.queue_code AND q.user_code = m.user_code)",
        );
        w.and("m.queue_code =", queue);
        if let Some(n) = name_contains {
            w.contains("s.name", n);
        }
        if let Some(a) = agent_id {
            w.and("s.agent_id =", a);
        }
        let from = "queue_member_ids m JOIN staff s ON s.tenant_id = m.tenant_id AND s.user_code = m.user_code";
        let select = "m.id, s.user_code, s.name, s.agent_id, s.priority, s.team";
        let (rows, total) = self.counted_page(tenant, select, from, &w, "m.id", offset, limit).await?;
        let members = rows
            .iter()
            .map(|r| {
                Ok(QueueMember {
                    id: r.try_get("id")?,
                    user_code: r.try_get("user_code")?,
                    name: r.try_get("name")?,
                    agent_id: r.try_get("agent_id")?,
                    priority: r.try_get("priority")?,
                    team: r.try_get("team")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((members, total))
    }

    /// Makes the staff `user_codes` members of skill group `queue`; returns how many were new.
    pub async fn add_queue_members(&self, tenant: TenantId, queue: &str, user_codes: &[String]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut added = 0;
        for user in user_codes {
            added += sqlx::query(
                "INSERT INTO staff_queues (tenant_id, user_code, queue_code) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, user_code, queue_code) DO NOTHING",
            )
            .bind(tenant.0)
            .bind(user)
            .bind(queue)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query(
                "INSERT INTO queue_member_ids (tenant_id, queue_code, user_code) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, queue_code, user_code) DO NOTHING",
            )
            .bind(tenant.0)
            .bind(queue)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.memo.invalidate();
        Ok(added)
    }

    /// The live memberships with these ids: `(id, queue code, user code)`.
    pub async fn queue_members_by_id(&self, tenant: TenantId, ids: &[i64]) -> Result<Vec<(i64, String, String)>> {
        let mut out = Vec::new();
        for id in ids {
            let r = sqlx::query(
                "SELECT m.id, m.queue_code, m.user_code FROM queue_member_ids m JOIN staff_queues q \
                 ON q.tenant_id = m.tenant_id AND q.queue_code = m.queue_code AND q.user_code = m.user_code \
                 WHERE m.tenant_id = $1 AND m.id = $2",
            )
            .bind(tenant.0)
            .bind(*id)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = r {
                out.push((r.try_get("id")?, r.try_get("queue_code")?, r.try_get("user_code")?));
            }
        }
        Ok(out)
    }

    /// Ends the memberships with these ids (their ids die with them).
    pub async fn remove_queue_members(&self, tenant: TenantId, ids: &[i64]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut removed = 0;
        for id in ids {
            let pair =
                sqlx::query("SELECT queue_code, user_code FROM queue_member_ids WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0)
                    .bind(*id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(pair) = pair else { continue };
            removed +=
                sqlx::query("DELETE FROM staff_queues WHERE tenant_id = $1 AND queue_code = $2 AND user_code = $3")
                    .bind(tenant.0)
                    .bind(pair.try_get::<String, _>("queue_code")?)
                    .bind(pair.try_get::<String, _>("user_code")?)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            sqlx::query("DELETE FROM queue_member_ids WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.memo.invalidate();
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_stored_names() {
        for s in ALL_NUMBER_STATES {
            assert_eq!(NumberState::parse(s.as_str()), Some(s));
        }
        assert_eq!(NumberState::parse("Pending"), None);
    }

    #[test]
    fn only_no_answer_and_busy_are_retried_and_blacklisted_is_no_call() {
        let all = [
            AttemptOutcome::Answered,
            AttemptOutcome::NoAnswer,
            AttemptOutcome::Busy,
            AttemptOutcome::Rejected,
            AttemptOutcome::Failed,
            AttemptOutcome::Abandoned,
            AttemptOutcome::AgentRejected,
            AttemptOutcome::Blacklisted,
        ];
        let retried: Vec<_> = all.iter().filter(|o| o.retries()).collect();
        assert_eq!(retried, [&AttemptOutcome::NoAnswer, &AttemptOutcome::Busy]);
        assert_eq!(all.iter().filter(|o| !o.is_call()).count(), 1);
        assert!(all.iter().all(|o| !matches!(o.state(), NumberState::Pending | NumberState::Dialing)));
    }
}

/// A customer record assigned to a staff member (action `AddCBaseData`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    /// Staff account.
    pub staff: String,
    /// Phone number.
    pub phone: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// E-mail.
    pub email: String,
    /// Remark.
    pub comment: String,
}

impl Db {
    /// Adds a customer record; `false` when the staff member already has this phone number.
    pub async fn add_customer(&self, tenant: TenantId, c: &Customer, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO customers (tenant_id, staff, phone, name, address, email, comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, staff, phone) DO NOTHING",
        )
        .bind(tenant.0)
        .bind(&c.staff)
        .bind(&c.phone)
        .bind(&c.name)
        .bind(&c.address)
        .bind(&c.email)
        .bind(&c.comment)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A staff member's customer records, oldest first.
    pub async fn customers_of(&self, tenant: TenantId, staff: &str) -> Result<Vec<Customer>> {
        let rows = sqlx::query(
            "SELECT staff, phone, name, address, email, comment FROM customers WHERE tenant_id = $1 AND staff = $2 \
             ORDER BY id",
        )
        .bind(tenant.0)
        .bind(staff)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Customer {
                    staff: r.try_get("staff")?,
                    phone: r.try_get("phone")?,
                    name: r.try_get("name")?,
                    address: r.try_get("address")?,
                    email: r.try_get("email")?,
                    comment: r.try_get("comment")?,
                })
            })
            .collect()
    }
}
