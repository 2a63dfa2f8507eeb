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
    pub inner: Arc<dyn DecisionStore>,
    stale: Mutex<Option<Inputs>>,
    gate: Mutex<Option<(Arc<Notify>, Arc<Notify>)>>,
}

impl Instrumented {
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
    assert_eq!(
        stored.based_on,
        crate::BasedOn::of(&fresh.states, &fresh.bank)
    );
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
