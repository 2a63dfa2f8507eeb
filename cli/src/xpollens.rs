//! `kyc xpollens inspect FILE` and `kyc xpollens replay FILE...` (offline).

use base64::Engine;
use kyc_core::intake::EventId;
use kyc_xpollens::replay::EventFormError;
use kyc_xpollens::{parse_callback, plan::summary};
use serde_json::Value;

use crate::failure::Failure;

/// The body and `Webhook-Id` of a file: an API Gateway event or a bare callback body.
fn callback_of(bytes: &[u8]) -> Result<(Vec<u8>, Option<String>), EventFormError> {
    if let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(bytes) {
        if let (Some(body), true) = (
            event.get("body").and_then(Value::as_str),
            event.contains_key("requestContext"),
        ) {
            let body = if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .map_err(|_| EventFormError::BodyNotBase64)?
            } else {
                body.as_bytes().to_vec()
            };
            let id = event
                .get("headers")
                .and_then(Value::as_object)
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case("webhook-id")))
                .and_then(|(_, v)| v.as_str())
                .map(str::to_string);
            return Ok((body, id));
        }
    }
    Ok((bytes.to_vec(), None))
}

pub fn inspect(file: &std::path::Path) -> Result<Value, Failure> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (body, webhook_id) = callback_of(&bytes)?;
    let callback = parse_callback(&body, None).map_err(|e| format!("{}: {e}", file.display()))?;
    let event_id = match webhook_id {
        Some(id) => EventId::from_provider(&id).map_err(|e| format!("Webhook-Id: {e}"))?,
        None => EventId::from_body(&body),
    };
    Ok(summary(&callback, Some(&event_id)))
}

/// `kyc xpollens replay FILE...`: every file is read first (a bad one stops the replay before
/// anything is applied), then applied in order.
pub async fn replay(files: &[std::path::PathBuf]) -> Result<Value, Failure> {
    use kyc_xpollens::replay::{read_file, Replay};
    let mut inputs = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        let bytes = std::fs::read(file).map_err(|e| format!("cannot read {name}: {e}"))?;
        inputs.push((
            name.clone(),
            read_file(&name, &bytes).map_err(|e| e.to_string())?,
        ));
    }
    let mut replay = Replay::new();
    for (name, deliveries) in inputs {
        replay.apply(&name, deliveries).await;
    }
    Ok(replay.report().await)
}
