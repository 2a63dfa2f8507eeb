//! Business metrics of the functions, written as CloudWatch embedded metric format (EMF): one
//! JSON log line that CloudWatch Logs turns into metrics, no API call, no extra latency.
//!
//! The functions count what happened into a [`MetricBatch`] and hand it to a [`Metrics`]
//! sink once per invocation (or per event batch): [`StdoutEmf`] on Lambda, [`MemoryMetrics`]
//! in tests. [`emf_lines`] is the pure formatter.
//!
//! Namespace [`NAMESPACE`]; the only dimension is `Reason` (on [`Metric::Rejections`] and
//! [`Metric::ArchivesQuarantined`]), a short machine code checked by [`Reason::new`], so no
//! customer id, key or free text can ever become a dimension value. Those metrics are also
//! published without the dimension (a second dimension set), so an alarm can watch the total.

use crate::intake::{
    EventStore, HistoryEntry, Outcome, Provider, Rejection, StoreError, WritePlan,
};
use crate::kyc_state::ProviderState;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "KycHooks";

/// The metrics the functions emit (names are the CloudWatch metric names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Events newly recorded by the durable intake (applied or not).
    EventsRecorded,
    /// Deliveries already recorded (same id, same body): nothing written.
    Duplicates,
    /// Deliveries refused (4xx, or unusable queue entries), by `Reason`.
    Rejections,
    /// Trust & Sign archives quarantined, by `Reason` (the quarantine reason code).
    ArchivesQuarantined,
    /// GoPay refresh tokens rotated (a refresh that stored the new token).
    TokensRotated,
    /// GoPay tokens written to the rescue place because the table did not take them.
    TokensRescued,
    /// GoPay sync: how late the most overdue profile of a run was visited (seconds).
    SyncLagSeconds,
    /// Fallback-queue drain: callbacks found only in the queue (missed by the live endpoint).
    MissedLive,
    /// Trust & Sign: checks an operator reviewed whose outcome the report does not say (in
    /// the field `REVIEW_OUTCOME` reads): each awaits a person.
    ReviewOutcomeUnknown,
    /// Trust & Sign: archives of a fraud-marked client file.
    FraudMarkedFiles,
    /// Events about an erased customer, dropped by its tombstone (`kyc erase`).
    ErasedSubjectDropped,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 11] = [
        Metric::EventsRecorded,
        Metric::Duplicates,
        Metric::Rejections,
        Metric::ArchivesQuarantined,
        Metric::TokensRotated,
        Metric::TokensRescued,
        Metric::SyncLagSeconds,
        Metric::MissedLive,
        Metric::ReviewOutcomeUnknown,
        Metric::FraudMarkedFiles,
        Metric::ErasedSubjectDropped,
    ];

    /// The metric's CloudWatch name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::EventsRecorded => "EventsRecorded",
            Metric::Duplicates => "Duplicates",
            Metric::Rejections => "Rejections",
            Metric::ArchivesQuarantined => "ArchivesQuarantined",
            Metric::TokensRotated => "TokensRotated",
            Metric::TokensRescued => "TokensRescued",
            Metric::SyncLagSeconds => "SyncLagSeconds",
            Metric::MissedLive => "MissedLive",
            Metric::ReviewOutcomeUnknown => "ReviewOutcomeUnknown",
            Metric::FraudMarkedFiles => "FraudMarkedFiles",
            Metric::ErasedSubjectDropped => "ErasedSubjectDropped",
        }
    }

    /// The metric's CloudWatch unit.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::SyncLagSeconds => "Seconds",
            _ => "Count",
        }
    }

    /// A gauge keeps the largest value put in a batch; the others add up.
    fn is_gauge(self) -> bool {
        matches!(self, Metric::SyncLagSeconds)
    }
}

/// The value of the `Reason` dimension: 1 to 64 characters of `[a-z0-9_]` (the reason and
/// error codes the product already uses). Anything else becomes `other`, so a dimension can
/// never carry personal data or grow CloudWatch's metric count without bound.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reason(String);

impl Reason {
    /// The reason of that code, or `other` when it is not one.
    pub fn new(code: &str) -> Self {
        let ok = (1..=64).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        Reason(if ok { code.to_string() } else { "other".into() })
    }

    /// The dimension's value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What one invocation (or one event batch) counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricBatch {
    values: BTreeMap<(Option<Reason>, Metric), f64>,
}

impl MetricBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` to a count (or keeps the larger value of a gauge).
    pub fn add(&mut self, metric: Metric, value: f64) -> &mut Self {
        self.put(None, metric, value)
    }

    /// The same, for a metric with a `Reason` dimension.
    pub fn add_for(&mut self, metric: Metric, reason: &str, value: f64) -> &mut Self {
        self.put(Some(Reason::new(reason)), metric, value)
    }

    fn put(&mut self, reason: Option<Reason>, metric: Metric, value: f64) -> &mut Self {
        let slot = self.values.entry((reason, metric)).or_insert(0.0);
        *slot = if metric.is_gauge() {
            slot.max(value)
        } else {
            *slot + value
        };
        self
    }

    /// Everything `other` counted, added to this batch.
    pub fn merge(&mut self, other: &MetricBatch) {
        for ((reason, metric), v) in &other.values {
            self.put(reason.clone(), *metric, *v);
        }
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of `metric` (summed over reasons), for tests and reports.
    pub fn total(&self, metric: Metric) -> f64 {
        self.values
            .iter()
            .filter(|((_, m), _)| *m == metric)
            .map(|(_, v)| *v)
            .sum()
    }

    /// The value of `metric` for one reason.
    pub fn for_reason(&self, metric: Metric, reason: &str) -> f64 {
        self.values
            .get(&(Some(Reason::new(reason)), metric))
            .copied()
            .unwrap_or(0.0)
    }
}

/// The EMF lines of a batch: one for the metrics without dimension, one per `Reason` value (a
/// document holds one value per dimension). `service` names the function in the line (a
/// property, not a dimension). An empty batch gives no line.
pub fn emf_lines(batch: &MetricBatch, service: &str, at: DateTime<Utc>) -> Vec<String> {
    let mut groups: BTreeMap<Option<&Reason>, Vec<(Metric, f64)>> = BTreeMap::new();
    for ((reason, metric), v) in &batch.values {
        groups
            .entry(reason.as_ref())
            .or_default()
            .push((*metric, *v));
    }
    groups
        .into_iter()
        .map(|(reason, metrics)| {
            let dimensions = match reason {
                // Per reason, and the total across reasons.
                Some(_) => json!([["Reason"], []]),
                None => json!([[]]),
            };
            let mut doc = Map::new();
            doc.insert(
                "_aws".into(),
                json!({
                    "Timestamp": at.timestamp_millis(),
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": dimensions,
                        "Metrics": metrics
                            .iter()
                            .map(|(m, _)| json!({"Name": m.name(), "Unit": m.unit()}))
                            .collect::<Vec<_>>(),
                    }],
                }),
            );
            doc.insert("Service".into(), Value::from(service));
            if let Some(r) = reason {
                doc.insert("Reason".into(), Value::from(r.as_str()));
            }
            for (m, v) in metrics {
                doc.insert(m.name().into(), number(v));
            }
            Value::Object(doc).to_string()
        })
        .collect()
}

/// Whole numbers print without a fraction (`1`, not `1.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

/// Where the functions send what they counted.
pub trait Metrics: Send + Sync {
    /// Sends a batch; a failure is not the invocation's.
    fn publish(&self, batch: &MetricBatch);
}

/// The Lambda adapter: EMF lines on stdout (the function's log stream), timestamped now.
pub struct StdoutEmf {
    /// The `Service` dimension: the function's name.
    pub service: &'static str,
}

impl Metrics for StdoutEmf {
    fn publish(&self, batch: &MetricBatch) {
        use std::io::Write;
        // One write per batch, so lines of concurrent invocations never interleave mid-line.
        let mut text = String::new();
        for line in emf_lines(batch, self.service, Utc::now()) {
            text.push_str(&line);
            text.push('\n');
        }
        if !text.is_empty() {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
}

/// The in-memory twin: keeps every batch published.
#[derive(Default)]
pub struct MemoryMetrics {
    batches: Mutex<Vec<MetricBatch>>,
}

impl MemoryMetrics {
    /// Every batch published so far.
    pub fn batches(&self) -> Vec<MetricBatch> {
        self.batches.lock().unwrap().clone()
    }

    /// Everything published so far, as one batch.
    pub fn merged(&self) -> MetricBatch {
        let mut all = MetricBatch::new();
        for b in self.batches.lock().unwrap().iter() {
            all.merge(b);
        }
        all
    }
}

impl Metrics for MemoryMetrics {
    fn publish(&self, batch: &MetricBatch) {
        if !batch.is_empty() {
            self.batches.lock().unwrap().push(batch.clone());
        }
    }
}

/// A sink that drops everything (offline tools).
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn publish(&self, _: &MetricBatch) {}
}

/// An [`EventStore`] that counts what its writes did (recorded, duplicate, rejection by
/// reason) for the function to publish after each invocation: for the endpoints whose events
/// are recorded deep inside shared code (GoPay consent and sync).
pub struct CountingEvents {
    inner: Arc<dyn EventStore>,
    counted: Mutex<MetricBatch>,
}

impl CountingEvents {
    /// A counting wrapper of `inner`.
    pub fn new(inner: Arc<dyn EventStore>) -> Self {
        Self {
            inner,
            counted: Mutex::new(MetricBatch::new()),
        }
    }

    /// What was counted since the last call (one invocation's worth).
    pub fn take(&self) -> MetricBatch {
        std::mem::take(&mut *self.counted.lock().unwrap())
    }
}

#[async_trait]
impl EventStore for CountingEvents {
    async fn record(&self, plan: &WritePlan) -> Result<Outcome, StoreError> {
        let outcome = self.inner.record(plan).await?;
        let metric = match outcome {
            Outcome::Duplicate | Outcome::Conflict => Metric::Duplicates,
            Outcome::ErasedSubject => Metric::ErasedSubjectDropped,
            _ => Metric::EventsRecorded,
        };
        self.counted.lock().unwrap().add(metric, 1.0);
        Ok(outcome)
    }
    async fn record_rejection(&self, rejection: &Rejection) -> Result<(), StoreError> {
        self.inner.record_rejection(rejection).await?;
        // The rejection's reason is free text: counted by HTTP status, never by its words.
        self.counted.lock().unwrap().add_for(
            Metric::Rejections,
            &format!("http_{}", rejection.http_status),
            1.0,
        );
        Ok(())
    }
    async fn provider_states(
        &self,
        subject: &str,
    ) -> Result<BTreeMap<Provider, ProviderState>, StoreError> {
        self.inner.provider_states(subject).await
    }
    async fn history(&self, subject: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        self.inner.history(subject).await
    }
    async fn erased(&self, guard: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        self.inner.erased(guard, at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    }

    #[test]
    fn emf_lines_have_the_documented_structure_exactly() {
        let mut b = MetricBatch::new();
        b.add(Metric::EventsRecorded, 2.0)
            .add(Metric::Duplicates, 1.0)
            .add_for(Metric::Rejections, "malformed_json", 1.0)
            .add_for(Metric::Rejections, "conflict", 1.0)
            .add_for(Metric::Rejections, "malformed_json", 1.0);
        let lines = emf_lines(&b, "xpollens-callback", at());
        let docs: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            docs,
            vec![
                json!({
                    "_aws": {"Timestamp": 1_795_780_800_000i64, "CloudWatchMetrics": [{
                        "Namespace": "KycHooks",
                        "Dimensions": [[]],
                        "Metrics": [
                            {"Name": "EventsRecorded", "Unit": "Count"},
                            {"Name": "Duplicates", "Unit": "Count"}
                        ]
                    }]},
                    "Service": "xpollens-callback",
                    "EventsRecorded": 2,
                    "Duplicates": 1
                }),
                json!({
                    "_aws": {"Timestamp": 1_795_780_800_000i64, "CloudWatchMetrics": [{
                        "Namespace": "KycHooks",
                        "Dimensions": [["Reason"], []],
                        "Metrics": [{"Name": "Rejections", "Unit": "Count"}]
                    }]},
                    "Service": "xpollens-callback",
                    "Reason": "conflict",
                    "Rejections": 1
                }),
                json!({
                    "_aws": {"Timestamp": 1_795_780_800_000i64, "CloudWatchMetrics": [{
                        "Namespace": "KycHooks",
                        "Dimensions": [["Reason"], []],
                        "Metrics": [{"Name": "Rejections", "Unit": "Count"}]
                    }]},
                    "Service": "xpollens-callback",
                    "Reason": "malformed_json",
                    "Rejections": 2
                }),
            ]
        );
        assert!(lines.iter().all(|l| !l.contains('\n')));
        assert_eq!(at().timestamp_millis(), 1_795_780_800_000);
    }

    #[test]
    fn every_declared_metric_has_a_number_at_the_root() {
        let mut b = MetricBatch::new();
        for m in Metric::ALL {
            b.add(m, 3.0);
        }
        b.add(Metric::SyncLagSeconds, 12.5);
        let line = &emf_lines(&b, "s", at())[0];
        let v: Value = serde_json::from_str(line).unwrap();
        let declared = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        assert_eq!(declared.len(), Metric::ALL.len());
        for d in declared {
            let name = d["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name}");
        }
        // A gauge keeps the largest value, counts add up.
        assert_eq!(v["SyncLagSeconds"], 12.5);
        assert_eq!(v["EventsRecorded"], 3);
        assert_eq!(
            declared
                .iter()
                .find(|d| d["Name"] == "SyncLagSeconds")
                .unwrap()["Unit"],
            "Seconds"
        );
    }

    #[test]
    fn a_reason_that_is_not_a_short_code_never_reaches_a_dimension() {
        for bad in [
            "customer-0042",
            "Jean Dupont",
            "dossier jean_dupont.zip",
            "",
            &"a".repeat(65),
        ] {
            assert_eq!(Reason::new(bad).as_str(), "other", "{bad}");
        }
        assert_eq!(Reason::new("zip_bomb").as_str(), "zip_bomb");
        let mut b = MetricBatch::new();
        b.add_for(Metric::ArchivesQuarantined, "customer 42", 1.0);
        let line = &emf_lines(&b, "s", at())[0];
        assert!(!line.contains("customer"), "{line}");
        assert!(line.contains(r#""Reason":"other""#), "{line}");
    }

    #[test]
    fn an_empty_batch_writes_nothing_and_the_twin_keeps_what_was_published() {
        assert!(emf_lines(&MetricBatch::new(), "s", at()).is_empty());
        let twin = MemoryMetrics::default();
        twin.publish(&MetricBatch::new());
        let mut b = MetricBatch::new();
        b.add_for(Metric::Rejections, "unauthorized", 1.0);
        twin.publish(&b);
        twin.publish(&b);
        assert_eq!(twin.batches().len(), 2);
        assert_eq!(
            twin.merged().for_reason(Metric::Rejections, "unauthorized"),
            2.0
        );
        assert_eq!(twin.merged().total(Metric::Rejections), 2.0);
    }
}
