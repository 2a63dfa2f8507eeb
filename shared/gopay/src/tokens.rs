//! The authorisation service's tokens: `GET /api/login/app` (app token), `POST /api/token`
//! (authorization-code and refresh-token grants), `POST /api/revoke`, and error bodies.
//!
//! Every token, code and secret is a [`Secret`]; request bodies and `Authorization` header
//! values that embed them are `Secret` too, so building a request can't leak one into a log.
//! GoPay's refresh token ROTATES: each successful refresh answers a new refresh token and kills
//! the one sent. Callers must persist [`ClientTokens::refresh_token`] before anything else.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::error::GoPayError;
use super::identification::ClientProfileId;
use kyc_core::redact::{Personal, Secret};

/// A client access token lives 60 minutes (reference: "aktivní po dobu 60 minut").
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::minutes(60);
/// `application/x-www-form-urlencoded`, the body type of `/api/token` and `/api/revoke`.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The subscriber's (our) credentials at GoPay.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    /// Our client id.
    pub client_id: String,
    /// Our client secret.
    pub client_secret: Secret,
}

impl ClientCredentials {
    /// Credentials of `client_id` and `client_secret`.
    pub fn new(client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
        }
    }

    /// `Authorization: Basic base64(ClientID:ClientSecret)` for `GET /api/login/app`.
    pub fn basic_authorization(&self) -> Secret {
        let raw = format!("{}:{}", self.client_id, self.client_secret.expose());
        Secret::new(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

/// `Authorization: Bearer <token>`.
pub fn bearer_authorization(token: &Secret) -> Secret {
    Secret::new(format!("Bearer {}", token.expose()))
}

/// A form-encoded request body that carries secrets: redacted in `Debug`, read with
/// [`FormBody::expose`] only when sending.
#[derive(Debug, Clone)]
pub struct FormBody(Secret);

impl FormBody {
    /// `application/x-www-form-urlencoded`.
    pub fn content_type(&self) -> &'static str {
        FORM_CONTENT_TYPE
    }
    /// The body, to send.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

/// The two grants of `POST /api/token`.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// The `code` from the consent redirect (lives 10 minutes, single use).
    AuthorizationCode(&'a Secret),
    /// The newest refresh token (single use: it is replaced by the answer's).
    RefreshToken(&'a Secret),
}

impl Grant<'_> {
    /// The grant's `grant_type`.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Grant::AuthorizationCode(_) => "authorization_code",
            Grant::RefreshToken(_) => "refresh_token",
        }
    }
}

/// The body of `POST /api/token` for a grant.
pub fn token_request_body(credentials: &ClientCredentials, grant: Grant<'_>) -> FormBody {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("client_id", &credentials.client_id);
    form.append_pair("client_secret", credentials.client_secret.expose());
    form.append_pair("grant_type", grant.grant_type());
    match grant {
        Grant::AuthorizationCode(code) => form.append_pair("code", code.expose()),
        Grant::RefreshToken(token) => form.append_pair("refresh_token", token.expose()),
    };
    FormBody(Secret::new(form.finish()))
}

/// The body of `POST /api/revoke` (disconnects the profile; `token` is the refresh token).
pub fn revoke_request_body(credentials: &ClientCredentials, refresh_token: &Secret) -> FormBody {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("client_id", &credentials.client_id);
    form.append_pair("client_secret", credentials.client_secret.expose());
    form.append_pair("token", refresh_token.expose());
    FormBody(Secret::new(form.finish()))
}

fn object<'a>(
    context: &'static str,
    value: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, GoPayError> {
    value.as_object().ok_or(GoPayError::NotAnObject { context })
}

/// A non-empty string under the documented camelCase key or its OAuth snake_case spelling.
fn secret_field(
    context: &'static str,
    obj: &serde_json::Map<String, Value>,
    field: &'static str,
    alias: &str,
) -> Result<Secret, GoPayError> {
    match obj.get(field).or_else(|| obj.get(alias)) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Secret::new(s.trim().to_string())),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            Err(GoPayError::MissingField { context, field })
        }
        Some(_) => Err(GoPayError::InvalidField {
            context,
            field,
            reason: "not a string",
        }),
    }
}

/// `GET /api/login/app` → `{accessToken}`: the app token (client-credentials flow). Used for
/// the prefill call and for PDFs of profiles whose consent was given in the past.
#[derive(Debug, Clone)]
pub struct AppToken {
    /// The app token.
    pub access_token: Secret,
}

impl AppToken {
    /// Reads the answer of `GET /api/login/app`.
    pub fn parse(body: &[u8]) -> Result<Self, GoPayError> {
        const CONTEXT: &str = "app-token";
        let value: Value =
            serde_json::from_slice(body).map_err(|e| GoPayError::json(CONTEXT, &e))?;
        let obj = object(CONTEXT, &value)?;
        Ok(Self {
            access_token: secret_field(CONTEXT, obj, "accessToken", "access_token")?,
        })
    }
}

/// `POST /api/token` → `{accessToken, refreshToken, clientProfileId}` (both grants).
#[derive(Debug, Clone)]
pub struct ClientTokens {
    /// The access token.
    pub access_token: Secret,
    /// The NEW refresh token; the one sent is dead once this answer was produced.
    pub refresh_token: Secret,
    /// The profile the tokens are for.
    pub client_profile_id: ClientProfileId,
    /// When the access token stops working: the request's send time + 60 minutes, or sooner
    /// if the answer states a shorter `expiresIn`/`expires_in` (seconds).
    pub access_expires_at: DateTime<Utc>,
}

impl ClientTokens {
    /// Parses a token answer. `requested_at` is the instant the request was SENT: GoPay
    /// gives no expiry, and counting from the send time errs on the early side.
    pub fn parse(body: &[u8], requested_at: DateTime<Utc>) -> Result<Self, GoPayError> {
        const CONTEXT: &str = "token";
        let value: Value =
            serde_json::from_slice(body).map_err(|e| GoPayError::json(CONTEXT, &e))?;
        let obj = object(CONTEXT, &value)?;
        let access_token = secret_field(CONTEXT, obj, "accessToken", "access_token")?;
        let refresh_token = secret_field(CONTEXT, obj, "refreshToken", "refresh_token")?;
        let client_profile_id = ClientProfileId::from_json(
            CONTEXT,
            obj.get("clientProfileId")
                .or_else(|| obj.get("client_profile_id")),
        )?;
        let mut lifetime = ACCESS_TOKEN_LIFETIME;
        if let Some(secs) = obj
            .get("expiresIn")
            .or_else(|| obj.get("expires_in"))
            .and_then(Value::as_i64)
        {
            if secs > 0 {
                lifetime = lifetime.min(Duration::seconds(secs));
            }
        }
        Ok(Self {
            access_token,
            refresh_token,
            client_profile_id,
            access_expires_at: requested_at + lifetime,
        })
    }

    /// Fails unless the answer is for the profile whose refresh token was sent.
    pub fn ensure_profile(&self, expected: &ClientProfileId) -> Result<(), GoPayError> {
        if &self.client_profile_id == expected {
            Ok(())
        } else {
            Err(GoPayError::ProfileMismatch {
                expected: expected.to_string(),
                actual: self.client_profile_id.to_string(),
            })
        }
    }
}

/// Keeps a value only if it looks like an identifier or a code (so free text, which may echo
/// submitted personal data, is never kept in clear).
fn code_like(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b)) =>
        {
            Some(s.clone())
        }
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn personal_text(v: Option<&Value>) -> Option<Personal<String>> {
    v.and_then(Value::as_str)
        .map(|s| Personal::new(s.to_string()))
}

/// One entry of an `errors[]` list (GoPay's REST error layout).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorItem {
    /// `scope`.
    pub scope: Option<String>,
    /// `field`.
    pub field: Option<String>,
    /// `error_code`.
    pub error_code: Option<i64>,
    /// `error_name`.
    pub error_name: Option<String>,
    /// Free text: may echo submitted values, so redacted.
    pub message: Option<Personal<String>>,
    /// `description`: free text, so redacted.
    pub description: Option<Personal<String>>,
}

/// A GoPay error body, read leniently in both layouts seen from OAuth servers and GoPay's REST
/// APIs: `{"error": "...", "error_description": "..."}` and
/// `{"errors": [{"scope", "field", "error_code", "error_name", "message", "description"}]}`.
/// Never fails: a body that is not JSON gives an empty value with `parsed == false`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoPayErrorBody {
    /// False when the body was not JSON.
    pub parsed: bool,
    /// OAuth `error` code (`invalid_grant`, `invalid_client`, ...), only if code-like.
    pub error: Option<String>,
    /// OAuth `error_description`: free text, so redacted.
    pub error_description: Option<Personal<String>>,
    /// REST `errors[]`.
    pub errors: Vec<ErrorItem>,
}

impl GoPayErrorBody {
    /// Reads a body; never fails (see the type).
    pub fn parse(body: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Self::default();
        };
        let Some(obj) = value.as_object() else {
            return Self {
                parsed: true,
                ..Self::default()
            };
        };
        let errors = obj
            .get("errors")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|item| ErrorItem {
                        scope: code_like(item.get("scope")),
                        field: code_like(item.get("field")),
                        error_code: item
                            .get("error_code")
                            .or_else(|| item.get("errorCode"))
                            .and_then(Value::as_i64),
                        error_name: code_like(
                            item.get("error_name").or_else(|| item.get("errorName")),
                        ),
                        message: personal_text(item.get("message")),
                        description: personal_text(item.get("description")),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            parsed: true,
            error: code_like(obj.get("error")),
            error_description: personal_text(
                obj.get("error_description")
                    .or_else(|| obj.get("errorDescription")),
            ),
            errors,
        }
    }

    /// The OAuth code or any `error_name`, case-insensitively.
    pub fn has_code(&self, code: &str) -> bool {
        self.error
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(code))
            || self.errors.iter().any(|e| {
                e.error_name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(code))
            })
    }
}

/// What a failed `/api/token` call means for the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFailure {
    /// The grant (refresh token or code) is dead: expired, used, revoked. For a refresh token
    /// the consent is LOST: the profile needs a new consent (loudly).
    GrantRejected,
    /// Our client credentials were refused (`invalid_client`): a configuration problem that
    /// concerns every profile. Never mark profiles as needing consent for this.
    ClientRejected,
    /// 409: GoPay calls it a validation error; our request is malformed. Not retried blindly,
    /// and not taken as a lost consent.
    Validation,
    /// Timeouts, 408, 425, 429, 5xx: retry later with backoff. Beware: GoPay may have rotated
    /// the token before failing, in which case the next refresh with the old token is rejected.
    Transient,
    /// A 400/401/403 that is not about the grant: a bare or non-JSON body (a WAF or proxy
    /// page), or a GoPay error naming something else. Proves nothing about the token: retried
    /// with backoff and alerted, never taken as a lost consent.
    Unrecognized,
    /// Anything else (404: wrong host or path; other codes): alert, keep the token.
    Unexpected,
}

/// Whether a parsed error body is about the grant itself: OAuth `error=invalid_grant`, or
/// GoPay's REST layout naming `invalid_grant` or the grant field (`refresh_token`, `code`).
pub fn is_about_grant(body: &GoPayErrorBody) -> bool {
    body.parsed
        && (body.has_code("invalid_grant")
            || body.errors.iter().any(|e| {
                e.field
                    .as_deref()
                    .is_some_and(|f| ["refresh_token", "refreshToken", "code"].contains(&f))
            }))
}

/// Classifies a non-2xx answer of `/api/token`. The reference lists 403 (unauthorised), 404,
/// 409 (validation) and 500; OAuth servers also use 400/401 with an `error` code. Rule: only an
/// answer ABOUT the grant ([`is_about_grant`]) condemns it; `invalid_client` anywhere means
/// our credentials; a bare, HTML or otherwise unrelated 400/401/403 proves nothing
/// ([`TokenFailure::Unrecognized`]); 409 is a validation error.
pub fn classify_token_failure(status: u16, body: &GoPayErrorBody) -> TokenFailure {
    if matches!(status, 408 | 425 | 429) || (500..=599).contains(&status) {
        return TokenFailure::Transient;
    }
    if !(400..=499).contains(&status) {
        return TokenFailure::Unexpected;
    }
    if body.has_code("invalid_client") || body.has_code("unauthorized_client") {
        return TokenFailure::ClientRejected;
    }
    if is_about_grant(body) {
        return TokenFailure::GrantRejected;
    }
    match status {
        400 | 401 | 403 => TokenFailure::Unrecognized,
        409 => TokenFailure::Validation,
        _ => TokenFailure::Unexpected,
    }
}

/// Last-resort reading of a 2xx token answer that [`ClientTokens::parse`] refused: the two
/// tokens under their documented or OAuth names, at the top level or one object deeper (an
/// envelope such as `{"data": {...}}`). The profile is the one the refresh was sent for.
pub fn recover_tokens(
    body: &[u8],
    profile: &ClientProfileId,
    requested_at: DateTime<Utc>,
) -> Result<ClientTokens, GoPayError> {
    const CONTEXT: &str = "token (recovery)";
    let value: Value = serde_json::from_slice(body).map_err(|e| GoPayError::json(CONTEXT, &e))?;
    let obj = object(CONTEXT, &value)?;
    let candidates = std::iter::once(obj).chain(obj.values().filter_map(Value::as_object));
    for candidate in candidates {
        let access = secret_field(CONTEXT, candidate, "accessToken", "access_token");
        let refresh = secret_field(CONTEXT, candidate, "refreshToken", "refresh_token");
        if let (Ok(access_token), Ok(refresh_token)) = (access, refresh) {
            return Ok(ClientTokens {
                access_token,
                refresh_token,
                client_profile_id: profile.clone(),
                access_expires_at: requested_at + ACCESS_TOKEN_LIFETIME,
            });
        }
    }
    Err(GoPayError::MissingField {
        context: CONTEXT,
        field: "refreshToken",
    })
}
