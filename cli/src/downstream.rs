//! `kyc publish CUSTOMER | --since TIME`: re-publishes state-change events from the stored
//! state (the replay path after a failed batch in the state publisher's failure queue). Each
//! event has the id of the live one, so consumers that dedupe on `id` see no change twice.

use kyc_aws::aws_sdk_dynamodb::types::AttributeValue;
use kyc_aws::DynamoStore;
use kyc_core::chrono::{DateTime, Utc};
use kyc_core::intake::EventStore;
use kyc_core::keys;
use kyc_downstream::aws::eventbridge::EventBridgePublisher;
use kyc_downstream::{replay_events, EventPublisher, KycStateChanged, PUBLISH_CHUNK};
use serde_json::{json, Value};
use std::collections::BTreeSet;

use crate::failure::{transient, Failure};

#[derive(clap::Args)]
pub struct Publish {
    /// The customer whose current state is re-published, e.g. customer-0042.
    #[arg(required_unless_present = "since", conflicts_with = "since")]
    customer: Option<String>,
    /// Every customer whose state changed at or after this time (RFC 3339, e.g.
    /// 2026-11-27T09:00:00Z), compared with the state items' `updatedAt` (a table scan).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
    /// The bus (name or ARN), as the stack's DownstreamEventBus output, e.g. kyc-hooks-kyc-state.
    #[arg(long, env = "EVENT_BUS_NAME")]
    bus: String,
    /// Print the events without publishing them, e.g. kyc publish customer-0042 --dry-run.
    #[arg(long)]
    dry_run: bool,
}

async fn customers_since(
    client: &kyc_aws::aws_sdk_dynamodb::Client,
    table: &str,
    since: DateTime<Utc>,
) -> Result<BTreeSet<String>, Failure> {
    // Provider state items (`<P>#C#<id>`, `STATE`), and the layout before while a table moves.
    let items: Vec<_> = client
        .scan()
        .table_name(table)
        .filter_expression("(SK = :state OR begins_with(SK, :legacy)) AND updatedAt >= :since")
        .expression_attribute_values(":state", AttributeValue::S(keys::STATE_SK.into()))
        .expression_attribute_values(":legacy", AttributeValue::S("STATE#".into()))
        .expression_attribute_values(":since", AttributeValue::S(since.to_rfc3339()))
        .projection_expression("PK, customerId")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            transient(
                "scan",
                kyc_aws::aws_sdk_dynamodb::error::DisplayErrorContext(&e),
            )
        })?;
    Ok(items
        .iter()
        .filter_map(|item| {
            let text = |name: &str| item.get(name)?.as_s().ok().cloned();
            let pk = text("PK")?;
            text("customerId")
                .or_else(|| keys::parse_customer_pk(&pk).map(|(_, c)| c))
                .or_else(|| pk.strip_prefix("CUSTOMER#").map(str::to_string))
        })
        .collect())
}

pub async fn publish(args: Publish) -> Result<Value, Failure> {
    let config = kyc_aws::load_config().await;
    let store = DynamoStore::new(&config, &args.table).with_legacy_layout(crate::legacy_layout()?);
    let customers: Vec<String> = match (&args.customer, args.since) {
        (Some(c), _) => vec![c.clone()],
        (None, Some(since)) => customers_since(
            &kyc_aws::aws_sdk_dynamodb::Client::new(&config),
            &args.table,
            since,
        )
        .await?
        .into_iter()
        .collect(),
        (None, None) => unreachable!("clap requires one"),
    };
    let mut events: Vec<KycStateChanged> = Vec::new();
    for c in &customers {
        let states = store.provider_states(c).await?;
        if states.is_empty() && args.customer.is_some() {
            return Err(Failure::BadInput(format!("no KYC state for customer {c}")));
        }
        let history = store.history(c).await?;
        events.extend(replay_events(c, &states, &history));
    }
    let mut failed = Vec::new();
    if !args.dry_run {
        let publisher = EventBridgePublisher::new(&config, &args.bus);
        for chunk in events.chunks(PUBLISH_CHUNK) {
            for (e, r) in chunk.iter().zip(publisher.publish(chunk).await) {
                if let Err(why) = r {
                    failed.push(json!({"id": e.id, "error": why.to_string()}));
                }
            }
        }
    }
    if !failed.is_empty() {
        return Err(Failure::Transient(format!(
            "{} of {} events not accepted (run again: ids are stable): {}",
            failed.len(),
            events.len(),
            Value::Array(failed)
        )));
    }
    Ok(json!({
        "customers": customers.len(),
        "published": if args.dry_run { 0 } else { events.len() },
        "dryRun": args.dry_run,
        "events": events,
    }))
}
