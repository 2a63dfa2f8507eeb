//! The compliance lifecycle from the operator's side (`docs/lifecycle.md`): the relationship's
//! end, its reopening, legal holds, the retention report and the sweep. Every change is
//! recorded in the customer's history with the caller's AWS identity (STS, never typed in).

use crate::decision::caller;
use crate::failure::Failure;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_core::chrono::{NaiveDate, Utc};
use kyc_core::intake::Provider;
use kyc_lifecycle::aws::{Buckets, DynamoLifecycleStore, S3ObjectVersions};
use kyc_lifecycle::erase;
use kyc_lifecycle::retention::{Outcome, Retention};
use kyc_lifecycle::store::{self, LifecycleError};
use kyc_lifecycle::RelationshipEnd;
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Table {
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
}

#[derive(clap::Args)]
pub struct RetentionArgs {
    /// Days evidence is kept after a customer's relationship ended (as the stack's
    /// RetentionCustomerDays).
    #[arg(long, env = "RETENTION_CUSTOMER_DAYS", default_value_t = Retention::DEFAULT_CUSTOMER_DAYS)]
    customer_days: u32,
    /// Days evidence is kept after an applicant was refused (RetentionRefusedApplicantDays).
    #[arg(long, env = "RETENTION_REFUSED_APPLICANT_DAYS", default_value_t = Retention::DEFAULT_REFUSED_APPLICANT_DAYS)]
    refused_applicant_days: u32,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum EndOutcome {
    Customer,
    #[value(name = "refusedApplicant", alias = "refused-applicant")]
    RefusedApplicant,
}

#[derive(clap::Args)]
pub struct Close {
    /// Our customer id, e.g. customer-0042.
    customer: String,
    /// The day the relationship ended (YYYY-MM-DD), as core banking says.
    #[arg(long)]
    on: NaiveDate,
    #[arg(long, value_enum)]
    outcome: EndOutcome,
    #[command(flatten)]
    retention: RetentionArgs,
    #[command(flatten)]
    table: Table,
}

#[derive(clap::Args)]
pub struct WithReason {
    /// Our customer id, e.g. customer-0042.
    customer: String,
    /// A code of the bank's procedures (1 to 64 of [A-Za-z0-9._:-]), e.g. LEGAL-2026-4.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    table: Table,
}

#[derive(clap::Args)]
pub struct Report {
    /// Horizons in days, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "30,90,365")]
    horizons: Vec<u32>,
    #[command(flatten)]
    table: Table,
}

#[derive(clap::Args)]
pub struct Sweep {
    /// Customers checked at most (the rest stay due for the next run).
    #[arg(long, default_value_t = 200)]
    limit: usize,
    #[command(flatten)]
    table: Table,
}

async fn store(table: &Table) -> DynamoLifecycleStore {
    DynamoLifecycleStore::new(Client::new(&kyc_aws::load_config().await), &table.table)
}

fn failure(e: LifecycleError) -> Failure {
    match e {
        LifecycleError::Store(e) => Failure::from(e),
        LifecycleError::Raced => Failure::Transient(e.to_string()),
        e => Failure::BadInput(e.to_string()),
    }
}

pub async fn close(args: Close) -> Result<Value, Failure> {
    let retention = Retention::new(
        args.retention.customer_days,
        args.retention.refused_applicant_days,
    )
    .map_err(|e| Failure::BadInput(e.to_string()))?;
    let operator = caller().await?;
    let end = RelationshipEnd {
        customer: args.customer.clone(),
        on: args.on,
        outcome: match args.outcome {
            EndOutcome::Customer => Outcome::Customer,
            EndOutcome::RefusedApplicant => Outcome::RefusedApplicant,
        },
    };
    let l = store::record_end(
        &store(&args.table).await,
        &retention,
        &end,
        &operator,
        Utc::now(),
    )
    .await
    .map_err(failure)?;
    Ok(json!({
        "customer": l.customer_id, "endedOn": l.ended_on, "outcome": l.outcome,
        "deleteAfter": l.delete_after, "rule": l.rule, "operator": operator,
    }))
}

pub async fn reopen(args: WithReason) -> Result<Value, Failure> {
    let operator = caller().await?;
    let l = store::reopen(
        &store(&args.table).await,
        &args.customer,
        &args.reason,
        &operator,
        Utc::now(),
    )
    .await
    .map_err(failure)?;
    Ok(json!({"customer": args.customer, "reopened": l.is_some(), "operator": operator}))
}

pub async fn hold(args: WithReason) -> Result<Value, Failure> {
    let operator = caller().await?;
    let h = store::hold(
        &store(&args.table).await,
        &args.customer,
        &args.reason,
        &operator,
        Utc::now(),
    )
    .await
    .map_err(failure)?;
    Ok(
        json!({"customer": args.customer, "hold": {"reason": h.reason, "at": h.at}, "operator": operator}),
    )
}

pub async fn release(args: WithReason) -> Result<Value, Failure> {
    let operator = caller().await?;
    let h = store::release(
        &store(&args.table).await,
        &args.customer,
        &args.reason,
        &operator,
        Utc::now(),
    )
    .await
    .map_err(failure)?;
    Ok(
        json!({"customer": args.customer, "released": {"reason": h.reason, "since": h.at}, "operator": operator}),
    )
}

pub async fn report(args: Report) -> Result<Value, Failure> {
    let r = store::retention_report(&store(&args.table).await, Utc::now(), &args.horizons).await?;
    Ok(serde_json::to_value(r).expect("serialises"))
}

pub async fn sweep(args: Sweep) -> Result<Value, Failure> {
    let operator = caller().await?;
    let r = store::sweep(&store(&args.table).await, &operator, Utc::now(), args.limit).await?;
    Ok(serde_json::to_value(r).expect("serialises"))
}

/// The buckets whose objects name a customer (as the lifecycle function's settings): their
/// objects go with the customer. Xpollens' large bodies are found through their events.
#[derive(clap::Args)]
pub struct ObjectBuckets {
    /// The GoPay bucket (identification PDFs), as the stack's GOPAY_BUCKET.
    #[arg(long, env = "GOPAY_BUCKET")]
    pub(crate) gopay_bucket: Option<String>,
    /// The Trust & Sign archive bucket (processed report.json copies), as ARCHIVE_BUCKET.
    #[arg(long, env = "ARCHIVE_BUCKET")]
    pub(crate) archive_bucket: Option<String>,
}

#[derive(clap::Args)]
pub struct Erase {
    /// Our customer id, e.g. customer-0042.
    customer: String,
    /// A code of the bank's procedures (1 to 64 of [A-Za-z0-9._:-]), e.g. gdprArticle17.
    #[arg(long)]
    reason: String,
    /// Print what would be erased and which check refuses it; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Erase although a retention period runs (recorded in the deletion record, the
    /// tombstones and the event). A legal hold is never overridden.
    #[arg(long)]
    override_retention: bool,
    /// Days during which whatever a provider still sends about the person is dropped
    /// (30 to 3,650).
    #[arg(long, default_value_t = kyc_core::erasure::DEFAULT_DROP_DAYS)]
    drop_days: u32,
    /// The bus of the `KYC customer erased` event (the stack's DownstreamEventBus output).
    #[arg(long, env = "EVENT_BUS_NAME")]
    bus: String,
    #[command(flatten)]
    keyrings: crate::reseal::KeyringSecrets,
    #[command(flatten)]
    objects: ObjectBuckets,
    #[command(flatten)]
    table: Table,
}

/// `KYC customer erased` on EventBridge.
struct BusAnnouncer(kyc_downstream::aws::eventbridge::EventBridgePublisher);

#[async_trait::async_trait]
impl erase::ErasureEvents for BusAnnouncer {
    async fn announce(
        &self,
        event: &erase::KycCustomerErased,
    ) -> Result<(), kyc_core::intake::StoreError> {
        self.0
            .put_one(
                erase::DETAIL_TYPE,
                serde_json::to_string(event).expect("serialises"),
                event.erased_at.timestamp_millis(),
            )
            .await
            .map_err(|e| kyc_core::intake::StoreError::Unavailable(e.to_string()))
    }
}

/// `kyc erase`: every item and object version of the customer at every provider, after
/// tombstones that make intake drop whatever still comes about the person.
pub async fn erase(args: Erase) -> Result<Value, Failure> {
    // Without them the person's GoPay PDFs and Trust & Sign report copies would stay while the
    // erasure reports itself complete.
    if !args.dry_run
        && (args.objects.gopay_bucket.is_none() || args.objects.archive_bucket.is_none())
    {
        return Err(Failure::BadInput(
            "kyc erase needs GOPAY_BUCKET and ARCHIVE_BUCKET (or --gopay-bucket, --archive-bucket): their objects of the person go too".into(),
        ));
    }
    let config = kyc_aws::load_config().await;
    let operator = caller().await?;
    let keyrings = args.keyrings.load(&config, &Provider::ALL).await?;
    let naming: erase::NamingKeys = keyrings
        .iter()
        .filter_map(|(p, ring)| Some((*p, ring.naming_key()?.clone())))
        .collect();
    let store = DynamoLifecycleStore::new(Client::new(&config), &args.table.table).with_objects(
        std::sync::Arc::new(S3ObjectVersions {
            client: kyc_aws::s3_client(&config),
        }),
        Buckets {
            gopay: args.objects.gopay_bucket,
            archive: args.objects.archive_bucket,
        },
    );
    // The incoming archives' keys are sealed: the operator's Trust & Sign keyring opens them.
    let store = match keyrings.get(&Provider::TrustSign) {
        Some(ring) => store.with_trust_sign_keys(ring.clone()),
        None => store,
    };
    let events = BusAnnouncer(kyc_downstream::aws::eventbridge::EventBridgePublisher::new(
        &config, &args.bus,
    ));
    let request = erase::EraseRequest {
        customer: args.customer.clone(),
        reason: args.reason,
        override_retention: args.override_retention,
        drop_days: args.drop_days,
        dry_run: args.dry_run,
    };
    let report = erase::erase(&store, &events, &naming, &request, &operator, Utc::now())
        .await
        .map_err(|e| match e {
            erase::EraseError::Store(e) => Failure::from(e),
            erase::EraseError::Lifecycle(e) => failure(e),
            erase::EraseError::Refused(erase::Refusal::Raced) => Failure::Transient(e.to_string()),
            erase::EraseError::Refused(r) => Failure::BadInput(r.to_string()),
        })?;
    let mut out = serde_json::to_value(report).expect("serialises");
    out["customer"] = json!(args.customer);
    out["operator"] = json!(operator);
    Ok(out)
}
