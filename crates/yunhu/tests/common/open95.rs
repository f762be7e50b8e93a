//! An open95 client of one tenant for the tests, and the checks of the three answer shapes.

use super::{Answer, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::io::Write;

/// A client of one tenant, holding its token.
pub struct Client<'a> {
    pub app: &'a TestApp,
    pub token: String,
}

impl<'a> Client<'a> {
    pub async fn new(app: &'a TestApp, id: &str, secret: &str) -> Client<'a> {
        Client { app, token: app.token(id, secret, None).await }
    }

    /// GET with query parameters, or another method with a form body.
    pub async fn call(&self, method: Method, path: &str, params: &[(&str, &str)]) -> Answer {
        let req = self.app.http.request(method.clone(), self.app.url(path)).bearer_auth(&self.token);
        let req = if method == Method::GET { req.query(params) } else { req.form(params) };
        self.app.send(req).await
    }

    pub async fn get(&self, path: &str, params: &[(&str, &str)]) -> Answer {
        self.call(Method::GET, path, params).await
    }

    pub async fn json(&self, method: Method, path: &str, body: Value) -> Answer {
        let req = self.app.http.request(method, self.app.url(path)).bearer_auth(&self.token).json(&body);
        self.app.send(req).await
    }

    /// POST multipart/form-data with text fields only, written out as the seed's examples are.
    pub async fn multipart(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.multipart_files(path, fields, &[]).await
    }

    /// POST multipart/form-data with text fields and file parts `(field, file name, bytes)`.
    pub async fn multipart_files(&self, path: &str, fields: &[(&str, &str)], files: &[(&str, &str, &[u8])]) -> Answer {
        let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").unwrap();
        }
        for (name, file_name, bytes) in files {
            write!(
                body,
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .unwrap();
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        write!(body, "--{boundary}--\r\n").unwrap();
        let req = self
            .app
            .http
            .post(self.app.url(path))
            .bearer_auth(&self.token)
            .header("Content-Type", format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        self.app.send(req).await
    }
}

/// A success envelope; its JSON.
#[track_caller]
pub fn ok(a: &Answer) -> Value {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert_eq!(
        (v["code"].as_i64(), v["message"].as_str(), v["success"].as_bool()),
        (Some(0), Some("成功"), Some(true)),
        "{v}"
    );
    v
}

/// A business error (10101, HTTP 200); its message.
#[track_caller]
pub fn refused(a: &Answer) -> String {
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    let v = a.json();
    assert_eq!((v["code"].as_i64(), v["success"].as_bool()), (Some(10101), Some(false)), "{v}");
    assert!(v.get("data").is_none(), "{v}");
    v["message"].as_str().unwrap().to_string()
}

/// A parameter error (1001, HTTP 400); its message.
#[track_caller]
pub fn bad_param(a: &Answer) -> String {
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.text);
    let v = a.json();
    assert_eq!((v["code"].as_i64(), v["success"].as_bool()), (Some(1001), Some(false)), "{v}");
    v["message"].as_str().unwrap().to_string()
}
