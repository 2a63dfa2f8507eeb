//! The request and answer every HTTP endpoint of ours handles (Xpollens callbacks, GoPay
//! consent, read API), free of Lambda types so the rules are tested without a runtime;
//! [`super::lambda`] converts them from and to API Gateway's once for every function.

use serde_json::Value;
use std::net::IpAddr;

#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    /// The raw (percent-encoded) path.
    pub path: String,
    /// Header names in any case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The raw query string, without `?`.
    pub query: String,
    pub source_ip: Option<IpAddr>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl HttpResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}
