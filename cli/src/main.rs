//! `kyc`: the operator's command line. One tree: `kyc <provider> <verb>` for a provider's
//! payloads and profiles, `kyc status|history|publish` across providers. The forms older
//! scripts call (`kyc inspect PROVIDER FILE`, `kyc replay xpollens FILE...`, `kyc reprocess`)
//! stay as hidden aliases of the same code. Reports go to stdout (JSON, or a table where a
//! person reads them), errors to stderr; the exit code says what to do (see `failure`).
//! Secrets and raw payloads are never printed.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

use clap::{Parser, Subcommand, ValueEnum};
use kyc_aws::DynamoStore;
use kyc_core::intake::EventStore;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

// One module per provider; `main` only dispatches.
mod customer;
mod decision;
mod downstream;
mod evidence;
mod failure;
mod gopay;
mod keys;
mod lifecycle;
mod migrate;
mod progress;
mod reseal;
mod table;
mod trust_sign;
mod xpollens;

use failure::Failure;

const EXAMPLES: &str = "Examples:
  kyc xpollens inspect events/xpollens-04-v2-complete.json
  kyc xpollens replay events/xpollens-04-v2-complete.json events/xpollens-queue-page.json
  kyc trust-sign inspect client-file.zip
  kyc trust-sign reprocess s3://kyc-archives/incoming/2026/ --rerun fix-42
  kyc gopay revoke customer-0042
  kyc status customer-0042 --output table
  kyc decision explain customer-0042
  kyc decision resolve customer-0042 --outcome rejected --reason AML-CASE-117
  kyc customer alias customer-0042 xpollens xp-user-981
  kyc customer close customer-0042 --on 2026-11-30 --outcome customer
  kyc hold customer-0042 --reason LEGAL-2026-4
  kyc retention report
  kyc history customer-0042
  kyc publish --since 2026-11-27T09:00:00Z --dry-run
  kyc keys check --open
  kyc migrate keys --dry-run

Exit codes: 0 done, 1 bad input (fix it, do not retry), 2 usage, 3 transient AWS or provider
failure (nothing lost: run the same command again later).
Older forms still accepted: kyc inspect PROVIDER FILE, kyc replay xpollens FILE..., kyc reprocess URL.";

#[derive(Parser)]
#[command(name = "kyc", about = "kyc-hooks operator tool", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Xpollens callbacks: inspect one, replay deliveries offline.
    #[command(subcommand)]
    Xpollens(XpollensCommand),
    /// Namirial Trust & Sign client-file archives: inspect one, reprocess a prefix.
    #[command(subcommand, name = "trust-sign")]
    TrustSign(TrustSignCommand),
    /// GoPay identification: inspect a status response, revoke or reactivate a profile.
    #[command(subcommand)]
    Gopay(GopayCommand),
    /// Print a customer's KYC decision, then the current state per provider.
    Status(CustomerReport),
    /// A customer's KYC decision: explain it, or record the bank's own call.
    #[command(subcommand)]
    Decision(DecisionCommand),
    /// The bank's customers: alias a provider's own id of one of them.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Put a legal hold on a customer: no deletion, no erasure until released.
    Hold(lifecycle::WithReason),
    /// Lift a customer's legal hold.
    Release(lifecycle::WithReason),
    /// Erase every item and object version of a customer at every provider (resumable,
    /// idempotent); whatever a provider still sends about the person is then dropped for
    /// --drop-days. Refused under a legal hold, a running retention (unless
    /// --override-retention, recorded) or a live GoPay consent (kyc gopay revoke first).
    Erase(lifecycle::Erase),
    /// Retention: what falls due for deletion, and the deletion sweep.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Print a customer's history, oldest first.
    History(CustomerReport),
    /// Check the history against its sealed hours: anything added, changed, removed or moved
    /// after its hour was sealed (exit 1), and the bank's deletions explained.
    Verify(evidence::Verify),
    /// Write a customer's encrypted evidence bundle (events with their bodies, history,
    /// states, decision, PDFs, report.json, manifest, inclusion proofs, summary.html);
    /// recorded in the customer's history.
    Export(evidence::Export),
    /// Evidence bundles: open one (decrypt, check the manifest and every proof).
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Re-publish state-change events from the stored state (same ids as the live events).
    Publish(downstream::Publish),
    /// Re-seal every stored value not yet v2 under its provider's current payload key
    /// (resumable, idempotent); reports values per key id so retired keys can be dropped.
    Reseal(reseal::Reseal),
    /// Payload keyrings: check that every key stored values are sealed under is present.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Move the table to a new key layout (resumable, idempotent; docs/deploy.md).
    #[command(subcommand)]
    Migrate(MigrateCommand),

    // The forms operators' scripts already call: same code, hidden from help.
    #[command(hide = true)]
    Inspect {
        provider: InspectProvider,
        file: PathBuf,
    },
    #[command(hide = true)]
    Replay {
        provider: ReplayProvider,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    #[command(hide = true)]
    Reprocess(trust_sign::Reprocess),
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Decrypt a bundle into a directory, checking every file against the manifest and every
    /// inclusion proof against its hour's root.
    Open(evidence::OpenBundle),
}

#[derive(Subcommand)]
enum DecisionCommand {
    /// Print, per provider, the rules that produced the decision and the events it rests on.
    Explain(decision::Explain),
    /// Record the bank's adjudication (operator: the caller's AWS identity) and recompute.
    Resolve(decision::Resolve),
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Record (or --remove) that PROVIDER knows CUSTOMER as PROVIDER_ID (operator: the
    /// caller's AWS identity); both customers' decisions are recomputed.
    Alias(customer::Alias),
    /// Record that the relationship ended (or the applicant was refused) on a day: the
    /// evidence is deleted once the retention period after it has run.
    Close(lifecycle::Close),
    /// Clear the deletion date: the relationship goes on.
    Reopen(lifecycle::WithReason),
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Customers falling due within each horizon, by outcome and provider (the due index).
    Report(lifecycle::Report),
    /// Delete every due customer nothing keeps (hold, provider event since the end, live
    /// GoPay consent), as the scheduled sweep does; recorded with your identity.
    Sweep(lifecycle::Sweep),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Scan the table: every key id a stored value is sealed under must be in its keyring
    /// (with --open, every value must open). Exit 1 otherwise; publishes the metric
    /// SealedValuesWithoutKey (alarm KeysCheckAlarm).
    Check(keys::Check),
}

#[derive(Subcommand)]
enum MigrateCommand {
    /// Move every item of the key layout before provider-scoped keys to its new keys, while
    /// the stack runs with LegacyKeyLayout=read; then set LegacyKeyLayout=off.
    Keys(migrate::MigrateKeys),
}

#[derive(Subcommand)]
enum XpollensCommand {
    /// Print the normalised event of a callback (offline), secrets redacted.
    Inspect {
        /// A raw callback body, or an API Gateway event holding one, e.g.
        /// events/xpollens-04-v2-complete.json.
        file: PathBuf,
    },
    /// Apply deliveries offline, in the order given, through the Lambda's code against an
    /// in-memory store; print the resulting states, histories and answers.
    Replay {
        /// API Gateway HTTP API 2.0 events or fallback-queue pages (the JSON array
        /// GET /api/v2.0/webhooks answers), e.g. events/xpollens-queue-page.json.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TrustSignCommand {
    /// Print the summary, verdicts, manifest and read costs of a local archive, and the state
    /// change recording it would make (offline).
    Inspect {
        /// A Trust & Sign client-file archive, e.g. client-file.zip.
        file: PathBuf,
        #[command(flatten)]
        args: trust_sign::InspectArgs,
    },
    /// Re-run the archive processing on every archive under s3://BUCKET/PREFIX.
    Reprocess(trust_sign::Reprocess),
}

#[derive(Subcommand)]
enum GopayCommand {
    /// Print an identification-status response normalised, personal data redacted (offline).
    Inspect {
        /// A GoPay identification-status response, e.g. identification.json.
        file: PathBuf,
    },
    /// Revoke the customer's consent at GoPay, mark the profile revoked, erase its tokens.
    Revoke {
        /// Our customer id, e.g. customer-0042.
        customer: String,
        #[command(flatten)]
        settings: gopay::RevokeSettings,
    },
    /// Put a profile wrongly marked needsConsent (or unknownAtGoPay) back in service with its
    /// kept refresh token, due now; records the consent as GRANTED again.
    Reactivate {
        /// Our customer id, e.g. customer-0042.
        customer: String,
        #[command(flatten)]
        settings: gopay::RevokeSettings,
    },
}

/// `kyc status` and `kyc history`: one customer, read from the table.
#[derive(clap::Args)]
struct CustomerReport {
    /// Our customer id, e.g. customer-0042.
    customer: String,
    /// The DynamoDB table, e.g. kyc-hooks-prod (AWS_ENDPOINT_URL for a local stack).
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
    /// json (default, for scripts) or table (for a person).
    #[arg(long, value_enum, default_value_t = Output::Json)]
    output: Output,
    #[command(flatten)]
    reveal: trust_sign::Reveal,
}

/// Where the Trust & Sign payload keyring is (each provider has its own, see `kyc reseal`).
#[derive(clap::Args)]
pub struct TrustSignKeySecret {
    /// Secrets Manager secret of the Trust & Sign payload keyring, e.g.
    /// kyc-hooks/payload-key/trust-sign.
    #[arg(
        long = "payload-key-secret",
        env = "TRUST_SIGN_PAYLOAD_KEY_SECRET",
        default_value = "kyc-hooks/payload-key/trust-sign"
    )]
    pub name: String,
}

/// Where the GoPay payload keyring is (each provider has its own, see `kyc reseal`).
#[derive(clap::Args)]
pub struct GoPayKeySecret {
    /// Secrets Manager secret of the GoPay payload keyring, e.g. kyc-hooks/payload-key/gopay.
    #[arg(
        long = "payload-key-secret",
        env = "GOPAY_PAYLOAD_KEY_SECRET",
        default_value = "kyc-hooks/payload-key/gopay"
    )]
    pub name: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Json,
    Table,
}

#[derive(Clone, Copy, ValueEnum)]
enum ReplayProvider {
    Xpollens,
}

#[derive(Clone, Copy, ValueEnum)]
enum InspectProvider {
    Xpollens,
    /// A Trust & Sign client-file archive.
    #[value(alias = "trust-sign")]
    Archive,
    /// A GoPay identification-status response.
    Gopay,
}

fn main() -> ExitCode {
    let command = match Cli::try_parse() {
        Ok(cli) => cli.command,
        Err(e) => {
            let _ = e.print();
            // --help and --version come through here too, and succeed.
            return if e.use_stderr() {
                ExitCode::from(failure::EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let output = match &command {
        Command::Status(r) | Command::History(r) => r.output,
        _ => Output::Json,
    };
    let result = match command {
        Command::Xpollens(XpollensCommand::Inspect { file })
        | Command::Inspect {
            provider: InspectProvider::Xpollens,
            file,
        } => xpollens::inspect(&file),
        Command::Xpollens(XpollensCommand::Replay { files })
        | Command::Replay {
            provider: ReplayProvider::Xpollens,
            files,
        } => runtime().block_on(xpollens::replay(&files)),
        Command::TrustSign(TrustSignCommand::Inspect { file, args }) => {
            runtime().block_on(trust_sign::inspect(&file, &args))
        }
        Command::Inspect {
            provider: InspectProvider::Archive,
            file,
        } => runtime().block_on(trust_sign::inspect(
            &file,
            &trust_sign::InspectArgs::from_env(),
        )),
        Command::TrustSign(TrustSignCommand::Reprocess(args)) | Command::Reprocess(args) => {
            runtime().block_on(trust_sign::reprocess(args))
        }
        Command::Gopay(GopayCommand::Inspect { file })
        | Command::Inspect {
            provider: InspectProvider::Gopay,
            file,
        } => gopay::inspect(&file),
        Command::Gopay(GopayCommand::Revoke { customer, settings }) => {
            runtime().block_on(gopay::revoke(&customer, &settings))
        }
        Command::Gopay(GopayCommand::Reactivate { customer, settings }) => {
            runtime().block_on(gopay::reactivate(&customer, &settings))
        }
        Command::Publish(args) => runtime().block_on(downstream::publish(args)),
        Command::Decision(DecisionCommand::Explain(args)) => {
            runtime().block_on(decision::explain(args))
        }
        Command::Decision(DecisionCommand::Resolve(args)) => {
            runtime().block_on(decision::resolve(args))
        }
        Command::Customer(CustomerCommand::Alias(args)) => {
            runtime().block_on(customer::alias(args))
        }
        Command::Customer(CustomerCommand::Close(args)) => {
            runtime().block_on(lifecycle::close(args))
        }
        Command::Customer(CustomerCommand::Reopen(args)) => {
            runtime().block_on(lifecycle::reopen(args))
        }
        Command::Hold(args) => runtime().block_on(lifecycle::hold(args)),
        Command::Erase(args) => runtime().block_on(lifecycle::erase(args)),
        Command::Verify(args) => runtime().block_on(evidence::verify(args)),
        Command::Export(args) => runtime().block_on(evidence::export(args)),
        Command::Bundle(BundleCommand::Open(args)) => {
            runtime().block_on(evidence::open_bundle(args))
        }
        Command::Release(args) => runtime().block_on(lifecycle::release(args)),
        Command::Retention(RetentionCommand::Report(args)) => {
            runtime().block_on(lifecycle::report(args))
        }
        Command::Retention(RetentionCommand::Sweep(args)) => {
            runtime().block_on(lifecycle::sweep(args))
        }
        Command::Reseal(args) => runtime().block_on(reseal::reseal(args)),
        Command::Keys(KeysCommand::Check(args)) => runtime().block_on(keys::check(args)),
        Command::Migrate(MigrateCommand::Keys(args)) => {
            runtime().block_on(migrate::migrate_keys(args))
        }
        Command::Status(r) => runtime().block_on(status(&r)),
        Command::History(r) => runtime().block_on(history(&r)),
    };
    match result {
        Ok(report) => {
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("JSON values serialise")
                ),
                Output::Table => print!("{}", table::render(&report)),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kyc: {e}");
            e.exit_code()
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn store(table: &str) -> Result<DynamoStore, Failure> {
    Ok(DynamoStore::new(&kyc_aws::load_config().await, table).with_legacy_layout(legacy_layout()?))
}

/// `LEGACY_KEY_LAYOUT=read` while a deployed table moves to provider-scoped keys (the same
/// setting as the functions'; `docs/table-design.md`).
pub fn legacy_layout() -> Result<kyc_core::legacy_keys::LegacyKeyLayout, Failure> {
    kyc_core::legacy_keys::LegacyKeyLayout::from_env(&kyc_core::config::Env::Process)
        .map_err(|e| Failure::BadInput(e.to_string()))
}

async fn status(r: &CustomerReport) -> Result<Value, Failure> {
    use kyc_decision::store::DecisionStore;
    let mut states = store(&r.table).await?.provider_states(&r.customer).await?;
    r.reveal.record(&r.table, &r.customer, "status").await?;
    if let Some(state) = states.get_mut(&kyc_core::intake::Provider::TrustSign) {
        r.reveal.streams(&r.customer, state).await?;
    }
    let decision = kyc_decision::aws::DynamoDecisionStore::new(
        kyc_aws::aws_sdk_dynamodb::Client::new(&kyc_aws::load_config().await),
        &r.table,
    )
    .get(&r.customer)
    .await?;
    // The same answer as the read API: the decision first, then the detail.
    Ok(kyc_downstream::read_api::status_with_decision(
        &r.customer,
        states,
        decision.as_ref(),
    ))
}

async fn history(r: &CustomerReport) -> Result<Value, Failure> {
    use kyc_core::bank::BankHistory;
    r.reveal.record(&r.table, &r.customer, "history").await?;
    let mut entries = store(&r.table).await?.history(&r.customer).await?;
    r.reveal.history(&r.customer, &mut entries).await?;
    // The bank's own actions on the record: adjudications, ends, holds, aliases, and who
    // opened personal data (with the operator's identity).
    let config = kyc_aws::load_config().await;
    let bank = kyc_aws::bank_history::DynamoBankHistory::new(
        kyc_aws::aws_sdk_dynamodb::Client::new(&config),
        &r.table,
    )
    .list(&r.customer)
    .await?;
    Ok(json!({"customer": r.customer, "history": entries, "bank": bank}))
}
