//! HTTP rules of the consent function, free of Lambda types:
//!
//! - `POST /gopay/consents {customerId, prefill?, declaredIdentity?}` → 201 `{consentUrl,
//!   prefilled}`: a random single-use `state` stored (hash only) for the configured lifetime
//!   (24 h by default: the journey at GoPay may include registering), with the completion mode
//!   it was issued for and the declared identity sealed; the prefill call made first when data
//!   is given (a prefill failure is counted and the URL goes out without `prefill_id`).
//!   IAM-authorised: 403 without the IAM authorizer's attestation (`kyc_core::iam_route`).
//! - `POST /gopay/consents/complete {customerId, state, code | error}` (completion in the
//!   bank's session, IAM-authorised like the start): the state is spent; a customer other than the one who started it →
//!   403, nothing exchanged, `consentBindingMismatch` on the starter; otherwise as below, in
//!   JSON.
//! - `GET /gopay/callback?code=&state=` (direct-callback mode): every refusal (malformed query,
//!   unknown, expired, reused or bank-session state, GoPay's `error=`, a failed exchange) is a
//!   302 to the failure URL with `reason=<code>`; otherwise the code is exchanged at once, the
//!   profile stored (refresh token sealed, due now), 302 to the success URL.
//!
//! A refused or failed attempt is its own history event and never replaces a working consent.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use serde_json::{json, Value};

use super::client::{CallError, GoPayApi, GoPayTransport};
use super::consent::{
    consent_url, declared_identity_state_aad, failure_redirect, parse_callback_query,
    CallbackOutcome, CompletionMode, ConsentRequest, ConsentState, FailureReason, GoPayHosts,
    PendingConsent,
};
use super::error::CallbackDefect;
use super::identification::ClientProfileId;
use super::identity_match::DeclaredIdentity;
use super::plan::{consent_plan, failed_attempt_plan, id_part, ConsentEvent};
use super::prefill::{InternationalBankAccount, PrefillRequest};
use super::store::{
    declared_identity_aad, sealed_access_aad, ConsentSaved, GoPayStore, NewConsent, ProfileRecord,
    ProfileStatus, SealedTokens, TokenRescue,
};
use super::sync::Clock;
use super::tokens::ClientCredentials;
use super::GoPayError;
use kyc_core::crypto::Keyring;
use kyc_core::iam_route::{require_iam_caller, NoIamAttestation};
use kyc_core::intake::EventStore;
use kyc_core::redact::Personal;
use kyc_core::secrets::Cached;

/// Largest accepted `POST /gopay/consents` body.
pub const MAX_BODY: usize = 16 * 1024;

/// The consent routes' rules, free of Lambda types.
pub struct ConsentEndpoint {
    /// GoPay profiles and consent states.
    pub store: Arc<dyn GoPayStore>,
    /// Where the first tokens go if the table cannot take them (the sync recovers them).
    pub rescue: Arc<dyn TokenRescue>,
    /// Where consent events are recorded.
    pub events: Arc<dyn EventStore>,
    /// How GoPay is called.
    pub transport: Arc<dyn GoPayTransport>,
    /// GoPay's hosts.
    pub hosts: GoPayHosts,
    /// Our credentials at GoPay.
    pub credentials: Cached<ClientCredentials>,
    /// GoPay's payload keyring.
    pub keys: Cached<Keyring>,
    /// The redirect URI put in consent URLs (registered at GoPay): the bank's front end in
    /// [`CompletionMode::BankSession`], our `GET /gopay/callback` in
    /// [`CompletionMode::DirectCallback`].
    pub redirect_uri: String,
    /// Who completes the consents this endpoint starts.
    pub completion: CompletionMode,
    /// How long a started consent waits for the customer's return.
    pub state_ttl: chrono::Duration,
    /// Where a customer lands after a kept consent.
    pub success_url: String,
    /// Where a customer lands otherwise (with `reason=`).
    pub failure_url: String,
    /// The clock.
    pub clock: Clock,
    /// What the requests counted (published as metrics by the function).
    pub counters: ConsentCounters,
}

/// Counts of what the consent routes saw that an alarm watches.
#[derive(Debug, Default)]
pub struct ConsentCounters {
    binding_mismatches: std::sync::atomic::AtomicU64,
    prefill_failures: std::sync::atomic::AtomicU64,
}

/// A snapshot of [`ConsentCounters`] (taken and reset once per request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentCounts {
    /// A completion by another customer than the one who started the consent.
    pub binding_mismatches: u64,
    /// Prefill calls that failed (the consent URL went out without `prefill_id`).
    pub prefill_failures: u64,
}

impl ConsentCounters {
    fn bump(counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    /// What was counted since the last call, reset.
    pub fn take(&self) -> ConsentCounts {
        use std::sync::atomic::Ordering::Relaxed;
        ConsentCounts {
            binding_mismatches: self.binding_mismatches.swap(0, Relaxed),
            prefill_failures: self.prefill_failures.swap(0, Relaxed),
        }
    }
}

impl ConsentCounts {
    /// True when nothing was counted.
    pub fn is_zero(&self) -> bool {
        *self == ConsentCounts::default()
    }
}

/// CloudWatch embedded-metric-format line of the consent routes' counts (namespace
/// `kyc-hooks`, like the sync's), so the template can alarm on them.
pub fn emf_line(counts: &ConsentCounts, timestamp_ms: i64) -> String {
    let metrics = [
        ("GoPayConsentBindingMismatch", counts.binding_mismatches),
        ("GoPayPrefillFailed", counts.prefill_failures),
    ];
    let mut line = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "kyc-hooks",
                "Dimensions": [[]],
                "Metrics": metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
            }]
        }
    });
    for (name, value) in metrics {
        line[name] = json!(value);
    }
    line.to_string()
}

pub use kyc_core::http::{HttpRequest as Request, HttpResponse as Response};

/// Consent answers carry a customer's consent URL or outcome: never cached.
fn json_response(status: u16, body: Value) -> Response {
    Response::json(status, body).with_header("cache-control", "no-store")
}

fn error(status: u16, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

fn redirect(url: &str) -> Response {
    Response {
        status: 302,
        headers: vec![
            ("location", url.to_string()),
            ("cache-control", "no-store".into()),
        ],
        body: String::new(),
        refusal: None,
    }
}

/// The one customer-id rule of every entry point (`kyc_core::keys`): escaped where it enters
/// a key, never refused for its characters.
pub use kyc_core::keys::valid_customer_id;

/// Why a request's `prefill` object is refused (400). Names the field, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum PrefillError {
    #[error("prefill must be an object")]
    NotAnObject,
    #[error("prefill.{0} must be a string")]
    NotAString(&'static str),
    #[error("prefill.internationalBankAccount must be an object")]
    AccountNotAnObject,
    #[error("prefill.internationalBankAccount.iban is missing")]
    MissingIban,
}

fn personal(
    obj: &serde_json::Map<String, Value>,
    key: &'static str,
) -> Result<Option<Personal>, PrefillError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(Personal::new(s.clone()))),
        Some(_) => Err(PrefillError::NotAString(key)),
    }
}

/// The optional `prefill` object (documented field names). Values are never echoed.
fn parse_prefill(value: &Value) -> Result<PrefillRequest, PrefillError> {
    let obj = value.as_object().ok_or(PrefillError::NotAnObject)?;
    let international = match obj.get("internationalBankAccount") {
        None | Some(Value::Null) => None,
        Some(Value::Object(a)) => Some(InternationalBankAccount {
            iban: personal(a, "iban")?.ok_or(PrefillError::MissingIban)?,
            bic: personal(a, "bic")?,
        }),
        Some(_) => return Err(PrefillError::AccountNotAnObject),
    };
    Ok(PrefillRequest {
        first_name: personal(obj, "firstName")?,
        last_name: personal(obj, "lastName")?,
        email: personal(obj, "email")?,
        phone_number: personal(obj, "phoneNumber")?,
        domestic_bank_account: personal(obj, "domesticBankAccount")?,
        international_bank_account: international,
        address: personal(obj, "address")?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Consents,
    Complete,
    Callback,
}

/// Matched on the path's end, so a stage or local-runner prefix (`/prod`,
/// `/lambda-url/gopay-consent`) does not matter.
fn route(path: &str) -> Option<Route> {
    let path = path.trim_end_matches('/');
    if path.ends_with("/gopay/consents") {
        Some(Route::Consents)
    } else if path.ends_with("/gopay/consents/complete") {
        Some(Route::Complete)
    } else if path.ends_with("/gopay/callback") {
        Some(Route::Callback)
    } else {
        None
    }
}

/// One consent attempt's events: keyed by its (single-use) state.
fn consent_event_id(kind: &str, state_key: &str) -> String {
    format!("gopay-consent-{kind}-{}", id_part(state_key))
}

/// A refusal of the bank's back end (`POST /gopay/consents/complete`): status, message and
/// the short reason code of [`FailureReason`] (or `binding_mismatch`).
fn refusal(status: u16, message: &str, reason: &str) -> Response {
    json_response(status, json!({ "error": message, "reason": reason }))
}

/// What the bank's back end passes on from GoPay's redirect to its front end.
struct Completion {
    customer_id: String,
    outcome: CallbackOutcome,
}

/// Reads `{customerId, state, code | error}`. Errors name the field, never a value.
fn parse_completion(body: &[u8]) -> Result<Completion, &'static str> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "body must be a JSON object")?;
    let obj = value.as_object().ok_or("body must be a JSON object")?;
    let text = |key: &'static str| match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(key),
    };
    let customer_id = text("customerId")
        .map_err(|_| "customerId must be a string")?
        .ok_or("customerId is required")?;
    if !valid_customer_id(customer_id) {
        return Err("customerId must be 1 to 1024 characters");
    }
    let state = text("state")
        .map_err(|_| "state must be a string")?
        .ok_or("state is required")?;
    let code = text("code").map_err(|_| "code must be a string")?;
    let error = text("error").map_err(|_| "error must be a string")?;
    // The same rules as GoPay's redirect query, so both routes accept exactly the same.
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("state", state);
    match (code, error) {
        (Some(c), None) => query.append_pair("code", c),
        (None, Some(e)) => query.append_pair("error", e),
        (Some(_), Some(_)) => return Err("give either code or error, not both"),
        (None, None) => return Err("code or error is required"),
    };
    let outcome = parse_callback_query(&query.finish()).map_err(|e| match e {
        GoPayError::MalformedCallback(CallbackDefect::BadState) => {
            "state is not a state this service issues"
        }
        GoPayError::MalformedCallback(CallbackDefect::CodeTooLong) => "code is too long",
        _ => "code, error or state is empty",
    })?;
    Ok(Completion {
        customer_id: customer_id.to_string(),
        outcome,
    })
}

impl ConsentEndpoint {
    /// Answers one request of the consent routes.
    pub async fn handle(&self, req: &Request) -> Response {
        let route = route(&req.path);
        // Starting and completing a consent are IAM-authorised (our backend, SigV4): without
        // the authorizer's attestation, 403 before the body is read, anything stored or GoPay
        // called. A completion taken from anyone else would void the binding to the customer.
        if matches!(route, Some(Route::Consents | Route::Complete)) {
            if let Err(e) = require_iam_caller(&req.gateway) {
                tracing::error!(error = %e, "gopay: consent start reached without IAM authentication: refused");
                let mut refused = error(
                    NoIamAttestation::STATUS,
                    "this route requires IAM (SigV4) authentication",
                );
                refused.refusal = Some("forbidden");
                return refused;
            }
        }
        match (route, req.method.as_str()) {
            (Some(Route::Consents), "POST") => self.create(req).await,
            (Some(Route::Complete), "POST") => self.complete(req).await,
            (Some(Route::Callback), "GET") => self.callback(req).await,
            (Some(r), _) => Response {
                status: 405,
                headers: vec![(
                    "allow",
                    match r {
                        Route::Consents | Route::Complete => "POST",
                        Route::Callback => "GET",
                    }
                    .into(),
                )],
                body: String::new(),
                refusal: Some("method_not_allowed"),
            },
            (None, _) => error(404, "not found"),
        }
    }

    /// Whether the customer's GoPay tombstone (`kyc erase`) still drops its events. A keyring
    /// without a naming key has no tombstones (`kyc erase` refuses without one).
    async fn erased(&self, customer_id: &str) -> Result<bool, FailureReason> {
        let keys = self.keys.get().await.map_err(|e| {
            tracing::error!(error = %e, "gopay: payload key unavailable");
            FailureReason::Unavailable
        })?;
        kyc_core::erasure::is_erased(
            self.events.as_ref(),
            &keys,
            kyc_core::intake::Provider::Gopay,
            customer_id,
            (self.clock)(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "gopay: erasure tombstone not read");
            FailureReason::Unavailable
        })
    }

    /// The browser to the failure page, with the reason.
    fn failure(&self, reason: FailureReason) -> Response {
        redirect(&failure_redirect(&self.failure_url, reason))
    }

    async fn create(&self, req: &Request) -> Response {
        if req.body.len() > MAX_BODY {
            return error(413, "body too large");
        }
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "body must be a JSON object");
        };
        let Some(customer_id) = body.get("customerId").and_then(Value::as_str) else {
            return error(400, "customerId is required");
        };
        if !valid_customer_id(customer_id) {
            return error(400, "customerId must be 1 to 1024 characters");
        }
        let prefill_body = match body.get("prefill") {
            None | Some(Value::Null) => None,
            Some(p) => match parse_prefill(p)
                .map_err(|e| e.to_string())
                .and_then(|r| r.to_body().map_err(|e: GoPayError| e.to_string()))
            {
                Ok(b) => Some(b),
                Err(message) => return error(400, &message),
            },
        };
        let declared = match body.get("declaredIdentity") {
            None | Some(Value::Null) => None,
            Some(d) => match DeclaredIdentity::from_json(d) {
                Ok(d) => Some(d),
                Err(e) => return error(400, &e.to_string()),
            },
        };
        match self.erased(customer_id).await {
            Ok(false) => {}
            Ok(true) => {
                return error(
                    409,
                    "this customer was erased (kyc erase): no consent starts while the erasure's drop period runs",
                )
            }
            Err(_) => return error(503, "temporarily unavailable"),
        }
        let credentials = match self.credentials.get().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "gopay: client credentials unavailable");
                return error(503, "temporarily unavailable");
            }
        };
        let api = GoPayApi {
            transport: self.transport.as_ref(),
            hosts: &self.hosts,
            credentials: &credentials,
        };
        // Prefill is optional in the reference (`prefill_id` … "NE"): a failure costs the
        // customer some typing at GoPay, never the consent.
        let prefill_id = match &prefill_body {
            None => None,
            Some(b) => {
                let answer = match self.client_token_of(customer_id).await {
                    Some(client_token) => api.prefill_with(&client_token, b).await,
                    None => api.prefill(b).await,
                };
                match answer {
                    Ok(id) => Some(id),
                    Err(e) => {
                        ConsentCounters::bump(&self.counters.prefill_failures);
                        tracing::warn!(error = %e,
                            "gopay: prefill call failed; the consent URL goes out without prefill_id");
                        None
                    }
                }
            }
        };
        let state = match ConsentState::generate() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "gopay: no random source");
                return error(503, "temporarily unavailable");
            }
        };
        let mut pending = PendingConsent::new(&state, customer_id, (self.clock)())
            .lasting(self.state_ttl)
            .completed_by(self.completion);
        if let Some(declared) = &declared {
            let keys = match self.keys.get().await {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(error = %e, "gopay: payload key unavailable");
                    return error(503, "temporarily unavailable");
                }
            };
            pending.sealed_identity = Some(keys.seal(
                &declared_identity_state_aad(&pending.state_key, customer_id),
                declared.to_sealed_json().expose(),
            ));
        }
        if let Err(e) = self.store.put_consent_state(&pending).await {
            tracing::error!(error = %e, "gopay: consent state not stored");
            return error(503, "temporarily unavailable");
        }
        let url = match consent_url(
            &self.hosts,
            &ConsentRequest {
                client_id: &credentials.client_id,
                state: &state,
                redirect_uri: &self.redirect_uri,
                prefill_id: prefill_id.as_ref(),
            },
        ) {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(error = %e, "gopay: consent URL not built (configuration)");
                return error(500, "misconfigured");
            }
        };
        tracing::info!(
            prefilled = prefill_id.is_some(),
            identity_declared = declared.is_some(),
            completion = self.completion.as_str(),
            "gopay: consent started"
        );
        json_response(
            201,
            json!({ "consentUrl": url.expose(), "prefilled": prefill_id.is_some() }),
        )
    }

    /// `GET /gopay/callback`: the browser GoPay sent back (direct-callback mode). Every
    /// refusal is a redirect to the failure page with a reason code.
    async fn callback(&self, req: &Request) -> Response {
        let outcome = match parse_callback_query(&req.query) {
            Ok(o) => o,
            Err(e) => {
                tracing::info!(error = %e, "gopay: malformed consent callback");
                return self.failure(FailureReason::MalformedCallback);
            }
        };
        let state_key = outcome.state().storage_key();
        let now = (self.clock)();
        let pending = match self.store.take_consent_state(&state_key, now).await {
            Ok(Ok(p)) => p,
            Ok(Err(rejection)) => {
                tracing::info!(reason = %rejection, "gopay: consent callback refused");
                return self.failure(FailureReason::of_rejection(rejection));
            }
            Err(e) => {
                tracing::error!(error = %e, "gopay: consent state unavailable");
                return self.failure(FailureReason::Unavailable);
            }
        };
        if pending.completion == CompletionMode::BankSession {
            // Issued for completion in the bank's session: someone pointed the consent link's
            // redirect_uri at the direct callback to skip it. The state is spent.
            tracing::warn!(customer_id = %pending.customer_id,
                "gopay: a consent issued for completion in the bank's session reached the direct callback; refused");
            return self.failure(FailureReason::WrongRoute);
        }
        match self.finish(&pending, &outcome, &state_key).await {
            Ok(Finished::Granted) => redirect(&self.success_url),
            Ok(Finished::Denied(reason)) | Err(reason) => self.failure(reason),
        }
    }

    /// `POST /gopay/consents/complete`: the bank's back end completes a consent for the
    /// customer of its authenticated session.
    async fn complete(&self, req: &Request) -> Response {
        if req.body.len() > MAX_BODY {
            return error(413, "body too large");
        }
        let completion = match parse_completion(&req.body) {
            Ok(c) => c,
            Err(message) => return error(400, message),
        };
        let state_key = completion.outcome.state().storage_key();
        let now = (self.clock)();
        let pending = match self.store.take_consent_state(&state_key, now).await {
            Ok(Ok(p)) => p,
            Ok(Err(rejection)) => {
                tracing::info!(reason = %rejection, "gopay: consent completion refused");
                let reason = FailureReason::of_rejection(rejection);
                return refusal(409, "invalid or expired state", reason.as_str());
            }
            Err(e) => {
                tracing::error!(error = %e, "gopay: consent state unavailable");
                return refusal(
                    503,
                    "temporarily unavailable",
                    FailureReason::Unavailable.as_str(),
                );
            }
        };
        if pending.customer_id != completion.customer_id {
            self.binding_mismatch(&pending, &completion.customer_id, &state_key, now)
                .await;
            return refusal(
                403,
                "this consent was started by another customer",
                "binding_mismatch",
            );
        }
        match self.finish(&pending, &completion.outcome, &state_key).await {
            Ok(Finished::Granted) => json_response(200, json!({ "outcome": "granted" })),
            Ok(Finished::Denied(_)) => {
                let reason = match &completion.outcome {
                    CallbackOutcome::Denied { error, .. } => error.as_str().to_string(),
                    CallbackOutcome::Granted { .. } => String::new(),
                };
                json_response(200, json!({ "outcome": "denied", "reason": reason }))
            }
            Err(reason) => {
                let status = match reason {
                    FailureReason::ExchangeFailed => 502,
                    FailureReason::ProfileLinkedElsewhere | FailureReason::CustomerErased => 409,
                    _ => 503,
                };
                refusal(status, "consent not stored", reason.as_str())
            }
        }
    }

    /// The consent was completed in another customer's session: nothing is exchanged (the
    /// state is already spent); the customer who started it gets the fraud signal.
    async fn binding_mismatch(
        &self,
        pending: &PendingConsent,
        completing_customer: &str,
        state_key: &str,
        now: DateTime<Utc>,
    ) {
        ConsentCounters::bump(&self.counters.binding_mismatches);
        tracing::warn!(customer_id = %pending.customer_id, completing_customer_id = %completing_customer,
            "gopay: ALERT consent completed in another customer's session; refused, nothing exchanged");
        let keys = match self.keys.get().await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "gopay: ALERT payload key unavailable; consentBindingMismatch not recorded");
                return;
            }
        };
        let plan = consent_plan(
            &keys,
            &pending.customer_id,
            &ConsentEvent::BindingMismatch {
                completing_customer: completing_customer.to_string(),
            },
            consent_event_id("binding-mismatch", state_key),
            now,
        );
        if let Err(e) = self.events.record(&plan).await {
            tracing::error!(error = %e, "gopay: ALERT consentBindingMismatch not recorded");
        }
    }

    /// What GoPay's redirect said, for the customer who started the consent: a refusal
    /// recorded, or the code exchanged and the consent stored.
    async fn finish(
        &self,
        pending: &PendingConsent,
        outcome: &CallbackOutcome,
        state_key: &str,
    ) -> Result<Finished, FailureReason> {
        let keys = match self.keys.get().await {
            Ok(k) => k,
            Err(e) => {
                // The state is spent: the customer restarts from the failure page.
                tracing::error!(error = %e, "gopay: payload key unavailable");
                return Err(FailureReason::Unavailable);
            }
        };
        match outcome {
            CallbackOutcome::Denied { error: e, .. } => {
                self.record_failed_attempt(
                    &keys,
                    &pending.customer_id,
                    &ConsentEvent::Denied {
                        error: e.as_str().to_string(),
                    },
                    consent_event_id("denied", state_key),
                    (self.clock)(),
                )
                .await;
                tracing::info!(error = e.as_str(), "gopay: consent refused at GoPay");
                Ok(Finished::Denied(FailureReason::of_consent_error(e)))
            }
            CallbackOutcome::Granted { code, .. } => self
                .granted(&keys, pending, code, state_key)
                .await
                .map(|()| Finished::Granted),
        }
    }

    async fn granted(
        &self,
        keys: &Keyring,
        pending: &PendingConsent,
        code: &kyc_core::redact::Secret,
        state_key: &str,
    ) -> Result<(), FailureReason> {
        let customer_id = pending.customer_id.as_str();
        // Started before an erasure, completed after it: nothing is exchanged or kept.
        if self.erased(customer_id).await? {
            return Err(FailureReason::CustomerErased);
        }
        let credentials = match self.credentials.get().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "gopay: client credentials unavailable");
                return Err(FailureReason::Unavailable);
            }
        };
        let api = GoPayApi {
            transport: self.transport.as_ref(),
            hosts: &self.hosts,
            credentials: &credentials,
        };
        let sent_at = (self.clock)();
        let tokens = match api.exchange_code(code, sent_at).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "gopay: code exchange failed");
                let http_status = match e {
                    CallError::Token { status, .. } | CallError::Status { status } => Some(status),
                    _ => None,
                };
                self.record_failed_attempt(
                    keys,
                    customer_id,
                    &ConsentEvent::ExchangeFailed { http_status },
                    consent_event_id("exchange-failed", state_key),
                    sent_at,
                )
                .await;
                return Err(FailureReason::ExchangeFailed);
            }
        };
        let profile = tokens.client_profile_id.clone();
        let sealed_identity = self.declared_identity_for(keys, pending, &profile);
        // Read before storing (the link then points to the new profile): a previous profile
        // of this customer is retired once the new consent is safe.
        let previous = self.previous_profile(customer_id, &profile).await;
        match self
            .store_first_tokens(keys, customer_id, &tokens, sealed_identity, sent_at)
            .await
        {
            FirstTokens::Stored => {
                if self
                    .erased_meanwhile(keys, &credentials, customer_id, &profile)
                    .await
                {
                    return Err(FailureReason::CustomerErased);
                }
            }
            FirstTokens::Rescued => {}
            FirstTokens::LinkedToOtherCustomer => {
                tracing::error!(customer = %customer_id,
                    "gopay: this GoPay profile is linked to another customer; consent not stored");
                self.record_failed_attempt(
                    keys,
                    customer_id,
                    &ConsentEvent::LinkedElsewhere {
                        profile: profile.clone(),
                    },
                    consent_event_id("linked-elsewhere", state_key),
                    (self.clock)(),
                )
                .await;
                return Err(FailureReason::ProfileLinkedElsewhere);
            }
            FirstTokens::Lost => {
                tracing::error!(customer = %customer_id,
                    "gopay: CONSENT LOST: first tokens stored nowhere (table and rescue place failed); the customer must consent again");
                return Err(FailureReason::NotStored);
            }
        }
        let now = (self.clock)();
        if let Some(previous) = previous {
            self.retire(keys, &credentials, &previous, now).await;
        }
        let plan = consent_plan(
            keys,
            customer_id,
            &ConsentEvent::Granted {
                profile: profile.clone(),
            },
            consent_event_id("granted", state_key),
            now,
        );
        // The customer's redirect cannot be replayed (the state is spent) and no later run
        // records a GRANTED: retried here like the first tokens' write, so one failed or lost
        // write does not leave the consent stream without it (a retry of a landed write is a
        // duplicate, same event id).
        for attempt in 1..=3u32 {
            if attempt > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            match self.events.record(&plan).await {
                Ok(_) => break,
                Err(e) if attempt < 3 => {
                    tracing::warn!(error = %e, attempt, "gopay: consent-granted event not recorded; retrying");
                }
                Err(e) => {
                    // The profile (the source of truth) is stored and due now; the first poll
                    // records the identification state.
                    tracing::error!(error = %e, "gopay: ALERT consent-granted event not recorded");
                }
            }
        }
        tracing::info!(customer = %customer_id, "gopay: consent stored, profile due now");
        Ok(())
    }

    /// The declared identity kept on the pending consent, sealed again for the profile. `None`
    /// when none was declared, or (logged) when it cannot be opened: the consent is stored
    /// regardless, its identification then compared with nothing.
    fn declared_identity_for(
        &self,
        keys: &Keyring,
        pending: &PendingConsent,
        profile: &ClientProfileId,
    ) -> Option<String> {
        let sealed = pending.sealed_identity.as_ref()?;
        let aad = declared_identity_state_aad(&pending.state_key, &pending.customer_id);
        match keys.open(&aad, sealed) {
            Ok(plain) => Some(keys.seal(
                &declared_identity_aad(profile, &pending.customer_id),
                &plain,
            )),
            Err(e) => {
                tracing::error!(error = %e,
                    "gopay: ALERT declared identity cannot be opened; the consent is stored without it");
                None
            }
        }
    }

    /// A refused or failed attempt in the customer's history. It replaces the consent stream
    /// only when the customer has no consent to keep (no profile, or a revoked one); a
    /// working consent (or one we cannot read: fail safe) stands.
    async fn record_failed_attempt(
        &self,
        keys: &Keyring,
        customer_id: &str,
        event: &ConsentEvent,
        event_id: String,
        at: DateTime<Utc>,
    ) {
        let consent_stands = match self.store.profile_of_customer(customer_id).await {
            Ok(None) => false,
            Ok(Some(p)) => p.status != ProfileStatus::Revoked,
            Err(e) => {
                tracing::warn!(error = %e, "gopay: customer's profile unreadable; the failed attempt leaves the consent stream as it is");
                true
            }
        };
        let plan = failed_attempt_plan(keys, customer_id, event, event_id, at, consent_stands);
        if let Err(err) = self.events.record(&plan).await {
            tracing::error!(error = %err, "gopay: failed consent attempt not recorded");
        }
    }

    /// Another live profile of this customer (to retire once the new consent is safe).
    async fn previous_profile(
        &self,
        customer_id: &str,
        profile: &ClientProfileId,
    ) -> Option<ProfileRecord> {
        match self.store.profile_of_customer(customer_id).await {
            Ok(p) => p.filter(|p| {
                &p.client_profile_id != profile && p.status != super::store::ProfileStatus::Revoked
            }),
            Err(e) => {
                tracing::error!(error = %e, "gopay: ALERT customer's previous profile unknown (store); not retired");
                None
            }
        }
    }
}

/// How a consent attempt ended for the customer who started it.
enum Finished {
    Granted,
    /// GoPay's redirect carried `error=`: recorded, the reason for the failure page.
    Denied(FailureReason),
}

/// Where a consent's first tokens ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstTokens {
    Stored,
    /// The table did not take them; sealed in the rescue place, the next sync run stores them.
    Rescued,
    LinkedToOtherCustomer,
    Lost,
}

/// A consent's first tokens, sealed as `generation` and marked with their customer (recovery
/// then creates or re-consents the profile instead of rotating one), with the declared
/// identity sealed for the profile.
fn first_tokens(
    keys: &Keyring,
    customer_id: &str,
    generation: u64,
    tokens: &super::tokens::ClientTokens,
    sealed_identity: Option<String>,
) -> SealedTokens {
    SealedTokens {
        customer_id: Some(customer_id.to_string()),
        sealed_identity,
        ..SealedTokens::seal(
            keys,
            &tokens.client_profile_id,
            customer_id,
            generation,
            tokens,
        )
    }
}

impl ConsentEndpoint {
    /// The code exchange's tokens get the rotation's protection: a compare-and-swap on the
    /// profile's generation (a first consent only creates; a re-consent replaces exactly the
    /// generation it read), retried, and the rescue place when the table stays unwritable.
    async fn store_first_tokens(
        &self,
        keys: &Keyring,
        customer_id: &str,
        tokens: &super::tokens::ClientTokens,
        sealed_identity: Option<String>,
        sent_at: chrono::DateTime<chrono::Utc>,
    ) -> FirstTokens {
        let profile = &tokens.client_profile_id;
        let mut last_generation = 0u64;
        let mut sealed = None;
        for attempt in 1..=3u32 {
            if attempt > 1 {
                tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
            }
            let existing = match self.store.profile(profile).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "gopay: profile not readable; retrying");
                    continue;
                }
            };
            // A consent's first generation is its time in ms (and above any stored one): a
            // re-consent never reuses a generation (and so never an AEAD binding).
            let generation = (sent_at.timestamp_millis().max(1) as u64)
                .max(existing.as_ref().map_or(0, |p| p.token_gen + 1));
            last_generation = generation;
            let tokens_sealed = first_tokens(
                keys,
                customer_id,
                generation,
                tokens,
                sealed_identity.clone(),
            );
            let now = (self.clock)();
            let consent = NewConsent {
                expected_generation: existing.as_ref().map(|p| p.token_gen),
                customer_id: customer_id.to_string(),
                client_profile_id: profile.clone(),
                tokens: tokens_sealed.clone(),
                sealed_identity: sealed_identity.clone(),
                due_at: now,
                now,
            };
            sealed = Some(tokens_sealed);
            match self.store.save_consent(&consent).await {
                Ok(ConsentSaved::Stored) => return FirstTokens::Stored,
                Ok(ConsentSaved::LinkedToOtherCustomer) => {
                    return FirstTokens::LinkedToOtherCustomer
                }
                Ok(ConsentSaved::GenerationMoved) => {
                    tracing::warn!(
                        attempt,
                        "gopay: profile changed while storing the consent; reading it again"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "gopay: consent not stored yet; retrying");
                }
            }
        }
        let Some(sealed) = sealed else {
            // Never read the profile: seal for a generation no stored one can reach.
            let generation = last_generation.max(sent_at.timestamp_millis().max(1) as u64);
            let s = first_tokens(keys, customer_id, generation, tokens, sealed_identity);
            return self.rescue_first(customer_id, &s).await;
        };
        self.rescue_first(customer_id, &sealed).await
    }

    /// The reference names the client token for the prefill call; a first consent has none.
    /// When the customer already has an active profile with a valid access token, that token
    /// is used; otherwise (first consent, expired token, any read error) the app token.
    async fn client_token_of(&self, customer_id: &str) -> Option<kyc_core::redact::Secret> {
        let profile = self.store.profile_of_customer(customer_id).await.ok()??;
        let now = (self.clock)();
        if profile.status != super::store::ProfileStatus::Active
            || profile
                .access_expires_at
                .is_none_or(|at| at <= now + chrono::Duration::minutes(1))
        {
            return None;
        }
        let keys = self.keys.get().await.ok()?;
        let bytes = keys
            .open(
                &sealed_access_aad(
                    &profile.client_profile_id,
                    profile.token_gen,
                    &profile.customer_id,
                ),
                profile.sealed_access.as_ref()?,
            )
            .ok()?;
        String::from_utf8(bytes)
            .ok()
            .map(kyc_core::redact::Secret::new)
    }

    /// One customer is never fed by two GoPay identities: the previous profile is revoked at
    /// GoPay (when conclusive), its tokens erased and it leaves the due index.
    async fn retire(
        &self,
        keys: &Keyring,
        credentials: &ClientCredentials,
        previous: &super::store::ProfileRecord,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let admin = super::admin::Admin {
            store: self.store.as_ref(),
            events: self.events.as_ref(),
            api: GoPayApi {
                transport: self.transport.as_ref(),
                hosts: &self.hosts,
                credentials,
            },
            keys,
            owner: format!("gopay-consent-retire-{}", now.timestamp_millis()),
            now,
        };
        let customer = previous.customer_id.as_str();
        match admin.retire(previous).await {
            Ok(at_gopay) => tracing::warn!(customer = %customer, gopay = at_gopay.as_str(),
                "gopay: customer consented with another GoPay profile; the previous one is retired"),
            Err(e) => tracing::error!(customer = %customer, error = %e,
                "gopay: ALERT previous GoPay profile of a re-consenting customer NOT retired"),
        }
    }

    /// Whether `kyc erase` landed while the code was exchanged; if so, the consent just stored
    /// is retired (revoked at GoPay, tokens wiped). The erasure writes its tombstones and then
    /// reads the consent (refusing while one is live); this stores the consent and then reads
    /// the tombstone: with both reads strongly consistent, one of the two sees the other.
    /// When the tombstone cannot be read (three tries), the consent is kept (losing a real one
    /// on a read error is the worse failure) and an alert logged.
    async fn erased_meanwhile(
        &self,
        keys: &Keyring,
        credentials: &ClientCredentials,
        customer_id: &str,
        profile: &ClientProfileId,
    ) -> bool {
        let mut erased = None;
        for attempt in 1..=3u32 {
            match self.erased(customer_id).await {
                Ok(e) => {
                    erased = Some(e);
                    break;
                }
                Err(_) if attempt < 3 => {
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
                Err(_) => {}
            }
        }
        match erased {
            Some(false) => false,
            None => {
                tracing::error!(customer = %customer_id,
                    "gopay: ALERT consent stored but the erasure tombstone could not be read after it");
                false
            }
            Some(true) => {
                tracing::warn!(customer = %customer_id,
                    "gopay: the customer was erased during the code exchange; the new consent is retired");
                match self.store.profile(profile).await {
                    Ok(Some(stored)) => {
                        self.retire(keys, credentials, &stored, (self.clock)())
                            .await
                    }
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e,
                        "gopay: ALERT consent of an erased customer not retired (profile unreadable)"),
                }
                true
            }
        }
    }

    async fn rescue_first(&self, customer_id: &str, sealed: &SealedTokens) -> FirstTokens {
        for attempt in 1..=3u32 {
            match self.rescue.save(sealed).await {
                Ok(()) => {
                    tracing::error!(customer = %customer_id,
                        "gopay: consent kept sealed in the rescue place (table unwritable); the next sync run stores it");
                    return FirstTokens::Rescued;
                }
                Err(e) => {
                    tracing::error!(error = %e, attempt, "gopay: rescue write failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100 << attempt)).await;
                }
            }
        }
        FirstTokens::Lost
    }
}

#[cfg(test)]
#[path = "consent_tests.rs"]
mod consent_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_ignore_prefixes() {
        assert_eq!(route("/gopay/consents"), Some(Route::Consents));
        assert_eq!(route("/prod/gopay/callback/"), Some(Route::Callback));
        assert_eq!(
            route("/lambda-url/gopay-consent/gopay/callback"),
            Some(Route::Callback)
        );
        assert_eq!(route("/gopay/callbacks"), None);
        assert_eq!(route("/gopay"), None);
    }

    #[test]
    fn customer_ids_are_key_safe() {
        assert!(valid_customer_id("cust-42"));
        assert!(!valid_customer_id(""));
        assert!(valid_customer_id("a#b"), "escaped in keys, not refused");
        assert!(valid_customer_id("a b"));
        assert!(!valid_customer_id(&"x".repeat(1025)));
    }

    #[test]
    fn prefill_errors_never_echo_values() {
        let p = parse_prefill(&json!({"email": "not-an-email-jana@"})).unwrap();
        let e = p.to_body().unwrap_err().to_string();
        assert!(!e.contains("jana"));
        assert!(parse_prefill(&json!({"email": 5})).is_err());
        let bad =
            parse_prefill(&json!({"internationalBankAccount": {"iban": 6508, "bic": "KOMBCZPP"}}))
                .unwrap_err();
        assert_eq!(bad, PrefillError::NotAString("iban"));
        assert_eq!(bad.to_string(), "prefill.iban must be a string");
        assert_eq!(
            parse_prefill(&json!({"internationalBankAccount": {"bic": "KOMBCZPP"}})).unwrap_err(),
            PrefillError::MissingIban
        );
        let ok = parse_prefill(&json!({"firstName": "Jana", "internationalBankAccount": {"iban": "CZ6508000000192000145399"}}))
            .unwrap();
        assert!(!format!("{ok:?}").contains("Jana"));
    }
}
