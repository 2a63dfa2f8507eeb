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

pub fn to_attribute(value: &Value) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).expect("every JSON value is a DynamoDB value")
}

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
