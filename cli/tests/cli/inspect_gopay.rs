//! `kyc inspect gopay`: an identification-status response normalized, personal data redacted.

use crate::common;

fn inspect(name: &str, content: &str) -> (bool, String, String) {
    common::inspect("gopay", name, content)
}

#[test]
fn status_is_normalized_and_personal_data_redacted() {
    let (ok, out, err) = inspect(
        "ok",
        r#"{"clientProfileId":"1000","state":"identified","reasons":["WAITING_ADDRESS","WAITING_ADDRESS"],
            "dateStarted":"2025-03-10 09:00:00.000","dateLastChange":"2025-03-10 09:30:00.123",
            "subjectType":"PERSON","subjectData":{"firstName":"Jana","birthNumber":"905512/1234"},
            "identificationData":{"addresses":[{"street":"Dlouhá 1"}]}}"#,
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["provider"], "gopay");
    assert_eq!(v["state"], "IDENTIFIED");
    assert_eq!(v["reasons"], serde_json::json!(["WAITING_ADDRESS"]));
    assert_eq!(v["dateLastChange"], "2025-03-10T08:30:00.123Z");
    for secret in ["Jana", "905512", "Dlouhá"] {
        assert!(!out.contains(secret), "{secret} leaked");
    }
}

#[test]
fn a_bad_file_fails_without_echoing_it() {
    let (ok, out, err) = inspect("bad", r#"{"state":"PENDING","subjectData":"905512/1234"}"#);
    assert!(!ok);
    assert!(out.is_empty());
    assert!(!err.contains("905512"), "{err}");
}
