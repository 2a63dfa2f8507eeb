//! The KYC decision's steps of the one stream consumer (DynamoDB Streams serve at most two
//! readers per shard: the decision shares the state publisher's):
//!
//! - a provider `STATE` record whose streams changed → recompute the customer's decision
//!   (`kyc_decision::store::recompute`: strongly consistent reads, conditional write);
//! - the decision item's own record (`C#<customer>` / `DECISION`) whose `decisionVersion`
//!   moved → publish `KYC decision changed`. The decision is the outbox: a failed publish fails
//!   the record, and the stream delivers it again.

use crate::{diff_record, image, record_partition, KycStateChanged, RecordChanges, RecordError};
use chrono::{DateTime, Utc};
use kyc_core::keys;
use kyc_decision::event::KycDecisionChanged;
use kyc_decision::policy::Policy;
use kyc_decision::store::{recompute_for_state, DecisionStore, RecomputeError, Recomputed};
use kyc_decision::CustomerDecision;
use serde_json::{Map, Value};
use std::sync::Arc;

/// What one stream record asks of the consumer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Work {
    /// State-change events to publish.
    pub state: Vec<KycStateChanged>,
    /// A decision-change event to publish.
    pub decision: Option<KycDecisionChanged>,
    /// The customer whose decision to recompute.
    pub recompute: Option<String>,
}

/// A decision item's image → the decision.
fn decision_of(
    item: Map<String, Value>,
    which: &'static str,
) -> Result<CustomerDecision, RecordError> {
    // The error text is dropped: serde's messages can quote a value.
    serde_json::from_value(Value::Object(item)).map_err(|_| RecordError::BadImage(which))
}

/// The work of one record; `None` when it asks for nothing.
pub fn work_of(record: &Value, recompute: bool) -> Result<Option<Work>, RecordError> {
    let sk = record
        .get("dynamodb")
        .and_then(|d| d.get("Keys"))
        .and_then(|k| k.get("SK"))
        .and_then(|v| v.get("S"))
        .and_then(Value::as_str);
    let is_decision = sk == Some(keys::DECISION_SK)
        && record_partition(record).is_some_and(|pk| pk.starts_with("C#"));
    if is_decision {
        if record.get("eventName").and_then(Value::as_str) == Some("REMOVE") {
            return Ok(None);
        }
        let new = image(record, "NewImage")?.ok_or(RecordError::MissingImage("NewImage"))?;
        let new = decision_of(new, "NewImage")?;
        let old = image(record, "OldImage")?
            .map(|o| decision_of(o, "OldImage"))
            .transpose()?;
        if old
            .as_ref()
            .is_some_and(|o| o.decision_version == new.decision_version)
        {
            return Ok(None);
        }
        return Ok(Some(Work {
            decision: Some(KycDecisionChanged::new(&new, old.as_ref())),
            ..Work::default()
        }));
    }
    match diff_record(record)? {
        RecordChanges::Ignored => Ok(None),
        RecordChanges::Changes(state) => Ok(Some(Work {
            recompute: state
                .first()
                .filter(|_| recompute)
                .map(|c| c.customer_id.clone()),
            state,
            decision: None,
        })),
    }
}

/// The recompute the consumer runs: the store, the policy validated at cold start, a clock.
pub struct Recompute {
    /// Where decisions are read and written.
    pub store: Arc<dyn DecisionStore>,
    /// The decision policy, validated at cold start.
    pub policy: Policy,
    /// The clock.
    pub now: fn() -> DateTime<Utc>,
}

/// Decisions recomputed per sweep at most: within the function's timeout (a recompute is three
/// DynamoDB calls); the rest wait five minutes for the next sweep.
pub const SWEEP_LIMIT: usize = 200;

impl Recompute {
    /// The expiry sweep: decisions whose `validUntil` passed are recomputed (→ `expired`).
    pub async fn sweep(&self) -> Result<usize, RecomputeError> {
        let changed = kyc_decision::store::sweep_expiries(
            self.store.as_ref(),
            &self.policy,
            (self.now)(),
            SWEEP_LIMIT,
        )
        .await?;
        tracing::info!(changed, "decision expiry sweep");
        Ok(changed)
    }

    /// After a provider state of `customer` changed: its decision, and that of a customer the
    /// alias map gives the state to.
    pub async fn run(&self, customer: &str) -> Result<(), RecomputeError> {
        let done =
            recompute_for_state(self.store.as_ref(), &self.policy, customer, (self.now)()).await?;
        for (_, outcome, cost) in done {
            // Counts only: no customer id, no decision.
            tracing::info!(
                written = matches!(outcome, Recomputed::Written(_)),
                reads = cost.reads,
                writes = cost.writes,
                stale_reads = cost.stale_reads,
                superseded = cost.superseded,
                "decision recomputed"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::ddb_json;
    use crate::{MemoryPublisher, StatePublisher};
    use async_trait::async_trait;
    use chrono::TimeZone;
    use kyc_core::intake::{Provider, StoreError};
    use kyc_core::kyc_state::{Finality, StatePatch, Stream, StreamValue};
    use kyc_decision::store::{MemoryDecisionStore, Written};
    use kyc_decision::{Decision, Inputs};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, minute, 0).unwrap()
    }

    fn record(seq: u64, old: Option<&Value>, new: &Value) -> Value {
        let image = |v: &Value| ddb_json::to_ddb(v)["M"].clone();
        let mut d = json!({
            "Keys": {"PK": {"S": new["PK"]}, "SK": {"S": new["SK"]}},
            "NewImage": image(new),
            "SequenceNumber": seq.to_string(),
        });
        if let Some(old) = old {
            d["OldImage"] = image(old);
        }
        json!({"eventName": if old.is_some() { "MODIFY" } else { "INSERT" }, "dynamodb": d})
    }

    /// A state change applied to the twin, and the stream record the table would emit.
    fn change(
        store: &MemoryDecisionStore,
        customer: &str,
        status: &str,
        minute: u32,
        seq: u64,
    ) -> Value {
        let v = StreamValue::with_finality(
            status,
            1,
            false,
            Finality::Latest,
            at(minute),
            &format!("ev-{seq}"),
        );
        store
            .apply(
                customer,
                Provider::Xpollens,
                &StatePatch {
                    stream: Stream::KYC_DEMAND,
                    value: v.clone(),
                },
            )
            .unwrap();
        let item = json!({
            "PK": keys::customer_pk(Provider::Xpollens, customer), "SK": "STATE",
            "customerId": customer, "version": seq, "updatedAt": at(minute).to_rfc3339(),
            "kycDemand": serde_json::to_value(&v).unwrap(),
        });
        record(seq, None, &item)
    }

    fn decision_item(d: &CustomerDecision) -> Value {
        let mut v = serde_json::to_value(d).unwrap();
        v["PK"] = json!(keys::customer_area_pk(&d.customer_id));
        v["SK"] = json!("DECISION");
        v["itemType"] = json!("decision");
        v
    }

    /// Counts reads; fails every call when `down`.
    struct Counting {
        inner: MemoryDecisionStore,
        reads: AtomicUsize,
        down: bool,
    }

    #[async_trait]
    impl DecisionStore for Counting {
        async fn inputs(&self, c: &str) -> Result<Inputs, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down {
                return Err(StoreError::Unavailable("down".into()));
            }
            self.inner.inputs(c).await
        }
        async fn write(
            &self,
            d: &CustomerDecision,
            r: Option<&CustomerDecision>,
        ) -> Result<Written, StoreError> {
            self.inner.write(d, r).await
        }
        async fn get(&self, c: &str) -> Result<Option<CustomerDecision>, StoreError> {
            self.inner.get(c).await
        }
        async fn due_expiries(
            &self,
            u: DateTime<Utc>,
            l: usize,
        ) -> Result<Vec<String>, StoreError> {
            self.inner.due_expiries(u, l).await
        }
    }

    fn consumer(store: Arc<Counting>) -> (StatePublisher, Arc<MemoryPublisher>) {
        let publisher = Arc::new(MemoryPublisher::default());
        let handler = StatePublisher {
            publisher: publisher.clone(),
            decisions: Some(Arc::new(Recompute {
                store,
                policy: Policy::default_policy(),
                now: || Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap(),
            })),
        };
        (handler, publisher)
    }

    #[tokio::test]
    async fn a_state_change_recomputes_once_per_customer_and_the_decision_record_publishes() {
        let store = Arc::new(Counting {
            inner: MemoryDecisionStore::default(),
            reads: 0.into(),
            down: false,
        });
        let (handler, publisher) = consumer(store.clone());
        let r1 = change(&store.inner, "a", "Pending", 1, 1);
        let r2 = change(&store.inner, "a", "FraudSuspicion", 2, 2);
        let report = handler.handle(&json!({"Records": [r1, r2]})).await.unwrap();
        assert!(report.failed.is_empty());
        assert_eq!(publisher.published().len(), 2, "the state events");
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            1,
            "one recompute for the batch"
        );
        let d = store.inner.get("a").await.unwrap().unwrap();
        assert_eq!((d.decision, d.decision_version), (Decision::Blocked, 1));
        assert!(
            publisher.published_decisions().is_empty(),
            "published from its own record"
        );

        // The decision item's record: the outbox.
        let item = decision_item(&d);
        let report = handler
            .handle(&json!({"Records": [record(10, None, &item)]}))
            .await
            .unwrap();
        assert!(report.failed.is_empty());
        let events = publisher.published_decisions();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, kyc_decision::event::event_id("a", 1));
        assert_eq!(
            (events[0].decision, events[0].previous_decision),
            (Decision::Blocked, None)
        );
        // The same version again (another attribute moved): nothing.
        handler
            .handle(&json!({"Records": [record(11, Some(&item), &item)]}))
            .await
            .unwrap();
        assert_eq!(publisher.published_decisions().len(), 1);
    }

    #[tokio::test]
    async fn a_refused_decision_event_fails_its_record_and_is_published_on_retry() {
        let store = Arc::new(Counting {
            inner: MemoryDecisionStore::default(),
            reads: 0.into(),
            down: false,
        });
        let (handler, publisher) = consumer(store.clone());
        change(&store.inner, "b", "Complete", 1, 1);
        kyc_decision::store::recompute(&store.inner, &Policy::default_policy(), "b", at(5))
            .await
            .unwrap();
        let d = store.inner.get("b").await.unwrap().unwrap();
        let id = kyc_decision::event::event_id("b", 1);
        publisher.refuse(&id);
        let batch = json!({"Records": [record(20, None, &decision_item(&d))]});
        let report = handler.handle(&batch).await.unwrap();
        assert_eq!(report.failed, ["20"]);
        publisher.accept_all();
        assert!(handler.handle(&batch).await.unwrap().failed.is_empty());
        assert_eq!(publisher.published_decisions()[0].id, id);
    }

    #[tokio::test]
    async fn a_failed_recompute_fails_the_state_record() {
        let store = Arc::new(Counting {
            inner: MemoryDecisionStore::default(),
            reads: 0.into(),
            down: true,
        });
        let (handler, publisher) = consumer(store.clone());
        let r = change(&store.inner, "c", "Pending", 1, 1);
        let report = handler.handle(&json!({"Records": [r]})).await.unwrap();
        assert_eq!(report.failed, ["1"]);
        assert_eq!(
            publisher.published().len(),
            1,
            "its state event went out (at least once)"
        );
    }
}
