//! The simulated GoPay: profiles, codes, tokens and prefills, and what each endpoint answers.
//! Kept free of HTTP plumbing: the server parses nothing but hands raw headers, queries and
//! bodies to these methods and writes back the [`Reply`].

use std::collections::{HashMap, VecDeque};

use base64::Engine as _;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::config::{
    ConsentBehaviour, Endpoint, Fault, FaultKind, ProfileSpec, SimConfig, SubjectSpec,
};

pub(crate) const SCOPE: &str = "perm.client.identification:read";

/// An HTTP answer, before it is written.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub location: Option<String>,
}

impl Reply {
    fn json(status: u16, value: Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(&value).expect("JSON serializes"),
            location: None,
        }
    }
    fn redirect(location: String) -> Self {
        Self {
            status: 302,
            content_type: "text/plain; charset=utf-8",
            body: Vec::new(),
            location: Some(location),
        }
    }
    /// GoPay REST error layout, used by the identification service and for faults.
    pub(crate) fn rest_error(status: u16, name: &str, message: &str) -> Self {
        Self::json(
            status,
            json!({"errors": [{"error_code": status, "error_name": name, "message": message}]}),
        )
    }
    /// OAuth error layout, used by `/api/token` and `/api/revoke`.
    fn oauth_error(status: u16, code: &str, description: &str) -> Self {
        Self::json(
            status,
            json!({"error": code, "error_description": description}),
        )
    }
}

/// What happened to one refresh-token use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUseOutcome {
    /// The token was valid and was replaced by a new one.
    Rotated,
    /// The token had already been used (rotated away): the use a client must never make.
    RejectedAlreadyUsed,
    /// The token was revoked.
    RejectedRevoked,
    /// No such token was ever issued.
    RejectedUnknown,
}

/// One `grant_type=refresh_token` call, as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUse {
    pub token: String,
    pub profile_id: Option<u64>,
    /// The token's generation for its profile (1 = issued by the code exchange).
    pub generation: Option<u32>,
    pub at: DateTime<Utc>,
    pub outcome: TokenUseOutcome,
}

/// A consent granted without the HTTP dance (bulk seeding for benchmarks).
#[derive(Debug, Clone)]
pub struct IssuedConsent {
    pub profile_id: u64,
    pub refresh_token: String,
    pub access_token: String,
    pub access_expires_at: DateTime<Utc>,
}

/// A snapshot of one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileView {
    pub id: u64,
    pub state: String,
    pub reasons: Vec<String>,
    pub started_at: DateTime<Utc>,
    pub revoked: bool,
    pub consents: u32,
    pub status_polls: u64,
    /// How many refresh tokens this profile has had (rotations + 1 per consent).
    pub refresh_generation: u32,
    pub active_refresh_tokens: usize,
    pub prefill_id: Option<String>,
}

#[derive(Debug, Clone)]
struct Profile {
    spec: ProfileSpec,
    started_at: DateTime<Utc>,
    revoked: bool,
    consents: u32,
    polls: u64,
    generation: u32,
    prefill_id: Option<String>,
    /// Answers 404 to status and PDF requests (the profile no longer exists at GoPay).
    gone: bool,
    /// Refreshes with this profile's tokens answer a bare 403 (no body, token untouched).
    bare_refresh_refusal: bool,
}

#[derive(Debug, Clone)]
struct CodeEntry {
    profile: u64,
    client_id: String,
    issued_at: DateTime<Utc>,
    used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Active,
    Rotated,
    Revoked,
}

#[derive(Debug, Clone)]
struct RefreshEntry {
    profile: u64,
    generation: u32,
    state: RefreshState,
}

#[derive(Debug, Clone)]
struct AccessEntry {
    /// `None`: app token.
    profile: Option<u64>,
    expires_at: DateTime<Utc>,
}

/// Faults to apply to one request, taken (and counted down) when it arrives.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultPlan {
    pub latency: std::time::Duration,
    pub hang: bool,
    pub before: Option<u16>,
    /// `before` is answered as an HTML page.
    pub html: bool,
    pub after: Option<u16>,
}

pub(crate) struct Model {
    cfg: SimConfig,
    rng: StdRng,
    next_profile: u64,
    profiles: HashMap<u64, Profile>,
    consent_queue: VecDeque<u64>,
    codes: HashMap<String, CodeEntry>,
    refresh: HashMap<String, RefreshEntry>,
    access: HashMap<String, AccessEntry>,
    prefills: HashMap<String, Value>,
    faults: HashMap<Endpoint, Vec<Fault>>,
    pub(crate) token_uses: Vec<TokenUse>,
    pub(crate) code_reuses: u64,
    pub(crate) requests: HashMap<Endpoint, u64>,
    /// Time the last consent page's customer spent at GoPay: the server moves the clock on.
    pub(crate) journey: Duration,
}

fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Prague civil time for an instant, computed independently of the client library: CEST from
/// the last Sunday of March to the last Sunday of October, 01:00 UTC.
pub(crate) fn gopay_date(at: DateTime<Utc>) -> String {
    fn last_sunday_at_1utc(year: i32, month: u32) -> NaiveDateTime {
        let last =
            NaiveDate::from_ymd_opt(year, month, 31).expect("March and October have 31 days");
        let back = last.weekday().num_days_from_sunday();
        (last - Duration::days(i64::from(back)))
            .and_hms_opt(1, 0, 0)
            .expect("valid time")
    }
    let t = at.naive_utc();
    let summer = t >= last_sunday_at_1utc(t.year(), 3) && t < last_sunday_at_1utc(t.year(), 10);
    let local = t + Duration::hours(if summer { 2 } else { 1 });
    local.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn bearer(authorization: Option<&str>) -> Option<&str> {
    let v = authorization?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl Model {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        Self {
            rng: StdRng::seed_from_u64(cfg.seed),
            next_profile: cfg.first_profile_id,
            cfg,
            profiles: HashMap::new(),
            consent_queue: VecDeque::new(),
            codes: HashMap::new(),
            refresh: HashMap::new(),
            access: HashMap::new(),
            prefills: HashMap::new(),
            faults: HashMap::new(),
            token_uses: Vec::new(),
            code_reuses: 0,
            requests: HashMap::new(),
            journey: Duration::zero(),
        }
    }

    fn random_token(&mut self, prefix: &str, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.rng.fill(&mut buf[..]);
        format!(
            "{prefix}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
        )
    }

    fn random_code(&mut self) -> String {
        let b: [u8; 16] = self.rng.random();
        let h = hex(&b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }

    // ----- test control -------------------------------------------------------------------

    pub(crate) fn add_profile(&mut self, spec: ProfileSpec, now: DateTime<Utc>) -> u64 {
        let id = self.next_profile;
        self.next_profile += 1;
        self.profiles.insert(
            id,
            Profile {
                spec,
                started_at: now,
                revoked: false,
                consents: 0,
                polls: 0,
                generation: 0,
                prefill_id: None,
                gone: false,
                bare_refresh_refusal: false,
            },
        );
        id
    }

    pub(crate) fn forget_profile(&mut self, id: u64) -> bool {
        self.profiles.get_mut(&id).map(|p| p.gone = true).is_some()
    }

    pub(crate) fn refuse_refresh_bare(&mut self, id: u64, refuse: bool) -> bool {
        self.profiles
            .get_mut(&id)
            .map(|p| p.bare_refresh_refusal = refuse)
            .is_some()
    }

    pub(crate) fn enqueue_consent(&mut self, id: u64) -> bool {
        if self.profiles.contains_key(&id) {
            self.consent_queue.push_back(id);
            true
        } else {
            false
        }
    }

    pub(crate) fn issue_code(&mut self, profile: u64, now: DateTime<Utc>) -> Option<String> {
        let p = self.profiles.get_mut(&profile)?;
        p.revoked = false;
        p.consents += 1;
        let code = self.random_code();
        self.codes.insert(
            code.clone(),
            CodeEntry {
                profile,
                client_id: self.cfg.client_id.clone(),
                issued_at: now,
                used: false,
            },
        );
        Some(code)
    }

    pub(crate) fn grant_directly(
        &mut self,
        profile: u64,
        now: DateTime<Utc>,
    ) -> Option<IssuedConsent> {
        let p = self.profiles.get_mut(&profile)?;
        p.revoked = false;
        p.consents += 1;
        let (access, refresh, expires) = self.issue_client_tokens(profile, now);
        Some(IssuedConsent {
            profile_id: profile,
            refresh_token: refresh,
            access_token: access,
            access_expires_at: expires,
        })
    }

    pub(crate) fn override_status(
        &mut self,
        id: u64,
        now: DateTime<Utc>,
        state: &str,
        reasons: &[&str],
    ) -> bool {
        match self.profiles.get_mut(&id) {
            Some(p) => {
                let elapsed = now - p.started_at;
                p.spec.script.override_from(elapsed, state, reasons);
                true
            }
            None => false,
        }
    }

    pub(crate) fn profile_view(&self, id: u64, now: DateTime<Utc>) -> Option<ProfileView> {
        let p = self.profiles.get(&id)?;
        let step = p.spec.script.at(now - p.started_at);
        Some(ProfileView {
            id,
            state: step.state.clone(),
            reasons: step.reasons.clone(),
            started_at: p.started_at,
            revoked: p.revoked,
            consents: p.consents,
            status_polls: p.polls,
            refresh_generation: p.generation,
            active_refresh_tokens: self
                .refresh
                .values()
                .filter(|r| r.profile == id && r.state == RefreshState::Active)
                .count(),
            prefill_id: p.prefill_id.clone(),
        })
    }

    pub(crate) fn prefill(&self, id: &str) -> Option<Value> {
        self.prefills.get(id).cloned()
    }

    pub(crate) fn set_fault(&mut self, endpoint: Endpoint, fault: Fault) {
        self.faults.entry(endpoint).or_default().push(fault);
    }

    pub(crate) fn clear_faults(&mut self, endpoint: Option<Endpoint>) {
        match endpoint {
            Some(e) => {
                self.faults.remove(&e);
            }
            None => self.faults.clear(),
        }
    }

    /// Counts the request and takes the faults that apply to it.
    pub(crate) fn arrive(&mut self, endpoint: Endpoint) -> FaultPlan {
        *self.requests.entry(endpoint).or_default() += 1;
        let mut plan = FaultPlan::default();
        if let Some(list) = self.faults.get_mut(&endpoint) {
            for fault in list.iter_mut() {
                match fault.kind {
                    FaultKind::Latency(d) => plan.latency += d,
                    FaultKind::Hang => plan.hang = true,
                    FaultKind::Status(s) if plan.before.is_none() => plan.before = Some(s),
                    FaultKind::Html(s) if plan.before.is_none() => {
                        plan.before = Some(s);
                        plan.html = true;
                    }
                    FaultKind::StatusAfterProcessing(s) if plan.after.is_none() => {
                        plan.after = Some(s)
                    }
                    _ => continue,
                }
                if let Some(n) = fault.remaining.as_mut() {
                    *n = n.saturating_sub(1);
                }
            }
            list.retain(|f| f.remaining != Some(0));
        }
        plan
    }

    // ----- tokens -------------------------------------------------------------------------

    fn issue_client_tokens(
        &mut self,
        profile: u64,
        now: DateTime<Utc>,
    ) -> (String, String, DateTime<Utc>) {
        let access = self.random_token("sim-at.", 24);
        let refresh = self.random_token("sim-rt.", 32);
        let expires_at = now + self.cfg.access_token_ttl;
        let p = self.profiles.get_mut(&profile).expect("profile exists");
        p.generation += 1;
        let generation = p.generation;
        self.access.insert(
            access.clone(),
            AccessEntry {
                profile: Some(profile),
                expires_at,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            RefreshEntry {
                profile,
                generation,
                state: RefreshState::Active,
            },
        );
        (access, refresh, expires_at)
    }

    fn client_ok(&self, f: &HashMap<String, String>) -> bool {
        f.get("client_id") == Some(&self.cfg.client_id)
            && f.get("client_secret") == Some(&self.cfg.client_secret)
    }

    fn access_entry(
        &self,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Option<&AccessEntry> {
        let token = bearer(authorization)?;
        self.access.get(token).filter(|e| now < e.expires_at)
    }

    /// `GET /api/login/app`, Basic `ClientID:ClientSecret`.
    pub(crate) fn login_app(&mut self, now: DateTime<Utc>, authorization: Option<&str>) -> Reply {
        let ok = authorization
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
            .and_then(|(_, b64)| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .ok()
            })
            .and_then(|raw| String::from_utf8(raw).ok())
            .is_some_and(|pair| {
                pair == format!("{}:{}", self.cfg.client_id, self.cfg.client_secret)
            });
        if !ok {
            return Reply::rest_error(403, "UNAUTHORIZED", "invalid client credentials");
        }
        let token = self.random_token("sim-app.", 24);
        self.access.insert(
            token.clone(),
            AccessEntry {
                profile: None,
                expires_at: now + self.cfg.app_token_ttl,
            },
        );
        Reply::json(200, json!({ "accessToken": token }))
    }

    /// `GET /consent?scopes[]=…&client_id=…&state=…&redirect_uri=…&prefill_id=…`.
    /// Simulator extension: `sim_profile=ID` names the customer who consents.
    pub(crate) fn consent(&mut self, now: DateTime<Utc>, query: Option<&str>) -> Reply {
        let mut scopes = Vec::new();
        let mut params: HashMap<String, String> = HashMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if k == "scopes[]" || k == "scopes" {
                scopes.push(v.into_owned());
            } else {
                params.insert(k.into_owned(), v.into_owned());
            }
        }
        if params.get("client_id") != Some(&self.cfg.client_id) {
            return Reply::rest_error(409, "INVALID_CLIENT_ID", "unknown client_id");
        }
        let Some(redirect) = params
            .get("redirect_uri")
            .cloned()
            .or_else(|| self.cfg.default_redirect_uri.clone())
        else {
            return Reply::rest_error(409, "MISSING_REDIRECT_URI", "redirect_uri is required");
        };
        if !(redirect.starts_with("https://") || redirect.starts_with("http://"))
            || redirect.contains('#')
        {
            return Reply::rest_error(
                409,
                "INVALID_REDIRECT_URI",
                "redirect_uri must be an absolute URL",
            );
        }
        let back = |pairs: &[(&str, &str)], state: Option<&String>| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(s) = state {
                q.append_pair("state", s);
            }
            let sep = if redirect.contains('?') { '&' } else { '?' };
            Reply::redirect(format!("{redirect}{sep}{}", q.finish()))
        };
        let state = params.get("state");
        if !scopes
            .iter()
            .any(|s| s == SCOPE || s == "perm.client.identification")
        {
            return back(&[("error", "invalid_scope")], state);
        }
        let prefill = params.get("prefill_id").cloned();
        if let Some(p) = &prefill {
            if !self.prefills.contains_key(p) {
                return Reply::rest_error(409, "INVALID_PREFILL_ID", "unknown prefill_id");
            }
        }
        let profile = match params.get("sim_profile") {
            Some(id) => match id
                .parse::<u64>()
                .ok()
                .filter(|id| self.profiles.contains_key(id))
            {
                Some(id) => id,
                None => return Reply::rest_error(404, "NOT_FOUND", "unknown sim_profile"),
            },
            None => match self.consent_queue.pop_front() {
                Some(id) => id,
                None => self.add_profile(self.cfg.default_profile.clone(), now),
            },
        };
        let behaviour = self.profiles[&profile].spec.consent;
        // The customer registers or logs in first: GoPay redirects back only after it.
        let journey = self.profiles[&profile].spec.journey;
        self.journey = journey;
        if let Some(p) = prefill {
            self.profiles.get_mut(&profile).expect("exists").prefill_id = Some(p);
        }
        match behaviour {
            ConsentBehaviour::Deny => back(&[("error", "access_denied")], state),
            ConsentBehaviour::Grant => {
                let code = self
                    .issue_code(profile, now + journey)
                    .expect("profile exists");
                back(&[("code", &code)], state)
            }
        }
    }

    /// `POST /api/token` (form): `authorization_code` or `refresh_token`.
    pub(crate) fn token(&mut self, now: DateTime<Utc>, body: &[u8]) -> Reply {
        let f = form(body);
        if !f.contains_key("client_id")
            || !f.contains_key("client_secret")
            || !f.contains_key("grant_type")
        {
            return Reply::oauth_error(
                409,
                "invalid_request",
                "client_id, client_secret and grant_type are required",
            );
        }
        if !self.client_ok(&f) {
            return Reply::oauth_error(403, "invalid_client", "client authentication failed");
        }
        let profile = match f["grant_type"].as_str() {
            "authorization_code" => {
                let Some(code) = f.get("code").filter(|c| !c.is_empty()) else {
                    return Reply::oauth_error(409, "invalid_request", "code is required");
                };
                let ttl = self.cfg.code_ttl;
                let Some(entry) = self.codes.get_mut(code) else {
                    return Reply::oauth_error(403, "invalid_grant", "unknown authorization code");
                };
                if entry.used {
                    self.code_reuses += 1;
                    return Reply::oauth_error(
                        403,
                        "invalid_grant",
                        "authorization code already used",
                    );
                }
                if now >= entry.issued_at + ttl {
                    return Reply::oauth_error(403, "invalid_grant", "authorization code expired");
                }
                if entry.client_id != f["client_id"] {
                    return Reply::oauth_error(
                        403,
                        "invalid_grant",
                        "code issued to another client",
                    );
                }
                entry.used = true;
                entry.profile
            }
            "refresh_token" => {
                let Some(token) = f.get("refresh_token").filter(|t| !t.is_empty()).cloned() else {
                    return Reply::oauth_error(409, "invalid_request", "refresh_token is required");
                };
                let refused = self
                    .refresh
                    .get(&token)
                    .and_then(|e| self.profiles.get(&e.profile))
                    .is_some_and(|p| p.bare_refresh_refusal);
                if refused {
                    // A bare 403: no body at all, nothing said about the token (kept live).
                    return Reply {
                        status: 403,
                        content_type: "text/plain; charset=utf-8",
                        body: Vec::new(),
                        location: None,
                    };
                }
                let entry = self.refresh.get_mut(&token);
                let (outcome, profile, generation) = match entry {
                    None => (TokenUseOutcome::RejectedUnknown, None, None),
                    Some(e) => {
                        let outcome = match e.state {
                            RefreshState::Active => TokenUseOutcome::Rotated,
                            RefreshState::Rotated => TokenUseOutcome::RejectedAlreadyUsed,
                            RefreshState::Revoked => TokenUseOutcome::RejectedRevoked,
                        };
                        if outcome == TokenUseOutcome::Rotated {
                            e.state = RefreshState::Rotated;
                        }
                        (outcome, Some(e.profile), Some(e.generation))
                    }
                };
                self.token_uses.push(TokenUse {
                    token,
                    profile_id: profile,
                    generation,
                    at: now,
                    outcome,
                });
                match (outcome, profile) {
                    (TokenUseOutcome::Rotated, Some(p)) => p,
                    (TokenUseOutcome::RejectedAlreadyUsed, _) => {
                        return Reply::oauth_error(
                            403,
                            "invalid_grant",
                            "refresh token already used",
                        )
                    }
                    (TokenUseOutcome::RejectedRevoked, _) => {
                        return Reply::oauth_error(403, "invalid_grant", "refresh token revoked")
                    }
                    _ => return Reply::oauth_error(403, "invalid_grant", "unknown refresh token"),
                }
            }
            _ => {
                return Reply::oauth_error(409, "unsupported_grant_type", "unsupported grant_type")
            }
        };
        let (access, refresh, _) = self.issue_client_tokens(profile, now);
        Reply::json(
            200,
            json!({ "refreshToken": refresh, "accessToken": access, "clientProfileId": profile }),
        )
    }

    /// `POST /api/revoke` (form: client_id, client_secret, token = refresh token).
    pub(crate) fn revoke(&mut self, body: &[u8]) -> Reply {
        let f = form(body);
        if !self.client_ok(&f) {
            return Reply::oauth_error(403, "invalid_client", "client authentication failed");
        }
        let Some(token) = f.get("token").filter(|t| !t.is_empty()) else {
            return Reply::oauth_error(409, "invalid_request", "token is required");
        };
        if let Some(profile) = self.refresh.get(token).map(|e| e.profile) {
            for e in self.refresh.values_mut().filter(|e| e.profile == profile) {
                e.state = RefreshState::Revoked;
            }
            self.access.retain(|_, a| a.profile != Some(profile));
            if let Some(p) = self.profiles.get_mut(&profile) {
                p.revoked = true;
            }
        }
        Reply::json(200, json!({}))
    }

    fn profile_for_read(&self, id: &str) -> Result<u64, Reply> {
        id.parse::<u64>()
            .ok()
            .filter(|id| self.profiles.get(id).is_some_and(|p| !p.gone))
            .ok_or_else(|| Reply::rest_error(404, "NOT_FOUND", "unknown client profile"))
    }

    /// `GET /api/client-profile/{id}/identification-status`, client bearer token.
    pub(crate) fn status(
        &mut self,
        now: DateTime<Utc>,
        id: &str,
        authorization: Option<&str>,
    ) -> Reply {
        let token_profile = self.access_entry(authorization, now).map(|e| e.profile);
        let id = match self.profile_for_read(id) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        if token_profile != Some(Some(id)) {
            return Reply::rest_error(
                403,
                "UNAUTHORIZED",
                "a valid client token for this profile is required",
            );
        }
        let p = self.profiles.get_mut(&id).expect("checked");
        p.polls += 1;
        let p = &self.profiles[&id];
        let step = p.spec.script.at(now - p.started_at);
        let mut body = json!({
            "clientProfileId": id,
            "state": step.state,
            "reasons": step.reasons,
            "dateStarted": gopay_date(p.started_at),
            "dateLastChange": gopay_date(p.started_at + step.after),
        });
        if step.state != "PENDING" {
            body["subjectType"] = json!(if p.spec.company { "COMPANY" } else { "PERSON" });
            body["subjectData"] = subject_data(id, p.spec.subject.as_ref());
            body["identificationData"] =
                identification_data(id, p.started_at, p.spec.subject.as_ref());
        }
        Reply::json(200, body)
    }

    /// `GET /api/client-profile/{id}/identification-pdf[?onDate=YYYY-MM-DD]`: client token of
    /// the profile, or the app token when the profile consented at some point.
    pub(crate) fn pdf(
        &mut self,
        now: DateTime<Utc>,
        id: &str,
        query: Option<&str>,
        authorization: Option<&str>,
    ) -> Reply {
        let token_profile = self.access_entry(authorization, now).map(|e| e.profile);
        let id = match self.profile_for_read(id) {
            Ok(id) => id,
            Err(reply) => return reply,
        };
        let p = &self.profiles[&id];
        let allowed = match token_profile {
            Some(Some(t)) => t == id,
            Some(None) => p.consents > 0,
            None => false,
        };
        if !allowed {
            return Reply::rest_error(403, "UNAUTHORIZED", "no valid token for this profile");
        }
        let on_date = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == "onDate")
            .map(|(_, v)| v.into_owned());
        let at = match &on_date {
            None => now,
            Some(d) => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(day) => {
                    let end = (day + Duration::days(1))
                        .and_hms_opt(0, 0, 0)
                        .expect("midnight")
                        .and_utc();
                    end.min(now)
                }
                Err(_) => {
                    return Reply::rest_error(409, "INVALID_DATE", "onDate must be YYYY-MM-DD")
                }
            },
        };
        let step = p.spec.script.at(at - p.started_at);
        if at < p.started_at
            || !(step.state == "IDENTIFIED" || step.state == "PARTIALLY_IDENTIFIED")
        {
            return Reply::rest_error(
                404,
                "NOT_IDENTIFIED",
                "no identification to transcribe on that date",
            );
        }
        let day = at.date_naive().format("%Y-%m-%d").to_string();
        Reply {
            status: 200,
            content_type: "application/pdf",
            body: pdf_bytes(&format!(
                "GoPay identification transcript - profile {id} - {day} - {}",
                step.state
            )),
            location: None,
        }
    }

    /// `POST /api/prefill-client-data` (JSON), app or client bearer token.
    pub(crate) fn prefill_create(
        &mut self,
        now: DateTime<Utc>,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Reply {
        if self.access_entry(authorization, now).is_none() {
            return Reply::rest_error(403, "UNAUTHORIZED", "a valid token is required");
        }
        if !content_type.is_some_and(|c| {
            c.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        }) {
            return Reply::rest_error(
                409,
                "INVALID_CONTENT_TYPE",
                "Content-Type must be application/json",
            );
        }
        let Ok(Value::Object(data)) = serde_json::from_slice::<Value>(body) else {
            return Reply::rest_error(409, "INVALID_BODY", "body must be a JSON object");
        };
        let mut errors = Vec::new();
        let known = [
            "firstName",
            "lastName",
            "email",
            "phoneNumber",
            "domesticBankAccount",
            "internationalBankAccount",
            "address",
        ];
        for (k, v) in &data {
            if !known.contains(&k.as_str()) {
                errors.push(json!({"field": k, "error_name": "UNKNOWN_FIELD"}));
            } else if k == "internationalBankAccount" {
                let iban_ok = v.get("iban").and_then(Value::as_str).is_some_and(|i| {
                    (15..=34).contains(&i.len()) && i.bytes().all(|b| b.is_ascii_alphanumeric())
                });
                if !iban_ok {
                    errors.push(json!({"field": "internationalBankAccount.iban", "error_name": "INVALID_IBAN"}));
                }
            } else if !v.is_string() {
                errors.push(json!({"field": k, "error_name": "NOT_A_STRING"}));
            }
        }
        if let Some(email) = data.get("email").and_then(Value::as_str) {
            if !email.contains('@') {
                errors.push(json!({"field": "email", "error_name": "INVALID_EMAIL"}));
            }
        }
        if let Some(phone) = data.get("phoneNumber").and_then(Value::as_str) {
            if !phone.starts_with('+') || !phone[1..].bytes().all(|b| b.is_ascii_digit()) {
                errors.push(json!({"field": "phoneNumber", "error_name": "INVALID_PHONE_NUMBER"}));
            }
        }
        if data.is_empty() {
            errors.push(json!({"field": null, "error_name": "EMPTY_BODY"}));
        }
        if !errors.is_empty() {
            return Reply::json(409, json!({ "errors": errors }));
        }
        let id = self.random_token("", 40);
        self.prefills.insert(id.clone(), Value::Object(data));
        Reply::json(200, json!({ "prefillId": id }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const FIRST_NAMES: [&str; 4] = ["Pavel", "Jana", "Tomáš", "Eva"];
const LAST_NAMES: [&str; 4] = ["Novák", "Svobodová", "Dvořák", "Černá"];

/// Synthetic (fake) subject data, deterministic per profile; names and birth date from
/// `subject` when the test chose them.
fn subject_data(id: u64, subject: Option<&SubjectSpec>) -> Value {
    let i = (id % 4) as usize;
    let mut data = json!({
        "firstName": FIRST_NAMES[i],
        "lastName": LAST_NAMES[i],
        "dateOfBirth": format!("19{:02}-06-12", 60 + id % 40),
        "birthNumber": format!("{:02}0612/{:04}", 60 + id % 40, id % 10_000),
        "sex": if i % 2 == 0 { "MALE" } else { "FEMALE" },
        "nationality": "CZE",
    });
    if let Some(s) = subject {
        data["firstName"] = json!(s.first_name);
        data["lastName"] = json!(s.last_name);
        data["dateOfBirth"] = json!(s.date_of_birth);
    }
    data
}

/// Synthetic identification data in the reference's layout.
fn identification_data(id: u64, started: DateTime<Utc>, subject: Option<&SubjectSpec>) -> Value {
    let received = gopay_date(started + Duration::minutes(1));
    let verified = gopay_date(started + Duration::minutes(20));
    let bank = json!({
        "state": "VERIFIED", "country": "CZE", "prefix": {}, "accountNumber": 2_174_251_001u64 + id,
        "bankCode": 192, "iban": "CZ6003000000002174251001", "bic": "CEKOCZPP", "ip": "127.0.0.1",
        "dateReceived": received, "dateVerified": verified,
    });
    let address = json!({
        "state": "VERIFIED", "street": "Vinohradská", "streetNumber": 22, "postalCode": 11000,
        "city": "Praha", "country": "CZE", "ip": "127.0.0.1",
        "dateReceived": received, "dateVerified": verified,
    });
    let additional = json!({
        "documentType": "BANK_STATEMENT", "source": "UPLOAD", "ip": "127.0.0.1",
        "dateReceived": received, "dateVerified": verified,
    });
    let mut person = subject_data(id, subject);
    person["faceMatch"] =
        json!({"verified": true, "source": "WEBCAM", "ip": "127.0.0.1", "dateReceived": received});
    person["identDocuments"] = json!([{
        "documentNumber": 100_000 + id % 900_000, "state": "VERIFIED", "source": "UPLOAD",
        "documentType": "ID_CARD", "expiryDate": gopay_date(started + Duration::days(3650)),
        "nationalCountry": "CZE", "ip": "127.0.0.1", "dateReceived": received, "dateVerified": verified,
    }]);
    person["bankAccounts"] = json!([bank]);
    person["addresses"] = json!([address]);
    person["additionalDocuments"] = json!([additional]);
    json!({
        "persons": [person],
        "bankAccounts": [bank],
        "addresses": [address],
        "additionalDocuments": [additional],
    })
}

/// A small, well-formed one-page PDF showing `text`.
pub(crate) fn pdf_bytes(text: &str) -> Vec<u8> {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && c != '(' && c != ')' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let stream = format!("BT /F1 11 Tf 50 780 Td ({safe}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{obj}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Weekday;

    #[test]
    fn prague_dates_switch_at_the_eu_transitions() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // 2025: summer time from 30 March 01:00 UTC to 26 October 01:00 UTC.
        assert_eq!(
            gopay_date(at("2025-03-30T00:59:59.5Z")),
            "2025-03-30 01:59:59.500"
        );
        assert_eq!(
            gopay_date(at("2025-03-30T01:00:00Z")),
            "2025-03-30 03:00:00.000"
        );
        assert_eq!(
            gopay_date(at("2025-10-26T00:59:00Z")),
            "2025-10-26 02:59:00.000"
        );
        assert_eq!(
            gopay_date(at("2025-10-26T01:00:00Z")),
            "2025-10-26 02:00:00.000"
        );
        assert_eq!(
            gopay_date(at("2025-01-15T12:00:00Z")),
            "2025-01-15 13:00:00.000"
        );
    }

    #[test]
    fn the_pdf_is_well_formed() {
        let pdf = pdf_bytes("hello (world)");
        let text = String::from_utf8(pdf.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4\n") && text.ends_with("%%EOF\n"));
        let xref: usize = text.lines().rev().nth(1).unwrap().parse().unwrap();
        assert!(text[xref..].starts_with("xref\n"));
        let obj3 = text.find("3 0 obj").unwrap();
        assert!(text.contains(&format!("{obj3:010} 00000 n")));
        assert!(!text.contains("(world)"), "parentheses are escaped away");
    }

    #[test]
    fn weekday_helper_matches_chrono() {
        let d = NaiveDate::from_ymd_opt(2025, 3, 30).unwrap();
        assert_eq!(d.weekday(), Weekday::Sun);
    }
}
