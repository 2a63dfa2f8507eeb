//! Lenient access to Xpollens JSON: the same field arrives as `appUserId`, `AppUserId` or
//! `appUserid`, and `type` arrives as a string or a number. Every accessor here matches keys
//! ASCII-case-insensitively and converts scalars, so the parsers stay declarative.

use serde_json::{Map, Value};

/// The value of the first key of `names` present in `obj`, ignoring ASCII case.
pub fn field<'a>(obj: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    names.iter().find_map(|name| {
        obj.get(*name).or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
    })
}

/// A non-empty, trimmed string from a string or number value; `null`, `""` and objects are `None`.
pub fn text(obj: &Map<String, Value>, names: &[&str]) -> Option<String> {
    field(obj, names).and_then(scalar_text)
}

/// A scalar as trimmed text (`None`: blank, `null`, an object or an array).
pub fn scalar_text(value: &Value) -> Option<String> {
    let s = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// The object under the first of `names` present (any case).
pub fn object<'a>(obj: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Map<String, Value>> {
    field(obj, names).and_then(Value::as_object)
}

/// The array under the first of `names` present (any case), else empty.
pub fn array<'a>(obj: &'a Map<String, Value>, names: &[&str]) -> &'a [Value] {
    field(obj, names)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The integer under the first of `names` present (any case), from a number or a string.
pub fn integer(obj: &Map<String, Value>, names: &[&str]) -> Option<i64> {
    match field(obj, names)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Lower-case ASCII letters and digits only: `Fraud_Suspicion`, `fraudSuspicion` and
/// `FRAUD SUSPICION` all become `fraudsuspicion`, so status tables list each spelling once.
pub fn squash(raw: &str) -> String {
    raw.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_match_in_any_case_and_exact_wins() {
        let v = json!({"AppUserId": "a", "appUserid": "b"});
        let o = v.as_object().unwrap();
        assert_eq!(text(o, &["AppUserId"]).as_deref(), Some("a"));
        assert!(text(o, &["appuserid"]).is_some());
        let v = json!({"appUserid": "b"});
        assert_eq!(
            text(v.as_object().unwrap(), &["appUserId"]).as_deref(),
            Some("b")
        );
    }

    #[test]
    fn scalars_convert_and_blanks_are_none() {
        let v = json!({"type": 36, "s": " 4 ", "e": "", "n": null, "o": {}});
        let o = v.as_object().unwrap();
        assert_eq!(text(o, &["type"]).as_deref(), Some("36"));
        assert_eq!(integer(o, &["s"]), Some(4));
        assert_eq!(text(o, &["e"]), None);
        assert_eq!(text(o, &["n"]), None);
        assert_eq!(text(o, &["o"]), None);
        assert_eq!(squash("Fraud_Suspicion "), "fraudsuspicion");
    }
}
