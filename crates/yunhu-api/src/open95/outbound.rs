//! Outbound endpoints (seed 002 §6.3.1, §6.3.3, §6.3.4): projects, manual outbound tasks (人工外呼)
//! and their life cycle, task members, and per-number execution details.
//!
//! Long ids: projects `PRO_<corp>_<code>`, work-order objects `OBJ_<corp>_<code>`, skill groups and
//! extensions `<tenant id><code>`, task codes `000001<corp><code>` (the seed's examples print
//! `000001` + corp + short code). A long id of another tenant is answered as not found.
//!
//! Illegal task state changes are business errors (code 10101, HTTP 200) naming the current status
//! and why; see `yunhu_cc::outbound::transition` for the table.

use super::{Ctx, Open95Error, page_data};
use axum::http::StatusCode;
use serde_json::{Value, json};
use yunhu_cc::CcError;
use yunhu_cc::directory::{StaffEntry, StaffFilter};
use yunhu_cc::outbound::{
    NumberState, NumberView, OutboundTask, Project, ProjectFilter, RecallKind, TaskFilter, TaskOp, TaskRequest,
    TaskSettings, TaskStatus, TaskView, parse_numbers,
};

fn not_found(what: String) -> Open95Error {
    CcError::NotFound(what).into()
}

/// A required integer parameter.
fn required_int(ctx: &Ctx, name: &str) -> Result<i64, Open95Error> {
    let v = ctx.required(name)?;
    v.parse().map_err(|_| Open95Error::param(format!("参数 {name} 必须是整数 ({name} must be an integer, got {v:?})")))
}

/// An optional integer parameter.
fn optional_int(ctx: &Ctx, name: &str) -> Result<Option<i64>, Open95Error> {
    ctx.optional(name).map(|_| required_int(ctx, name)).transpose()
}

/// A list parameter (`ids`): a JSON or XML list, or comma-separated text.
fn list(ctx: &Ctx, name: &str) -> Result<Vec<String>, Open95Error> {
    let items: Vec<String> =
        ctx.required(name)?.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    if items.is_empty() {
        return Err(Open95Error::param(format!("参数 {name} 不能为空 ({name} must not be empty)")));
    }
    Ok(items)
}

/// A parameter that may be given empty to clear a field: `""` when absent.
fn text(ctx: &Ctx, name: &str) -> String {
    ctx.optional(name).unwrap_or_default().to_string()
}

impl Ctx {
    fn long_project(&self, code: &str) -> String {
        format!("PRO_{}_{code}", self.tenant.corp_id)
    }

    /// The short project code of `PRO_<corp>_<code>` (or of a short code); `None` for another
    /// tenant's long id.
    fn project_code<'a>(&self, value: &'a str) -> Option<&'a str> {
        match value.strip_prefix("PRO_") {
            Some(rest) => rest.strip_prefix(self.tenant.corp_id.as_str())?.strip_prefix('_').filter(|c| !c.is_empty()),
            None => Some(value),
        }
    }

    fn required_project(&self, name: &str) -> Result<String, Open95Error> {
        let v = self.required(name)?;
        self.project_code(v).map(str::to_string).ok_or_else(|| not_found(format!("外呼项目 {v} (project {v})")))
    }

    /// The short work-order object code of `OBJ_<corp>_<code>` or a short code; "" when absent.
    fn data_object(&self, name: &str) -> Result<String, Open95Error> {
        let Some(v) = self.optional(name) else { return Ok(String::new()) };
        match v.strip_prefix("OBJ_") {
            Some(rest) => rest
                .strip_prefix(self.tenant.corp_id.as_str())
                .and_then(|r| r.strip_prefix('_'))
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .ok_or_else(|| not_found(format!("工单对象 {v} (work-order object {v})"))),
            None => Ok(v.to_string()),
        }
    }

    fn long_task(&self, code: &str) -> String {
        format!("000001{}{code}", self.tenant.corp_id)
    }

    fn time_or_null(&self, ms: Option<i64>) -> Value {
        ms.map(|t| Value::from(self.compact_time(t))).unwrap_or(Value::Null)
    }

    fn long_queue(&self, code: &str) -> String {
        format!("{}{code}", self.tenant_prefix())
    }

    /// A skill group code given long or short.
    async fn queue_code(&self, name: &str) -> Result<String, Open95Error> {
        let v = self.required(name)?;
        let known = self.svc.queue_codes(self.tenant.id).await?;
        Ok(self.resolve(&self.tenant_prefix(), v, |c| known.iter().any(|k| k == c)))
    }

    /// The task instance id parameter `name`.
    fn instance(&self, name: &str) -> Result<i64, Open95Error> {
        required_int(self, name)
    }
}

// ---- projects (§6.3.1) ----

fn project_json(ctx: &Ctx, p: &Project) -> Value {
    json!({
        "corpId": ctx.tenant.corp_id,
        "projectId": ctx.long_project(&p.code),
        "projectName": p.name,
        "remark": p.remark,
        "createTime": ctx.compact_time(p.created_at),
    })
}

/// `POST /outProject/insert`. The table asks 6-12 letters or digits for `projectId`; the seed's
/// example (`wangsheng-project-id`) breaks that, and the table's rule is what is enforced.
pub(super) async fn project_insert(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let code = ctx.required("projectId")?;
    let name = ctx.required("projectName")?;
    ctx.svc.create_project(ctx.tenant.id, code, name, &text(&ctx, "remark")).await?;
    Ok(None)
}

/// `GET /outProject/pageSearch`.
pub(super) async fn project_page(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let (page, size) = ctx.page()?;
    let code = match ctx.optional("projectId") {
        Some(v) => match ctx.project_code(v) {
            Some(c) => Some(c.to_string()),
            None => return Ok(Some(page_data(Vec::new(), 0))),
        },
        None => None,
    };
    let filter = ProjectFilter { code, name_contains: ctx.optional("projectName").map(str::to_string) };
    let (items, total) = ctx.svc.search_projects(ctx.tenant.id, &filter, page, size).await?;
    Ok(Some(page_data(items.iter().map(|p| project_json(&ctx, p)).collect(), total)))
}

/// `GET /outProject/findById`: the seed's example is empty; the fields are the listing's.
pub(super) async fn project_find(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let code = ctx.required_project("id")?;
    let p = ctx.svc.project(ctx.tenant.id, &code).await?;
    Ok(Some(project_json(&ctx, &p)))
}

/// `PUT /outProject/update`: a remark left out is cleared (PUT replaces).
pub(super) async fn project_update(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let code = ctx.required_project("projectId")?;
    let name = ctx.required("projectName")?;
    ctx.svc.update_project(ctx.tenant.id, &code, name, &text(&ctx, "remark")).await?;
    Ok(None)
}

/// `DELETE /outProject/delete`: all the ids or none.
pub(super) async fn project_delete(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let mut codes = Vec::new();
    for id in list(&ctx, "ids")? {
        codes.push(
            ctx.project_code(&id)
                .map(str::to_string)
                .ok_or_else(|| not_found(format!("外呼项目 {id} (project {id})")))?,
        );
    }
    ctx.svc.delete_projects(ctx.tenant.id, &codes).await?;
    Ok(None)
}

// ---- manual outbound tasks (§6.3.3) ----

/// The numbers of an insert or append, from where `createType` says: `mobileAndDes` (input), the
/// file sent in `importFile` (file), or the uploaded file named by `remoteFileName` (remoteFile).
async fn task_numbers(ctx: &Ctx, create_type: &str) -> Result<Vec<(String, String)>, Open95Error> {
    match create_type {
        "input" => numbers(ctx),
        "file" => super::files::import_file_numbers(ctx).await,
        "remoteFile" => super::files::remote_file_numbers(ctx).await,
        other => Err(Open95Error::param(format!(
            "createType 只能是 input、file 或 remoteFile (createType must be input, file or remoteFile, got {other:?})"
        ))),
    }
}

fn numbers(ctx: &Ctx) -> Result<Vec<(String, String)>, Open95Error> {
    parse_numbers(ctx.required("mobileAndDes")?).map_err(|e| match e {
        CcError::Invalid(m) => Open95Error::param(m),
        other => other.into(),
    })
}

/// The settings insert and update share; `call_type` is what update keeps when it is not given.
fn settings(ctx: &Ctx, call_type: Option<i64>) -> Result<TaskSettings, Open95Error> {
    Ok(TaskSettings {
        name: ctx.required("name")?.to_string(),
        caller_id: text(ctx, "callerId"),
        time_from: ctx.required("timeFrom")?.to_string(),
        time_to: ctx.required("timeTo")?.to_string(),
        // The table marks dataObjId required, yet both seed examples send it empty: empty = none.
        data_object: ctx.data_object("dataObjId")?,
        call_type: match call_type {
            Some(c) => optional_int(ctx, "callType")?.unwrap_or(c),
            None => required_int(ctx, "callType")?,
        },
        ratio: required_int(ctx, "ratio")?,
        idle_time: required_int(ctx, "idleTime")?,
        script: text(ctx, "wordsKey"),
        remark: text(ctx, "remark"),
    })
}

fn status_code(t: &OutboundTask) -> i64 {
    if t.deleted { TaskStatus::Invalid.code() } else { t.status }
}

/// A task as pageSearch lists it: the seed example's fields, order and types (`ratio` a string).
fn task_list_json(ctx: &Ctx, v: &TaskView) -> Value {
    let t = &v.task;
    json!({
        "id": t.id,
        "tenantId": ctx.tenant.id.0,
        // Tasks made through the API have no staff creator; the seed's examples show 0.
        "userId": 0,
        "groupId": v.queue_id,
        "groupDn": ctx.long_queue(&t.queue),
        "name": t.name,
        "status": status_code(t),
        "callType": t.call_type,
        "callNum": t.call_num,
        "contactNum": t.contact_num,
        "touchNum": t.touch_num,
        "ratio": t.ratio.to_string(),
        "idleTime": t.idle_time,
        "createTime": ctx.compact_time(t.created_at),
        "startTime": ctx.time_or_null(t.started_at),
        "endTime": ctx.time_or_null(t.ended_at),
        "taskId": ctx.long_task(&t.code),
        "outProjectId": ctx.long_project(&t.project),
        "outProjectName": v.project_name,
        "timeFrom": t.time_from,
        "timeTo": t.time_to,
    })
}

/// A task as findById and read show it.
fn task_detail_json(ctx: &Ctx, v: &TaskView) -> Value {
    let t = &v.task;
    let corp = &ctx.tenant.corp_id;
    let or_null = |s: &str| if s.is_empty() { Value::Null } else { Value::from(s) };
    json!({
        "id": t.id,
        "corpId": corp,
        "tenantId": ctx.tenant.id.0,
        "taskId": ctx.long_task(&t.code),
        "outProjectId": ctx.long_project(&t.project),
        "userId": 0,
        "name": t.name,
        "status": status_code(t),
        "callType": t.call_type,
        "callNum": t.call_num,
        "contactNum": t.contact_num,
        "touchNum": t.touch_num,
        "ratio": t.ratio.to_string(),
        "idleTime": t.idle_time,
        "createTime": ctx.compact_time(t.created_at),
        "startTime": ctx.time_or_null(t.started_at),
        "endTime": ctx.time_or_null(t.ended_at),
        "dataObjId": if t.data_object.is_empty() { Value::Null } else { Value::from(format!("OBJ_{corp}_{}", t.data_object)) },
        "wordsKey": or_null(&t.script),
        "remark": t.remark,
        "projectName": v.project_name,
        "dataObjName": v.data_object_name,
        "callerId": t.caller_id,
        "timeFrom": t.time_from,
        "timeTo": t.time_to,
        "createType": t.create_type,
    })
}

/// `POST /artificialOutTask/insert` (multipart, or a form); `createType` file takes the file in
/// `importFile`, remoteFile an uploaded file's name in `remoteFileName`.
pub(super) async fn task_insert(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let project = ctx.required_project("outProjectId")?;
    let code = ctx.required("taskId")?.to_string();
    let settings = settings(&ctx, None)?;
    let create_type = ctx.required("createType")?.to_string();
    let numbers = task_numbers(&ctx, &create_type).await?;
    let req = TaskRequest { code, project, create_type, settings };
    let made = ctx.svc.create_task(ctx.tenant.id, &req, &numbers).await?;
    Ok(Some(json!({
        "groupDn": ctx.long_queue(&made.queue_code),
        "groupId": made.queue_id.to_string(),
        "outboundInstanceId": made.id.to_string(),
    })))
}

/// `GET /artificialOutTask/pageSearch`.
pub(super) async fn task_page(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let (page, size) = ctx.page()?;
    let status = optional_int(&ctx, "status")?;
    if let Some(s) = status
        && TaskStatus::from_code(s).is_none()
    {
        return Err(Open95Error::param(format!(
            "status 只能是 0/2/3/4/5/6 (status must be 0, 2, 3, 4, 5 or 6, got {s})"
        )));
    }
    let call_type = optional_int(&ctx, "callType")?;
    if let Some(c) = call_type
        && !(0..=1).contains(&c)
    {
        return Err(Open95Error::param(format!("callType 只能是 0 或 1 (callType must be 0 or 1, got {c})")));
    }
    let project = match ctx.optional("outProjectId") {
        Some(v) => match ctx.project_code(v) {
            Some(c) => Some(c.to_string()),
            None => return Ok(Some(page_data(Vec::new(), 0))),
        },
        None => None,
    };
    let long_prefix = ctx.long_task("");
    let filter = TaskFilter {
        name_contains: ctx.optional("name").map(str::to_string),
        code: ctx.optional("taskId").map(|v| ctx.short(&long_prefix, v).to_string()),
        status,
        call_type,
        project,
    };
    let (tasks, total) = ctx.svc.search_tasks(ctx.tenant.id, &filter, page, size).await?;
    Ok(Some(page_data(tasks.iter().map(|t| task_list_json(&ctx, t)).collect(), total)))
}

/// `GET /artificialOutTask/findById`.
pub(super) async fn task_find(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let view = ctx.svc.task_view(ctx.tenant.id, ctx.instance("id")?).await?;
    Ok(Some(task_detail_json(&ctx, &view)))
}

/// `GET /artificialOutTask/read` (执行情况): the same fields as findById, by `instanceId`.
pub(super) async fn task_read(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let view = ctx.svc.task_view(ctx.tenant.id, ctx.instance("instanceId")?).await?;
    Ok(Some(task_detail_json(&ctx, &view)))
}

/// `PUT /artificialOutTask/update`. The seed's example also sends `callType`, which the table
/// lacks: it is taken when given, else kept. Optional fields left out are cleared (PUT replaces).
pub(super) async fn task_update(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let id = ctx.instance("id")?;
    ctx.required("callerId")?;
    // A deleted or unknown task keeps nothing; the service then answers why it cannot change.
    let current = ctx.svc.task(ctx.tenant.id, id).await.map_or(0, |t| t.call_type);
    let settings = settings(&ctx, Some(current))?;
    ctx.svc.update_task(ctx.tenant.id, id, &settings).await?;
    Ok(None)
}

/// `POST /artificialOutTask/append`.
pub(super) async fn task_append(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let id = ctx.instance("id")?;
    let create_type = ctx.required("createType")?;
    let numbers = task_numbers(&ctx, create_type).await?;
    ctx.svc.append_numbers(ctx.tenant.id, id, create_type, &numbers).await?;
    Ok(None)
}

async fn change(ctx: Ctx, param: &str, op: TaskOp) -> Result<Option<Value>, Open95Error> {
    ctx.svc.change_task(ctx.tenant.id, ctx.instance(param)?, op).await?;
    Ok(None)
}

/// `PUT /artificialOutTask/startCall`.
pub(super) async fn task_start(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    change(ctx, "id", TaskOp::Start).await
}

/// `PUT /artificialOutTask/pauseCall`.
pub(super) async fn task_pause(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    change(ctx, "id", TaskOp::Pause).await
}

/// `PUT /artificialOutTask/stopCall`.
pub(super) async fn task_stop(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    change(ctx, "id", TaskOp::Stop).await
}

/// `PUT /artificialOutTask/changeState`: terminates (终结) the task.
pub(super) async fn task_terminate(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    change(ctx, "instanceId", TaskOp::Terminate).await
}

/// `PUT /artificialOutTask/recall`: nothing to recall is the seed's own failure answer.
pub(super) async fn task_recall(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let id = ctx.instance("id")?;
    let code = required_int(&ctx, "type")?;
    let kind = RecallKind::from_code(code).ok_or_else(|| {
        Open95Error::param(format!("type 只能是 1(拒接)、2(漏接) 或 3(全部) (type must be 1, 2 or 3, got {code})"))
    })?;
    if ctx.svc.recall_numbers(ctx.tenant.id, id, kind).await? == 0 {
        return Err(Open95Error::with_status(StatusCode::OK, 10101, "没有可恢复的号码 (no numbers to recall)".into()));
    }
    Ok(None)
}

/// `DELETE /artificialOutTask/delete`.
pub(super) async fn task_delete(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    ctx.svc.delete_task(ctx.tenant.id, ctx.instance("instanceId")?).await?;
    Ok(None)
}

// ---- task members (§6.3.3.12) ----

/// A staff member as pageSearchCanAddUsers lists them: the employee entry of §6.2 in the order
/// of this endpoint's example, which also names `createTime` (the table says `createdTime`), adds
/// `userName` and gives `phoneTakeAlong` as text.
fn candidate_json(ctx: &Ctx, s: &StaffEntry) -> Value {
    let mut staff = match super::base::staff_json(ctx, s) {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    let mut take = |k: &str| staff.remove(k).unwrap_or(Value::Null);
    let mut out = serde_json::Map::new();
    for key in [
        "streamNumber",
        "userCode",
        "nameCn",
        "agentId",
        "corpId",
        "tenantId",
        "isCreateUsers",
        "email",
        "workPhone",
        "priority",
        "enabled",
        "roleKey",
        "roleTitle",
        "agtGrpId",
        "defaultQueue",
        "grpStreamNumber",
        "grpName",
        "enableVccbar",
        "remark",
        "linkTel",
        "pstnTel",
        "emailPwd",
        "imUserFlag",
    ] {
        out.insert(key.into(), take(key));
    }
    out.insert("createTime".into(), take("createdTime"));
    for key in ["createdUser", "lastUpdateTime", "lastUpdateUser"] {
        out.insert(key.into(), take(key));
    }
    out.insert("userName".into(), out["userCode"].clone());
    out.insert("phoneTakeAlong".into(), Value::from(s.phone_take_along.to_string()));
    out.insert("manageAgtGrpIds".into(), take("manageAgtGrpIds"));
    Value::Object(out)
}

/// `GET /queueUser/pageSearchCanAddUsers`: staff with an extension not yet in the group.
pub(super) async fn members_addable(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let queue = ctx.queue_code("queueCode").await?;
    let (page, size) = ctx.page()?;
    let corp = ctx.tenant.corp_id.clone();
    let filter = StaffFilter {
        name_contains: ctx.optional("nameCn").map(str::to_string),
        agent_id: ctx.optional("agentId").map(|v| ctx.short(&ctx.tenant_prefix(), v).to_string()),
        team: ctx.optional("agtGrpStream").map(|v| ctx.short(&corp, v).to_string()),
        ..Default::default()
    };
    let (staff, total) = ctx.svc.addable_members(ctx.tenant.id, &queue, &filter, page, size).await?;
    Ok(Some(page_data(staff.iter().map(|s| candidate_json(&ctx, s)).collect(), total)))
}

/// `POST /queueUser/insert`: all the extensions or none.
pub(super) async fn members_insert(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let queue = ctx.queue_code("queueCode").await?;
    let group = required_int(&ctx, "groupId")?;
    let mut extensions = Vec::new();
    for ext in list(&ctx, "selectedIds")? {
        extensions.push(ctx.extension(&ext).await?);
    }
    ctx.svc.add_members(ctx.tenant.id, &queue, group, &extensions).await?;
    Ok(Some(json!({})))
}

/// `GET /queueUser/pageSearch`.
pub(super) async fn members_page(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let queue = ctx.queue_code("queueCode").await?;
    let (page, size) = ctx.page()?;
    let agent = ctx.optional("agent").map(|v| ctx.short(&ctx.tenant_prefix(), v).to_string());
    let (q, members, total) =
        ctx.svc.members(ctx.tenant.id, &queue, ctx.optional("userName"), agent.as_deref(), page, size).await?;
    let teams = ctx.svc.team_names(ctx.tenant.id).await?;
    let items = members
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "agent": ctx.long_queue(&m.agent_id),
                "queueCode": ctx.long_queue(&q.code),
                "groupId": q.id,
                "priority": m.priority,
                "userName": m.name,
                "queueName": q.name,
                "grpName": teams.get(&m.team),
            })
        })
        .collect();
    Ok(Some(page_data(items, total)))
}

/// `DELETE /queueUser/delete`: all the ids or none.
pub(super) async fn members_delete(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let mut ids = Vec::new();
    for id in list(&ctx, "ids")? {
        ids.push(
            id.parse().map_err(|_| Open95Error::param(format!("ids 必须是整数 (ids must be integers, got {id:?})")))?,
        );
    }
    ctx.svc.remove_members(ctx.tenant.id, &ids).await?;
    Ok(None)
}

// ---- per-number execution details (§6.3.4) ----

/// open95 `callState` of a number: its latest outcome, also while a retry waits.
/// 0 呼叫失败 (busy, declined, failed, barred), 1 联系成功, 5 无人应答, 7 座席拒接, 8 座席全忙
/// (answered with no agent free), 9 未联系 (not dialed yet, or dialing without an outcome).
/// 4 用户应答 is not used: an answered number is either put through (1) or dropped (8).
fn call_state(state: NumberState, last: Option<NumberState>) -> i64 {
    use NumberState as N;
    let shown = match state {
        N::Pending | N::Dialing => last,
        done => Some(done),
    };
    match shown {
        Some(N::Answered) => 1,
        Some(N::NoAnswer) => 5,
        Some(N::AgentRejected) => 7,
        Some(N::Abandoned) => 8,
        Some(N::Busy | N::Rejected | N::Failed | N::Blacklisted) => 0,
        Some(N::Pending | N::Dialing) | None => 9,
    }
}

fn contact_json(ctx: &Ctx, task: &OutboundTask, v: &NumberView) -> Value {
    let n = &v.number;
    let r = v.call.as_ref().map(|c| &c.record);
    let t = |ms: Option<i64>| ctx.time_or_null(ms);
    let agent = r.filter(|r| !r.extension.is_empty()).map(|r| ctx.long_queue(&r.extension));
    let or_null = |s: &str| if s.is_empty() { Value::Null } else { Value::from(s) };
    // Field names follow the seed's example, which spells the last one `cutomerTag` beside an
    // earlier `customerTag`; both are given. Times are yyyyMMddHHmmss (§5.3), the seed's
    // example having none.
    json!({
        "id": n.id,
        "outboundId": n.task_id,
        "mobile": n.mobile,
        "agentId": agent,
        "groupDn": ctx.long_queue(&task.queue),
        "callState": call_state(n.state, n.last_outcome),
        "callId": or_null(&n.last_call_id),
        "callTime": t(n.last_attempt_at),
        "mobileDes": n.mobile_des,
        "tenantId": ctx.tenant.id.0,
        "robotId": null,
        "customerTag": null,
        "cStartTime": t(r.and_then(|r| r.customer_leg.start)),
        "cAnswerTime": t(r.and_then(|r| r.customer_leg.answer)),
        "cEndTime": t(r.and_then(|r| r.customer_leg.end)),
        "cHangupCause": r.and_then(|r| r.cause).map(|c| c.name()),
        "aStartTime": t(r.and_then(|r| r.agent.start)),
        "aAnswerTime": t(r.and_then(|r| r.agent.answer)),
        "aEndTime": t(r.and_then(|r| r.agent.end)),
        "queue": agent.as_ref().map(|_| ctx.long_queue(&task.queue)),
        "queueTimes": 0,
        "queueStartTime": null,
        "queueEndTime": null,
        "ivrStartTime": null,
        "ivrEndTime": null,
        "talksec": r.map_or(0, |r| r.talk_secs),
        "billsec": r.map_or(0, |r| r.bill_secs),
        "ringsec": r.map_or(0, |r| r.ring_secs),
        "arrangesec": 0,
        "fileName": r.map(|r| r.recording.as_str()).filter(|f| !f.is_empty()),
        "taskId": ctx.long_task(&task.code),
        "taskName": task.name,
        "outProjectId": ctx.long_project(&task.project),
        "callerId": or_null(&task.caller_id),
        "cityCode": null,
        "talkCount": 0,
        "sceneCount": 0,
        "isSendMsg": null,
        "customerGrade": null,
        // `soc` marks smart (robot) outbound; manual tasks are not.
        "outCallType": null,
        "cutomerTag": null,
    })
}

/// `GET /outboundContacts/pageSearch`.
pub(super) async fn contacts_page(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let id = ctx.instance("outboundId")?;
    let (page, size) = ctx.page()?;
    let (task, numbers, total) = ctx.svc.task_numbers(ctx.tenant.id, id, page, size).await?;
    Ok(Some(page_data(numbers.iter().map(|n| contact_json(&ctx, &task, n)).collect(), total)))
}
