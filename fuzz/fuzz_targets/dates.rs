//! Provider dates: Xpollens `Webhook-Processdate` (.NET day-first and ISO forms) and body
//! dates, GoPay's local date-times (Europe/Prague, with or without offset).
#![no_main]

use kyc_gopay::time::GoPayDateTime;
use kyc_xpollens::dates::{parse_body_date, parse_provider_date};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(date) = parse_provider_date(text) {
        // What we read must read back the same once written in the queue's ISO form.
        let again = parse_provider_date(&date.at.to_rfc3339()).expect("RFC 3339 is accepted");
        assert_eq!(again.at, date.at);
        assert!(!again.assumed_utc);
    }
    let _ = parse_body_date(text);
    if let Ok(date) = GoPayDateTime::parse(text) {
        let _ = (date.utc(), date.local(), date.zone_source());
    }
});
