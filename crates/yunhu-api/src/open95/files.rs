//! Number file endpoints (seed 002 §6.3.2 号码文件): upload (multipart), search, download, rename,
//! delete; and the file parts of the task endpoints that take them (`importFile`).
//!
//! Files are named by `fileName` everywhere, as the seed does; the name is looked up in the
//! tenant's own files, so another tenant's file is simply not found. The rules (formats, limits,
//! the zip bomb checks) live in `yunhu_cc::numberfile`.

use super::{Ctx, Open95Error};
use crate::body::Params;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use yunhu_cc::numberfile::{Format, MAX_FILE_BYTES, NumberList};

/// Largest body of an endpoint that takes a file: the file and room for the other fields.
pub(super) const MAX_UPLOAD_BODY: usize = MAX_FILE_BYTES + 1024 * 1024;

/// Most files a search lists.
const MAX_LISTED: i64 = 1_000;

/// A file part of a multipart body.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    /// The form field it came in.
    pub field: String,
    /// Its file name, without any folders a browser put in front.
    pub file_name: String,
    /// Its bytes.
    pub bytes: Bytes,
}

fn bad_body(e: impl std::fmt::Display) -> Open95Error {
    Open95Error::param(format!("multipart 请求体无法解析 (multipart body is not valid: {e})"))
}

/// Reads a multipart body whole: its text fields over the query's parameters, and its file parts.
/// `Params::parse` would do the text but skips files and holds the body to the small limit.
pub(super) async fn read_multipart(
    parts: &axum::http::request::Parts,
    body: &Bytes,
) -> Result<(Params, Vec<Upload>), Open95Error> {
    let mut params = Params::parse(parts.uri.query(), &Default::default(), &Bytes::new()).await?;
    let mut request = axum::http::Request::new(Body::from(body.clone()));
    *request.headers_mut() = parts.headers.clone();
    // The route's body limit rides in the extensions; without it the extractor caps at 2 MB.
    *request.extensions_mut() = parts.extensions.clone();
    let mut form = Multipart::from_request(request, &()).await.map_err(bad_body)?;
    let mut files = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad_body)? {
        let Some(name) = field.name().map(str::to_string) else { continue };
        match field.file_name().map(str::to_string) {
            Some(file_name) => {
                let file_name = file_name.rsplit(['/', '\\']).next().unwrap_or_default().to_string();
                let bytes = field.bytes().await.map_err(bad_body)?;
                // A browser sends an empty, unnamed part for a file input left empty.
                if !(file_name.is_empty() && bytes.is_empty()) {
                    files.push(Upload { field: name, file_name, bytes });
                }
            }
            None => {
                let value = field.text().await.map_err(bad_body)?;
                if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return Err(Open95Error::param(format!(
                        "参数 {name} 含控制字符 (parameter {name} contains control characters)"
                    )));
                }
                params.0.insert(name, value);
            }
        }
    }
    Ok((params, files))
}

impl Ctx {
    /// The file part sent in `field`.
    fn upload(&self, field: &str) -> Option<&Upload> {
        self.files.iter().find(|f| f.field == field)
    }

    fn files_dir(&self) -> &std::path::Path {
        &self.state.files_dir
    }
}

/// A list of refused rows as the upload answer shows them.
fn report(list: &NumberList) -> Value {
    json!({
        "rows": list.rows,
        "numbers": list.numbers.len(),
        "duplicates": list.duplicates,
        "rejected": list.rejected_total,
        "rejectedRows": list.rejected.iter().map(|r| json!({"row": r.row, "value": r.value, "reason": r.reason}))
            .collect::<Vec<_>>(),
    })
}

/// `POST /files/upload` (multipart): the file in field `fileName`, as the seed's table names it
/// (any single file part is taken when a client names the field otherwise). The seed's answer is
/// the bare envelope; yunhu adds `data` with what was read (`name`, `size`, `rows`, `numbers`,
/// `duplicates`, `rejected` and the first refused rows) so a client learns why rows are missing.
pub(super) async fn upload(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let file = match ctx.upload("fileName") {
        Some(f) => f,
        None if ctx.files.len() == 1 => &ctx.files[0],
        None if ctx.files.is_empty() => {
            return Err(Open95Error::param(
                "缺少文件：请在 multipart 字段 fileName 中上传号码文件 (missing file: send it in multipart field fileName)",
            ));
        }
        None => {
            return Err(Open95Error::param("多个文件且没有 fileName 字段 (several files and none in field fileName)"));
        }
    };
    let (stored, list) =
        ctx.svc.upload_number_file(&ctx.tenant, ctx.files_dir(), &file.file_name, file.bytes.to_vec()).await?;
    let mut data = report(&list);
    data["name"] = stored.name.into();
    data["size"] = stored.size.into();
    Ok(Some(data))
}

/// `GET /files/search`: the table asks `fileName` (with its extension); files whose name contains
/// it are listed, all of them when it is left out. The example prints `size` as a number, which
/// is kept; `directory` (in the example's second block) is always false; `targetURL` is this
/// server's download URL of the file.
pub(super) async fn search(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let files = ctx.svc.number_files(&ctx.tenant, ctx.optional("fileName"), MAX_LISTED).await?;
    let items: Vec<Value> = files
        .iter()
        .map(|f| {
            let path = format!("/files/download?fileName={}", percent(&f.name));
            json!({
                "name": f.name,
                "size": f.size,
                "lastModified": ctx.compact_time(f.updated_at),
                "createdDateTime": ctx.compact_time(f.created_at),
                "targetURL": crate::recordings::absolute(&ctx.headers, &path),
                "directory": false,
            })
        })
        .collect();
    Ok(Some(Value::Array(items)))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /files/download`: the file's bytes as uploaded (the seed's answer is "无", no envelope);
/// errors keep the envelope.
pub(super) async fn download(ctx: Ctx) -> Result<Response, Open95Error> {
    let name = ctx.required("fileName")?;
    let (file, bytes) = ctx.svc.number_file_bytes(&ctx.tenant, ctx.files_dir(), name).await?;
    let kind = Format::of(&file.name).map_or("application/octet-stream", Format::content_type);
    // An ASCII fallback name for old clients, the real one in RFC 6266's filename*.
    let fallback: String =
        file.name.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect();
    let disposition = format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", percent(&file.name));
    let mut resp = (StatusCode::OK, bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `PUT /files/rename`: `fileName` to `newName`, keeping the extension (it tells the format).
pub(super) async fn rename(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let name = ctx.required("fileName")?;
    let new_name = ctx.required("newName")?;
    ctx.svc.rename_number_file(&ctx.tenant, name, new_name).await?;
    Ok(None)
}

/// `DELETE /files/delete`. Tasks made from the file keep their numbers (they were copied).
pub(super) async fn remove(ctx: Ctx) -> Result<Option<Value>, Open95Error> {
    let name = ctx.required("fileName")?;
    ctx.svc.delete_number_file(&ctx.tenant, ctx.files_dir(), name).await?;
    Ok(None)
}

/// The numbers of `createType=file`: the file sent in multipart field `importFile`. A client
/// that sends `importFile` as text instead gets the uploaded file of that name, as with
/// `remoteFileName`.
pub(super) async fn import_file_numbers(ctx: &Ctx) -> Result<Vec<(String, String)>, Open95Error> {
    let list = match (ctx.upload("importFile"), ctx.optional("importFile")) {
        (Some(file), _) => ctx.svc.parse_number_file(&file.file_name, file.bytes.to_vec()).await?,
        (None, Some(name)) => ctx.svc.number_file_numbers(&ctx.tenant, ctx.files_dir(), name).await?,
        (None, None) => {
            return Err(Open95Error::param(
                "createType=file 时必须在 importFile 中上传文件 (createType=file needs the file in multipart field importFile)",
            ));
        }
    };
    Ok(list.numbers)
}

/// The numbers of `createType=remoteFile`: the uploaded file named by `remoteFileName`.
pub(super) async fn remote_file_numbers(ctx: &Ctx) -> Result<Vec<(String, String)>, Open95Error> {
    let name = ctx.required("remoteFileName")?;
    Ok(ctx.svc.number_file_numbers(&ctx.tenant, ctx.files_dir(), name).await?.numbers)
}
