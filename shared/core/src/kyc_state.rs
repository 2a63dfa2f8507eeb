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

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("stream name must be 1 to 200 visible characters and not a reserved attribute")]
pub struct InvalidStream;

impl Stream {
    pub const KYC_DEMAND: Stream = Stream(Cow::Borrowed("kycDemand"));
    pub const USER_RECORD: Stream = Stream(Cow::Borrowed("userRecord"));
    pub const SCA_ENROLMENT: Stream = Stream(Cow::Borrowed("scaEnrolment"));
    pub const SCA_RESULT: Stream = Stream(Cow::Borrowed("scaResult"));
    pub const KYC_WEBVIEW: Stream = Stream(Cow::Borrowed("kycWebview"));
    pub const DILIGENCE_REUPLOAD: Stream = Stream(Cow::Borrowed("diligenceReupload"));
    /// Xpollens callback 15: whether the customer is frozen.
    pub const USER_FREEZE: Stream = Stream(Cow::Borrowed("userFreeze"));

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
    pub status: String,
    pub rank: u8,
    #[serde(rename = "final")]
    pub is_final: bool,
    /// Provider time of the event (received time when the provider gives none).
    pub at: DateTime<Utc>,
    pub ord: i64,
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
}

impl StreamValue {
    /// A value of a [`Finality::Sticky`] stream.
    pub fn new(status: &str, rank: u8, is_final: bool, at: DateTime<Utc>, event_id: &str) -> Self {
        Self::with_finality(status, rank, is_final, Finality::Sticky, at, event_id)
    }

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
        }
    }
}

/// The change one event proposes to one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StatePatch {
    pub stream: Stream,
    pub value: StreamValue,
}

/// Why an event was recorded without changing the current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SkipReason {
    /// The current state is final and was reached no later than this event.
    FinalSticky { current: String },
    /// The current state comes from a newer event.
    Stale {
        current: String,
        current_at: DateTime<Utc>,
    },
    /// Same status at the same instant: nothing new.
    NotNewer { current: String },
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

/// A provider's state for one customer: what the store keeps under `STATE#<provider>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderState {
    pub streams: BTreeMap<Stream, StreamValue>,
}

impl ProviderState {
    /// Applies `patch` if the rules allow it. Pure twin of the store's conditional update.
    pub fn apply(&mut self, patch: &StatePatch) -> Result<(), SkipReason> {
        check(self.streams.get(&patch.stream), patch)?;
        self.streams
            .insert(patch.stream.clone(), patch.value.clone());
        Ok(())
    }

    pub fn status(&self, stream: Stream) -> Option<&str> {
        self.streams.get(&stream).map(|v| v.status.as_str())
    }

    pub fn stream(&self, stream: &Stream) -> Option<&StreamValue> {
        self.streams.get(stream)
    }

    /// Takes, stream by stream, whichever value the state rules rank higher (the greater
    /// `ord`, as [`check`] decides): two copies of one customer's state — the layout migration's
    /// old and new items — merge to the state either order of their events would have reached.
    pub fn merge(&mut self, other: &ProviderState) {
        for (stream, value) in &other.streams {
            let newer = self
                .streams
                .get(stream)
                .is_none_or(|cur| cur.ord < value.ord);
            if newer {
                self.streams.insert(stream.clone(), value.clone());
            }
        }
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
                    (
                        stream.attribute().to_string(),
                        json!({"status": v.status, "final": v.is_final, "at": v.at, "eventId": v.event_id,
                               "detail": v.detail, "sealedSecrets": sealed}),
                    )
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
}
