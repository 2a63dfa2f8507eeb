//! Helpers shared by the fuzz targets.

use kyc_xpollens::replay::Replay;
use serde_json::Value;
use std::future::Future;

thread_local! {
    // One runtime per process: building one per input would dominate the run.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("current-thread runtime");
}

/// Runs a future of the code under test (the in-memory twins never really wait).
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(future))
}

/// The answers the callback endpoint may give once authenticated. A 5xx here would mean the
/// in-memory store or key failed, which they cannot: an input made the code lose its way.
pub const CALLBACK_ANSWERS: [u16; 8] = [202, 204, 400, 404, 405, 409, 413, 422];

/// Applies `bytes` as `kyc replay` reads a file (an API Gateway event or a queue page) and
/// checks every answer is one the endpoint documents.
pub fn replay_file(bytes: &[u8]) {
    let Ok(deliveries) = kyc_xpollens::replay::read_file("fuzz-input", bytes) else {
        return;
    };
    let mut replay = Replay::new();
    block_on(replay.apply("fuzz-input", deliveries));
    let report = block_on(replay.report());
    check_answers(&report);
}

/// Every delivery of a replay report got a documented answer (queue pages: 400 also names an
/// unreadable page, recorded as such).
pub fn check_answers(report: &Value) {
    for delivery in report["deliveries"].as_array().into_iter().flatten() {
        let status = delivery["status"].as_u64().expect("status is a number") as u16;
        assert!(
            CALLBACK_ANSWERS.contains(&status),
            "undocumented answer {status}: {delivery}"
        );
    }
}
