//! One KYC decision per customer, across the three providers, in one vocabulary.
//!
//! - [`provider_decision`]: a provider's stored state (its streams) → a [`ProviderDecision`],
//!   by the mapping tables of [`mapping`] (data, printed in `docs/decision.md`). Pure, and from
//!   stored state only: nothing here links a provider's parser.
//! - [`decide`]: the provider decisions, the sticky blockers of the previous decision, and the
//!   bank's adjudications (`kyc_core::bank`) → the overall [`CustomerDecision`] under a
//!   [`policy::Policy`].
//! - [`store`]: where decisions are kept and how they are recomputed without ever writing an
//!   older one (port, in-memory twin; DynamoDB adapter in [`aws`], feature `aws`).
//!
//! Decisions carry codes, ids and times only: never personal data.

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

pub mod alias;
#[cfg(feature = "aws")]
pub mod aws;
pub mod event;
pub mod mapping;
pub mod policy;
pub mod store;

use chrono::{DateTime, Duration, Utc};
use kyc_core::bank::BankAction;
use kyc_core::intake::Provider;
use kyc_core::kyc_state::{ProviderState, StreamValue};
use mapping::Effect;
use policy::Policy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a customer stands, in one vocabulary for every provider and overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Decision {
    /// No provider has started a check.
    NotStarted,
    /// A check is running.
    Pending,
    /// The customer must act (incomplete file, waiting document, consent needed).
    ActionRequired,
    /// A person at the provider or at the bank must decide.
    InReview,
    /// The customer's identity is verified.
    Verified,
    /// Verification failed.
    Rejected,
    /// Fraud, PEP refusal, user freeze, consent-binding mismatch.
    Blocked,
    /// A verification whose validity ended.
    Expired,
}

impl Decision {
    /// Every decision, in the order of the type.
    pub const ALL: [Decision; 8] = [
        Decision::NotStarted,
        Decision::Pending,
        Decision::ActionRequired,
        Decision::InReview,
        Decision::Verified,
        Decision::Rejected,
        Decision::Blocked,
        Decision::Expired,
    ];

    /// The decision's name in JSON (`notStarted`, `inReview`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::NotStarted => "notStarted",
            Decision::Pending => "pending",
            Decision::ActionRequired => "actionRequired",
            Decision::InReview => "inReview",
            Decision::Verified => "verified",
            Decision::Rejected => "rejected",
            Decision::Blocked => "blocked",
            Decision::Expired => "expired",
        }
    }

    /// The decision of that name ([`Decision::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Which of two decisions of one provider's streams wins: the more severe. `verified`
    /// sits just above `notStarted`, so any open step of a decisive stream holds it back.
    pub fn severity(self) -> u8 {
        match self {
            Decision::NotStarted => 0,
            Decision::Verified => 1,
            Decision::Pending => 2,
            Decision::ActionRequired => 3,
            Decision::InReview => 4,
            Decision::Expired => 5,
            Decision::Rejected => 6,
            Decision::Blocked => 7,
        }
    }
}

/// One row of the mapping tables that applied to a stored stream value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedRule {
    /// The row (`xpollens:kycDemand=Complete`, `trust_sign:flag=fraudMarked`...).
    pub rule: String,
    /// The stream the value is in.
    pub stream: String,
    /// What the row makes of it.
    pub decision: Decision,
    /// The row's reason code, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The provider event the stream value comes from.
    pub event_id: String,
    /// Its provider time.
    pub at: DateTime<Utc>,
    /// True when the row blocks until the bank resolves it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sticky: bool,
}

/// What one provider says about the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderDecision {
    /// The provider's decision.
    pub decision: Decision,
    /// Why not (or no longer) verified: stable codes.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// What whoever onboards the customer must see beside the decision.
    #[serde(default)]
    pub flags: Vec<String>,
    /// The latest provider time of the streams it rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// The provider events it rests on.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// When the provider's verification expires, if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    /// Every row that applied (for `kyc decision explain`).
    #[serde(default)]
    pub rules: Vec<AppliedRule>,
    /// The provider's own id of the customer, where the bank aliased one (`kyc customer
    /// alias`); absent when the provider knows the customer by the bank's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_customer_id: Option<String>,
}

impl ProviderDecision {
    /// What a provider with no stored state says.
    pub fn not_started() -> Self {
        Self {
            provider_customer_id: None,
            decision: Decision::NotStarted,
            reasons: Vec::new(),
            flags: Vec::new(),
            since: None,
            evidence: Vec::new(),
            valid_until: None,
            rules: Vec::new(),
        }
    }
}

fn applied(rule: String, stream: &str, effect: Effect, value: &StreamValue) -> Option<AppliedRule> {
    let Effect::Decide {
        decision,
        reason,
        sticky,
    } = effect
    else {
        return None;
    };
    Some(AppliedRule {
        rule,
        stream: stream.to_string(),
        decision,
        reason: reason.map(str::to_string),
        event_id: value.event_id.clone(),
        at: value.at,
        sticky,
    })
}

/// The rows that apply to one decisive stream value (status, flags, GoPay reasons).
fn stream_rules(
    provider: Provider,
    stream: &str,
    value: &StreamValue,
    status_counts: bool,
) -> Vec<AppliedRule> {
    let mut out = Vec::new();
    if status_counts {
        match mapping::row(provider, stream, &value.status) {
            Some(row) => out.extend(applied(row.rule(), stream, row.effect, value)),
            // The status text is not copied: an unknown value could be anything.
            None => out.extend(applied(
                format!("{}:{stream}=<unknown>", provider.as_str()),
                stream,
                mapping::UNKNOWN_STATUS,
                value,
            )),
        }
        if provider == Provider::Gopay && stream == "gopayIdentification" {
            let reasons = value
                .detail
                .get("reasons")
                .and_then(|r| r.as_array())
                .cloned()
                .unwrap_or_default();
            for r in reasons {
                let text = r.as_str().unwrap_or_default();
                match mapping::reason_row(text) {
                    Some(row) => out.extend(applied(row.rule(), stream, row.effect, value)),
                    None => out.extend(applied(
                        "gopay:gopayIdentification.reasons=<unknown>".into(),
                        stream,
                        mapping::UNKNOWN_REASON,
                        value,
                    )),
                }
            }
        }
    }
    for flag in &value.flags {
        if let Some(f) = mapping::flag_row(provider, flag) {
            // A fraud mark counts on any file; the other flags only where the status counts.
            let sticky = matches!(f.effect, Effect::Decide { sticky: true, .. });
            if status_counts || sticky {
                out.extend(applied(f.rule(), stream, f.effect, value));
            }
        }
    }
    out
}

/// `detail.validUntil` of a stream value, where a provider's code stores an expiry.
fn stored_valid_until(value: &StreamValue) -> Option<DateTime<Utc>> {
    value
        .detail
        .get("validUntil")
        .and_then(|v| v.as_str())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// What a provider's stored state says, at `now` (expiries), under `policy` (validity days).
pub fn provider_decision(
    provider: Provider,
    state: &ProviderState,
    policy: &Policy,
    now: DateTime<Utc>,
) -> ProviderDecision {
    let decisive: Vec<(&str, &StreamValue)> = state
        .streams
        .iter()
        .map(|(s, v)| (s.attribute(), v))
        .filter(|(s, _)| mapping::is_decisive(provider, s))
        .collect();
    // Trust & Sign: the newest client file decides (a new file supersedes an older one); a
    // fraud mark on any file still counts.
    let newest_file = (provider == Provider::TrustSign)
        .then(|| {
            decisive
                .iter()
                .max_by_key(|(s, v)| (v.at, v.ord, *s))
                .map(|(s, _)| *s)
        })
        .flatten();
    let mut rules: Vec<AppliedRule> = Vec::new();
    let mut flags: Vec<String> = decisive
        .iter()
        .flat_map(|(_, v)| v.flags.iter())
        .filter(|f| mapping::INFO_FLAGS.contains(&f.as_str()))
        .cloned()
        .collect();
    flags.sort();
    flags.dedup();
    let mut evidence = Vec::new();
    let mut since: Option<DateTime<Utc>> = None;
    let mut valid_until: Option<DateTime<Utc>> = None;
    for (stream, value) in &decisive {
        let counts = newest_file.is_none_or(|n| n == *stream);
        let r = stream_rules(provider, stream, value, counts);
        if counts || !r.is_empty() {
            evidence.push(value.event_id.clone());
            since = since.max(Some(value.at));
            if counts {
                valid_until = match (valid_until, stored_valid_until(value)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        rules.extend(r);
    }
    let Some(worst) = rules
        .iter()
        .map(|r| r.decision)
        .max_by_key(|d| d.severity())
    else {
        return ProviderDecision {
            evidence,
            since,
            flags,
            ..ProviderDecision::not_started()
        };
    };
    let mut decision = worst;
    let mut reasons: Vec<String> = rules
        .iter()
        .filter(|r| r.decision == worst)
        .filter_map(|r| r.reason.clone())
        .collect();
    if decision == Decision::Verified {
        if let (Some(days), Some(at)) = (policy.verified_valid_for_days.get(&provider), since) {
            let by_policy = at + Duration::days(i64::from(*days));
            valid_until = Some(valid_until.map_or(by_policy, |v| v.min(by_policy)));
        }
        if valid_until.is_some_and(|v| v <= now) {
            decision = Decision::Expired;
            reasons = vec!["validityEnded".into()];
        }
    } else {
        valid_until = None;
    }
    reasons.sort();
    reasons.dedup();
    evidence.sort();
    evidence.dedup();
    ProviderDecision {
        decision,
        reasons,
        flags,
        since,
        evidence,
        valid_until,
        rules,
        provider_customer_id: None,
    }
}

/// A fact that keeps the customer `blocked` until the bank resolves it, whatever the provider
/// says later (a Latest-wins stream forgets an old fraud suspicion; the decision does not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blocker {
    /// The provider, or `bank` (an adjudication to `blocked`).
    pub source: String,
    /// The blocker's reason code.
    pub reason: String,
    /// When it began.
    pub since: DateTime<Utc>,
    /// The event (or adjudication) that raised it.
    pub evidence: String,
}

/// The bank action that records an adjudication (`kyc decision resolve`).
pub const RESOLVE_ACTION: &str = "decisionResolved";

/// An adjudication as the decision keeps it: no operator identity (that stays in the bank's
/// history), only its id, time, outcome and reason code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjudicationRef {
    /// The adjudication's id.
    pub id: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// The outcome the bank decided.
    pub outcome: Decision,
    /// Its reason code.
    pub reason: String,
    /// True when a second approver confirmed it.
    pub second_approver: bool,
}

/// Why a recorded adjudication cannot count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdjudicationError {
    /// The outcome is not `verified`, `rejected` or `blocked`.
    #[error("outcome must be verified, rejected or blocked")]
    Outcome,
    /// The policy asks a second approver for this outcome, and none is named.
    #[error("the policy requires a second approver for this outcome")]
    ApproverRequired,
    /// The second approver is the operator.
    #[error("the second approver must be another identity than the operator")]
    SameApprover,
    /// The reason is not a reason code.
    #[error("reason must be a code of 1 to 64 characters [A-Za-z0-9._:-]")]
    Reason,
}

/// A reason code of the bank's procedures: 1 to 64 of `[A-Za-z0-9._:-]` (never free text,
/// which could carry personal data).
pub fn is_reason_code(reason: &str) -> bool {
    !reason.is_empty()
        && reason.len() <= 64
        && reason
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Reads (and checks under `policy`) an adjudication recorded in the bank's history.
pub fn adjudication(
    action: &BankAction,
    policy: &Policy,
) -> Result<AdjudicationRef, AdjudicationError> {
    let outcome = action
        .detail
        .get("outcome")
        .and_then(|v| v.as_str())
        .and_then(Decision::parse)
        .filter(|d| {
            matches!(
                d,
                Decision::Verified | Decision::Rejected | Decision::Blocked
            )
        })
        .ok_or(AdjudicationError::Outcome)?;
    let reason = &action.reason;
    if !is_reason_code(reason) {
        return Err(AdjudicationError::Reason);
    }
    let approver = action.detail.get("approver").and_then(|v| v.as_str());
    if approver.is_some_and(|a| a == action.operator) {
        return Err(AdjudicationError::SameApprover);
    }
    if policy.second_approver_for.contains(&outcome) && approver.is_none_or(str::is_empty) {
        return Err(AdjudicationError::ApproverRequired);
    }
    Ok(AdjudicationRef {
        id: action.id(),
        at: action.at,
        outcome,
        reason: reason.clone(),
        second_approver: approver.is_some(),
    })
}

/// The versions a decision was computed from: each provider state item's `version`, and the
/// number of adjudications. A decision is never replaced by one computed from older inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasedOn {
    /// Changes of the alias map that concern this customer (its own aliases, and its own id
    /// aliased to someone else at a provider): each one changes which state item a provider's
    /// version below counts, so it orders before them.
    #[serde(default)]
    pub aliases: i64,
    /// Xpollens' state version.
    pub xpollens: i64,
    /// Trust & Sign's state version.
    pub trust_sign: i64,
    /// GoPay's state version.
    pub gopay: i64,
    /// Actions in the customer's bank history.
    pub bank: i64,
}

impl BasedOn {
    /// The versions of `inputs`.
    pub fn of(inputs: &Inputs) -> Self {
        let (states, bank) = (&inputs.states, &inputs.bank);
        let v = |p| states.get(&p).map_or(0, |s: &ProviderState| s.version);
        Self {
            aliases: inputs.aliases.generation,
            xpollens: v(Provider::Xpollens),
            trust_sign: v(Provider::TrustSign),
            gopay: v(Provider::Gopay),
            bank: bank.iter().filter(|a| a.action == RESOLVE_ACTION).count() as i64,
        }
    }

    fn parts(self) -> [i64; 4] {
        [self.xpollens, self.trust_sign, self.gopay, self.bank]
    }

    /// Whether any input of `self` is older than `other`'s. An older alias map is older
    /// whatever the versions say; a newer one makes them incomparable (other state items).
    pub fn any_older_than(self, other: BasedOn) -> bool {
        match self.aliases.cmp(&other.aliases) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => {
                self.parts().iter().zip(other.parts()).any(|(a, b)| *a < b)
            }
        }
    }
}

/// A customer's KYC decision: what `GET /customers/{id}/kyc` shows first and what
/// `KYC decision changed` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerDecision {
    /// Our id of the customer.
    pub customer_id: String,
    /// The decision.
    pub decision: Decision,
    /// Why not (or no longer) verified: stable codes.
    pub reasons: Vec<String>,
    /// What whoever onboards the customer must see beside the decision.
    pub flags: Vec<String>,
    /// The policy's version that made it.
    pub policy_version: String,
    /// +1 per change of this customer's decision.
    pub decision_version: i64,
    /// The provider time (or adjudication time) of the latest fact it rests on.
    pub since: Option<DateTime<Utc>>,
    /// When the verification expires, if it does.
    pub valid_until: Option<DateTime<Utc>>,
    /// Each provider's decision.
    pub providers: BTreeMap<Provider, ProviderDecision>,
    /// What keeps the customer `blocked` until the bank resolves it.
    #[serde(default)]
    pub blockers: Vec<Blocker>,
    /// The adjudication taken into account, if any.
    pub adjudication: Option<AdjudicationRef>,
    /// The versions of the inputs it was computed from.
    pub based_on: BasedOn,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
    /// The customer was verified at some point (sticky): an applicant who never was may have
    /// their data's retention started by inactivity (`docs/lifecycle.md`).
    #[serde(default)]
    pub ever_verified: bool,
}

impl CustomerDecision {
    /// Whether `other` says something else (not only newer inputs or a newer computation).
    pub fn same_content(&self, other: &CustomerDecision) -> bool {
        let strip = |d: &CustomerDecision| CustomerDecision {
            decision_version: 0,
            based_on: BasedOn::default(),
            computed_at: DateTime::<Utc>::UNIX_EPOCH,
            ..d.clone()
        };
        strip(self) == strip(other)
    }
}

/// What a decision is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inputs {
    /// Each provider's stored state of the customer.
    pub states: BTreeMap<Provider, ProviderState>,
    /// The customer's bank history (adjudications among it), oldest first.
    pub bank: Vec<BankAction>,
    /// The stored decision, if any.
    pub stored: Option<CustomerDecision>,
    /// Which provider ids `states` were read under, where the alias map says so.
    pub aliases: alias::AliasView,
}

impl Inputs {
    /// Nothing to decide on: no provider state, no bank action, no decision yet (a provider
    /// id aliased to another customer, seen under its own id).
    pub fn is_empty(&self) -> bool {
        self.states.is_empty() && self.bank.is_empty() && self.stored.is_none()
    }
}

/// The overall decision (see [`policy`] for the precedence). `decision_version` is the stored
/// one + 1.
pub fn decide(
    customer: &str,
    inputs: &Inputs,
    policy: &Policy,
    now: DateTime<Utc>,
) -> CustomerDecision {
    let mut providers: BTreeMap<Provider, ProviderDecision> = Provider::ALL
        .iter()
        .map(|p| {
            let d = inputs
                .states
                .get(p)
                .map(|s| provider_decision(*p, s, policy, now))
                .unwrap_or_else(ProviderDecision::not_started);
            let d = ProviderDecision {
                provider_customer_id: inputs.aliases.used.get(p).cloned(),
                ..d
            };
            (*p, d)
        })
        .collect();

    let adjudication = inputs
        .bank
        .iter()
        .filter(|a| a.action == RESOLVE_ACTION)
        .filter_map(|a| adjudication(a, policy).ok())
        .max_by_key(|a| a.at);

    // Sticky blockers: those kept by the previous decision, and those the states show now.
    let mut blockers: Vec<Blocker> = inputs
        .stored
        .as_ref()
        .map(|d| d.blockers.clone())
        .unwrap_or_default();
    for (p, d) in &providers {
        for r in d.rules.iter().filter(|r| r.sticky) {
            blockers.push(Blocker {
                source: p.as_str().into(),
                reason: r.reason.clone().unwrap_or_default(),
                since: r.at,
                evidence: r.event_id.clone(),
            });
        }
    }
    if let Some(a) = &adjudication {
        // Resolved: whatever the bank decided, it decided knowing these.
        blockers.retain(|b| b.since > a.at);
        if a.outcome == Decision::Blocked {
            blockers.push(Blocker {
                source: "bank".into(),
                reason: a.reason.clone(),
                since: a.at,
                evidence: a.id.clone(),
            });
        }
    }
    blockers.sort_by(|a, b| {
        (&a.source, a.since, &a.reason, &a.evidence).cmp(&(
            &b.source,
            b.since,
            &b.reason,
            &b.evidence,
        ))
    });
    blockers.dedup();

    // What counts of each provider: the bank's outcome where the provider has said nothing
    // since the adjudication.
    let effective: BTreeMap<Provider, Decision> = providers
        .iter()
        .map(|(p, d)| {
            let covered = adjudication.as_ref().is_some_and(|a| {
                d.decision != Decision::NotStarted && d.since.is_none_or(|s| s <= a.at)
            });
            let decision = match (&adjudication, covered) {
                (Some(a), true) => a.outcome,
                _ => d.decision,
            };
            (*p, decision)
        })
        .collect();

    let covered_any = adjudication.as_ref().is_some_and(|a| {
        providers
            .values()
            .any(|d| d.decision != Decision::NotStarted && d.since.is_none_or(|s| s <= a.at))
    });
    let any = |d: Decision| effective.values().any(|e| *e == d);
    let verified: Vec<Provider> = effective
        .iter()
        .filter(|(_, d)| **d == Decision::Verified)
        .map(|(p, _)| *p)
        .collect();
    let decision = if !blockers.is_empty() || any(Decision::Blocked) {
        Decision::Blocked
    } else if any(Decision::Rejected) {
        Decision::Rejected
    } else if any(Decision::InReview) {
        Decision::InReview
    } else if policy.met_by(&verified) {
        Decision::Verified
    } else {
        let r = &policy.requirements;
        // The providers whose step is missing: every allOf one not verified, and the anyOf
        // ones when none of them is.
        let missing = r.all_of.iter().filter(|p| !verified.contains(p)).chain(
            r.any_of
                .iter()
                .filter(|_| !r.any_of.iter().any(|p| verified.contains(p))),
        );
        missing
            .map(|p| effective[p])
            .filter(|d| *d != Decision::Verified)
            .max_by_key(|d| match d {
                Decision::Expired => 4,
                Decision::ActionRequired => 3,
                Decision::Pending => 2,
                _ => 1,
            })
            .unwrap_or(Decision::NotStarted)
    };

    let mut reasons: Vec<String> = Vec::new();
    if decision == Decision::Blocked {
        reasons.extend(blockers.iter().map(|b| b.reason.clone()));
    }
    for (p, d) in &providers {
        if effective[p] == decision && d.decision == decision {
            reasons.extend(d.reasons.iter().cloned());
        }
    }
    // Information a provider gave that holds whatever the outcome (enhanced due diligence).
    let mut flags: Vec<String> = providers.values().flat_map(|d| d.flags.clone()).collect();
    if covered_any {
        flags.push("bankAdjudicated".to_string());
    }
    flags.sort();
    flags.dedup();
    reasons.sort();
    reasons.dedup();
    let valid_until = (decision == Decision::Verified)
        .then(|| {
            providers
                .iter()
                .filter(|(p, _)| verified.contains(p) && policy.required().any(|q| q == **p))
                .filter_map(|(_, d)| d.valid_until)
                .min()
        })
        .flatten();
    let since = providers
        .values()
        .filter_map(|d| d.since)
        .chain(adjudication.as_ref().map(|a| a.at))
        .chain(blockers.iter().map(|b| b.since))
        .max();
    for d in providers.values_mut() {
        d.flags.sort();
    }
    CustomerDecision {
        customer_id: customer.to_string(),
        decision,
        reasons,
        flags,
        policy_version: policy.policy_version.clone(),
        decision_version: inputs.stored.as_ref().map_or(0, |d| d.decision_version) + 1,
        since,
        valid_until,
        providers,
        blockers,
        adjudication,
        based_on: BasedOn::of(inputs),
        computed_at: now,
        ever_verified: decision == Decision::Verified
            || inputs.stored.as_ref().is_some_and(|d| d.ever_verified),
    }
}

#[cfg(test)]
mod tests;
