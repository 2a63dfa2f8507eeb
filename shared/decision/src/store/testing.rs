//! The racing-recompute scenarios, run on any [`DecisionStore`] (the twin in unit tests,
//! DynamoDB on moto in the integration tests): two changes of one customer recomputed
//! concurrently, in both orders, with a stale read injected. None may leave a stale decision.

use super::{recompute, DecisionStore, Recomputed, Written};
use crate::policy::Policy;
use crate::{decide, CustomerDecision, Decision, Inputs};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::intake::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// A store that can return one stale read and hold one write until released.
pub struct Instrumented {
    /// The store it wraps.
    pub inner: Arc<dyn DecisionStore>,
    stale: Mutex<Option<Inputs>>,
    gate: Mutex<Option<(Arc<Notify>, Arc<Notify>)>>,
}

impl Instrumented {
    /// A wrapper of `inner` that behaves as it until told otherwise.
    pub fn new(inner: Arc<dyn DecisionStore>) -> Self {
        Self {
            inner,
            stale: Mutex::new(None),
            gate: Mutex::new(None),
        }
    }
    /// The next read returns `inputs`.
    pub fn inject_stale_read(&self, inputs: Inputs) {
        *self.stale.lock().unwrap() = Some(inputs);
    }
    /// The next write waits for `release` after notifying `reached`.
    pub fn hold_next_write(&self) -> (Arc<Notify>, Arc<Notify>) {
        let pair = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        *self.gate.lock().unwrap() = Some(pair.clone());
        pair
    }
}

#[async_trait]
impl DecisionStore for Instrumented {
    async fn inputs(&self, customer: &str) -> Result<Inputs, StoreError> {
        let stale = self.stale.lock().unwrap().take();
        match stale {
            Some(s) => Ok(s),
            None => self.inner.inputs(customer).await,
        }
    }
    async fn write(
        &self,
        decision: &CustomerDecision,
        read: Option<&CustomerDecision>,
    ) -> Result<Written, StoreError> {
        let gate = self.gate.lock().unwrap().take();
        if let Some((reached, release)) = gate {
            reached.notify_one();
            release.notified().await;
        }
        self.inner.write(decision, read).await
    }
    async fn get(&self, customer: &str) -> Result<Option<CustomerDecision>, StoreError> {
        self.inner.get(customer).await
    }
    async fn due_expiries(
        &self,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.inner.due_expiries(until, limit).await
    }
}

/// Applies the `n`-th change (0: a first state, 1: a newer one that changes the decision) of
/// a customer's provider state, as the intake would.
pub type Change =
    Arc<dyn Fn(String, usize) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The stored decision must be what the current inputs give (content and versions).
async fn assert_current(
    store: &dyn DecisionStore,
    policy: &Policy,
    customer: &str,
    now: DateTime<Utc>,
    want: Decision,
) {
    let fresh = store.inputs(customer).await.unwrap();
    let stored = fresh.stored.clone().expect("a decision is stored");
    let expected = decide(customer, &fresh, policy, now);
    assert!(
        stored.same_content(&expected),
        "stale decision stored for {customer}: {:?} (expected {:?})",
        stored.decision,
        expected.decision
    );
    assert_eq!(stored.based_on, crate::BasedOn::of(&fresh));
    assert_eq!(stored.decision, want);
}

/// Runs every scenario on `store` (customers `<prefix>-1` ... `<prefix>-3`). `after` is the
/// decision change 1 leads to (change 0 leads to something else).
pub async fn racing_recomputes(
    store: Arc<dyn DecisionStore>,
    change: Change,
    prefix: &str,
    policy: &Policy,
    now: DateTime<Utc>,
    after: Decision,
) {
    let s = Arc::new(Instrumented::new(store.clone()));

    // 1. The older computation writes last: it read change 0, its write is held while
    //    change 1 is applied and recomputed; released, it must not overwrite.
    let c = format!("{prefix}-1");
    change(c.clone(), 0).await;
    let (reached, release) = s.hold_next_write();
    let older = {
        let (s, p, c) = (s.clone(), policy.clone(), c.clone());
        tokio::spawn(async move { recompute(s.as_ref(), &p, &c, now).await.unwrap() })
    };
    reached.notified().await;
    change(c.clone(), 1).await;
    let (newer, _) = recompute(s.as_ref(), policy, &c, now).await.unwrap();
    assert!(matches!(newer, Recomputed::Written(_)));
    release.notify_one();
    let (older, cost) = older.await.unwrap();
    assert_eq!(
        older,
        Recomputed::Unchanged,
        "the older computation re-read"
    );
    assert_eq!(cost.superseded, 1);
    assert_current(store.as_ref(), policy, &c, now, after).await;

    // 2. The newer computation writes last, and the older one read stale states: it wrote
    //    first (nothing was stored), the newer one's write is refused, re-reads, and wins.
    let c = format!("{prefix}-2");
    change(c.clone(), 0).await;
    let stale = store.inputs(&c).await.unwrap();
    change(c.clone(), 1).await;
    let (reached, release) = s.hold_next_write();
    let newer = {
        let (s, p, c) = (s.clone(), policy.clone(), c.clone());
        tokio::spawn(async move { recompute(s.as_ref(), &p, &c, now).await.unwrap() })
    };
    reached.notified().await;
    s.inject_stale_read(stale);
    let (older, _) = recompute(s.as_ref(), policy, &c, now).await.unwrap();
    assert!(
        matches!(older, Recomputed::Written(_)),
        "nothing stored yet: the stale one writes"
    );
    release.notify_one();
    let (newer, cost) = newer.await.unwrap();
    assert!(matches!(newer, Recomputed::Written(_)));
    assert_eq!(cost.superseded, 1);
    assert_current(store.as_ref(), policy, &c, now, after).await;

    // 3. A stale read after the newer decision is stored (states older than the decision's
    //    inputs): detected, re-read, nothing written.
    let c = format!("{prefix}-3");
    change(c.clone(), 0).await;
    let stale = store.inputs(&c).await.unwrap();
    change(c.clone(), 1).await;
    recompute(s.as_ref(), policy, &c, now).await.unwrap();
    let stored = store.get(&c).await.unwrap();
    s.inject_stale_read(Inputs {
        stored: stored.clone(),
        ..stale.clone()
    });
    let (again, cost) = recompute(s.as_ref(), policy, &c, now).await.unwrap();
    assert_eq!(again, Recomputed::Unchanged);
    assert_eq!(cost.stale_reads, 1);
    // And with everything stale (no decision in the stale read): the write is refused.
    s.inject_stale_read(stale);
    let (again, cost) = recompute(s.as_ref(), policy, &c, now).await.unwrap();
    assert_eq!(again, Recomputed::Unchanged);
    assert_eq!(cost.superseded, 1);
    assert_eq!(store.get(&c).await.unwrap(), stored, "nothing rewritten");
    assert_current(store.as_ref(), policy, &c, now, after).await;
}

/// The alias map on any store (`kyc customer alias`), customers `<prefix>-bank`,
/// `<prefix>-other` and provider id `<prefix>-xp` (its Xpollens state: `change`).
/// The provider id's state counts for the bank customer from the alias on and no longer for
/// the provider id itself; a read from before an alias change never overwrites a decision from
/// after it; the rules refuse a second owner or a second id; removal gives the state back.
/// `aliases` writes the alias map (as an operator); `store` reads (as the decision's role).
pub async fn alias_map(
    store: Arc<dyn DecisionStore>,
    aliases: &dyn crate::alias::AliasMap,
    change: Change,
    prefix: &str,
    policy: &Policy,
    now: DateTime<Utc>,
    after: Decision,
) {
    use crate::alias::{AliasError, AliasOutcome, AliasRequest, ALIASED, ALIAS_REMOVED};
    use kyc_core::intake::Provider;
    let (bank, other, xp) = (
        format!("{prefix}-bank"),
        format!("{prefix}-other"),
        format!("{prefix}-xp"),
    );
    let s = Arc::new(Instrumented::new(store.clone()));
    let req = |customer: &str, id: &str, remove: bool| AliasRequest {
        customer: customer.into(),
        provider: Provider::Xpollens,
        provider_id: id.into(),
        remove,
        operator: "arn:aws:sts::123456789012:assumed-role/kyc-operator/op1".into(),
        reason: "ID-MAP-1".into(),
        at: now,
    };

    // Before any alias, the provider id is a customer of its own.
    change(xp.clone(), 0).await;
    let done = super::recompute_for_state(s.as_ref(), policy, &xp, now)
        .await
        .unwrap();
    assert_eq!(done.len(), 1, "no alias: only the id itself");
    let before_alias = store.inputs(&xp).await.unwrap();
    let phantom = before_alias
        .stored
        .clone()
        .expect("decided under its own id");
    assert_ne!(phantom.decision, Decision::NotStarted);

    assert_eq!(
        aliases.change(&req(&bank, &xp, false)).await.unwrap(),
        AliasOutcome::Linked
    );
    assert_eq!(
        aliases.change(&req(&bank, &xp, false)).await.unwrap(),
        AliasOutcome::AlreadyLinked,
        "a retry writes nothing"
    );
    assert!(matches!(
        aliases.change(&req(&other, &xp, false)).await,
        Err(AliasError::TakenByAnother(_))
    ));
    assert!(matches!(
        aliases.change(&req(&bank, &format!("{xp}-2"), false)).await,
        Err(AliasError::CustomerHasAnother(_))
    ));
    assert!(matches!(
        aliases.change(&req(&bank, &bank, false)).await,
        Err(AliasError::SameId)
    ));

    // The bank customer's decision now rests on the provider id's state...
    recompute(s.as_ref(), policy, &bank, now).await.unwrap();
    let d = store.get(&bank).await.unwrap().expect("decided");
    assert_eq!(d.decision, phantom.decision);
    assert_eq!(
        d.providers[&Provider::Xpollens]
            .provider_customer_id
            .as_deref(),
        Some(xp.as_str())
    );
    // ... and the provider id's own decision no longer counts it.
    recompute(s.as_ref(), policy, &xp, now).await.unwrap();
    let moved = store.get(&xp).await.unwrap().unwrap();
    assert_eq!(
        moved.providers[&Provider::Xpollens].decision,
        Decision::NotStarted
    );
    assert_eq!(moved.based_on.aliases, 1);
    // A recompute that read before the alias cannot bring the state back: its alias generation
    // is older (re-read), or the decision it read is gone (refused, re-read).
    s.inject_stale_read(Inputs {
        stored: Some(moved.clone()),
        ..before_alias.clone()
    });
    let (again, cost) = recompute(s.as_ref(), policy, &xp, now).await.unwrap();
    assert_eq!((again, cost.stale_reads), (Recomputed::Unchanged, 1));
    // Wholly stale (the decision it read says what it computes): nothing written either.
    s.inject_stale_read(before_alias);
    let (again, _) = recompute(s.as_ref(), policy, &xp, now).await.unwrap();
    assert_eq!(again, Recomputed::Unchanged);
    assert_eq!(store.get(&xp).await.unwrap().as_ref(), Some(&moved));

    // A later provider change under the provider id reaches the bank customer.
    change(xp.clone(), 1).await;
    let done = super::recompute_for_state(s.as_ref(), policy, &xp, now)
        .await
        .unwrap();
    assert_eq!(
        done.iter().map(|(c, _, _)| c.as_str()).collect::<Vec<_>>(),
        [xp.as_str(), bank.as_str()]
    );
    assert_current(store.as_ref(), policy, &bank, now, after).await;

    // Removal gives the state back to the provider id; the bank's history keeps both changes
    // with the operator.
    let later = |r: AliasRequest| AliasRequest {
        at: now + chrono::Duration::minutes(1),
        ..r
    };
    assert_eq!(
        aliases.change(&later(req(&bank, &xp, true))).await.unwrap(),
        AliasOutcome::Removed
    );
    assert_eq!(
        aliases.change(&later(req(&bank, &xp, true))).await.unwrap(),
        AliasOutcome::NotLinked
    );
    recompute(s.as_ref(), policy, &bank, now).await.unwrap();
    recompute(s.as_ref(), policy, &xp, now).await.unwrap();
    let bank_now = store.inputs(&bank).await.unwrap();
    assert_eq!(
        bank_now.stored.as_ref().unwrap().providers[&Provider::Xpollens].decision,
        Decision::NotStarted
    );
    let actions: Vec<&str> = bank_now.bank.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, [ALIASED, ALIAS_REMOVED]);
    assert!(bank_now
        .bank
        .iter()
        .all(|a| a.operator.starts_with("arn:aws:")));
    assert_current(store.as_ref(), policy, &xp, now, after).await;
}
