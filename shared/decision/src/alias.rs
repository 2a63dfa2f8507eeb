//! The alias map: a provider that knows a bank customer by another id (`kyc customer alias`).
//!
//! The premise is one id everywhere (`docs/decision.md`); where a bank cannot give a provider
//! its own customer id, an operator records `CUSTOMER PROVIDER PROVIDER_ID`. One alias change
//! writes, all or nothing:
//! - the provider side `A#<P>#<provider id>` / `ALIAS`: `customerId` (absent once removed) and
//!   `changes` (+1 per change, never reset: a removed alias keeps its item);
//! - the bank side `C#<customer>` / `ALIAS#<P>`: `providerId` (one alias per provider);
//! - a bank action (`customerAliased` / `customerAliasRemoved`) in the customer's history,
//!   with the operator's identity and a reason code.
//!
//! The customer's decision then reads `P`'s state under the provider id, and a decision kept
//! under the provider id itself no longer counts `P`. Each change moves the alias generation
//! ([`AliasView::generation`], `BasedOn::aliases`) of both customers it concerns, so a
//! recompute from before the change can never overwrite one from after it.

use crate::is_reason_code;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::bank::BankAction;
use kyc_core::intake::{Provider, StoreError};
use kyc_core::keys::valid_customer_id;
use serde_json::json;
use std::collections::BTreeMap;

/// Bank actions of the alias map (in the customer's history).
pub const ALIASED: &str = "customerAliased";
/// See [`ALIASED`]: the removal of an alias.
pub const ALIAS_REMOVED: &str = "customerAliasRemoved";

/// How the alias map bears on one customer's decision inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AliasView {
    /// Providers whose state was read under another id than the customer's: that id.
    pub used: BTreeMap<Provider, String>,
    /// Providers at which the customer's own id is aliased to another customer: that customer
    /// (the state under this id is theirs).
    pub moved_away: BTreeMap<Provider, String>,
    /// Alias changes that concern this customer: its own (bank actions) and those of its own
    /// id at each provider (`changes`).
    pub generation: i64,
}

impl AliasView {
    /// The alias view of a customer: its bank history, its bank-side aliases, and the provider
    /// side of its own id at each provider.
    pub fn of(
        customer: &str,
        bank: &[BankAction],
        own: BTreeMap<Provider, String>,
        own_id_elsewhere: &BTreeMap<Provider, ProviderSide>,
    ) -> Self {
        let from_history = bank
            .iter()
            .filter(|a| a.action == ALIASED || a.action == ALIAS_REMOVED)
            .count() as i64;
        Self {
            used: own,
            moved_away: own_id_elsewhere
                .iter()
                .filter_map(|(p, side)| {
                    side.customer
                        .as_ref()
                        .filter(|c| c.as_str() != customer)
                        .map(|c| (*p, c.clone()))
                })
                .collect(),
            generation: from_history + own_id_elsewhere.values().map(|s| s.changes).sum::<i64>(),
        }
    }

    /// Under which id `provider`'s state of `customer` is read; `None`: it is another
    /// customer's (the id is aliased away) and not read at all.
    pub fn state_id<'a>(&'a self, customer: &'a str, provider: Provider) -> Option<&'a str> {
        match self.used.get(&provider) {
            Some(id) => Some(id),
            None if self.moved_away.contains_key(&provider) => None,
            None => Some(customer),
        }
    }
}

/// The provider side of an alias, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderSide {
    /// The bank customer the provider id belongs to; `None` once the alias was removed.
    pub customer: Option<String>,
    /// Changes of this provider id's alias so far (writes are conditional on it).
    pub changes: i64,
}

/// An operator's alias change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRequest {
    /// The bank's customer id.
    pub customer: String,
    /// The provider whose id it is.
    pub provider: Provider,
    /// The provider's own id of the customer.
    pub provider_id: String,
    /// Remove the alias instead of recording it.
    pub remove: bool,
    /// The caller's AWS identity.
    pub operator: String,
    /// Why: a reason code of the bank's procedures.
    pub reason: String,
    /// When the change was asked for.
    pub at: DateTime<Utc>,
}

impl AliasRequest {
    /// The bank action the change records.
    pub fn action(&self) -> BankAction {
        BankAction {
            at: self.at,
            action: if self.remove { ALIAS_REMOVED } else { ALIASED }.into(),
            operator: self.operator.clone(),
            reason: self.reason.clone(),
            detail: json!({"provider": self.provider.as_str(), "providerId": self.provider_id}),
        }
    }
}

/// What an alias change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasOutcome {
    /// The alias was recorded.
    Linked,
    /// The same alias was already recorded: nothing written.
    AlreadyLinked,
    /// The alias was removed.
    Removed,
    /// No such alias: nothing written.
    NotLinked,
}

impl AliasOutcome {
    /// The outcome's name in the CLI's answer.
    pub fn as_str(self) -> &'static str {
        match self {
            AliasOutcome::Linked => "linked",
            AliasOutcome::AlreadyLinked => "alreadyLinked",
            AliasOutcome::Removed => "removed",
            AliasOutcome::NotLinked => "notLinked",
        }
    }
}

/// Why an alias change was refused (nothing written).
#[derive(Debug, thiserror::Error)]
pub enum AliasError {
    /// The named id is empty or too long.
    #[error("{0} must be 1 to 1,024 characters")]
    BadId(&'static str),
    /// The provider id is the customer's own id.
    #[error("the provider id is the customer's own id: no alias is needed")]
    SameId,
    /// The reason is not a reason code.
    #[error("reason must be a code of 1 to 64 characters [A-Za-z0-9._:-]")]
    BadReason,
    /// The provider id is aliased to another customer.
    #[error("this {0} id is aliased to another customer; remove that alias first")]
    TakenByAnother(&'static str),
    /// The customer already has another id of that provider aliased.
    #[error("the customer already has another {0} id aliased; remove that alias first")]
    CustomerHasAnother(&'static str),
    /// A concurrent change moved the alias map; run it again.
    #[error(
        "the alias map changed while this change was written; nothing was written, run it again"
    )]
    Raced,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to write for a request, given what is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum AliasPlan {
    /// Nothing to write: the outcome is already true.
    Nothing(AliasOutcome),
    /// Write the change; `changes_before` is the provider side's count as read (the write is
    /// conditional on it).
    Write {
        /// What the write does.
        outcome: AliasOutcome,
        /// The provider side's count of changes as read.
        changes_before: i64,
    },
}

/// The rules of an alias change (pure): ids valid and different, one customer per provider
/// id, one provider id per customer and provider, a retry changes nothing.
pub fn plan(
    req: &AliasRequest,
    provider_side: Option<&ProviderSide>,
    customer_side: Option<&str>,
) -> Result<AliasPlan, AliasError> {
    if !valid_customer_id(&req.customer) {
        return Err(AliasError::BadId("CUSTOMER"));
    }
    if !valid_customer_id(&req.provider_id) {
        return Err(AliasError::BadId("PROVIDER_ID"));
    }
    if req.provider_id == req.customer {
        return Err(AliasError::SameId);
    }
    if !is_reason_code(&req.reason) {
        return Err(AliasError::BadReason);
    }
    let p = req.provider.as_str();
    let owner = provider_side.and_then(|s| s.customer.as_deref());
    let changes_before = provider_side.map_or(0, |s| s.changes);
    let ours = owner == Some(req.customer.as_str());
    let linked_here = customer_side == Some(req.provider_id.as_str());
    if req.remove {
        return Ok(match (ours, linked_here) {
            (true, true) => AliasPlan::Write {
                outcome: AliasOutcome::Removed,
                changes_before,
            },
            (false, false) => AliasPlan::Nothing(AliasOutcome::NotLinked),
            // One side without the other cannot be written by `plan`'s writes: refuse loudly.
            _ => {
                return Err(AliasError::Store(StoreError::Corrupt(
                    "the two sides of an alias disagree".into(),
                )))
            }
        });
    }
    if owner.is_some() && !ours {
        return Err(AliasError::TakenByAnother(p));
    }
    match (ours, customer_side) {
        (true, Some(_)) if linked_here => Ok(AliasPlan::Nothing(AliasOutcome::AlreadyLinked)),
        (false, None) => Ok(AliasPlan::Write {
            outcome: AliasOutcome::Linked,
            changes_before,
        }),
        (_, Some(_)) => Err(AliasError::CustomerHasAnother(p)),
        (true, None) => Err(AliasError::Store(StoreError::Corrupt(
            "the two sides of an alias disagree".into(),
        ))),
    }
}

/// The alias map's writes (the reads are part of the decision store's inputs).
#[async_trait]
pub trait AliasMap: Send + Sync {
    /// Applies `req` by [`plan`]'s rules, all or nothing.
    async fn change(&self, req: &AliasRequest) -> Result<AliasOutcome, AliasError>;
}
