//! HTTP messages free of Lambda and client-library types, so the rules are tested without a
//! runtime or a network:
//! - [`HttpRequest`]/[`HttpResponse`]: what every endpoint of ours handles (Xpollens callbacks,
//!   GoPay consent, read API); [`super::lambda`] converts them from and to API Gateway's.
//! - [`HttpAnswer`]/[`TransportError`]: what a provider API's transport (GoPay, Xpollens)
//!   gives back to the typed calls.

use serde_json::Value;
use std::net::IpAddr;

/// One request to an endpoint of ours.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// The HTTP method, upper case.
    pub method: String,
    /// The raw (percent-encoded) path.
    pub path: String,
    /// Header names in any case.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The raw query string, without `?`.
    pub query: String,
    /// The caller's address as API Gateway saw it.
    pub source_ip: Option<IpAddr>,
    /// What API Gateway attests about the caller (JWT authorizer claims, mTLS certificate).
    pub gateway: crate::callback_auth::GatewayAttestation,
}

impl HttpRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What an endpoint of ours answers.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// Headers to send, by name.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
    /// The error code of a 4xx answer (`malformed_json`, `unauthorized`...): the metrics'
    /// `Reason`. Not sent.
    pub refusal: Option<&'static str>,
}

impl HttpResponse {
    /// A JSON answer.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            refusal: None,
        }
    }

    /// The same answer with one more header.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// One answer of a provider's API. The body may hold tokens or personal data: never logged.
pub struct HttpAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The raw body.
    pub body: Vec<u8>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

impl std::fmt::Debug for HttpAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpAnswer({}, {} bytes)", self.status, self.body.len())
    }
}

/// A request that got no HTTP answer (connect error, timeout). The message names no URL
/// query or header, so it is safe to log.
#[derive(Debug, Clone, thiserror::Error)]
#[error("transport: {0}")]
pub struct TransportError(pub String);

/// A percent-encoded path segment (a customer id in `/customers/{id}/...`) → its text;
/// `None` for a malformed escape or bytes that are not UTF-8.
pub fn percent_decode_segment(s: &str) -> Option<String> {
    let escapes_well_formed = s.split('%').skip(1).all(|after| {
        after
            .as_bytes()
            .get(..2)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|d| d.into_owned())
}
