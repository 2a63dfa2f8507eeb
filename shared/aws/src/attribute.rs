//! JSON ↔ DynamoDB attribute values, for the nested documents the store keeps (summaries,
//! stream values, history entries), through `serde_dynamo`.
//!
//! Reading is strict: a value JSON cannot hold (binary, a number that does not parse, a type
//! this SDK version does not know) is an error naming the problem, never a silent `null`.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

/// A stored attribute that is not a JSON document.
#[derive(Debug, thiserror::Error)]
#[error("attribute is not a JSON value: {0}")]
pub struct NotJson(String);

/// The attribute of a JSON value, built in one walk (the same mapping as `serde_dynamo`, which
/// reads them back: null → NULL, number → N (integers as written, floats as Rust prints them), string → S, array → L, object → M;
/// property-tested against it). Every event writes a few of these trees, on the hot path.
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        // Integers as written, floats as Rust prints an f64 (`0.0` → `0`), as serde_dynamo.
        Value::Number(n) => AttributeValue::N(match n.as_f64() {
            Some(f) if !(n.is_i64() || n.is_u64()) => f.to_string(),
            _ => n.to_string(),
        }),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// The attribute of a serialisable value (a history entry, a stream value), built straight from
/// it by `serde_dynamo`: the same attribute as [`to_attribute`] of its JSON value (tested),
/// without building that JSON value first (a tree of allocations per event, on the hot path).
pub fn attribute_of<T: serde::Serialize + ?Sized>(value: &T) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).expect("a stored document maps to DynamoDB")
}

/// A DynamoDB attribute as JSON; refuses attribute types it does not know.
pub fn from_attribute(value: AttributeValue) -> Result<Value, NotJson> {
    if holds_unknown(&value) {
        // serde_dynamo treats a variant it does not know as unreachable: refuse it here.
        return Err(NotJson("an attribute type this SDK does not know".into()));
    }
    serde_dynamo::from_attribute_value(value).map_err(|e| NotJson(e.to_string()))
}

fn holds_unknown(value: &AttributeValue) -> bool {
    match value {
        AttributeValue::L(items) => items.iter().any(holds_unknown),
        AttributeValue::M(map) => map.values().any(holds_unknown),
        AttributeValue::S(_)
        | AttributeValue::N(_)
        | AttributeValue::B(_)
        | AttributeValue::Bool(_)
        | AttributeValue::Null(_)
        | AttributeValue::Ss(_)
        | AttributeValue::Ns(_)
        | AttributeValue::Bs(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;
    use serde_json::json;
    use std::collections::HashMap;

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// The one-walk conversion is exactly serde_dynamo's (which reads the values back).
        #[test]
        fn the_direct_conversion_is_serde_dynamos(value in json()) {
            let direct = to_attribute(&value);
            let reference: AttributeValue = serde_dynamo::to_attribute_value(&value).unwrap();
            proptest::prop_assert_eq!(&direct, &reference);
        }
    }

    proptest::proptest! {
        /// A history entry and a stream value become the same attribute built straight from
        /// them as through their JSON value (what the store wrote before): absent and present
        /// options, flags, sealed texts and items, any JSON detail.
        #[test]
        fn a_document_maps_as_its_json_value_does(
            detail in json(),
            summary in json(),
            secs in 0i64..4_000_000_000i64,
            nanos in 0u32..1_000_000_000u32,
            with_options in proptest::bool::ANY,
            ord in proptest::num::i64::ANY,
            rank in proptest::num::u8::ANY,
        ) {
            use kyc_core::intake::{HistoryEntry, Provider};
            use kyc_core::kyc_state::{Item, Items, StreamValue};
            let at = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            let entry = HistoryEntry {
                provider: Provider::Xpollens,
                event_id: "3a0a2870-f188".into(),
                event_type: "4".into(),
                received_at: at,
                provider_time: with_options.then_some(at),
                outcome: "applied".into(),
                summary,
            };
            let mut value = StreamValue::new("Pending", rank, false, at, "e1");
            value.ord = ord;
            value.detail = detail.clone();
            if with_options {
                value.sealed.insert("name".into(), "v1.k.abc".into());
                value.flags.push("sameSecondAmbiguous".into());
                value.same_second_ambiguous = Some(true);
                let mut items = Items::default();
                items.open.insert(
                    "o1".into(),
                    Item::new("To_Review_Manually", rank, false, at, "e2", detail),
                );
                items.closed.insert("o0".into(), ord);
                items.overflowed = true;
                value.items = Some(items);
            }
            proptest::prop_assert_eq!(
                attribute_of(&entry),
                to_attribute(&serde_json::to_value(&entry).unwrap())
            );
            proptest::prop_assert_eq!(
                attribute_of(&value),
                to_attribute(&serde_json::to_value(&value).unwrap())
            );
        }
    }

    #[test]
    fn round_trip() {
        let v = json!({"a": [1, -2, 3.5, "x", null, true], "b": {"c": 4503599627370496i64}});
        assert_eq!(from_attribute(to_attribute(&v)).unwrap(), v);
    }

    #[test]
    fn a_value_json_cannot_hold_is_an_error_not_null() {
        let nested = |inner: AttributeValue| {
            AttributeValue::M(HashMap::from([("detail".to_string(), inner)]))
        };
        for bad in [
            AttributeValue::B(Blob::new(vec![1, 2, 3])),
            AttributeValue::N("not-a-number".into()),
        ] {
            let err = from_attribute(nested(bad.clone())).unwrap_err();
            assert!(!err.to_string().is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn string_and_number_sets_are_kept_as_lists() {
        let set = AttributeValue::Ss(vec!["a".into(), "b".into()]);
        assert_eq!(from_attribute(set).unwrap(), json!(["a", "b"]));
        let numbers = AttributeValue::Ns(vec!["1".into(), "2.5".into()]);
        assert_eq!(from_attribute(numbers).unwrap(), json!([1, 2.5]));
    }
}
