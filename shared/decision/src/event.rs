//! `KYC decision changed`: the event published from the decision item's own stream record (an
//! outbox: the decision is written first, the stream delivers its change until it is
//! published). Schema: `schemas/kyc-decision-changed.v1.json`. Codes, ids and times only.

use crate::{CustomerDecision, Decision};
use chrono::{DateTime, Utc};
use kyc_core::intake::{sha256_hex, Provider};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// EventBridge `detail-type` of the decision events (source `kyc-hooks`, as the state events).
pub const DETAIL_TYPE: &str = "KYC decision changed";
/// The `schemaVersion` of the decision events published today.
pub const SCHEMA_VERSION: u32 = 1;
/// The JSON Schema of the detail, as checked in.
pub const SCHEMA_V1: &str = include_str!("../../../schemas/kyc-decision-changed.v1.json");

/// One provider's part of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderPart {
    /// The provider's decision.
    pub decision: Decision,
    /// Why not (or no longer) verified: stable codes.
    pub reasons: Vec<String>,
    /// The latest provider time of the streams it rests on.
    pub since: Option<DateTime<Utc>>,
    /// When the provider's verification expires, if it does.
    pub valid_until: Option<DateTime<Utc>>,
    /// The provider events it rests on.
    pub evidence: Vec<String>,
    /// The provider's own id of the customer where the bank aliased one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_customer_id: Option<String>,
}

/// The adjudication the decision takes into account (no operator identity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjudicationPart {
    /// The adjudication's id.
    pub id: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// The outcome the bank decided.
    pub outcome: Decision,
    /// Its reason code.
    pub reason: String,
}

/// The `detail` of `KYC decision changed` (schema version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KycDecisionChanged {
    /// The detail's schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// hash(customer, decisionVersion): the same change published twice has one id.
    pub id: String,
    /// Our id of the customer.
    pub customer_id: String,
    /// The new decision.
    pub decision: Decision,
    /// `null` for the customer's first decision.
    pub previous_decision: Option<Decision>,
    /// Why not (or no longer) verified: stable codes.
    pub reasons: Vec<String>,
    /// What whoever onboards the customer must see beside the decision.
    pub flags: Vec<String>,
    /// The policy's version that made the decision.
    pub policy_version: String,
    /// A consumer keeps the highest it has seen and ignores lower ones.
    pub decision_version: i64,
    /// The provider time (or adjudication time) of the latest fact it rests on.
    pub since: Option<DateTime<Utc>>,
    /// When the verification expires, if it does.
    pub valid_until: Option<DateTime<Utc>>,
    /// Each provider's part.
    pub providers: BTreeMap<Provider, ProviderPart>,
    /// The adjudication taken into account, if any.
    pub adjudication: Option<AdjudicationPart>,
    /// When the decision was computed.
    pub computed_at: DateTime<Utc>,
}

/// The stable event id of a decision version.
pub fn event_id(customer: &str, decision_version: i64) -> String {
    sha256_hex(format!("{customer}\n{decision_version}").as_bytes())
}

impl KycDecisionChanged {
    /// The event of `decision`, after `previous` (`None`: the customer's first).
    pub fn new(decision: &CustomerDecision, previous: Option<&CustomerDecision>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            id: event_id(&decision.customer_id, decision.decision_version),
            customer_id: decision.customer_id.clone(),
            decision: decision.decision,
            previous_decision: previous.map(|p| p.decision),
            reasons: decision.reasons.clone(),
            flags: decision.flags.clone(),
            policy_version: decision.policy_version.clone(),
            decision_version: decision.decision_version,
            since: decision.since,
            valid_until: decision.valid_until,
            providers: decision
                .providers
                .iter()
                .map(|(p, d)| {
                    (
                        *p,
                        ProviderPart {
                            decision: d.decision,
                            reasons: d.reasons.clone(),
                            since: d.since,
                            valid_until: d.valid_until,
                            evidence: d.evidence.clone(),
                            provider_customer_id: d.provider_customer_id.clone(),
                        },
                    )
                })
                .collect(),
            adjudication: decision.adjudication.as_ref().map(|a| AdjudicationPart {
                id: a.id.clone(),
                at: a.at,
                outcome: a.outcome,
                reason: a.reason.clone(),
            }),
            computed_at: decision.computed_at,
        }
    }
}

/// The decision as the read API and `kyc status` show it: the event's fields without the
/// event's own (`schemaVersion`, `id`, `previousDecision`, `customerId`).
pub fn view(decision: &CustomerDecision) -> serde_json::Value {
    let mut v = serde_json::to_value(KycDecisionChanged::new(decision, None))
        .expect("a decision serialises");
    if let Some(m) = v.as_object_mut() {
        for k in ["schemaVersion", "id", "previousDecision", "customerId"] {
            m.remove(k);
        }
    }
    v
}
