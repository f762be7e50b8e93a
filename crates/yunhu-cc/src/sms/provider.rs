//! The provider interface: one text to one number, the provider's message id or why not.

use super::aliyun::Aliyun;
use super::tencent::Tencent;
use super::webhook::Webhook;
use chrono::{DateTime, Utc};

/// One message on its way to a provider.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Our id of the message (the webhook's `id`, Aliyun's `OutId`, Tencent's `SessionContext`).
    pub id: i64,
    /// The tenant's corp id.
    pub tenant: &'a str,
    /// The staff account sending it.
    pub staff: &'a str,
    /// The number, as the agent gave it.
    pub telephone: &'a str,
    /// The text.
    pub text: &'a str,
}

/// Why a provider did not take a message: what it answered, or that it could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SendError(pub String);

impl SendError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// An SMS provider with a tenant's settings.
#[derive(Debug, Clone)]
pub enum Provider {
    /// Aliyun `SendSms`.
    Aliyun(Aliyun),
    /// Tencent Cloud `SendSms`.
    Tencent(Tencent),
    /// A signed HTTPS webhook of the tenant's own.
    Webhook(Webhook),
}

impl Provider {
    /// Sends `msg`, signing with the time `now`; the provider's id of the message.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        msg: &Outgoing<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, SendError> {
        match self {
            Provider::Aliyun(p) => p.send(http, msg, now).await,
            Provider::Tencent(p) => p.send(http, msg, now).await,
            Provider::Webhook(p) => p.send(http, msg, now).await,
        }
    }
}

/// A number split by where it is: Chinese numbers without the country code, others as country
/// code and number without `+` or `00`.
pub(crate) enum Number<'a> {
    /// A Chinese number, national form.
    China(&'a str),
    /// Another country's number, with its country code.
    Abroad(&'a str),
}

/// Where `telephone` is: `+86…`, `0086…` and 13-digit `861…` are Chinese, other `+`/`00` numbers
/// are abroad, and numbers without a country code are Chinese.
pub(crate) fn country(telephone: &str) -> Number<'_> {
    let international = telephone.strip_prefix('+').or_else(|| telephone.strip_prefix("00"));
    match international {
        Some(n) => match n.strip_prefix("86") {
            Some(national) => Number::China(national),
            None => Number::Abroad(n),
        },
        None if telephone.len() == 13 && telephone.starts_with("861") => Number::China(&telephone[2..]),
        None => Number::China(telephone),
    }
}

/// The first 200 characters of a provider's answer, for error messages.
pub(crate) fn clip(text: &str) -> String {
    let clipped: String = text.chars().take(200).collect();
    if clipped.len() < text.len() { format!("{clipped}…") } else { clipped }
}

/// A provider's answer as text, at most 64 KiB of it.
pub(crate) async fn read_capped(mut resp: reqwest::Response) -> Result<String, SendError> {
    const CAP: usize = 64 * 1024;
    let mut body = Vec::new();
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| SendError::new(format!("reading the provider's answer: {e}")))?
    {
        let room = CAP - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= CAP {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(n: Number<'_>) -> String {
        match n {
            Number::China(n) => format!("cn {n}"),
            Number::Abroad(n) => format!("abroad {n}"),
        }
    }

    #[test]
    fn numbers_are_told_apart_by_country() {
        assert_eq!(show(country("13800000001")), "cn 13800000001");
        assert_eq!(show(country("+8613800000001")), "cn 13800000001");
        assert_eq!(show(country("008613800000001")), "cn 13800000001");
        assert_eq!(show(country("8613800000001")), "cn 13800000001");
        assert_eq!(show(country("+85261234567")), "abroad 85261234567");
        assert_eq!(show(country("0085261234567")), "abroad 85261234567");
        assert_eq!(show(country("053541815")), "cn 053541815");
    }
}
