//! The directory objects an operator creates (teams, skill groups, staff, ...), each as the spec
//! that provisioning files, the admin API and the admin CLI all use. One upsert path serves all.

use crate::secrets::{hash_secret, new_stream_id, sip_ha1, verify_secret};
use crate::{CcError, Change, Services, Tenant};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use yunhu_core::Role;
use yunhu_store::directory as tables;
use yunhu_store::{Row, Table, TenantId, Val};

fn default_scopes() -> Vec<String> {
    vec!["read".into(), "write".into()]
}
fn default_direction() -> String {
    "in".into()
}
fn default_tip_timeout() -> i64 {
    30
}
fn default_call_type() -> i64 {
    1
}
fn default_true() -> bool {
    true
}

/// An open95 OAuth2 client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiClientSpec {
    /// Public id the client sends as `client_id`.
    pub client_id: String,
    /// Secret; stored only as a hash.
    pub client_secret: String,
    /// Scopes it may be granted: `read`, `write`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

/// A team (班组).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSpec {
    /// Short team code, e.g. `0100`.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A skill group (技能组).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// Short code, e.g. `8000` (open95 shows it prefixed with the tenant id).
    pub code: String,
    /// Name.
    pub name: String,
    /// `in` for inbound routing, `out` for an outbound dialing group.
    #[serde(default = "default_direction")]
    pub direction: String,
    /// Work-order object id shown to agents.
    #[serde(default)]
    pub data_object: Option<String>,
    /// Script name shown to agents.
    #[serde(default)]
    pub script: Option<String>,
    /// Caller-ID number of the group.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Seconds before an unanswered inbound call raises a reminder.
    #[serde(default = "default_tip_timeout")]
    pub tip_timeout: i64,
    /// Outbound project code (outbound groups).
    #[serde(default)]
    pub project: Option<String>,
    /// 0 predictive, 1 preview (outbound groups).
    #[serde(default = "default_call_type")]
    pub call_type: i64,
    /// How an inbound queue picks among free agents: `longest_idle` (default), `ring_all`,
    /// `round_robin`, `fewest_calls`, `least_talk_time`.
    #[serde(default)]
    pub strategy: Option<yunhu_acd::Strategy>,
    /// The skill a caller of this queue needs (agents declare skills with levels).
    #[serde(default)]
    pub skill: Option<String>,
    /// Longest a caller waits before the overflow (s).
    #[serde(default)]
    pub max_wait_secs: Option<i64>,
    /// How long callers wait with no member agent logged in before the overflow (s).
    #[serde(default)]
    pub no_agent_wait_secs: Option<i64>,
    /// Where callers overflow to: `queue:<code>`, `extension:<number>`, `voicemail` or `hangup`.
    #[serde(default)]
    pub overflow: Option<String>,
    /// The service-level threshold T (s); 20 by default.
    #[serde(default)]
    pub service_level_secs: Option<i64>,
    /// Seconds between announcements of the caller's place and expected wait; 0: none.
    #[serde(default)]
    pub announce_secs: Option<i64>,
    /// The key that leaves the line for a call back keeping the place (e.g. "1").
    #[serde(default)]
    pub callback_key: Option<String>,
    /// The key that leaves a voice message instead of waiting (e.g. "2").
    #[serde(default)]
    pub voicemail_key: Option<String>,
    /// Callers this queue's agents hang up on are asked to rate the call.
    #[serde(default)]
    pub survey: bool,
}

/// An IVR menu: see [`yunhu_engine::ivr::Menu`].
pub type IvrSpec = yunhu_engine::ivr::Menu;

/// Where a number the tenant owns leads: a menu, a queue or an extension, another out of
/// business hours.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// The number callers dial (a DID on the tenant's trunk).
    pub number: String,
    /// `ivr:<menu>`, `queue:<code>` or `extension:<number>`.
    pub to: String,
    /// Where calls go out of business hours (by default the same place).
    #[serde(default)]
    pub after_hours: Option<String>,
    /// Opening spans in the tenant's zone, e.g. `mon-fri 09:00-18:00`; none: always open.
    #[serde(default)]
    pub hours: Vec<String>,
    /// Closed days, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// A staff member (员工) and their extension.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffSpec {
    /// Account, short form.
    pub user_code: String,
    /// Name.
    pub name: String,
    /// Extension number; empty for staff without a phone.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// SIP password; only its HA1 is stored. Omitted on update keeps the stored one.
    #[serde(default)]
    pub sip_password: Option<String>,
    /// Password of the agent desk (web workbench); only its argon2 hash is stored. Omitted on
    /// update keeps the stored one; absent on creation: no desk login.
    #[serde(default)]
    pub desk_password: Option<String>,
    /// agent | monitor | admin.
    #[serde(default = "default_role")]
    pub role: Role,
    /// Team id.
    #[serde(default)]
    pub team: Option<String>,
    /// Skill-group codes.
    #[serde(default)]
    pub queues: Vec<String>,
    /// Skills and their levels (1 best), for queues that need a skill.
    #[serde(default)]
    pub skills: std::collections::BTreeMap<String, u8>,
    /// The default skill group; must be one of `queues`.
    #[serde(default)]
    pub default_queue: Option<String>,
    /// Mobile number (for 手机随行).
    #[serde(default)]
    pub work_phone: Option<String>,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the staff member may work.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Calls follow the staff member to `work_phone`.
    #[serde(default)]
    pub phone_take_along: bool,
    /// Routing priority.
    #[serde(default)]
    pub priority: i64,
    /// Free text.
    #[serde(default)]
    pub remark: Option<String>,
}

fn default_role() -> Role {
    Role::Agent
}

/// A caller-ID number (外显号码).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerIdSpec {
    /// The number.
    pub number: String,
}

/// A number the dialer must never call (黑名单).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoNotCallSpec {
    /// The number.
    pub number: String,
    /// Why (free text).
    #[serde(default)]
    pub reason: String,
}

/// A script (话术).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    /// Name, unique in the tenant.
    pub name: String,
    /// Text.
    #[serde(default)]
    pub content: String,
}

/// A work-order object (工单对象).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataObjectSpec {
    /// Short id, e.g. `1001` (open95 shows `OBJ_<corp>_1001`).
    pub id: String,
    /// Name.
    pub name: String,
}

/// An outbound project (外呼项目).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    /// Short code, e.g. `JH001` (open95 shows `PRO_<corp>_JH001`).
    pub code: String,
    /// Name.
    pub name: String,
}

/// A SIP trunk to a carrier (中继).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkSpec {
    /// Name, unique in the tenant.
    pub name: String,
    /// Carrier's SIP address, `ip:port`.
    pub address: String,
    /// `udp` or `tcp`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Caller ID shown on calls out through it; one of the tenant's caller-ID numbers.
    #[serde(default)]
    pub caller_id: Option<String>,
    /// Further addresses the carrier sends calls from.
    #[serde(default)]
    pub allow_ips: Vec<String>,
    /// Register to the carrier with `username` / `password`.
    #[serde(default)]
    pub register: bool,
    /// Account at the carrier.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password; sealed at rest (registration needs it back). Omitted keeps the stored one.
    #[serde(default)]
    pub password: Option<String>,
}

fn default_transport() -> String {
    "udp".into()
}

/// The kinds of directory object the admin API and CLI address by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`ApiClientSpec`].
    ApiClient,
    /// [`TeamSpec`].
    Team,
    /// [`QueueSpec`].
    Queue,
    /// [`StaffSpec`].
    Staff,
    /// [`CallerIdSpec`].
    CallerId,
    /// [`ScriptSpec`].
    Script,
    /// [`DataObjectSpec`].
    DataObject,
    /// [`ProjectSpec`].
    Project,
    /// [`TrunkSpec`].
    Trunk,
    /// [`DoNotCallSpec`].
    DoNotCall,
    /// [`IvrSpec`].
    Ivr,
    /// [`RouteSpec`].
    Route,
}

impl Kind {
    /// Every kind, in the order a tenant's objects are applied (referenced ones first).
    pub const ALL: [Kind; 12] = [
        Kind::ApiClient,
        Kind::Team,
        Kind::DataObject,
        Kind::Script,
        Kind::CallerId,
        Kind::Project,
        Kind::Trunk,
        Kind::Queue,
        Kind::Staff,
        Kind::DoNotCall,
        Kind::Ivr,
        Kind::Route,
    ];

    /// The plural path segment / CLI name, e.g. `staff`, `api-clients`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ApiClient => "api-clients",
            Kind::Team => "teams",
            Kind::Queue => "queues",
            Kind::Staff => "staff",
            Kind::CallerId => "caller-ids",
            Kind::Script => "scripts",
            Kind::DataObject => "data-objects",
            Kind::Project => "projects",
            Kind::Trunk => "trunks",
            Kind::DoNotCall => "do-not-call",
            Kind::Ivr => "ivrs",
            Kind::Route => "routes",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The field of the spec that names the object (`user_code`, `client_id`, ...).
    pub fn spec_key(self) -> &'static str {
        match self {
            Kind::ApiClient => "client_id",
            Kind::Team | Kind::DataObject => "id",
            Kind::Queue | Kind::Project => "code",
            Kind::Staff => "user_code",
            Kind::CallerId | Kind::DoNotCall => "number",
            Kind::Script | Kind::Trunk | Kind::Ivr => "name",
            Kind::Route => "number",
        }
    }

    /// The column that names the object in listings.
    pub fn list_key(self) -> &'static str {
        self.table().key[0]
    }

    fn table(self) -> &'static Table {
        match self {
            Kind::ApiClient => &tables::API_CLIENTS,
            Kind::Team => &tables::TEAMS,
            Kind::Queue => &tables::QUEUES,
            Kind::Staff => &tables::STAFF,
            Kind::CallerId => &tables::CALLER_IDS,
            Kind::Script => &tables::SCRIPTS,
            Kind::DataObject => &tables::DATA_OBJECTS,
            Kind::Project => &tables::PROJECTS,
            Kind::Trunk => &yunhu_store::calls::TRUNKS,
            Kind::DoNotCall => &tables::DO_NOT_CALL,
            Kind::Ivr => &tables::IVRS,
            Kind::Route => &tables::ROUTES,
        }
    }
}

/// Columns never shown by the admin API.
const SECRET_COLUMNS: &[&str] = &["secret_hash", "sip_ha1", "secret", "password_sealed", "desk_hash"];

fn opt(s: &Option<String>) -> Val {
    Val::Text(s.clone().unwrap_or_default())
}

fn check_code(what: &str, code: &str) -> Result<(), CcError> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '@');
    if ok { Ok(()) } else { Err(CcError::Invalid(format!("{what} {code:?} must be 1-64 letters, digits or _-.@"))) }
}

fn check_digits(what: &str, s: &str) -> Result<(), CcError> {
    if !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_digit() || c == '+') {
        Ok(())
    } else {
        Err(CcError::Invalid(format!("{what} {s:?} must be digits")))
    }
}

/// A queue's ACD settings as stored (JSON in the `acd` column), checked.
fn queue_acd_json(what: &str, spec: &QueueSpec) -> Result<String, CcError> {
    let bad = |m: &str| Err(CcError::Invalid(format!("{what}: {m}")));
    for (name, v, max) in [
        ("max_wait_secs", spec.max_wait_secs, 24 * 3600),
        ("no_agent_wait_secs", spec.no_agent_wait_secs, 24 * 3600),
        ("service_level_secs", spec.service_level_secs, 3600),
        ("announce_secs", spec.announce_secs, 3600),
    ] {
        if v.is_some_and(|v| !(0..=max).contains(&v)) {
            return bad(&format!("{name} must be 0-{max}"));
        }
    }
    if let Some(o) = &spec.overflow {
        match o.parse::<yunhu_engine::ivr::Action>() {
            Ok(yunhu_engine::ivr::Action::Node(_) | yunhu_engine::ivr::Action::Menu(_)) | Err(_) => {
                return bad("overflow must be queue:<code>, extension:<number>, voicemail or hangup");
            }
            Ok(yunhu_engine::ivr::Action::Queue(q)) if q == spec.code => return bad("overflow to itself"),
            Ok(_) => {}
        }
    }
    for (name, key) in [("callback_key", &spec.callback_key), ("voicemail_key", &spec.voicemail_key)] {
        if key.as_ref().is_some_and(|k| k.len() != 1 || !k.chars().all(|c| c.is_ascii_digit() || c == '*')) {
            return bad(&format!("{name} must be one key, 0-9 or *"));
        }
    }
    if spec.callback_key.is_some() && spec.callback_key == spec.voicemail_key {
        return bad("callback_key and voicemail_key must differ");
    }
    let settings = QueueAcd {
        strategy: spec.strategy.unwrap_or_default(),
        skill: spec.skill.clone(),
        max_wait_secs: spec.max_wait_secs,
        no_agent_wait_secs: spec.no_agent_wait_secs,
        overflow: spec.overflow.clone(),
        service_level_secs: spec.service_level_secs.unwrap_or(20),
        announce_secs: spec.announce_secs.unwrap_or(0),
        callback_key: spec.callback_key.clone(),
        voicemail_key: spec.voicemail_key.clone(),
        survey: spec.survey,
    };
    serde_json::to_string(&settings).map_err(|e| CcError::Invalid(e.to_string()))
}

/// An inbound queue's settings as the switch reads them from the directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueueAcd {
    /// How agents are picked.
    #[serde(default)]
    pub strategy: yunhu_acd::Strategy,
    /// The skill callers need.
    #[serde(default)]
    pub skill: Option<String>,
    /// Longest wait before the overflow (s).
    #[serde(default)]
    pub max_wait_secs: Option<i64>,
    /// Wait with no member logged in before the overflow (s).
    #[serde(default)]
    pub no_agent_wait_secs: Option<i64>,
    /// Where callers overflow to.
    #[serde(default)]
    pub overflow: Option<String>,
    /// Service-level threshold (s).
    #[serde(default = "default_service_level_secs")]
    pub service_level_secs: i64,
    /// Seconds between place announcements; 0 none.
    #[serde(default)]
    pub announce_secs: i64,
    /// Key for a call back.
    #[serde(default)]
    pub callback_key: Option<String>,
    /// Key for a voice message.
    #[serde(default)]
    pub voicemail_key: Option<String>,
    /// Survey callers the agent hangs up on.
    #[serde(default)]
    pub survey: bool,
}

fn default_service_level_secs() -> i64 {
    20
}

impl QueueAcd {
    /// The settings stored in a queue row (defaults for rows written before they existed).
    pub fn of(row: &Row) -> QueueAcd {
        serde_json::from_str(row.get("acd").map(|v| v.text()).unwrap_or("{}")).unwrap_or_default()
    }
}

impl Services {
    async fn exists(&self, tenant: TenantId, table: &Table, key: &str) -> Result<bool, CcError> {
        Ok(matches!(self.db.get_row(tenant, table, &[key.into()]).await?, Some((_, false))))
    }

    async fn require(&self, tenant: TenantId, table: &Table, what: &str, key: &str) -> Result<(), CcError> {
        if self.exists(tenant, table, key).await? {
            Ok(())
        } else {
            Err(CcError::Invalid(format!("{what} {key:?} is not defined in this tenant")))
        }
    }

    /// Creates or updates one object of `kind` from its JSON spec in the tenant `corp_id`.
    pub async fn put_object(&self, corp_id: &str, kind: Kind, spec: Value) -> Result<Change, CcError> {
        let tenant = self.tenant(corp_id).await?;
        let bad = |e: serde_json::Error| CcError::Invalid(format!("{} spec: {e}", kind.name()));
        match kind {
            Kind::ApiClient => self.put_api_client(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::Team => self.put_team(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::Queue => self.put_queue(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::Staff => self.put_staff(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::CallerId => self.put_caller_id(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::DoNotCall => self.put_do_not_call(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::Script => self.put_script(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::DataObject => self.put_data_object(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::Project => self.put_project(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::Trunk => self.put_trunk(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::Ivr => self.put_ivr(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
            Kind::Route => self.put_route(&tenant, &serde_json::from_value(spec).map_err(bad)?).await,
        }
    }

    /// The tenant's live objects of `kind`, as JSON, secrets left out.
    pub async fn list_objects(&self, corp_id: &str, kind: Kind) -> Result<Vec<Value>, CcError> {
        let tenant = self.tenant(corp_id).await?;
        let rows = self.db.list_rows(tenant.id, kind.table()).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut obj = Map::new();
            for (col, v) in &row {
                if SECRET_COLUMNS.contains(col) {
                    continue;
                }
                let json = match v {
                    Val::Int(i) => Value::from(*i),
                    Val::Text(s) => Value::from(s.as_str()),
                };
                obj.insert((*col).to_string(), json);
            }
            if kind == Kind::Staff {
                let queues = self.db.staff_queue_codes(tenant.id, row["user_code"].text()).await?;
                obj.insert("queues".into(), Value::from(queues));
            }
            out.push(Value::Object(obj));
        }
        Ok(out)
    }

    /// Marks the tenant deleted; its data stays, its credentials stop working.
    pub async fn delete_tenant(&self, corp_id: &str) -> Result<(), CcError> {
        if self.db.delete_tenant(corp_id, self.now_ms()).await? {
            Ok(())
        } else {
            Err(CcError::NotFound(format!("tenant {corp_id}")))
        }
    }

    /// Marks the object of `kind` with key `key` deleted (its call data stays).
    pub async fn delete_object(&self, corp_id: &str, kind: Kind, key: &str) -> Result<(), CcError> {
        let tenant = self.tenant(corp_id).await?;
        if self.db.delete_row(tenant.id, kind.table(), &[key.into()], self.now_ms()).await? {
            if kind == Kind::ApiClient {
                self.db.void_token(tenant.id, key).await?;
            }
            Ok(())
        } else {
            Err(CcError::NotFound(format!("{} {key}", kind.name())))
        }
    }

    async fn put(&self, tenant: &Tenant, kind: Kind, row: Row) -> Result<Change, CcError> {
        Ok(self.db.put_row(tenant.id, kind.table(), &row, self.now_ms()).await?)
    }

    async fn stored(&self, tenant: &Tenant, kind: Kind, key: &str) -> Result<Option<Row>, CcError> {
        Ok(self.db.get_row(tenant.id, kind.table(), &[key.into()]).await?.map(|(r, _)| r))
    }

    /// Creates or updates an API client; an unchanged secret keeps its stored hash.
    pub async fn put_api_client(&self, tenant: &Tenant, spec: &ApiClientSpec) -> Result<Change, CcError> {
        check_code("client_id", &spec.client_id)?;
        if spec.client_secret.len() < 8 {
            return Err(CcError::Invalid(format!(
                "client {}: client_secret must be at least 8 characters",
                spec.client_id
            )));
        }
        let mut scopes = spec.scopes.clone();
        if scopes.is_empty() || scopes.iter().any(|s| s != "read" && s != "write") {
            return Err(CcError::Invalid(format!(
                "client {}: scopes must be a non-empty list of \"read\" and \"write\"",
                spec.client_id
            )));
        }
        scopes.sort();
        scopes.dedup();
        let stored = self.stored(tenant, Kind::ApiClient, &spec.client_id).await?;
        let secret_hash = match stored {
            Some(r) if verify_secret(&spec.client_secret, r["secret_hash"].text()) => r["secret_hash"].clone(),
            _ => Val::Text(hash_secret(&spec.client_secret)),
        };
        let row = Row::from([
            ("client_id", spec.client_id.as_str().into()),
            ("secret_hash", secret_hash),
            ("scopes", scopes.join(",").into()),
        ]);
        let change = self.put(tenant, Kind::ApiClient, row).await?;
        if change == Change::Updated {
            // A rotated secret or narrower scopes must not leave the old token working.
            self.db.void_token(tenant.id, &spec.client_id).await?;
        }
        Ok(change)
    }

    /// Creates or updates a team.
    pub async fn put_team(&self, tenant: &Tenant, spec: &TeamSpec) -> Result<Change, CcError> {
        check_code("team id", &spec.id)?;
        let row = Row::from([("code", spec.id.as_str().into()), ("name", spec.name.as_str().into())]);
        self.put(tenant, Kind::Team, row).await
    }

    /// Creates or updates a work-order object.
    pub async fn put_data_object(&self, tenant: &Tenant, spec: &DataObjectSpec) -> Result<Change, CcError> {
        check_code("data object id", &spec.id)?;
        let row = Row::from([("code", spec.id.as_str().into()), ("name", spec.name.as_str().into())]);
        self.put(tenant, Kind::DataObject, row).await
    }

    /// Creates or updates an outbound project.
    pub async fn put_project(&self, tenant: &Tenant, spec: &ProjectSpec) -> Result<Change, CcError> {
        check_code("project code", &spec.code)?;
        let row = Row::from([("code", spec.code.as_str().into()), ("name", spec.name.as_str().into())]);
        self.put(tenant, Kind::Project, row).await
    }

    /// Creates or updates a trunk.
    pub async fn put_trunk(&self, tenant: &Tenant, spec: &TrunkSpec) -> Result<Change, CcError> {
        check_code("trunk name", &spec.name)?;
        let what = format!("trunk {}", spec.name);
        if spec.address.parse::<std::net::SocketAddr>().is_err() {
            return Err(CcError::Invalid(format!("{what}: address {:?} must be ip:port", spec.address)));
        }
        if spec.transport != "udp" && spec.transport != "tcp" {
            return Err(CcError::Invalid(format!("{what}: transport must be \"udp\" or \"tcp\"")));
        }
        if let Some(bad) = spec.allow_ips.iter().find(|ip| ip.parse::<std::net::IpAddr>().is_err()) {
            return Err(CcError::Invalid(format!("{what}: allow_ips entry {bad:?} is not an IP address")));
        }
        // Inbound calls are told apart by where they come from: an address must belong to one
        // tenant only, or one tenant's calls would ring another's extensions.
        let mut sources: Vec<std::net::SocketAddr> = spec.address.parse().into_iter().collect();
        sources
            .extend(spec.allow_ips.iter().filter_map(|ip| ip.parse().ok()).map(|ip| std::net::SocketAddr::new(ip, 0)));
        for source in sources {
            let owners = self.db.trunks_allowing(source).await?;
            if let Some((other, name)) = owners.into_iter().find(|(t, _)| *t != tenant.id) {
                return Err(CcError::Conflict(format!(
                    "{what}: {source} is already trunk {name} of tenant {}",
                    other.0
                )));
            }
        }
        if let Some(c) = &spec.caller_id {
            self.require(tenant.id, &tables::CALLER_IDS, &format!("{what}: caller id"), c).await?;
        }
        let stored = self.stored(tenant, Kind::Trunk, &spec.name).await?;
        let stored_secret = stored.as_ref().map(|r| r["password_sealed"].text().to_string()).unwrap_or_default();
        let sealed = match &spec.password {
            Some(p) if self.sealer.open(&stored_secret).as_deref() == Some(p.as_str()) => stored_secret,
            Some(p) => self.sealer.seal(p),
            None => stored_secret,
        };
        let username = spec.username.clone().unwrap_or_default();
        if spec.register && (username.is_empty() || sealed.is_empty()) {
            return Err(CcError::Invalid(format!("{what}: register needs a username and a password")));
        }
        let row = Row::from([
            ("name", spec.name.as_str().into()),
            ("address", spec.address.as_str().into()),
            ("transport", spec.transport.as_str().into()),
            ("caller_id", opt(&spec.caller_id)),
            ("allow_ips", spec.allow_ips.join(",").into()),
            ("username", username.into()),
            ("password_sealed", sealed.into()),
            ("register", spec.register.into()),
        ]);
        self.put(tenant, Kind::Trunk, row).await
    }

    /// Creates or updates a caller-ID number.
    pub async fn put_caller_id(&self, tenant: &Tenant, spec: &CallerIdSpec) -> Result<Change, CcError> {
        check_digits("caller id", &spec.number)?;
        self.put(tenant, Kind::CallerId, Row::from([("number", spec.number.as_str().into())])).await
    }

    /// Puts a number on the do-not-call list.
    pub async fn put_do_not_call(&self, tenant: &Tenant, spec: &DoNotCallSpec) -> Result<Change, CcError> {
        check_digits("do-not-call number", &spec.number)?;
        let row = Row::from([("number", spec.number.as_str().into()), ("reason", spec.reason.as_str().into())]);
        self.put(tenant, Kind::DoNotCall, row).await
    }

    /// Whether `number` is on the tenant's do-not-call list.
    pub async fn do_not_call(&self, tenant: TenantId, number: &str) -> Result<bool, CcError> {
        self.exists(tenant, &tables::DO_NOT_CALL, number).await
    }

    /// Creates or updates a script; its public id is kept across updates.
    pub async fn put_script(&self, tenant: &Tenant, spec: &ScriptSpec) -> Result<Change, CcError> {
        if spec.name.trim().is_empty() {
            return Err(CcError::Invalid("script name must not be empty".into()));
        }
        let stream = match self.stored(tenant, Kind::Script, &spec.name).await? {
            Some(r) => r["stream_id"].clone(),
            None => Val::Text(new_stream_id()),
        };
        let row = Row::from([
            ("name", spec.name.as_str().into()),
            ("stream_id", stream),
            ("content", spec.content.as_str().into()),
        ]);
        self.put(tenant, Kind::Script, row).await
    }

    /// Creates or updates a skill group; what it references must exist.
    pub async fn put_queue(&self, tenant: &Tenant, spec: &QueueSpec) -> Result<Change, CcError> {
        check_code("queue code", &spec.code)?;
        let what = format!("queue {}", spec.code);
        if spec.direction != "in" && spec.direction != "out" {
            return Err(CcError::Invalid(format!("{what}: direction must be \"in\" or \"out\"")));
        }
        if !(0..=1).contains(&spec.call_type) {
            return Err(CcError::Invalid(format!("{what}: call_type must be 0 (predictive) or 1 (preview)")));
        }
        if !(0..=3600).contains(&spec.tip_timeout) {
            return Err(CcError::Invalid(format!("{what}: tip_timeout must be 0-3600 seconds")));
        }
        if let Some(d) = &spec.data_object {
            self.require(tenant.id, &tables::DATA_OBJECTS, &format!("{what}: data object"), d).await?;
        }
        if let Some(s) = &spec.script {
            self.require(tenant.id, &tables::SCRIPTS, &format!("{what}: script"), s).await?;
        }
        if let Some(c) = &spec.caller_id {
            self.require(tenant.id, &tables::CALLER_IDS, &format!("{what}: caller id"), c).await?;
        }
        if let Some(p) = &spec.project {
            self.require(tenant.id, &tables::PROJECTS, &format!("{what}: project"), p).await?;
        }
        let row = Row::from([
            ("code", spec.code.as_str().into()),
            ("name", spec.name.as_str().into()),
            ("direction", spec.direction.as_str().into()),
            ("data_object", opt(&spec.data_object)),
            ("script", opt(&spec.script)),
            ("caller_id", opt(&spec.caller_id)),
            ("tip_timeout", spec.tip_timeout.into()),
            ("project", opt(&spec.project)),
            ("call_type", spec.call_type.into()),
            ("acd", queue_acd_json(&what, spec)?.into()),
        ]);
        self.put(tenant, Kind::Queue, row).await
    }

    /// Creates or updates an IVR menu; every node it names must exist in it, and every queue,
    /// menu and extension it leads to in the tenant.
    pub async fn put_ivr(&self, tenant: &Tenant, spec: &IvrSpec) -> Result<Change, CcError> {
        check_code("ivr name", &spec.name)?;
        spec.check().map_err(|e| CcError::Invalid(format!("ivr {}: {e}", spec.name)))?;
        for to in spec.destinations() {
            self.require_destination(tenant, &format!("ivr {}", spec.name), to, Some(&spec.name)).await?;
        }
        let nodes = serde_json::to_string(&spec.nodes).map_err(|e| CcError::Invalid(e.to_string()))?;
        let row = Row::from([
            ("name", spec.name.as_str().into()),
            ("start_node", spec.start.as_str().into()),
            ("nodes", nodes.into()),
        ]);
        self.put(tenant, Kind::Ivr, row).await
    }

    /// Creates or updates an inbound route.
    pub async fn put_route(&self, tenant: &Tenant, spec: &RouteSpec) -> Result<Change, CcError> {
        check_digits("route number", &spec.number)?;
        let what = format!("route {}", spec.number);
        yunhu_core::time::BusinessHours::parse(&spec.hours, &spec.holidays)
            .map_err(|e| CcError::Invalid(format!("{what}: {e}")))?;
        let mut targets = vec![("to", spec.to.as_str())];
        if let Some(a) = &spec.after_hours {
            targets.push(("after_hours", a.as_str()));
        }
        for (field, t) in &targets {
            let action: yunhu_engine::ivr::Action =
                t.parse().map_err(|e| CcError::Invalid(format!("{what}: {field}: {e}")))?;
            if matches!(action, yunhu_engine::ivr::Action::Node(_)) {
                return Err(CcError::Invalid(format!("{what}: {field} must be an ivr, a queue or an extension")));
            }
            self.require_destination(tenant, &what, &action, None).await?;
        }
        let list = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        let row = Row::from([
            ("number", spec.number.as_str().into()),
            ("target", spec.to.as_str().into()),
            ("after_hours", opt(&spec.after_hours)),
            ("hours", list(&spec.hours).into()),
            ("holidays", list(&spec.holidays).into()),
        ]);
        self.put(tenant, Kind::Route, row).await
    }

    /// Refuses a destination the tenant does not have (`menu`: the menu being declared, which
    /// may lead to itself).
    async fn require_destination(
        &self,
        tenant: &Tenant,
        what: &str,
        to: &yunhu_engine::ivr::Action,
        menu: Option<&str>,
    ) -> Result<(), CcError> {
        use yunhu_engine::ivr::Action;
        match to {
            Action::Queue(q) => self.require(tenant.id, &tables::QUEUES, &format!("{what}: queue"), q).await,
            Action::Menu(m) if Some(m.as_str()) != menu => {
                self.require(tenant.id, &tables::IVRS, &format!("{what}: ivr"), m).await
            }
            Action::Extension(e) => {
                if self.staff_by_extension(tenant.id, e).await.is_err() {
                    return Err(CcError::Invalid(format!("{what}: extension {e:?} is not defined in this tenant")));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Creates or updates a staff member and their skill groups.
    pub async fn put_staff(&self, tenant: &Tenant, spec: &StaffSpec) -> Result<Change, CcError> {
        check_code("user_code", &spec.user_code)?;
        let what = format!("staff {}", spec.user_code);
        let agent_id = spec.agent_id.clone().unwrap_or_default();
        let well_formed = agent_id.len() <= 16 && agent_id.chars().all(|c| c.is_ascii_digit());
        if !well_formed {
            return Err(CcError::Invalid(format!("{what}: agent_id must be 1-16 digits")));
        }
        if let Some(p) = &spec.work_phone
            && !p.is_empty()
        {
            check_digits(&format!("{what}: work_phone"), p)?;
        }
        if spec.phone_take_along && spec.work_phone.as_deref().unwrap_or("").is_empty() {
            return Err(CcError::Invalid(format!("{what}: phone_take_along needs a work_phone")));
        }
        if let Some(t) = &spec.team {
            self.require(tenant.id, &tables::TEAMS, &format!("{what}: team"), t).await?;
        }
        for q in &spec.queues {
            self.require(tenant.id, &tables::QUEUES, &format!("{what}: queue"), q).await?;
        }
        let default_queue = match &spec.default_queue {
            Some(d) if !spec.queues.contains(d) => {
                return Err(CcError::Invalid(format!("{what}: default_queue {d:?} is not one of its queues")));
            }
            Some(d) => d.clone(),
            None => spec.queues.first().cloned().unwrap_or_default(),
        };
        let stored = self.stored(tenant, Kind::Staff, &spec.user_code).await?;
        let ha1 = match (&spec.sip_password, &stored) {
            (Some(p), _) if p.len() < 4 => {
                return Err(CcError::Invalid(format!("{what}: sip_password must be at least 4 characters")));
            }
            (Some(p), _) if !agent_id.is_empty() => sip_ha1(&agent_id, &tenant.sip_domain, p),
            (None, Some(r)) if r["agent_id"].text() == agent_id => r["sip_ha1"].text().to_string(),
            _ => String::new(),
        };
        let desk_hash = match (&spec.desk_password, &stored) {
            (Some(p), _) if p.len() < 6 => {
                return Err(CcError::Invalid(format!("{what}: desk_password must be at least 6 characters")));
            }
            // The same password again keeps its hash, so applying a document twice changes nothing.
            (Some(p), Some(r)) if verify_secret(p, r["desk_hash"].text()) => r["desk_hash"].text().to_string(),
            (Some(p), _) => hash_secret(p),
            (None, Some(r)) => r["desk_hash"].text().to_string(),
            (None, None) => String::new(),
        };
        let (stream_id, created_by) = match &stored {
            Some(r) => (r["stream_id"].clone(), r["created_by"].clone()),
            None => (Val::Text(new_stream_id()), Val::from("provision")),
        };
        let row = Row::from([
            ("user_code", spec.user_code.as_str().into()),
            ("stream_id", stream_id),
            ("name", spec.name.as_str().into()),
            ("agent_id", agent_id.into()),
            ("sip_ha1", ha1.into()),
            ("role", spec.role.as_str().into()),
            ("team", opt(&spec.team)),
            ("default_queue", default_queue.into()),
            ("work_phone", opt(&spec.work_phone)),
            ("email", opt(&spec.email)),
            ("enabled", spec.enabled.into()),
            ("phone_take_along", spec.phone_take_along.into()),
            ("priority", spec.priority.into()),
            ("skills", serde_json::to_string(&spec.skills).unwrap_or_else(|_| "{}".into()).into()),
            ("remark", opt(&spec.remark)),
            ("desk_hash", desk_hash.into()),
            ("created_by", created_by),
            ("updated_by", "provision".into()),
        ]);
        let change = self.put(tenant, Kind::Staff, row).await?;
        let queues_changed = self.db.set_staff_queues(tenant.id, &spec.user_code, &spec.queues).await?;
        Ok(match change {
            Change::Unchanged if queues_changed => Change::Updated,
            c => c,
        })
    }
}
