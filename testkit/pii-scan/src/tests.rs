use super::*;
use base64::Engine;

fn scanner() -> Scanner {
    Scanner::new(
        parse_planted(
            "# comment\n\
             name.planted\tDvořáková\n\
             token.planted\t20240702_71Qe8fLBGVs7lzsQQWUgyrRVdEMgwhA\n\
             url.planted\thttps://pad.example/x?technicalId=D6C39X\n",
        )
        .unwrap(),
    )
}

fn scan(text: &str) -> Vec<Hit> {
    scanner().scan(Path::new("out.log"), text.as_bytes())
}

#[test]
fn a_planted_leak_in_a_log_line_is_found_and_named_without_its_value() {
    let log = "{\"timestamp\":\"t\",\"level\":\"INFO\"}\n\
               {\"timestamp\":\"t\",\"fields\":{\"message\":\"customer Dvořáková refused\"}}\n";
    let hits = scan(log);
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert_eq!((hit.label.as_str(), hit.line), ("name.planted", 2));
    let report = hit.to_string();
    assert!(
        report.contains("out.log:2: planted value name.planted"),
        "{report}"
    );
    assert!(
        report.contains("customer [planted:name.planted] refused"),
        "{report}"
    );
    assert!(
        !report.contains("Dvořáková"),
        "the report repeats the value: {report}"
    );
}

#[test]
fn clean_output_has_no_hit() {
    assert!(
        scan("test gopay::sync::a_token_rotates ... ok\nevent_id=abc outcome=applied\n").is_empty()
    );
}

#[test]
fn case_changes_are_found_also_outside_ascii() {
    let hits = scan("NAME: DVOŘÁKOVÁ\n");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].encoding, Encoding::AsIs);
}

#[test]
fn json_escaped_forms_are_found() {
    let hits = scan(r#"{"name":"Dvo\u0159\u00e1kov\u00e1"}"#);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].encoding, Encoding::JsonEscaped);
    let hits = scan(r#"{"url":"https:\/\/pad.example\/x?technicalId=D6C39X"}"#);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].label, "url.planted");
}

#[test]
fn url_encoded_forms_are_found() {
    let hits = scan("GET /cb?u=https%3A%2F%2Fpad.example%2Fx%3FtechnicalId%3DD6C39X\n");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].label.as_str(), hits[0].encoding),
        ("url.planted", Encoding::UrlEncoded)
    );
    // Lower-case percent escapes and %20 for spaces are the same leak.
    let planted = Scanner::new(parse_planted("name.full\tJana Nováková\n").unwrap());
    assert_eq!(
        planted
            .scan(Path::new("o"), b"q=jana%20nov%c3%a1kov%c3%a1")
            .len(),
        1
    );
    assert_eq!(
        planted
            .scan(Path::new("o"), b"q=Jana+Nov%C3%A1kov%C3%A1")
            .len(),
        1
    );
}

#[test]
fn a_value_base64_encoded_inside_a_longer_text_is_found_at_any_alignment() {
    let token = "20240702_71Qe8fLBGVs7lzsQQWUgyrRVdEMgwhA";
    for prefix in ["", "a", "ab", "abc:"] {
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            let encoded = engine.encode(format!("{prefix}{{\"token\":\"{token}\"}}"));
            let hits = scan(&format!("body={encoded}\n"));
            assert_eq!(hits.len(), 1, "prefix {prefix:?}: {hits:?}");
            assert_eq!(hits[0].encoding, Encoding::Base64);
            assert!(!hits[0].redacted.contains(&encoded));
        }
    }
}

#[test]
fn every_planted_value_on_a_line_is_redacted_and_reported() {
    let hits = scan("Dvořáková 20240702_71Qe8fLBGVs7lzsQQWUgyrRVdEMgwhA\n");
    let labels: Vec<&str> = hits.iter().map(|h| h.label.as_str()).collect();
    assert_eq!(labels, ["name.planted", "token.planted"]);
    assert_eq!(
        hits[0].redacted,
        "[planted:name.planted] [planted:token.planted]"
    );
}

#[test]
fn the_fixture_check_sees_which_values_the_inputs_hold() {
    let s = scanner();
    assert_eq!(
        s.values_in(br#"{"lastName":"Dvo\u0159\u00e1kov\u00e1"}"#),
        [0]
    );
    assert!(s.values_in(b"nothing planted here").is_empty());
}

#[test]
fn a_planted_list_that_would_match_innocent_text_is_refused() {
    assert!(parse_planted("code\tc0de\n")
        .unwrap_err()
        .contains("shorter"));
    assert!(parse_planted("a\tvalue-one\na\tvalue-two\n")
        .unwrap_err()
        .contains("twice"));
    assert!(parse_planted("no tab here\n")
        .unwrap_err()
        .contains("LABEL<TAB>VALUE"));
}

#[test]
fn product_log_lines_are_recognised() {
    assert!(is_log_line(
        br#"{"timestamp":"2026-11-27T10:00:00Z","level":"INFO"}"#
    ));
    assert!(!is_log_line(b"test foo ... ok"));
}
