//! Scalar leniency: fields the decision does not depend on never reject a report.
//!
//! The reference writes `"id": 10002` where other reports write `"id": "10002"`, and Namirial
//! changes undescribed values without notice. So:
//! - identifiers (`externalId`, `id`, `uuid`, `taskId`...) accept strings and numbers alike;
//! - a display-only field of an unexpected type (a number where text is expected, an object
//!   where a flag is expected...) is read as best it can be (numbers and booleans as text,
//!   `"true"` as a flag) or dropped, and *noted*: [`super::Report::type_mismatches`] lists
//!   where, without the value (it may be personal);
//! - only the structure the verdicts are built from (see `Report::from_slice`) may reject.
//!
//! Noting works without building the report twice in memory: each lenient field counts its
//! mismatches in a thread-local tracker during the (synchronous) parse. When there are some,
//! the report is parsed again with the tracker set to fail at the n-th one, so
//! `serde_path_to_error` gives its JSON path; at most [`MAX_LOCATED`] are located.

use kyc_core::redact::Personal;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use std::cell::Cell;
use std::fmt;

/// How many mismatches get a JSON path (each costs one more parse of the report).
pub const MAX_LOCATED: usize = 5;

/// The prefix of the error message used to locate a mismatch.
pub(crate) const MARKER: &str = "kyc-lenient-mismatch:";

/// The most list items (documents, events, participants, checks, files, clauses, owners...)
/// one report may hold. Each costs a few KB once parsed and judged (measured: ~5 KB per
/// document), and a tiny `{}` costs 3 bytes of JSON: without a count, 64 MiB of empty
/// objects would need gigabytes. Real reports hold dozens to hundreds; beyond this, the
/// report is quarantined (`report_too_complex`) rather than crash the function.
pub const MAX_ELEMENTS: usize = 20_000;

/// The prefix of the error that stops a parse past [`MAX_ELEMENTS`].
pub(crate) const TOO_MANY: &str = "kyc-too-many-elements";

thread_local! {
    static SEEN: Cell<usize> = const { Cell::new(0) };
    static FAIL_AT: Cell<Option<usize>> = const { Cell::new(None) };
    static ELEMENTS: Cell<usize> = const { Cell::new(0) };
    /// The zone a time without an offset is read in (see `iso8601`).
    static ZONE: Cell<chrono_tz::Tz> = const { Cell::new(super::iso8601::DEFAULT_ZONE) };
    static ZONELESS: Cell<usize> = const { Cell::new(0) };
}

/// Starts counting for one parse; with `fail_at`, the mismatch of that index becomes an error.
pub(crate) fn begin(fail_at: Option<usize>) {
    SEEN.with(|s| s.set(0));
    FAIL_AT.with(|f| f.set(fail_at));
    ELEMENTS.with(|e| e.set(0));
    ZONELESS.with(|z| z.set(0));
}

/// Sets the zone zone-less times of this parse are read in (reset by [`end`]).
pub(crate) fn set_zone(zone: chrono_tz::Tz) {
    ZONE.with(|z| z.set(zone));
}

/// The zone of the current parse.
pub(crate) fn zone() -> chrono_tz::Tz {
    ZONE.with(Cell::get)
}

/// Counts one time read without an offset.
pub(crate) fn count_zoneless() {
    ZONELESS.with(|z| z.set(z.get() + 1));
}

/// How many times of the current parse had no offset.
pub(crate) fn zoneless() -> usize {
    ZONELESS.with(Cell::get)
}

/// Counts one list item of the model; an error past [`MAX_ELEMENTS`].
fn count_element<E: de::Error>() -> Result<(), E> {
    let n = ELEMENTS.with(|e| {
        let n = e.get() + 1;
        e.set(n);
        n
    });
    if n > MAX_ELEMENTS {
        return Err(E::custom(TOO_MANY));
    }
    Ok(())
}

/// A list the verdicts are built from (`documents`, `events`, `participants`...): items are
/// counted against [`MAX_ELEMENTS`]; `null` is empty; anything but an array rejects.
pub(crate) fn elements<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(Items::<T>::new(false))
}

/// Reads a counted list (see [`elements`] and [`list`]); `lenient`: a non-array is noted and
/// read as empty instead of rejected.
struct Items<T> {
    lenient: bool,
    item: std::marker::PhantomData<T>,
}

impl<T> Items<T> {
    fn new(lenient: bool) -> Self {
        Self {
            lenient,
            item: std::marker::PhantomData,
        }
    }

    /// A non-array: noted and empty when lenient, else serde's own type error.
    fn other<E: de::Error>(
        &self,
        found: &'static str,
        unexpected: de::Unexpected,
    ) -> Result<Vec<T>, E> {
        if self.lenient {
            note("array", found).map(|_| Vec::new())
        } else {
            Err(E::invalid_type(unexpected, &"an array"))
        }
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for Items<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            count_element()?;
            out.push(item);
        }
        Ok(out)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
        if !self.lenient {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &"an array"));
        }
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        self.other("object", de::Unexpected::Map)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<T>, E> {
        self.other("string", de::Unexpected::Str(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Vec<T>, E> {
        self.other("boolean", de::Unexpected::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Vec<T>, E> {
        self.other("number", de::Unexpected::Signed(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Vec<T>, E> {
        self.other("number", de::Unexpected::Unsigned(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Vec<T>, E> {
        self.other("number", de::Unexpected::Float(v))
    }
}

/// What one free-form value (`externalInfo`, `postalAddress`, `version`, keyword lists,
/// `causes`...) may keep: the report is untrusted, and `[0,0,...]` deflates 1000:1 (a 64 KiB
/// archive entry inflating to a 64 MiB array would be a billion bytes of values). Past any
/// bound the rest of the value is skipped unread (`IgnoredAny`: nothing kept) and the field
/// is noted as clipped (like a type mismatch: counted, its JSON path located). Kept items
/// still count against [`MAX_ELEMENTS`].
pub const VALUE_MAX_ITEMS: usize = 1024;
/// Text bytes one free-form value keeps (keys and strings together).
pub const VALUE_MAX_BYTES: usize = 16 * 1024;
/// Nesting one free-form value keeps (deeper arrays and objects are skipped).
pub const VALUE_MAX_DEPTH: usize = 8;
/// The most of any one text kept (labels, identifiers, enum values, dates...): longer text is
/// clipped and noted.
pub const MAX_TEXT: usize = 1024;

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `s` clipped to `max` bytes, marked with `…` when clipped.
pub(crate) fn clip_owned(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    format!("{}…", clip(&s, max))
}

/// What is left of one free-form value's bounds.
struct Budget {
    items: usize,
    bytes: usize,
    clipped: bool,
}

/// A JSON value read within its own [`Budget`] (see [`VALUE_MAX_ITEMS`]).
pub(crate) struct BoundedValue;

impl<'de> de::DeserializeSeed<'de> for BoundedValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let mut budget = Budget {
            items: VALUE_MAX_ITEMS,
            bytes: VALUE_MAX_BYTES,
            clipped: false,
        };
        let v = d.deserialize_any(Clipped {
            budget: &mut budget,
            depth: 0,
        })?;
        if budget.clipped {
            note::<D::Error>("value within bounds", "clipped")?;
        }
        Ok(v)
    }
}

struct Clipped<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl Clipped<'_> {
    fn text(&mut self, v: &str) -> String {
        let kept = clip(v, self.budget.bytes.min(MAX_TEXT));
        if kept.len() < v.len() {
            self.budget.clipped = true;
        }
        self.budget.bytes -= kept.len();
        kept.to_string()
    }
    /// Whether one more item fits (the value is marked clipped only if one more comes).
    fn room(&mut self) -> bool {
        if self.depth >= VALUE_MAX_DEPTH || self.budget.items == 0 || self.budget.bytes == 0 {
            return false;
        }
        self.budget.items -= 1;
        true
    }
}

impl<'de> de::DeserializeSeed<'de> for Clipped<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Clipped<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<Value, E> {
        Ok(Value::String(self.text(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while self.room() {
            let child = Clipped {
                budget: &mut *self.budget,
                depth: self.depth + 1,
            };
            match seq.next_element_seed(child)? {
                Some(v) => {
                    count_element()?;
                    items.push(v);
                }
                None => return Ok(Value::Array(items)),
            }
        }
        // Past a bound: the rest is read and dropped, nothing kept.
        if seq.next_element::<IgnoredAny>()?.is_some() {
            self.budget.clipped = true;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while self.room() {
            let Some(k) = map.next_key::<String>()? else {
                return Ok(Value::Object(out));
            };
            if k.len() > self.budget.bytes.min(MAX_TEXT) {
                // A key cannot be clipped without changing what it names: skipped.
                self.budget.clipped = true;
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            self.budget.bytes -= k.len();
            let child = Clipped {
                budget: &mut *self.budget,
                depth: self.depth + 1,
            };
            let v = map.next_value_seed(child)?;
            count_element()?;
            out.insert(k, v);
        }
        if map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
            self.budget.clipped = true;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        }
        Ok(Value::Object(out))
    }
}

/// Any JSON value, within its bounds (see [`VALUE_MAX_ITEMS`]).
pub(crate) fn bounded<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    de::DeserializeSeed::deserialize(BoundedValue, d)
}

/// An optional free-form value (`null` is absent).
pub(crate) fn opt_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Some(bounded(d)?).filter(|v| !v.is_null()))
}

/// An optional free-form personal value (`postalAddress`, incomes...).
pub(crate) fn opt_personal_value<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Personal<Value>>, D::Error> {
    opt_value(d).map(|v| v.map(Personal::new))
}

/// A display-only list of free-form values (`expectedSequence`).
pub(crate) fn values<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(match bounded(d)? {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => {
            note::<D::Error>("array", kind(&other))?;
            Vec::new()
        }
    })
}

/// A display-only list kept as a count (`pages`, `profiles`): the items are skipped.
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    list::<D, IgnoredAny>(d).map(|v| v.len())
}

/// Stops counting; returns how many mismatches the parse met.
pub(crate) fn end() -> usize {
    FAIL_AT.with(|f| f.set(None));
    ZONE.with(|z| z.set(super::iso8601::DEFAULT_ZONE));
    SEEN.with(|s| s.replace(0))
}

/// Records one mismatch (expected and found are type names, never values).
fn note<E: de::Error>(expected: &'static str, found: &'static str) -> Result<(), E> {
    let n = SEEN.with(|s| {
        let n = s.get();
        s.set(n + 1);
        n
    });
    if FAIL_AT.with(Cell::get) == Some(n) {
        return Err(E::custom(format!("{MARKER}{expected}:{found}")));
    }
    Ok(())
}

/// One noted mismatch: where, what was expected, what was found. No value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TypeMismatch {
    /// JSON path (`clientFile.group`, `documents[0].label`...); `?` when not located.
    pub path: String,
    /// The type expected.
    pub expected: String,
    /// The type found.
    pub found: String,
}

/// All mismatches of a report: how many, and the first [`MAX_LOCATED`] located.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TypeMismatches {
    /// How many mismatches there were.
    pub count: usize,
    /// The first ones, located.
    pub located: Vec<TypeMismatch>,
}

/// Parses `expected:found` from a locating error's message.
pub(crate) fn parse_marker(message: &str) -> Option<(String, String)> {
    let rest = &message[message.find(MARKER)? + MARKER.len()..];
    let (expected, found) = rest.split_once(':')?;
    let found = found.split(' ').next().unwrap_or(found);
    Some((expected.to_string(), found.to_string()))
}

/// What a scalar field wants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Display text: numbers and booleans are written as text, and noted.
    Text,
    /// An identifier: numbers are as good as strings (not noted); booleans noted.
    Ident,
    /// A boolean: `"true"`/`"false"` are read, and noted.
    Flag,
}

enum Scalar {
    Text(String),
    Flag(bool),
    Absent,
}

struct ScalarVisitor(Want);

impl ScalarVisitor {
    fn number<E: de::Error>(&self, text: String) -> Result<Scalar, E> {
        match self.0 {
            Want::Ident => Ok(Scalar::Text(text)),
            Want::Text => note("string", "number").map(|_| Scalar::Text(text)),
            Want::Flag => note("boolean", "number").map(|_| Scalar::Absent),
        }
    }
}

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        match self.0 {
            Want::Flag => match v.trim() {
                "true" => note("boolean", "string").map(|_| Scalar::Flag(true)),
                "false" => note("boolean", "string").map(|_| Scalar::Flag(false)),
                _ => note("boolean", "string").map(|_| Scalar::Absent),
            },
            _ if v.len() > MAX_TEXT => note("text within bounds", "clipped")
                .map(|_| Scalar::Text(format!("{}…", clip(v, MAX_TEXT)))),
            _ => Ok(Scalar::Text(v.to_string())),
        }
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        match self.0 {
            Want::Text | Want::Ident if v.len() <= MAX_TEXT => Ok(Scalar::Text(v)),
            _ => self.visit_str(&v),
        }
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
        match self.0 {
            Want::Flag => Ok(Scalar::Flag(v)),
            Want::Text => note("string", "boolean").map(|_| Scalar::Text(v.to_string())),
            Want::Ident => note("identifier", "boolean").map(|_| Scalar::Text(v.to_string())),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        self.number(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        self.number(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        self.number(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Absent)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        note(self.expected(), "array").map(|_| Scalar::Absent)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        note(self.expected(), "object").map(|_| Scalar::Absent)
    }
}

impl ScalarVisitor {
    fn expected(&self) -> &'static str {
        match self.0 {
            Want::Text => "string",
            Want::Ident => "identifier",
            Want::Flag => "boolean",
        }
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D, want: Want) -> Result<Scalar, D::Error> {
    d.deserialize_any(ScalarVisitor(want))
}

fn text_of(s: Scalar) -> Option<String> {
    match s {
        Scalar::Text(t) => Some(t),
        Scalar::Flag(b) => Some(b.to_string()),
        Scalar::Absent => None,
    }
}

/// Display text (`label`, `channel`, `source`...).
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar(d, Want::Text).map(text_of)
}

/// An identifier, string or number (`externalId`, `taskId`, `documentId`, `uuid`...).
pub(crate) fn ident<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    scalar(d, Want::Ident).map(text_of)
}

/// An identifier that is always present in the model (empty when absent or unreadable).
pub(crate) fn ident_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    ident(d).map(Option::unwrap_or_default)
}

/// A display-only flag (`areControlsObsolete`, `anonymized`, `required`...).
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match scalar(d, Want::Flag)? {
        Scalar::Flag(b) => Some(b),
        _ => None,
    })
}

/// Personal display text (names, birth data, contact details...).
pub(crate) fn personal<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Personal<String>>, D::Error> {
    text(d).map(|t| t.map(Personal::new))
}

/// A credential (the One Click Contract token).
pub(crate) fn secret<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<kyc_core::redact::Secret<String>>, D::Error> {
    text(d).map(|t| t.map(kyc_core::redact::Secret::new))
}

/// A personal text always present in the model (a file name: empty when unreadable).
pub(crate) fn personal_or_empty<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Personal<String>, D::Error> {
    text(d).map(|t| Personal::new(t.unwrap_or_default()))
}

/// A list of personal texts (`firstNames`); a lone text is read as a one-item list.
pub(crate) fn personal_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Personal<Vec<String>>>, D::Error> {
    Ok(match bounded(d)? {
        Value::Null => None,
        Value::String(s) => {
            note::<D::Error>("array", "string")?;
            Some(Personal::new(vec![s]))
        }
        Value::Array(items) => Some(Personal::new(
            items
                .into_iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
        )),
        other => {
            note::<D::Error>("array", kind(&other))?;
            None
        }
    })
}

/// A display-only object (`group`, `data`, `documentDetails`...): anything else is noted and
/// dropped. Objects are read in a stream (no intermediate value).
pub(crate) fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<T>, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            note("object", "array").map(|_| None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<T>, E> {
            note("object", "string").map(|_| None)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<T>, E> {
            note("object", "boolean").map(|_| None)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<T>, E> {
            note("object", "number").map(|_| None)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<T>, E> {
            note("object", "number").map(|_| None)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<T>, E> {
            note("object", "number").map(|_| None)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

/// A display-only list (`files`, `profiles`, `consentClauses`...): a non-array is noted and
/// read as empty; `null` is empty.
pub(crate) fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(Items::<T>::new(true))
}

/// Error or warning codes: a lone code (`"errors": 2001`) is read as a one-code list and
/// noted, so a code is never lost to a shape change.
pub(crate) fn codes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
    Ok(match bounded(d)? {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => {
            note::<D::Error>("array", kind(&other))?;
            vec![other]
        }
    })
}

/// Top-level entries one free-form map keeps (`externalInfo`).
pub const MAP_MAX_ENTRIES: usize = 256;

/// A free-form map (`externalInfo`): a non-object is noted and read as empty (skipped
/// unread). Its top-level scalar entries are kept whatever its nested values hold (up to
/// [`MAP_MAX_ENTRIES`], text clipped at [`MAX_TEXT`]): the customer link may be one of them
/// (`LINK_KEY=externalInfo.<key>`), and an oversized neighbour must not crowd it out. Nested
/// arrays and objects share one [`Budget`].
pub(crate) fn map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<serde_json::Map<String, Value>, D::Error> {
    struct TopMap;
    impl TopMap {
        fn other<E: de::Error>(found: &'static str) -> Result<serde_json::Map<String, Value>, E> {
            note("object", found).map(|_| serde_json::Map::new())
        }
    }
    impl<'de> Visitor<'de> for TopMap {
        type Value = serde_json::Map<String, Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = serde_json::Map::new();
            let mut nested = Budget {
                items: VALUE_MAX_ITEMS,
                bytes: VALUE_MAX_BYTES,
                clipped: false,
            };
            let mut clipped = false;
            while let Some(k) = map.next_key::<String>()? {
                if out.len() >= MAP_MAX_ENTRIES || k.len() > MAX_TEXT {
                    clipped = true;
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let v = map.next_value_seed(TopEntry {
                    nested: &mut nested,
                })?;
                count_element()?;
                out.insert(k, v);
            }
            if clipped || nested.clipped {
                note::<A::Error>("value within bounds", "clipped")?;
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(serde_json::Map::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(serde_json::Map::new())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Self::other("array")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Self::other("string")
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Self::other("boolean")
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Self::other("number")
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Self::other("number")
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Self::other("number")
        }
    }

    /// One top-level entry: a scalar on its own allowance, a container on the shared budget.
    struct TopEntry<'b> {
        nested: &'b mut Budget,
    }
    impl<'de> de::DeserializeSeed<'de> for TopEntry<'_> {
        type Value = Value;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for TopEntry<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
            if v.len() > MAX_TEXT {
                self.nested.clipped = true;
            }
            Ok(Value::String(clip(v, MAX_TEXT).to_string()))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
            Clipped {
                budget: self.nested,
                depth: 1,
            }
            .visit_seq(seq)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
            Clipped {
                budget: self.nested,
                depth: 1,
            }
            .visit_map(map)
        }
    }

    d.deserialize_any(TopMap)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    struct Sample {
        #[serde(default, deserialize_with = "text")]
        label: Option<String>,
        #[serde(default, deserialize_with = "ident")]
        id: Option<String>,
        #[serde(default, deserialize_with = "flag")]
        anonymized: Option<bool>,
        #[serde(default, deserialize_with = "list")]
        files: Vec<String>,
    }

    fn parse(json: &str) -> (Sample, usize) {
        begin(None);
        let s = serde_json::from_str(json);
        let n = end();
        (s.unwrap(), n)
    }

    #[test]
    fn identifiers_take_numbers_silently_display_fields_note_mismatches() {
        let (s, n) = parse(r#"{"label":"x","id":42,"anonymized":true,"files":["a"]}"#);
        assert_eq!(
            (s.label.as_deref(), s.id.as_deref(), s.anonymized, n),
            (Some("x"), Some("42"), Some(true), 0)
        );
        let (s, n) = parse(r#"{"label":7,"id":{"a":1},"anonymized":"true","files":"a"}"#);
        assert_eq!(
            (s.label.as_deref(), s.id, s.anonymized, s.files.len(), n),
            (Some("7"), None, Some(true), 0, 4)
        );
        let (s, n) = parse(r#"{"label":null,"anonymized":null,"files":null}"#);
        assert_eq!(
            (s.label, s.anonymized, s.files.len(), n),
            (None, None, 0, 0)
        );
    }

    #[test]
    fn the_nth_mismatch_can_be_made_an_error_to_locate_it() {
        begin(Some(1));
        let mut de = serde_json::Deserializer::from_str(r#"{"label":7,"files":{"x":1}}"#);
        let err = serde_path_to_error::deserialize::<_, Sample>(&mut de).unwrap_err();
        end();
        assert_eq!(err.path().to_string(), "files");
        assert_eq!(
            parse_marker(&err.inner().to_string()),
            Some(("array".into(), "object".into()))
        );
    }
}
