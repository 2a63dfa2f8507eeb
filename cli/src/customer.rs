//! `kyc customer alias CUSTOMER PROVIDER PROVIDER_ID`: where a provider knows one of the
//! bank's customers by another id (`docs/decision.md#whose-customer-is-it`).
//!
//! The alias is written all or nothing with a bank action naming the caller's AWS identity
//! (STS GetCallerIdentity: never typed in), then both customers it concerns are recomputed at
//! once. Running the same command again writes nothing and recomputes again (the way to finish
//! a run that failed after writing).

use crate::decision::caller;
use crate::failure::Failure;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_core::chrono::Utc;
use kyc_core::intake::Provider;
use kyc_decision::alias::{AliasError, AliasMap, AliasRequest};
use kyc_decision::aws::DynamoDecisionStore;
use kyc_decision::store::{recompute, DecisionStore};
use serde_json::{json, Value};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AliasProvider {
    Xpollens,
    #[value(name = "trust-sign")]
    TrustSign,
    Gopay,
}

#[derive(clap::Args)]
pub struct Alias {
    /// Our customer id, e.g. customer-0042.
    customer: String,
    /// The provider that knows the customer by another id.
    #[arg(value_enum)]
    provider: AliasProvider,
    /// The provider's id of the customer (Xpollens appUserId, Trust & Sign externalId,
    /// GoPay customerId).
    provider_id: String,
    /// A code of the bank's procedures (1 to 64 of [A-Za-z0-9._:-]).
    #[arg(long, default_value = "providerIdDiffers")]
    reason: String,
    /// Remove the alias: the provider's state under that id is no longer the customer's.
    #[arg(long)]
    remove: bool,
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
    /// A policy file instead of the repository's (as the state publisher's
    /// DECISION_POLICY_FILE).
    #[arg(long, env = "DECISION_POLICY_FILE")]
    policy: Option<std::path::PathBuf>,
}

pub async fn alias(args: Alias) -> Result<Value, Failure> {
    let policy = crate::decision::policy(args.policy.as_deref())?;
    let provider = match args.provider {
        AliasProvider::Xpollens => Provider::Xpollens,
        AliasProvider::TrustSign => Provider::TrustSign,
        AliasProvider::Gopay => Provider::Gopay,
    };
    let operator = caller().await?;
    let request = AliasRequest {
        customer: args.customer.clone(),
        provider,
        provider_id: args.provider_id.clone(),
        remove: args.remove,
        operator,
        reason: args.reason,
        at: Utc::now(),
    };
    let store = DynamoDecisionStore::new(Client::new(&kyc_aws::load_config().await), &args.table);
    let outcome = store.change(&request).await.map_err(|e| match e {
        AliasError::Store(e) => Failure::from(e),
        AliasError::Raced => Failure::Transient(e.to_string()),
        e => Failure::BadInput(e.to_string()),
    })?;
    // Both customers the alias concerns: the bank's, and the provider id's own (if the bank
    // has one under it, it no longer counts this provider's state, or counts it again).
    let mut decisions = serde_json::Map::new();
    for customer in [&args.customer, &args.provider_id] {
        recompute(&store, &policy, customer, Utc::now())
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        let decision = store.get(customer).await?;
        decisions.insert(
            customer.clone(),
            decision
                .as_ref()
                .map_or(Value::Null, kyc_decision::event::view),
        );
    }
    Ok(json!({
        "customer": args.customer,
        "provider": provider.as_str(),
        "providerId": args.provider_id,
        "outcome": outcome.as_str(),
        "operator": request.operator,
        "decisions": decisions,
    }))
}
