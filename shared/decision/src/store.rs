//! Where decisions are kept, and the recompute that never leaves an older decision.
//!
//! [`recompute`] reads a customer's inputs (the three provider states, strongly consistent; the
//! bank's history; the stored decision), computes the decision, and writes it only if the
//! stored one is still the one it read (`decisionVersion`) and none of the state versions it
//! rests on is older than the stored decision's. A lost race or a stale read costs a re-read,
//! never a stale decision. Nothing changed (same content): nothing written, nothing published.

use crate::alias::{
    self, AliasError, AliasMap, AliasOutcome, AliasPlan, AliasRequest, AliasView, ProviderSide,
};
use crate::policy::Policy;
use crate::{decide, BasedOn, CustomerDecision, Inputs};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::bank::BankAction;
use kyc_core::intake::{Provider, StoreError};
use kyc_core::kyc_state::{ProviderState, SkipReason, StatePatch};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The decision was written.
    Written,
    /// The stored decision is no longer the one read, or rests on newer inputs: not written.
    Superseded,
}

/// The decision store.
#[async_trait]
pub trait DecisionStore: Send + Sync {
    /// Everything a customer's decision is computed from (states read strongly consistent),
    /// each provider's state read under the id the alias map names ([`AliasView::state_id`]).
    async fn inputs(&self, customer: &str) -> Result<Inputs, StoreError>;
    /// Writes `decision` if the stored decision is still `read` (`None`: none stored) and
    /// `decision.based_on` is not older than the stored one's in any part.
    async fn write(
        &self,
        decision: &CustomerDecision,
        read: Option<&CustomerDecision>,
    ) -> Result<Written, StoreError>;
    /// The stored decision.
    async fn get(&self, customer: &str) -> Result<Option<CustomerDecision>, StoreError>;
    /// Customers whose decision's `validUntil` is at or before `until` (an index, never a
    /// scan), at most `limit`.
    async fn due_expiries(
        &self,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
}

/// What a recompute did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recomputed {
    /// A new decision was written (its change will be published from the stream).
    Written(Box<CustomerDecision>),
    /// The stored decision already says this.
    Unchanged,
}

/// Why a recompute failed (the stream retries the record).
#[derive(Debug, thiserror::Error)]
pub enum RecomputeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Every attempt lost to a concurrent writer.
    #[error("decision of a customer still contended after {0} attempts")]
    Contended(u32),
}

/// Attempts before a recompute gives up (the stream retries the record).
pub const ATTEMPTS: u32 = 8;

/// What one recompute cost (for the closing note's figures and the logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Reads made.
    pub reads: u32,
    /// Writes tried.
    pub writes: u32,
    /// Reads found older than the stored decision (re-read).
    pub stale_reads: u32,
    /// Writes refused because another recompute wrote first.
    pub superseded: u32,
}

/// Recomputes and stores `customer`'s decision (see the module documentation). A customer
/// with nothing to decide on (no state, no bank action, no decision) gets none.
pub async fn recompute(
    store: &dyn DecisionStore,
    policy: &Policy,
    customer: &str,
    now: DateTime<Utc>,
) -> Result<(Recomputed, Cost), RecomputeError> {
    recompute_one(store, policy, customer, now)
        .await
        .map(|(r, c, _)| (r, c))
}

/// After a provider state of `id` changed: recomputes `id`'s decision and that of every
/// customer the alias map gives one of `id`'s provider states to (`kyc customer alias`).
pub async fn recompute_for_state(
    store: &dyn DecisionStore,
    policy: &Policy,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(String, Recomputed, Cost)>, RecomputeError> {
    let (outcome, cost, owners) = recompute_one(store, policy, id, now).await?;
    let mut done = vec![(id.to_string(), outcome, cost)];
    for owner in owners {
        if done.iter().all(|(c, _, _)| *c != owner) {
            let (outcome, cost) = recompute(store, policy, &owner, now).await?;
            done.push((owner, outcome, cost));
        }
    }
    Ok(done)
}

async fn recompute_one(
    store: &dyn DecisionStore,
    policy: &Policy,
    customer: &str,
    now: DateTime<Utc>,
) -> Result<(Recomputed, Cost, Vec<String>), RecomputeError> {
    let mut cost = Cost::default();
    for _ in 0..ATTEMPTS {
        let inputs = store.inputs(customer).await?;
        cost.reads += 1;
        let owners: Vec<String> = inputs.aliases.moved_away.values().cloned().collect();
        if inputs.is_empty() {
            return Ok((Recomputed::Unchanged, cost, owners));
        }
        let based_on = BasedOn::of(&inputs);
        if let Some(stored) = &inputs.stored {
            if based_on.any_older_than(stored.based_on) {
                // This read is older than what a decision was already made from.
                cost.stale_reads += 1;
                continue;
            }
        }
        let decision = decide(customer, &inputs, policy, now);
        if inputs
            .stored
            .as_ref()
            .is_some_and(|s| s.same_content(&decision))
        {
            return Ok((Recomputed::Unchanged, cost, owners));
        }
        cost.writes += 1;
        match store.write(&decision, inputs.stored.as_ref()).await? {
            Written::Written => return Ok((Recomputed::Written(Box::new(decision)), cost, owners)),
            Written::Superseded => cost.superseded += 1,
        }
    }
    Err(RecomputeError::Contended(ATTEMPTS))
}

/// Whether `decision` may replace `stored` that the writer read as `read`: the twin of the
/// DynamoDB condition.
pub fn may_replace(
    stored: Option<&CustomerDecision>,
    read: Option<&CustomerDecision>,
    decision: &CustomerDecision,
) -> bool {
    match (stored, read) {
        (None, None) => true,
        (Some(s), Some(r)) => {
            s.decision_version == r.decision_version
                && !decision.based_on.any_older_than(s.based_on)
        }
        _ => false,
    }
}

#[derive(Default)]
struct Tables {
    states: BTreeMap<(String, Provider), ProviderState>,
    bank: HashMap<String, Vec<BankAction>>,
    decisions: HashMap<String, CustomerDecision>,
    /// Provider side of the alias map: (provider, provider id) → owner, changes.
    provider_side: BTreeMap<(Provider, String), ProviderSide>,
    /// Bank side: (customer, provider) → provider id.
    customer_side: BTreeMap<(String, Provider), String>,
}

/// The in-memory twin: provider states, bank history and decisions of many customers.
#[derive(Default)]
pub struct MemoryDecisionStore {
    tables: Mutex<Tables>,
    /// The next read of a customer returns this instead (a stale read, for tests).
    stale: Mutex<HashMap<String, Inputs>>,
}

impl MemoryDecisionStore {
    /// Applies a state patch as the intake would (`version` +1 when applied).
    pub fn apply(
        &self,
        customer: &str,
        provider: Provider,
        patch: &StatePatch,
    ) -> Result<(), SkipReason> {
        self.tables
            .lock()
            .unwrap()
            .states
            .entry((customer.to_string(), provider))
            .or_default()
            .apply(patch)
    }

    /// Records a bank action (an adjudication) in the customer's history.
    pub fn add_bank_action(&self, customer: &str, action: BankAction) {
        let mut t = self.tables.lock().unwrap();
        let list = t.bank.entry(customer.to_string()).or_default();
        if !list.iter().any(|a| a.id() == action.id()) {
            list.push(action);
            list.sort_by_key(|a| a.at);
        }
    }

    /// Makes the next read of `customer` return `inputs` (captured earlier).
    pub fn inject_stale_read(&self, customer: &str, inputs: Inputs) {
        self.stale
            .lock()
            .unwrap()
            .insert(customer.to_string(), inputs);
    }

    fn snapshot(&self, customer: &str) -> Inputs {
        let t = self.tables.lock().unwrap();
        let bank = t.bank.get(customer).cloned().unwrap_or_default();
        let own: BTreeMap<Provider, String> = t
            .customer_side
            .iter()
            .filter(|((c, _), _)| c == customer)
            .map(|((_, p), id)| (*p, id.clone()))
            .collect();
        let elsewhere: BTreeMap<Provider, ProviderSide> = t
            .provider_side
            .iter()
            .filter(|((_, id), _)| id == customer)
            .map(|((p, _), side)| (*p, side.clone()))
            .collect();
        let aliases = AliasView::of(customer, &bank, own, &elsewhere);
        Inputs {
            states: Provider::ALL
                .iter()
                .filter_map(|p| {
                    let id = aliases.state_id(customer, *p)?;
                    t.states.get(&(id.to_string(), *p)).map(|s| (*p, s.clone()))
                })
                .collect(),
            bank,
            stored: t.decisions.get(customer).cloned(),
            aliases,
        }
    }
}

#[async_trait]
impl AliasMap for MemoryDecisionStore {
    async fn change(&self, req: &AliasRequest) -> Result<AliasOutcome, AliasError> {
        let mut t = self.tables.lock().unwrap();
        let side_key = (req.provider, req.provider_id.clone());
        let own_key = (req.customer.clone(), req.provider);
        let plan = alias::plan(
            req,
            t.provider_side.get(&side_key),
            t.customer_side.get(&own_key).map(String::as_str),
        )?;
        let outcome = match plan {
            AliasPlan::Nothing(outcome) => return Ok(outcome),
            AliasPlan::Write { outcome, .. } => outcome,
        };
        let side = t.provider_side.entry(side_key).or_default();
        side.changes += 1;
        if req.remove {
            side.customer = None;
            t.customer_side.remove(&own_key);
        } else {
            side.customer = Some(req.customer.clone());
            t.customer_side.insert(own_key, req.provider_id.clone());
        }
        let action = req.action();
        let list = t.bank.entry(req.customer.clone()).or_default();
        list.push(action);
        list.sort_by_key(|a| a.at);
        Ok(outcome)
    }
}

#[async_trait]
impl DecisionStore for MemoryDecisionStore {
    async fn inputs(&self, customer: &str) -> Result<Inputs, StoreError> {
        if let Some(stale) = self.stale.lock().unwrap().remove(customer) {
            return Ok(stale);
        }
        Ok(self.snapshot(customer))
    }

    async fn write(
        &self,
        decision: &CustomerDecision,
        read: Option<&CustomerDecision>,
    ) -> Result<Written, StoreError> {
        let mut t = self.tables.lock().unwrap();
        let stored = t.decisions.get(&decision.customer_id);
        if !may_replace(stored, read, decision) {
            return Ok(Written::Superseded);
        }
        t.decisions
            .insert(decision.customer_id.clone(), decision.clone());
        Ok(Written::Written)
    }

    async fn get(&self, customer: &str) -> Result<Option<CustomerDecision>, StoreError> {
        Ok(self.tables.lock().unwrap().decisions.get(customer).cloned())
    }

    async fn due_expiries(
        &self,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let t = self.tables.lock().unwrap();
        let mut due: Vec<(DateTime<Utc>, String)> = t
            .decisions
            .values()
            .filter_map(|d| {
                d.valid_until
                    .filter(|v| *v <= until)
                    .map(|v| (v, d.customer_id.clone()))
            })
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, c)| c).collect())
    }
}

/// The expiry sweep: recomputes every customer whose `validUntil` has passed, so the decision
/// becomes `expired` (and its event is published from the stream). Returns how many changed.
pub async fn sweep_expiries(
    store: &dyn DecisionStore,
    policy: &Policy,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<usize, RecomputeError> {
    let mut changed = 0;
    for customer in store.due_expiries(now, limit).await? {
        if let (Recomputed::Written(_), _) = recompute(store, policy, &customer, now).await? {
            changed += 1;
        }
    }
    Ok(changed)
}

pub mod testing;
