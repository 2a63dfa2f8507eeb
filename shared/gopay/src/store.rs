//! What the GoPay flows keep between calls, behind traits (DynamoDB and S3 adapters live in
//! `aws::store`): single-use consent states, profiles with their sealed rotating refresh
//! token, the due-time index, leases, and a durable rescue place for a rotated token whose
//! main write failed.
//!
//! Tokens are stored sealed only ([`sealed_refresh_aad`]): the associated data binds each
//! ciphertext to its profile and token generation, so an old sealed token cannot be put back
//! in place of a newer one unnoticed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::consent::PendingConsent;
use super::error::StateRejection;
use super::identification::{ClientProfileId, StatusSnapshot};
use super::schedule::Lease;
use kyc_core::crypto::Aad;
use kyc_core::intake::StoreError;

/// Where a profile stands on our side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProfileStatus {
    /// We hold a live refresh token and poll on schedule.
    Active,
    /// GoPay refused the refresh token: the customer must consent again. Not polled.
    NeedsConsent,
    /// Revoked by an operator; tokens erased. Not polled.
    Revoked,
    /// GoPay answered 404 for the profile several polls in a row: not polled; tokens kept so
    /// an operator can `kyc gopay reactivate` it if GoPay's answer was wrong.
    UnknownAtGoPay,
}

impl ProfileStatus {
    /// The status's name in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileStatus::Active => "active",
            ProfileStatus::NeedsConsent => "needsConsent",
            ProfileStatus::Revoked => "revoked",
            ProfileStatus::UnknownAtGoPay => "unknownAtGoPay",
        }
    }
    /// The status of that name ([`ProfileStatus::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Active,
            Self::NeedsConsent,
            Self::Revoked,
            Self::UnknownAtGoPay,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One GoPay client profile linked to one of our customers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord {
    /// The profile.
    pub client_profile_id: ClientProfileId,
    /// Our customer it is linked to.
    pub customer_id: String,
    /// Where it stands on our side.
    pub status: ProfileStatus,
    /// Counts refresh-token rotations; every token write is a compare-and-swap on it.
    pub token_gen: u64,
    /// The refresh token of `token_gen`, sealed.
    pub sealed_refresh: Option<String>,
    /// The access token, sealed.
    pub sealed_access: Option<String>,
    /// When the access token expires.
    pub access_expires_at: Option<DateTime<Utc>>,
    /// When the sync visits it next.
    pub next_due_at: Option<DateTime<Utc>>,
    /// Failed visits in a row (the backoff's input).
    pub consecutive_failures: u32,
    /// The last identification status recorded.
    pub last_snapshot: Option<StatusSnapshot>,
    /// The key of the last identification PDF copied.
    pub pdf_key: Option<String>,
    /// The sync run's claim on it, if any.
    pub lease: Option<Lease>,
    /// When it was last written.
    pub updated_at: Option<DateTime<Utc>>,
    /// A consent event (NEEDS_CONSENT) is still to be recorded: the profile stays in the due
    /// index, due now, until it is, so the consent stream never says GRANTED for it.
    pub event_pending: bool,
    /// Status polls answered 404 in a row (profile unknown to GoPay).
    pub missing_polls: u32,
    /// The customer's declared identity, sealed with [`declared_identity_aad`] (compared with
    /// the identified person once GoPay identifies them).
    pub sealed_identity: Option<String>,
    /// Runs that saw this profile's refresh refused with a bare 403 while the same run proved
    /// our credentials and refreshed other profiles (cleared by a successful rotation).
    pub dead_token_evidence: Option<DeadTokenEvidence>,
}

/// Differential evidence that a refresh token is dead although GoPay's refusal (a bare 403)
/// does not say so: the same generation refused across several runs over a long enough span,
/// each of them with our credentials proven and other profiles' refreshes succeeding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadTokenEvidence {
    /// The token generation the refusals were about.
    pub generation: u64,
    /// Qualifying runs that saw the refusal (a run counts once).
    pub runs: u32,
    /// The first refusal counted.
    pub first_at: DateTime<Utc>,
    /// The last refusal counted.
    pub last_at: DateTime<Utc>,
    /// The last run counted.
    pub last_run: String,
}

impl DeadTokenEvidence {
    /// The evidence after one more qualifying run `run` at `now` for `generation` (a new
    /// generation starts over; the same run is not counted twice).
    pub fn advanced(
        previous: Option<&DeadTokenEvidence>,
        generation: u64,
        run: &str,
        now: DateTime<Utc>,
    ) -> DeadTokenEvidence {
        match previous {
            Some(p) if p.generation == generation && p.last_run == run => p.clone(),
            Some(p) if p.generation == generation => DeadTokenEvidence {
                generation,
                runs: p.runs.saturating_add(1),
                first_at: p.first_at,
                last_at: now,
                last_run: run.to_string(),
            },
            _ => DeadTokenEvidence {
                generation,
                runs: 1,
                first_at: now,
                last_at: now,
                last_run: run.to_string(),
            },
        }
    }

    /// Enough to condemn the token: at least `min_runs` runs spanning at least `min_span`.
    pub fn is_conclusive(&self, min_runs: u32, min_span: chrono::Duration) -> bool {
        self.runs >= min_runs.max(1) && self.last_at - self.first_at >= min_span
    }
}

/// Associated data of a declared identity sealed on a profile: its profile and customer.
pub fn declared_identity_aad(profile: &ClientProfileId, customer: &str) -> Aad {
    Aad::new(
        "gopay",
        profile.as_str(),
        "declared-identity",
        Some(customer),
    )
}

/// Associated data of a sealed refresh token: its profile, generation and customer.
pub fn sealed_refresh_aad(profile: &ClientProfileId, generation: u64, customer: &str) -> Aad {
    Aad::new(
        "gopay",
        profile.as_str(),
        format!("refresh/{generation}"),
        Some(customer),
    )
}

/// Associated data of a sealed access token: its profile, generation and customer.
pub fn sealed_access_aad(profile: &ClientProfileId, generation: u64, customer: &str) -> Aad {
    Aad::new(
        "gopay",
        profile.as_str(),
        format!("access/{generation}"),
        Some(customer),
    )
}

/// Tokens of one generation, sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedTokens {
    /// The profile.
    pub client_profile_id: String,
    /// The generation these tokens ARE (the previous one + 1).
    pub generation: u64,
    /// The refresh token, sealed.
    pub sealed_refresh: String,
    /// The access token, sealed.
    pub sealed_access: String,
    /// When the access token expires.
    pub access_expires_at: DateTime<Utc>,
    /// Set for a consent's FIRST tokens (code exchange): recovery creates or re-consents the
    /// profile for this customer instead of rotating an existing generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    /// A consent's first tokens only: the declared identity, sealed for the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_identity: Option<String>,
}

impl SealedTokens {
    /// `tokens` sealed as generation `generation` of `profile`, each bound to its customer.
    /// `customer_id` stays `None` (set it for a consent's first tokens).
    pub fn seal(
        keys: &kyc_core::crypto::Keyring,
        profile: &ClientProfileId,
        customer: &str,
        generation: u64,
        tokens: &super::tokens::ClientTokens,
    ) -> Self {
        SealedTokens {
            client_profile_id: profile.as_str().to_string(),
            generation,
            sealed_refresh: keys.seal_secret(
                &sealed_refresh_aad(profile, generation, customer),
                &tokens.refresh_token,
            ),
            sealed_access: keys.seal_secret(
                &sealed_access_aad(profile, generation, customer),
                &tokens.access_token,
            ),
            access_expires_at: tokens.access_expires_at,
            customer_id: None,
            sealed_identity: None,
        }
    }
}

/// A profile just consented (code exchanged).
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// Compare-and-swap: `None` = the profile must not exist yet; `Some(g)` = its stored
    /// generation must still be `g` (a re-consent of a known profile).
    pub expected_generation: Option<u64>,
    /// The customer who consented.
    pub customer_id: String,
    /// The profile.
    pub client_profile_id: ClientProfileId,
    /// Sealed for `generation` = `NewConsent::generation`.
    pub tokens: SealedTokens,
    /// The declared identity, sealed with [`declared_identity_aad`] (`None`: none declared).
    pub sealed_identity: Option<String>,
    /// When the sync first visits it.
    pub due_at: DateTime<Utc>,
    /// The write's time.
    pub now: DateTime<Utc>,
}

/// Result of saving a new consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentSaved {
    /// Stored.
    Stored,
    /// This GoPay profile is already linked to another customer: nothing stored.
    LinkedToOtherCustomer,
    /// The stored generation is not the expected one (a concurrent write): nothing stored.
    GenerationMoved,
}

/// Result of the compare-and-swap that stores a rotated token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationWrite {
    /// Stored.
    Stored,
    /// The stored generation is not the one we refreshed from (someone else rotated, or the
    /// token was already recovered from the rescue place): nothing written.
    GenerationMoved,
}

/// What a finished profile visit writes (only while we still hold the lease).
#[derive(Debug, Clone, PartialEq)]
pub struct VisitResult {
    /// When the sync visits it next.
    pub next_due_at: DateTime<Utc>,
    /// Failed visits in a row, after this visit.
    pub consecutive_failures: u32,
    /// The status recorded, if one was polled.
    pub snapshot: Option<StatusSnapshot>,
    /// The key of the PDF copied, if one was.
    pub pdf_key: Option<String>,
    /// Forget the stored access token (GoPay refused it): the next visit refreshes.
    pub drop_access: bool,
    /// Status polls answered 404 in a row, after this visit.
    pub missing_polls: u32,
    /// The write's time.
    pub now: DateTime<Utc>,
}

/// GoPay profiles, consent states and the due index (DynamoDB, or its in-memory twin).
#[async_trait]
pub trait GoPayStore: Send + Sync {
    /// Stores a new single-use consent state (only its hash is the key).
    async fn put_consent_state(&self, pending: &PendingConsent) -> Result<(), StoreError>;
    /// Atomically marks the state used if it exists, is unused and unexpired at `now`.
    async fn take_consent_state(
        &self,
        state_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<PendingConsent, StateRejection>, StoreError>;
    /// Stores (or re-consents) a profile, due at `due_at`, with the customer link.
    async fn save_consent(&self, consent: &NewConsent) -> Result<ConsentSaved, StoreError>;
    /// Up to `limit` profile ids of `shard` due at `now` (index query, earliest first).
    async fn due_profiles(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClientProfileId>, StoreError>;
    /// Claims an active, due profile for `lease.owner` unless someone else holds a valid
    /// lease. `None`: not claimable (leased elsewhere, no longer due, not active).
    async fn claim(
        &self,
        profile: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError>;
    /// Stores rotated tokens if the stored generation is `tokens.generation - 1`.
    async fn store_rotation(&self, tokens: &SealedTokens) -> Result<RotationWrite, StoreError>;
    /// Ends a visit: next due time, failures, snapshot, PDF key; releases the lease. `false`
    /// if the lease was lost meanwhile (nothing written).
    async fn finish_visit(
        &self,
        profile: &ClientProfileId,
        owner: &str,
        result: &VisitResult,
    ) -> Result<bool, StoreError>;
    /// Marks the profile as needing a new consent if its generation is still `generation`
    /// (the token we found dead). Removes it from the due index. `false`: generation moved.
    async fn mark_needs_consent(
        &self,
        profile: &ClientProfileId,
        generation: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Takes a profile out of service as unknown to GoPay (only while `owner` holds its
    /// lease); it stays due with its event pending, like [`GoPayStore::mark_needs_consent`].
    async fn mark_unknown_at_gopay(
        &self,
        profile: &ClientProfileId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// The pending consent event of a profile that left service was recorded: it leaves the
    /// due index (no-op for an active profile).
    async fn event_recorded(
        &self,
        profile: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Stores the dead-token evidence of an active profile if its generation is still
    /// `evidence.generation`. `false`: generation moved or not active (nothing written).
    async fn record_dead_token_evidence(
        &self,
        profile: &ClientProfileId,
        evidence: &DeadTokenEvidence,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Puts a `needsConsent` (or `unknownAtGoPay`) profile that still holds a refresh token back in service, due
    /// now. `false`: not in that state (nothing written).
    async fn reactivate(
        &self,
        profile: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Takes the profile's lease whatever its status (operator tools). `None`: leased
    /// elsewhere or unknown.
    async fn take_lease(
        &self,
        profile: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError>;
    /// Releases `owner`'s lease (no-op if not held).
    async fn release_lease(&self, profile: &ClientProfileId, owner: &str)
        -> Result<(), StoreError>;
    /// Marks revoked and erases the tokens.
    async fn mark_revoked(
        &self,
        profile: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// The profile's record, if any.
    async fn profile(&self, profile: &ClientProfileId)
        -> Result<Option<ProfileRecord>, StoreError>;
    /// The profile linked to a customer, if any.
    async fn profile_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<ProfileRecord>, StoreError>;
}

/// The raw 2xx answer of a refresh (or code exchange), sealed, written to the rescue place
/// BEFORE it is parsed: if parsing or the table write fails, or the run dies, it still holds
/// the only live refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawRefreshAnswer {
    /// The profile the refresh was sent for.
    pub client_profile_id: String,
    /// The generation the answer's tokens would be (the one refreshed from + 1).
    pub generation: u64,
    /// The answer body, sealed with [`raw_answer_aad`].
    pub sealed_body: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
}

/// Associated data of a sealed raw token answer: its profile, generation and customer.
pub fn raw_answer_aad(profile: &str, generation: u64, customer: &str) -> Aad {
    Aad::new(
        "gopay",
        profile,
        format!("raw-token-answer/{generation}"),
        Some(customer),
    )
}

/// A durable place, independent of the main table, for rotated tokens whose main write
/// failed, and for raw token answers until their tokens are stored. The next sync run
/// recovers them first.
#[async_trait]
pub trait TokenRescue: Send + Sync {
    /// Keeps rotated tokens.
    async fn save(&self, tokens: &SealedTokens) -> Result<(), StoreError>;
    /// Every rotated token kept.
    async fn list(&self) -> Result<Vec<SealedTokens>, StoreError>;
    /// Forgets rotated tokens once the table holds them.
    async fn remove(&self, tokens: &SealedTokens) -> Result<(), StoreError>;
    /// Keeps a raw token answer.
    async fn save_raw(&self, answer: &RawRefreshAnswer) -> Result<(), StoreError>;
    /// Every raw token answer kept.
    async fn list_raw(&self) -> Result<Vec<RawRefreshAnswer>, StoreError>;
    /// Forgets a raw token answer once its tokens are stored.
    async fn remove_raw(&self, answer: &RawRefreshAnswer) -> Result<(), StoreError>;
}

/// Where identification PDFs go (server-side encrypted).
#[async_trait]
pub trait PdfSink: Send + Sync {
    /// Stores a PDF under `key`.
    async fn put_pdf(&self, key: &str, pdf: &[u8]) -> Result<(), StoreError>;
}

/// The shard of the due index a profile lives in (stable hash of its id).
pub fn due_shard(profile: &ClientProfileId, shards: u32) -> u32 {
    let digest = kyc_core::intake::sha256_hex(profile.as_str().as_bytes());
    let n = u32::from_str_radix(&digest[..8], 16).unwrap_or(0);
    n % shards.max(1)
}

/// A linked profile is the customer's only if the profile says so: a link pointing at another
/// customer's profile (written by anything but our consent flow) is never followed, so a
/// re-consent cannot revoke someone else's profile at GoPay. Both adapters of
/// [`GoPayStore::profile_of_customer`] apply it.
pub fn owned_by(profile: Option<ProfileRecord>, customer_id: &str) -> Option<ProfileRecord> {
    match profile {
        Some(p) if p.customer_id == customer_id => Some(p),
        Some(_) => {
            tracing::error!("gopay link points at a profile of another customer: not followed");
            None
        }
        None => None,
    }
}
