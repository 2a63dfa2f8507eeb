//! Every DynamoDB key the product builds, in one place (the design record is
//! `docs/table-design.md`).
//!
//! Whoever writes an item owns its key's prefix, so IAM's `dynamodb:LeadingKeys` (which sees only
//! the partition key) can confine each role to its own area: `XP#`, `TS#`, `GP#` for the three
//! providers' events, history and states, `C#` for the customer level (decision, lifecycle),
//! `A#` for aliases, `T#` for erasure tombstones.
//!
//! Ids that providers send are never refused; they are [`escape_id`]d where they enter a key, so
//! no id can hold a separator, look like another customer's prefix, or break DynamoDB's key
//! limits.

use crate::intake::Provider;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// An escaped id longer than this is replaced by its digest (`%%<sha256 hex>`): partition keys
/// stop at 2,048 bytes and sort keys at 1,024, and a provider may send ids of any length.
pub const MAX_ESCAPED_ID_BYTES: usize = 512;

/// The marker of a digest-form id. Escaping never produces `%%` (a `%` is always followed by
/// two hex digits), so a digest form and an escaped form never meet.
const DIGEST_MARK: &str = "%%";

/// The separator between key parts. Escaped ids never contain it.
pub const SEP: char = '#';

/// The key form of an id: visible ASCII other than `#` and `%` as is, every other byte as
/// `%XX`; the digest form when that is longer than [`MAX_ESCAPED_ID_BYTES`].
pub fn escape_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_graphic() && b != b'#' && b != b'%' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0x0f));
        }
    }
    if out.len() > MAX_ESCAPED_ID_BYTES {
        return format!(
            "{DIGEST_MARK}{}",
            hex::encode(Sha256::digest(id.as_bytes()))
        );
    }
    out
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16)
        .expect("a nibble")
        .to_ascii_uppercase()
}

/// The id an escaped key part stands for; `None` for the digest form (the item's own
/// `customerId`/`eventId` attribute holds the id) or for text [`escape_id`] cannot produce.
pub fn unescape_id(key_part: &str) -> Option<String> {
    if key_part.starts_with(DIGEST_MARK) {
        return None;
    }
    let bytes = key_part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = key_part.get(i + 1..i + 3)?;
                if !hex
                    .bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
                {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'#' => return None,
            b if b.is_ascii_graphic() => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    let id = String::from_utf8(out).ok()?;
    // Only the canonical escape of an id is a key part (`%41` is not `A`).
    (escape_id(&id) == key_part).then_some(id)
}

/// The longest customer id (in characters) the bank's own HTTP calls take (the read API, GoPay
/// consents): far above any id a provider sends (Xpollens: 128), within API Gateway's URL limits
/// once percent-encoded. Provider intake takes any non-empty id (keys use the digest form past
/// [`MAX_ESCAPED_ID_BYTES`]).
pub const MAX_CUSTOMER_ID_CHARS: usize = 1024;

/// The one customer-id rule of every entry point: any non-empty text up to
/// [`MAX_CUSTOMER_ID_CHARS`] characters — `#`, `%`, spaces and non-ASCII included, since a
/// provider may send them and the bank must be able to read what was stored. Ids are escaped
/// where they enter a key, never refused for their characters.
pub fn valid_customer_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_CUSTOMER_ID_CHARS
}

/// The provider's own prefix: the first part of every key it writes.
pub fn provider_prefix(provider: Provider) -> &'static str {
    match provider {
        Provider::Xpollens => "XP",
        Provider::TrustSign => "TS",
        Provider::Gopay => "GP",
    }
}

/// The provider whose prefix a partition key starts with.
pub fn provider_of_partition(pk: &str) -> Option<Provider> {
    let prefix = pk.split(SEP).next()?;
    Provider::ALL
        .into_iter()
        .find(|p| provider_prefix(*p) == prefix)
}

/// Fixed-width UTC time with microseconds: keys sort in time order.
/// `%Y-%m-%dT%H:%M:%S%.6fZ`, written digit by digit (every event writes a few of these on the
/// hot path; chrono's formatter parses its pattern at each call). Years outside 0..=9999 and
/// leap seconds, which no event has, take chrono's path (the same text: tested).
pub fn key_time(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    }
    let mut out = String::with_capacity(27);
    push_digits(&mut out, year as u32, 4);
    out.push('-');
    push_digits(&mut out, t.month(), 2);
    out.push('-');
    push_digits(&mut out, t.day(), 2);
    out.push('T');
    push_digits(&mut out, t.hour(), 2);
    out.push(':');
    push_digits(&mut out, t.minute(), 2);
    out.push(':');
    push_digits(&mut out, t.second(), 2);
    out.push('.');
    push_digits(&mut out, nanos / 1000, 6);
    out.push('Z');
    out
}

/// `value` in exactly `width` decimal digits (zero-padded; `value < 10^width`).
fn push_digits(out: &mut String, value: u32, width: u32) {
    for i in (0..width).rev() {
        out.push(char::from(b'0' + (value / 10u32.pow(i) % 10) as u8));
    }
}

/// An event item: `<P>#E#<eventId>`, sort key [`EVENT_SK`].
pub fn event_pk(provider: Provider, event_id: &str) -> String {
    format!("{}#E#{}", provider_prefix(provider), escape_id(event_id))
}
/// The sort key of an event item.
pub const EVENT_SK: &str = "EVENT";

/// A customer's partition in a provider's area (history, state, GoPay link): `<P>#C#<id>`.
pub fn customer_pk(provider: Provider, customer: &str) -> String {
    format!("{}#C#{}", provider_prefix(provider), escape_id(customer))
}

/// The customer a provider-area customer partition belongs to, and its provider; `None` for
/// any other key or a digest-form id.
pub fn parse_customer_pk(pk: &str) -> Option<(Provider, String)> {
    let provider = provider_of_partition(pk)?;
    let rest = pk
        .strip_prefix(provider_prefix(provider))?
        .strip_prefix("#C#")?;
    Some((provider, unescape_id(rest)?))
}

/// The provider state item's sort key, in the customer's partition.
pub const STATE_SK: &str = "STATE";
/// Prefix of history entries' sort keys.
pub const HISTORY_PREFIX: &str = "HIST#";

/// A history entry's sort key: received time then event id (the partition names the provider).
pub fn history_sk(received_at: DateTime<Utc>, event_id: &str) -> String {
    format!(
        "{HISTORY_PREFIX}{}#{}",
        key_time(received_at),
        escape_id(event_id)
    )
}

/// History of events naming no customer: one partition per provider and day.
pub fn unassigned_pk(provider: Provider, received_at: DateTime<Utc>) -> String {
    format!(
        "{}#U#{}",
        provider_prefix(provider),
        received_at.format("%Y-%m-%d")
    )
}

/// Refused deliveries: one partition per provider and day.
pub fn rejection_pk(provider: Provider, received_at: DateTime<Utc>) -> String {
    format!(
        "{}#R#{}",
        provider_prefix(provider),
        received_at.format("%Y-%m-%d")
    )
}

/// The sort key of a rejection in its day's partition: received time, then the body's digest.
pub fn rejection_sk(received_at: DateTime<Utc>, body_sha256: &str) -> String {
    format!("{}#{}", key_time(received_at), body_sha256)
}

/// Shards of the hour index every history entry is in (`GSI1PK = HOUR#<yyyy-mm-ddTHH>#<shard>`,
/// for the hourly seal): a burst of entries in one hour spreads over this many index partitions.
pub const HOUR_SHARDS: u8 = 16;

/// The hour-index keys (`GSI1PK`, `GSI1SK`) of a history entry at `pk`/`sk`.
pub fn hour_index_keys(pk: &str, sk: &str, received_at: DateTime<Utc>) -> (String, String) {
    let digest = Sha256::digest(format!("{pk}\n{sk}").as_bytes());
    let shard = digest[0] % HOUR_SHARDS;
    let time = key_time(received_at);
    // `%Y-%m-%dT%H`: the start of the fixed-width key time.
    let hour = match time.get(..13) {
        Some(hour) if time.len() == 27 => hour.to_string(),
        _ => received_at.format("%Y-%m-%dT%H").to_string(),
    };
    (format!("HOUR#{hour}#{shard:02}"), time)
}

/// The GoPay link (customer → client profile id), in the customer's GoPay partition.
pub const GOPAY_LINK_SK: &str = "LINK#PROFILE";

/// A place in a customer's history merged across providers (`HistoryEntry::position`): the
/// read API's cursor, validated before any query uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPosition {
    /// The received time as keys write it ([`key_time`]).
    pub time: String,
    /// The provider of the entry.
    pub provider: Provider,
    /// The event id, escaped as keys write it.
    pub escaped_event_id: String,
}

impl HistoryPosition {
    /// Reads `HIST#<time>#<provider>#<escaped id>`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(HISTORY_PREFIX)?;
        let (time, rest) = rest.split_once(SEP)?;
        let (provider, id) = rest.split_once(SEP)?;
        let time_ok =
            time.len() == 27 && DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z');
        let id_ok = !id.is_empty()
            && id.len() <= MAX_ESCAPED_ID_BYTES
            && id.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
        if !(time_ok && id_ok) {
            return None;
        }
        Some(Self {
            time: time.to_string(),
            provider: Provider::parse(provider)?,
            escaped_event_id: id.to_string(),
        })
    }

    /// The lowest history sort key of `provider`'s partition that can come after this
    /// position, for `SK BETWEEN <it> AND` [`HISTORY_END`]: entries of the same time sort by
    /// provider, so a provider sorting before this one starts after this time, one after it at
    /// this time, and this provider after this entry (escaped ids are visible ASCII, whose
    /// lowest character is `!`).
    pub fn lower_bound_in(&self, provider: Provider) -> String {
        let t = &self.time;
        match provider.as_str().cmp(self.provider.as_str()) {
            std::cmp::Ordering::Less => format!("{HISTORY_PREFIX}{t}$"),
            std::cmp::Ordering::Greater => format!("{HISTORY_PREFIX}{t}"),
            std::cmp::Ordering::Equal => {
                format!("{HISTORY_PREFIX}{t}#{}!", self.escaped_event_id)
            }
        }
    }
}

/// Above every history sort key (`$` follows `#`).
pub const HISTORY_END: &str = "HIST$";

/// The customer level (decision, lifecycle, bank history): written only by the decision and
/// lifecycle roles.
pub fn customer_area_pk(customer: &str) -> String {
    format!("C#{}", escape_id(customer))
}

/// Sort keys of the customer level's single items (its history uses [`history_sk`]).
pub const DECISION_SK: &str = "DECISION";
/// The lifecycle item's sort key.
pub const LIFECYCLE_SK: &str = "LIFECYCLE";
/// The legal hold's sort key.
pub const HOLD_SK: &str = "HOLD";

/// Shards of the expiry index (`GSI1PK = EXPIRY#<shard>`): many decisions expiring at the
/// same minute spread over this many index partitions; the sweep queries each.
pub const EXPIRY_SHARDS: u8 = 8;

/// The expiry-index keys (`GSI1PK`, `GSI1SK`) of a decision valid until `valid_until`.
pub fn expiry_index_keys(customer: &str, valid_until: DateTime<Utc>) -> (String, String) {
    let escaped = escape_id(customer);
    let shard = Sha256::digest(escaped.as_bytes())[0] % EXPIRY_SHARDS;
    (
        format!("EXPIRY#{shard}"),
        format!("{}#{escaped}", key_time(valid_until)),
    )
}

/// The inactivity-index keys (`GSI1PK`, `GSI1SK`) of the decision of an applicant who was
/// never verified: `INACTIVE#<shard>` / `<last activity>#<escaped customer>` (the lifecycle
/// finds applicants inactive for long through it, never by a scan).
pub fn inactive_index_keys(customer: &str, last_activity: DateTime<Utc>) -> (String, String) {
    let escaped = escape_id(customer);
    let shard = Sha256::digest(escaped.as_bytes())[0] % DELETE_SHARDS;
    (
        format!("INACTIVE#{shard}"),
        format!("{}#{escaped}", key_time(last_activity)),
    )
}

/// Shards of the due-for-deletion index (`GSI1PK = DELETE#<shard>`), as for expiries.
pub const DELETE_SHARDS: u8 = 8;

/// The due-index keys (`GSI1PK`, `GSI1SK`) of a customer's lifecycle item: `<deleteAfter>#
/// <tag>#<escaped customer>`, the tag (no `#`) carrying what the retention report counts
/// without reading the item (outcome, providers).
pub fn delete_index_keys(
    customer: &str,
    delete_after: DateTime<Utc>,
    tag: &str,
) -> (String, String) {
    debug_assert!(!tag.contains(SEP));
    let escaped = escape_id(customer);
    let shard = Sha256::digest(escaped.as_bytes())[0] % DELETE_SHARDS;
    (
        format!("DELETE#{shard}"),
        format!("{}#{tag}#{escaped}", key_time(delete_after)),
    )
}

/// A due-index sort key → (deleteAfter as written, tag, escaped customer).
pub fn parse_delete_index_sk(sk: &str) -> Option<(&str, &str, &str)> {
    let mut parts = sk.splitn(3, SEP);
    Some((parts.next()?, parts.next()?, parts.next()?))
}

/// A provider id the bank has aliased to one of its customers (`kyc customer alias`).
pub fn alias_pk(provider: Provider, provider_id: &str) -> String {
    format!("A#{}#{}", provider_prefix(provider), escape_id(provider_id))
}
/// The sort key of an alias item.
pub const ALIAS_SK: &str = "ALIAS";

/// The bank side of an alias: `C#<customer>` / `ALIAS#<P>` (sorts before `DECISION`, so one
/// query from `ALIAS#` to the end of the history reads aliases, decision and bank actions).
pub fn customer_alias_sk(provider: Provider) -> String {
    format!("{CUSTOMER_ALIAS_PREFIX}{}", provider_prefix(provider))
}
/// The prefix of the bank side's alias sort keys.
pub const CUSTOMER_ALIAS_PREFIX: &str = "ALIAS#";

/// An erasure tombstone in a provider's area: `<P>#T#<keyed name of the subject>`
/// (`crate::erasure`).
pub fn tombstone_pk(provider: Provider, keyed_name: &str) -> String {
    format!("{}#T#{keyed_name}", provider_prefix(provider))
}
/// The sort key of an erasure tombstone.
pub const TOMBSTONE_SK: &str = "TOMBSTONE";

/// Records of what the lifecycle deleted, one partition per day (for `kyc verify`).
pub fn deletion_record_pk(at: DateTime<Utc>) -> String {
    format!("D#{}", at.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The hand-written key time is chrono's `%Y-%m-%dT%H:%M:%S%.6fZ`, and the hour index
        /// chrono's `%Y-%m-%dT%H`, for any instant (leap seconds and far years included).
        #[test]
        fn key_times_are_chronos_format(
            secs in -62_000_000_000i64..300_000_000_000i64,
            nanos in 0u32..2_000_000_000u32,
        ) {
            if let Some(t) = DateTime::<Utc>::from_timestamp(secs, nanos) {
                prop_assert_eq!(key_time(t), t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
                let (hour, time) = hour_index_keys("P", "S", t);
                prop_assert_eq!(time, key_time(t));
                let expected = format!("HOUR#{}#", t.format("%Y-%m-%dT%H"));
                prop_assert!(hour.starts_with(&expected), "{} {}", hour, expected);
            }
        }
    }

    #[test]
    fn the_delete_index_keeps_time_order_tag_and_id() {
        let t = DateTime::parse_from_rfc3339("2031-03-03T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (pk, sk) = delete_index_keys("a#b", t, "customer.XP+GP");
        assert!(pk.starts_with("DELETE#"));
        assert_eq!(
            parse_delete_index_sk(&sk),
            Some(("2031-03-03T00:00:00.000000Z", "customer.XP+GP", "a%23b"))
        );
        assert!(
            sk < format!("{}$", key_time(t)),
            "found by a `< <time>$` query"
        );
    }

    #[test]
    fn ids_seen_in_practice_are_kept_as_they_are() {
        for id in [
            "demo-alice",
            "4711",
            "3a0a2870-f188-46e5-a6f0-f55b38565d7b",
            "a.b_c~d",
        ] {
            assert_eq!(escape_id(id), id);
            assert_eq!(unescape_id(id).as_deref(), Some(id));
        }
    }

    #[test]
    fn separators_spaces_and_text_are_escaped() {
        assert_eq!(escape_id("h5#STATE#gopay"), "h5%23STATE%23gopay");
        assert_eq!(escape_id("100%"), "100%25");
        assert_eq!(escape_id("Zoé Dupont"), "Zo%C3%A9%20Dupont");
        assert_eq!(escape_id("a\nb"), "a%0Ab");
        assert_eq!(
            customer_pk(Provider::Xpollens, "h5#STATE#gopay"),
            "XP#C#h5%23STATE%23gopay"
        );
    }

    #[test]
    fn a_long_id_becomes_its_digest() {
        let long = "x".repeat(MAX_ESCAPED_ID_BYTES + 1);
        let key = escape_id(&long);
        assert!(key.starts_with("%%") && key.len() == 2 + 64, "{key}");
        assert_eq!(unescape_id(&key), None);
        // Exactly at the bound stays readable.
        let edge = "y".repeat(MAX_ESCAPED_ID_BYTES);
        assert_eq!(escape_id(&edge), edge);
        // Escaping can push a shorter id over the bound.
        let hashes = "#".repeat(MAX_ESCAPED_ID_BYTES / 3 + 1);
        assert!(escape_id(&hashes).starts_with("%%"));
    }

    #[test]
    fn only_canonical_escapes_read_back() {
        assert_eq!(unescape_id("%41"), None, "A is never escaped");
        assert_eq!(unescape_id("%c3%a9"), None, "upper-case hex only");
        assert_eq!(unescape_id("a#b"), None);
        assert_eq!(unescape_id("%2"), None);
        assert_eq!(unescape_id("%FF"), None, "not UTF-8");
    }

    #[test]
    fn customer_partitions_name_their_provider_and_customer() {
        for p in [Provider::Xpollens, Provider::TrustSign, Provider::Gopay] {
            let pk = customer_pk(p, "a b#c");
            assert_eq!(parse_customer_pk(&pk), Some((p, "a b#c".to_string())));
            assert_eq!(provider_of_partition(&event_pk(p, "e#1")), Some(p));
        }
        assert_eq!(parse_customer_pk("C#alice"), None);
        assert_eq!(parse_customer_pk("XP#E#alice"), None);
        assert_eq!(parse_customer_pk("CUSTOMER#alice"), None);
    }

    #[test]
    fn positions_parse_and_bound_each_partition() {
        let p =
            HistoryPosition::parse("HIST#2026-11-01T09:00:00.000000Z#trust_sign#s3:ab").unwrap();
        assert_eq!(p.provider, Provider::TrustSign);
        // gopay < trust_sign < xpollens, as the single partition of earlier releases sorted.
        assert_eq!(
            p.lower_bound_in(Provider::Gopay),
            "HIST#2026-11-01T09:00:00.000000Z$"
        );
        assert_eq!(
            p.lower_bound_in(Provider::Xpollens),
            "HIST#2026-11-01T09:00:00.000000Z"
        );
        assert_eq!(
            p.lower_bound_in(Provider::TrustSign),
            "HIST#2026-11-01T09:00:00.000000Z#s3:ab!"
        );
        for bad in [
            "",
            "nope",
            "HIST#2026-11-01T09:00:00Z#xpollens#a",
            "HIST#2026-11-01T09:00:00.000000Z#nobody#a",
            "HIST#2026-11-01T09:00:00.000000Z#xpollens#",
            "HIST#2026-11-01T09:00:00.000000Z#xpollens#a b",
            "HIST#2026-11-01T09:00:00.000000Z#xpollens#a#b",
        ] {
            assert_eq!(HistoryPosition::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_customer_id_rule_takes_what_providers_send() {
        for id in ["a#b", "100%", "Zoé", " x ", "h5#STATE#gopay"] {
            assert!(valid_customer_id(id), "{id}");
        }
        assert!(!valid_customer_id(""));
        assert!(valid_customer_id(&"é".repeat(MAX_CUSTOMER_ID_CHARS)));
        assert!(!valid_customer_id(&"x".repeat(MAX_CUSTOMER_ID_CHARS + 1)));
    }

    proptest! {
        #[test]
        fn a_position_orders_as_the_entries_do(
            t1 in 0i64..1_000_000, t2 in 0i64..1_000_000,
            p1 in 0usize..3, p2 in 0usize..3,
            e1 in "[ -~]{1,12}", e2 in "[ -~]{1,12}",
        ) {
            // The entry at (t2, p2, e2) comes after position (t1, p1, e1) exactly when it is at or
            // above the lower bound of its partition.
            let at = |t: i64| DateTime::from_timestamp_micros(1_800_000_000_000_000 + t).unwrap();
            let (p1, p2) = (Provider::ALL[p1], Provider::ALL[p2]);
            let pos = |t, p: Provider, e: &str| format!("HIST#{}#{}#{}", key_time(at(t)), p.as_str(), escape_id(e));
            let cursor = HistoryPosition::parse(&pos(t1, p1, &e1)).unwrap();
            let sk = history_sk(at(t2), &e2);
            let after = pos(t2, p2, &e2) > pos(t1, p1, &e1);
            let in_range = sk.as_str() >= cursor.lower_bound_in(p2).as_str() && sk.as_str() <= HISTORY_END;
            prop_assert_eq!(after, in_range);
        }

        #[test]
        fn every_id_round_trips_or_is_a_digest(id in any::<String>()) {
            let key = escape_id(&id);
            prop_assert!(!key.contains(SEP));
            prop_assert!(key.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert!(key.len() <= MAX_ESCAPED_ID_BYTES);
            match unescape_id(&key) {
                Some(back) => prop_assert_eq!(back, id),
                None => prop_assert!(key.starts_with("%%")),
            }
        }

        #[test]
        fn two_distinct_ids_never_share_a_key(
            a in any::<String>(),
            b in any::<String>(),
            // Ids that differ by a separator, an escape or a prefix: the likely collisions.
            tricky in proptest::sample::select(vec!["#", "%", "%23", "%%", " ", "#STATE", ""]),
        ) {
            let pairs = [(a.clone(), b.clone()), (a.clone(), format!("{a}{tricky}")),
                         (format!("{tricky}{a}"), a.clone())];
            for (x, y) in pairs {
                if x != y {
                    prop_assert_ne!(escape_id(&x), escape_id(&y));
                    prop_assert_ne!(customer_pk(Provider::Xpollens, &x), customer_pk(Provider::Xpollens, &y));
                }
            }
        }

        #[test]
        fn long_ids_do_not_collide(a in ".{200,400}", b in ".{200,400}") {
            prop_assume!(a != b);
            prop_assert_ne!(escape_id(&a), escape_id(&b));
        }
    }
}
