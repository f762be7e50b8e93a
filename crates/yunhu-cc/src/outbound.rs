//! Manual outbound tasks (人工外呼, open95 §6.3): projects, tasks and their life cycle, the numbers
//! each task dials with their own dialing state, and the staff who work a task. The predictive
//! dialer drives running tasks through [`Services::claim_numbers`] and [`Services::record_attempt`].

use crate::directory::{StaffEntry, StaffFilter};
use crate::{CcError, Services, TenantId};
use std::collections::{BTreeMap, HashSet};
use yunhu_store::calls::StoredCallRecord;
use yunhu_store::directory as tables;
pub use yunhu_store::outbound::{
    AttemptOutcome, NumberState, ProjectFilter, QueueMember, StoredProject as Project, StoredTask as OutboundTask,
    TaskFilter, TaskNumber, TaskSettings,
};
use yunhu_store::outbound::{AttemptRefused, NewTask, StatusChange};

/// Attempts a number gets per round: the first call and one second call (二次呼叫) after idleTime.
pub const MAX_ATTEMPTS: i64 = 2;

/// Most numbers one request may add to a task.
pub const MAX_NUMBERS_PER_REQUEST: usize = 10_000;

/// The second-call intervals (ms) the seed allows for idleTime.
pub const IDLE_TIMES: [i64; 5] = [8000, 16000, 24000, 32000, 40000];

/// A task's status, with the seed's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// 0 无效活动: deleted.
    Invalid,
    /// 2 规划中: created, never started.
    Planned,
    /// 3 执行中: the dialer works it.
    Running,
    /// 4 暂停中: paused; calls under way finish.
    Paused,
    /// 5 已结束: stopped, or every number done; may be started again after a recall or an append.
    Ended,
    /// 6 已终结: terminated for good.
    Terminated,
}

impl TaskStatus {
    /// The seed's code.
    pub fn code(self) -> i64 {
        match self {
            TaskStatus::Invalid => 0,
            TaskStatus::Planned => 2,
            TaskStatus::Running => 3,
            TaskStatus::Paused => 4,
            TaskStatus::Ended => 5,
            TaskStatus::Terminated => 6,
        }
    }

    /// The status of a seed code.
    pub fn from_code(code: i64) -> Option<TaskStatus> {
        [Self::Invalid, Self::Planned, Self::Running, Self::Paused, Self::Ended, Self::Terminated]
            .into_iter()
            .find(|s| s.code() == code)
    }

    /// How messages name it: the seed's words and English.
    pub fn label(self) -> &'static str {
        match self {
            TaskStatus::Invalid => "无效活动/已删除 (deleted)",
            TaskStatus::Planned => "规划中 (planned)",
            TaskStatus::Running => "执行中 (running)",
            TaskStatus::Paused => "暂停中 (paused)",
            TaskStatus::Ended => "已结束 (ended)",
            TaskStatus::Terminated => "已终结 (terminated)",
        }
    }
}

/// What a request does to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOp {
    /// startCall.
    Start,
    /// pauseCall.
    Pause,
    /// stopCall.
    Stop,
    /// changeState (终结).
    Terminate,
    /// append numbers.
    Append,
    /// update settings.
    Update,
    /// recall numbers.
    Recall,
    /// delete.
    Delete,
}

impl TaskOp {
    fn label(self) -> &'static str {
        match self {
            TaskOp::Start => "启动 (start)",
            TaskOp::Pause => "暂停 (pause)",
            TaskOp::Stop => "停止 (stop)",
            TaskOp::Terminate => "终结 (terminate)",
            TaskOp::Append => "追加号码 (append numbers to)",
            TaskOp::Update => "修改 (update)",
            TaskOp::Recall => "重呼 (recall numbers of)",
            TaskOp::Delete => "删除 (delete)",
        }
    }
}

/// The task life cycle in one place: the status `op` leads to from `from`, or why it is refused.
///
/// | op \ from  | 2 planned | 3 running | 4 paused | 5 ended | 6 terminated | 0 deleted |
/// |------------|-----------|-----------|----------|---------|--------------|-----------|
/// | start      | 3         | ✗         | 3        | 3       | ✗            | ✗         |
/// | pause      | ✗         | 4         | ✗        | ✗       | ✗            | ✗         |
/// | stop       | ✗         | 5         | 5        | ✗       | ✗            | ✗         |
/// | terminate  | 6         | 6         | 6        | 6       | ✗            | ✗         |
/// | append     | 2         | 3         | 4        | 5       | ✗            | ✗         |
/// | update     | 2         | 3         | 4        | 5       | ✗            | ✗         |
/// | recall     | 2         | 3         | 4        | 5       | ✗            | ✗         |
/// | delete     | 0         | ✗         | 0        | 0       | 0            | ✗         |
///
/// Ended (5) is not final: a stopped or finished task can be given numbers again (append,
/// recall) and restarted. Terminated (6) is final except for deletion. A running task must be
/// paused or stopped before it is deleted, so no call is orphaned without a decision. Besides
/// this table, start needs a number left to dial (checked by the service).
pub fn transition(from: TaskStatus, op: TaskOp) -> Result<TaskStatus, &'static str> {
    use TaskOp as O;
    use TaskStatus as S;
    match (from, op) {
        (S::Invalid, _) => Err("任务已删除 (the task is deleted)"),
        (S::Terminated, O::Delete) => Ok(S::Invalid),
        (S::Terminated, _) => {
            Err("已终结的任务不能再变更，只能删除 (a terminated task cannot change any more; it can only be deleted)")
        }
        (S::Planned | S::Paused | S::Ended, O::Start) => Ok(S::Running),
        (S::Running, O::Start) => Err("任务已在执行 (the task is already running)"),
        (S::Running, O::Pause) => Ok(S::Paused),
        (S::Planned, O::Pause | O::Stop) => Err("任务尚未启动 (the task has not been started)"),
        (S::Paused, O::Pause) => Err("任务已暂停 (the task is already paused)"),
        (S::Ended, O::Pause | O::Stop) => Err("任务已结束 (the task has already ended)"),
        (S::Running | S::Paused, O::Stop) => Ok(S::Ended),
        (_, O::Terminate) => Ok(S::Terminated),
        (_, O::Append | O::Update | O::Recall) => Ok(from),
        (S::Running, O::Delete) => Err("执行中的任务须先暂停或停止 (pause or stop a running task first)"),
        (_, O::Delete) => Ok(S::Invalid),
    }
}

/// Which numbers a recall puts back into the queue (open95 recall `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecallKind {
    /// 1 拒接: refused, by the customer (busy, declined) or by the agent.
    Refused,
    /// 2 漏接: missed: not answered, or answered when no agent was free.
    Missed,
    /// 3 全部: every number that is done, answered ones included; barred numbers stay barred.
    All,
}

impl RecallKind {
    /// The recall of an open95 `type` code.
    pub fn from_code(code: i64) -> Option<RecallKind> {
        match code {
            1 => Some(RecallKind::Refused),
            2 => Some(RecallKind::Missed),
            3 => Some(RecallKind::All),
            _ => None,
        }
    }

    /// The number states it re-queues.
    pub fn states(self) -> &'static [NumberState] {
        use NumberState as N;
        match self {
            RecallKind::Refused => &[N::Busy, N::Rejected, N::AgentRejected],
            RecallKind::Missed => &[N::NoAnswer, N::Abandoned],
            RecallKind::All => {
                &[N::Answered, N::NoAnswer, N::Busy, N::Rejected, N::Failed, N::Abandoned, N::AgentRejected]
            }
        }
    }
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    /// Short task code, 1-16 letters or digits.
    pub code: String,
    /// Project code.
    pub project: String,
    /// Where the numbers came from: `input`, `file` or `remoteFile` (the skin reads them).
    pub create_type: String,
    /// The changeable fields.
    pub settings: TaskSettings,
}

/// What creating a task made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTask {
    /// Task instance id.
    pub id: i64,
    /// The task's skill group code (short groupDn).
    pub queue_code: String,
    /// The skill group's numeric id (groupId).
    pub queue_id: i64,
}

/// A task with the names of what it refers to.
#[derive(Debug, Clone)]
pub struct TaskView {
    /// The task.
    pub task: OutboundTask,
    /// Project name (when the project is live).
    pub project_name: Option<String>,
    /// Work-order object name (when it has one).
    pub data_object_name: Option<String>,
    /// Numeric id of its skill group.
    pub queue_id: Option<i64>,
}

/// A number with the record of its latest call.
#[derive(Debug, Clone)]
pub struct NumberView {
    /// The number and its dialing state.
    pub number: TaskNumber,
    /// The latest call, once it is recorded.
    pub call: Option<StoredCallRecord>,
}

/// An outbound skill group members can be managed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberQueue {
    /// Short code.
    pub code: String,
    /// Numeric id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// Parses `HH:MM` to minutes after midnight.
fn minutes(hhmm: &str) -> Option<i64> {
    let (h, m) = hhmm.split_once(':')?;
    let ok = h.len() == 2 && m.len() == 2 && h.chars().chain(m.chars()).all(|c| c.is_ascii_digit());
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (ok && h < 24 && m < 60).then_some(h * 60 + m)
}

/// Whether `now_ms` falls in the task's daily window [timeFrom, timeTo) in `zone`.
pub fn calling_window_open(task: &OutboundTask, zone: chrono_tz::Tz, now_ms: i64) -> bool {
    let now = yunhu_core::time::format_in_zone(now_ms, zone, "%H:%M");
    match (minutes(&task.time_from), minutes(&task.time_to), minutes(&now)) {
        (Some(from), Some(to), Some(now)) => from <= now && now < to,
        _ => false,
    }
}

/// Checks a short code: `min`-`max` ASCII letters or digits.
fn check_short(what: &str, code: &str, min: usize, max: usize) -> Result<(), CcError> {
    if (min..=max).contains(&code.len()) && code.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(CcError::Invalid(format!(
            "{what} 须为 {min}-{max} 位数字或字母 ({what} must be {min}-{max} letters or digits, got {code:?})"
        )))
    }
}

fn check_name(what: &str, name: &str) -> Result<(), CcError> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(CcError::Invalid(format!("{what} 不能为空且不超过 100 字 ({what} must be 1-100 characters)")));
    }
    Ok(())
}

/// Parses open95 `mobileAndDes`: `number:data;number:data` (data optional; a number may start
/// with `+`). Numbers repeated in the text are kept once, the first with its data.
pub fn parse_numbers(text: &str) -> Result<Vec<(String, String)>, CcError> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (mobile, des) = item.split_once(':').unwrap_or((item, ""));
        let mobile = mobile.trim();
        let digits = mobile.strip_prefix('+').unwrap_or(mobile);
        if !(3..=20).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(CcError::Invalid(format!(
                "mobileAndDes 中的号码 {mobile:?} 不是 3-20 位数字 (number {mobile:?} must be 3-20 digits)"
            )));
        }
        if des.chars().count() > 500 {
            return Err(CcError::Invalid(format!(
                "号码 {mobile} 的随路数据超过 500 字 (the data of {mobile} is longer than 500 characters)"
            )));
        }
        if seen.insert(mobile.to_string()) {
            out.push((mobile.to_string(), des.trim().to_string()));
        }
    }
    if out.is_empty() {
        return Err(CcError::Invalid("mobileAndDes 中没有号码 (mobileAndDes holds no number)".into()));
    }
    if out.len() > MAX_NUMBERS_PER_REQUEST {
        return Err(CcError::Invalid(format!(
            "一次最多 {MAX_NUMBERS_PER_REQUEST} 个号码 (at most {MAX_NUMBERS_PER_REQUEST} numbers per request)"
        )));
    }
    Ok(out)
}

/// The number sources open95 names: typed in, a file sent with the request, an uploaded file.
fn check_create_type(create_type: &str) -> Result<(), CcError> {
    match create_type {
        "input" | "file" | "remoteFile" => Ok(()),
        other => Err(CcError::Invalid(format!(
            "createType 只能是 input、file 或 remoteFile (createType must be input, file or remoteFile, got {other:?})"
        ))),
    }
}

fn refused(task: &OutboundTask, op: TaskOp, why: &str) -> CcError {
    let status = TaskStatus::from_code(task.status).unwrap_or(TaskStatus::Invalid);
    CcError::Conflict(format!("外呼任务 {} 当前状态为 {}，不能{}：{why}", task.code, status.label(), op.label()))
}

fn changed_meanwhile(task: &OutboundTask) -> CcError {
    CcError::Conflict(format!(
        "外呼任务 {} 的状态刚被另一请求改变，请重试 (task {} changed meanwhile; try again)",
        task.code, task.code
    ))
}

impl Services {
    // ---- projects ----

    /// Creates project `code` (6-12 letters or digits).
    pub async fn create_project(&self, tenant: TenantId, code: &str, name: &str, remark: &str) -> Result<(), CcError> {
        check_short("projectId", code, 6, 12)?;
        check_name("projectName", name)?;
        self.db.insert_project(tenant, code, name, remark, self.now_ms()).await.map_err(|e| match e {
            yunhu_store::StoreError::Conflict(_) => {
                CcError::Conflict(format!("外呼项目 {code} 已存在 (project {code} already exists)"))
            }
            other => other.into(),
        })
    }

    /// The live project `code`, or `NotFound`.
    pub async fn project(&self, tenant: TenantId, code: &str) -> Result<Project, CcError> {
        self.db
            .project(tenant, code)
            .await?
            .ok_or_else(|| CcError::NotFound(format!("外呼项目 {code} (project {code})")))
    }

    /// A page (1-based) of the tenant's projects, newest first, and how many match.
    pub async fn search_projects(
        &self,
        tenant: TenantId,
        filter: &ProjectFilter,
        page: i64,
        size: i64,
    ) -> Result<(Vec<Project>, i64), CcError> {
        Ok(self.db.list_projects(tenant, filter, (page - 1) * size, size).await?)
    }

    /// Renames a project and replaces its remark.
    pub async fn update_project(&self, tenant: TenantId, code: &str, name: &str, remark: &str) -> Result<(), CcError> {
        check_name("projectName", name)?;
        if !self.db.update_project(tenant, code, name, remark, self.now_ms()).await? {
            return Err(CcError::NotFound(format!("外呼项目 {code} (project {code})")));
        }
        Ok(())
    }

    /// Deletes projects, all or none: each must exist and no live skill group or task may use it.
    pub async fn delete_projects(&self, tenant: TenantId, codes: &[String]) -> Result<(), CcError> {
        if codes.is_empty() {
            return Err(CcError::Invalid("ids 不能为空 (ids must name at least one project)".into()));
        }
        for code in codes {
            self.project(tenant, code).await?;
            let users = self.db.project_users(tenant, code).await?;
            if !users.is_empty() {
                return Err(CcError::Conflict(format!(
                    "外呼项目 {code} 仍被使用，不能删除 (project {code} is still used by {})",
                    users.join(", ")
                )));
            }
        }
        if !self.db.delete_projects(tenant, codes, self.now_ms()).await? {
            return Err(CcError::Conflict("外呼项目刚被另一请求删除，请重试 (a project was deleted meanwhile)".into()));
        }
        Ok(())
    }

    // ---- tasks ----

    /// Checks settings against the tenant's directory; returns the script's name ("" for none).
    async fn check_settings(&self, tenant: TenantId, s: &TaskSettings) -> Result<String, CcError> {
        check_name("name", &s.name)?;
        let (Some(from), Some(to)) = (minutes(&s.time_from), minutes(&s.time_to)) else {
            return Err(CcError::Invalid(format!(
                "timeFrom/timeTo 格式应为 HH:MM (timeFrom and timeTo must be HH:MM, got {:?} and {:?})",
                s.time_from, s.time_to
            )));
        };
        if from >= to {
            return Err(CcError::Invalid(format!(
                "timeFrom 须早于 timeTo (timeFrom {} must be before timeTo {})",
                s.time_from, s.time_to
            )));
        }
        if !(0..=1).contains(&s.call_type) {
            return Err(CcError::Invalid(format!(
                "callType 只能是 0 或 1 (callType must be 0 predictive or 1 preview, got {})",
                s.call_type
            )));
        }
        if !(1..=5).contains(&s.ratio) {
            return Err(CcError::Invalid(format!("ratio 应为 1-5 (ratio must be 1-5, got {})", s.ratio)));
        }
        if !IDLE_TIMES.contains(&s.idle_time) {
            return Err(CcError::Invalid(format!(
                "idleTime 只能是 8000/16000/24000/32000/40000 (idleTime must be one of {IDLE_TIMES:?}, got {})",
                s.idle_time
            )));
        }
        if s.remark.chars().count() > 500 {
            return Err(CcError::Invalid("remark 不超过 500 字 (remark is longer than 500 characters)".into()));
        }
        if !s.caller_id.is_empty()
            && self
                .db
                .get_row(tenant, &tables::CALLER_IDS, &[s.caller_id.as_str().into()])
                .await?
                .is_none_or(|(_, deleted)| deleted)
        {
            return Err(CcError::NotFound(format!("外显号码 {} (caller id {})", s.caller_id, s.caller_id)));
        }
        if !s.data_object.is_empty()
            && !self
                .db
                .list_rows(tenant, &tables::DATA_OBJECTS)
                .await?
                .iter()
                .any(|r| r["code"].text() == s.data_object)
        {
            return Err(CcError::NotFound(format!("工单对象 {} (work-order object {})", s.data_object, s.data_object)));
        }
        if s.script.is_empty() {
            return Ok(String::new());
        }
        self.db
            .list_rows(tenant, &tables::SCRIPTS)
            .await?
            .iter()
            .find(|r| r["stream_id"].text() == s.script)
            .map(|r| r["name"].text().to_string())
            .ok_or_else(|| CcError::NotFound(format!("话术 {} (script {})", s.script, s.script)))
    }

    /// Creates a task in status 2 with its own outbound skill group and its numbers.
    pub async fn create_task(
        &self,
        tenant: TenantId,
        req: &TaskRequest,
        numbers: &[(String, String)],
    ) -> Result<CreatedTask, CcError> {
        check_short("taskId", &req.code, 1, 16)?;
        check_create_type(&req.create_type)?;
        self.project(tenant, &req.project).await?;
        let script_name = self.check_settings(tenant, &req.settings).await?;
        if numbers.is_empty() {
            return Err(CcError::Invalid("mobileAndDes 中没有号码 (mobileAndDes holds no number)".into()));
        }
        let new = NewTask {
            code: req.code.clone(),
            project: req.project.clone(),
            create_type: req.create_type.clone(),
            max_attempts: MAX_ATTEMPTS,
            status: TaskStatus::Planned.code(),
            settings: req.settings.clone(),
            script_name,
        };
        let (id, queue_code, queue_id) =
            self.db.insert_task(tenant, &new, numbers, self.now_ms()).await.map_err(|e| match e {
                yunhu_store::StoreError::Conflict(_) => CcError::Conflict(format!(
                    "任务标识 {} 已被使用 (taskId {} is already used by a live task)",
                    req.code, req.code
                )),
                other => other.into(),
            })?;
        Ok(CreatedTask { id, queue_code, queue_id })
    }

    /// Task `id`, deleted ones included (status 0), or `NotFound`.
    async fn any_task(&self, tenant: TenantId, id: i64) -> Result<OutboundTask, CcError> {
        self.db.task(tenant, id).await?.ok_or_else(|| CcError::NotFound(format!("外呼任务 {id} (outbound task {id})")))
    }

    /// The live task `id`, or `NotFound`.
    pub async fn task(&self, tenant: TenantId, id: i64) -> Result<OutboundTask, CcError> {
        match self.db.task(tenant, id).await? {
            Some(t) if !t.deleted => Ok(t),
            _ => Err(CcError::NotFound(format!("外呼任务 {id} (outbound task {id})"))),
        }
    }

    async fn views(&self, tenant: TenantId, tasks: Vec<OutboundTask>) -> Result<Vec<TaskView>, CcError> {
        let names = |rows: Vec<yunhu_store::Row>| -> BTreeMap<String, String> {
            rows.into_iter().map(|r| (r["code"].text().to_string(), r["name"].text().to_string())).collect()
        };
        let projects = names(self.db.list_rows(tenant, &tables::PROJECTS).await?);
        let objects = names(self.db.list_rows(tenant, &tables::DATA_OBJECTS).await?);
        let queues = self.db.serial_ids(tenant, &tables::QUEUES).await?;
        Ok(tasks
            .into_iter()
            .map(|task| TaskView {
                project_name: projects.get(&task.project).cloned(),
                data_object_name: objects.get(&task.data_object).cloned(),
                queue_id: queues.get(&task.queue).copied(),
                task,
            })
            .collect())
    }

    /// The live task `id` with the names it refers to.
    pub async fn task_view(&self, tenant: TenantId, id: i64) -> Result<TaskView, CcError> {
        let task = self.task(tenant, id).await?;
        Ok(self.views(tenant, vec![task]).await?.remove(0))
    }

    /// A page (1-based) of live tasks, newest first, and how many match.
    pub async fn search_tasks(
        &self,
        tenant: TenantId,
        filter: &TaskFilter,
        page: i64,
        size: i64,
    ) -> Result<(Vec<TaskView>, i64), CcError> {
        let (tasks, total) = self.db.list_tasks(tenant, filter, (page - 1) * size, size).await?;
        Ok((self.views(tenant, tasks).await?, total))
    }

    /// The task and the status `op` takes it to, or the refusal naming its status and why.
    async fn plan(&self, tenant: TenantId, id: i64, op: TaskOp) -> Result<(OutboundTask, TaskStatus), CcError> {
        let task = self.any_task(tenant, id).await?;
        let from = TaskStatus::from_code(task.status).unwrap_or(TaskStatus::Invalid);
        let from = if task.deleted { TaskStatus::Invalid } else { from };
        let to = transition(from, op).map_err(|why| refused(&task, op, why))?;
        Ok((task, to))
    }

    /// Replaces a task's settings (and its skill group's name, caller id, object, script, type).
    pub async fn update_task(&self, tenant: TenantId, id: i64, settings: &TaskSettings) -> Result<(), CcError> {
        let (task, _) = self.plan(tenant, id, TaskOp::Update).await?;
        let script_name = self.check_settings(tenant, settings).await?;
        if !self.db.update_task(tenant, id, task.status, settings, &script_name, self.now_ms()).await? {
            return Err(changed_meanwhile(&task));
        }
        Ok(())
    }

    /// Adds numbers to a task; returns how many were new (numbers it already has are skipped).
    pub async fn append_numbers(
        &self,
        tenant: TenantId,
        id: i64,
        create_type: &str,
        numbers: &[(String, String)],
    ) -> Result<i64, CcError> {
        let (task, _) = self.plan(tenant, id, TaskOp::Append).await?;
        check_create_type(create_type)?;
        self.db
            .append_numbers(tenant, id, task.status, numbers, self.now_ms())
            .await?
            .ok_or_else(|| changed_meanwhile(&task))
    }

    /// Starts, pauses, stops or terminates a task along [`transition`]; returns the new status.
    pub async fn change_task(&self, tenant: TenantId, id: i64, op: TaskOp) -> Result<TaskStatus, CcError> {
        if !matches!(op, TaskOp::Start | TaskOp::Pause | TaskOp::Stop | TaskOp::Terminate) {
            return Err(CcError::Invalid(format!("{op:?} is not a status change")));
        }
        let (task, to) = self.plan(tenant, id, op).await?;
        if op == TaskOp::Start {
            let counts = self.db.number_state_counts(tenant, id).await?;
            let live = counts.iter().any(|(s, n)| *n > 0 && matches!(s, NumberState::Pending | NumberState::Dialing));
            if !live {
                return Err(refused(
                    &task,
                    op,
                    "没有待呼叫的号码，请先追加或重呼 (no numbers left to call; append or recall first)",
                ));
            }
        }
        let now = self.now_ms();
        let started = task.started_at.or((to == TaskStatus::Running).then_some(now));
        let ended = match to {
            TaskStatus::Ended | TaskStatus::Terminated => Some(now),
            _ => None,
        };
        let change = StatusChange { from: task.status, to: to.code(), started_at: started, ended_at: ended };
        if !self.db.set_task_status(tenant, id, &change, now).await? {
            return Err(changed_meanwhile(&task));
        }
        Ok(to)
    }

    /// Puts numbers of a task back into the queue; returns how many (0: none matched, nothing changed).
    pub async fn recall_numbers(&self, tenant: TenantId, id: i64, kind: RecallKind) -> Result<u64, CcError> {
        let (task, _) = self.plan(tenant, id, TaskOp::Recall).await?;
        self.db
            .requeue_numbers(tenant, id, task.status, kind.states(), self.now_ms())
            .await?
            .ok_or_else(|| changed_meanwhile(&task))
    }

    /// Deletes a task: status 0, gone from listings, its skill group and memberships removed.
    pub async fn delete_task(&self, tenant: TenantId, id: i64) -> Result<(), CcError> {
        let (task, _) = self.plan(tenant, id, TaskOp::Delete).await?;
        if !self.db.delete_task(tenant, id, task.status, self.now_ms()).await? {
            return Err(changed_meanwhile(&task));
        }
        Ok(())
    }

    /// A page (1-based) of a live task's numbers with their latest calls, and how many it has.
    pub async fn task_numbers(
        &self,
        tenant: TenantId,
        id: i64,
        page: i64,
        size: i64,
    ) -> Result<(OutboundTask, Vec<NumberView>, i64), CcError> {
        let task = self.task(tenant, id).await?;
        let (numbers, total) = self.db.list_numbers(tenant, id, (page - 1) * size, size).await?;
        let mut out = Vec::with_capacity(numbers.len());
        for number in numbers {
            let call = if number.last_call_id.is_empty() {
                None
            } else {
                self.db.call_record(tenant, &number.last_call_id).await?
            };
            out.push(NumberView { number, call });
        }
        Ok((task, out, total))
    }

    // ---- the dialer ----

    /// Marks up to `n` due pending numbers of running task `task` as dialing and returns them,
    /// oldest due first. Empty outside the task's daily window (tenant's zone) or when none is
    /// due; `Conflict` when the task is not running.
    pub async fn claim_numbers(
        &self,
        tenant: TenantId,
        task: i64,
        n: usize,
        now_ms: i64,
    ) -> Result<Vec<TaskNumber>, CcError> {
        let t = self.task(tenant, task).await?;
        if t.status != TaskStatus::Running.code() {
            let status = TaskStatus::from_code(t.status).unwrap_or(TaskStatus::Invalid);
            return Err(CcError::Conflict(format!(
                "外呼任务 {} 当前状态为 {}，不能外呼 (task {} is not running)",
                t.code,
                status.label(),
                t.code
            )));
        }
        let zone = yunhu_core::time::zone_or_default(&self.tenant_by_id(tenant).await?.time_zone);
        if !calling_window_open(&t, zone, now_ms) {
            return Ok(Vec::new());
        }
        Ok(self.db.claim_numbers(tenant, task, i64::try_from(n).unwrap_or(i64::MAX), now_ms).await?)
    }

    /// Records what an attempt on a dialing number came to: updates the number (a no-answer or
    /// busy with a retry left goes back to pending, due after the task's idleTime) and the task's
    /// callNum/touchNum; a running task with nothing left to dial ends (status 5).
    pub async fn record_attempt(
        &self,
        tenant: TenantId,
        task: i64,
        number_id: i64,
        outcome: AttemptOutcome,
        call_id: &str,
        now_ms: i64,
    ) -> Result<TaskNumber, CcError> {
        self.any_task(tenant, task).await?;
        match self.db.finish_attempt(tenant, task, number_id, outcome, call_id, now_ms).await? {
            Ok(n) => Ok(n),
            Err(AttemptRefused::NoSuchNumber) => Err(CcError::NotFound(format!(
                "外呼任务 {task} 的号码 {number_id} (number {number_id} of task {task})"
            ))),
            Err(AttemptRefused::NotDialing(state)) => Err(CcError::Conflict(format!(
                "号码 {number_id} 不在呼叫中 (number {number_id} is {}, not dialing)",
                state.as_str()
            ))),
        }
    }

    /// The tenant's running tasks, oldest first.
    pub async fn running_tasks(&self, tenant: TenantId) -> Result<Vec<OutboundTask>, CcError> {
        Ok(self.db.tasks_in_status(tenant, TaskStatus::Running.code()).await?)
    }

    /// Every member of a live task's skill group (the agents the dialer may connect calls to).
    pub async fn task_members(&self, tenant: TenantId, task: i64) -> Result<Vec<QueueMember>, CcError> {
        let t = self.task(tenant, task).await?;
        Ok(self.db.queue_member_page(tenant, &t.queue, None, None, 0, i64::MAX).await?.0)
    }

    // ---- members ----

    /// The live outbound skill group `code`, or why members cannot be managed in it.
    pub async fn member_queue(&self, tenant: TenantId, code: &str) -> Result<MemberQueue, CcError> {
        let ids = self.db.serial_ids(tenant, &tables::QUEUES).await?;
        let row = self
            .db
            .list_rows(tenant, &tables::QUEUES)
            .await?
            .into_iter()
            .find(|r| r["code"].text() == code)
            .ok_or_else(|| CcError::NotFound(format!("技能组 {code} (skill group {code})")))?;
        if row["direction"].text() != "out" {
            return Err(CcError::Invalid(format!(
                "技能组 {code} 不是外呼组 (skill group {code} is not an outbound group)"
            )));
        }
        Ok(MemberQueue {
            id: ids.get(code).copied().unwrap_or_default(),
            code: code.to_string(),
            name: row["name"].text().into(),
        })
    }

    /// A page (1-based) of staff with an extension who are not yet members of `queue`, and how many.
    pub async fn addable_members(
        &self,
        tenant: TenantId,
        queue: &str,
        filter: &StaffFilter,
        page: i64,
        size: i64,
    ) -> Result<(Vec<StaffEntry>, i64), CcError> {
        self.member_queue(tenant, queue).await?;
        let (staff, _) = self.search_staff(tenant, filter, 1, i64::from(u32::MAX)).await?;
        let mut candidates = Vec::new();
        for s in staff {
            // Members are picked by extension (selectedIds), so staff without one cannot be added.
            if s.agent_id.is_empty() {
                continue;
            }
            if !self.db.staff_queue_codes(tenant, &s.user_code).await?.iter().any(|q| q == queue) {
                candidates.push(s);
            }
        }
        let total = candidates.len() as i64;
        let skip = usize::try_from((page - 1) * size).unwrap_or(usize::MAX);
        Ok((candidates.into_iter().skip(skip).take(usize::try_from(size).unwrap_or(0)).collect(), total))
    }

    /// Adds the staff at these extensions to `queue`, all or none; `group_id` must be its id.
    pub async fn add_members(
        &self,
        tenant: TenantId,
        queue: &str,
        group_id: i64,
        extensions: &[String],
    ) -> Result<u64, CcError> {
        let q = self.member_queue(tenant, queue).await?;
        if q.id != group_id {
            return Err(CcError::Invalid(format!(
                "groupId {group_id} 与 queueCode 不符 (groupId {group_id} is not the id of skill group {queue})"
            )));
        }
        if extensions.is_empty() {
            return Err(CcError::Invalid("selectedIds 不能为空 (selectedIds must name at least one extension)".into()));
        }
        let mut users = Vec::new();
        for ext in extensions {
            users.push(self.staff_by_extension(tenant, ext).await?["user_code"].text().to_string());
        }
        Ok(self.db.add_queue_members(tenant, queue, &users).await?)
    }

    /// A page (1-based) of the members of `queue`, and how many match.
    pub async fn members(
        &self,
        tenant: TenantId,
        queue: &str,
        name_contains: Option<&str>,
        agent_id: Option<&str>,
        page: i64,
        size: i64,
    ) -> Result<(MemberQueue, Vec<QueueMember>, i64), CcError> {
        let q = self.member_queue(tenant, queue).await?;
        let (rows, total) =
            self.db.queue_member_page(tenant, queue, name_contains, agent_id, (page - 1) * size, size).await?;
        Ok((q, rows, total))
    }

    /// Team names by code, for member listings.
    pub async fn team_names(&self, tenant: TenantId) -> Result<BTreeMap<String, String>, CcError> {
        let rows = self.db.list_rows(tenant, &tables::TEAMS).await?;
        Ok(rows.into_iter().map(|r| (r["code"].text().to_string(), r["name"].text().to_string())).collect())
    }

    /// Ends memberships by id, all or none: every id must be a live membership of this tenant.
    pub async fn remove_members(&self, tenant: TenantId, ids: &[i64]) -> Result<(), CcError> {
        if ids.is_empty() {
            return Err(CcError::Invalid("ids 不能为空 (ids must name at least one member)".into()));
        }
        let found = self.db.queue_members_by_id(tenant, ids).await?;
        if let Some(missing) = ids.iter().find(|id| !found.iter().any(|(f, _, _)| f == *id)) {
            return Err(CcError::NotFound(format!("成员 {missing} (member {missing})")));
        }
        self.db.remove_queue_members(tenant, ids).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::ProvisionDoc;
    use crate::secrets::Sealer;
    use chrono::TimeZone;
    use std::sync::Arc;
    use yunhu_core::ManualClock;

    const DOC: &str = r#"
[[tenant]]
corp_id = "777777"
name = "A"
  [[tenant.project]]
  code = "JH0001"
  name = "项目"
  [[tenant.staff]]
  user_code = "1001"
  name = "张三"
  agent_id = "1001"
  sip_password = "pw-1001"
[[tenant]]
corp_id = "888888"
name = "B"
"#;

    /// 2026-11-21 10:00 in Shanghai.
    fn ten_am() -> i64 {
        chrono::Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap().timestamp_millis()
    }

    async fn services(url: &str) -> (Services, TenantId, TenantId) {
        let db = yunhu_store::Db::open(url).await.unwrap();
        let clock = Arc::new(ManualClock::new(chrono::Utc.timestamp_millis_opt(ten_am()).unwrap()));
        let svc = Services::new(db, clock, Sealer::new(&[7u8; 32]));
        svc.apply_provisioning(&ProvisionDoc::from_toml(DOC).unwrap()).await.unwrap();
        let a = svc.tenant("777777").await.unwrap().id;
        let b = svc.tenant("888888").await.unwrap().id;
        (svc, a, b)
    }

    fn settings() -> TaskSettings {
        TaskSettings {
            name: "t".into(),
            caller_id: String::new(),
            time_from: "09:00".into(),
            time_to: "18:00".into(),
            data_object: String::new(),
            call_type: 0,
            ratio: 2,
            idle_time: 8000,
            script: String::new(),
            remark: String::new(),
        }
    }

    async fn running_task(svc: &Services, tenant: TenantId, numbers: &str) -> i64 {
        let req = TaskRequest {
            code: "T1".into(),
            project: "JH0001".into(),
            create_type: "input".into(),
            settings: settings(),
        };
        let id = svc.create_task(tenant, &req, &parse_numbers(numbers).unwrap()).await.unwrap().id;
        svc.change_task(tenant, id, TaskOp::Start).await.unwrap();
        id
    }

    #[test]
    fn the_transition_table_is_the_documented_one() {
        use TaskOp as O;
        use TaskStatus as S;
        let statuses = [S::Planned, S::Running, S::Paused, S::Ended, S::Terminated, S::Invalid];
        // Rows in the order of the doc table; `None` = refused.
        let table: [(O, [Option<S>; 6]); 8] = [
            (O::Start, [Some(S::Running), None, Some(S::Running), Some(S::Running), None, None]),
            (O::Pause, [None, Some(S::Paused), None, None, None, None]),
            (O::Stop, [None, Some(S::Ended), Some(S::Ended), None, None, None]),
            (
                O::Terminate,
                [Some(S::Terminated), Some(S::Terminated), Some(S::Terminated), Some(S::Terminated), None, None],
            ),
            (O::Append, [Some(S::Planned), Some(S::Running), Some(S::Paused), Some(S::Ended), None, None]),
            (O::Update, [Some(S::Planned), Some(S::Running), Some(S::Paused), Some(S::Ended), None, None]),
            (O::Recall, [Some(S::Planned), Some(S::Running), Some(S::Paused), Some(S::Ended), None, None]),
            (O::Delete, [Some(S::Invalid), None, Some(S::Invalid), Some(S::Invalid), Some(S::Invalid), None]),
        ];
        for (op, row) in table {
            for (from, want) in statuses.iter().zip(row) {
                let got = transition(*from, op);
                assert_eq!(got.ok(), want, "{op:?} from {from:?}");
                if let Err(why) = got {
                    assert!(why.contains('(') && !why.is_empty(), "{why}");
                }
            }
        }
    }

    #[test]
    fn status_codes_and_windows() {
        for code in [0, 2, 3, 4, 5, 6] {
            assert_eq!(TaskStatus::from_code(code).map(TaskStatus::code), Some(code));
        }
        assert_eq!(TaskStatus::from_code(1), None);
        assert_eq!(minutes("09:30"), Some(570));
        for bad in ["9:30", "24:00", "09:60", "0930", "ab:cd", ""] {
            assert_eq!(minutes(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_parse_with_their_data_once_each() {
        let n = parse_numbers("18219678378:data; 18219678372:data2:x;+8613800138000;18219678378:dup").unwrap();
        assert_eq!(
            n,
            [
                ("18219678378".to_string(), "data".to_string()),
                ("18219678372".into(), "data2:x".into()),
                ("+8613800138000".into(), "".into())
            ]
        );
        for bad in ["", ";;", "12", "1821967837a:x", "123456789012345678901"] {
            assert!(parse_numbers(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn claims_hand_out_due_numbers_once_and_only_while_running_in_the_window() {
        for url in yunhu_store::testing::scratch_urls().await.unwrap() {
            let (svc, a, b) = services(&url).await;
            let id = running_task(&svc, a, "13800000001;13800000002;13800000003").await;
            // The test clock runs on from 10:00; numbers added a moment ago are due a second later.
            let now = svc.now_ms() + 1_000;
            // Another tenant cannot claim, even with the right id.
            assert!(matches!(svc.claim_numbers(b, id, 5, now).await, Err(CcError::NotFound(_))));
            let first = svc.claim_numbers(a, id, 2, now).await.unwrap();
            assert_eq!(first.iter().map(|n| n.mobile.as_str()).collect::<Vec<_>>(), ["13800000001", "13800000002"]);
            assert!(first.iter().all(|n| n.state == NumberState::Dialing && n.last_attempt_at == Some(now)));
            let rest = svc.claim_numbers(a, id, 5, now).await.unwrap();
            assert_eq!(rest.len(), 1);
            assert!(svc.claim_numbers(a, id, 5, now).await.unwrap().is_empty());
            // Outside 09:00-18:00 Shanghai nothing is handed out (retry due at 20:00 = 12:00 UTC).
            svc.record_attempt(a, id, rest[0].id, AttemptOutcome::NoAnswer, "c1", now).await.unwrap();
            let evening = now + 10 * 3_600_000;
            assert!(svc.claim_numbers(a, id, 5, evening).await.unwrap().is_empty());
            // Paused: refused with the state named.
            svc.change_task(a, id, TaskOp::Pause).await.unwrap();
            let e = svc.claim_numbers(a, id, 5, now + 10_000).await.unwrap_err();
            assert!(e.to_string().contains("暂停中"), "{e}");
            svc.change_task(a, id, TaskOp::Start).await.unwrap();
            assert_eq!(svc.claim_numbers(a, id, 5, now + 10_000).await.unwrap()[0].id, rest[0].id);
        }
    }

    #[tokio::test]
    async fn attempts_update_numbers_counters_retries_and_end_the_task() {
        for url in yunhu_store::testing::scratch_urls().await.unwrap() {
            let (svc, a, b) = services(&url).await;
            let id = running_task(&svc, a, "13800000001;13800000002;13800000003").await;
            // The test clock runs on from 10:00; numbers added a moment ago are due a second later.
            let now = svc.now_ms() + 1_000;
            let claimed = svc.claim_numbers(a, id, 3, now).await.unwrap();
            let (n1, n2, n3) = (claimed[0].id, claimed[1].id, claimed[2].id);

            // Not this tenant's number; unknown number; a number not dialing.
            assert!(matches!(
                svc.record_attempt(b, id, n1, AttemptOutcome::Answered, "x", now).await,
                Err(CcError::NotFound(_))
            ));
            assert!(matches!(
                svc.record_attempt(a, id, 999_999, AttemptOutcome::Answered, "x", now).await,
                Err(CcError::NotFound(_))
            ));

            let answered = svc.record_attempt(a, id, n1, AttemptOutcome::Answered, "call-1", now + 1000).await.unwrap();
            assert_eq!(
                (answered.state, answered.attempts, answered.last_call_id.as_str()),
                (NumberState::Answered, 1, "call-1")
            );
            assert_eq!(answered.answered_at, Some(now + 1000));
            assert!(matches!(
                svc.record_attempt(a, id, n1, AttemptOutcome::Answered, "again", now).await,
                Err(CcError::Conflict(_))
            ));

            // No answer: back to pending, due after idleTime (8 s), one retry used.
            let retry = svc.record_attempt(a, id, n2, AttemptOutcome::NoAnswer, "call-2", now + 2000).await.unwrap();
            assert_eq!(retry.state, NumberState::Pending);
            assert_eq!(retry.last_outcome, Some(NumberState::NoAnswer));
            assert_eq!((retry.next_attempt_at, retry.retries_left, retry.attempts), (now + 10_000, 0, 1));
            assert!(svc.claim_numbers(a, id, 5, now + 9_999).await.unwrap().is_empty());
            let again = svc.claim_numbers(a, id, 5, now + 10_000).await.unwrap();
            assert_eq!(again.iter().map(|n| n.id).collect::<Vec<_>>(), [n2]);
            // Second no answer: no retries left, final.
            let done = svc.record_attempt(a, id, n2, AttemptOutcome::NoAnswer, "call-3", now + 11_000).await.unwrap();
            assert_eq!((done.state, done.attempts), (NumberState::NoAnswer, 2));

            let t = svc.task(a, id).await.unwrap();
            assert_eq!((t.contact_num, t.call_num, t.touch_num, t.status), (3, 2, 1, 3));

            // Blacklisted: not a call, not counted; the last number done ends the task.
            let barred = svc.record_attempt(a, id, n3, AttemptOutcome::Blacklisted, "", now + 12_000).await.unwrap();
            assert_eq!((barred.state, barred.attempts), (NumberState::Blacklisted, 0));
            let t = svc.task(a, id).await.unwrap();
            assert_eq!((t.call_num, t.touch_num, t.status, t.ended_at), (2, 1, 5, Some(now + 12_000)));

            // Recall missed numbers: n2 is due again with a fresh retry; the blacklisted one is not.
            assert_eq!(svc.recall_numbers(a, id, RecallKind::Missed).await.unwrap(), 1);
            assert_eq!(svc.recall_numbers(a, id, RecallKind::Refused).await.unwrap(), 0);
            svc.change_task(a, id, TaskOp::Start).await.unwrap();
            let t = svc.task(a, id).await.unwrap();
            assert_eq!((t.status, t.ended_at), (3, None));
            let third = svc.claim_numbers(a, id, 5, now + 20_000).await.unwrap();
            assert_eq!((third.len(), third[0].id, third[0].retries_left), (1, n2, 1));
            svc.record_attempt(a, id, n2, AttemptOutcome::Answered, "call-4", now + 21_000).await.unwrap();
            let t = svc.task(a, id).await.unwrap();
            // Counters count numbers, not calls: n2 was already called once.
            assert_eq!((t.call_num, t.touch_num, t.status), (2, 2, 5));
            let counts = svc.db.number_state_counts(a, id).await.unwrap();
            assert_eq!(counts, [(NumberState::Answered, 2), (NumberState::Blacklisted, 1)]);
        }
    }
}
