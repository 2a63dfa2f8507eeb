//! Xpollens callbacks as `kyc replay` and the Lambda take them: an API Gateway HTTP API 2.0
//! event (method, path, headers incl. Webhook-Id/Webhook-Processdate and callback 36's header
//! form, query string, body, base64) through the endpoint after authentication, the delivery
//! recorder and the state rules; or a fallback-queue page through the drain's reading.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kyc_hooks_fuzz::replay_file(data);
});
