//! SMS from the agent desk: each tenant's provider (Aliyun, Tencent Cloud or a signed webhook of
//! its own), its templates, and every message an agent sends, refused ones included.
//!
//! An agent's message is refused when the number is on the tenant's do-not-call list (kept as
//! `refused`), when the agent has already sent the tenant's limit in the last minute (default 10;
//! not kept, nothing was sent), or when the text is empty or longer than [`MAX_TEXT_CHARS`].
//! Otherwise it is kept as `sending` before the provider is asked, so concurrent sends by one
//! agent count against the limit, and then as `sent` with the provider's id or `failed` with its
//! answer.

mod aliyun;
mod provider;
mod tencent;
mod webhook;

pub use aliyun::Aliyun;
pub use provider::{Outgoing, Provider, SendError};
pub use tencent::Tencent;
pub use webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, Webhook};

use crate::{CcError, Change, Services, TenantId};
use provider::{Number, country};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use std::time::Duration;
use yunhu_core::mask_phone;
use yunhu_store::sms::{SmsFilter, SmsSettings, SmsTemplateRow, StoredSms};

/// The longest text an agent may send, in characters.
pub const MAX_TEXT_CHARS: usize = 500;
/// Messages one agent may send in a minute unless the tenant says otherwise.
pub const DEFAULT_RATE_PER_MINUTE: i64 = 10;
/// How long a provider has to answer.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Which provider a tenant sends through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Aliyun `SendSms`.
    Aliyun,
    /// Tencent Cloud `SendSms`.
    Tencent,
    /// A signed HTTPS webhook.
    Webhook,
}

impl ProviderKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Aliyun => "aliyun",
            ProviderKind::Tencent => "tencent",
            ProviderKind::Webhook => "webhook",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [ProviderKind::Aliyun, ProviderKind::Tencent, ProviderKind::Webhook].into_iter().find(|k| k.as_str() == s)
    }
}

fn default_rate() -> i64 {
    DEFAULT_RATE_PER_MINUTE
}

/// A tenant's SMS configuration as an operator writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfigSpec {
    /// `aliyun`, `tencent` or `webhook`.
    pub provider: ProviderKind,
    /// Aliyun AccessKeyId or Tencent SecretId.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Aliyun AccessKeySecret, Tencent SecretKey or the webhook's signing secret; sealed at
    /// rest. Omitted keeps the stored one (when the provider stays the same).
    #[serde(default)]
    pub secret: Option<String>,
    /// The SMS signature (签名), Aliyun SignName / Tencent SignName.
    #[serde(default)]
    pub sign_name: Option<String>,
    /// Aliyun TemplateCode or Tencent TemplateId: the provider template the text goes into.
    #[serde(default)]
    pub template_code: Option<String>,
    /// Aliyun: the template variable that carries the text (default `content`).
    #[serde(default)]
    pub template_param: Option<String>,
    /// Tencent SmsSdkAppId.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Aliyun RegionId (default `cn-hangzhou`) or Tencent region (default `ap-guangzhou`).
    #[serde(default)]
    pub region: Option<String>,
    /// Base URL of the provider (default its real host); the webhook's URL, required for it.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Messages one agent may send in a minute.
    #[serde(default = "default_rate")]
    pub rate_per_minute: i64,
}

/// A tenant's SMS configuration as shown: never the secret, only whether one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsConfigView {
    /// `aliyun`, `tencent` or `webhook`.
    pub provider: String,
    /// Aliyun AccessKeyId or Tencent SecretId.
    pub access_key_id: String,
    /// Whether a secret is stored.
    pub secret_set: bool,
    /// The SMS signature.
    pub sign_name: String,
    /// The provider template.
    pub template_code: String,
    /// Aliyun's template variable.
    pub template_param: String,
    /// Tencent SmsSdkAppId.
    pub app_id: String,
    /// The provider region.
    pub region: String,
    /// The URL messages go to.
    pub endpoint: String,
    /// Messages one agent may send in a minute.
    pub rate_per_minute: i64,
}

/// An SMS template: a text agents start from, with `{name}`, `{telephone}` and `{staff}`
/// filled in for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsTemplateSpec {
    /// Name, unique in the tenant.
    pub name: String,
    /// The text, with placeholders.
    pub text: String,
    /// The one agents are offered first; marking one unmarks the others.
    #[serde(default)]
    pub is_default: bool,
}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsStatus {
    /// Handed to the provider, no answer yet (or the node stopped before it came).
    Sending,
    /// The provider took it.
    Sent,
    /// The provider refused it or could not be reached.
    Failed,
    /// yunhu refused it (do-not-call list).
    Refused,
}

impl SmsStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsStatus::Sending => "sending",
            SmsStatus::Sent => "sent",
            SmsStatus::Failed => "failed",
            SmsStatus::Refused => "refused",
        }
    }

    /// The status named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [SmsStatus::Sending, SmsStatus::Sent, SmsStatus::Failed, SmsStatus::Refused]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A kept message, its number masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsMessage {
    /// Id.
    pub id: i64,
    /// The staff account that sent it.
    pub staff: String,
    /// The number, masked (`138****0001`).
    pub telephone: String,
    /// The text.
    pub text: String,
    /// The provider (`aliyun`, `tencent`, `webhook`).
    pub provider: String,
    /// The provider's id of the message, once sent.
    pub provider_message_id: String,
    /// Where it is.
    pub status: SmsStatus,
    /// Why it was not sent.
    pub error: String,
    /// When it was asked for, ms.
    pub created_at: i64,
}

impl From<StoredSms> for SmsMessage {
    fn from(s: StoredSms) -> Self {
        SmsMessage {
            id: s.id,
            staff: s.staff,
            telephone: mask_phone(&s.telephone),
            text: s.body,
            provider: s.provider,
            provider_message_id: s.provider_message_id,
            status: SmsStatus::parse(&s.status).unwrap_or(SmsStatus::Failed),
            error: s.error,
            created_at: s.created_at,
        }
    }
}

/// One page of a tenant's messages, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsPage {
    /// How many messages match in all.
    pub total: i64,
    /// This page's number, from 1.
    pub page: i64,
    /// Messages a page.
    pub page_size: i64,
    /// The messages.
    pub items: Vec<SmsMessage>,
}

/// What the services keep for sending: the HTTP client (built on first use) and the lock that
/// makes an agent's rate-limit check and the record it allows one step.
#[derive(Debug, Default)]
pub(crate) struct SmsState {
    gate: tokio::sync::Mutex<()>,
    http: OnceLock<reqwest::Client>,
}

impl SmsState {
    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(PROVIDER_TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                // A signed request goes where it was configured to, nowhere else.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }
}

/// Fills `{name}`, `{telephone}` and `{staff}` in one pass; other braces stay as they are.
pub fn fill_template(text: &str, name: &str, telephone: &str, staff: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let value = ["name", "telephone", "staff"].into_iter().find_map(|key| {
            after.strip_prefix('{').and_then(|a| a.strip_prefix(key)).and_then(|a| a.strip_prefix('}')).map(|_| key)
        });
        match value {
            Some(key) => {
                out.push_str(match key {
                    "name" => name,
                    "telephone" => telephone,
                    _ => staff,
                });
                rest = &after[key.len() + 2..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn check_field(what: &str, value: &str, required: bool) -> Result<(), CcError> {
    if required && value.trim().is_empty() {
        return Err(CcError::Invalid(format!("sms: {what} is required for this provider")));
    }
    if value.chars().count() > 256 || value.chars().any(char::is_control) {
        return Err(CcError::Invalid(format!("sms: {what} must be at most 256 characters, no control characters")));
    }
    Ok(())
}

fn check_endpoint(url: &str) -> Result<(), CcError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| CcError::Invalid(format!("sms: endpoint {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(CcError::Invalid(format!("sms: endpoint {url:?} must be an http(s) URL")));
    }
    Ok(())
}

/// The number as kept and sent: spaces and dashes dropped, then digits with an optional `+`.
fn clean_number(telephone: &str) -> Result<String, CcError> {
    let n: String = telephone.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = n.strip_prefix('+').unwrap_or(&n);
    if (3..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(n)
    } else {
        Err(CcError::Invalid(format!("号码不合法 (telephone {telephone:?} must be 3-20 digits, + allowed first)")))
    }
}

/// The forms a number may have on the do-not-call list: as given, and a Chinese number with and
/// without its country code.
fn barred_forms(telephone: &str) -> Vec<String> {
    let mut forms = vec![telephone.to_string()];
    if let Number::China(n) = country(telephone) {
        for f in [n.to_string(), format!("+86{n}"), format!("0086{n}"), format!("86{n}")] {
            if !forms.contains(&f) {
                forms.push(f);
            }
        }
    }
    forms
}

fn view(s: &SmsSettings) -> SmsConfigView {
    let endpoint = if s.endpoint.is_empty() {
        match ProviderKind::parse(&s.provider) {
            Some(ProviderKind::Aliyun) => aliyun::DEFAULT_ENDPOINT.to_string(),
            Some(ProviderKind::Tencent) => tencent::DEFAULT_ENDPOINT.to_string(),
            _ => String::new(),
        }
    } else {
        s.endpoint.clone()
    };
    SmsConfigView {
        provider: s.provider.clone(),
        access_key_id: s.access_key_id.clone(),
        secret_set: !s.secret_sealed.is_empty(),
        sign_name: s.sign_name.clone(),
        template_code: s.template_code.clone(),
        template_param: s.template_param.clone(),
        app_id: s.app_id.clone(),
        region: s.region.clone(),
        endpoint,
        rate_per_minute: s.rate_per_minute,
    }
}

impl Services {
    /// Sets the tenant `corp_id`'s SMS provider and its settings; the secret is sealed at rest.
    pub async fn put_sms_config(&self, corp_id: &str, spec: &SmsConfigSpec) -> Result<Change, CcError> {
        let tenant = self.tenant(corp_id).await?;
        let kind = spec.provider;
        let text = |v: &Option<String>| v.as_deref().unwrap_or("").trim().to_string();
        let (key_id, sign_name, template_code, app_id) =
            (text(&spec.access_key_id), text(&spec.sign_name), text(&spec.template_code), text(&spec.app_id));
        let endpoint = text(&spec.endpoint);
        let is = |k: ProviderKind| kind == k;
        check_field("access_key_id", &key_id, !is(ProviderKind::Webhook))?;
        check_field("sign_name", &sign_name, !is(ProviderKind::Webhook))?;
        check_field("template_code", &template_code, !is(ProviderKind::Webhook))?;
        check_field("app_id", &app_id, is(ProviderKind::Tencent))?;
        check_field("endpoint", &endpoint, is(ProviderKind::Webhook))?;
        if !endpoint.is_empty() {
            check_endpoint(&endpoint)?;
        }
        let template_param = match kind {
            ProviderKind::Aliyun => {
                spec.template_param.clone().unwrap_or_else(|| aliyun::DEFAULT_TEMPLATE_PARAM.into())
            }
            _ => text(&spec.template_param),
        };
        check_field("template_param", &template_param, is(ProviderKind::Aliyun))?;
        let region = match (kind, text(&spec.region)) {
            (ProviderKind::Aliyun, r) if r.is_empty() => aliyun::DEFAULT_REGION.to_string(),
            (ProviderKind::Tencent, r) if r.is_empty() => tencent::DEFAULT_REGION.to_string(),
            (_, r) => r,
        };
        check_field("region", &region, false)?;
        if !(1..=1000).contains(&spec.rate_per_minute) {
            return Err(CcError::Invalid("sms: rate_per_minute must be 1-1000".into()));
        }
        let stored = self.db.sms_settings(tenant.id).await?;
        let secret_sealed = match (&spec.secret, &stored) {
            (Some(s), _) if s.is_empty() || s.chars().count() > 256 => {
                return Err(CcError::Invalid("sms: secret must be 1-256 characters".into()));
            }
            (Some(s), Some(st)) if self.sealer.open(&st.secret_sealed).as_deref() == Some(s.as_str()) => {
                st.secret_sealed.clone()
            }
            (Some(s), _) => self.sealer.seal(s),
            (None, Some(st)) if st.provider == kind.as_str() && !st.secret_sealed.is_empty() => {
                st.secret_sealed.clone()
            }
            (None, _) => return Err(CcError::Invalid(format!("sms: secret is required for {}", kind.as_str()))),
        };
        let settings = SmsSettings {
            provider: kind.as_str().into(),
            access_key_id: key_id,
            secret_sealed,
            sign_name,
            template_code,
            template_param,
            app_id,
            region,
            endpoint,
            rate_per_minute: spec.rate_per_minute,
        };
        Ok(self.db.put_sms_settings(tenant.id, &settings, self.now_ms()).await?)
    }

    /// The tenant's SMS configuration without its secret, or `NotFound` when it has none.
    pub async fn sms_config(&self, corp_id: &str) -> Result<SmsConfigView, CcError> {
        let tenant = self.tenant(corp_id).await?;
        let stored = self.db.sms_settings(tenant.id).await?;
        stored.as_ref().map(view).ok_or_else(|| CcError::NotFound(format!("sms configuration of tenant {corp_id}")))
    }

    /// Creates or updates an SMS template of the tenant `corp_id`.
    pub async fn put_sms_template(&self, corp_id: &str, spec: &SmsTemplateSpec) -> Result<Change, CcError> {
        let tenant = self.tenant(corp_id).await?;
        let name = spec.name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.contains('/') || name.chars().any(char::is_control) {
            return Err(CcError::Invalid(format!("sms template name {:?} must be 1-64 characters, no /", spec.name)));
        }
        let chars = spec.text.chars().count();
        if spec.text.trim().is_empty() || chars > MAX_TEXT_CHARS {
            return Err(CcError::Invalid(format!(
                "sms template {name}: text must be 1-{MAX_TEXT_CHARS} characters (it has {chars})"
            )));
        }
        let row = SmsTemplateRow { name: name.into(), body: spec.text.clone(), is_default: spec.is_default };
        Ok(self.db.put_sms_template(tenant.id, &row, self.now_ms()).await?)
    }

    /// The tenant's SMS templates, by name.
    pub async fn sms_templates(&self, corp_id: &str) -> Result<Vec<SmsTemplateSpec>, CcError> {
        let tenant = self.tenant(corp_id).await?;
        let rows = self.db.sms_templates(tenant.id).await?;
        Ok(rows.into_iter().map(|r| SmsTemplateSpec { name: r.name, text: r.body, is_default: r.is_default }).collect())
    }

    /// One SMS template of the tenant, or `NotFound`.
    pub async fn sms_template(&self, corp_id: &str, name: &str) -> Result<SmsTemplateSpec, CcError> {
        let tenant = self.tenant(corp_id).await?;
        match self.db.sms_template(tenant.id, name).await? {
            Some(r) => Ok(SmsTemplateSpec { name: r.name, text: r.body, is_default: r.is_default }),
            None => Err(CcError::NotFound(format!("sms template {name}"))),
        }
    }

    /// Deletes an SMS template of the tenant, or `NotFound`.
    pub async fn delete_sms_template(&self, corp_id: &str, name: &str) -> Result<(), CcError> {
        let tenant = self.tenant(corp_id).await?;
        if self.db.delete_sms_template(tenant.id, name).await? {
            Ok(())
        } else {
            Err(CcError::NotFound(format!("sms template {name}")))
        }
    }

    /// The tenant's default SMS template with `{name}` (the customer's name), `{telephone}` and
    /// `{staff}` filled in; `None` when no template is marked default.
    pub async fn sms_text_for(
        &self,
        tenant: TenantId,
        staff: &str,
        telephone: &str,
        name: &str,
    ) -> Result<Option<String>, CcError> {
        let template = self.db.default_sms_template(tenant).await?;
        Ok(template.map(|t| fill_template(&t.body, name, telephone, staff)))
    }

    fn sms_provider(&self, s: &SmsSettings) -> Result<Provider, CcError> {
        let secret = self.sealer.open(&s.secret_sealed).ok_or_else(|| {
            CcError::Invalid(
                "the sms secret cannot be opened with this node's master key; put the sms configuration again".into(),
            )
        })?;
        let endpoint = |default: &str| if s.endpoint.is_empty() { default.to_string() } else { s.endpoint.clone() };
        Ok(match ProviderKind::parse(&s.provider) {
            Some(ProviderKind::Aliyun) => Provider::Aliyun(Aliyun {
                access_key_id: s.access_key_id.clone(),
                access_key_secret: secret,
                sign_name: s.sign_name.clone(),
                template_code: s.template_code.clone(),
                template_param: s.template_param.clone(),
                region: s.region.clone(),
                endpoint: endpoint(aliyun::DEFAULT_ENDPOINT),
            }),
            Some(ProviderKind::Tencent) => Provider::Tencent(Tencent {
                secret_id: s.access_key_id.clone(),
                secret_key: secret,
                app_id: s.app_id.clone(),
                sign_name: s.sign_name.clone(),
                template_id: s.template_code.clone(),
                region: s.region.clone(),
                endpoint: endpoint(tencent::DEFAULT_ENDPOINT),
            }),
            Some(ProviderKind::Webhook) => Provider::Webhook(Webhook { url: s.endpoint.clone(), secret }),
            None => return Err(CcError::Invalid(format!("unknown sms provider {:?}", s.provider))),
        })
    }

    /// Sends `text` to `telephone` for `staff` (the account the workbench knows) of `tenant`,
    /// keeping the message whatever happens to it after the checks of the text and number.
    ///
    /// `Ok` only when the provider took it. Refused: `Invalid` for an empty or over-long text or
    /// a malformed number (not kept), `NotFound` when the tenant has no SMS configuration,
    /// `Refused` for a do-not-call number (kept as refused) and beyond the agent's rate limit
    /// (not kept), `Upstream` when the provider refused it or could not be reached (kept as
    /// failed, with its answer).
    pub async fn send_sms(
        &self,
        tenant: TenantId,
        staff: &str,
        telephone: &str,
        text: &str,
    ) -> Result<SmsMessage, CcError> {
        let text = text.trim();
        let chars = text.chars().count();
        if chars == 0 {
            return Err(CcError::Invalid("短信内容为空 (the text is empty)".into()));
        }
        if chars > MAX_TEXT_CHARS {
            return Err(CcError::Invalid(format!(
                "短信内容过长 (the text has {chars} characters, at most {MAX_TEXT_CHARS})"
            )));
        }
        let staff = staff.trim();
        if staff.is_empty() {
            return Err(CcError::Invalid("staff is required".into()));
        }
        let telephone = clean_number(telephone)?;
        let corp = self.tenant_by_id(tenant).await?.corp_id;
        let settings = self
            .db
            .sms_settings(tenant)
            .await?
            .ok_or_else(|| CcError::NotFound(format!("sms configuration of tenant {corp}")))?;
        let provider = self.sms_provider(&settings)?;
        let kind = settings.provider.as_str();
        let masked = mask_phone(&telephone);

        for form in barred_forms(&telephone) {
            if self.do_not_call(tenant, &form).await? {
                let why = "the number is on the do-not-call list";
                let id = self
                    .db
                    .insert_sms_message(tenant, staff, &telephone, text, kind, "refused", why, self.now_ms())
                    .await?;
                tracing::info!(tenant = tenant.0, staff, telephone = %masked, id, "sms refused: do-not-call");
                return Err(CcError::Refused(format!(
                    "号码在黑名单中 ({masked} is on the do-not-call list; message {id} not sent)"
                )));
            }
        }

        let limit = settings.rate_per_minute;
        let (id, asked_at) = {
            let _one_at_a_time = self.sms.gate.lock().await;
            let now = self.now_ms();
            let since = now - 60_000;
            let recent = self.db.sms_sent_since(tenant, staff, since).await?;
            if recent >= limit {
                let oldest = self.db.sms_oldest_since(tenant, staff, since).await?.unwrap_or(now);
                let wait = (oldest + 60_000 - now + 999) / 1000;
                return Err(CcError::Refused(format!(
                    "发送过于频繁 (staff {staff} sent {recent} messages in the last minute, at most {limit} a minute; \
                     try again in {} s)",
                    wait.max(1)
                )));
            }
            (self.db.insert_sms_message(tenant, staff, &telephone, text, kind, "sending", "", now).await?, now)
        };

        let outgoing = Outgoing { id, tenant: &corp, staff, telephone: &telephone, text };
        let result = provider.send(self.sms.http(), &outgoing, self.clock.now()).await;
        let mut message = SmsMessage {
            id,
            staff: staff.to_string(),
            telephone: masked.clone(),
            text: text.to_string(),
            provider: kind.to_string(),
            provider_message_id: String::new(),
            status: SmsStatus::Sent,
            error: String::new(),
            created_at: asked_at,
        };
        match result {
            Ok(provider_id) => {
                self.db.finish_sms_message(tenant, id, "sent", &provider_id, "", self.now_ms()).await?;
                tracing::info!(tenant = tenant.0, staff, telephone = %masked, id, provider = kind, "sms sent");
                message.provider_message_id = provider_id;
                Ok(message)
            }
            Err(e) => {
                self.db.finish_sms_message(tenant, id, "failed", "", &e.0, self.now_ms()).await?;
                tracing::warn!(tenant = tenant.0, staff, telephone = %masked, id, provider = kind, error = %e, "sms failed");
                Err(CcError::Upstream(format!("短信发送失败 (message {id} not sent: {e})")))
            }
        }
    }

    /// One page (from 1) of the tenant's messages, newest first, numbers masked; optionally
    /// only one staff member's, or only those in one status.
    pub async fn sms_messages(
        &self,
        tenant: TenantId,
        staff: Option<&str>,
        status: Option<SmsStatus>,
        page: i64,
        page_size: i64,
    ) -> Result<SmsPage, CcError> {
        let filter = SmsFilter { staff: staff.map(str::to_string), status: status.map(|s| s.as_str().to_string()) };
        let page = page.max(1);
        let page_size = page_size.clamp(1, 500);
        let (total, rows) = self.db.sms_messages(tenant, &filter, page, page_size).await?;
        Ok(SmsPage { total, page, page_size, items: rows.into_iter().map(SmsMessage::from).collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_known_placeholders_once() {
        assert_eq!(
            fill_template("{name}您好，{staff}为您服务，号码{telephone}。{other}{", "张三", "13800000001", "1001"),
            "张三您好，1001为您服务，号码13800000001。{other}{"
        );
        // A value that looks like a placeholder is not filled again.
        assert_eq!(fill_template("{name}/{telephone}", "{telephone}", "1", "s"), "{telephone}/1");
    }

    #[test]
    fn numbers_are_cleaned_and_checked() {
        assert_eq!(clean_number("138 0000-0001").unwrap(), "13800000001");
        assert_eq!(clean_number("+8613800000001").unwrap(), "+8613800000001");
        assert!(clean_number("12").is_err());
        assert!(clean_number("1380000000a").is_err());
        assert!(clean_number("++86138").is_err());
    }

    #[test]
    fn do_not_call_forms_cover_the_country_code() {
        assert_eq!(
            barred_forms("+8613800000001"),
            ["+8613800000001", "13800000001", "008613800000001", "8613800000001"]
        );
        assert_eq!(barred_forms("+85261234567"), ["+85261234567"]);
    }
}
