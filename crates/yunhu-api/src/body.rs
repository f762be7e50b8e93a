//! Request parameters as the REST dialects take them: from the query string and from a form,
//! JSON or XML body, flattened to name → text. XML with a DOCTYPE or entity references is refused
//! (no entity expansion, no external fetches).

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use quick_xml::events::Event;
use std::collections::BTreeMap;

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// Largest request body the API reads.
pub const MAX_BODY: usize = 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

const TOO_LARGE: &str = "request body too large: at most 1048576 bytes";

impl BodyError {
    /// A body over [`MAX_BODY`].
    pub fn too_large() -> Self {
        BodyError(TOO_LARGE.into())
    }

    /// Whether the body was over [`MAX_BODY`] (HTTP 413 where a dialect answers with statuses).
    pub fn is_too_large(&self) -> bool {
        self.0 == TOO_LARGE
    }
}

/// A request body of at most [`MAX_BODY`] bytes, or why it could not be read. It never rejects a
/// request, so every dialect answers a body it cannot read in its own envelope (axum's own
/// rejection is plain text).
pub struct RawBody(pub Result<Bytes, BodyError>);

impl<S: Send + Sync> axum::extract::FromRequest<S> for RawBody {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let read = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                BodyError::too_large()
            } else {
                BodyError(format!("request body could not be read: {}", e.body_text()))
            }
        });
        Ok(RawBody(read))
    }
}

/// Flattened request parameters.
#[derive(Debug, Clone, Default)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// Query parameters first, then body parameters over them; a `multipart/form-data` body
    /// gives its text fields (file fields are for the endpoints that take files).
    pub async fn parse(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Result<Params, BodyError> {
        let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
            return Self::parse_plain(query, headers, body);
        }
        let mut params = Self::parse_plain(query, &HeaderMap::new(), &Bytes::new())?;
        let request = axum::http::Request::builder()
            .header(CONTENT_TYPE, ct)
            .body(axum::body::Body::from(body.clone()))
            .map_err(|e| BodyError(e.to_string()))?;
        use axum::extract::FromRequest;
        let mut form = axum::extract::Multipart::from_request(request, &())
            .await
            .map_err(|e| BodyError(format!("multipart body is not valid: {e}")))?;
        let bad = |e: axum::extract::multipart::MultipartError| BodyError(format!("multipart body is not valid: {e}"));
        while let Some(field) = form.next_field().await.map_err(bad)? {
            let (Some(name), None) = (field.name().map(str::to_string), field.file_name()) else { continue };
            let value = field.text().await.map_err(bad)?;
            params.0.insert(name, value);
        }
        params.check_controls()?;
        Ok(params)
    }

    /// [`Params::parse`] of a body read by [`RawBody`], its read error first.
    pub async fn read(query: Option<&str>, headers: &HeaderMap, body: &RawBody) -> Result<Params, BodyError> {
        match &body.0 {
            Ok(bytes) => Self::parse(query, headers, bytes).await,
            Err(e) => Err(e.clone()),
        }
    }

    fn check_controls(&self) -> Result<(), BodyError> {
        // Control characters have no business in a parameter and some databases refuse them.
        if let Some((k, _)) = self.0.iter().find(|(_, v)| v.chars().any(|c| c.is_control() && c != '\n' && c != '\t')) {
            return Err(BodyError(format!("parameter {k} contains control characters")));
        }
        Ok(())
    }

    fn parse_plain(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Result<Params, BodyError> {
        let mut map = BTreeMap::new();
        if let Some(q) = query {
            for (k, v) in form_urlencoded(q.as_bytes()) {
                map.insert(k, v);
            }
        }
        if !body.iter().all(u8::is_ascii_whitespace) {
            let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
            let pairs = if ct.contains("json") {
                json_pairs(body)?
            } else if ct.contains("xml") {
                xml_pairs(body)?
            } else if ct.is_empty() || ct.contains("x-www-form-urlencoded") || ct.starts_with("text/plain") {
                form_urlencoded(body)
            } else {
                return Err(BodyError(format!("unsupported Content-Type {ct}")));
            };
            map.extend(pairs);
        }
        let params = Params(map);
        params.check_controls()?;
        Ok(params)
    }

    /// A parameter's trimmed value; empty counts as absent.
    /// The access token a request carries: its `access_token` parameter, else the bearer token of
    /// its `Authorization` header.
    pub fn access_token(&self, headers: &HeaderMap) -> Option<String> {
        self.get("access_token").map(str::to_string).or_else(|| bearer(headers))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }
}

fn form_urlencoded(raw: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && i + 2 < bytes.len()
                && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
            {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(raw)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k.trim()), decode(v))
        })
        .collect()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn json_pairs(body: &[u8]) -> Result<Vec<(String, String)>, BodyError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| BodyError(format!("JSON body is not valid: {e}")))?;
    let serde_json::Value::Object(obj) = value else {
        return Err(BodyError("JSON body must be an object".into()));
    };
    obj.into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| match i {
                        serde_json::Value::String(s) => Ok(s.clone()),
                        serde_json::Value::Number(n) => Ok(n.to_string()),
                        _ => Err(BodyError(format!("{k}: list items must be strings or numbers"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                serde_json::Value::Object(_) => return Err(BodyError(format!("{k} must not be an object"))),
            };
            Ok((k, text))
        })
        .collect()
}

/// Reads `<root><name>value</name>...</root>`; repeated children join with commas.
fn xml_pairs(body: &[u8]) -> Result<Vec<(String, String)>, BodyError> {
    let text = std::str::from_utf8(body).map_err(|_| BodyError("XML body must be UTF-8".into()))?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut depth = 0usize;
    let mut current: Option<String> = None;
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let bad = |e: quick_xml::Error| BodyError(format!("XML body is not valid: {e}"));
    loop {
        match reader.read_event().map_err(bad)? {
            Event::DocType(_) => return Err(BodyError("XML with a DOCTYPE is refused".into())),
            Event::PI(_) => return Err(BodyError("XML processing instructions are refused".into())),
            Event::Start(e) => {
                depth += 1;
                if depth == 2 {
                    current = Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                } else if depth > 2 {
                    return Err(BodyError("XML body must be flat: <root><name>value</name></root>".into()));
                }
            }
            Event::Empty(e) if depth == 1 => {
                out.entry(String::from_utf8_lossy(e.local_name().as_ref()).into_owned()).or_default();
            }
            Event::Text(t) => {
                let v = t.unescape().map_err(|e| BodyError(format!("XML entities are refused: {e}")))?.into_owned();
                if let (2, Some(name)) = (depth, &current) {
                    let slot = out.entry(name.clone()).or_default();
                    if !slot.is_empty() {
                        slot.push(',');
                    }
                    slot.push_str(&v);
                }
            }
            Event::CData(c) => {
                if let (2, Some(name)) = (depth, &current) {
                    out.entry(name.clone()).or_default().push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::End(_) => {
                if depth == 2
                    && let Some(name) = current.take()
                {
                    out.entry(name).or_default();
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(BodyError("XML body is not closed".into()));
    }
    Ok(out.into_iter().collect())
}

/// Writes a JSON value as XML under `root`, the way Java XML mappers do: object fields become
/// elements in order, a list becomes a wrapper element holding one element of the same name per
/// item, null becomes an empty element.
pub fn to_xml(root: &str, value: &serde_json::Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    write_xml(&mut out, root, value);
    out
}

fn write_xml(out: &mut String, name: &str, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        Value::Array(items) => {
            out.push_str(&format!("<{name}>"));
            for item in items {
                write_xml(out, name, item);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::Object(fields) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in fields {
                write_xml(out, k, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Value::String(s) => out.push_str(&format!("<{name}>{}</{name}>", quick_xml::escape::escape(s.as_str()))),
        Value::Bool(b) => out.push_str(&format!("<{name}>{b}</{name}>")),
        Value::Number(n) => out.push_str(&format!("<{name}>{n}</{name}>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ct: &str, body: &str) -> Result<Params, BodyError> {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, ct.parse().unwrap());
        Params::parse_plain(Some("a=1&b=x%20y"), &h, &Bytes::from(body.to_string()))
    }

    #[tokio::test]
    async fn reads_the_text_fields_of_multipart_form_data() {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, "multipart/form-data; boundary=XyZ".parse().unwrap());
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"service\"\r\n\r\nApp.Sip_Cdr.GetBill\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.csv\"\r\n\r\n1,2\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\n张三\r\n--XyZ--\r\n";
        let p = Params::parse(Some("a=1&b=q"), &h, &Bytes::from(body)).await.unwrap();
        assert_eq!(
            (p.get("service"), p.get("a"), p.get("b"), p.get("f")),
            (Some("App.Sip_Cdr.GetBill"), Some("1"), Some("张三"), None)
        );
        h.insert(CONTENT_TYPE, "multipart/form-data; boundary=XyZ".parse().unwrap());
        let control = "--XyZ\r\nContent-Disposition: form-data; name=\"c\"\r\n\r\na\u{1}b\r\n--XyZ--\r\n";
        assert!(Params::parse(None, &h, &Bytes::from(control)).await.is_err());
    }

    #[test]
    fn merges_query_and_each_body_kind() {
        let p = parse("application/x-www-form-urlencoded", "c=%E5%BC%A0%E4%B8%89&b=z").unwrap();
        assert_eq!((p.get("a"), p.get("b"), p.get("c")), (Some("1"), Some("z"), Some("张三")));
        let p = parse("application/json;charset=utf-8", r#"{"c":5,"d":["1","2"],"e":true}"#).unwrap();
        assert_eq!((p.get("c"), p.get("d"), p.get("e")), (Some("5"), Some("1,2"), Some("true")));
        let p = parse("application/xml;charset=utf-8", "<data><c>a&amp;b</c><d/><e>1</e><e>2</e></data>").unwrap();
        assert_eq!((p.get("c"), p.get("d"), p.get("e")), (Some("a&b"), None, Some("1,2")));
    }

    #[test]
    fn refuses_doctype_entities_and_garbage() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d><c>&x;</c></d>"#;
        assert!(parse("application/xml", xxe).unwrap_err().0.contains("DOCTYPE"));
        assert!(parse("application/xml", "<d><c>&x;</c></d>").unwrap_err().0.contains("entities"));
        assert!(parse("application/json", "{").is_err());
        assert!(parse("application/json", "[1]").is_err());
        assert!(parse("application/xml", "<d><c><e>1</e></c></d>").is_err());
        assert!(parse("image/png", "x").is_err());
        assert!(parse("application/x-www-form-urlencoded", "codeid_1=%00").unwrap_err().0.contains("codeid_1"));
    }

    #[test]
    fn writes_xml_like_java_mappers() {
        let v = serde_json::json!({"data": {"pageData": [{"a": 1}, {"a": null}], "total": 2}, "code": 0, "message": "<成功>"});
        assert_eq!(
            to_xml("Result", &v),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Result><data><pageData><pageData><a>1</a></pageData>\
             <pageData><a/></pageData></pageData><total>2</total></data><code>0</code><message>&lt;成功&gt;</message></Result>"
        );
    }
}
