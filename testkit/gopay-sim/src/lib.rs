//! A faithful local GoPay identification-service simulator, for tests and the demo.
//!
//! It serves, on 127.0.0.1 and an ephemeral port (two ports with `split_hosts`), what the
//! reference describes (`shared/reference/gopay/identification-api.cs.txt`):
//!
//! | host | route | behaviour |
//! | --- | --- | --- |
//! | auth | `GET /api/login/app` | Basic `ClientID:ClientSecret` → `{accessToken}` (app token); 403 otherwise |
//! | auth | `GET /consent` | 302 to `redirect_uri?code=…&state=…` after the profile's `journey` (the clock moves on by it: registration, login), or `?error=access_denied` (denying profile) / `?error=invalid_scope` |
//! | auth | `POST /api/token` | form; `authorization_code` (10-minute, single-use codes) and `refresh_token` (ROTATION: the token sent dies) → `{refreshToken, accessToken, clientProfileId}`; dead grant → 403 `invalid_grant`; bad client → 403 `invalid_client`; missing fields → 409 |
//! | auth | `POST /api/revoke` | form; disconnects the profile (all its tokens die) → 200 `{}` |
//! | client | `GET /api/client-profile/{id}/identification-status` | client bearer token of that profile (60 minutes) → the profile's scripted state, with `subjectData` (the profile's `subject`, or synthetic) once not PENDING; 404 once forgotten |
//! | client | `GET /api/client-profile/{id}/identification-pdf[?onDate=]` | client token, or app token once consented → `application/pdf` |
//! | client | `POST /api/prefill-client-data` | JSON, bearer token → `{prefillId}`; 409 on validation errors |
//!
//! Errors use the documented codes: 403 (unauthorised), 404 (unknown profile or route), 409
//! (validation), 500 (and any other code) through faults. Where the reference is silent the
//! simulator's choice is documented on the method (error-body layouts, PDF of an unidentified
//! profile → 404, unknown `prefill_id` → 409).
//!
//! Tests drive it through [`GoPaySim`]: its clock ([`GoPaySim::advance`]), profiles and their
//! scripts ([`GoPaySim::add_profile`], [`GoPaySim::grant_consents`] in bulk), faults per
//! endpoint ([`GoPaySim::set_fault`]), and what it saw ([`GoPaySim::token_uses`],
//! [`GoPaySim::refresh_token_reuse_count`]). The bin (`gopay-sim`) exposes the same controls
//! over HTTP under `/_sim/` on the auth host.

mod clock;
pub mod config;
mod model;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{
    ClockMode, ConsentBehaviour, Endpoint, Fault, FaultKind, ProfileSpec, Script, ScriptStep,
    SimConfig, SubjectSpec,
};
pub use model::{IssuedConsent, ProfileView, TokenUse, TokenUseOutcome};

use clock::SimClock;
use model::Model;
use server::Shared;

/// A running simulator. Dropping it stops the servers; [`GoPaySim::shutdown`] does so and
/// waits for them.
pub struct GoPaySim {
    shared: Arc<Shared>,
    auth_addr: SocketAddr,
    client_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn serve(listener: TcpListener, app: axum::Router, mut stop: watch::Receiver<bool>) {
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
}

impl GoPaySim {
    /// Binds 127.0.0.1 on ephemeral port(s) and starts serving. Needs a Tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        let (stop, stop_rx) = watch::channel(false);
        let split = config.split_hosts;
        let shared = Arc::new(Shared {
            clock: SimClock::new(&config.clock),
            hang_for: config.hang_for,
            model: Mutex::new(Model::new(config)),
            shutdown: stop_rx.clone(),
        });
        let auth_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let auth_addr = auth_listener.local_addr()?;
        let mut tasks = Vec::new();
        let client_addr = if split {
            let client_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            let client_addr = client_listener.local_addr()?;
            let auth = server::app(server::auth_routes(), shared.clone());
            let client = server::app(server::client_routes(), shared.clone());
            tasks.push(tokio::spawn(serve(auth_listener, auth, stop_rx.clone())));
            tasks.push(tokio::spawn(serve(client_listener, client, stop_rx)));
            client_addr
        } else {
            let both = server::app(
                server::auth_routes().merge(server::client_routes()),
                shared.clone(),
            );
            tasks.push(tokio::spawn(serve(auth_listener, both, stop_rx)));
            auth_addr
        };
        Ok(Self {
            shared,
            auth_addr,
            client_addr,
            stop,
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT` of the authorisation service (the only one unless
    /// `split_hosts`).
    pub fn base_url(&self) -> String {
        self.auth_base_url()
    }
    /// Base URL of the authorisation service (`auth.…`).
    pub fn auth_base_url(&self) -> String {
        format!("http://{}", self.auth_addr)
    }
    /// Base URL of the identification service (`client.…`).
    pub fn client_base_url(&self) -> String {
        format!("http://{}", self.client_addr)
    }

    /// Stops accepting, lets in-flight requests finish (hung ones are released), waits.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in self.tasks.drain(..) {
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    // ----- clock ----------------------------------------------------------------------------

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }
    /// Moves the clock forward (codes and tokens expire, scripts progress).
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }
    /// Sets the clock.
    pub fn set_now(&self, at: DateTime<Utc>) {
        self.shared.clock.set_now(at);
    }

    // ----- profiles ---------------------------------------------------------------------------

    /// Creates a customer profile (started now) and returns its `clientProfileId`.
    pub fn add_profile(&self, spec: ProfileSpec) -> u64 {
        let now = self.now();
        self.shared.model().add_profile(spec, now)
    }
    /// Creates `n` profiles at once.
    pub fn add_profiles(&self, n: usize, spec: &ProfileSpec) -> Vec<u64> {
        let now = self.now();
        let mut m = self.shared.model();
        (0..n).map(|_| m.add_profile(spec.clone(), now)).collect()
    }
    /// Creates `n` profiles that consented already and returns their tokens (as if each had
    /// gone through `/consent` and the code exchange): for benchmarks of the sync.
    pub fn grant_consents(&self, n: usize, spec: &ProfileSpec) -> Vec<IssuedConsent> {
        let now = self.now();
        let mut m = self.shared.model();
        (0..n)
            .map(|_| {
                let id = m.add_profile(spec.clone(), now);
                m.grant_directly(id, now).expect("profile just created")
            })
            .collect()
    }
    /// The next `/consent` without `sim_profile` is made by this profile (FIFO). `false` if
    /// the profile does not exist.
    pub fn enqueue_consent(&self, profile_id: u64) -> bool {
        self.shared.model().enqueue_consent(profile_id)
    }
    /// Issues an authorization code for a profile directly (skipping `/consent`).
    pub fn issue_authorization_code(&self, profile_id: u64) -> Option<String> {
        let now = self.now();
        self.shared.model().issue_code(profile_id, now)
    }
    /// From now on the profile answers this state and these reasons (later script steps are
    /// dropped).
    pub fn set_profile_status(&self, profile_id: u64, state: &str, reasons: &[&str]) -> bool {
        let now = self.now();
        self.shared
            .model()
            .override_status(profile_id, now, state, reasons)
    }
    pub fn profile(&self, profile_id: u64) -> Option<ProfileView> {
        let now = self.now();
        self.shared.model().profile_view(profile_id, now)
    }
    /// From now on the profile answers 404 to status and PDF requests (GoPay no longer knows
    /// it). For "every profile" (a wrong base URL), put a `Status(404)` fault on the endpoint.
    pub fn forget_profile(&self, profile_id: u64) -> bool {
        self.shared.model().forget_profile(profile_id)
    }
    /// Refreshes with this profile's tokens answer a bare 403 (no body; the token is neither
    /// used nor killed) while `refuse` holds.
    pub fn refuse_refresh_bare(&self, profile_id: u64, refuse: bool) -> bool {
        self.shared.model().refuse_refresh_bare(profile_id, refuse)
    }
    /// The data a `prefillId` stands for.
    pub fn prefill(&self, prefill_id: &str) -> Option<serde_json::Value> {
        self.shared.model().prefill(prefill_id)
    }

    // ----- faults -----------------------------------------------------------------------------

    /// Adds a fault to an endpoint (several may stack: latencies add up, the first status wins).
    pub fn set_fault(&self, endpoint: Endpoint, fault: Fault) {
        self.shared.model().set_fault(endpoint, fault);
    }
    pub fn clear_faults(&self, endpoint: Endpoint) {
        self.shared.model().clear_faults(Some(endpoint));
    }
    pub fn clear_all_faults(&self) {
        self.shared.model().clear_faults(None);
    }

    // ----- observations -----------------------------------------------------------------------

    /// Every `grant_type=refresh_token` call, in arrival order.
    pub fn token_uses(&self) -> Vec<TokenUse> {
        self.shared.model().token_uses.clone()
    }
    /// How many refresh calls presented a token that had already been used: must stay 0 for a
    /// correct client.
    pub fn refresh_token_reuse_count(&self) -> usize {
        self.shared
            .model()
            .token_uses
            .iter()
            .filter(|u| u.outcome == TokenUseOutcome::RejectedAlreadyUsed)
            .count()
    }
    /// How many code exchanges presented an already-used authorization code.
    pub fn authorization_code_reuse_count(&self) -> u64 {
        self.shared.model().code_reuses
    }
    /// Requests received by an endpoint (faulted ones included).
    pub fn request_count(&self, endpoint: Endpoint) -> u64 {
        self.shared
            .model()
            .requests
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for GoPaySim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests;
