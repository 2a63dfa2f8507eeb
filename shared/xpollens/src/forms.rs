//! The forms one Xpollens callback arrives in, turned into one JSON object body: a JSON body
//! (whatever the content type says), query-string callbacks (#15, #37, the deprecated #01/#05:
//! parameters in the query string, body empty or form-encoded), callback 36's header form
//! (fields in HTTP headers, body the sensitive operation's answer) and a JSON object sent as a
//! JSON string. The live endpoint and the fallback-queue drain both read a delivery here, so a
//! callback reads the same whichever channel brought it (and dedupes across them).

use serde_json::{json, Map, Value};

/// Callback 36's header form: the OpenAPI puts its fields in these HTTP headers.
const SCA_HEADERS: [&str; 9] = [
    "AuthenticationId",
    "Type",
    "AppUserId",
    "AuthenticationResultDate",
    "RequestProcessDate",
    "RequestResponseCode",
    "RequestDate",
    "Status",
    "Reason",
];

/// What travelled with a body: the query string and the headers (names in any case).
#[derive(Debug, Clone, Copy)]
pub struct Carried<'a> {
    /// The raw query string.
    pub query: &'a str,
    /// The headers.
    pub headers: &'a [(String, String)],
    /// The sender said the body is form-encoded (`application/x-www-form-urlencoded`), or,
    /// for a fallback-queue payload, the body can only be a form if it is not JSON.
    pub form_body: bool,
}

impl Carried<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The first byte that is not JSON whitespace.
fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// The callback a delivery carries as one JSON object, and the note saying which form it
/// was. `None`: the body is the callback as it is (a JSON object, or something the parser
/// will refuse precisely).
pub fn callback_body(carried: Carried<'_>, body: &[u8]) -> Option<(Vec<u8>, &'static str)> {
    // Header form of callback 36: `AppUserId` and `AuthenticationId` never come as headers
    // otherwise.
    if carried.header("appuserid").is_some() && carried.header("authenticationid").is_some() {
        let mut header = Map::new();
        for name in SCA_HEADERS {
            if let Some(v) = carried.header(name) {
                header.insert(name.to_string(), v.into());
            }
        }
        let text = String::from_utf8_lossy(body).into_owned();
        // The body is the operation's answer: a JSON string holding JSON, or JSON, or empty.
        let payload = match serde_json::from_str::<Value>(&text) {
            Ok(Value::String(inner)) => inner,
            _ => text,
        };
        let body = json!({"Header": header, "Payload": payload});
        return Some((body.to_string().into_bytes(), "headerForm"));
    }
    match first_byte(body) {
        // JSON first whenever the body is a JSON object, whatever the content type says (a
        // real callback 4 was sent form-typed). Checked only when a form is possible: the
        // parser reads (and refuses precisely) any other JSON-looking body.
        Some(b'{')
            if !carried.form_body
                || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() =>
        {
            return None
        }
        // A JSON object sent as a JSON string.
        Some(b'"') => {
            if let Ok(Value::String(inner)) = serde_json::from_slice(body) {
                if serde_json::from_str::<Value>(&inner).is_ok_and(|v| v.is_object()) {
                    return Some((inner.into_bytes(), "jsonInString"));
                }
            }
        }
        _ => {}
    }
    // Only a body that is not JSON is read as a form.
    if body.is_empty() || carried.form_body {
        let mut params = Map::new();
        let body_params: &[u8] = if carried.form_body { body } else { &[] };
        for (k, v) in form_urlencoded::parse(carried.query.as_bytes())
            .chain(form_urlencoded::parse(body_params))
        {
            params
                .entry(k.into_owned())
                .or_insert(v.into_owned().into());
        }
        if !params.is_empty() {
            return Some((
                Value::Object(params).to_string().into_bytes(),
                "queryStringForm",
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(query: &str, headers: &[(&str, &str)], form: bool, body: &str) -> Option<Value> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let carried = Carried {
            query,
            headers: &headers,
            form_body: form,
        };
        callback_body(carried, body.as_bytes()).map(|(b, _)| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn a_json_object_is_json_whatever_the_content_type() {
        let kyc = r#" {"type":"4","status":"Incomplete","appUserId":"u"}"#;
        assert_eq!(read("", &[], true, kyc), None);
        assert_eq!(read("", &[], false, kyc), None);
        // Only a body that is not JSON is a form.
        assert_eq!(
            read("", &[], true, "type=15&userstatus=2&userid=u"),
            Some(json!({"type": "15", "userstatus": "2", "userid": "u"}))
        );
        assert_eq!(
            read("", &[], true, "{type=15"),
            Some(json!({"{type": "15"})),
            "not JSON: a form, however odd"
        );
    }

    #[test]
    fn query_string_header_form_and_json_in_a_string() {
        assert_eq!(
            read("type=15&userstatus=2&userid=u", &[], false, ""),
            Some(json!({"type": "15", "userstatus": "2", "userid": "u"}))
        );
        let sca = read(
            "",
            &[
                ("AppUserId", "u36"),
                ("AuthenticationId", "a1"),
                ("Status", "succeeded"),
            ],
            false,
            r#""{\"operation\":\"transfer\"}""#,
        )
        .unwrap();
        assert_eq!(sca["Header"]["AppUserId"], "u36");
        assert_eq!(sca["Payload"], r#"{"operation":"transfer"}"#);
        assert_eq!(
            read("", &[], true, r#""{\"type\":\"4\"}""#),
            Some(json!({"type": "4"}))
        );
        assert_eq!(read("", &[], false, "not json"), None);
    }
}
