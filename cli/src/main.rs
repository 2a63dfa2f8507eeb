//! `kyc`: the operator's command line. `inspect` works offline on a file; `status` and
//! `history` read the configured table on any endpoint (`AWS_ENDPOINT_URL` for the local
//! stack). Output is JSON; secrets and raw payloads are never printed.

use base64::Engine;
use clap::{Parser, Subcommand, ValueEnum};
use kyc_shared::aws::DynamoStore;
use kyc_shared::intake::{EventId, EventStore};
use kyc_shared::xpollens::{parse_callback, plan::summary};
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "kyc", about = "kyc-hooks operator tool", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the normalised event of a provider payload (offline).
    Inspect {
        provider: InspectProvider,
        /// A raw callback body, or an API Gateway event holding one (as in events/).
        file: std::path::PathBuf,
    },
    /// Print a customer's current state per provider.
    Status {
        customer: String,
        #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
        table: String,
    },
    /// Print a customer's history, oldest first.
    History {
        customer: String,
        #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
        table: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum InspectProvider {
    Xpollens,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect {
            provider: InspectProvider::Xpollens,
            file,
        } => inspect_xpollens(&file),
        Command::Status { customer, table } => runtime().block_on(status(&customer, &table)),
        Command::History { customer, table } => runtime().block_on(history(&customer, &table)),
    };
    match result {
        Ok(v) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&v).expect("JSON values serialise")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kyc: {e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The body and `Webhook-Id` of a file: an API Gateway event or a bare callback body.
fn callback_of(bytes: &[u8]) -> Result<(Vec<u8>, Option<String>), String> {
    if let Ok(Value::Object(event)) = serde_json::from_slice::<Value>(bytes) {
        if let (Some(body), true) = (
            event.get("body").and_then(Value::as_str),
            event.contains_key("requestContext"),
        ) {
            let body = if event.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
                base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .map_err(|_| "event body is not valid base64")?
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

fn inspect_xpollens(file: &std::path::Path) -> Result<Value, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (body, webhook_id) = callback_of(&bytes)?;
    let callback = parse_callback(&body, None).map_err(|e| format!("{}: {e}", file.display()))?;
    let event_id = match webhook_id {
        Some(id) => EventId::from_provider(&id).map_err(|e| format!("Webhook-Id: {e}"))?,
        None => EventId::from_body(&body),
    };
    Ok(summary(&callback, Some(&event_id)))
}

async fn store(table: &str) -> DynamoStore {
    DynamoStore::new(&kyc_shared::aws::load_config().await, table)
}

async fn status(customer: &str, table: &str) -> Result<Value, String> {
    let states = store(table)
        .await
        .provider_states(customer)
        .await
        .map_err(|e| e.to_string())?;
    let providers: serde_json::Map<String, Value> = states
        .into_iter()
        .map(|(provider, state)| {
            let streams: serde_json::Map<String, Value> = state
                .streams
                .into_iter()
                .map(|(stream, v)| {
                    let sealed: Vec<&String> = v.sealed.keys().collect();
                    (
                        stream.attribute().to_string(),
                        json!({"status": v.status, "final": v.is_final, "at": v.at, "eventId": v.event_id,
                               "detail": v.detail, "sealedSecrets": sealed}),
                    )
                })
                .collect();
            (provider.as_str().to_string(), Value::Object(streams))
        })
        .collect();
    Ok(json!({"customer": customer, "providers": providers}))
}

async fn history(customer: &str, table: &str) -> Result<Value, String> {
    let entries = store(table)
        .await
        .history(customer)
        .await
        .map_err(|e| e.to_string())?;
    Ok(json!({"customer": customer, "history": entries}))
}
