//! `kyc`: the operator's command line. `inspect` works offline on a file; `status` and
//! `history` read the configured table on any endpoint (`AWS_ENDPOINT_URL` for the local
//! stack). Output is JSON; secrets and raw payloads are never printed.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

use clap::{Parser, Subcommand, ValueEnum};
use kyc_shared::aws::DynamoStore;
use kyc_shared::intake::EventStore;
use serde_json::{json, Value};
use std::process::ExitCode;

// One module per provider; `main` only dispatches.
mod downstream;
mod gopay;
mod reseal;
mod trust_sign;
mod xpollens;

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
        /// A raw callback body, or an API Gateway event holding one (as in events/); for
        /// `archive`, a Trust & Sign client-file archive (.zip).
        file: std::path::PathBuf,
    },
    /// Apply deliveries offline, in the order given, through the Lambda's code against an
    /// in-memory store; print the resulting states, histories and answers (JSON).
    Replay {
        provider: ReplayProvider,
        /// API Gateway HTTP API 2.0 events (as in events/) or fallback-queue pages (the JSON
        /// array GET /api/v2.0/webhooks answers).
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Re-run the Trust & Sign archive processing on every archive under s3://BUCKET/PREFIX.
    Reprocess(trust_sign::Reprocess),
    /// Print a customer's current state per provider.
    Status {
        customer: String,
        #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
        table: String,
        #[command(flatten)]
        reveal: trust_sign::Reveal,
    },
    /// Print a customer's history, oldest first.
    History {
        customer: String,
        #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
        table: String,
        #[command(flatten)]
        reveal: trust_sign::Reveal,
    },
    /// Re-publish state-change events from the stored state (same ids as the live events).
    Publish(downstream::Publish),
    /// Re-seal every stored value not yet v2 under its provider's current payload key
    /// (resumable, idempotent); reports values per key id so retired keys can be dropped.
    Reseal(reseal::Reseal),
    /// GoPay operations.
    Gopay {
        #[command(subcommand)]
        action: GopayCommand,
    },
}

#[derive(Subcommand)]
enum GopayCommand {
    /// Revoke the customer's consent at GoPay, mark the profile revoked, erase its tokens.
    Revoke {
        customer: String,
        #[command(flatten)]
        settings: gopay::RevokeSettings,
    },
    /// Put a profile wrongly marked needsConsent (or unknownAtGoPay) back in service with its
    /// kept refresh token, due now; records the consent as GRANTED again.
    Reactivate {
        customer: String,
        #[command(flatten)]
        settings: gopay::RevokeSettings,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ReplayProvider {
    Xpollens,
}

#[derive(Clone, Copy, ValueEnum)]
enum InspectProvider {
    Xpollens,
    /// A Trust & Sign client-file archive.
    Archive,
    /// A GoPay identification-status response.
    Gopay,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect {
            provider: InspectProvider::Xpollens,
            file,
        } => xpollens::inspect(&file),
        Command::Inspect {
            provider: InspectProvider::Archive,
            file,
        } => runtime().block_on(trust_sign::inspect(&file)),
        Command::Reprocess(args) => runtime().block_on(trust_sign::reprocess(args)),
        Command::Replay {
            provider: ReplayProvider::Xpollens,
            files,
        } => runtime().block_on(xpollens::replay(&files)),
        Command::Inspect {
            provider: InspectProvider::Gopay,
            file,
        } => gopay::inspect(&file),
        Command::Gopay {
            action: GopayCommand::Revoke { customer, settings },
        } => runtime().block_on(gopay::revoke(&customer, &settings)),
        Command::Gopay {
            action: GopayCommand::Reactivate { customer, settings },
        } => runtime().block_on(gopay::reactivate(&customer, &settings)),
        Command::Publish(args) => runtime().block_on(downstream::publish(args)),
        Command::Reseal(args) => runtime().block_on(reseal::reseal(args)),
        Command::Status {
            customer,
            table,
            reveal,
        } => runtime().block_on(status(&customer, &table, &reveal)),
        Command::History {
            customer,
            table,
            reveal,
        } => runtime().block_on(history(&customer, &table, &reveal)),
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

async fn store(table: &str) -> DynamoStore {
    DynamoStore::new(&kyc_shared::aws::load_config().await, table)
}

async fn status(customer: &str, table: &str, reveal: &trust_sign::Reveal) -> Result<Value, String> {
    let mut states = store(table)
        .await
        .provider_states(customer)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(state) = states.get_mut(&kyc_shared::intake::Provider::TrustSign) {
        reveal.streams(customer, state).await?;
    }
    Ok(kyc_shared::xpollens::replay::status_json(customer, states))
}

async fn history(
    customer: &str,
    table: &str,
    reveal: &trust_sign::Reveal,
) -> Result<Value, String> {
    let mut entries = store(table)
        .await
        .history(customer)
        .await
        .map_err(|e| e.to_string())?;
    reveal.history(customer, &mut entries).await?;
    Ok(json!({"customer": customer, "history": entries}))
}
