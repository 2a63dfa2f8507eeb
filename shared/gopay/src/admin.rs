//! Operator actions on a customer's GoPay profile (`kyc gopay revoke|reactivate`), over the
//! same traits as the sync, so they are tested on the in-memory twins. The CLI only wires.
//!
//! - revoke: takes the profile's lease (no sync can rotate the token meanwhile), revokes at
//!   GoPay with the CURRENT token; only an answer about the token (`invalid_grant`) counts as
//!   "already revoked"; anything inconclusive (`invalid_client`, bare 4xx, 5xx, timeout)
//!   changes nothing and keeps the token, so the command can be re-run.
//! - reactivate: puts a profile wrongly taken out of service (`needsConsent`,
//!   `unknownAtGoPay`) back in service, due now, with its kept refresh token. If the token
//!   really is dead, the next sync run (credentials proven) condemns it again.
//! - retire: the previous profile of a customer who consented with another GoPay profile;
//!   revoked like `revoke`, but an inconclusive answer still takes it out of service (the
//!   customer's new profile must be the only one feeding them) and is reported.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::client::{CallError, GoPayApi};
use super::identification::ClientProfileId;
use super::plan::{consent_plan, ConsentEvent};
use super::schedule::{Lease, DEFAULT_LEASE_DURATION};
use super::store::{sealed_refresh_aad, GoPayStore, ProfileRecord, ProfileStatus};
use super::tokens::TokenFailure;
use kyc_core::crypto::Keyring;
use kyc_core::intake::{EventStore, StoreError};
use kyc_core::redact::Secret;

/// Why an operator action did nothing (or only part of it); [`AdminError::is_transient`]
/// tells the CLI whether running it again later can help.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The customer has no GoPay profile.
    #[error("customer {0} has no GoPay profile")]
    NoProfile(String),
    /// Only `needsConsent` or `unknownAtGoPay` profiles can be reactivated.
    #[error(
        "profile {id} is {status}; only needsConsent or unknownAtGoPay profiles can be reactivated"
    )]
    NotReactivatable {
        /// The profile.
        id: ClientProfileId,
        /// Its status.
        status: &'static str,
    },
    /// The profile holds no refresh token: the customer must consent again.
    #[error("profile {0} holds no refresh token; the customer must consent again")]
    NoRefreshToken(ClientProfileId),
    /// A sync run holds the profile's lease: nothing changed.
    #[error("profile {0} is leased by a sync run; nothing changed, try again shortly")]
    Leased(ClientProfileId),
    /// The profile changed while the action ran: nothing done.
    #[error("profile {0} changed meanwhile; nothing done")]
    ChangedMeanwhile(ClientProfileId),
    /// GoPay's answer to the revoke proves nothing: nothing changed, token kept.
    #[error("GoPay's answer to the revoke is not conclusive; nothing changed, token kept (re-run later)")]
    Inconclusive,
    /// The stored refresh token does not open (the reason, never the token).
    #[error("stored refresh token cannot be opened: {0}")]
    Unopenable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The profile was updated but its event was not recorded.
    #[error("profile updated but the event was not recorded: {0}")]
    EventNotRecorded(StoreError),
}

impl AdminError {
    /// Nothing was wrong with the request: the same command may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            AdminError::Leased(_) | AdminError::ChangedMeanwhile(_) | AdminError::Inconclusive => {
                true
            }
            AdminError::Store(e) | AdminError::EventNotRecorded(e) => {
                matches!(e, StoreError::Unavailable(_))
            }
            AdminError::NoProfile(_)
            | AdminError::NotReactivatable { .. }
            | AdminError::NoRefreshToken(_)
            | AdminError::Unopenable(_) => false,
        }
    }
}

/// What an operator action needs.
pub struct Admin<'a> {
    /// GoPay profiles.
    pub store: &'a dyn GoPayStore,
    /// Where the action's event is recorded.
    pub events: &'a dyn EventStore,
    /// GoPay's API.
    pub api: GoPayApi<'a>,
    /// GoPay's payload keyring.
    pub keys: &'a Keyring,
    /// Lease owner of this action (unique per invocation).
    pub owner: String,
    /// The action's time.
    pub now: DateTime<Utc>,
}

/// GoPay's answer to a revoke, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeAtGoPay {
    /// GoPay revoked the token.
    Revoked,
    /// GoPay refused the token as such (`invalid_grant`): the consent is already gone.
    AlreadyRefused,
    /// We held no refresh token to revoke.
    NoTokenHeld,
    /// Not conclusive (our credentials, bare 4xx, 5xx, transport): the token may be live.
    Inconclusive,
}

impl RevokeAtGoPay {
    /// The classification's name in the CLI's answer and the event.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeAtGoPay::Revoked => "revoked",
            RevokeAtGoPay::AlreadyRefused => "token already refused by GoPay",
            RevokeAtGoPay::NoTokenHeld => "no token held",
            RevokeAtGoPay::Inconclusive => "inconclusive",
        }
    }
}

impl Admin<'_> {
    fn open_refresh(&self, p: &ProfileRecord) -> Result<Option<Secret>, AdminError> {
        p.sealed_refresh
            .as_ref()
            .map(|sealed| {
                self.keys
                    .open(
                        &sealed_refresh_aad(&p.client_profile_id, p.token_gen, &p.customer_id),
                        sealed,
                    )
                    .map(|b| Secret::new(String::from_utf8_lossy(&b).into_owned()))
                    .map_err(|e| AdminError::Unopenable(e.to_string()))
            })
            .transpose()
    }

    async fn revoke_at_gopay(&self, p: &ProfileRecord) -> Result<RevokeAtGoPay, AdminError> {
        let Some(token) = self.open_refresh(p)? else {
            return Ok(RevokeAtGoPay::NoTokenHeld);
        };
        Ok(match self.api.revoke(&token).await {
            Ok(()) => RevokeAtGoPay::Revoked,
            Err(CallError::Token {
                failure: TokenFailure::GrantRejected,
                ..
            }) => RevokeAtGoPay::AlreadyRefused,
            Err(_) => RevokeAtGoPay::Inconclusive,
        })
    }

    async fn lease(&self, id: &ClientProfileId) -> Result<ProfileRecord, AdminError> {
        let lease = Lease::new(&self.owner, self.now, DEFAULT_LEASE_DURATION);
        self.store
            .take_lease(id, &lease, self.now)
            .await?
            .ok_or_else(|| AdminError::Leased(id.clone()))
    }

    /// The customer's profile, for `revoke` and `reactivate`.
    async fn profile_of(&self, customer: &str) -> Result<ProfileRecord, AdminError> {
        self.store
            .profile_of_customer(customer)
            .await?
            .ok_or_else(|| AdminError::NoProfile(customer.to_string()))
    }

    /// Records the consent event of a done command and completes its `answer` with the event
    /// id and the intake's outcome.
    async fn record(
        &self,
        customer: &str,
        event: ConsentEvent,
        event_id: String,
        mut answer: Value,
    ) -> Result<Value, AdminError> {
        let plan = consent_plan(self.keys, customer, &event, event_id.clone(), self.now);
        let outcome = self
            .events
            .record(&plan)
            .await
            .map_err(AdminError::EventNotRecorded)?;
        answer["eventId"] = json!(event_id);
        answer["outcome"] = json!(outcome.history_note());
        Ok(answer)
    }

    /// `kyc gopay revoke CUSTOMER`.
    pub async fn revoke(&self, customer: &str) -> Result<Value, AdminError> {
        let profile = self.profile_of(customer).await?;
        let id = profile.client_profile_id.clone();
        if profile.status == ProfileStatus::Revoked {
            return Ok(
                json!({"customer": customer, "clientProfileId": id, "status": "revoked", "note": "already revoked"}),
            );
        }
        // Under the lease, the token we revoke with is the current one.
        let held = self.lease(&id).await?;
        let at_gopay = match self.revoke_at_gopay(&held).await {
            Ok(a) => a,
            Err(e) => {
                let _ = self.store.release_lease(&id, &self.owner).await;
                return Err(e);
            }
        };
        if at_gopay == RevokeAtGoPay::Inconclusive {
            let _ = self.store.release_lease(&id, &self.owner).await;
            return Err(AdminError::Inconclusive);
        }
        self.store.mark_revoked(&id, self.now).await?;
        let event_id = format!("gopay-consent-revoked-{}-{}", id.as_str(), held.token_gen);
        let answer = json!({
            "customer": customer,
            "clientProfileId": id,
            "gopay": at_gopay.as_str(),
            "status": "revoked",
        });
        self.record(
            customer,
            ConsentEvent::Revoked { profile: id },
            event_id,
            answer,
        )
        .await
    }

    /// Retires `previous` (another profile of a customer who just consented with a new one):
    /// revoked at GoPay if it can be, tokens erased and off the due index in any case. No
    /// consent event (the customer's consent stream now describes the new profile).
    pub async fn retire(&self, previous: &ProfileRecord) -> Result<RevokeAtGoPay, AdminError> {
        let id = &previous.client_profile_id;
        // A sync run may hold it for up to a lease: retiring waits for nobody, so when the
        // lease is held the profile is still marked (its generation moves, so that run's
        // rotation write fails and its token goes to the rescue place only).
        let held = match self.lease(id).await {
            Ok(p) => p,
            Err(_) => previous.clone(),
        };
        let at_gopay = self.revoke_at_gopay(&held).await?;
        self.store.mark_revoked(id, self.now).await?;
        Ok(at_gopay)
    }

    /// `kyc gopay reactivate CUSTOMER`.
    pub async fn reactivate(&self, customer: &str) -> Result<Value, AdminError> {
        let profile = self.profile_of(customer).await?;
        let id = profile.client_profile_id.clone();
        match profile.status {
            ProfileStatus::NeedsConsent | ProfileStatus::UnknownAtGoPay => {}
            other => {
                return Err(AdminError::NotReactivatable {
                    id,
                    status: other.as_str(),
                })
            }
        }
        if profile.sealed_refresh.is_none() {
            return Err(AdminError::NoRefreshToken(id));
        }
        if !self.store.reactivate(&id, self.now).await? {
            return Err(AdminError::ChangedMeanwhile(id));
        }
        let event_id = format!(
            "gopay-consent-reactivated-{}-{}-{}",
            id.as_str(),
            profile.token_gen,
            self.now.timestamp_millis()
        );
        let answer = json!({
            "customer": customer,
            "clientProfileId": id,
            "was": profile.status.as_str(),
            "status": "active",
            "dueAt": self.now + Duration::zero(),
        });
        self.record(
            customer,
            ConsentEvent::Reactivated { profile: id },
            event_id,
            answer,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::consent::GoPayHosts;
    use crate::memory::{MemoryGoPay, MemoryGoPayStore, ScriptedTokenAnswer};
    use crate::plan::CONSENT_STREAM;
    use crate::store::sealed_access_aad;
    use crate::tokens::ClientCredentials;
    use kyc_core::crypto::PayloadKey;
    use kyc_core::intake::{MemoryStore, Provider};
    use kyc_core::kyc_state::Stream;

    struct H {
        store: MemoryGoPayStore,
        events: MemoryStore,
        gopay: Arc<MemoryGoPay>,
        keys: Keyring,
        hosts: GoPayHosts,
        credentials: ClientCredentials,
        now: DateTime<Utc>,
    }

    impl H {
        fn new() -> Self {
            let gopay = Arc::new(MemoryGoPay::default());
            Self {
                credentials: ClientCredentials::new(
                    gopay.client_id.clone(),
                    Secret::new(gopay.client_secret.clone()),
                ),
                store: MemoryGoPayStore::new(4),
                events: MemoryStore::default(),
                gopay,
                keys: Keyring::new(PayloadKey::new("k", [5; 32]).unwrap(), vec![]),
                hosts: GoPayHosts::beta(),
                now: DateTime::parse_from_rfc3339("2025-03-10T08:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            }
        }
        fn admin(&self, owner: &str) -> Admin<'_> {
            Admin {
                store: &self.store,
                events: &self.events,
                api: GoPayApi {
                    transport: self.gopay.as_ref(),
                    hosts: &self.hosts,
                    credentials: &self.credentials,
                },
                keys: &self.keys,
                owner: owner.into(),
                now: self.now,
            }
        }
        fn profile(
            &self,
            customer: &str,
            id: &str,
            status: ProfileStatus,
        ) -> (ClientProfileId, String) {
            let issued = self.gopay.consent(id);
            let pid = issued.profile.clone();
            self.store.insert(ProfileRecord {
                client_profile_id: pid.clone(),
                customer_id: customer.into(),
                status,
                token_gen: 3,
                sealed_refresh: Some(self.keys.seal_secret(
                    &sealed_refresh_aad(&pid, 3, customer),
                    &issued.refresh_token,
                )),
                sealed_access: Some(
                    self.keys
                        .seal_secret(&sealed_access_aad(&pid, 3, customer), &issued.access_token),
                ),
                access_expires_at: None,
                next_due_at: (status == ProfileStatus::Active).then_some(self.now),
                consecutive_failures: 0,
                last_snapshot: None,
                pdf_key: None,
                lease: None,
                updated_at: None,
                event_pending: false,
                missing_polls: 0,
                sealed_identity: None,
                dead_token_evidence: None,
            });
            (pid, issued.refresh_token.expose().clone())
        }
        async fn consent(&self, customer: &str) -> Option<String> {
            self.events
                .provider_states(customer)
                .await
                .unwrap()
                .get(&Provider::Gopay)
                .and_then(|s| s.status(Stream::named(CONSENT_STREAM).unwrap()))
                .map(str::to_string)
        }
    }

    #[tokio::test]
    async fn reactivate_puts_a_wrongly_marked_profile_back_in_service() {
        let h = H::new();
        let (id, token) = h.profile("c-1", "101", ProfileStatus::NeedsConsent);
        let out = h.admin("cli-1").reactivate("c-1").await.unwrap();
        assert_eq!(out["was"], "needsConsent");
        let p = h.store.peek(&id).unwrap();
        assert_eq!(p.status, ProfileStatus::Active);
        assert_eq!(p.next_due_at, Some(h.now));
        assert_eq!(p.token_gen, 3, "the kept token is the one used");
        assert!(h.gopay.is_live(&token));
        assert_eq!(h.consent("c-1").await.as_deref(), Some("GRANTED"));
        let due = h
            .store
            .due_profiles(crate::store::due_shard(&id, 4), h.now, 10)
            .await
            .unwrap();
        assert_eq!(due, vec![id.clone()]);
        // An active or revoked profile is refused.
        let err = h.admin("cli-2").reactivate("c-1").await.unwrap_err();
        assert!(err.to_string().contains("only needsConsent"), "{err}");
        assert!(!err.is_transient());
        assert!(h.admin("cli-3").reactivate("nobody").await.is_err());
    }

    #[tokio::test]
    async fn revoke_uses_the_current_token_under_the_lease() {
        let h = H::new();
        let (id, token) = h.profile("c-1", "201", ProfileStatus::Active);
        let out = h.admin("cli-1").revoke("c-1").await.unwrap();
        assert_eq!(out["gopay"], "revoked");
        assert_eq!(h.gopay.revoked(), vec![token.clone()]);
        let p = h.store.peek(&id).unwrap();
        assert_eq!(p.status, ProfileStatus::Revoked);
        assert!(p.sealed_refresh.is_none() && p.next_due_at.is_none());
        assert_eq!(h.consent("c-1").await.as_deref(), Some("REVOKED"));
    }

    #[tokio::test]
    async fn revoke_waits_for_a_sync_run_holding_the_profile() {
        let h = H::new();
        let (id, token) = h.profile("c-1", "301", ProfileStatus::Active);
        let lease = Lease::new("sync-run", h.now, Duration::minutes(3));
        h.store.claim(&id, &lease, h.now).await.unwrap().unwrap();
        let err = h.admin("cli-1").revoke("c-1").await.unwrap_err();
        assert!(err.to_string().contains("leased"), "{err}");
        assert!(err.is_transient(), "a held lease passes: run again later");
        assert!(h.gopay.is_live(&token));
        assert_eq!(h.store.peek(&id).unwrap().status, ProfileStatus::Active);
    }

    #[tokio::test]
    async fn only_an_invalid_grant_counts_as_already_revoked() {
        let h = H::new();
        let (id, _) = h.profile("c-1", "401", ProfileStatus::Active);
        h.gopay.kill_tokens("401");
        let out = h.admin("cli-1").revoke("c-1").await.unwrap();
        assert_eq!(out["gopay"], "token already refused by GoPay");
        assert_eq!(h.store.peek(&id).unwrap().status, ProfileStatus::Revoked);
    }

    #[tokio::test]
    async fn an_inconclusive_revoke_answer_keeps_the_token() {
        for (status, body) in [
            (403, r#"{"error":"invalid_client"}"#),
            (403, "<html>blocked</html>"),
            (500, ""),
        ] {
            let h = H::new();
            let (id, token) = h.profile("c-1", "501", ProfileStatus::Active);
            h.gopay
                .script_revoke(ScriptedTokenAnswer::plain(status, body));
            let err = h.admin("cli-1").revoke("c-1").await.unwrap_err();
            assert!(
                err.to_string().contains("not conclusive"),
                "{status}: {err}"
            );
            assert!(err.is_transient());
            let p = h.store.peek(&id).unwrap();
            assert_eq!(p.status, ProfileStatus::Active, "{status}");
            assert!(p.sealed_refresh.is_some() && p.lease.is_none());
            assert!(h.gopay.is_live(&token));
            assert_eq!(h.consent("c-1").await, None);
        }
    }
}
