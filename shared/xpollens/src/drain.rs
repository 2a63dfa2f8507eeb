//! One run of the fallback-queue drain, as Xpollens recommends it: read the oldest X entries
//! with `remove=false`, record every one through the same durable intake as live callbacks,
//! and only when all Y entries are durably recorded, `remove=true&limit=Y` — so only what was
//! read is removed, never what arrived in between. Repeat while Y == X. Free of Lambda and
//! AWS types: the function crate wires the ports.
//!
//! Guarantees:
//! - nothing is removed unless every entry of the page was recorded (a failure or the
//!   deadline mid-page removes nothing; the next run reads the page again and the intake
//!   answers `Duplicate` for what this run already recorded);
//! - one event per `metadata.id` (attempts fold, see [`super::queue::group_page`]);
//! - the removal's answer (the removed entries) is checked against what was read: an entry
//!   removed without having been read (someone else drained meanwhile) is recorded from that
//!   answer at once;
//! - a run stops taking pages `deadline_reserve` before its deadline;
//! - a page over the byte bound ([`MAX_PAGE_BYTES`]) is read again with half the `limit`,
//!   down to 1; an entry alone under the bound is recorded whole (a body over the live limit
//!   goes sealed to the body bucket, as live ones do) and applied; an entry alone over it
//!   (the stated hard ceiling) is recorded by its metadata, size and digest, never expiring,
//!   counted in `OversizedQueueEntries` (alarm), then removed: the queue never stalls on it;
//! - an entry the queue kept without the callback's data (a #15 or header-form #36: no
//!   payload, no query string, no headers) is recorded as a missed callback of its type,
//!   never expiring, counted in `MissedLive` and `MissedWithoutPayload` (alarm).
//!
//! Ports: [`QueueApi`] (the HTTP client [`XpollensApi`] or the twin [`MemoryQueue`]) and
//! [`DeliveryRecorder`] (the intake shared with the live endpoint, `super::delivery`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::api::{ApiError, XpollensApi};
use super::callbacks::CallbackType;
use super::dates::parse_provider_date;
use super::delivery::{
    Channel, DeliveryError, DeliveryRecorder, OversizedEntry, RawDelivery, Recorded,
};
use super::forms::{callback_body, Carried};
use super::queue::{
    group_page, oversized_metadata, EntryDefect, Oversized, QueueAnswer, QueuePage, QueuedDelivery,
    MAX_PAGE_BYTES,
};
use kyc_core::intake::Outcome;
use kyc_core::metrics::{Metric, MetricBatch};

/// The clock the run's deadline is read against.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The one place a queue entry becomes an intake delivery: `metadata.id` is the
/// `Webhook-Id`, `metadata.processDate` the provider time, `payload` the body (read like a
/// live request's, with the query string or headers the entry kept: `forms`), and every
/// attempt's `response` the delivery evidence.
/// An entry that is not an object goes as the raw entry with no id: the intake keeps it under
/// its digest, so it can never shadow the real callback of that id. An entry that kept
/// nothing of its callback goes `without_payload`: the intake records a missed callback.
///
/// Without a readable `processDate`, the provider time is the first attempt's `pushDate`
/// (Xpollens' own clock, with an offset), never the drain's clock: a callback recovered days
/// later must not pass for the newest one.
pub fn raw_delivery(d: &QueuedDelivery, received_at: DateTime<Utc>) -> RawDelivery {
    let readable = d
        .process_date
        .as_deref()
        .is_some_and(|p| parse_provider_date(p).is_some());
    let push_date = d
        .attempts
        .iter()
        .filter_map(|a| a.push_date.as_deref())
        .find(|p| parse_provider_date(p).is_some());
    let (process_date, date_note) = match (readable, push_date) {
        (true, _) | (false, None) => (d.process_date.clone(), None),
        (false, Some(p)) => (Some(p.to_string()), Some("processDateFromPushDate")),
    };
    let mut notes = match d.defect {
        Some(EntryDefect::NotAnObject) => vec!["queueEntryNotAnObject"],
        None => vec![],
    };
    let (body, without_payload) = if d.defect.is_some() {
        (d.body.clone(), false)
    } else {
        // The queue keeps no content type: a payload that is not JSON and reads as
        // `key=value` pairs is a form body.
        let carried = Carried {
            query: d.query.as_deref().unwrap_or(""),
            headers: &d.headers,
            form_body: d.body.contains(&b'='),
        };
        match callback_body(carried, &d.body) {
            Some((body, form)) => {
                notes.push(form);
                (body, false)
            }
            None if d.payload_missing => {
                notes.push("queueEntryWithoutPayload");
                (Vec::new(), true)
            }
            None => (d.body.clone(), false),
        }
    };
    notes.extend(date_note);
    RawDelivery {
        webhook_id: d.webhook_id.clone().filter(|_| d.defect.is_none()),
        process_date,
        type_hint: d.type_hint.as_deref().and_then(CallbackType::parse),
        body,
        received_at,
        channel: Channel::Queue {
            attempts: d.attempts.iter().map(|a| a.raw.clone()).collect(),
        },
        notes,
        without_payload,
    }
}

// ----- queue port ---------------------------------------------------------------------------

/// The queue endpoint: both calls answer the JSON page (the removal answers what it removed),
/// or, past the byte bound, only its size, digest and first bytes.
#[async_trait]
pub trait QueueApi: Send + Sync {
    /// `remove=false&limit=limit`.
    async fn read(&self, limit: u32) -> Result<QueueAnswer, ApiError>;
    /// `remove=true&limit=limit`: removes the oldest `limit` entries.
    async fn remove(&self, limit: u32) -> Result<QueueAnswer, ApiError>;
}

#[async_trait]
impl QueueApi for XpollensApi {
    async fn read(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
        self.read_queue(limit).await
    }
    async fn remove(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
        self.remove_from_queue(limit).await
    }
}

/// In-memory twin of the queue endpoint: entries as JSON, FIFO, the same remove semantics,
/// and failures on demand.
#[derive(Default)]
pub struct MemoryQueue {
    inner: Mutex<MemoryQueueState>,
}

#[derive(Default)]
struct MemoryQueueState {
    entries: std::collections::VecDeque<serde_json::Value>,
    fail_reads: u32,
    fail_removes: u32,
    /// Entries pushed right after the next read (as if Xpollens appended meanwhile).
    arrive_after_read: Vec<serde_json::Value>,
    reads: u32,
    removes: Vec<u32>,
    /// Answers past this many bytes are too large (the transport's bound).
    max_answer_bytes: Option<usize>,
}

impl MemoryQueue {
    /// Appends an entry to the queue.
    pub fn push(&self, entry: serde_json::Value) {
        self.inner.lock().unwrap().entries.push_back(entry);
    }
    /// Entries in the queue.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().entries.len()
    }
    /// True when the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Makes the next `n` reads fail.
    pub fn fail_next_reads(&self, n: u32) {
        self.inner.lock().unwrap().fail_reads = n;
    }
    /// Makes the next `n` removals fail.
    pub fn fail_next_removes(&self, n: u32) {
        self.inner.lock().unwrap().fail_removes = n;
    }
    /// Appends `entries` right after the next read.
    pub fn arrive_after_next_read(&self, entries: Vec<serde_json::Value>) {
        self.inner.lock().unwrap().arrive_after_read = entries;
    }
    /// The `limit` of every removal, in order.
    pub fn removals(&self) -> Vec<u32> {
        self.inner.lock().unwrap().removes.clone()
    }
    /// Reads served so far.
    pub fn reads(&self) -> u32 {
        self.inner.lock().unwrap().reads
    }
    /// The transport's bound: a larger answer comes back as its size, digest and first bytes.
    pub fn bound_answers(&self, bytes: usize) {
        self.inner.lock().unwrap().max_answer_bytes = Some(bytes);
    }
}

impl MemoryQueueState {
    fn answer(&self, page: &[serde_json::Value]) -> QueueAnswer {
        let bytes = serde_json::to_vec(page).expect("JSON values serialize");
        QueueAnswer::bounded(bytes, self.max_answer_bytes.unwrap_or(MAX_PAGE_BYTES))
    }
}

#[async_trait]
impl QueueApi for MemoryQueue {
    async fn read(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
        let mut q = self.inner.lock().unwrap();
        q.reads += 1;
        if q.fail_reads > 0 {
            q.fail_reads -= 1;
            return Err(ApiError::Status { status: 503 });
        }
        let page: Vec<_> = q.entries.iter().take(limit as usize).cloned().collect();
        let arriving = std::mem::take(&mut q.arrive_after_read);
        q.entries.extend(arriving);
        Ok(q.answer(&page))
    }
    async fn remove(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
        let mut q = self.inner.lock().unwrap();
        if q.fail_removes > 0 {
            q.fail_removes -= 1;
            return Err(ApiError::Status { status: 503 });
        }
        q.removes.push(limit);
        let n = (limit as usize).min(q.entries.len());
        let page: Vec<_> = q.entries.drain(..n).collect();
        Ok(q.answer(&page))
    }
}

// ----- the run ------------------------------------------------------------------------------

/// How a drain run reads the queue.
#[derive(Debug, Clone)]
pub struct DrainSettings {
    /// X: entries per read (Xpollens: at most 30 in sandbox, 100 in production).
    pub limit: u32,
    /// Stop taking work this long before the deadline.
    pub deadline_reserve: Duration,
}

/// A queue page limit Xpollens does not accept. Configuration: fix the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "queue page limit must be 1 to {} (sandbox: at most {})",
    super::queue::PRODUCTION_MAX_LIMIT,
    super::queue::SANDBOX_MAX_LIMIT
)]
pub struct BadQueueLimit;

impl DrainSettings {
    /// Settings with page size `limit` (1 to 100) and a 20 s deadline reserve.
    pub fn new(limit: u32) -> Result<Self, BadQueueLimit> {
        if !(1..=super::queue::PRODUCTION_MAX_LIMIT).contains(&limit) {
            return Err(BadQueueLimit);
        }
        Ok(Self {
            limit,
            deadline_reserve: Duration::seconds(20),
        })
    }
}

/// What a run did: logged as one JSON line, emitted as metrics, returned by the function.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainReport {
    /// Pages read.
    pub pages: u64,
    /// Queue entries read (attempts: one callback may count several times).
    pub read: u64,
    /// Callbacks (distinct ids) in the pages read.
    pub deliveries: u64,
    /// Recorded for the first time: missed live.
    pub new: u64,
    /// Already recorded (received live, or by an earlier run).
    pub duplicate: u64,
    /// Same id already recorded with another body (recorded by the intake as a rejection).
    pub conflict: u64,
    /// Unusable deliveries, recorded as rejections.
    pub rejected: u64,
    /// New although Xpollens logged a 2xx answer from us: we acknowledged it and had no trace.
    pub new_despite_2xx: u64,
    /// Entries removed from the queue.
    pub removed: u64,
    /// Entries found in a removal's answer that this run had not read (recorded then).
    pub removed_unread: u64,
    /// Deliveries not recorded (intake unavailable) or removed unrecorded: 0 in a good run.
    pub failed: u64,
    /// Callbacks the queue kept without their data, recorded as missed (included in `new`).
    pub missed_without_payload: u64,
    /// Callbacks about an erased customer, dropped by its tombstone (nothing recorded; the
    /// entry leaves the queue).
    pub erased_dropped: u64,
    /// Entries alone over the byte bound, recorded by metadata and digest (in `new`).
    pub oversized: u64,
    /// Pages read again with a smaller `limit` because they were over the byte bound.
    pub smaller_reads: u64,
    /// The last read returned fewer than X entries: the queue was empty at that point.
    pub drained: bool,
    /// The run stopped to leave time before the deadline.
    pub stopped_for_deadline: bool,
    /// Why the run stopped early, if it failed (no secrets, no payloads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl DrainReport {
    /// The run must be reported as failed (the invocation errs, so the failure destination
    /// and alarms see it). Stopping for the deadline is not a failure.
    pub fn is_failure(&self) -> bool {
        self.failure.is_some() || self.failed > 0
    }
}

/// The CloudWatch embedded-metric-format line of a report (one JSON object on stdout; Lambda's
/// log pipeline turns it into metrics). `MissedLive` is the one to alarm on.
pub fn emf_line(report: &DrainReport, service: &str, at: DateTime<Utc>) -> String {
    let metrics = [
        ("QueueEntriesRead", report.read),
        ("MissedLive", report.new),
        ("Duplicates", report.duplicate),
        ("Conflicts", report.conflict),
        ("Rejected", report.rejected),
        ("NewDespite2xx", report.new_despite_2xx),
        ("QueueEntriesRemoved", report.removed),
        ("MissedWithoutPayload", report.missed_without_payload),
        ("OversizedQueueEntries", report.oversized),
        ("SmallerPageReads", report.smaller_reads),
        ("Failed", report.failed),
        ("RunFailed", u64::from(report.is_failure())),
    ];
    let mut doc = json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "KycHooks/XpollensQueueDrain",
                "Dimensions": [["Service"]],
                "Metrics": metrics.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect::<Vec<_>>(),
            }],
        },
        "Service": service,
    });
    for (name, value) in metrics {
        doc[name] = json!(value);
    }
    doc.to_string()
}

/// What a run counts in the shared `KycHooks` metrics (beside [`emf_line`], kept as it is for
/// the `XpollensMissedLiveAlarm`): counts are published every run, zeros included, so an
/// alarm's data never has gaps.
pub fn metrics(report: &DrainReport) -> MetricBatch {
    let mut batch = MetricBatch::new();
    batch
        .add(Metric::EventsRecorded, report.new as f64)
        .add(Metric::Duplicates, report.duplicate as f64)
        .add(Metric::MissedLive, report.new as f64);
    if report.conflict > 0 {
        batch.add_for(Metric::Rejections, "conflict", report.conflict as f64);
    }
    if report.rejected > 0 {
        batch.add_for(
            Metric::Rejections,
            "unusable_queue_entry",
            report.rejected as f64,
        );
    }
    batch
}

fn should_take_more_work(now: DateTime<Utc>, deadline: DateTime<Utc>, reserve: Duration) -> bool {
    now + reserve < deadline
}

/// Why a page ended before its removal.
enum PageEnd {
    Failure(String),
    Deadline,
}

struct Run<'a> {
    api: &'a dyn QueueApi,
    recorder: &'a dyn DeliveryRecorder,
    settings: &'a DrainSettings,
    clock: &'a Clock,
    deadline: DateTime<Utc>,
    report: DrainReport,
    /// The `limit` of the next read: the setting's, halved while pages are over the byte
    /// bound, doubled back after each page recorded.
    limit: u32,
}

/// Runs one drain until the queue is empty, the deadline (minus the reserve) is near, or a
/// failure stops it. Never panics on bad data; the report says what happened.
pub async fn run(
    api: &dyn QueueApi,
    recorder: &dyn DeliveryRecorder,
    settings: &DrainSettings,
    clock: &Clock,
    deadline: DateTime<Utc>,
) -> DrainReport {
    let mut run = Run {
        api,
        recorder,
        settings,
        clock,
        deadline,
        report: DrainReport::default(),
        limit: settings.limit,
    };
    loop {
        match run.page().await {
            Ok(true) => continue,
            Ok(false) => break,
            Err(PageEnd::Deadline) => {
                run.report.stopped_for_deadline = true;
                break;
            }
            Err(PageEnd::Failure(why)) => {
                tracing::error!(reason = %why, "xpollens queue drain: run stopped; nothing unrecorded was removed");
                run.report.failure = Some(why);
                break;
            }
        }
    }
    run.report
}

impl Run<'_> {
    fn time_left(&self) -> bool {
        should_take_more_work(
            (self.clock)(),
            self.deadline,
            self.settings.deadline_reserve,
        )
    }

    /// Reads, records and removes one page. `Ok(true)`: take another page.
    async fn page(&mut self) -> Result<bool, PageEnd> {
        if !self.time_left() {
            return Err(PageEnd::Deadline);
        }
        let limit = self.limit;
        let answer = self
            .api
            .read(limit)
            .await
            .map_err(|e| PageEnd::Failure(format!("queue read failed: {e}")))?;
        let raw = match answer {
            QueueAnswer::Page(raw) => raw,
            QueueAnswer::TooLarge(o) if limit > 1 => {
                self.limit = (limit / 2).max(1);
                self.report.smaller_reads += 1;
                tracing::warn!(
                    limit,
                    next_limit = self.limit,
                    bytes = o.bytes,
                    "xpollens queue: page over the byte bound; reading fewer entries"
                );
                return Ok(true);
            }
            QueueAnswer::TooLarge(o) => return self.oversized_entry(o).await,
        };
        let page = group_page(&raw).map_err(|e| PageEnd::Failure(e.to_string()))?;
        let y = page.entry_count;
        if y == 0 {
            self.report.drained = true;
            return Ok(false);
        }
        if y > limit as usize {
            // `remove=true&limit=Y` could not name exactly these entries.
            return Err(PageEnd::Failure(format!(
                "queue answered {y} entries for limit {limit}"
            )));
        }
        self.report.pages += 1;
        self.report.read += y as u64;
        self.report.deliveries += page.deliveries.len() as u64;
        let received_at = (self.clock)();
        for d in &page.deliveries {
            if !self.time_left() {
                return Err(PageEnd::Deadline);
            }
            if let Err(e) = self.record(d, received_at).await {
                self.report.failed += 1;
                return Err(PageEnd::Failure(format!(
                    "delivery not recorded, page left in the queue: {e}"
                )));
            }
        }
        // Every entry of the page is durably recorded: remove exactly Y.
        let removed = self.api.remove(y as u32).await.map_err(|e| {
            PageEnd::Failure(format!(
                "queue removal failed after the page was recorded (read again next run): {e}"
            ))
        })?;
        match removed {
            QueueAnswer::Page(removed) => self.check_removal(&page, &removed, received_at).await?,
            QueueAnswer::TooLarge(o) => {
                // The read page was under the bound; an answer over it removed other entries.
                tracing::error!(bytes = o.bytes, "xpollens queue: the removal answered more than the page read; its entries cannot be checked");
                self.report.removed += y as u64;
            }
        }
        if y < limit as usize {
            self.report.drained = true;
            return Ok(false);
        }
        self.limit = (limit.saturating_mul(2)).min(self.settings.limit);
        Ok(true)
    }

    /// A page of one entry over the byte bound: the entry is past the hard ceiling. Recorded
    /// by its metadata, size and digest, then removed (never left to stall the queue), the
    /// removal checked by digest.
    async fn oversized_entry(&mut self, answer: Oversized) -> Result<bool, PageEnd> {
        let (webhook_id, process_date, type_hint) = oversized_metadata(&answer.prefix);
        let entry = OversizedEntry {
            webhook_id,
            process_date,
            type_hint: type_hint.as_deref().and_then(CallbackType::parse),
            answer,
            received_at: (self.clock)(),
        };
        self.report.pages += 1;
        self.report.read += 1;
        self.report.deliveries += 1;
        self.record_oversized(&entry).await?;
        let removed = self.api.remove(1).await.map_err(|e| {
            PageEnd::Failure(format!(
                "queue removal failed after the oversized entry was recorded (read again next run): {e}"
            ))
        })?;
        match removed {
            QueueAnswer::TooLarge(o) => {
                self.report.removed += 1;
                let same = if o.complete && entry.answer.complete {
                    o.sha256 == entry.answer.sha256
                } else {
                    o.prefix == entry.answer.prefix
                };
                if !same {
                    // Another entry went: it exists nowhere else now.
                    tracing::warn!("xpollens queue: the removal removed another oversized entry than the one read");
                    self.report.removed_unread += 1;
                    self.report.deliveries += 1;
                    let (webhook_id, process_date, type_hint) = oversized_metadata(&o.prefix);
                    let other = OversizedEntry {
                        webhook_id,
                        process_date,
                        type_hint: type_hint.as_deref().and_then(CallbackType::parse),
                        answer: o,
                        received_at: entry.received_at,
                    };
                    self.record_oversized(&other).await?;
                }
            }
            QueueAnswer::Page(removed) => {
                let read = QueuePage {
                    entry_count: 1,
                    entry_ids: vec![entry.webhook_id.clone()],
                    deliveries: vec![],
                };
                self.check_removal(&read, &removed, entry.received_at)
                    .await?;
            }
        }
        Ok(true)
    }

    async fn record_oversized(&mut self, entry: &OversizedEntry) -> Result<(), PageEnd> {
        match self.recorder.record_oversized(entry).await {
            Ok(recorded) => {
                self.count(&recorded);
                if recorded.is_new() {
                    self.report.oversized += 1;
                }
                Ok(())
            }
            Err(e) => {
                self.report.failed += 1;
                Err(PageEnd::Failure(format!(
                    "oversized entry not recorded, left in the queue: {e}"
                )))
            }
        }
    }

    /// Counts what recording one delivery did.
    fn count(&mut self, recorded: &Recorded) {
        match recorded.outcome {
            Outcome::Duplicate => self.report.duplicate += 1,
            Outcome::Conflict => self.report.conflict += 1,
            Outcome::ErasedSubject => self.report.erased_dropped += 1,
            Outcome::Applied | Outcome::Recorded { .. } | Outcome::NotApplied { .. } => {
                self.report.new += 1;
                if recorded.missed_without_payload {
                    self.report.missed_without_payload += 1;
                }
            }
        }
    }

    async fn record(
        &mut self,
        d: &QueuedDelivery,
        received_at: DateTime<Utc>,
    ) -> Result<(), DeliveryError> {
        let webhook_id = d.webhook_id.as_deref().unwrap_or("(none)");
        if let Some(defect) = &d.defect {
            tracing::warn!(webhook_id, defect = %defect, "xpollens queue: malformed entry handed to the intake as is");
        }
        let raw = raw_delivery(d, received_at);
        if raw.without_payload && d.answered_live() {
            // We answered it 2xx live, so the live endpoint recorded it (and applied what it
            // carried): this payload-less copy adds nothing.
            tracing::info!(
                webhook_id,
                "xpollens queue: payload-less copy of a callback answered live"
            );
            self.report.duplicate += 1;
            return Ok(());
        }
        match self.recorder.record(&raw).await {
            Ok(recorded) => {
                self.count(&recorded);
                match recorded.outcome {
                    Outcome::Duplicate | Outcome::ErasedSubject => {}
                    Outcome::Conflict => {
                        tracing::warn!(
                            webhook_id,
                            event_id = recorded.event_id.as_str(),
                            "xpollens queue: id already recorded with another body"
                        );
                    }
                    Outcome::Applied | Outcome::Recorded { .. } | Outcome::NotApplied { .. } => {
                        let statuses: Vec<String> = d
                            .attempts
                            .iter()
                            .map(|a| {
                                a.http_status_raw
                                    .clone()
                                    .unwrap_or_else(|| "no answer".into())
                            })
                            .collect();
                        if d.answered_live() {
                            self.report.new_despite_2xx += 1;
                            tracing::error!(webhook_id, event_id = recorded.event_id.as_str(), attempts = ?statuses,
                                "xpollens queue: callback we answered 2xx was not in the store; recorded now from the queue");
                        } else {
                            tracing::warn!(webhook_id, event_id = recorded.event_id.as_str(), attempts = ?statuses,
                                outcome = %recorded.outcome.history_note(),
                                "xpollens queue: callback missed live, recovered from the fallback queue");
                        }
                    }
                }
                Ok(())
            }
            Err(DeliveryError::Unusable {
                status, message, ..
            }) => {
                self.report.rejected += 1;
                tracing::warn!(webhook_id, status, reason = %message, "xpollens queue: unusable entry recorded as a rejection");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The removal answers what it removed: count it, and record anything removed that this
    /// run had not read (another reader, or a queue that moved): it exists nowhere else now.
    async fn check_removal(
        &mut self,
        read: &QueuePage,
        removed: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<(), PageEnd> {
        let removed = match group_page(removed) {
            Ok(p) => p,
            Err(e) => {
                // Removal succeeded (2xx); its body is not a page: count what was asked.
                tracing::warn!(error = %e, "xpollens queue: removal answer unreadable; assuming the read page was removed");
                self.report.removed += read.entry_count as u64;
                return Ok(());
            }
        };
        self.report.removed += removed.entry_count as u64;
        if removed.entry_ids == read.entry_ids {
            return Ok(());
        }
        tracing::warn!(
            read = read.entry_count,
            removed = removed.entry_count,
            "xpollens queue: the removal removed other entries than the ones read"
        );
        let known: HashSet<(Option<&str>, &[u8])> = read
            .deliveries
            .iter()
            .map(|d| (d.webhook_id.as_deref(), d.body.as_slice()))
            .collect();
        let mut lost = 0u64;
        for d in &removed.deliveries {
            if known.contains(&(d.webhook_id.as_deref(), d.body.as_slice())) {
                continue;
            }
            self.report.removed_unread += 1;
            self.report.deliveries += 1;
            if let Err(e) = self.record(d, received_at).await {
                lost += 1;
                self.report.failed += 1;
                tracing::error!(webhook_id = d.webhook_id.as_deref().unwrap_or("(none)"), error = %e,
                    "xpollens queue: CALLBACK LOST: removed from the queue by this run and not recorded");
            }
        }
        if lost > 0 {
            return Err(PageEnd::Failure(format!(
                "{lost} callbacks removed from the queue could not be recorded"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Recorded;
    use chrono::TimeZone;
    use kyc_core::intake::EventId;
    use serde_json::Value;
    use std::collections::HashMap;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    fn fixed_clock(at: DateTime<Utc>) -> Clock {
        Arc::new(move || at)
    }

    /// A clock that moves `step` each time it is read.
    fn ticking_clock(start: DateTime<Utc>, step: Duration) -> Clock {
        let n = Arc::new(Mutex::new(0i32));
        Arc::new(move || {
            let mut n = n.lock().unwrap();
            *n += 1;
            start + step * *n
        })
    }

    fn entry(id: &str, body: Value, status: Option<&str>) -> Value {
        json!({
            "metadata": {"id": id, "processDate": "2026-11-26T13:05:14.9053587+00:00", "type": "4"},
            "payload": body,
            "response": {"pushDate": "2026-11-26T13:05:15+00:00", "duration": "00:00:00.1", "httpStatusCode": status, "body": ""}
        })
    }

    fn kyc(id: &str, status: Option<&str>) -> Value {
        entry(
            id,
            json!({"type": "4", "status": "Pending", "appUserId": id}),
            status,
        )
    }

    /// A recorder twin: id → body; duplicates by id+body; failures on demand.
    #[derive(Default)]
    struct Intake {
        seen: Mutex<HashMap<String, Vec<u8>>>,
        calls: Mutex<Vec<RawDelivery>>,
        fail_on_call: Mutex<Option<usize>>,
        unusable_bodies: Vec<Vec<u8>>,
        oversized: Mutex<Vec<OversizedEntry>>,
    }

    #[async_trait]
    impl DeliveryRecorder for Intake {
        async fn record(&self, d: &RawDelivery) -> Result<Recorded, DeliveryError> {
            let n = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(d.clone());
                calls.len()
            };
            if *self.fail_on_call.lock().unwrap() == Some(n) {
                return Err(DeliveryError::Unavailable("injected".into()));
            }
            if self.unusable_bodies.contains(&d.body) {
                return Err(DeliveryError::Unusable {
                    status: 400,
                    code: "malformed_json",
                    message: "not a callback".into(),
                });
            }
            let id = d
                .webhook_id
                .clone()
                .unwrap_or_else(|| format!("sha256:{}", kyc_core::intake::sha256_hex(&d.body)));
            // As the recorder: a missed callback never takes the real id.
            let id = if d.without_payload {
                format!("{id}.withoutPayload")
            } else {
                id
            };
            let mut seen = self.seen.lock().unwrap();
            let outcome = match seen.get(&id) {
                Some(b) if *b == d.body => Outcome::Duplicate,
                Some(_) => Outcome::Conflict,
                None => {
                    seen.insert(id.clone(), d.body.clone());
                    Outcome::Applied
                }
            };
            Ok(Recorded {
                event_id: EventId::from_provider(&id).unwrap(),
                callback_type: d.type_hint.clone(),
                outcome,
                in_use: true,
                missed_without_payload: d.without_payload,
            })
        }

        async fn record_oversized(
            &self,
            entry: &OversizedEntry,
        ) -> Result<Recorded, DeliveryError> {
            self.oversized.lock().unwrap().push(entry.clone());
            let id = format!("sha256:{}", entry.answer.sha256);
            let fresh = self
                .seen
                .lock()
                .unwrap()
                .insert(id.clone(), vec![])
                .is_none();
            Ok(Recorded {
                event_id: EventId::from_provider(&id).unwrap(),
                callback_type: entry.type_hint.clone(),
                outcome: if fresh {
                    Outcome::Recorded {
                        reason: "oversized".into(),
                    }
                } else {
                    Outcome::Duplicate
                },
                in_use: true,
                missed_without_payload: false,
            })
        }
    }

    async fn drain(q: &MemoryQueue, intake: &Intake, limit: u32) -> DrainReport {
        run(
            q,
            intake,
            &DrainSettings::new(limit).unwrap(),
            &fixed_clock(t0()),
            t0() + Duration::minutes(5),
        )
        .await
    }

    #[tokio::test]
    async fn pages_are_recorded_then_removed_while_full() {
        let q = MemoryQueue::default();
        for i in 0..7 {
            q.push(kyc(&format!("k{i}"), None));
        }
        let intake = Intake::default();
        let r = drain(&q, &intake, 3).await;
        assert_eq!(q.removals(), [3, 3, 1]);
        assert!(q.is_empty());
        assert_eq!(
            (r.pages, r.read, r.new, r.duplicate, r.removed, r.failed),
            (3, 7, 7, 0, 7, 0)
        );
        assert!(r.drained && !r.is_failure());
        let calls = intake.calls.lock().unwrap();
        assert_eq!(calls[0].webhook_id.as_deref(), Some("k0"));
        assert_eq!(calls[0].received_at, t0());
        assert!(matches!(&calls[0].channel, Channel::Queue { attempts } if attempts.len() == 1));
        assert_eq!(calls[0].type_hint, Some(CallbackType::Number(4)));
        assert_eq!(
            calls[0].process_date.as_deref(),
            Some("2026-11-26T13:05:14.9053587+00:00")
        );
    }

    #[tokio::test]
    async fn an_exactly_full_last_page_ends_with_an_empty_read() {
        let q = MemoryQueue::default();
        for i in 0..4 {
            q.push(kyc(&format!("k{i}"), None));
        }
        let r = drain(&q, &Intake::default(), 2).await;
        assert_eq!(q.removals(), [2, 2]);
        assert_eq!(q.reads(), 3);
        assert!(r.drained);
    }

    #[tokio::test]
    async fn repeated_ids_make_one_event_and_every_entry_is_removed() {
        let q = MemoryQueue::default();
        q.push(kyc("a", None));
        q.push(kyc("a", Some("500 (Internal Server Error)")));
        q.push(kyc("b", Some("202 (Accepted)")));
        q.push(kyc("a", None));
        let intake = Intake::default();
        intake.seen.lock().unwrap().insert(
            "b".into(),
            serde_json::to_vec(&json!({"type": "4", "status": "Pending", "appUserId": "b"}))
                .unwrap(),
        );
        let r = drain(&q, &intake, 30).await;
        assert_eq!(intake.calls.lock().unwrap().len(), 2);
        assert_eq!(
            (r.read, r.deliveries, r.new, r.duplicate, r.removed),
            (4, 2, 1, 1, 4)
        );
        let first = intake.calls.lock().unwrap()[0].channel.clone();
        match first {
            Channel::Queue { attempts } => {
                let codes: Vec<_> = attempts
                    .iter()
                    .map(|a| a["httpStatusCode"].clone())
                    .collect();
                assert_eq!(
                    codes,
                    [
                        Value::Null,
                        json!("500 (Internal Server Error)"),
                        Value::Null
                    ]
                );
            }
            c => panic!("{c:?}"),
        }
    }

    #[tokio::test]
    async fn a_failure_mid_page_removes_nothing_and_the_rerun_duplicates_nothing() {
        let q = MemoryQueue::default();
        for i in 0..5 {
            q.push(kyc(&format!("k{i}"), None));
        }
        let intake = Intake::default();
        *intake.fail_on_call.lock().unwrap() = Some(3);
        let r = drain(&q, &intake, 30).await;
        assert!(r.is_failure());
        assert_eq!((r.new, r.failed, r.removed), (2, 1, 0));
        assert_eq!(q.len(), 5, "nothing removed");
        assert!(q.removals().is_empty());
        *intake.fail_on_call.lock().unwrap() = None;
        let r = drain(&q, &intake, 30).await;
        assert!(!r.is_failure());
        assert_eq!((r.new, r.duplicate, r.removed), (3, 2, 5));
        assert_eq!(intake.seen.lock().unwrap().len(), 5);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_failed_removal_leaves_the_page_for_the_next_run() {
        let q = MemoryQueue::default();
        q.push(kyc("a", None));
        let intake = Intake::default();
        q.fail_next_removes(1);
        let r = drain(&q, &intake, 30).await;
        assert!(r.is_failure() && r.failure.as_deref().unwrap().contains("removal"));
        assert_eq!((r.new, r.removed), (1, 0));
        let r = drain(&q, &intake, 30).await;
        assert_eq!((r.new, r.duplicate, r.removed), (0, 1, 1));
        q.fail_next_reads(1);
        let r = drain(&q, &intake, 30).await;
        assert!(r.is_failure() && r.read == 0);
    }

    #[tokio::test]
    async fn entries_arriving_between_read_and_remove_stay_in_the_queue() {
        let q = MemoryQueue::default();
        q.push(kyc("a", None));
        q.push(kyc("b", None));
        q.arrive_after_next_read(vec![kyc("late", None)]);
        let intake = Intake::default();
        let r = run(
            &q,
            &intake,
            &DrainSettings::new(2).unwrap(),
            &fixed_clock(t0()),
            t0() + Duration::minutes(5),
        )
        .await;
        // Page 1 = a, b (full: read again) → removed 2; page 2 = late.
        assert_eq!(q.removals(), [2, 1]);
        assert_eq!((r.new, r.removed), (3, 3));
    }

    #[tokio::test]
    async fn a_removal_that_removes_unread_entries_records_them() {
        // Another reader removed "a" between our read and our removal: our removal of 1 then
        // takes "b", which we never read; it must be recorded from the removal's answer.
        struct Racing(MemoryQueue);
        #[async_trait]
        impl QueueApi for Racing {
            async fn read(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
                let page = self.0.read(limit).await;
                let _ = self.0.remove(1).await;
                page
            }
            async fn remove(&self, limit: u32) -> Result<QueueAnswer, ApiError> {
                self.0.remove(limit).await
            }
        }
        let q = Racing(MemoryQueue::default());
        q.0.push(kyc("a", None));
        q.0.push(kyc("b", None));
        let intake = Intake::default();
        let r = run(
            &q,
            &intake,
            &DrainSettings::new(1).unwrap(),
            &fixed_clock(t0()),
            t0() + Duration::minutes(5),
        )
        .await;
        assert!(intake.seen.lock().unwrap().contains_key("b"));
        assert!(r.removed_unread >= 1, "{r:?}");
        assert!(!r.is_failure());
    }

    #[tokio::test]
    async fn the_deadline_stops_the_run_before_removing_a_page_it_could_not_finish() {
        let q = MemoryQueue::default();
        for i in 0..10 {
            q.push(kyc(&format!("k{i}"), None));
        }
        let intake = Intake::default();
        // Each clock read moves 10 s; deadline in 2 min with a 20 s reserve.
        let clock = ticking_clock(t0(), Duration::seconds(10));
        let mut settings = DrainSettings::new(4).unwrap();
        settings.deadline_reserve = Duration::seconds(20);
        let r = run(&q, &intake, &settings, &clock, t0() + Duration::minutes(2)).await;
        assert!(r.stopped_for_deadline && !r.is_failure(), "{r:?}");
        assert_eq!(r.removed % 4, 0, "only whole pages are removed: {r:?}");
        assert!(r.removed < 10);
        assert_eq!(q.len() as u64, 10 - r.removed);
        assert!(r.new >= r.removed);
        // A run with time finishes: what was recorded comes back as duplicates.
        let r2 = drain(&q, &intake, 4).await;
        assert_eq!(r2.duplicate, r.new - r.removed);
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn unusable_entries_are_counted_and_removed_not_wedging_the_queue() {
        let q = MemoryQueue::default();
        q.push(entry("x", json!("not json at all"), None));
        q.push(json!(42));
        q.push(kyc("k", None));
        let intake = Intake {
            unusable_bodies: vec![b"not json at all".to_vec(), b"42".to_vec()],
            ..Intake::default()
        };
        q.push(json!({"metadata": {"id": "k"}, "payload": null}));
        let r = drain(&q, &intake, 30).await;
        assert_eq!((r.rejected, r.new, r.removed), (2, 2, 4), "{r:?}");
        assert_eq!(r.missed_without_payload, 1);
        let calls = intake.calls.lock().unwrap();
        assert_eq!(calls[1].body, b"42");
        assert_eq!(calls[1].webhook_id, None);
        // A payload-less entry is a missed callback (under an id derived from its own).
        assert!(calls[3].without_payload && calls[3].body.is_empty());
        assert!(q.is_empty() && !r.is_failure());
    }

    #[tokio::test]
    async fn conflicts_and_2xx_without_a_record_are_counted() {
        let q = MemoryQueue::default();
        q.push(entry("a", json!({"status": "Pending"}), Some("200 (OK)")));
        q.push(entry("a", json!({"status": "Complete"}), None));
        let intake = Intake::default();
        let r = drain(&q, &intake, 30).await;
        assert_eq!((r.new, r.new_despite_2xx, r.conflict), (1, 1, 1));
    }

    #[test]
    fn a_run_counts_recorded_missed_live_and_duplicates_even_when_zero() {
        let report = DrainReport {
            new: 2,
            duplicate: 3,
            conflict: 1,
            rejected: 4,
            ..DrainReport::default()
        };
        let m = metrics(&report);
        assert_eq!(m.total(Metric::EventsRecorded), 2.0);
        assert_eq!(m.total(Metric::MissedLive), 2.0);
        assert_eq!(m.total(Metric::Duplicates), 3.0);
        assert_eq!(m.for_reason(Metric::Rejections, "conflict"), 1.0);
        assert_eq!(
            m.for_reason(Metric::Rejections, "unusable_queue_entry"),
            4.0
        );
        let quiet = metrics(&DrainReport::default());
        let lines = kyc_core::metrics::emf_lines(&quiet, "d", t0());
        assert_eq!(lines.len(), 1, "no rejection line in a quiet run");
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["MissedLive"], 0);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "KycHooks");
    }

    #[test]
    fn settings_enforce_the_documented_limit() {
        assert_eq!(DrainSettings::new(0).unwrap_err(), BadQueueLimit);
        assert_eq!(
            DrainSettings::new(101).unwrap_err().to_string(),
            "queue page limit must be 1 to 100 (sandbox: at most 30)"
        );
        assert!(DrainSettings::new(100).is_ok());
    }

    #[test]
    fn the_emf_line_declares_every_metric_it_carries() {
        let report = DrainReport {
            read: 5,
            new: 2,
            duplicate: 3,
            removed: 5,
            ..DrainReport::default()
        };
        let line = emf_line(&report, "xpollens-queue-drain", t0());
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], t0().timestamp_millis());
        let declared = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for m in declared {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_u64(), "{name} has a value");
        }
        assert_eq!(v["MissedLive"], 2);
        assert_eq!(v["RunFailed"], 0);
        assert_eq!(v["Service"], "xpollens-queue-drain");
        assert!(!line.contains('\n'));
    }
}

#[cfg(test)]
mod raw_delivery_tests {
    use super::*;
    use crate::queue::group_page;

    fn one(page: &str) -> QueuedDelivery {
        group_page(page.as_bytes()).unwrap().deliveries.remove(0)
    }

    #[test]
    fn without_a_readable_process_date_the_first_push_date_orders_the_event() {
        let drained_at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 0, 0, 0).unwrap();
        for metadata in [r#"{"id":"w1"}"#, r#"{"id":"w1","processDate":"soon"}"#] {
            let d = one(&format!(
                r#"[{{"metadata":{metadata},"payload":{{"type":"4","status":"Rejected","appUserId":"u"}},
                    "response":{{"pushDate":"2026-11-12T12:00:00.3000000+00:00","httpStatusCode":null}}}}]"#
            ));
            let raw = raw_delivery(&d, drained_at);
            assert_eq!(
                raw.process_date.as_deref(),
                Some("2026-11-12T12:00:00.3000000+00:00"),
                "{metadata}"
            );
            assert_eq!(raw.notes, vec!["processDateFromPushDate"]);
        }
        // A readable processDate is kept as is.
        let d = one(
            r#"[{"metadata":{"id":"w2","processDate":"2026-11-12T11:59:59"},"payload":{"type":"4"},
                "response":{"pushDate":"2026-11-12T12:00:00+00:00"}}]"#,
        );
        let raw = raw_delivery(&d, drained_at);
        assert_eq!(raw.process_date.as_deref(), Some("2026-11-12T11:59:59"));
        assert!(raw.notes.is_empty());
    }
}

/// Issue 24: every queue copy is applied or kept whole, through the real recorder.
#[cfg(test)]
mod recovery_tests {
    use super::*;
    use crate::delivery::Recorder;
    use chrono::TimeZone;
    use kyc_core::crypto::{Keyring, PayloadKey};
    use kyc_core::intake::{EventStore, MemoryStore};
    use kyc_core::secrets::{Cached, StaticSecrets};
    use serde_json::Value;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
    }

    fn recorder(store: Arc<MemoryStore>) -> Recorder {
        Recorder {
            store,
            keys: Cached::new(
                Arc::new(StaticSecrets(Default::default())),
                "k",
                std::time::Duration::from_secs(60),
                |_| Err("preloaded".to_string()),
            )
            .preloaded(Keyring::new(PayloadKey::new("k", [7; 32]).unwrap(), vec![])),
        }
    }

    async fn drain(q: &MemoryQueue, store: Arc<MemoryStore>) -> DrainReport {
        let clock: Clock = Arc::new(t0);
        run(
            q,
            &recorder(store),
            &DrainSettings::new(30).unwrap(),
            &clock,
            t0() + Duration::minutes(5),
        )
        .await
    }

    fn entry(id: &str, kind: Value, payload: Value) -> Value {
        json!({
            "metadata": {"id": id, "processDate": "2026-11-26T13:05:14.9053587+00:00", "type": kind},
            "payload": payload,
            "response": {"pushDate": "2026-11-26T13:05:15+00:00", "httpStatusCode": "500 (Internal Server Error)"}
        })
    }

    async fn state(store: &MemoryStore, customer: &str) -> Value {
        kyc_core::kyc_state::status_json(customer, store.provider_states(customer).await.unwrap())
    }

    #[tokio::test]
    async fn a_freeze_the_queue_kept_with_its_query_string_is_applied() {
        let store = Arc::new(MemoryStore::default());
        let q = MemoryQueue::default();
        let mut e = entry("frz-1", json!("15"), json!(""));
        e["queryString"] = json!("type=15&userstatus=2&userid=u-frz");
        q.push(e);
        let r = drain(&q, store.clone()).await;
        assert!(!r.is_failure(), "{r:?}");
        assert_eq!((r.new, r.rejected), (1, 0), "{r:?}");
        let s = state(&store, "u-frz").await;
        assert_eq!(s["providers"]["xpollens"]["userFreeze"]["status"], "Frozen");
        assert!(store.rejections().is_empty());
    }

    #[tokio::test]
    async fn a_payload_less_freeze_or_authentication_is_kept_as_a_missed_callback() {
        let store = Arc::new(MemoryStore::default());
        let q = MemoryQueue::default();
        // #15 as the queue keeps it (the query string is lost), and #36 in its header form
        // (only the sensitive operation's answer is the body).
        q.push(entry("frz-2", json!(15), json!("")));
        q.push(entry(
            "sca-2",
            json!("36"),
            json!({"operation": "transfer", "amount": 12}),
        ));
        let r = drain(&q, store.clone()).await;
        assert!(!r.is_failure(), "{r:?}");
        assert_eq!((r.new, r.rejected, r.removed), (2, 0, 2), "{r:?}");
        assert_eq!(metrics(&r).total(Metric::MissedLive), 2.0);
        // Events (they never expire), not rejections (they do).
        assert!(store.rejections().is_empty(), "{:?}", store.rejections());
        assert_eq!(store.event_count(), 2);
        let line: Value = serde_json::from_str(&emf_line(&r, "d", t0())).unwrap();
        assert_eq!(line["MissedWithoutPayload"], 2, "{line}");
    }

    fn kyc(user: &str) -> Value {
        entry(
            &format!("id-{user}"),
            json!("4"),
            json!({"type": "4", "status": "Pending", "appUserId": user}),
        )
    }

    #[tokio::test]
    async fn a_page_over_the_byte_bound_is_read_again_smaller() {
        let store = Arc::new(MemoryStore::default());
        let q = MemoryQueue::default();
        for i in 0..10 {
            q.push(kyc(&format!("u{i}")));
        }
        let one = serde_json::to_vec(&kyc("u0")).unwrap().len();
        // Seven entries fit, ten do not.
        q.bound_answers(one * 8);
        let r = drain(&q, store.clone()).await;
        assert!(!r.is_failure() && r.drained, "{r:?}");
        assert_eq!((r.new, r.removed), (10, 10), "{r:?}");
        assert!(r.smaller_reads >= 2, "{r:?}");
        assert_eq!(q.removals(), [7, 3], "{r:?}");
        for i in 0..10 {
            let s = state(&store, &format!("u{i}")).await;
            assert_eq!(s["providers"]["xpollens"]["kycDemand"]["status"], "Pending");
        }
    }

    #[tokio::test]
    async fn an_entry_alone_over_the_ceiling_is_kept_as_metadata_and_digest_and_removed() {
        let store = Arc::new(MemoryStore::default());
        let q = MemoryQueue::default();
        q.push(kyc("before"));
        let huge = entry(
            "huge-1",
            json!("4"),
            json!({"type": "4", "status": "Rejected", "appUserId": "u-huge", "pad": "p".repeat(4000)}),
        );
        q.push(huge.clone());
        q.push(kyc("after"));
        q.bound_answers(2000);
        let r = drain(&q, store.clone()).await;
        assert!(!r.is_failure() && r.drained, "{r:?}");
        assert!(q.is_empty());
        assert_eq!((r.new, r.oversized, r.removed), (3, 1, 3), "{r:?}");
        let line: Value = serde_json::from_str(&emf_line(&r, "d", t0())).unwrap();
        assert_eq!(line["OversizedQueueEntries"], 1);
        // Nothing of it applied (its body was never read), both neighbours were.
        assert!(store.provider_states("u-huge").await.unwrap().is_empty());
        for user in ["before", "after"] {
            let s = state(&store, user).await;
            assert_eq!(s["providers"]["xpollens"]["kycDemand"]["status"], "Pending");
        }
        // Its record: the entry's metadata, size and digest; never expiring (an event).
        assert_eq!(store.event_count(), 3);
        assert!(store.rejections().is_empty());
        // A rerun after a crash finds it recorded: a duplicate, not a second record.
        q.push(huge);
        let r = drain(&q, store.clone()).await;
        assert_eq!((r.new, r.duplicate, r.oversized), (0, 1, 0), "{r:?}");
        assert_eq!(store.event_count(), 3);
    }

    #[tokio::test]
    async fn a_payload_less_copy_of_a_callback_answered_live_adds_nothing() {
        let store = Arc::new(MemoryStore::default());
        let q = MemoryQueue::default();
        let mut e = entry("frz-live", json!(15), json!(""));
        e["response"]["httpStatusCode"] = json!("202 (Accepted)");
        q.push(e);
        let r = drain(&q, store.clone()).await;
        assert_eq!((r.new, r.duplicate, r.removed), (0, 1, 1), "{r:?}");
        assert_eq!(store.event_count(), 0);
    }

    #[tokio::test]
    async fn an_entry_over_the_live_body_limit_is_recorded_whole_and_applied() {
        let store = Arc::new(MemoryStore::default());
        let q = MemoryQueue::default();
        let pad = "p".repeat(crate::endpoint::BODY_LIMIT + 1024);
        q.push(entry(
            "big-1",
            json!("4"),
            json!({"type": "4", "status": "Pending", "appUserId": "u-big", "pad": pad}),
        ));
        let r = drain(&q, store.clone()).await;
        assert!(!r.is_failure() && r.new == 1, "{r:?}");
        let s = state(&store, "u-big").await;
        assert_eq!(s["providers"]["xpollens"]["kycDemand"]["status"], "Pending");
    }
}
