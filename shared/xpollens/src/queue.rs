//! The Xpollens fallback queue (`GET /api/v2.0/webhooks?limit=X&remove=false|true`): what a
//! page looks like and how it becomes deliveries. Pure: no I/O.
//!
//! An entry is `{"metadata": {"id", "processDate", sometimes "type", "version"}, "payload":
//! <the callback body as sent>, "response": {"pushDate", "duration", "httpStatusCode", "body"}}`
//! and Xpollens writes one entry PER DELIVERY ATTEMPT, so one `metadata.id` can appear several
//! times. [`group_page`] turns a page into one [`QueuedDelivery`] per id (and body), keeping
//! every attempt's `response` as evidence of what we answered.
//!
//! Lenient on purpose: `httpStatusCode` may be null (no answer) or `"200 (OK)"`; `type` and
//! `version` may be missing, strings or numbers; `payload` may be an object or the JSON body
//! as a string. Unknown fields are ignored. An entry without `metadata.id` is used like a
//! live callback without `Webhook-Id` (the intake derives the id from the body). An entry
//! that is not an object is not dropped: it becomes a [`QueuedDelivery`] with an
//! [`EntryDefect`] whose body is the raw entry, so the intake can record it (as a rejection)
//! before the drain removes it — the queue never wedges on it. An entry without payload (a
//! query-string or header-form callback: its data travelled outside the body) keeps its id
//! and whatever query string or headers the entry holds; with neither, the intake records it
//! as a missed callback of its type (`delivery::RawDelivery::without_payload`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// Largest page body read (100 entries of 256 KiB bodies, with room for the envelopes).
pub const MAX_PAGE_BYTES: usize = 32 * 1024 * 1024;

/// Xpollens' documented page-size limits.
pub const SANDBOX_MAX_LIMIT: u32 = 30;
/// Xpollens' documented page-size limit in production.
pub const PRODUCTION_MAX_LIMIT: u32 = 100;

/// Of an answer too large to keep, the first bytes kept (sealed with the record).
pub const OVERSIZED_PREFIX_BYTES: usize = 64 * 1024;

/// What a queue call answered: a page read whole (at most [`MAX_PAGE_BYTES`]), or an answer
/// too large to hold, of which only its size, digest and first bytes are known.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueAnswer {
    /// The page, whole.
    Page(Vec<u8>),
    /// Past the bound: what is known of the answer.
    TooLarge(Oversized),
}

/// An answer larger than [`MAX_PAGE_BYTES`], streamed through SHA-256 instead of kept.
#[derive(Clone, PartialEq)]
pub struct Oversized {
    /// Bytes received.
    pub bytes: u64,
    /// SHA-256 (hex) of the bytes received: of the whole answer when `complete`.
    pub sha256: String,
    /// Read to its end (else the connection or the time ran out first).
    pub complete: bool,
    /// The first [`OVERSIZED_PREFIX_BYTES`]: may hold personal data, never logged.
    pub prefix: Vec<u8>,
}

impl std::fmt::Debug for Oversized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oversized")
            .field("bytes", &self.bytes)
            .field("sha256", &self.sha256)
            .field("complete", &self.complete)
            .field("prefix_bytes", &self.prefix.len())
            .finish()
    }
}

impl QueueAnswer {
    /// The page, when it was read whole.
    pub fn page(&self) -> Option<&[u8]> {
        match self {
            QueueAnswer::Page(bytes) => Some(bytes),
            QueueAnswer::TooLarge(_) => None,
        }
    }

    /// An answer already in memory, as a bounded transport would have handed it over.
    pub fn bounded(bytes: Vec<u8>, max_bytes: usize) -> Self {
        if bytes.len() <= max_bytes {
            return QueueAnswer::Page(bytes);
        }
        QueueAnswer::TooLarge(Oversized {
            bytes: bytes.len() as u64,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            complete: true,
            prefix: bytes[..OVERSIZED_PREFIX_BYTES.min(bytes.len())].to_vec(),
        })
    }
}

/// The metadata of a single oversized entry, read from its first bytes: `metadata.id`,
/// `processDate` and `type` when the `metadata` object starts there (it is not parsed whole).
pub fn oversized_metadata(prefix: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Some(at) = find_key(prefix, b"\"metadata\"") else {
        return (None, None, None);
    };
    let rest = &prefix[at..];
    let Some(colon) = rest.iter().position(|b| *b == b':') else {
        return (None, None, None);
    };
    let mut values = serde_json::Deserializer::from_slice(&rest[colon + 1..]).into_iter::<Value>();
    let metadata = match values.next() {
        Some(Ok(Value::Object(m))) => m,
        _ => return (None, None, None),
    };
    (
        text(field(&metadata, "id")),
        text(field(&metadata, "processDate")),
        text(field(&metadata, "type")),
    )
}

/// The end of the first occurrence of `key` (ASCII case ignored).
fn find_key(haystack: &[u8], key: &[u8]) -> Option<usize> {
    haystack
        .windows(key.len())
        .position(|w| w.eq_ignore_ascii_case(key))
        .map(|p| p + key.len())
}

/// The page itself could not be read (not a JSON array): nothing in it can be trusted, so the
/// drain removes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The page is not a JSON array.
    #[error("queue page is not a JSON array: {0}")]
    NotAnArray(String),
    /// The page is over the byte bound.
    #[error("queue page exceeds {MAX_PAGE_BYTES} bytes")]
    TooLarge,
}

/// What one delivery attempt got as an answer, as Xpollens recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptEvidence {
    /// When Xpollens pushed (raw text, as given).
    pub push_date: Option<String>,
    /// How long the attempt took (raw: Xpollens' format is not documented).
    pub duration: Option<String>,
    /// `httpStatusCode` as written (`"200 (OK)"`, `"500"`, or absent/null = no answer).
    pub http_status_raw: Option<String>,
    /// The numeric status read from `http_status_raw`, if it has one.
    pub http_status: Option<u16>,
    /// Size of the answer body we gave.
    pub response_body_bytes: usize,
    /// The entry's `response` object exactly as Xpollens gave it (null when absent): the
    /// delivery evidence the intake keeps.
    pub raw: Value,
}

impl AttemptEvidence {
    /// True when the attempt got a 2xx: we had answered it live.
    pub fn was_accepted(&self) -> bool {
        self.http_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Why an entry cannot be used as a delivery (it is still recorded, as a rejection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryDefect {
    /// The entry is not a JSON object.
    NotAnObject,
}

impl std::fmt::Display for EntryDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntryDefect::NotAnObject => "queue entry is not a JSON object",
        })
    }
}

/// One callback as the queue holds it: the first entry's facts, every attempt's evidence.
#[derive(Clone, PartialEq)]
pub struct QueuedDelivery {
    /// `metadata.id` (the `Webhook-Id`) as written; checked by the intake like the header.
    pub webhook_id: Option<String>,
    /// `metadata.processDate` as written (parsed by the intake: its forms are several).
    pub process_date: Option<String>,
    /// `metadata.type` as text (`"4"`, `4` → `"4"`).
    pub type_hint: Option<String>,
    /// `metadata.version` as written.
    pub version: Option<String>,
    /// The callback body: the payload's exact JSON text, or the string's content when the
    /// payload is a JSON-encoded string (the raw entry when defective). May hold secrets and
    /// personal data: never logged.
    pub body: Vec<u8>,
    /// The query string the callback travelled with, if the entry keeps it (#15, #37, #01,
    /// #05 carry their data there). Not documented: looked for under the names a queue would
    /// use (`queryString`, `query`, or the query of `url`/`uri`/`requestUri`/`requestUrl`/
    /// `callbackUrl`), at the top level or in `metadata`.
    pub query: Option<String>,
    /// The HTTP headers the callback travelled with, if the entry keeps them (#36's header
    /// form): `headers` as an object or a list of `{name|key, value}`.
    pub headers: Vec<(String, String)>,
    /// The payload was null, absent or blank: the body is empty.
    pub payload_missing: bool,
    /// One element per delivery attempt, in queue order.
    pub attempts: Vec<AttemptEvidence>,
    /// Positions in the page of the entries folded into this delivery.
    pub entry_indexes: Vec<usize>,
    /// Why the entry cannot be a delivery, if it cannot.
    pub defect: Option<EntryDefect>,
}

impl std::fmt::Debug for QueuedDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedDelivery")
            .field("webhook_id", &self.webhook_id)
            .field("process_date", &self.process_date)
            .field("type_hint", &self.type_hint)
            .field("body_bytes", &self.body.len())
            .field("query_kept", &self.query.is_some())
            .field("headers_kept", &self.headers.len())
            .field("payload_missing", &self.payload_missing)
            .field("attempts", &self.attempts)
            .field("entry_indexes", &self.entry_indexes)
            .field("defect", &self.defect)
            .finish()
    }
}

impl QueuedDelivery {
    /// True when at least one attempt was answered 2xx (the live intake has it).
    pub fn answered_live(&self) -> bool {
        self.attempts.iter().any(AttemptEvidence::was_accepted)
    }
}

/// A read page: its entries (count = Y, what `remove=true&limit=Y` must remove) and the
/// deliveries they fold into.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuePage {
    /// Entries in the page.
    pub entry_count: usize,
    /// `metadata.id` of each entry in order (`None` when it has none): lets the drain check
    /// that a removal removed what was read.
    pub entry_ids: Vec<Option<String>>,
    /// The callbacks they fold into.
    pub deliveries: Vec<QueuedDelivery>,
}

/// `"200 (OK)"` → 200, `"404"` → 404, `500` → 500, `null`/`""`/`"(none)"` → None.
pub fn parse_status_code(raw: &Value) -> (Option<String>, Option<u16>) {
    match raw {
        Value::Null => (None, None),
        Value::Number(n) => (
            Some(n.to_string()),
            n.as_u64().and_then(|v| u16::try_from(v).ok()),
        ),
        Value::String(s) => {
            let digits: String = s
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let code = digits
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c));
            (Some(s.clone()), code)
        }
        other => (Some(other.to_string()), None),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Case-insensitive field lookup (`metadata`/`Metadata`, `processDate`/`ProcessDate`).
fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// An entry's top-level fields, each kept as its exact JSON text.
type RawObject = std::collections::BTreeMap<String, Box<RawValue>>;

fn raw_field<'a>(obj: &'a RawObject, name: &str) -> Option<&'a RawValue> {
    obj.get(name)
        .or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .map(|b| b.as_ref())
}

fn evidence(response: Option<&Value>) -> AttemptEvidence {
    let empty = serde_json::Map::new();
    let obj = response.and_then(Value::as_object).unwrap_or(&empty);
    let (http_status_raw, http_status) =
        parse_status_code(field(obj, "httpStatusCode").unwrap_or(&Value::Null));
    AttemptEvidence {
        push_date: text(field(obj, "pushDate")),
        duration: text(field(obj, "duration")),
        http_status_raw,
        http_status,
        response_body_bytes: match field(obj, "body") {
            None | Some(Value::Null) => 0,
            Some(Value::String(s)) => s.len(),
            Some(v) => v.to_string().len(),
        },
        raw: response.cloned().unwrap_or(Value::Null),
    }
}

/// The body a payload stands for: a string payload is the JSON body as text; anything else is
/// the exact JSON text the queue holds (so a body received live compares byte for byte).
fn payload_body(raw: &RawValue) -> Option<Vec<u8>> {
    let text = raw.get().trim();
    if text == "null" {
        return None;
    }
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).ok()?;
        return if s.trim().is_empty() {
            None
        } else {
            Some(s.into_bytes())
        };
    }
    Some(text.as_bytes().to_vec())
}

/// The query string of a URL-like text (`https://x/cb?type=15&...`, `?type=15...`), or the
/// text itself when it is already one (`type=15&...`).
fn query_of(text: &str) -> Option<String> {
    let query = match text.split_once('?') {
        Some((_, q)) => q,
        None if text.contains('=') && !text.contains('/') => text,
        None => return None,
    };
    let query = query.split('#').next().unwrap_or("").trim();
    (!query.is_empty()).then(|| query.to_string())
}

/// Where a queue entry might keep the query string a callback travelled with.
fn kept_query(entry: &RawObject, metadata: &serde_json::Map<String, Value>) -> Option<String> {
    const QUERY: [&str; 2] = ["queryString", "query"];
    const URL: [&str; 5] = ["url", "uri", "requestUri", "requestUrl", "callbackUrl"];
    let top = |name: &str| {
        raw_field(entry, name).and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
    };
    QUERY.iter().chain(URL.iter()).find_map(|name| {
        let value = field(metadata, name).cloned().or_else(|| top(name))?;
        match value {
            Value::String(t) if QUERY.contains(name) => {
                let t = t.trim().trim_start_matches('?');
                (!t.is_empty()).then(|| t.to_string())
            }
            Value::String(t) => query_of(&t),
            // A query kept as an object of parameters.
            Value::Object(params) if QUERY.contains(name) => {
                let mut q = form_urlencoded::Serializer::new(String::new());
                for (k, v) in &params {
                    if let Some(v) = text(Some(v)) {
                        q.append_pair(k, &v);
                    }
                }
                let q = q.finish();
                (!q.is_empty()).then_some(q)
            }
            _ => None,
        }
    })
}

/// Where a queue entry might keep the HTTP headers a callback travelled with: `headers` as
/// an object, or a list of `{name|key, value}`.
fn kept_headers(
    entry: &RawObject,
    metadata: &serde_json::Map<String, Value>,
) -> Vec<(String, String)> {
    let value = field(metadata, "headers").cloned().or_else(|| {
        raw_field(entry, "headers").and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
    });
    match value {
        Some(Value::Object(h)) => h
            .iter()
            .filter_map(|(k, v)| text(Some(v)).map(|v| (k.clone(), v)))
            .collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|h| {
                let name = text(field(h, "name").or_else(|| field(h, "key")))?;
                Some((name, text(field(h, "value"))?))
            })
            .collect(),
        _ => vec![],
    }
}

/// Reads one entry; never fails (a defect is carried instead).
fn read_entry(index: usize, raw: &RawValue) -> QueuedDelivery {
    let Ok(raw_obj) = serde_json::from_str::<RawObject>(raw.get()) else {
        return QueuedDelivery {
            webhook_id: None,
            process_date: None,
            type_hint: None,
            version: None,
            body: raw.get().as_bytes().to_vec(),
            query: None,
            headers: vec![],
            payload_missing: false,
            attempts: vec![],
            entry_indexes: vec![index],
            defect: Some(EntryDefect::NotAnObject),
        };
    };
    let metadata: serde_json::Map<String, Value> = raw_field(&raw_obj, "metadata")
        .and_then(|m| serde_json::from_str(m.get()).ok())
        .unwrap_or_default();
    let response: Option<Value> =
        raw_field(&raw_obj, "response").and_then(|r| serde_json::from_str(r.get()).ok());
    let body = raw_field(&raw_obj, "payload").and_then(payload_body);
    QueuedDelivery {
        webhook_id: text(field(&metadata, "id")),
        process_date: text(field(&metadata, "processDate")),
        type_hint: text(field(&metadata, "type")),
        version: text(field(&metadata, "version")),
        payload_missing: body.is_none(),
        body: body.unwrap_or_default(),
        query: kept_query(&raw_obj, &metadata),
        headers: kept_headers(&raw_obj, &metadata),
        attempts: vec![evidence(response.as_ref())],
        entry_indexes: vec![index],
        defect: None,
    }
}

/// Parses a page and folds repeated ids: one delivery per (`metadata.id`, body), in order of
/// first appearance, with every attempt's evidence. Two entries with one id and different
/// bodies stay two deliveries (the intake answers the second `Conflict` and records it).
pub fn group_page(page: &[u8]) -> Result<QueuePage, PageError> {
    if page.len() > MAX_PAGE_BYTES {
        return Err(PageError::TooLarge);
    }
    let entries: Vec<Box<RawValue>> =
        serde_json::from_slice(page).map_err(|e| PageError::NotAnArray(e.to_string()))?;
    let mut deliveries: Vec<QueuedDelivery> = Vec::new();
    let mut entry_ids = Vec::with_capacity(entries.len());
    for (index, raw) in entries.iter().enumerate() {
        let d = read_entry(index, raw);
        entry_ids.push(d.webhook_id.clone());
        let same = deliveries.iter_mut().find(|seen| {
            seen.defect.is_none()
                && d.defect.is_none()
                && seen.webhook_id == d.webhook_id
                && seen.body == d.body
        });
        match same {
            Some(seen) => {
                seen.attempts.extend(d.attempts);
                seen.entry_indexes.push(index);
                if seen.process_date.is_none() {
                    seen.process_date = d.process_date;
                }
                if seen.type_hint.is_none() {
                    seen.type_hint = d.type_hint;
                }
            }
            None => deliveries.push(d),
        }
    }
    Ok(QueuePage {
        entry_count: entries.len(),
        entry_ids,
        deliveries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: &str, payload: Value, status: Value) -> Value {
        json!({
            "metadata": {"id": id, "processDate": "2023-12-18T13:05:14.9053587+00:00", "type": "4", "version": "2"},
            "payload": payload,
            "response": {"pushDate": "2023-12-18T13:05:15.1+00:00", "duration": "00:00:00.2", "httpStatusCode": status, "body": "{}"}
        })
    }

    #[test]
    fn status_codes_are_read_leniently() {
        assert_eq!(
            parse_status_code(&json!("200 (OK)")),
            (Some("200 (OK)".into()), Some(200))
        );
        assert_eq!(parse_status_code(&json!("503")).1, Some(503));
        assert_eq!(parse_status_code(&json!(404)).1, Some(404));
        assert_eq!(parse_status_code(&Value::Null), (None, None));
        assert_eq!(parse_status_code(&json!("")).1, None);
        assert_eq!(parse_status_code(&json!("Timeout")).1, None);
        assert_eq!(parse_status_code(&json!("999 (?)")).1, None);
    }

    #[test]
    fn repeated_ids_fold_into_one_delivery_keeping_every_attempt() {
        let body = json!({"type": "4", "status": "Pending", "appUserId": "u1"});
        let page = json!([
            entry("a", body.clone(), Value::Null),
            entry("b", json!({"type": "34"}), json!("202 (Accepted)")),
            entry("a", body.clone(), json!("500 (Internal Server Error)")),
            entry("a", body, json!("200 (OK)")),
        ]);
        let p = group_page(page.to_string().as_bytes()).unwrap();
        assert_eq!(p.entry_count, 4);
        assert_eq!(p.deliveries.len(), 2);
        let a = &p.deliveries[0];
        assert_eq!(a.webhook_id.as_deref(), Some("a"));
        assert_eq!(a.entry_indexes, [0, 2, 3]);
        let codes: Vec<_> = a.attempts.iter().map(|e| e.http_status).collect();
        assert_eq!(codes, [None, Some(500), Some(200)]);
        assert!(a.answered_live());
        assert_eq!(a.attempts[1].response_body_bytes, 2);
        assert_eq!(
            a.attempts[1].raw["httpStatusCode"],
            "500 (Internal Server Error)"
        );
        assert_eq!(p.deliveries[1].entry_indexes, [1]);
        assert_eq!(
            p.entry_ids,
            [
                Some("a".into()),
                Some("b".into()),
                Some("a".into()),
                Some("a".into())
            ]
        );
    }

    #[test]
    fn payload_keeps_the_exact_json_text_or_unwraps_a_string() {
        let raw = r#"[{"metadata":{"id":"x","processDate":"2024-09-24T22:10:24"},"payload":{"type":"4" ,"appUserId":"u"},"response":{"httpStatusCode":null}},
                     {"metadata":{"id":"y"},"payload":"{\"type\":\"36\",\"Header\":{}}","response":null}]"#;
        let p = group_page(raw.as_bytes()).unwrap();
        assert_eq!(p.deliveries[0].body, br#"{"type":"4" ,"appUserId":"u"}"#);
        assert_eq!(
            p.deliveries[0].process_date.as_deref(),
            Some("2024-09-24T22:10:24")
        );
        assert_eq!(p.deliveries[0].type_hint, None);
        assert_eq!(p.deliveries[1].body, br#"{"type":"36","Header":{}}"#);
        assert_eq!(p.deliveries[1].process_date, None);
        assert!(!p.deliveries[1].answered_live());
        assert_eq!(p.deliveries[1].attempts[0].http_status_raw, None);
    }

    #[test]
    fn numeric_type_and_pascal_case_keys_are_accepted() {
        let raw = r#"[{"Metadata":{"Id":"z","ProcessDate":"2023-12-18T13:05:14.9053587","Type":35,"Version":1},"Payload":{"AppUserId":"u"},"Response":{"HttpStatusCode":"401 (Unauthorized)"}}]"#;
        let d = &group_page(raw.as_bytes()).unwrap().deliveries[0];
        assert_eq!(d.webhook_id.as_deref(), Some("z"));
        assert_eq!(d.type_hint.as_deref(), Some("35"));
        assert_eq!(d.version.as_deref(), Some("1"));
        assert_eq!(d.attempts[0].http_status, Some(401));
        assert!(d.defect.is_none());
    }

    #[test]
    fn unreadable_entries_are_carried_with_a_defect_not_dropped() {
        let raw = r#"[42, {"metadata":{},"payload":{"type":"16"}}, {"metadata":{"id":"p"},"payload":null}, {"metadata":{"id":"q"},"payload":{}}]"#;
        let p = group_page(raw.as_bytes()).unwrap();
        assert_eq!(p.entry_count, 4);
        let defects: Vec<_> = p.deliveries.iter().map(|d| d.defect.clone()).collect();
        assert_eq!(defects, [Some(EntryDefect::NotAnObject), None, None, None]);
        assert_eq!(p.deliveries[0].body, b"42");
        assert_eq!(p.deliveries[1].webhook_id, None, "the intake derives it");
        assert_eq!(p.deliveries[1].body, br#"{"type":"16"}"#);
        // No payload: its id kept, the body empty, said so.
        assert_eq!(p.deliveries[2].webhook_id.as_deref(), Some("p"));
        assert!(p.deliveries[2].body.is_empty() && p.deliveries[2].payload_missing);
        assert!(!p.deliveries[3].payload_missing);
        assert_eq!(p.entry_ids[0], None);
    }

    #[test]
    fn a_query_string_or_headers_the_entry_keeps_are_read() {
        let raw = r#"[
            {"metadata":{"id":"a","type":"15"},"payload":"","queryString":"?type=15&userstatus=2&userid=u1"},
            {"metadata":{"id":"b","url":"https://partner/cb?type=15&userstatus=1&userid=u2"},"payload":null},
            {"metadata":{"id":"c"},"payload":"","query":{"type":"15","userstatus":2,"userid":"u3"}},
            {"metadata":{"id":"d","type":36},"payload":{"operation":"x"},
             "headers":[{"name":"AppUserId","value":"u4"},{"key":"AuthenticationId","value":"a4"}]},
            {"metadata":{"id":"e"},"payload":"","Headers":{"AppUserId":"u5","Status":"failed"}},
            {"metadata":{"id":"f","url":"https://partner/cb"},"payload":""}
        ]"#;
        let p = group_page(raw.as_bytes()).unwrap();
        let q: Vec<Option<&str>> = p.deliveries.iter().map(|d| d.query.as_deref()).collect();
        assert_eq!(
            q,
            [
                Some("type=15&userstatus=2&userid=u1"),
                Some("type=15&userstatus=1&userid=u2"),
                Some("type=15&userid=u3&userstatus=2"),
                None,
                None,
                None
            ]
        );
        assert_eq!(
            p.deliveries[3].headers,
            [
                ("AppUserId".to_string(), "u4".to_string()),
                ("AuthenticationId".to_string(), "a4".to_string())
            ]
        );
        assert_eq!(p.deliveries[4].headers.len(), 2);
        assert!(p.deliveries[5].payload_missing && p.deliveries[5].headers.is_empty());
    }

    #[test]
    fn an_oversized_entry_tells_its_metadata_from_its_first_bytes() {
        let huge = format!(
            r#"[{{"metadata": {{"id":"big-1","processDate":"2026-11-26T13:05:14+00:00","type":"4"}},"payload":{{"pad":"{}"}}}}]"#,
            "x".repeat(OVERSIZED_PREFIX_BYTES * 2)
        );
        let QueueAnswer::TooLarge(o) = QueueAnswer::bounded(huge.clone().into_bytes(), 1024) else {
            panic!()
        };
        assert_eq!(o.bytes, huge.len() as u64);
        assert!(o.complete && o.prefix.len() == OVERSIZED_PREFIX_BYTES);
        assert_eq!(o.sha256, kyc_core::intake::sha256_hex(huge.as_bytes()));
        assert!(!format!("{o:?}").contains("xxxx"));
        assert_eq!(
            oversized_metadata(&o.prefix),
            (
                Some("big-1".into()),
                Some("2026-11-26T13:05:14+00:00".into()),
                Some("4".into())
            )
        );
        assert_eq!(
            oversized_metadata(br#"[{"payload":{"pad":"xx"#),
            (None, None, None)
        );
        assert_eq!(
            QueueAnswer::bounded(b"[]".to_vec(), 1024),
            QueueAnswer::Page(b"[]".to_vec())
        );
    }

    #[test]
    fn same_id_with_another_body_stays_a_separate_delivery() {
        let page = json!([
            entry("a", json!({"status": "Pending"}), Value::Null),
            entry("a", json!({"status": "Complete"}), Value::Null),
        ]);
        let p = group_page(page.to_string().as_bytes()).unwrap();
        assert_eq!(p.deliveries.len(), 2);
    }

    #[test]
    fn a_page_that_is_not_an_array_is_an_error() {
        assert!(matches!(
            group_page(b"{\"error\":\"x\"}"),
            Err(PageError::NotAnArray(_))
        ));
        assert_eq!(group_page(b"[]").unwrap().entry_count, 0);
    }

    #[test]
    fn debug_never_shows_the_body() {
        let page = json!([entry("a", json!({"token": "s3cr3t"}), Value::Null)]);
        let p = group_page(page.to_string().as_bytes()).unwrap();
        assert!(!format!("{p:?}").contains("s3cr3t"));
    }
}
