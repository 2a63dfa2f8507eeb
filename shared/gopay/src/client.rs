//! Talking to GoPay: a raw transport trait (the reqwest adapter is `aws::http`; tests
//! can use the simulator through the same adapter) and [`GoPayApi`], the typed calls built on
//! the pure request/response rules of this module.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::consent::GoPayHosts;
use super::identification::{ClientProfileId, IdentificationStatus};
use super::prefill::parse_prefill_response;
use super::tokens::{
    bearer_authorization, classify_token_failure, revoke_request_body, token_request_body,
    AppToken, ClientCredentials, ClientTokens, FormBody, GoPayErrorBody, Grant, TokenFailure,
};
use super::GoPayError;
use kyc_core::redact::{Personal, Secret};

pub use kyc_core::http::{HttpAnswer, TransportError};

/// The requests GoPay's two hosts serve. Implementations send exactly what they are given.
#[async_trait]
pub trait GoPayTransport: Send + Sync {
    /// A GET with the given `Authorization`.
    async fn get(&self, url: &str, authorization: &Secret) -> Result<HttpAnswer, TransportError>;
    /// A form POST (token and revoke calls).
    async fn post_form(&self, url: &str, body: &FormBody) -> Result<HttpAnswer, TransportError>;
    /// A JSON POST with the given `Authorization` (prefill).
    async fn post_json(
        &self,
        url: &str,
        authorization: &Secret,
        body: &Personal<Vec<u8>>,
    ) -> Result<HttpAnswer, TransportError>;
}

/// A failed typed call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The request did not get an answer.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A token call answered non-2xx, classified.
    #[error("token call answered HTTP {status} ({failure:?})")]
    Token {
        /// The HTTP status.
        status: u16,
        /// What the answer says of the token.
        failure: TokenFailure,
    },
    /// Any other call answered non-2xx.
    #[error("GoPay answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The answer is not what the reference documents.
    #[error(transparent)]
    Invalid(#[from] GoPayError),
}

impl CallError {
    /// Worth retrying later (transport, 408/425/429/5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            CallError::Transport(_) => true,
            CallError::Token { failure, .. } => *failure == TokenFailure::Transient,
            CallError::Status { status } => {
                matches!(status, 408 | 425 | 429) || (500..=599).contains(status)
            }
            CallError::Invalid(_) => false,
        }
    }
}

/// The typed GoPay calls.
pub struct GoPayApi<'a> {
    /// How requests are sent.
    pub transport: &'a dyn GoPayTransport,
    /// GoPay's hosts.
    pub hosts: &'a GoPayHosts,
    /// Our credentials at GoPay.
    pub credentials: &'a ClientCredentials,
}

fn ok(answer: &HttpAnswer) -> bool {
    (200..300).contains(&answer.status)
}

impl GoPayApi<'_> {
    /// A token call's 2xx body, unparsed (it holds the only live refresh token).
    async fn token_call_raw(&self, grant: Grant<'_>) -> Result<Secret<Vec<u8>>, CallError> {
        let body = token_request_body(self.credentials, grant);
        let answer = self
            .transport
            .post_form(&self.hosts.token_url(), &body)
            .await?;
        if !ok(&answer) {
            let failure =
                classify_token_failure(answer.status, &GoPayErrorBody::parse(&answer.body));
            return Err(CallError::Token {
                status: answer.status,
                failure,
            });
        }
        Ok(Secret::new(answer.body))
    }

    async fn token_call(
        &self,
        grant: Grant<'_>,
        now: DateTime<Utc>,
    ) -> Result<ClientTokens, CallError> {
        let raw = self.token_call_raw(grant).await?;
        Ok(ClientTokens::parse(raw.expose(), now)?)
    }

    /// `grant_type=refresh_token`, the 2xx answer NOT parsed: the caller keeps it (sealed)
    /// before parsing, because the token sent is dead once GoPay answered.
    pub async fn refresh_raw(&self, refresh_token: &Secret) -> Result<Secret<Vec<u8>>, CallError> {
        self.token_call_raw(Grant::RefreshToken(refresh_token))
            .await
    }

    /// `grant_type=authorization_code`, the 2xx answer NOT parsed (see [`Self::refresh_raw`]).
    pub async fn exchange_code_raw(&self, code: &Secret) -> Result<Secret<Vec<u8>>, CallError> {
        self.token_call_raw(Grant::AuthorizationCode(code)).await
    }

    /// `grant_type=authorization_code`. `now` must be taken BEFORE the call (expiry errs early).
    pub async fn exchange_code(
        &self,
        code: &Secret,
        now: DateTime<Utc>,
    ) -> Result<ClientTokens, CallError> {
        self.token_call(Grant::AuthorizationCode(code), now).await
    }

    /// `grant_type=refresh_token`: on success the token sent is DEAD; persist the answer's.
    pub async fn refresh(
        &self,
        refresh_token: &Secret,
        now: DateTime<Utc>,
    ) -> Result<ClientTokens, CallError> {
        self.token_call(Grant::RefreshToken(refresh_token), now)
            .await
    }

    /// `POST /api/revoke` of a refresh token.
    pub async fn revoke(&self, refresh_token: &Secret) -> Result<(), CallError> {
        let body = revoke_request_body(self.credentials, refresh_token);
        let answer = self
            .transport
            .post_form(&self.hosts.revoke_url(), &body)
            .await?;
        if ok(&answer) {
            Ok(())
        } else {
            // Same reading as the token endpoint: only an answer about the token says it is
            // already dead; `invalid_client` or a bare/HTML page proves nothing.
            Err(CallError::Token {
                status: answer.status,
                failure: classify_token_failure(
                    answer.status,
                    &GoPayErrorBody::parse(&answer.body),
                ),
            })
        }
    }

    /// `GET /api/login/app`: the app token.
    pub async fn app_token(&self) -> Result<AppToken, CallError> {
        let answer = self
            .transport
            .get(
                &self.hosts.login_app_url(),
                &self.credentials.basic_authorization(),
            )
            .await?;
        if !ok(&answer) {
            return Err(CallError::Status {
                status: answer.status,
            });
        }
        Ok(AppToken::parse(&answer.body)?)
    }

    /// The status and its raw body (kept sealed as the event body).
    pub async fn identification_status(
        &self,
        profile: &ClientProfileId,
        access_token: &Secret,
    ) -> Result<(IdentificationStatus, Vec<u8>), CallError> {
        let answer = self
            .transport
            .get(
                &self.hosts.identification_status_url(profile),
                &bearer_authorization(access_token),
            )
            .await?;
        if !ok(&answer) {
            return Err(CallError::Status {
                status: answer.status,
            });
        }
        let status = IdentificationStatus::parse(&answer.body)?;
        status.ensure_profile(profile)?;
        Ok((status, answer.body))
    }

    /// The identification PDF (`onDate`: as of that day; `None`: the latest). `access_token`
    /// is the client token or, for a consent given in the past, the app token. An answer that
    /// is not a PDF (content type other than `application/pdf`, or no `%PDF-` header: an error
    /// page served with 200) is refused.
    pub async fn identification_pdf(
        &self,
        profile: &ClientProfileId,
        access_token: &Secret,
        on_date: Option<chrono::NaiveDate>,
    ) -> Result<Vec<u8>, CallError> {
        let answer = self
            .transport
            .get(
                &self.hosts.identification_pdf_url(profile, on_date),
                &bearer_authorization(access_token),
            )
            .await?;
        if !ok(&answer) {
            return Err(CallError::Status {
                status: answer.status,
            });
        }
        check_pdf_answer(answer.content_type.as_deref(), &answer.body)
            .map_err(CallError::Invalid)?;
        Ok(answer.body)
    }

    /// `POST /api/prefill-client-data` with the app token → `prefillId` (a first consent: the
    /// customer has no client token yet).
    pub async fn prefill(&self, body: &Personal<Vec<u8>>) -> Result<Secret, CallError> {
        let app = self.app_token().await?;
        self.prefill_with(&app.access_token, body).await
    }

    /// `POST /api/prefill-client-data` with the given bearer token: the customer's client
    /// token (the token the reference names) when they already have a profile.
    pub async fn prefill_with(
        &self,
        token: &Secret,
        body: &Personal<Vec<u8>>,
    ) -> Result<Secret, CallError> {
        let answer = self
            .transport
            .post_json(
                &self.hosts.prefill_url(),
                &bearer_authorization(token),
                body,
            )
            .await?;
        if !ok(&answer) {
            return Err(CallError::Status {
                status: answer.status,
            });
        }
        Ok(parse_prefill_response(&answer.body)?)
    }
}

/// An identification-PDF answer is a PDF: declared `application/pdf` (or no content type) and
/// starting with `%PDF-`. GoPay may serve an error page with 200; it must not be stored as the
/// customer's PDF.
pub fn check_pdf_answer(content_type: Option<&str>, body: &[u8]) -> Result<(), GoPayError> {
    let declared_pdf = content_type.is_none_or(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/pdf"))
    });
    if !declared_pdf || !body.starts_with(b"%PDF-") {
        return Err(GoPayError::InvalidField {
            context: "identification-pdf",
            field: "content-type",
            reason: "the answer is not a PDF",
        });
    }
    Ok(())
}

/// The client-credentials secret: `{"clientId":"...","clientSecret":"..."}` (AWSCURRENT).
pub fn credentials_from_json(
    json: &str,
) -> Result<ClientCredentials, kyc_core::secrets::ClientSecretError> {
    let (client_id, client_secret) = kyc_core::secrets::client_id_and_secret(json)?;
    Ok(ClientCredentials::new(client_id, client_secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_secret_is_read_and_errors_name_no_value() {
        let c = credentials_from_json(r#"{"clientId":"123","clientSecret":"s3cr3t"}"#).unwrap();
        assert_eq!(c.client_id, "123");
        assert_eq!(c.client_secret.expose(), "s3cr3t");
        let e = credentials_from_json(r#"{"clientId":"123","clientSecret":""}"#).unwrap_err();
        assert_eq!(e.to_string(), "missing clientSecret");
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn transient_errors_are_the_retryable_ones() {
        assert!(CallError::Status { status: 503 }.is_transient());
        assert!(!CallError::Status { status: 404 }.is_transient());
        assert!(CallError::Transport(TransportError("timeout".into())).is_transient());
        assert!(!CallError::Token {
            status: 403,
            failure: TokenFailure::GrantRejected
        }
        .is_transient());
    }
}
