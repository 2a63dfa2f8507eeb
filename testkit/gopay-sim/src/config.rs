//! What a simulator run looks like: credentials, clock, lifetimes, profile scripts, faults.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};

/// How the simulator's clock moves. Either way tests can move it with
/// [`crate::GoPaySim::advance`] and [`crate::GoPaySim::set_now`].
#[derive(Debug, Clone, PartialEq)]
pub enum ClockMode {
    /// Time stands still at this instant until a test moves it (deterministic tests).
    Frozen(DateTime<Utc>),
    /// Time follows the real clock, plus whatever a test added (the demo).
    Real,
}

/// Simulator settings. `SimConfig::default()` suits most tests.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub client_id: String,
    pub client_secret: String,
    pub clock: ClockMode,
    /// Serve the authorisation and identification services on two ports, as GoPay does on two
    /// hosts, so a request sent to the wrong host gets 404.
    pub split_hosts: bool,
    /// Authorization-code lifetime (GoPay: 10 minutes).
    pub code_ttl: Duration,
    /// Client access-token lifetime (GoPay: 60 minutes).
    pub access_token_ttl: Duration,
    /// App-token lifetime (not documented; 60 minutes assumed).
    pub app_token_ttl: Duration,
    /// Profile used when `/consent` is reached with no queued or named profile.
    pub default_profile: ProfileSpec,
    /// Used when `/consent` has no `redirect_uri`.
    pub default_redirect_uri: Option<String>,
    /// Seed of the token generator (tokens are then reproducible).
    pub seed: u64,
    /// How long a `Hang` fault holds a request before answering 504.
    pub hang_for: StdDuration,
    /// First client profile id handed out.
    pub first_profile_id: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            client_id: "777777777777".into(),
            client_secret: "sim-client-secret".into(),
            clock: ClockMode::Frozen(
                DateTime::parse_from_rfc3339("2025-03-10T08:00:00Z")
                    .expect("valid instant")
                    .with_timezone(&Utc),
            ),
            split_hosts: false,
            code_ttl: Duration::minutes(10),
            access_token_ttl: Duration::minutes(60),
            app_token_ttl: Duration::minutes(60),
            default_profile: ProfileSpec::default(),
            default_redirect_uri: None,
            seed: 0x5eed_60ba,
            hang_for: StdDuration::from_secs(30),
            first_profile_id: 1000,
        }
    }
}

/// One step of a profile's identification: from `after` (since the profile started) the
/// identification-status answers this state and these reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptStep {
    pub after: Duration,
    pub state: String,
    pub reasons: Vec<String>,
}

/// How a profile's identification evolves. Values are free strings so tests can also script
/// states and reasons the reference does not list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    steps: Vec<ScriptStep>,
}

impl Script {
    /// Starts `PENDING` with no reason at time 0.
    pub fn pending() -> Self {
        Self::constant("PENDING", &[])
    }
    /// One state forever.
    pub fn constant(state: &str, reasons: &[&str]) -> Self {
        Self {
            steps: vec![ScriptStep {
                after: Duration::zero(),
                state: state.into(),
                reasons: reasons.iter().map(|r| r.to_string()).collect(),
            }],
        }
    }
    /// Adds a step (steps are kept sorted by `after`).
    pub fn then(mut self, after: Duration, state: &str, reasons: &[&str]) -> Self {
        self.steps.push(ScriptStep {
            after,
            state: state.into(),
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
        });
        self.steps.sort_by_key(|s| s.after);
        self
    }
    /// PENDING → PENDING(WAITING_IDENT_DOCUMENT) at 5 min → IDENTIFIED at 30 min →
    /// NOT_IDENTIFIED(EXPIRED_IDENTIFICATION) after 365 days (GoPay keeps monitoring).
    pub fn standard() -> Self {
        Self::pending()
            .then(Duration::minutes(5), "PENDING", &["WAITING_IDENT_DOCUMENT"])
            .then(Duration::minutes(30), "IDENTIFIED", &[])
            .then(
                Duration::days(365),
                "NOT_IDENTIFIED",
                &["EXPIRED_IDENTIFICATION"],
            )
    }
    /// PENDING → NOT_IDENTIFIED(DENIED_FACEMATCH) at 10 min.
    pub fn denied_facematch() -> Self {
        Self::pending().then(
            Duration::minutes(10),
            "NOT_IDENTIFIED",
            &["DENIED_FACEMATCH"],
        )
    }
    pub fn steps(&self) -> &[ScriptStep] {
        &self.steps
    }
    /// The step in force `elapsed` after the start (the first step before any).
    pub fn at(&self, elapsed: Duration) -> &ScriptStep {
        self.steps
            .iter()
            .rev()
            .find(|s| s.after <= elapsed)
            .unwrap_or(&self.steps[0])
    }
    /// Replaces every step from `elapsed` on by one fixed step.
    pub(crate) fn override_from(&mut self, elapsed: Duration, state: &str, reasons: &[&str]) {
        self.steps.retain(|s| s.after < elapsed);
        self.steps.push(ScriptStep {
            after: elapsed,
            state: state.into(),
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
        });
    }
}

impl Default for Script {
    fn default() -> Self {
        Self::standard()
    }
}

/// What the customer does on GoPay's consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsentBehaviour {
    #[default]
    Grant,
    /// Redirects back with `error=access_denied`.
    Deny,
}

/// The identified person's names and birth date, as `subjectData` reports them (the other
/// fields stay synthetic). Values are personal data in tests: list them in the planted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectSpec {
    pub first_name: String,
    pub last_name: String,
    /// `yyyy-mm-dd`, as the reference writes `dateOfBirth`.
    pub date_of_birth: String,
}

impl SubjectSpec {
    pub fn new(first_name: &str, last_name: &str, date_of_birth: &str) -> Self {
        Self {
            first_name: first_name.into(),
            last_name: last_name.into(),
            date_of_birth: date_of_birth.into(),
        }
    }
}

/// A simulated customer profile.
#[derive(Debug, Clone, Default)]
pub struct ProfileSpec {
    pub script: Script,
    pub consent: ConsentBehaviour,
    /// `PERSON` or `COMPANY`.
    pub company: bool,
    /// How long the customer spends at GoPay (registering, logging in) before GoPay redirects
    /// back: the simulated clock moves on by it when the consent page answers, and the code
    /// is issued at the end of it.
    pub journey: Duration,
    /// The identified person (`None`: synthetic names and birth date).
    pub subject: Option<SubjectSpec>,
}

impl ProfileSpec {
    pub fn with_script(script: Script) -> Self {
        Self {
            script,
            ..Self::default()
        }
    }
    pub fn denying() -> Self {
        Self {
            consent: ConsentBehaviour::Deny,
            ..Self::default()
        }
    }
    /// The same profile, identified as `subject`.
    pub fn identified_as(mut self, subject: SubjectSpec) -> Self {
        self.subject = Some(subject);
        self
    }
    /// The same profile, whose customer spends `journey` at GoPay before coming back.
    pub fn taking(mut self, journey: Duration) -> Self {
        self.journey = journey;
        self
    }
}

/// The simulator's endpoints, for faults and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    LoginApp,
    Consent,
    Token,
    Revoke,
    IdentificationStatus,
    IdentificationPdf,
    Prefill,
}

impl Endpoint {
    pub const ALL: [Endpoint; 7] = [
        Endpoint::LoginApp,
        Endpoint::Consent,
        Endpoint::Token,
        Endpoint::Revoke,
        Endpoint::IdentificationStatus,
        Endpoint::IdentificationPdf,
        Endpoint::Prefill,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::LoginApp => "login-app",
            Endpoint::Consent => "consent",
            Endpoint::Token => "token",
            Endpoint::Revoke => "revoke",
            Endpoint::IdentificationStatus => "identification-status",
            Endpoint::IdentificationPdf => "identification-pdf",
            Endpoint::Prefill => "prefill",
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }
}

/// What a fault does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status with an error body, without processing the request.
    Status(u16),
    /// Answer this status with an HTML page (a WAF or proxy in front of GoPay), without
    /// processing the request.
    Html(u16),
    /// Process the request (e.g. ROTATE the refresh token), then answer this status instead of
    /// the result: the client loses the answer, as when a connection drops after GoPay acted.
    StatusAfterProcessing(u16),
    /// Wait this long, then handle the request normally.
    Latency(StdDuration),
    /// Hold the request (for `SimConfig::hang_for`, or until shutdown) then answer 504: a
    /// client with a shorter timeout sees a timeout.
    Hang,
}

/// A fault on one endpoint, for every request or for the next `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `None`: until cleared.
    pub remaining: Option<u32>,
}

impl Fault {
    pub fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            remaining: None,
        }
    }
    pub fn times(kind: FaultKind, n: u32) -> Self {
        Self {
            kind,
            remaining: Some(n),
        }
    }
}
