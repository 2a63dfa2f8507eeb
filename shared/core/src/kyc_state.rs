//! KYC state rules, pure.
//!
//! A customer's state per provider is a set of *streams* (KYC demand, user record, strong
//! authentication...). Each stream holds the value of one event. Which event wins is decided
//! by an order key computed from the event alone, under one of two policies:
//!
//! * [`Finality::Latest`] (KYC demand, strong-authentication result, user freeze): the event
//!   with the latest provider time wins, finals included. A rejected KYC demand is followed by
//!   a NEW demand (`Initialized`, `Pending`, ... for the same `appUserId`, with no demand id),
//!   and each strong authentication is a new one: the newest one is the customer's state.
//!   Xpollens keeps `Webhook-Processdate` across retries, so a retried or queue-recovered
//!   delivery of an old demand is older and never overwrites the new one.
//! * [`Finality::Sticky`] (user record, and providers' own streams by default): a final status
//!   beats every non-final one, and between two finals the *earliest* wins: once final, a
//!   later event cannot move it.
//!
//! Ties are deterministic: at the same instant (Xpollens dates have second resolution) the
//! status further along the diagram wins (finals rank above non-finals); at the same instant
//! and rank, in a `Latest` stream the event whose id has the greater SHA-256 digest wins (in a
//! `Sticky` stream the first recorded stays: "not newer"). So a stream keeps the
//! event with the greatest key, "greatest" does not depend on the order events arrive in, and
//! delivering a sequence shuffled ends in the same state as delivering it in order. The rule
//! is one comparison (`current.ord < new.ord`) that a DynamoDB condition expression evaluates
//! atomically: no read before the write.
//!
//! Two things depend on more than the winning event, so a stream may ask for a merge with the
//! current value ([`resolve`]), which a store applies with a compare-and-swap:
//!
//! * **Same-second ties** (`StreamValue::same_second_ambiguous` is `Some`): Xpollens dates have
//!   second resolution, so two different statuses of one second are ordered by the fixed
//!   precedence (their ranks) alone, even where the provider's diagram has edges both ways.
//!   The value is then flagged `sameSecondAmbiguous`: the order was not certain. The flag is
//!   true iff some event of the winner's second, in the winner's class (for a sticky stream:
//!   final or not), has another status; whatever the arrival order (property-tested).
//! * **Keyed items** (`StreamValue::items`): a stream following many processes at once (one
//!   per incoming transfer) keeps, beside its latest value, every item whose status is not
//!   final yet, bounded ([`MAX_OPEN_ITEMS`], [`MAX_CLOSED_ITEMS`]).
//!
//! [`blind_write_floor`] tells a store when the merge cannot matter (the current value is from
//! an earlier second, or the stream does not ask for one): then it writes without reading, as
//! before.

use crate::intake::Provider;
use crate::redact::Secret;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// One independent part of a provider state, named by the attribute that stores it
/// (`kycDemand`, `clientFile#<uuid>`, ...). Providers add streams by name; the store keeps any
/// stream it is given.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Stream(Cow<'static, str>);

/// Attribute names of the state item that are not streams.
const RESERVED: [&str; 9] = [
    "PK",
    "SK",
    "itemType",
    "updatedAt",
    "lastEventId",
    "version",
    "customerId",
    "migratedAt",
    "migratedFrom",
];

/// A stream name that is empty, too long, has control characters or is a reserved attribute.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("stream name must be 1 to 200 visible characters and not a reserved attribute")]
pub struct InvalidStream;

impl Stream {
    /// Xpollens: the KYC demand.
    pub const KYC_DEMAND: Stream = Stream(Cow::Borrowed("kycDemand"));
    /// Xpollens: the user's record.
    pub const USER_RECORD: Stream = Stream(Cow::Borrowed("userRecord"));
    /// Xpollens: enrolment in strong customer authentication.
    pub const SCA_ENROLMENT: Stream = Stream(Cow::Borrowed("scaEnrolment"));
    /// Xpollens: the result of a strong customer authentication.
    pub const SCA_RESULT: Stream = Stream(Cow::Borrowed("scaResult"));
    /// Xpollens: the KYC web view.
    pub const KYC_WEBVIEW: Stream = Stream(Cow::Borrowed("kycWebview"));
    /// Xpollens: a diligence document to upload again.
    pub const DILIGENCE_REUPLOAD: Stream = Stream(Cow::Borrowed("diligenceReupload"));
    /// Xpollens callback 15: whether the customer is frozen.
    pub const USER_FREEZE: Stream = Stream(Cow::Borrowed("userFreeze"));
    /// Xpollens PEP screening (`PoliticallyExposedPersonStatusCreatedOrUpdated`).
    pub const PEP_SCREENING: Stream = Stream(Cow::Borrowed("pepScreening"));
    /// Xpollens callback 31: KYC complementary diligences of incoming transfers (keyed items).
    pub const COMPLEMENTARY_DILIGENCE: Stream = Stream(Cow::Borrowed("complementaryDiligence"));

    /// A stream named at run time (e.g. one per Trust & Sign client file).
    pub fn named(name: impl Into<String>) -> Result<Self, InvalidStream> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.chars().count() <= 200
            && !name.chars().any(char::is_control)
            && !RESERVED.contains(&name.as_str());
        if ok {
            Ok(Self(Cow::Owned(name)))
        } else {
            Err(InvalidStream)
        }
    }

    /// The stream's name, its attribute in the state item.
    pub fn attribute(&self) -> &str {
        &self.0
    }
}

/// Key ranges, disjoint by construction, so a key tells its kind:
/// - sticky non-final: `millis * 16 + rank`, below 2^49 (milliseconds fit in 45 bits until
///   the year 3084);
/// - sticky final: `2^52 - millis * 16 + rank`, between 2^52 - 2^49 and 2^52;
/// - latest-wins: `2^53 + ((seconds * 16 + rank) << 20) + tie`, from 2^53 to below 2^60
///   (seconds fit in 35 bits until the year 3058; 20 bits of event-id digest break ties).
///
/// The sticky encodings are those of earlier releases, so stored user-record, Trust & Sign
/// and GoPay states compare unchanged. A KYC demand (or other latest-wins stream) stored by an
/// earlier release sits below 2^53: the first event after the upgrade replaces it, which is
/// what a new demand after a stored rejection needs.
const FINAL_BASE: i64 = 1 << 52;
const STICKY_FINAL_FLOOR: i64 = FINAL_BASE - (MAX_MILLIS + 1) * 16;
const LATEST_BASE: i64 = 1 << 53;
const MAX_MILLIS: i64 = (1 << 45) - 1;
const MAX_SECONDS: i64 = (1 << 35) - 1;
const TIE_BITS: u32 = 20;

/// How a stream treats final statuses (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// The earliest final status stays, whatever comes later.
    Sticky,
    /// The latest event wins, finals included (a new demand follows a rejected one).
    Latest,
}

/// The last bits of the event id's SHA-256: a fixed, arbitrary order between events of the
/// same instant and rank.
fn tie_break(event_id: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(event_id.as_bytes());
    i64::from(u32::from_be_bytes([0, d[0], d[1], d[2]])) & ((1 << TIE_BITS) - 1)
}

/// The order key of an event for its stream (see the module documentation).
pub fn order_key(
    at: DateTime<Utc>,
    rank: u8,
    is_final: bool,
    finality: Finality,
    event_id: &str,
) -> i64 {
    let rank = i64::from(rank.min(15));
    match finality {
        Finality::Latest => {
            let secs = at.timestamp().clamp(0, MAX_SECONDS);
            LATEST_BASE + ((secs * 16 + rank) << TIE_BITS) + tie_break(event_id)
        }
        // No id tie-break here: an equal key is "not newer", the first recorded stays.
        Finality::Sticky => {
            let millis = at.timestamp_millis().clamp(0, MAX_MILLIS);
            if is_final {
                FINAL_BASE - millis * 16 + rank
            } else {
                millis * 16 + rank
            }
        }
    }
}

/// What a stream holds: the winning event's canonical status and details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamValue {
    /// The canonical status.
    pub status: String,
    /// The status's place in the stream's diagram (further along: higher).
    pub rank: u8,
    /// True when the status is final.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Provider time of the event (received time when the provider gives none).
    pub at: DateTime<Utc>,
    /// The order key the store compares ([`order_key`]).
    pub ord: i64,
    /// The winning event's id.
    pub event_id: String,
    /// Non-secret normalised details (diligences, reasons, levels...).
    #[serde(default)]
    pub detail: serde_json::Value,
    /// Secrets sealed with the payload key (`crypto::Sealed` text), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sealed: BTreeMap<String, String>,
    /// What every consumer must see beside the status (e.g. Trust & Sign `fraudMarked`):
    /// carried by the state-change event. Never personal data. Absent when empty, so values
    /// without flags are stored as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    /// `Some` when the stream tracks same-second ties (see the module documentation); `true`
    /// when the winner's order against another status of its second was not certain (then
    /// also the flag [`SAME_SECOND_AMBIGUOUS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_second_ambiguous: Option<bool>,
    /// Keyed items, for a stream that follows many processes at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Items>,
}

impl StreamValue {
    /// A value of a [`Finality::Sticky`] stream.
    pub fn new(status: &str, rank: u8, is_final: bool, at: DateTime<Utc>, event_id: &str) -> Self {
        Self::with_finality(status, rank, is_final, Finality::Sticky, at, event_id)
    }

    /// A value of a stream of the given [`Finality`].
    pub fn with_finality(
        status: &str,
        rank: u8,
        is_final: bool,
        finality: Finality,
        at: DateTime<Utc>,
        event_id: &str,
    ) -> Self {
        Self {
            status: status.to_string(),
            rank,
            is_final,
            at,
            ord: order_key(at, rank, is_final, finality, event_id),
            event_id: event_id.to_string(),
            detail: serde_json::Value::Null,
            sealed: BTreeMap::new(),
            flags: Vec::new(),
            same_second_ambiguous: None,
            items: None,
        }
    }

    /// This value's stream flags same-second ties (see the module documentation).
    pub fn tracking_ties(mut self) -> Self {
        self.same_second_ambiguous = Some(false);
        self
    }

    /// This value's stream keeps keyed items; `item` is this event's, under `key`.
    pub fn with_item(mut self, key: &str, item: Item) -> Self {
        self.items = Some(Items::of_one(key, item));
        self
    }
}

/// The flag (`StreamValue::flags`) a value carries while `same_second_ambiguous` is true, so
/// the state-change event and the KYC decision see it beside the status.
pub const SAME_SECOND_AMBIGUOUS: &str = "sameSecondAmbiguous";

/// Open items kept at most (the most recent); beyond, `overflowed` says some are not listed.
pub const MAX_OPEN_ITEMS: usize = 40;
/// Keys of final items remembered (the most recent finals), so that a late non-final
/// delivery of a closed item does not reopen it.
pub const MAX_CLOSED_ITEMS: usize = 100;
/// An item key is clipped to this many characters.
pub const MAX_ITEM_KEY_CHARS: usize = 64;
/// An item's detail larger than this, serialised, is replaced by `{"omitted": true}`.
pub const MAX_ITEM_DETAIL_BYTES: usize = 768;

/// The keyed items of a stream that follows many processes at once (Xpollens #31: one
/// complementary diligence per incoming transfer, keyed by its order id). Each item is sticky
/// on its own: a final status beats every non-final one, the earliest final stays. Bounded
/// whatever the number of items, so the state item stays far below DynamoDB's 400 KB.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Items {
    /// Items whose status is not final, by key (at most [`MAX_OPEN_ITEMS`], the newest).
    #[serde(default)]
    pub open: BTreeMap<String, Item>,
    /// Keys of items that reached a final status, with that status's order key (at most
    /// [`MAX_CLOSED_ITEMS`], the most recent).
    #[serde(default)]
    pub closed: BTreeMap<String, i64>,
    /// Some open items were dropped by the bound: the list is not complete (see the history).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overflowed: bool,
}

/// One keyed item: the status of its latest event (sticky order) and that event's details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The item's canonical status.
    pub status: String,
    /// True when the status is final.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Provider time of the event.
    pub at: DateTime<Utc>,
    /// Sticky order key of the item's event.
    pub ord: i64,
    /// The event's id.
    pub event_id: String,
    /// Non-secret normalised details.
    #[serde(default)]
    pub detail: Value,
}

impl Item {
    /// An item of the event `event_id` at `at`.
    pub fn new(
        status: &str,
        rank: u8,
        is_final: bool,
        at: DateTime<Utc>,
        event_id: &str,
        detail: Value,
    ) -> Self {
        let detail = if serde_json::to_vec(&detail).map_or(usize::MAX, |b| b.len())
            > MAX_ITEM_DETAIL_BYTES
        {
            json!({"omitted": true})
        } else {
            detail
        };
        Self {
            status: status.to_string(),
            is_final,
            at,
            ord: order_key(at, rank, is_final, Finality::Sticky, event_id),
            event_id: event_id.to_string(),
            detail,
        }
    }
}

impl Items {
    /// One event's item: open, or closed when final.
    pub fn of_one(key: &str, item: Item) -> Self {
        let key: String = key
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_ITEM_KEY_CHARS)
            .collect();
        let mut items = Items::default();
        if item.is_final {
            items.closed.insert(key, item.ord);
        } else {
            items.open.insert(key, item);
        }
        items
    }

    /// `self` with `new`'s items merged in: commutative and idempotent within the bounds.
    fn merged(&self, new: &Items) -> Items {
        let mut out = self.clone();
        for (key, ord) in &new.closed {
            // Between two finals of one item the earliest stays: the greater sticky key.
            if out.closed.get(key).is_none_or(|o| o < ord) {
                out.closed.insert(key.clone(), *ord);
            }
            out.open.remove(key);
        }
        for (key, item) in &new.open {
            if out.closed.contains_key(key) {
                continue;
            }
            // Equal keys (one second, one status) are ordered by event id: any arrival order
            // keeps the same item.
            if out
                .open
                .get(key)
                .is_none_or(|o| (o.ord, &o.event_id) < (item.ord, &item.event_id))
            {
                out.open.insert(key.clone(), item.clone());
            }
        }
        out.overflowed |= new.overflowed;
        while out.open.len() > MAX_OPEN_ITEMS {
            // The oldest open item goes (a non-final's sticky key grows with its time).
            let oldest = out
                .open
                .iter()
                .min_by(|a, b| (a.1.ord, a.0).cmp(&(b.1.ord, b.0)))
                .map(|(k, _)| k.clone())
                .expect("more than the bound, so not empty");
            out.open.remove(&oldest);
            out.overflowed = true;
        }
        while out.closed.len() > MAX_CLOSED_ITEMS {
            // The oldest final goes (a final's sticky key is greater the earlier it came).
            let oldest = out
                .closed
                .iter()
                .max_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)))
                .map(|(k, _)| k.clone())
                .expect("more than the bound, so not empty");
            out.closed.remove(&oldest);
        }
        out
    }
}

/// The change one event proposes to one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StatePatch {
    /// The stream it changes.
    pub stream: Stream,
    /// The value it proposes.
    pub value: StreamValue,
}

/// Why an event was recorded without changing the current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SkipReason {
    /// The current state is final and was reached no later than this event.
    FinalSticky {
        /// The current status.
        current: String,
    },
    /// The current state comes from a newer event.
    Stale {
        /// The current status.
        current: String,
        /// When the current status was reached.
        current_at: DateTime<Utc>,
    },
    /// Same status at the same instant: nothing new.
    NotNewer {
        /// The current status.
        current: String,
    },
    /// Another status of the same second won by the fixed precedence; the state is flagged
    /// `sameSecondAmbiguous`.
    SameSecondTie {
        /// The status that won.
        current: String,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::FinalSticky { current } => write!(f, "final state {current} is sticky"),
            SkipReason::Stale {
                current,
                current_at,
            } => {
                write!(
                    f,
                    "stale: older than current {current} at {}",
                    current_at.to_rfc3339()
                )
            }
            SkipReason::NotNewer { current } => write!(f, "not newer than current {current}"),
            SkipReason::SameSecondTie { current } => write!(
                f,
                "lost a same-second tie to {current} (fixed precedence); state flagged sameSecondAmbiguous"
            ),
        }
    }
}

/// Whether `patch` moves a stream whose current value is `current`.
pub fn check(current: Option<&StreamValue>, patch: &StatePatch) -> Result<(), SkipReason> {
    let Some(cur) = current else { return Ok(()) };
    if cur.ord < patch.value.ord {
        return Ok(());
    }
    let current = cur.status.clone();
    // Only a sticky final sits in its range; a final of a `Latest` stream is just older.
    Err(if (STICKY_FINAL_FLOOR..LATEST_BASE).contains(&cur.ord) {
        SkipReason::FinalSticky { current }
    } else if cur.ord == patch.value.ord {
        SkipReason::NotNewer { current }
    } else {
        SkipReason::Stale {
            current,
            current_at: cur.at,
        }
    })
}

/// What one event does to its stream: the value to write (if any) and, when the event's own
/// status did not become the stream's, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The value to write (`None`: nothing to write).
    pub value: Option<StreamValue>,
    /// Why the event's own status did not win, if it did not.
    pub skipped: Option<SkipReason>,
}

/// The merge of `patch` into its stream's `current` value (see the module documentation):
/// the winner by order key, with the tie flag and the keyed items of both. A store writes
/// `value` atomically over exactly `current` (compare-and-swap) and records `skipped`.
pub fn resolve(current: Option<&StreamValue>, patch: &StatePatch) -> Resolution {
    let new = &patch.value;
    let Some(cur) = current else {
        return Resolution {
            value: Some(new.clone()),
            skipped: None,
        };
    };
    let verdict = check(Some(cur), patch);
    let new_wins = verdict.is_ok();
    let mut out = if new_wins { new.clone() } else { cur.clone() };
    let same_second = cur.at.timestamp() == new.at.timestamp();
    // A sticky final beats a non-final whatever their order: only one class is a tie.
    let same_class = new.ord >= LATEST_BASE || cur.is_final == new.is_final;
    let tie = same_second && same_class && cur.status != new.status;
    if new.same_second_ambiguous.is_some() && same_second && same_class {
        let flagged = tie || cur.same_second_ambiguous.unwrap_or(false);
        if new_wins || flagged {
            out.same_second_ambiguous = Some(flagged);
        }
    }
    if let Some(items) = &new.items {
        out.items = Some(cur.items.clone().unwrap_or_default().merged(items));
    }
    let flagged = out.same_second_ambiguous == Some(true);
    if flagged != out.flags.iter().any(|f| f == SAME_SECOND_AMBIGUOUS) {
        if flagged {
            out.flags.push(SAME_SECOND_AMBIGUOUS.to_string());
        } else {
            out.flags.retain(|f| f != SAME_SECOND_AMBIGUOUS);
        }
    }
    match verdict {
        Ok(()) => Resolution {
            value: Some(out),
            skipped: None,
        },
        Err(reason) => {
            // The event's item counts as applied even when another event is the latest.
            let item_applied = new.items.is_some() && out.items != cur.items;
            let reason = if tie && new.same_second_ambiguous.is_some() {
                SkipReason::SameSecondTie {
                    current: cur.status.clone(),
                }
            } else {
                reason
            };
            Resolution {
                value: (out != *cur).then_some(out),
                skipped: (!item_applied).then_some(reason),
            }
        }
    }
}

/// The greatest current order key over which `value` may be written without reading the
/// current value (a store's first, blind attempt: `current.ord < floor`). For a stream
/// without ties or items it is the value's own key (the plain rule); with ties, the start of
/// its second (a current value of the same second must be merged); with items, never.
pub fn blind_write_floor(value: &StreamValue) -> i64 {
    if value.items.is_some() {
        return i64::MIN;
    }
    if value.same_second_ambiguous.is_none() {
        return value.ord;
    }
    let secs = value.at.timestamp();
    if value.ord >= LATEST_BASE {
        LATEST_BASE + ((secs.clamp(0, MAX_SECONDS) * 16) << TIE_BITS)
    } else if value.ord >= STICKY_FINAL_FLOOR {
        // Below: every non-final, and the finals of later seconds (this one beats them).
        FINAL_BASE - (secs * 1000 + 999).clamp(0, MAX_MILLIS) * 16
    } else {
        (secs * 1000).clamp(0, MAX_MILLIS) * 16
    }
}

/// A provider's state for one customer: what the store keeps under `<P>#C#<customer>` / `STATE`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderState {
    /// Each stream's value, by stream.
    pub streams: BTreeMap<Stream, StreamValue>,
    /// Applied changes so far (the item's `version`): what the KYC decision records it was
    /// computed from, so an older computation never overwrites a newer one.
    pub version: i64,
}

impl ProviderState {
    /// Applies `patch` as the rules say ([`resolve`]): pure twin of the store's update. An
    /// event that only flags a tie or adds an item writes and still answers its reason.
    pub fn apply(&mut self, patch: &StatePatch) -> Result<(), SkipReason> {
        let r = resolve(self.streams.get(&patch.stream), patch);
        if let Some(value) = r.value {
            self.streams.insert(patch.stream.clone(), value);
            // The store counts every write of the state item (its `version`), tie flags too.
            self.version += 1;
        }
        r.skipped.map_or(Ok(()), Err)
    }

    /// The status of a stream, if it has one.
    pub fn status(&self, stream: Stream) -> Option<&str> {
        self.streams.get(&stream).map(|v| v.status.as_str())
    }

    /// The value of a stream, if it has one.
    pub fn stream(&self, stream: &Stream) -> Option<&StreamValue> {
        self.streams.get(stream)
    }

    /// Merges, stream by stream, as the state rules merge an event ([`resolve`]: the greater
    /// `ord`, tie flags and keyed items of both): two copies of one customer's state — the
    /// layout migration's old and new items — merge to the state either order of their events
    /// would have reached.
    pub fn merge(&mut self, other: &ProviderState) {
        for (stream, value) in &other.streams {
            let patch = StatePatch {
                stream: stream.clone(),
                value: value.clone(),
            };
            if let Some(merged) = resolve(self.streams.get(stream), &patch).value {
                self.streams.insert(stream.clone(), merged);
            }
        }
        self.version = self.version.max(other.version);
    }
}

/// A secret value about to be sealed into a stream (name → value).
pub type SecretFields = Vec<(&'static str, Secret)>;

/// A customer's current state per provider, as `kyc status` prints it (secrets named, never
/// shown).
pub fn status_json(customer: &str, states: BTreeMap<Provider, ProviderState>) -> Value {
    let providers: Map<String, Value> = states
        .into_iter()
        .map(|(provider, state)| {
            let streams: Map<String, Value> = state
                .streams
                .into_iter()
                .map(|(stream, v)| {
                    let sealed: Vec<&String> = v.sealed.keys().collect();
                    let mut out = json!({"status": v.status, "final": v.is_final, "at": v.at, "eventId": v.event_id,
                               "detail": v.detail, "sealedSecrets": sealed});
                    if !v.flags.is_empty() {
                        out["flags"] = json!(v.flags);
                    }
                    if let Some(flag) = v.same_second_ambiguous {
                        out["sameSecondAmbiguous"] = flag.into();
                    }
                    if let Some(items) = &v.items {
                        let open: Map<String, Value> = items
                            .open
                            .iter()
                            .map(|(key, i)| {
                                let item = json!({"status": i.status, "final": i.is_final, "at": i.at,
                                                  "eventId": i.event_id, "detail": i.detail});
                                (key.clone(), item)
                            })
                            .collect();
                        out["items"] = json!({
                            "open": open,
                            "closedCount": items.closed.len(),
                            "overflowed": items.overflowed,
                        });
                    }
                    (stream.attribute().to_string(), out)
                })
                .collect();
            (provider.as_str().to_string(), Value::Object(streams))
        })
        .collect();
    json!({"customer": customer, "providers": providers})
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn stream_names_are_validated() {
        assert_eq!(
            Stream::named("clientFile#6f1c").unwrap().attribute(),
            "clientFile#6f1c"
        );
        assert_eq!(Stream::named(""), Err(InvalidStream));
        assert_eq!(Stream::named("version"), Err(InvalidStream));
        assert_eq!(Stream::named("a\nb"), Err(InvalidStream));
        assert_eq!(
            serde_json::to_string(&Stream::KYC_DEMAND).unwrap(),
            "\"kycDemand\""
        );
    }

    #[test]
    fn order_key_separates_sticky_finals_and_clamps() {
        use Finality::*;
        let late = Utc.with_ymd_and_hms(3000, 1, 1, 0, 0, 0).unwrap();
        assert!(order_key(t0(), 15, false, Sticky, "a") < order_key(late, 1, true, Sticky, "a"));
        assert!(order_key(late, 15, false, Sticky, "a") < order_key(late, 8, true, Sticky, "a"));
        // Under `Latest`, a final is ordered by time like any status.
        assert!(order_key(t0(), 15, true, Latest, "a") < order_key(late, 1, false, Latest, "a"));
        let before_epoch = Utc.with_ymd_and_hms(1960, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            order_key(before_epoch, 3, false, Sticky, "a"),
            3,
            "clamped to the epoch"
        );
        assert_eq!(
            (order_key(before_epoch, 3, false, Latest, "a") - LATEST_BASE) >> TIE_BITS,
            3,
            "clamped to the epoch"
        );
        // Disjoint ranges: sticky non-finals, sticky finals, latest-wins keys.
        let far = Utc.with_ymd_and_hms(3050, 1, 1, 0, 0, 0).unwrap();
        assert!(order_key(far, 15, false, Sticky, "z") < STICKY_FINAL_FLOOR);
        assert!(order_key(far, 1, true, Sticky, "z") >= STICKY_FINAL_FLOOR);
        assert!(order_key(before_epoch, 15, true, Sticky, "z") < LATEST_BASE);
        assert!(order_key(before_epoch, 0, true, Latest, "z") >= LATEST_BASE);
        assert!(order_key(far, 15, true, Latest, "z") < 1 << 60);
        // The sticky encoding is the earlier releases' one (stored states compare unchanged).
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
        assert_eq!(
            order_key(t, 4, false, Sticky, "a"),
            t.timestamp_millis() * 16 + 4
        );
        assert_eq!(
            order_key(t, 8, true, Sticky, "a"),
            (1 << 52) - t.timestamp_millis() * 16 + 8
        );
    }

    // ----- merges: same-second ties and keyed items ----------------------------------------

    use proptest::prelude::*;

    /// Four statuses of one stream: two non-finals, two finals (ranks in diagram order).
    const STATUSES: [(&str, u8, bool); 4] = [
        ("Open", 1, false),
        ("Review", 2, false),
        ("Accepted", 3, true),
        ("Refused", 4, true),
    ];

    fn tied(status: usize, finality: Finality, secs: i64, id: &str) -> StatePatch {
        let (name, rank, fin) = STATUSES[status];
        StatePatch {
            stream: Stream::KYC_DEMAND,
            value: StreamValue::with_finality(
                name,
                rank,
                fin,
                finality,
                t0() + chrono::Duration::seconds(secs),
                id,
            )
            .tracking_ties(),
        }
    }

    #[test]
    fn two_statuses_of_one_second_flag_the_winner_in_either_order() {
        for finality in [Finality::Latest, Finality::Sticky] {
            let (a, b) = (tied(0, finality, 5, "a"), tied(1, finality, 5, "b"));
            for order in [[&a, &b], [&b, &a]] {
                let mut s = ProviderState::default();
                let results: Vec<_> = order.iter().map(|p| s.apply(p)).collect();
                let v = s.stream(&Stream::KYC_DEMAND).unwrap();
                assert_eq!(
                    (v.status.as_str(), v.same_second_ambiguous),
                    ("Review", Some(true))
                );
                // The loser says why, whichever came first.
                let lost = results
                    .iter()
                    .filter_map(|r| r.clone().err())
                    .collect::<Vec<_>>();
                if order[0].value.status == "Review" {
                    assert_eq!(
                        lost,
                        [SkipReason::SameSecondTie {
                            current: "Review".into()
                        }]
                    );
                } else {
                    assert!(lost.is_empty(), "{lost:?}");
                }
            }
            // A later second is certain again; an earlier one changes nothing.
            let mut s = ProviderState::default();
            for p in [&a, &b, &tied(0, finality, 6, "c")] {
                let _ = s.apply(p);
            }
            assert_eq!(
                s.stream(&Stream::KYC_DEMAND).unwrap().same_second_ambiguous,
                Some(false)
            );
        }
        // Sticky: a final against a non-final of the same second is no tie (the final wins in
        // any order).
        let mut s = ProviderState::default();
        s.apply(&tied(2, Finality::Sticky, 5, "f")).unwrap();
        assert!(s.apply(&tied(1, Finality::Sticky, 5, "n")).is_err());
        assert_eq!(
            s.stream(&Stream::KYC_DEMAND).unwrap().same_second_ambiguous,
            Some(false)
        );
        // A stream that does not track ties is left as before.
        let mut plain = tied(0, Finality::Latest, 5, "x");
        plain.value.same_second_ambiguous = None;
        let mut s = ProviderState::default();
        s.apply(&plain).unwrap();
        let mut other = tied(1, Finality::Latest, 5, "y");
        other.value.same_second_ambiguous = None;
        s.apply(&other).unwrap();
        assert_eq!(
            s.stream(&Stream::KYC_DEMAND).unwrap().same_second_ambiguous,
            None
        );
    }

    #[test]
    fn a_blind_write_is_allowed_exactly_over_values_it_cannot_tie_with() {
        for (finality, status) in [
            (Finality::Latest, 1),
            (Finality::Sticky, 0),
            (Finality::Sticky, 2),
        ] {
            let p = tied(status, finality, 10, "p");
            let floor = blind_write_floor(&p.value);
            assert!(floor <= p.value.ord);
            for (cur_status, cur_secs) in
                [(0, 9), (1, 9), (3, 9), (0, 10), (3, 10), (1, 11), (2, 11)]
            {
                let cur = tied(cur_status, finality, cur_secs, "c").value;
                if cur.ord < floor {
                    // Written blind: must be what the merge gives.
                    let merged = resolve(Some(&cur), &p);
                    assert_eq!(
                        merged.value.as_ref(),
                        Some(&p.value),
                        "{finality:?} {cur_status} {cur_secs}"
                    );
                    assert_eq!(merged.skipped, None);
                }
            }
        }
        // Without ties the floor is the plain rule; with items, never blind.
        let mut plain = tied(0, Finality::Latest, 10, "p").value;
        plain.same_second_ambiguous = None;
        assert_eq!(blind_write_floor(&plain), plain.ord);
        let item = Item::new("Open", 1, false, t0(), "p", Value::Null);
        assert_eq!(blind_write_floor(&plain.with_item("k", item)), i64::MIN);
    }

    fn shuffle<T>(items: &mut [T], seed: u64) {
        let mut rng = seed;
        for i in (1..items.len()).rev() {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            items.swap(i, (rng >> 33) as usize % (i + 1));
        }
    }

    proptest! {
        /// Events of one stream (any statuses, 0 to 3 s apart so seconds collide, retries
        /// mixed in), in any arrival order: the same winner and flag; the flag is true iff an
        /// event of the winner's second and class has another status.
        #[test]
        fn ties_converge_and_flag_exactly_the_uncertain_seconds(
            sticky in any::<bool>(),
            events in prop::collection::vec((0usize..4, 0i64..4), 1..10),
            dup in prop::collection::vec(any::<bool>(), 10),
            seed in any::<u64>(),
        ) {
            let finality = if sticky { Finality::Sticky } else { Finality::Latest };
            let mut patches = Vec::new();
            for (n, (status, secs)) in events.iter().enumerate() {
                // Sticky streams keep the first of two equal keys: one event per second and
                // status there (Xpollens sends one callback per change).
                if sticky && events[..n].iter().any(|e| e == &(*status, *secs)) { continue; }
                let p = tied(*status, finality, *secs, &format!("e{n}"));
                if dup[n] { patches.push(p.clone()); }
                patches.push(p);
            }
            let mut in_order = ProviderState::default();
            for p in &patches { let _ = in_order.apply(p); }
            let mut shuffled = patches.clone();
            shuffle(&mut shuffled, seed);
            let mut s = ProviderState::default();
            for p in &shuffled { let _ = s.apply(p); }
            prop_assert_eq!(&s.streams, &in_order.streams);
            let w = s.stream(&Stream::KYC_DEMAND).unwrap();
            let uncertain = patches.iter().any(|p| {
                p.value.at == w.at && p.value.status != w.status
                    && (!sticky || p.value.is_final == w.is_final)
            });
            prop_assert_eq!(w.same_second_ambiguous, Some(uncertain));
            // The event's flags say it too (what consumers and the KYC decision read).
            prop_assert_eq!(w.flags.iter().any(|f| f == SAME_SECOND_AMBIGUOUS), uncertain);
        }

        /// Keyed items (a few keys, statuses open or final, seconds colliding), in any order:
        /// the same state; open = the keys that never got a final, each with its latest event.
        #[test]
        fn items_converge_and_keep_every_open_one(
            events in prop::collection::vec((0usize..5, 0usize..4, 0i64..6), 1..14),
            seed in any::<u64>(),
        ) {
            let patches: Vec<StatePatch> = events.iter().enumerate().map(|(n, (key, status, secs))| {
                let (name, rank, fin) = STATUSES[*status];
                let at = t0() + chrono::Duration::seconds(*secs);
                let id = format!("e{n}");
                let item = Item::new(name, rank, fin, at, &id, json!({"n": n}));
                StatePatch {
                    stream: Stream::COMPLEMENTARY_DILIGENCE,
                    value: StreamValue::with_finality(name, rank, fin, Finality::Latest, at, &id)
                        .tracking_ties()
                        .with_item(&format!("k{key}"), item),
                }
            }).collect();
            let mut in_order = ProviderState::default();
            for p in &patches { let _ = in_order.apply(p); }
            let mut shuffled = patches.clone();
            shuffle(&mut shuffled, seed);
            let mut s = ProviderState::default();
            for p in &shuffled { let _ = s.apply(p); }
            prop_assert_eq!(&s.streams, &in_order.streams);
            let items = s.stream(&Stream::COMPLEMENTARY_DILIGENCE).unwrap().items.clone().unwrap();
            for key in 0..5 {
                let of_key: Vec<&StatePatch> = patches.iter().enumerate()
                    .filter(|(n, _)| events[*n].0 == key).map(|(_, p)| p).collect();
                let closed = of_key.iter().any(|p| p.value.is_final);
                let open = items.open.get(&format!("k{key}"));
                if of_key.is_empty() || closed {
                    prop_assert!(open.is_none());
                    prop_assert_eq!(items.closed.contains_key(&format!("k{key}")), closed);
                } else {
                    let latest = of_key.iter().max_by_key(|p| {
                        let item = p.value.items.as_ref().unwrap().open.values().next().unwrap();
                        (item.ord, item.event_id.clone())
                    }).unwrap();
                    prop_assert_eq!(&open.unwrap().event_id, &latest.value.event_id);
                }
            }
        }
    }

    #[test]
    fn items_stay_bounded_however_many_transfers() {
        let mut s = ProviderState::default();
        let long_key = "K".repeat(500);
        for n in 0..1000i64 {
            let at = t0() + chrono::Duration::seconds(n);
            let id = format!("{}{n:05}", "i".repeat(100));
            let fin = n % 3 == 0;
            let detail = json!({"reason": "r".repeat(600)});
            let item = Item::new("X", if fin { 3 } else { 1 }, fin, at, &id, detail);
            let key = format!("{n}{long_key}");
            let p = StatePatch {
                stream: Stream::COMPLEMENTARY_DILIGENCE,
                value: StreamValue::with_finality("X", 1, false, Finality::Latest, at, &id)
                    .tracking_ties()
                    .with_item(&key, item),
            };
            s.apply(&p).unwrap();
        }
        let v = s.stream(&Stream::COMPLEMENTARY_DILIGENCE).unwrap();
        let items = v.items.as_ref().unwrap();
        assert_eq!(items.open.len(), MAX_OPEN_ITEMS);
        assert_eq!(items.closed.len(), MAX_CLOSED_ITEMS);
        assert!(items.overflowed);
        assert!(items
            .open
            .keys()
            .all(|k| k.chars().count() <= MAX_ITEM_KEY_CHARS));
        let bytes = serde_json::to_vec(v).unwrap().len();
        assert!(bytes < 64 * 1024, "{bytes} bytes");
    }

    #[test]
    fn two_copies_of_a_state_merge_their_items_and_tie_flags() {
        // The layout migration's old and new items: each saw some of the events.
        let patch = |key: &str, status: &str, rank: u8, secs: i64, id: &str| {
            let at = t0() + chrono::Duration::seconds(secs);
            let item = Item::new(status, rank, false, at, id, Value::Null);
            StatePatch {
                stream: Stream::COMPLEMENTARY_DILIGENCE,
                value: StreamValue::with_finality(status, rank, false, Finality::Latest, at, id)
                    .tracking_ties()
                    .with_item(key, item),
            }
        };
        let (a, b, c) = (
            patch("o1", "Review", 2, 5, "a"),
            patch("o2", "Open", 1, 7, "b"),
            patch("o3", "Review", 2, 7, "c"),
        );
        let mut old = ProviderState::default();
        old.apply(&a).unwrap();
        old.apply(&b).unwrap();
        let mut new = ProviderState::default();
        new.apply(&c).unwrap();
        let mut all = ProviderState::default();
        for p in [&a, &b, &c] {
            let _ = all.apply(p);
        }
        new.merge(&old);
        assert_eq!(new.streams, all.streams);
        let v = new.stream(&Stream::COMPLEMENTARY_DILIGENCE).unwrap();
        assert_eq!(v.items.as_ref().unwrap().open.len(), 3);
        assert_eq!(v.same_second_ambiguous, Some(true));
        assert_eq!(v.flags, vec![SAME_SECOND_AMBIGUOUS.to_string()]);
    }

    #[test]
    fn the_state_shows_the_flag_and_the_open_items() {
        let at = t0();
        let item = Item::new("Review", 2, false, at, "e1", json!({"amount": 145}));
        let v = StreamValue::with_finality("Review", 2, false, Finality::Latest, at, "e1")
            .tracking_ties()
            .with_item("order-1", item);
        let mut s = ProviderState::default();
        s.streams.insert(Stream::COMPLEMENTARY_DILIGENCE, v);
        let out = status_json("c", BTreeMap::from([(Provider::Xpollens, s)]));
        let d = &out["providers"]["xpollens"]["complementaryDiligence"];
        assert_eq!(d["sameSecondAmbiguous"], false);
        assert_eq!(d["items"]["open"]["order-1"]["detail"]["amount"], 145);
        assert_eq!(d["items"]["closedCount"], 0);
        assert!(d.get("flags").is_none(), "absent when empty");
        // Serialised as the store keeps it, and back.
        let stored = serde_json::to_value(&out).unwrap();
        assert!(stored.to_string().contains("sameSecondAmbiguous"));
    }
}
