//! Base-config endpoints (seed 002 §6.2): staff, skill groups, scripts, work-order objects,
//! caller IDs.

use super::{Ctx, Open95Error, page_data};
use serde_json::{Value, json};
use yunhu_cc::directory::StaffFilter;
use yunhu_cc::directory::{Choice, QueueEntry, StaffEntry};
use yunhu_core::Role;

fn role_key(role: Role) -> &'static str {
    match role {
        Role::Agent => "ROLE_CC_AGENT",
        Role::Monitor => "ROLE_CC_MONITOR",
        Role::Admin => "ROLE_CC_ADMIN",
    }
}

fn role_from_key(key: &str) -> Option<Role> {
    [Role::Agent, Role::Monitor, Role::Admin]
        .into_iter()
        .find(|r| role_key(*r).eq_ignore_ascii_case(key) || r.as_str() == key)
}

fn parse_bool(name: &str, v: &str) -> Result<bool, Open95Error> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Open95Error::param(format!("参数 {name} 只能是 true 或 false ({name} must be true or false)"))),
    }
}

/// A staff member as the employee listing (§6.2) spells them.
pub(super) fn staff_json(ctx: &Ctx, s: &StaffEntry) -> Value {
    let corp = &ctx.tenant.corp_id;
    let tenant = ctx.tenant_prefix();
    let long_ext = if s.agent_id.is_empty() { String::new() } else { format!("{tenant}{}", s.agent_id) };
    let (grp_stream, grp_name) = match &s.team {
        Some((code, name)) => (format!("{corp}{code}"), Value::from(name.as_str())),
        None => (String::new(), Value::Null),
    };
    let queue_ids: Vec<String> = s.queue_ids.iter().map(i64::to_string).collect();
    let default_queue = if s.default_queue.is_empty() { String::new() } else { format!("{tenant}{}", s.default_queue) };
    let manages = if s.role == Role::Monitor { grp_stream.clone() } else { String::new() };
    json!({
        "streamNumber": s.stream_id,
        "userCode": format!("{corp}{}", s.user_code),
        "nameCn": s.name,
        "agentId": long_ext,
        "corpId": corp,
        "tenantId": ctx.tenant.id.0,
        "phoneTakeAlong": s.phone_take_along,
        "isCreateUsers": !s.agent_id.is_empty(),
        "email": s.email,
        "workPhone": s.work_phone,
        "priority": s.priority,
        "enabled": s.enabled,
        "roleKey": role_key(s.role),
        "roleTitle": Role::title(s.role),
        "agtGrpId": format!("{{{}}}", queue_ids.join(",")),
        "defaultQueue": default_queue,
        "grpStreamNumber": grp_stream,
        "grpName": grp_name,
        "enableVccbar": i64::from(!s.agent_id.is_empty()),
        "remark": s.remark,
        "linkTel": s.work_phone,
        "pstnTel": "",
        // Never revealed: yunhu keeps no mailbox passwords.
        "emailPwd": "",
        "imUserFlag": 0,
        "createdTime": ctx.compact_time(s.created_at),
        "createdUser": format!("{corp}{}", s.created_by),
        "lastUpdateTime": ctx.compact_time(s.updated_at),
        "lastUpdateUser": format!("{corp}{}", s.updated_by),
        "userName": format!("{corp}{}", s.user_code),
        "manageAgtGrpIds": manages,
    })
}

/// `GET /employeeInfo/pageSearch`.
pub(super) async fn employee_page(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let corp = ctx.tenant.corp_id.clone();
    let tenant = ctx.tenant_prefix();
    let role = match ctx.optional("roleKey") {
        Some(k) => Some(
            role_from_key(k)
                .ok_or_else(|| Open95Error::param(format!("roleKey {k:?} 未知 (unknown roleKey)")))?
                .as_str()
                .to_string(),
        ),
        None => None,
    };
    let filter = StaffFilter {
        user_code: ctx.optional("userCode").map(|v| ctx.short(&corp, v).to_string()),
        name_contains: ctx.optional("nameCn").map(str::to_string),
        agent_id: ctx.optional("agentId").map(|v| ctx.short(&tenant, v).to_string()),
        role,
        work_phone: ctx.optional("workPhone").map(str::to_string),
        enabled: ctx.optional("enabled").map(|v| parse_bool("enabled", v)).transpose()?,
        team: ctx.optional("agtGrpStream").map(|v| ctx.short(&corp, v).to_string()),
    };
    let (page, size) = ctx.page()?;
    let (staff, total) = ctx.svc.search_staff(ctx.tenant.id, &filter, page, size).await?;
    let items = staff.iter().map(|s| staff_json(&ctx, s)).collect();
    Ok(Some(page_data(items, total)))
}

/// `PUT /employeeInfo/resetQueues`.
pub(super) async fn reset_queues(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let tenant = ctx.tenant_prefix();
    let agent = ctx.extension(ctx.required("agentId")?).await?;
    let known = ctx.svc.queue_codes(ctx.tenant.id).await?;
    let is_known = |q: &str| known.iter().any(|k| k == q);
    let queues: Vec<String> = ctx
        .required("queues")?
        .split(',')
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(|q| ctx.resolve(&tenant, q, is_known))
        .collect();
    let default = ctx.resolve(&tenant, ctx.required("defaultQueue")?, is_known);
    ctx.svc.reset_queues(ctx.tenant.id, &agent, &queues, &default).await?;
    Ok(None)
}

fn out_task_json(ctx: &Ctx, q: &QueueEntry) -> Value {
    let corp = &ctx.tenant.corp_id;
    json!({
        "telDataObjId": null,
        "telDataObjName": null,
        "dataObjId": q.data_object.as_ref().map(|(c, _)| format!("OBJ_{corp}_{c}")),
        "dataObjName": q.data_object.as_ref().map(|(_, n)| n.clone()),
        "name": q.name,
        "projectName": q.project.as_ref().map(|(_, n)| n.clone()),
        "queueCode": format!("{}{}", ctx.tenant_prefix(), q.code),
        "corpId": corp,
        "tenantId": ctx.tenant.id.0,
        // Outbound tasks arrive with campaigns; until a task is bound to the group there is none.
        "taskId": null,
        "outProjectId": q.project.as_ref().map(|(c, _)| format!("PRO_{corp}_{c}")),
        "queueId": q.id,
        "callType": q.call_type,
        "callerId": q.caller_id,
    })
}

fn in_task_json(ctx: &Ctx, q: &QueueEntry) -> Value {
    let corp = &ctx.tenant.corp_id;
    json!({
        "attrType1": "dataObjId",
        "dataObjId": q.data_object.as_ref().map(|(c, _)| format!("OBJ_{corp}_{c}")),
        "attrType2": "openWordsStream",
        "openWordsStream": q.script_stream,
        "tipTimeout": q.tip_timeout,
        "queueCode": format!("{}{}", ctx.tenant_prefix(), q.code),
        "callerId": q.caller_id,
        "tenantId": ctx.tenant.id.0,
        "name": q.name,
    })
}

/// `GET /skills/loadQueueInfo`.
pub(super) async fn load_queue_info(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let agent = ctx.extension(ctx.required("agentId")?).await?;
    let queues = ctx.svc.queues_of_agent(ctx.tenant.id, &agent).await?;
    let out: Vec<Value> = queues.iter().filter(|q| q.direction == "out").map(|q| out_task_json(&ctx, q)).collect();
    let inbound: Vec<Value> = queues.iter().filter(|q| q.direction == "in").map(|q| in_task_json(&ctx, q)).collect();
    Ok(Some(json!({ "outTastList": out, "inTastList": inbound })))
}

fn choices(items: Vec<Choice>, value: impl Fn(&str) -> String) -> Option<Value> {
    Some(Value::Array(items.into_iter().map(|c| json!({ "value": value(&c.value), "label": c.label })).collect()))
}

/// `GET /openWords/getJsonOption`.
pub(super) async fn open_words(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    Ok(choices(ctx.svc.script_choices(ctx.tenant.id).await?, str::to_string))
}

/// `GET /dataObject/search`.
pub(super) async fn data_objects(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let corp = ctx.tenant.corp_id.clone();
    Ok(choices(ctx.svc.data_object_choices(ctx.tenant.id).await?, |c| format!("OBJ_{corp}_{c}")))
}

/// `GET /accessTelNum/getJsonOption`.
pub(super) async fn caller_ids(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    Ok(choices(ctx.svc.caller_id_choices(ctx.tenant.id).await?, str::to_string))
}

/// `POST /agentDesk/token` (yunhu's own): a desk token for one of the tenant's agents, so a
/// CRM's server can embed the agent desk. `userCode` (account or extension), optional
/// `expiresIn` seconds (60-43200, default 43200).
pub(crate) async fn agent_desk_token(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let staff = ctx.required("userCode")?;
    let ttl = match ctx.optional("expiresIn") {
        None => yunhu_cc::agents::DESK_TOKEN_TTL.as_secs(),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if (60..=43_200).contains(&n) => n,
            _ => return Err(Open95Error::param(format!("expiresIn 为 60-43200 秒 (got {v:?})"))),
        },
    };
    let user_code = ctx.svc.staff_account(ctx.tenant.id, staff).await?;
    let (token, expires_in) =
        ctx.svc.desk_token_for(ctx.tenant.id, &user_code, std::time::Duration::from_secs(ttl)).await?;
    Ok(Some(serde_json::json!({ "accessToken": token, "expiresIn": expires_in, "userCode": user_code })))
}
