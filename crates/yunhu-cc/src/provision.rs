//! Declarative provisioning: a TOML document of tenants and their directory, applied
//! idempotently. Applying the same document twice changes nothing; an entry removed from the
//! document is reported, never deleted (call data may point at it).

use crate::objects::{
    ApiClientSpec, CallerIdSpec, DataObjectSpec, DoNotCallSpec, IvrSpec, Kind, ProjectSpec, QueueSpec, RouteSpec,
    ScriptSpec, StaffSpec, TeamSpec, TrunkSpec,
};
use crate::secrets::{hash_secret, verify_secret};
use crate::{CcError, Change, Services, Tenant};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use yunhu_core::time::{DEFAULT_TIME_ZONE, parse_zone};
use yunhu_store::directory::CREDENTIALS;
use yunhu_store::{Row, Val};

/// A provisioning document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionDoc {
    /// The tenants it declares.
    #[serde(default)]
    pub tenant: Vec<TenantSpec>,
}

/// crm (seed 000) signing credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmSpec {
    /// The `email` query parameter.
    pub email: String,
    /// Key mixed into `sign`; sealed at rest because signing needs it back.
    pub secret_key: String,
    /// Each sign serves one request only; by default a valid sign serves every request of its
    /// 300 s window, as the public crm SDK (one sign per client object) needs.
    #[serde(default)]
    pub single_use_signs: bool,
}

/// sipcdr (seed 001) login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipcdrSpec {
    /// `appid`.
    pub username: String,
    /// `accesskey`; stored hashed.
    pub password: String,
}

/// action (seed 004) company credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// `companyid`.
    pub company_id: i64,
    /// `auth`; stored hashed.
    pub auth: String,
}

/// A tenant (企业) with everything in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    /// 企业号.
    pub corp_id: String,
    /// Display name.
    pub name: String,
    /// IANA zone; default Asia/Shanghai.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// SIP domain of its extensions; default `<corp_id>.yunhu`.
    #[serde(default)]
    pub sip_domain: Option<String>,
    /// Most calls the tenant may have at once (the dialer holds back at it); 0 or absent: no limit.
    #[serde(default)]
    pub max_calls: Option<i64>,
    /// The rolling window the dialer's abandonment cap is measured over: `24h` (default) or `30d`.
    #[serde(default)]
    pub abandon_window: Option<String>,
    /// The agent workbench: after-call work limit and the tenant's own not-ready reasons.
    #[serde(default)]
    pub desk: Option<crate::agents::DeskSettings>,
    /// CRM custom fields of the customer form.
    #[serde(default)]
    pub crm_field: Vec<CrmFieldSpec>,
    /// open95 OAuth2 clients.
    #[serde(default)]
    pub api_client: Vec<ApiClientSpec>,
    /// crm dialect credentials.
    #[serde(default)]
    pub crm: Option<CrmSpec>,
    /// sipcdr dialect credentials.
    #[serde(default)]
    pub sipcdr: Option<SipcdrSpec>,
    /// action dialect credentials.
    #[serde(default)]
    pub action: Option<ActionSpec>,
    /// Teams.
    #[serde(default)]
    pub team: Vec<TeamSpec>,
    /// Work-order objects.
    #[serde(default)]
    pub data_object: Vec<DataObjectSpec>,
    /// Scripts.
    #[serde(default)]
    pub script: Vec<ScriptSpec>,
    /// Caller-ID numbers.
    #[serde(default)]
    pub caller_id: Vec<CallerIdSpec>,
    /// Numbers never to dial.
    #[serde(default)]
    pub do_not_call: Vec<DoNotCallSpec>,
    /// Outbound projects.
    #[serde(default)]
    pub project: Vec<ProjectSpec>,
    /// SIP trunks.
    #[serde(default)]
    pub trunk: Vec<TrunkSpec>,
    /// Skill groups.
    #[serde(default)]
    pub queue: Vec<QueueSpec>,
    /// Staff.
    #[serde(default)]
    pub staff: Vec<StaffSpec>,
    /// IVR menus (a menu leading to another names one declared before it).
    #[serde(default)]
    pub ivr: Vec<IvrSpec>,
    /// Inbound routes of the tenant's numbers.
    #[serde(default)]
    pub route: Vec<RouteSpec>,
}

/// A CRM custom field of the customer form, for every project or one.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmFieldSpec {
    /// The project whose form has it; absent: every project's.
    #[serde(default)]
    pub project: Option<String>,
    /// The field.
    #[serde(flatten)]
    pub field: crate::forms::CrmField,
}

/// What applying a document did, line by line (`created tenant 777777`, ...).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProvisionReport {
    /// Objects written for the first time.
    pub created: Vec<String>,
    /// Objects whose stored values changed.
    pub updated: Vec<String>,
    /// How many objects already matched the document.
    pub unchanged: usize,
    /// Live objects the document no longer lists: kept, with their call data.
    pub not_in_document: Vec<String>,
}

impl ProvisionReport {
    fn record(&mut self, change: Change, what: String) {
        match change {
            Change::Created => self.created.push(what),
            Change::Updated => self.updated.push(what),
            Change::Unchanged => self.unchanged += 1,
        }
    }

    /// True when applying changed nothing.
    pub fn is_noop(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty()
    }
}

impl ProvisionDoc {
    /// Parses a TOML document; the error names the line and key at fault.
    pub fn from_toml(text: &str) -> Result<ProvisionDoc, CcError> {
        toml::from_str(text).map_err(|e| CcError::Invalid(format!("provisioning file: {e}")))
    }
}

fn validate(doc: &ProvisionDoc) -> Result<(), CcError> {
    let mut corps = BTreeSet::new();
    for t in &doc.tenant {
        if t.corp_id.is_empty() || !t.corp_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(CcError::Invalid(format!("tenant {:?}: corp_id must be letters and digits", t.corp_id)));
        }
        if !corps.insert(&t.corp_id) {
            return Err(CcError::Invalid(format!("tenant {} is declared twice", t.corp_id)));
        }
        if let Some(d) = &t.sip_domain {
            let ok = !d.is_empty()
                && d.len() <= 253
                && d.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
            if !ok {
                return Err(CcError::Invalid(format!(
                    "tenant {}: sip_domain {d:?} must be lower-case letters, digits, dots and hyphens",
                    t.corp_id
                )));
            }
        }
        if let Some(z) = &t.time_zone
            && parse_zone(z).is_none()
        {
            return Err(CcError::Invalid(format!("tenant {}: unknown time_zone {z:?}", t.corp_id)));
        }
        let mut exts = BTreeSet::new();
        for s in &t.staff {
            if let Some(a) = s.agent_id.as_deref().filter(|a| !a.is_empty())
                && !exts.insert(a)
            {
                return Err(CcError::Invalid(format!(
                    "tenant {}: extension {a} is given to more than one staff member",
                    t.corp_id
                )));
            }
        }
    }
    Ok(())
}

impl Services {
    /// Applies a document: every tenant and object in it is created or brought up to date.
    pub async fn apply_provisioning(&self, doc: &ProvisionDoc) -> Result<ProvisionReport, CcError> {
        validate(doc)?;
        let mut report = ProvisionReport::default();
        for spec in &doc.tenant {
            self.apply_tenant(spec, &mut report).await?;
        }
        Ok(report)
    }

    /// Creates or updates one tenant and everything the spec lists in it.
    pub async fn apply_tenant(&self, spec: &TenantSpec, report: &mut ProvisionReport) -> Result<(), CcError> {
        let corp = &spec.corp_id;
        let tz = spec.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE);
        let domain = spec.sip_domain.clone().unwrap_or_else(|| format!("{}.yunhu", corp.to_ascii_lowercase()));
        let (_, change) = self.db.put_tenant(corp, &spec.name, tz, &domain, self.now_ms()).await?;
        report.record(change, format!("tenant {corp}"));
        let tenant = self.tenant(corp).await?;
        let limit = spec.max_calls.unwrap_or(0);
        if limit < 0 {
            return Err(CcError::Invalid(format!("tenant {corp}: max_calls must not be negative")));
        }
        if self.db.set_tenant_max_calls(tenant.id, limit).await? {
            report.record(crate::Change::Updated, format!("tenant {corp} max_calls"));
        }
        let days = match spec.abandon_window.as_deref() {
            None | Some("24h") => 1,
            Some("30d") => 30,
            Some(other) => {
                return Err(CcError::Invalid(format!("tenant {corp}: abandon_window is 24h or 30d, not {other:?}")));
            }
        };
        if self.db.set_tenant_abandon_window_days(tenant.id, days).await? {
            report.record(crate::Change::Updated, format!("tenant {corp} abandon_window"));
        }
        if let Some(desk) = &spec.desk
            && self
                .set_desk_settings(tenant.id, desk)
                .await
                .map_err(|e| CcError::Invalid(format!("tenant {corp}: {e}")))?
        {
            report.record(crate::Change::Updated, format!("tenant {corp} desk"));
        }
        let at = |e: CcError| match e {
            CcError::Invalid(m) => CcError::Invalid(format!("tenant {corp}: {m}")),
            CcError::Conflict(m) => CcError::Conflict(format!("tenant {corp}: {m}")),
            other => other,
        };
        if let Some(c) = &spec.crm {
            let ch = self
                .put_credential(&tenant, "crm", &c.email, &c.secret_key, true, c.single_use_signs)
                .await
                .map_err(at)?;
            report.record(ch, format!("tenant {corp} crm credentials"));
        }
        if let Some(c) = &spec.sipcdr {
            let ch =
                self.put_credential(&tenant, "sipcdr", &c.username, &c.password, false, false).await.map_err(at)?;
            report.record(ch, format!("tenant {corp} sipcdr credentials"));
        }
        if let Some(c) = &spec.action {
            let ch = self
                .put_credential(&tenant, "action", &c.company_id.to_string(), &c.auth, false, false)
                .await
                .map_err(at)?;
            report.record(ch, format!("tenant {corp} action credentials"));
        }
        for kind in Kind::ALL {
            let mut listed = BTreeSet::new();
            macro_rules! each {
                ($items:expr, $key:ident, $put:ident) => {
                    for item in &$items {
                        let ch = self.$put(&tenant, item).await.map_err(at)?;
                        report.record(ch, format!("tenant {corp} {} {}", kind.name(), item.$key));
                        listed.insert(item.$key.to_string());
                    }
                };
            }
            match kind {
                Kind::ApiClient => each!(spec.api_client, client_id, put_api_client),
                Kind::Team => each!(spec.team, id, put_team),
                Kind::DataObject => each!(spec.data_object, id, put_data_object),
                Kind::Script => each!(spec.script, name, put_script),
                Kind::CallerId => each!(spec.caller_id, number, put_caller_id),
                Kind::Project => each!(spec.project, code, put_project),
                Kind::Trunk => each!(spec.trunk, name, put_trunk),
                Kind::Queue => each!(spec.queue, code, put_queue),
                Kind::Staff => each!(spec.staff, user_code, put_staff),
                Kind::DoNotCall => each!(spec.do_not_call, number, put_do_not_call),
                Kind::Ivr => each!(spec.ivr, name, put_ivr),
                Kind::Route => each!(spec.route, number, put_route),
            }
            if kind == Kind::Project {
                // The form's fields come after the projects they name.
                let mut by_project: std::collections::BTreeMap<String, Vec<crate::forms::CrmField>> =
                    Default::default();
                for f in &spec.crm_field {
                    by_project.entry(f.project.clone().unwrap_or_default()).or_default().push(f.field.clone());
                }
                for (project, fields) in by_project {
                    self.put_crm_fields(tenant.id, &project, &fields).await.map_err(at)?;
                }
            }
            for obj in self.list_objects(corp, kind).await? {
                let key = obj[kind.list_key()].as_str().unwrap_or_default().to_string();
                if !listed.contains(&key) {
                    report.not_in_document.push(format!("tenant {corp} {} {key}", kind.name()));
                }
            }
        }
        Ok(())
    }

    async fn put_credential(
        &self,
        tenant: &Tenant,
        kind: &'static str,
        principal: &str,
        secret: &str,
        sealed: bool,
        single_use: bool,
    ) -> Result<Change, CcError> {
        if principal.is_empty() || secret.is_empty() {
            return Err(CcError::Invalid(format!("{kind} credentials need a name and a secret")));
        }
        let stored = self.db.get_row(tenant.id, &CREDENTIALS, &[kind.into()]).await?.map(|(r, _)| r);
        let keep = stored.as_ref().is_some_and(|r| {
            let s = r["secret"].text();
            if sealed { self.sealer.open(s).as_deref() == Some(secret) } else { verify_secret(secret, s) }
        });
        let secret_val = match (keep, stored) {
            (true, Some(r)) => r["secret"].clone(),
            _ if sealed => Val::Text(self.sealer.seal(secret)),
            _ => Val::Text(hash_secret(secret)),
        };
        let row = Row::from([
            ("kind", kind.into()),
            ("principal", principal.into()),
            ("secret", secret_val),
            ("single_use", Val::Int(single_use.into())),
        ]);
        Ok(self.db.put_row(tenant.id, &CREDENTIALS, &row, self.now_ms()).await?)
    }
}
