//! JSON ↔ DynamoDB attribute values, for the nested documents the store keeps (summaries,
//! stream values).

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attribute).collect()),
        Value::Object(o) => AttributeValue::M(
            o.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Number::from)
            .ok()
            .or_else(|| n.parse::<f64>().ok().and_then(Number::from_f64))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attribute).collect()),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), from_attribute(v)))
                .collect::<Map<_, _>>(),
        ),
        AttributeValue::Ss(s) => Value::Array(s.iter().cloned().map(Value::String).collect()),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip() {
        let v = json!({"a": [1, -2, 3.5, "x", null, true], "b": {"c": 4503599627370496i64}});
        assert_eq!(from_attribute(&to_attribute(&v)), v);
    }
}
