//! GoPay answers: app token, client tokens (both grants), error bodies and their
//! classification, identification status (and everything derived from it), prefill answer,
//! and the identification-PDF check (first line = content type, rest = body).
#![no_main]

use chrono::{TimeZone, Utc};
use kyc_gopay::client::check_pdf_answer;
use kyc_gopay::prefill::parse_prefill_response;
use kyc_gopay::tokens::{classify_token_failure, AppToken, ClientTokens, GoPayErrorBody};
use kyc_gopay::IdentificationStatus;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let requested_at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let _ = AppToken::parse(data);
    if let Ok(tokens) = ClientTokens::parse(data, requested_at) {
        assert!(tokens.access_expires_at > requested_at);
    }
    let error = GoPayErrorBody::parse(data);
    for status in [400, 401, 403, 429, 500] {
        let _ = classify_token_failure(status, &error);
    }
    if let Ok(status) = IdentificationStatus::parse(data) {
        let snapshot = status.snapshot();
        let _ = (
            status.in_progress(),
            status.event_id(Some(&snapshot)),
            status.event_id(None),
        );
        serde_json::to_string(&status.normalized_view()).expect("the view serialises");
        let _ = status.evidence();
    }
    let _ = parse_prefill_response(data);

    let _ = check_pdf_answer(None, data);
    let (first_line, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(content_type) = std::str::from_utf8(first_line) {
        if check_pdf_answer(Some(content_type), body).is_ok() {
            assert!(body.starts_with(b"%PDF-"));
        }
    }
});
