//! `kyc trust-sign inspect FILE.zip` (offline) and `kyc trust-sign reprocess s3://BUCKET/PREFIX`
//! (re-runs the archive function's processing on every archive under a prefix).

use indicatif::{ProgressBar, ProgressStyle};
use kyc_core::crypto::Keyring;
use kyc_core::intake::{HistoryEntry, Outcome, Provider};
use kyc_core::kyc_state::ProviderState;
use kyc_trust_sign::aws::build_processor;
use kyc_trust_sign::plan::{reveal_keys, state_change, ArchiveObject, LinkKey};
use kyc_trust_sign::processor::{RecordResult, Settings, Transient};
use kyc_trust_sign::{
    analyze_archive_with, parse_time_zone, FileSource, Limits, Reading, ReviewOutcome,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

use crate::failure::{transient, Failure};

/// How reports are read, as the archive function's settings (same names, same defaults).
#[derive(clap::Args, Clone)]
pub struct ReadingArgs {
    /// How an operator review's acceptance is read: unconfirmed (none: a reviewed check
    /// awaits a person), event-state (events[].state OK/KO), or
    /// field:NAME=ACCEPTED[|...]/REJECTED[|...], as confirmed with Namirial.
    #[arg(long, env = "REVIEW_OUTCOME", default_value = "unconfirmed")]
    pub review_outcome: String,
    /// The zone a report date without an offset is read in (IANA name).
    #[arg(long, env = "REPORT_TIME_ZONE", default_value = "Europe/Paris")]
    pub time_zone: String,
}

impl ReadingArgs {
    pub fn reading(&self) -> Result<Reading, Failure> {
        Ok(Reading {
            review_outcome: ReviewOutcome::parse(&self.review_outcome)
                .map_err(|e| Failure::BadInput(format!("--review-outcome: {e}")))?,
            time_zone: parse_time_zone(&self.time_zone)
                .map_err(|e| Failure::BadInput(format!("--time-zone: {e}")))?,
        })
    }
}

/// Options of `kyc trust-sign inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub reading: ReadingArgs,
    /// What links an archive to a customer, as the function's: externalId or
    /// `externalInfo.<key>`.
    #[arg(long, env = "LINK_KEY", default_value = "externalId")]
    pub link_key: String,
}

impl InspectArgs {
    /// The function's settings from the environment, defaults as the function's (the legacy
    /// `kyc inspect archive FILE` form has no options).
    pub fn from_env() -> Self {
        let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        Self {
            reading: ReadingArgs {
                review_outcome: env("REVIEW_OUTCOME", "unconfirmed"),
                time_zone: env("REPORT_TIME_ZONE", "Europe/Paris"),
            },
            link_key: env("LINK_KEY", "externalId"),
        }
    }
}

/// Summary, verdicts, manifest and read costs of a local archive (personal data redacted),
/// and the state change recording it would make (`stateChange`: customer, stream, status,
/// provider time, final, flags; or `noStateChange`: why none), so a person can check a
/// report before it is dropped in S3. A bad archive is an error naming its reason code.
pub async fn inspect(file: &Path, args: &InspectArgs) -> Result<Value, Failure> {
    let reading = args.reading.reading()?;
    let link = LinkKey::parse(&args.link_key)
        .map_err(|e| Failure::BadInput(format!("--link-key: {e}")))?;
    let source =
        FileSource::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    match analyze_archive_with(&source, &Limits::default(), &reading).await {
        Ok(a) => {
            let mut out = serde_json::to_value(a.view()).expect("analysis view serialises");
            match state_change(&a, &link) {
                Ok(change) => out["stateChange"] = json!(change),
                Err(why) => out["noStateChange"] = json!(why),
            }
            Ok(out)
        }
        Err(e) => Err(Failure::BadInput(format!(
            "{}: bad archive ({}): {e}",
            file.display(),
            e.reason_code()
        ))),
    }
}

/// `--reveal`: archive keys are stored sealed (they often name the customer); an operator who
/// asks sees them opened with the payload key. Without it, output shows sealed keys only.
#[derive(clap::Args)]
pub struct Reveal {
    /// Show Trust & Sign archive keys in clear (opened with the payload key); needs --reason,
    /// and is recorded in the customer's history with your AWS identity.
    #[arg(long)]
    pub reveal: bool,
    /// Why personal data is opened: a code of the bank's procedures (1 to 64 of
    /// [A-Za-z0-9._:-]), e.g. DSAR-2026-31.
    #[arg(long, requires = "reveal")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub payload_key: crate::TrustSignKeySecret,
}

/// The bank action that records who opened a customer's personal data (`kyc history`).
pub const PERSONAL_DATA_REVEALED: &str = "personalDataRevealed";

impl Reveal {
    /// Records who opens the customer's personal data, before anything is opened: no record,
    /// no reveal.
    pub async fn record(&self, table: &str, customer: &str, command: &str) -> Result<(), Failure> {
        use kyc_core::bank::{BankAction, BankHistory};
        if !self.reveal {
            return Ok(());
        }
        let reason = self.reason.clone().ok_or_else(|| {
            Failure::BadInput(
                "--reveal needs --reason CODE (recorded with your AWS identity in the customer's history)"
                    .into(),
            )
        })?;
        if !kyc_decision::is_reason_code(&reason) {
            return Err(Failure::BadInput(
                "reason must be a code of 1 to 64 characters [A-Za-z0-9._:-]".into(),
            ));
        }
        let action = BankAction {
            at: kyc_core::chrono::Utc::now(),
            action: PERSONAL_DATA_REVEALED.into(),
            operator: crate::decision::caller().await?,
            reason,
            detail: serde_json::json!({"what": "trustSignArchiveKeys", "command": command}),
        };
        let config = kyc_aws::load_config().await;
        kyc_aws::bank_history::DynamoBankHistory::new(
            kyc_aws::aws_sdk_dynamodb::Client::new(&config),
            table,
        )
        .append(customer, &action)
        .await?;
        Ok(())
    }

    async fn keyring(&self) -> Result<Keyring, Failure> {
        use kyc_core::secrets::SecretSource;
        let config = kyc_aws::load_config().await;
        let staged = kyc_aws::SecretsManagerSource::new(&config)
            .staged(&self.payload_key.name)
            .await?;
        Ok(Keyring::from_staged(&staged)?)
    }

    /// Opens the sealed keys of the Trust & Sign streams (each bound to its event).
    pub async fn streams(&self, customer: &str, state: &mut ProviderState) -> Result<(), Failure> {
        if !self.reveal {
            return Ok(());
        }
        let keys = self.keyring().await?;
        for v in state.streams.values_mut() {
            reveal_keys(&keys, &v.event_id, Some(customer), &mut v.detail)?;
        }
        Ok(())
    }

    /// Opens the sealed keys of the Trust & Sign history entries.
    pub async fn history(
        &self,
        customer: &str,
        entries: &mut [HistoryEntry],
    ) -> Result<(), Failure> {
        if !self.reveal {
            return Ok(());
        }
        let keys = self.keyring().await?;
        for e in entries
            .iter_mut()
            .filter(|e| e.provider == Provider::TrustSign)
        {
            reveal_keys(&keys, &e.event_id, Some(customer), &mut e.summary)?;
        }
        Ok(())
    }
}

/// Options of `kyc trust-sign reprocess` (defaults are the function's).
#[derive(clap::Args)]
pub struct Reprocess {
    /// Where the archives are, e.g. s3://kyc-archives/incoming/2026/.
    pub url: String,
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    pub table: String,
    #[command(flatten)]
    pub payload_key: crate::TrustSignKeySecret,
    /// Key prefix of incoming archives, as the function's, e.g. incoming/.
    #[arg(long, env = "ARCHIVE_PREFIX", default_value = "incoming/")]
    pub archive_prefix: String,
    /// Where report.json copies go, as the function's, e.g. processed/.
    #[arg(long, env = "PROCESSED_PREFIX", default_value = "processed/")]
    pub processed_prefix: String,
    /// Where bad archives are copied, as the function's, e.g. quarantine/.
    #[arg(long, env = "QUARANTINE_PREFIX", default_value = "quarantine/")]
    pub quarantine_prefix: String,
    /// What links an archive to a customer: `externalId` or `externalInfo.<key>`, e.g.
    /// externalInfo.customerId.
    #[arg(long, env = "LINK_KEY", default_value = "externalId")]
    pub link_key: String,
    /// Record every archive as a new event (`<id>#TAG`), for a deliberate re-run after a fix,
    /// e.g. --rerun fix-42. Without it, archives already recorded come back as duplicates.
    #[arg(long)]
    pub rerun: Option<String>,
    /// Only the archive versions with these S3 version ids (repeatable), current or not, as
    /// a TrustSignArchiveFailures record names them (it names no key), e.g.
    /// --version-id 3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY.
    #[arg(long = "version-id")]
    pub version_ids: Vec<String>,
    #[command(flatten)]
    pub reading: ReadingArgs,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// An archive location that is not `s3://BUCKET[/PREFIX]`: fix the argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadS3Url {
    #[error("the archive location is not an s3://BUCKET/PREFIX URL")]
    NotS3,
    #[error("the s3:// URL names no bucket")]
    NoBucket,
}

fn parse_url(url: &str) -> Result<(String, String), BadS3Url> {
    let rest = url.strip_prefix("s3://").ok_or(BadS3Url::NotS3)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(BadS3Url::NoBucket);
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// The outcome's name, for the final count.
fn label(r: &Result<RecordResult, Transient>) -> String {
    match r {
        Ok(RecordResult::Processed { outcome, .. }) => match outcome {
            Outcome::Applied => "applied".into(),
            Outcome::NotApplied { .. } => "notApplied".into(),
            Outcome::Recorded { .. } => "recordedWithoutState".into(),
            Outcome::Duplicate => "duplicate".into(),
            Outcome::Conflict => "conflict".into(),
            Outcome::ErasedSubject => "erasedSubjectDropped".into(),
        },
        Ok(RecordResult::Quarantined {
            outcome: Outcome::Duplicate,
            ..
        }) => "duplicate".into(),
        Ok(RecordResult::Quarantined { reason_code, .. }) => format!("quarantined:{reason_code}"),
        Ok(RecordResult::Gone { .. }) => "gone".into(),
        Ok(RecordResult::Skipped { .. }) => "skipped".into(),
        Err(_) => "failed".into(),
    }
}

/// The current version of each archive under the prefix (or, with `version_ids`, the
/// versions so named, current or not), and how many other objects were skipped. Its version
/// id gives the same event id as its S3 notification did (ETag on an unversioned bucket,
/// where the id is "null").
async fn current_archives(
    s3: &kyc_aws::aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    is_archive_key: impl Fn(&str) -> bool,
    version_ids: &[String],
) -> Result<(Vec<ArchiveObject>, usize), Failure> {
    let mut objects = Vec::new();
    let mut skipped = 0usize;
    // ListObjectVersions has two markers and no SDK paginator.
    let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_marker.clone())
            .send()
            .await
            .map_err(|e| {
                transient(
                    &format!("listing s3://{bucket}/{prefix}"),
                    kyc_aws::aws_sdk_s3::error::DisplayErrorContext(&e),
                )
            })?;
        for v in page.versions() {
            let wanted = if version_ids.is_empty() {
                v.is_latest() == Some(true)
            } else {
                v.version_id()
                    .is_some_and(|id| version_ids.iter().any(|w| w == id))
            };
            let (Some(key), true) = (v.key(), wanted) else {
                continue;
            };
            if !is_archive_key(key) {
                skipped += 1;
                continue;
            }
            if let Some(mut o) = ArchiveObject::new(bucket, key, v.version_id(), v.e_tag()) {
                o.size = v.size().and_then(|s| u64::try_from(s).ok());
                objects.push(o);
            }
        }
        if page.is_truncated() != Some(true) {
            return Ok((objects, skipped));
        }
        key_marker = page.next_key_marker().map(str::to_string);
        version_marker = page.next_version_id_marker().map(str::to_string);
    }
}

pub async fn reprocess(opts: Reprocess) -> Result<Value, Failure> {
    let (bucket, prefix) = parse_url(&opts.url)?;
    let settings = Settings {
        table: opts.table,
        payload_key_secret: opts.payload_key.name,
        archive_prefix: opts.archive_prefix,
        processed_prefix: opts.processed_prefix,
        quarantine_prefix: opts.quarantine_prefix,
        link_key: LinkKey::parse(&opts.link_key)?,
        legacy_keys: crate::legacy_layout()?,
        limits: Limits::default(),
        reading: opts.reading.reading()?,
        secret_ttl: std::time::Duration::from_secs(300),
    }
    .checked()?;
    let config = kyc_aws::load_config().await;
    let processor = build_processor(settings, &config);
    let s3 = kyc_trust_sign::aws::client(&config);
    let (objects, skipped) = current_archives(
        &s3,
        &bucket,
        &prefix,
        |key| processor.settings.is_archive_key(key),
        &opts.version_ids,
    )
    .await?;

    let bar = if opts.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(objects.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} archives, {elapsed} ({eta} left) {msg}")
            .expect("valid template"),
    );
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, o) in objects.into_iter().enumerate() {
        let r = processor.process(o, opts.rerun.as_deref()).await;
        let l = label(&r);
        if let Err(e) = &r {
            // The archive's position, not its key: keys may name the customer.
            failures.push(json!({"archive": i, "error": e.to_string()}));
        }
        bar.set_message(l.clone());
        *counts.entry(l).or_default() += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let total: usize = counts.values().sum();
    let report = json!({
        "url": opts.url,
        "archives": total,
        "skippedObjects": skipped,
        "counts": counts,
        "failures": failures,
    });
    if failures.is_empty() {
        Ok(report)
    } else {
        Err(Failure::Transient(format!(
            "{} of {total} archives failed (transient: re-run later)\n{report:#}",
            failures.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_parse() {
        assert_eq!(
            parse_url("s3://b/incoming/2024/"),
            Ok(("b".into(), "incoming/2024/".into()))
        );
        assert_eq!(parse_url("s3://b"), Ok(("b".into(), String::new())));
        assert_eq!(parse_url("https://b/x"), Err(BadS3Url::NotS3));
        assert_eq!(parse_url("s3:///x"), Err(BadS3Url::NoBucket));
    }
}
