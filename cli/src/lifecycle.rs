//! The compliance lifecycle from the operator's side (`docs/lifecycle.md`): the relationship's
//! end, its reopening, legal holds, the retention report and the sweep. Every change is
//! recorded in the customer's history with the caller's AWS identity (STS, never typed in).

use crate::decision::caller;
use crate::failure::Failure;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_core::chrono::{NaiveDate, Utc};
use kyc_lifecycle::aws::DynamoLifecycleStore;
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
