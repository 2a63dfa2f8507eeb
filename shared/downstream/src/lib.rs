//! Downstream: what the rest of the bank sees of the KYC state.
//!
//! - State-change events: the table's DynamoDB stream (NEW_AND_OLD_IMAGES) feeds the
//!   `state-publisher` function; each applied change of a provider's `STATE` item becomes one
//!   [`KycStateChanged`] per stream whose value changed (its `eventId` or `ord`), published on
//!   EventBridge through an [`EventPublisher`]. Schema: `schemas/kyc-state-changed.v1.json`.
//! - The read API (`read_api`): `GET /customers/{id}/kyc` and `.../kyc/history`.
//! - Adapters (`aws`): the history pages on DynamoDB (feature `aws`), the events on
//!   EventBridge (`aws::eventbridge`, feature `eventbridge`).
//!
//! No provider crate here: the read API links no provider's parser.
//!
//! Only what a consumer needs leaves the table: a stream's `detail` and `sealed` values are
//! never read here (the images are deserialised into `StreamView`, which has no such field).

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

#[cfg(feature = "aws")]
pub mod aws;
pub mod decision;
pub mod read_api;

// Re-exported so function crates and tests share the exact version.
#[cfg(feature = "eventbridge")]
pub use aws_sdk_eventbridge;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::intake::{sha256_hex, HistoryEntry, Provider};
use kyc_core::keys;
use kyc_core::kyc_state::ProviderState;
pub use kyc_decision::event::KycDecisionChanged;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// EventBridge `source` of every state-change event.
pub const EVENT_SOURCE: &str = "kyc-hooks";
/// EventBridge `detail-type`; the schema version is in the detail (`schemaVersion`).
pub const DETAIL_TYPE: &str = "KYC state changed";
/// The `schemaVersion` of the state-change events published today.
pub const SCHEMA_VERSION: u32 = 1;
/// The JSON Schema of the detail, as checked in (`schemas/kyc-state-changed.v1.json`).
pub const SCHEMA_V1: &str = include_str!("../../../schemas/kyc-state-changed.v1.json");

/// The `detail` of one state-change event (schema version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KycStateChanged {
    /// The detail's schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Stable across retries and replays: derived from customer, provider, stream and cause.
    pub id: String,
    /// Our id of the customer.
    pub customer_id: String,
    /// The provider whose stream changed.
    pub provider: Provider,
    /// The provider's stream (one per kind of check) that changed.
    pub stream: String,
    /// `null` for a stream's first value, and in replays (the stored state keeps no past).
    pub previous_status: Option<String>,
    /// The stream's new status.
    pub status: String,
    /// True when the new status is final for its stream.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The provider's time of the cause (our receipt time when the provider gives none).
    pub provider_time: DateTime<Utc>,
    /// When kyc-hooks recorded the cause.
    pub recorded_at: DateTime<Utc>,
    /// Id of the provider event that caused the change (as in the history).
    pub cause_event_id: String,
    /// The state item's version (+1 per applied change of this customer and provider): a
    /// consumer keeps the highest it has seen and ignores lower ones. `null` in replays.
    pub state_version: Option<i64>,
    /// Re-published by `kyc publish`, not from the live stream.
    pub replay: bool,
    /// What the consumer must see beside the status (Trust & Sign: `fraudMarked`,
    /// `fraudMarkedParticipant:<uuid>`, `reviewedOutcomeUnknown`, `unconfirmedFailures`,
    /// `zonelessReportDate`). Absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// The stable event id: SHA-256 of the four parts (none can hold a newline).
pub fn event_id(customer: &str, provider: Provider, stream: &str, cause: &str) -> String {
    sha256_hex(format!("{customer}\n{}\n{stream}\n{cause}", provider.as_str()).as_bytes())
}

/// What the publisher reads of a stream value: never `detail` nor `sealed`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StreamView {
    status: String,
    #[serde(rename = "final")]
    is_final: bool,
    at: DateTime<Utc>,
    ord: i64,
    event_id: String,
    #[serde(default)]
    flags: Vec<String>,
}

/// Why a stream record could not be read (the record is reported failed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The record has no sequence number.
    #[error("record has no dynamodb.SequenceNumber")]
    NoSequence,
    /// The record's keys are not a state item's.
    #[error("record keys are not a state item's (<P>#C#<id>, STATE)")]
    BadKeys,
    /// The state item's key names no known provider.
    #[error("unknown provider in the state item's key")]
    UnknownProvider,
    /// The named image (`NewImage` or `OldImage`) is missing.
    #[error("{0} image missing")]
    MissingImage(&'static str),
    /// Not DynamoDB JSON (an attribute that is not `{"<type>": value}` of a known type).
    #[error("{0} image is not DynamoDB JSON")]
    BadImage(&'static str),
    /// A stream attribute of the state item is malformed.
    #[error("stream attribute is malformed: {0}")]
    BadStream(String),
    /// The named attribute of the state item is malformed.
    #[error("state item has a malformed {0}")]
    BadAttribute(&'static str),
}

/// A record waiting its turn: what it asks for, or why it cannot be read.
type QueuedRecord = Result<decision::Work, RecordError>;

/// A stream record's image (`NewImage`, `OldImage`) as plain JSON: DynamoDB's JSON
/// (`{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}`...) read by `serde_dynamo`. `None` when absent.
fn image(record: &Value, name: &'static str) -> Result<Option<Map<String, Value>>, RecordError> {
    let Some(raw) = record.get("dynamodb").and_then(|d| d.get(name)) else {
        return Ok(None);
    };
    // The error texts are dropped: serde's messages can quote a value.
    let item: HashMap<String, serde_dynamo::AttributeValue> =
        serde_json::from_value(raw.clone()).map_err(|_| RecordError::BadImage(name))?;
    serde_dynamo::from_attribute_value(serde_dynamo::AttributeValue::M(item))
        .map(Some)
        .map_err(|_| RecordError::BadImage(name))
}

fn streams(item: &Map<String, Value>) -> Result<BTreeMap<String, StreamView>, RecordError> {
    let mut out = BTreeMap::new();
    for (name, v) in item {
        // Every map attribute holding an `ord` is a stream (as `DynamoStore::parse_state`).
        let Some(m) = v.as_object() else { continue };
        if !m.contains_key("ord") {
            continue;
        }
        let view: StreamView = serde_json::from_value(v.clone())
            .map_err(|e| RecordError::BadStream(format!("{name}: {e}")))?;
        out.insert(name.clone(), view);
    }
    Ok(out)
}

/// What a stream record means for the publisher.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordChanges {
    /// Not a state item, or a removal: nothing to publish.
    Ignored,
    /// The state changes in this record (possibly none, e.g. only `updatedAt` moved).
    Changes(Vec<KycStateChanged>),
}

/// The partition of a record (a provider's customer partition, `<P>#C#<id>`), read from its
/// keys only: the unit of order.
pub fn record_partition(record: &Value) -> Option<String> {
    record
        .get("dynamodb")?
        .get("Keys")?
        .get("PK")?
        .get("S")?
        .as_str()
        .map(str::to_string)
}

/// The record's `dynamodb.SequenceNumber`, the id Lambda retries from.
pub fn record_sequence(record: &Value) -> Option<String> {
    record
        .get("dynamodb")?
        .get("SequenceNumber")?
        .as_str()
        .map(str::to_string)
}

/// One DynamoDB stream record (as Lambda hands it over) → the state changes it carries: one
/// per stream attribute whose `eventId` or `ord` differs between the old and new image.
pub fn diff_record(record: &Value) -> Result<RecordChanges, RecordError> {
    let keys = record
        .get("dynamodb")
        .and_then(|d| d.get("Keys"))
        .ok_or(RecordError::BadKeys)?;
    let sk = keys
        .get("SK")
        .and_then(|v| v.get("S"))
        .and_then(Value::as_str);
    // A provider's state item (`<P>#C#<customer>`, `STATE`), or one of the layout before
    // (`CUSTOMER#<customer>`, `STATE#<provider>`) in records written while a table moves.
    let pk = record_partition(record).ok_or(RecordError::BadKeys)?;
    let (provider, customer_in_key) = match sk {
        Some(keys::STATE_SK) => (
            keys::provider_of_partition(&pk).ok_or(RecordError::UnknownProvider)?,
            keys::parse_customer_pk(&pk).map(|(_, c)| c),
        ),
        Some(sk) if sk.starts_with("STATE#") => (
            Provider::parse(&sk["STATE#".len()..]).ok_or(RecordError::UnknownProvider)?,
            pk.strip_prefix("CUSTOMER#").map(str::to_string),
        ),
        _ => return Ok(RecordChanges::Ignored),
    };
    if record.get("eventName").and_then(Value::as_str) == Some("REMOVE") {
        return Ok(RecordChanges::Ignored);
    }
    let new = image(record, "NewImage")?.ok_or(RecordError::MissingImage("NewImage"))?;
    let old = image(record, "OldImage")?.unwrap_or_default();
    // A copy written by the layout migration is not a state change: its changes were
    // published when they happened to the old item.
    if new.get("migratedAt") != old.get("migratedAt") {
        return Ok(RecordChanges::Ignored);
    }
    // The id as the provider sent it (the key holds it escaped, or only its digest).
    let customer = match new.get("customerId") {
        Some(v) => Some(
            v.as_str()
                .ok_or(RecordError::BadAttribute("customerId"))?
                .to_string(),
        ),
        None => customer_in_key,
    }
    .filter(|c| !c.is_empty())
    .ok_or(RecordError::BadKeys)?;
    let new_streams = streams(&new)?;
    let old_streams = streams(&old)?;
    let recorded_at = match new.get("updatedAt") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or(RecordError::BadAttribute("updatedAt"))?,
        ),
    };
    let version = match new.get("version") {
        None => None,
        Some(v) => Some(v.as_i64().ok_or(RecordError::BadAttribute("version"))?),
    };
    let changes = new_streams
        .iter()
        .filter(|(name, v)| {
            old_streams
                .get(*name)
                .is_none_or(|o| o.event_id != v.event_id || o.ord != v.ord)
        })
        .map(|(name, v)| KycStateChanged {
            schema_version: SCHEMA_VERSION,
            id: event_id(&customer, provider, name, &v.event_id),
            customer_id: customer.clone(),
            provider,
            stream: name.clone(),
            previous_status: old_streams.get(name).map(|o| o.status.clone()),
            status: v.status.clone(),
            is_final: v.is_final,
            provider_time: v.at,
            recorded_at: recorded_at.unwrap_or(v.at),
            cause_event_id: v.event_id.clone(),
            state_version: version,
            replay: false,
            flags: v.flags.clone(),
        })
        .collect();
    Ok(RecordChanges::Changes(changes))
}

/// The events `kyc publish` re-sends: the current value of every stream, with the id the
/// live event had (consumers dedupe), `previousStatus` null, `replay` true, and the recorded
/// time taken from the history entry of the cause.
pub fn replay_events(
    customer: &str,
    states: &BTreeMap<Provider, ProviderState>,
    history: &[HistoryEntry],
) -> Vec<KycStateChanged> {
    let recorded: BTreeMap<(Provider, &str), DateTime<Utc>> = history
        .iter()
        .map(|h| ((h.provider, h.event_id.as_str()), h.received_at))
        .collect();
    let mut out = Vec::new();
    for (provider, state) in states {
        for (stream, v) in &state.streams {
            let name = stream.attribute();
            out.push(KycStateChanged {
                schema_version: SCHEMA_VERSION,
                id: event_id(customer, *provider, name, &v.event_id),
                customer_id: customer.to_string(),
                provider: *provider,
                stream: name.to_string(),
                previous_status: None,
                status: v.status.clone(),
                is_final: v.is_final,
                provider_time: v.at,
                recorded_at: recorded
                    .get(&(*provider, v.event_id.as_str()))
                    .copied()
                    .unwrap_or(v.at),
                cause_event_id: v.event_id.clone(),
                state_version: None,
                replay: true,
                flags: v.flags.clone(),
            });
        }
    }
    // Oldest cause first, as they happened.
    out.sort_by(|a, b| (a.recorded_at, &a.id).cmp(&(b.recorded_at, &b.id)));
    out
}

/// Why an event was not accepted (no payload in the text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publish failed: {0}")]
pub struct PublishError(pub String);

/// Where state-change events go (EventBridge; [`MemoryPublisher`] in tests).
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes `events` (at most [`PUBLISH_CHUNK`]); one result per event, same order.
    async fn publish(&self, events: &[KycStateChanged]) -> Vec<Result<(), PublishError>>;
    /// Publishes `KYC decision changed` events (at most [`PUBLISH_CHUNK`]), likewise.
    async fn publish_decisions(
        &self,
        events: &[KycDecisionChanged],
    ) -> Vec<Result<(), PublishError>> {
        events
            .iter()
            .map(|_| {
                Err(PublishError(
                    "this publisher sends no decision events".into(),
                ))
            })
            .collect()
    }
}

/// EventBridge takes at most 10 entries per `PutEvents`.
pub const PUBLISH_CHUNK: usize = 10;

/// The in-memory twin of the EventBridge publisher. Events whose id is in `refuse` fail.
#[derive(Default)]
pub struct MemoryPublisher {
    published: Mutex<Vec<KycStateChanged>>,
    decisions: Mutex<Vec<KycDecisionChanged>>,
    refuse: Mutex<HashSet<String>>,
}

impl MemoryPublisher {
    /// The state-change events published so far.
    pub fn published(&self) -> Vec<KycStateChanged> {
        self.published.lock().unwrap().clone()
    }
    /// The decision-change events published so far.
    pub fn published_decisions(&self) -> Vec<KycDecisionChanged> {
        self.decisions.lock().unwrap().clone()
    }
    /// Makes every publication of this event id fail (a throttled or failed entry).
    pub fn refuse(&self, id: &str) {
        self.refuse.lock().unwrap().insert(id.to_string());
    }
    /// Stops refusing any event id.
    pub fn accept_all(&self) {
        self.refuse.lock().unwrap().clear();
    }
}

#[async_trait]
impl EventPublisher for MemoryPublisher {
    async fn publish(&self, events: &[KycStateChanged]) -> Vec<Result<(), PublishError>> {
        assert!(
            events.len() <= PUBLISH_CHUNK,
            "PutEvents takes at most 10 entries"
        );
        let refuse = self.refuse.lock().unwrap().clone();
        let mut published = self.published.lock().unwrap();
        events
            .iter()
            .map(|e| {
                if refuse.contains(&e.id) {
                    Err(PublishError("refused".into()))
                } else {
                    published.push(e.clone());
                    Ok(())
                }
            })
            .collect()
    }

    async fn publish_decisions(
        &self,
        events: &[KycDecisionChanged],
    ) -> Vec<Result<(), PublishError>> {
        assert!(events.len() <= PUBLISH_CHUNK);
        let refuse = self.refuse.lock().unwrap().clone();
        let mut published = self.decisions.lock().unwrap();
        events
            .iter()
            .map(|e| {
                if refuse.contains(&e.id) {
                    Err(PublishError("refused".into()))
                } else {
                    published.push(e.clone());
                    Ok(())
                }
            })
            .collect()
    }
}

/// The state-publisher function's rules, free of Lambda types: a DynamoDB stream event in,
/// the partial-batch answer (`{"batchItemFailures": [{"itemIdentifier": seq}]}`) out.
pub struct StatePublisher {
    /// Where events go (EventBridge, or its in-memory twin).
    pub publisher: Arc<dyn EventPublisher>,
    /// The KYC decision's recompute (`None`: state events only).
    pub decisions: Option<Arc<decision::Recompute>>,
}

/// A stream event the publisher cannot read at all.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The whole invocation fails (Lambda retries the batch): nothing can be reported per
    /// record without a sequence number.
    #[error("stream event is malformed: {0}")]
    Malformed(&'static str),
}

impl From<BatchError> for kyc_core::invocation::InvocationError {
    fn from(e: BatchError) -> Self {
        // No retry makes a record without sequence number readable.
        kyc_core::invocation::InvocationError::Permanent(e.to_string())
    }
}

/// What one invocation did (for the answer and the logs).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// Sequence numbers reported failed: Lambda retries from the lowest one.
    pub failed: Vec<String>,
    /// Records held back behind a failed record of the same customer (in the retry range).
    pub held_back: usize,
    /// Events published.
    pub published: usize,
}

impl BatchReport {
    /// The partial-batch answer to Lambda (`batchItemFailures`).
    pub fn response(&self) -> Value {
        json!({
            "batchItemFailures": self
                .failed
                .iter()
                .map(|s| json!({"itemIdentifier": s}))
                .collect::<Vec<_>>()
        })
    }
}

impl StatePublisher {
    /// Counts a chunk's results into the report and the records that failed.
    fn tally(
        &self,
        round: &[(String, String, decision::Work)],
        records: impl Iterator<Item = usize>,
        results: Vec<Result<(), PublishError>>,
        failed_records: &mut [bool],
        report: &mut BatchReport,
    ) {
        for (k, i) in records.enumerate() {
            match results.get(k) {
                Some(Ok(())) => report.published += 1,
                Some(Err(e)) => {
                    tracing::warn!(sequence = %round[i].1, error = %e, "event not accepted");
                    failed_records[i] = true;
                }
                None => failed_records[i] = true,
            }
        }
    }

    /// Per customer (the table's partition key) in stream order: a record's events are sent
    /// only once the customer's previous record in the batch is fully accepted. A record that
    /// cannot be read or whose events are refused is reported failed and holds back the later
    /// records of its customer (they are past the checkpoint, so Lambda re-delivers them);
    /// other customers' records are published.
    pub async fn handle(&self, event: &Value) -> Result<BatchReport, BatchError> {
        let records = event
            .get("Records")
            .and_then(Value::as_array)
            .ok_or(BatchError::Malformed("no Records array"))?;
        // Per partition, its records in order: (sequence, work or error).
        let mut queues: BTreeMap<String, VecDeque<(String, QueuedRecord)>> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        for record in records {
            let seq = record_sequence(record).ok_or(BatchError::Malformed(
                "a record has no dynamodb.SequenceNumber",
            ))?;
            let partition = record_partition(record).unwrap_or_default();
            let work = match decision::work_of(record, self.decisions.is_some()) {
                Ok(None) => continue,
                Ok(Some(w)) => Ok(w),
                Err(e) => Err(e),
            };
            if !queues.contains_key(&partition) {
                order.push(partition.clone());
            }
            queues.entry(partition).or_default().push_back((seq, work));
        }
        // One recompute per customer and batch: at its last state record (it reads the
        // current states, which hold every earlier change).
        for queue in queues.values_mut() {
            let mut seen = false;
            for (_, work) in queue.iter_mut().rev() {
                if let Ok(w) = work {
                    if w.recompute.is_some() && std::mem::replace(&mut seen, true) {
                        w.recompute = None;
                    }
                }
            }
        }
        let mut report = BatchReport::default();
        // Rounds: each takes the next record of every customer still going.
        loop {
            let mut round: Vec<(String, String, decision::Work)> = Vec::new();
            for partition in &order {
                let Some(queue) = queues.get_mut(partition) else {
                    continue;
                };
                let Some((seq, work)) = queue.pop_front() else {
                    continue;
                };
                match work {
                    Ok(w) => round.push((partition.clone(), seq, w)),
                    Err(e) => {
                        tracing::warn!(sequence = %seq, error = %e, "state record not published");
                        report.failed.push(seq);
                        report.held_back += queue.len();
                        queues.remove(partition);
                    }
                }
            }
            if round.is_empty() && queues.values().all(VecDeque::is_empty) {
                break;
            }
            let mut failed_records: Vec<bool> = vec![false; round.len()];
            let flat: Vec<(usize, &KycStateChanged)> = round
                .iter()
                .enumerate()
                .flat_map(|(i, (_, _, w))| w.state.iter().map(move |e| (i, e)))
                .collect();
            for chunk in flat.chunks(PUBLISH_CHUNK) {
                let events: Vec<KycStateChanged> =
                    chunk.iter().map(|(_, e)| (*e).clone()).collect();
                let results = self.publisher.publish(&events).await;
                self.tally(
                    &round,
                    chunk.iter().map(|(i, _)| *i),
                    results,
                    &mut failed_records,
                    &mut report,
                );
            }
            let flat: Vec<(usize, &KycDecisionChanged)> = round
                .iter()
                .enumerate()
                .filter_map(|(i, (_, _, w))| w.decision.as_ref().map(|e| (i, e)))
                .collect();
            for chunk in flat.chunks(PUBLISH_CHUNK) {
                let events: Vec<KycDecisionChanged> =
                    chunk.iter().map(|(_, e)| (*e).clone()).collect();
                let results = self.publisher.publish_decisions(&events).await;
                self.tally(
                    &round,
                    chunk.iter().map(|(i, _)| *i),
                    results,
                    &mut failed_records,
                    &mut report,
                );
            }
            // The decision: recomputed once the record's events are out (a failed recompute
            // fails the record; its retry publishes the same event ids again).
            if let Some(decisions) = &self.decisions {
                for (i, (_, seq, w)) in round.iter().enumerate() {
                    let Some(customer) = w.recompute.as_deref().filter(|_| !failed_records[i])
                    else {
                        continue;
                    };
                    if let Err(e) = decisions.run(customer).await {
                        tracing::warn!(sequence = %seq, error = %e, "decision not recomputed");
                        failed_records[i] = true;
                    }
                }
            }
            for (i, (partition, seq, _)) in round.iter().enumerate() {
                if failed_records[i] {
                    report.failed.push(seq.clone());
                    if let Some(q) = queues.remove(partition) {
                        report.held_back += q.len();
                    }
                }
            }
        }
        // Lambda checkpoints before the lowest reported sequence number (they compare as
        // numbers: same length within a shard is not guaranteed, so compare numerically).
        report
            .failed
            .sort_by(|a, b| (a.len(), a.as_str()).cmp(&(b.len(), b.as_str())));
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
