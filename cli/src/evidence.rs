//! `kyc verify` (`docs/evidence.md`): the history as it is now against the sealed hours.

use crate::failure::Failure;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_core::chrono::{DateTime, Utc};
use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
use kyc_evidence::seal::HistorySource;
use kyc_evidence::verify::{hours_between, verify as verify_hours};
use serde_json::Value;

#[derive(clap::Args)]
pub struct Verify {
    /// Our customer id: every hour in which it has history entries now, e.g. customer-0042.
    #[arg(required_unless_present = "since", conflicts_with = "since")]
    customer: Option<String>,
    /// Every hour from this time (RFC 3339, e.g. 2026-12-01T00:00:00Z) to --until.
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// The end of the --since range (default: now).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
    /// The evidence bucket (the stack's EvidenceBucketName output).
    #[arg(long, env = "EVIDENCE_BUCKET")]
    bucket: String,
}

/// `kyc verify CUSTOMER|--since TIME`: exit 0 when nothing was changed after its hour was
/// sealed; exit 1 with the findings (hour and entry keys, never content) otherwise.
pub async fn verify(args: Verify) -> Result<Value, Failure> {
    let config = kyc_aws::load_config().await;
    let history = DynamoHistory::new(Client::new(&config), &args.table);
    let digests = S3Digests {
        client: kyc_aws::s3_client(&config),
        bucket: args.bucket.clone(),
        // Reading only: the lock settings are the seal's.
        lock_mode: lock_mode("GOVERNANCE").expect("a mode"),
        lock_days: 1,
    };
    let hours = match (&args.customer, args.since) {
        (Some(c), _) => history.hours_of_customer(c).await?,
        (None, Some(since)) => {
            let until = args.until.unwrap_or_else(Utc::now);
            if until < since {
                return Err(Failure::BadInput("--until is before --since".into()));
            }
            hours_between(since, until)
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let report = verify_hours(&history, &digests, &hours).await?;
    let json = serde_json::to_value(&report).expect("the report serialises");
    if report.is_clean() {
        Ok(json)
    } else {
        println!("{json:#}");
        Err(Failure::BadInput(format!(
            "{} finding(s): the history was changed after its hour was sealed",
            report.tampering.len()
        )))
    }
}
