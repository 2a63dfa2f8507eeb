//! Consent (OAuth 2.0 authorization code): configured hosts and endpoint URLs, the consent
//! URL, the random single-use `state` and its lifetime, the completion modes, the callback
//! query, and the reason codes a refused return carries to the failure page.
//!
//! The `state` is a 256-bit value from the operating system's CSPRNG, base64url-encoded. It is
//! a [`Secret`]; only its SHA-256 ([`ConsentState::storage_key`]) should be stored, so a copy of
//! the table cannot be used to complete someone's pending consent.

use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::TryRngCore as _;
use sha2::{Digest, Sha256};

use super::error::{CallbackDefect, GoPayError, StateRejection};
use super::identification::ClientProfileId;
use kyc_core::redact::Secret;

/// The scope the consent asks for (`scopes[]`).
pub const SCOPE_IDENTIFICATION_READ: &str = "perm.client.identification:read";
/// How long a started consent waits for the customer's return by default. The 10 minutes of
/// the reference are the *code's* life ("životnost 10 minut"), counted from GoPay's redirect
/// back; before it the customer may register or log in at GoPay ("po provedení registrace,
/// případně přihlášení"), which can take much longer. The code is exchanged at once on return.
pub const DEFAULT_STATE_TTL: Duration = Duration::hours(24);
/// The bounds a configured state lifetime must keep: longer than a code, at most a week.
pub const MIN_STATE_TTL: Duration = Duration::hours(1);
/// See [`MIN_STATE_TTL`]: the longest state lifetime accepted.
pub const MAX_STATE_TTL: Duration = Duration::days(7);
/// GoPay's authorization `code` lives 10 minutes (reference: "životnost 10 minut").
pub const AUTHORIZATION_CODE_LIFETIME: Duration = Duration::minutes(10);
/// Beta hosts from the reference; production hosts differ and come from configuration.
pub const BETA_AUTH_BASE: &str = "https://auth.beta.aws.gopay.cz";
/// See [`BETA_AUTH_BASE`]: the beta client host.
pub const BETA_CLIENT_BASE: &str = "https://client.beta.aws.gopay.cz";

const STATE_BYTES: usize = 32;
const STATE_CHARS: usize = 43; // base64url without padding of 32 bytes
const MAX_CODE_LEN: usize = 2048;

/// The two GoPay hosts: the authorisation service (`auth.…`: login, consent, token, revoke)
/// and the identification service (`client.…`: status, PDF, prefill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoPayHosts {
    auth_base: String,
    client_base: String,
}

/// `rest` is what follows `http://`.
fn is_loopback_http(rest: &str) -> bool {
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host
        .rsplit_once(':')
        .map(|(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
        .unwrap_or(host);
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// An absolute `https://` URL, or `http://` on loopback only (the simulator).
fn check_absolute(name: &'static str, url: &str) -> Result<(), GoPayError> {
    let bad = |reason| GoPayError::InvalidHost { name, reason };
    if url
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(bad("contains spaces or control characters"));
    }
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !is_loopback_http(rest) {
            return Err(bad("plain http is allowed on loopback only"));
        }
        rest
    } else {
        return Err(bad("not an https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains('@') {
        return Err(bad("user information is not allowed"));
    }
    if url.contains('#') {
        return Err(bad("a fragment is not allowed"));
    }
    Ok(())
}

/// `GOPAY_FRONTEND_REDIRECT_URI`, the bank's front-end page GoPay sends the browser back to
/// (completion in the bank's session), as registered at GoPay: an absolute https URL (plain
/// http on loopback only), no user information, no fragment. Checked at cold start.
pub fn check_frontend_redirect_uri(url: &str) -> Result<(), GoPayError> {
    check_absolute("frontend_redirect_uri", url.trim())
}

fn check_base(name: &'static str, url: &str) -> Result<String, GoPayError> {
    let url = url.trim();
    check_absolute(name, url)?;
    let url = url.trim_end_matches('/');
    if url.contains('?') {
        return Err(GoPayError::InvalidHost {
            name,
            reason: "a query is not allowed in a base URL",
        });
    }
    Ok(url.to_string())
}

/// `GOPAY_REDIRECT_URI`, our consent callback as registered at GoPay: an absolute https URL
/// (plain http on loopback only) whose path ends in `/gopay/callback`, without query or
/// fragment. Checked at cold start: a bad one would fail every consent.
pub fn check_redirect_uri(url: &str) -> Result<(), GoPayError> {
    let url = url.trim();
    check_absolute("redirect_uri", url)?;
    if url.contains('?') {
        return Err(GoPayError::InvalidHost {
            name: "redirect_uri",
            reason: "a query is not allowed",
        });
    }
    if !url.ends_with("/gopay/callback") {
        return Err(GoPayError::InvalidHost {
            name: "redirect_uri",
            reason: "the path must end in /gopay/callback (this function's route)",
        });
    }
    Ok(())
}

/// `GOPAY_SUCCESS_URL`/`GOPAY_FAILURE_URL`, where the customer's browser is sent: an absolute
/// https URL (plain http on loopback only), without fragment. Checked at cold start: a bad one
/// would break every consent's last redirect.
pub fn check_browser_url(name: &'static str, url: &str) -> Result<(), GoPayError> {
    check_absolute(name, url.trim())
}

impl GoPayHosts {
    /// Validates both base URLs (`https://host[:port][/prefix]`; plain http on loopback only).
    pub fn new(auth_base: &str, client_base: &str) -> Result<Self, GoPayError> {
        Ok(Self {
            auth_base: check_base("auth_base", auth_base)?,
            client_base: check_base("client_base", client_base)?,
        })
    }
    /// The beta hosts of the reference.
    pub fn beta() -> Self {
        Self::new(BETA_AUTH_BASE, BETA_CLIENT_BASE).expect("documented hosts are valid")
    }
    /// The authorization host's base URL.
    pub fn auth_base(&self) -> &str {
        &self.auth_base
    }
    /// The client API host's base URL.
    pub fn client_base(&self) -> &str {
        &self.client_base
    }
    /// `GET /api/login/app`: the app token.
    pub fn login_app_url(&self) -> String {
        format!("{}/api/login/app", self.auth_base)
    }
    /// The consent page the customer is sent to.
    pub fn consent_endpoint(&self) -> String {
        format!("{}/consent", self.auth_base)
    }
    /// `POST /api/token`: both grants.
    pub fn token_url(&self) -> String {
        format!("{}/api/token", self.auth_base)
    }
    /// `POST /api/revoke`.
    pub fn revoke_url(&self) -> String {
        format!("{}/api/revoke", self.auth_base)
    }
    /// A profile's identification status.
    pub fn identification_status_url(&self, profile: &ClientProfileId) -> String {
        format!(
            "{}/api/client-profile/{}/identification-status",
            self.client_base,
            profile.as_str()
        )
    }
    /// `onDate`: the PDF as of a day; `None` gives the latest state.
    pub fn identification_pdf_url(
        &self,
        profile: &ClientProfileId,
        on_date: Option<NaiveDate>,
    ) -> String {
        let base = format!(
            "{}/api/client-profile/{}/identification-pdf",
            self.client_base,
            profile.as_str()
        );
        match on_date {
            Some(d) => format!("{base}?onDate={}", d.format("%Y-%m-%d")),
            None => base,
        }
    }
    /// `POST /api/prefill-client-data`.
    pub fn prefill_url(&self) -> String {
        format!("{}/api/prefill-client-data", self.client_base)
    }
    /// Where a customer is sent to complete or change their identification data.
    pub fn identification_page_url(&self) -> String {
        format!("{}/identification", self.client_base)
    }
}

/// A random, single-use consent `state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentState(Secret);

impl ConsentState {
    /// 256 bits from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, GoPayError> {
        let mut bytes = [0u8; STATE_BYTES];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| GoPayError::Random(e.to_string()))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The same from an injected cryptographically secure generator (tests, other sources).
    pub fn generate_with<R: rand::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; STATE_BYTES];
        rng.fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; STATE_BYTES]) -> Self {
        Self(Secret::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// Accepts a `state` from a callback only in the exact form this module issues.
    pub fn from_callback(text: &str) -> Result<Self, GoPayError> {
        if text.len() == STATE_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(Self(Secret::new(text.to_string())))
        } else {
            Err(GoPayError::MalformedCallback(CallbackDefect::BadState))
        }
    }

    /// The value for the consent URL. Never log it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The key to store and look the pending consent up by: `sha256:` + hex of the state.
    pub fn storage_key(&self) -> String {
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(self.0.expose().as_bytes()))
        )
    }
}

/// Who completes a consent when GoPay sends the customer back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompletionMode {
    /// GoPay redirects to the bank's own front end; the bank's back end, taking the customer
    /// from its authenticated session, completes with `POST /gopay/consents/complete`, and a
    /// consent is stored only for the customer who started it.
    #[default]
    BankSession,
    /// GoPay redirects the browser to our `GET /gopay/callback`: whoever holds the consent
    /// link completes it for the customer who started it (the identity match is then the only
    /// defence against a link opened by someone else).
    DirectCallback,
}

impl CompletionMode {
    /// The mode's name in settings (`bank-session`, `direct-callback`).
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionMode::BankSession => "bank-session",
            CompletionMode::DirectCallback => "direct-callback",
        }
    }
    /// The mode of that name ([`CompletionMode::as_str`]).
    pub fn parse(text: &str) -> Option<Self> {
        [CompletionMode::BankSession, CompletionMode::DirectCallback]
            .into_iter()
            .find(|m| m.as_str() == text.trim())
    }
}

/// A consent started for a customer, as stored (keyed by the state's storage key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingConsent {
    /// The state's storage key (its hash: the state itself is never stored).
    pub state_key: String,
    /// The customer who started it.
    pub customer_id: String,
    /// When it was started.
    pub created_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// Set when a callback consumed the state (single use).
    pub used_at: Option<DateTime<Utc>>,
    /// The route that may complete it (a state stored before the modes existed: direct).
    pub completion: CompletionMode,
    /// The customer's declared identity, sealed with [`declared_identity_state_aad`].
    pub sealed_identity: Option<String>,
}

/// Associated data of a declared identity sealed on a pending consent: its state and customer.
pub fn declared_identity_state_aad(state_key: &str, customer: &str) -> kyc_core::crypto::Aad {
    kyc_core::crypto::Aad::new(
        "gopay",
        format!("state/{state_key}"),
        "declared-identity",
        Some(customer),
    )
}

impl PendingConsent {
    /// Completed through the direct callback, for [`DEFAULT_STATE_TTL`].
    pub fn new(state: &ConsentState, customer_id: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            state_key: state.storage_key(),
            customer_id: customer_id.into(),
            created_at: now,
            expires_at: now + DEFAULT_STATE_TTL,
            used_at: None,
            completion: CompletionMode::DirectCallback,
            sealed_identity: None,
        }
    }

    /// The same, accepted for `ttl` from its creation.
    pub fn lasting(mut self, ttl: Duration) -> Self {
        self.expires_at = self.created_at + ttl;
        self
    }

    /// The same, to be completed by `mode`.
    pub fn completed_by(mut self, mode: CompletionMode) -> Self {
        self.completion = mode;
        self
    }

    /// Usable iff never used and `now` is before `expires_at` (an exact hit is expired).
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), StateRejection> {
        if self.used_at.is_some() {
            Err(StateRejection::AlreadyUsed)
        } else if now >= self.expires_at {
            Err(StateRejection::Expired)
        } else {
            Ok(())
        }
    }
}

/// Why a customer coming back from GoPay lands on the failure page: a short code appended to
/// the failure URL (`reason=`), never the state, the code or anything about the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The callback's query cannot be read.
    MalformedCallback,
    /// No such state.
    StateUnknown,
    /// The state expired.
    StateExpired,
    /// The state was already used.
    StateUsed,
    /// A state issued for completion in the bank's session reached the direct callback.
    WrongRoute,
    /// The customer did not consent.
    AccessDenied,
    /// The scope asked for is not allowed.
    InvalidScope,
    /// Another `error=` value from GoPay.
    GoPayError,
    /// The code exchange failed.
    ExchangeFailed,
    /// The GoPay profile is already linked to another of our customers.
    ProfileLinkedElsewhere,
    /// The tokens could not be kept anywhere: the customer must consent again.
    NotStored,
    /// Our store or secrets were unavailable.
    Unavailable,
    /// The customer was erased (`kyc erase`) and its drop period runs: no consent is kept.
    CustomerErased,
}

impl FailureReason {
    /// The code appended to the failure URL.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::MalformedCallback => "malformed_callback",
            FailureReason::StateUnknown => "state_unknown",
            FailureReason::StateExpired => "state_expired",
            FailureReason::StateUsed => "state_used",
            FailureReason::WrongRoute => "wrong_route",
            FailureReason::AccessDenied => "access_denied",
            FailureReason::InvalidScope => "invalid_scope",
            FailureReason::GoPayError => "gopay_error",
            FailureReason::ExchangeFailed => "exchange_failed",
            FailureReason::ProfileLinkedElsewhere => "profile_linked_elsewhere",
            FailureReason::NotStored => "not_stored",
            FailureReason::Unavailable => "unavailable",
            FailureReason::CustomerErased => "customer_erased",
        }
    }

    /// The reason of a refused state.
    pub fn of_rejection(rejection: StateRejection) -> Self {
        match rejection {
            StateRejection::Unknown => FailureReason::StateUnknown,
            StateRejection::Expired => FailureReason::StateExpired,
            StateRejection::AlreadyUsed => FailureReason::StateUsed,
        }
    }

    /// The reason of GoPay's `error=`.
    pub fn of_consent_error(error: &ConsentError) -> Self {
        match error {
            ConsentError::AccessDenied => FailureReason::AccessDenied,
            ConsentError::InvalidScope => FailureReason::InvalidScope,
            ConsentError::Other(_) => FailureReason::GoPayError,
        }
    }
}

/// `failure_url` with `reason=<code>` appended to its query (kept before a fragment).
pub fn failure_redirect(failure_url: &str, reason: FailureReason) -> String {
    let (base, fragment) = match failure_url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (failure_url, None),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut url = format!("{base}{separator}reason={}", reason.as_str());
    if let Some(f) = fragment {
        url.push('#');
        url.push_str(f);
    }
    url
}

/// The rule for a callback's state: unknown, used or expired → rejected (nothing else happens).
pub fn check_state(
    stored: Option<&PendingConsent>,
    now: DateTime<Utc>,
) -> Result<&PendingConsent, GoPayError> {
    let pending = stored.ok_or(GoPayError::StateRejected(StateRejection::Unknown))?;
    pending.check(now).map_err(GoPayError::StateRejected)?;
    Ok(pending)
}

/// What the consent URL carries.
#[derive(Debug, Clone, Copy)]
pub struct ConsentRequest<'a> {
    /// Our client id at GoPay.
    pub client_id: &'a str,
    /// The consent's single-use state.
    pub state: &'a ConsentState,
    /// Our callback (`GET /gopay/callback`), absolute https (http on loopback only).
    pub redirect_uri: &'a str,
    /// From `POST /api/prefill-client-data`, when data was prefilled.
    pub prefill_id: Option<&'a Secret>,
}

/// `{auth}/consent?scopes[]=perm.client.identification:read&client_id=…&state=…&redirect_uri=…
/// [&prefill_id=…]`, values percent-encoded. A `Secret` because it carries the state.
pub fn consent_url(hosts: &GoPayHosts, request: &ConsentRequest<'_>) -> Result<Secret, GoPayError> {
    if request.client_id.trim().is_empty() {
        return Err(GoPayError::MissingField {
            context: "consent",
            field: "client_id",
        });
    }
    check_absolute("redirect_uri", request.redirect_uri)?;
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("scopes[]", SCOPE_IDENTIFICATION_READ);
    query.append_pair("client_id", request.client_id);
    query.append_pair("state", request.state.expose());
    query.append_pair("redirect_uri", request.redirect_uri);
    if let Some(prefill) = request.prefill_id {
        query.append_pair("prefill_id", prefill.expose());
    }
    Ok(Secret::new(format!(
        "{}?{}",
        hosts.consent_endpoint(),
        query.finish()
    )))
}

/// `error` values of the consent redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentError {
    /// `access_denied`: the customer did not consent.
    AccessDenied,
    /// `invalid_scope`: the scope asked for is not allowed.
    InvalidScope,
    /// Any other value: kept if it looks like a code, else `"unrecognised"`.
    Other(String),
}

impl ConsentError {
    /// Reads an `error=` value (see the variants).
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            t if t.eq_ignore_ascii_case("access_denied") => ConsentError::AccessDenied,
            t if t.eq_ignore_ascii_case("invalid_scope") => ConsentError::InvalidScope,
            t if !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') =>
            {
                ConsentError::Other(t.to_string())
            }
            _ => ConsentError::Other("unrecognised".to_string()),
        }
    }
    /// The value as GoPay wrote it (or `unrecognised`).
    pub fn as_str(&self) -> &str {
        match self {
            ConsentError::AccessDenied => "access_denied",
            ConsentError::InvalidScope => "invalid_scope",
            ConsentError::Other(s) => s,
        }
    }
}

/// A well-formed consent callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// `?code=…&state=…`: exchange the code (within 10 minutes, once).
    Granted {
        /// The authorization code: a secret.
        code: Secret,
        /// The consent's state.
        state: ConsentState,
    },
    /// `?error=…&state=…`: record the refusal on the customer.
    Denied {
        /// GoPay's `error`.
        error: ConsentError,
        /// The consent's state.
        state: ConsentState,
    },
}

impl CallbackOutcome {
    /// The callback's state.
    pub fn state(&self) -> &ConsentState {
        match self {
            CallbackOutcome::Granted { state, .. } | CallbackOutcome::Denied { state, .. } => state,
        }
    }
}

/// Parses the redirect's query (with or without its leading `?`). Exactly one `state` in this
/// module's format, and exactly one of `code` or `error`; other parameters are ignored.
pub fn parse_callback_query(query: &str) -> Result<CallbackOutcome, GoPayError> {
    let malformed = |d| GoPayError::MalformedCallback(d);
    let query = query.strip_prefix('?').unwrap_or(query);
    if query.trim().is_empty() {
        return Err(malformed(CallbackDefect::Empty));
    }
    let (mut code, mut state, mut error) = (None, None, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let (slot, name) = match key.as_ref() {
            "code" => (&mut code, "code"),
            "state" => (&mut state, "state"),
            "error" => (&mut error, "error"),
            _ => continue,
        };
        if slot.is_some() {
            return Err(malformed(CallbackDefect::Duplicate(name)));
        }
        *slot = Some(value.into_owned());
    }
    let state = match state {
        None => return Err(malformed(CallbackDefect::MissingState)),
        Some(s) if s.is_empty() => return Err(malformed(CallbackDefect::EmptyValue("state"))),
        Some(s) => ConsentState::from_callback(&s)?,
    };
    match (code, error) {
        (Some(_), Some(_)) => Err(malformed(CallbackDefect::CodeAndError)),
        (None, None) => Err(malformed(CallbackDefect::MissingCodeAndError)),
        (Some(c), None) if c.trim().is_empty() => {
            Err(malformed(CallbackDefect::EmptyValue("code")))
        }
        (Some(c), None) if c.len() > MAX_CODE_LEN => Err(malformed(CallbackDefect::CodeTooLong)),
        (Some(c), None) => Ok(CallbackOutcome::Granted {
            code: Secret::new(c.trim().to_string()),
            state,
        }),
        (None, Some(e)) if e.trim().is_empty() => {
            Err(malformed(CallbackDefect::EmptyValue("error")))
        }
        (None, Some(e)) => Ok(CallbackOutcome::Denied {
            error: ConsentError::parse(&e),
            state,
        }),
    }
}
