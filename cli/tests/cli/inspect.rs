//! `kyc inspect xpollens`: the normalised event, secrets redacted, errors clear.

use crate::common;

fn inspect(content: &str) -> (bool, String, String) {
    common::inspect("xpollens", &content.len().to_string(), content)
}

#[test]
fn kyc_demand_is_normalised() {
    let (ok, out, err) = inspect(
        r#"{"type":"4","status":"FraudSuspiscion","appUserid":"u1","diligences":[{"diligenceType":"ID_CARD","status":"Refused","reason":"Identity fraud"}]}"#,
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["provider"], "xpollens");
    assert_eq!(v["eventType"], 4);
    assert_eq!(v["subjectId"], "u1");
    assert_eq!(v["kycStatus"], "FraudSuspicion");
    assert_eq!(v["diligences"][0]["type"], "ID_CARD");
    assert_eq!(v["diligences"][0]["status"], "Refused");
    assert_eq!(v["diligences"][0]["reason"], "Identity fraud");
    assert!(v["eventId"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn api_gateway_event_gives_the_webhook_id_and_secrets_stay_redacted() {
    let body = r#"{"type":"35","AppUserId":"Au007","ActivationCode":"ACTIVATION-SECRET","ExtraData":{"WebViewUrl":"https://x/?token=URL-SECRET"}}"#;
    let event = serde_json::json!({"version":"2.0","headers":{"Webhook-Id":"wh-42"},"requestContext":{},"body":body,"isBase64Encoded":false});
    let (ok, out, err) = inspect(&event.to_string());
    assert!(ok, "{err}");
    assert!(
        !out.contains("ACTIVATION-SECRET") && !out.contains("URL-SECRET"),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["eventId"], "wh-42");
    assert_eq!(v["secrets"]["activationCode"], "[REDACTED secret]");
}

#[test]
fn sca_result_shows_authentication_status_and_reason() {
    let (ok, out, _) = inspect(
        r#"{"Header":{"Type":36,"AppUserId":"u","Status":"Failed","Reason":"NotFound "},"Payload":null}"#,
    );
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["authenticationStatus"], "Failed");
    assert_eq!(v["reason"], "NotFound");
    assert_eq!(v["eventType"], 36);
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_message() {
    let (ok, out, err) = inspect("{not json");
    assert!(!ok);
    assert!(out.is_empty());
    assert!(err.contains("not valid JSON"), "{err}");
    let (ok, _, err) = inspect(r#"{"type":"34","userRecordStatus":"Validated"}"#);
    assert!(!ok);
    assert!(err.contains("requires appUserId"), "{err}");
}
