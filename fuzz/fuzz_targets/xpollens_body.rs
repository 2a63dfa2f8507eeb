//! A raw callback body POSTed to the endpoint (what libFuzzer mutates best: no JSON envelope
//! around it), as JSON, as a form body, and with a type in the route.
#![no_main]

use chrono::{TimeZone, Utc};
use kyc_hooks_fuzz::{block_on, check_answers};
use kyc_xpollens::endpoint::HttpRequest;
use kyc_xpollens::replay::{Deliveries, Replay};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let received_at = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap();
    let forms = [
        ("/xpollens/callbacks", "application/json"),
        ("/xpollens/callbacks/4", "text/plain"),
        (
            "/prod/xpollens/callbacks/36",
            "application/x-www-form-urlencoded",
        ),
    ];
    let mut replay = Replay::new();
    for (path, content_type) in forms {
        let request = HttpRequest {
            method: "POST".into(),
            path: path.into(),
            headers: vec![
                ("content-type".into(), content_type.into()),
                (
                    "Webhook-Processdate".into(),
                    "12/11/2026 17:51:40 +01:00".into(),
                ),
            ],
            body: data.to_vec(),
            ..HttpRequest::default()
        };
        block_on(replay.apply("fuzz-body", Deliveries::Http(request, received_at)));
    }
    check_answers(&block_on(replay.report()));
});
