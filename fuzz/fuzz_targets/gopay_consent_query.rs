//! The GoPay consent redirect's query (`?code=&state=` or `?error=&state=`).
#![no_main]

use kyc_gopay::consent::{parse_callback_query, CallbackOutcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    match parse_callback_query(query) {
        Ok(CallbackOutcome::Granted { code, state }) => {
            assert!(!code.expose().trim().is_empty());
            let _ = state.storage_key();
        }
        Ok(CallbackOutcome::Denied { error, state }) => {
            let _ = (error.as_str(), state.storage_key());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
