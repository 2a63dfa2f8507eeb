//! The hourly seal of the history (`docs/evidence.md`): wiring only — the rules are
//! `kyc_evidence::seal`. Invoked by EventBridge Scheduler with
//! `{"source":"kyc-hooks.scheduler","detail-type":"evidence-seal","detail":{}}`.

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

use chrono::{DateTime, Duration, Utc};
use kyc_core::config::{Env, SettingsError};
use kyc_core::invocation::InvocationError;
use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
use kyc_evidence::seal::{run, DigestStore, HistorySource, SealSettings};
use serde_json::Value;

/// The schedule's `detail-type`.
pub const SEAL: &str = "evidence-seal";

/// The function's settings, checked at cold start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub table: String,
    pub bucket: String,
    pub lock_mode: aws_sdk_s3::types::ObjectLockMode,
    pub lock_days: u32,
    pub seal: SealSettings,
}

impl Settings {
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let mode = env.required("EVIDENCE_LOCK_MODE")?;
        Ok(Self {
            table: env.required("TABLE_NAME")?,
            bucket: env.required("EVIDENCE_BUCKET")?,
            lock_mode: lock_mode(&mode).ok_or_else(|| {
                SettingsError::invalid("EVIDENCE_LOCK_MODE", "GOVERNANCE or COMPLIANCE")
            })?,
            lock_days: env.number_in("EVIDENCE_LOCK_DAYS", 2557, 1..=36500)?,
            seal: SealSettings {
                // Longer than the longest writer's timeout (15 minutes) plus the index's lag.
                delay: Duration::minutes(env.number_in(
                    "EVIDENCE_SEAL_DELAY_MINUTES",
                    20,
                    16..=120,
                )?),
                max_hours: env.number_in("EVIDENCE_SEAL_MAX_HOURS", 24, 1..=168)?,
            },
        })
    }
}

pub fn build(
    settings: &Settings,
    config: &kyc_aws::aws_config::SdkConfig,
) -> (DynamoHistory, S3Digests) {
    (
        DynamoHistory::new(
            kyc_aws::aws_sdk_dynamodb::Client::new(config),
            &settings.table,
        ),
        S3Digests {
            client: kyc_aws::s3_client(config),
            bucket: settings.bucket.clone(),
            lock_mode: settings.lock_mode.clone(),
            lock_days: settings.lock_days,
        },
    )
}

/// One scheduled run: every hour due is sealed, in order. A store failure fails the run
/// (retried; then the failure queue); the next run goes on from the chain.
pub async fn handle(
    history: &dyn HistorySource,
    digests: &dyn DigestStore,
    settings: &Settings,
    event: Value,
    now: DateTime<Utc>,
) -> Result<Value, InvocationError> {
    if event.get("detail-type").and_then(Value::as_str) != Some(SEAL) {
        return Err(InvocationError::Permanent(
            "not the evidence seal's schedule".into(),
        ));
    }
    let report = run(history, digests, settings.seal, now)
        .await
        .map_err(|e| InvocationError::Retryable(e.to_string()))?;
    Ok(serde_json::to_value(report).expect("serialises"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kyc_evidence::seal::MemoryDigests;
    use kyc_evidence::twin::MemoryHistory;
    use serde_json::json;

    fn settings() -> Settings {
        Settings::from_env(&Env::from_pairs(&[
            ("TABLE_NAME", "t"),
            ("EVIDENCE_BUCKET", "b"),
            ("EVIDENCE_LOCK_MODE", "GOVERNANCE"),
        ]))
        .unwrap()
    }

    #[test]
    fn settings_fail_fast() {
        let bad = Settings::from_env(&Env::from_pairs(&[
            ("TABLE_NAME", "t"),
            ("EVIDENCE_BUCKET", "b"),
            ("EVIDENCE_LOCK_MODE", "LEGAL_HOLD"),
        ]));
        assert!(bad.unwrap_err().to_string().contains("EVIDENCE_LOCK_MODE"));
        let short = Settings::from_env(&Env::from_pairs(&[
            ("TABLE_NAME", "t"),
            ("EVIDENCE_BUCKET", "b"),
            ("EVIDENCE_LOCK_MODE", "COMPLIANCE"),
            ("EVIDENCE_SEAL_DELAY_MINUTES", "5"),
        ]));
        assert!(short.is_err(), "a delay under the writers' timeout");
        assert_eq!(settings().seal.delay, Duration::minutes(20));
    }

    #[tokio::test]
    async fn the_schedule_seals_and_anything_else_is_refused_for_good() {
        let (h, d) = (MemoryHistory::default(), MemoryDigests::default());
        let now = Utc::now();
        let r = handle(
            &h,
            &d,
            &settings(),
            json!({"source":"kyc-hooks.scheduler","detail-type":"evidence-seal","detail":{}}),
            now,
        )
        .await
        .unwrap();
        assert_eq!(r["hours"], 1);
        let e = handle(
            &h,
            &d,
            &settings(),
            json!({"detail-type":"lifecycle-sweep"}),
            now,
        )
        .await
        .unwrap_err();
        assert!(!e.is_retryable());
    }
}
