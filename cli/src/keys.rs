//! `kyc keys check` (issue 21): every key id a stored value is sealed under is in its
//! provider's keyring (rules in `kyc_reseal::keys_check`, the same scan as `kyc reseal`).
//! Exit 1 when one is missing (or, with `--open`, when a value does not open); the count is
//! published as the CloudWatch metric `KycHooks/SealedValuesWithoutKey`, which
//! `KeysCheckAlarm` watches: one embedded-metric-format line written to the stack's
//! `KeysCheckLogGroup` (CloudWatch Logs turns it into the metric, as it does the functions'
//! lines; no CloudWatch metrics client needed).

use crate::failure::{transient, Failure};
use crate::reseal::{providers, KeyringSecrets, ProviderArg};
use kyc_reseal::aws::DynamoSealedItems;
use kyc_reseal::keys_check::{check_keys, KeyCheckReport};
use kyc_reseal::ResealError;
use serde_json::Value;

/// The metric the alarm watches: values whose key is gone (0 when the check passes).
pub const METRIC: &str = "SealedValuesWithoutKey";

#[derive(clap::Args)]
pub struct Check {
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    pub table: String,
    /// Only this provider's values (repeatable); all three by default.
    #[arg(long, value_enum)]
    pub provider: Vec<ProviderArg>,
    #[command(flatten)]
    pub keyrings: KeyringSecrets,
    /// Also open every value with its binding (slower): the proof after restoring a keyring.
    #[arg(long)]
    pub open: bool,
    /// Items per Scan page.
    #[arg(long, default_value_t = 100)]
    pub page_size: usize,
    /// Log group the metric line goes to (output KeysCheckLogGroupName), e.g.
    /// /kyc-hooks/kyc-hooks-prod/keys-check.
    #[arg(
        long,
        env = "KEYS_CHECK_LOG_GROUP",
        default_value = "/kyc-hooks/keys-check"
    )]
    pub log_group: String,
    /// Do not publish the SealedValuesWithoutKey metric (a check that is not the scheduled
    /// one, e.g. during a restore drill in a test account).
    #[arg(long)]
    pub no_metric: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub async fn check(args: Check) -> Result<Value, Failure> {
    let providers = providers(&args.provider);
    let config = kyc_aws::load_config().await;
    let keyrings = args.keyrings.load(&config, &providers).await?;
    let items = DynamoSealedItems::new(&config, &args.table);
    let bar = crate::progress::table_scan(args.quiet);
    let show = |r: &KeyCheckReport| {
        bar.set_position(r.items_scanned);
        bar.set_message(format!(
            "{} sealed values, {} without their key",
            r.sealed_values, r.values_without_key
        ));
    };
    let report = check_keys(&items, &keyrings, args.open, args.page_size, &show)
        .await
        .map_err(|e| match e {
            ResealError::Unavailable(_) => Failure::Transient(e.to_string()),
            _ => Failure::BadInput(e.to_string()),
        })?;
    bar.finish_and_clear();
    if !args.no_metric {
        publish(&config, &args.log_group, report.values_without_key).await?;
    }
    let json = serde_json::to_value(&report).expect("the report serialises");
    if report.ok {
        Ok(json)
    } else {
        // The report on stdout for scripts; the reason on stderr; exit 1: fix the keyring.
        println!("{json:#}");
        Err(Failure::BadInput(report.message))
    }
}

/// The embedded-metric-format line of one `KycHooks/SealedValuesWithoutKey` data point (no
/// dimension, as the alarm watches it).
pub fn emf_line(count: u64, timestamp_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": kyc_core::metrics::NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": METRIC, "Unit": "Count"}],
            }],
        },
        METRIC: count,
    })
    .to_string()
}

/// One data point of `KycHooks/SealedValuesWithoutKey` (0 clears the alarm): a log stream of
/// its own in `log_group`, one EMF line.
async fn publish(
    config: &kyc_aws::aws_config::SdkConfig,
    log_group: &str,
    count: u64,
) -> Result<(), Failure> {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    let logs = aws_sdk_cloudwatchlogs::Client::new(config);
    let now = kyc_core::chrono::Utc::now();
    let stream = format!(
        "keys-check/{}/{}",
        now.format("%Y-%m-%dT%H-%M-%S"),
        std::process::id()
    );
    let failed = |doing: &str, e: &dyn std::fmt::Display| {
        transient(&format!("publishing {METRIC} ({doing} in {log_group})"), e)
    };
    logs.create_log_stream()
        .log_group_name(log_group)
        .log_stream_name(&stream)
        .send()
        .await
        .map_err(|e| {
            failed(
                "log stream",
                &aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e),
            )
        })?;
    logs.put_log_events()
        .log_group_name(log_group)
        .log_stream_name(&stream)
        .log_events(
            InputLogEvent::builder()
                .timestamp(now.timestamp_millis())
                .message(emf_line(count, now.timestamp_millis()))
                .build()
                .expect("timestamp and message are set"),
        )
        .send()
        .await
        .map_err(|e| {
            failed(
                "log event",
                &aws_sdk_cloudwatchlogs::error::DisplayErrorContext(&e),
            )
        })?;
    Ok(())
}
