//! `kyc decision explain|resolve`: why a customer's KYC decision is what it is, and the bank's
//! own call where a person must decide (`docs/decision.md`).
//!
//! `resolve` records the adjudication in the customer's bank history with the caller's AWS
//! identity (STS GetCallerIdentity: never typed in), then recomputes the decision at once; the
//! state publisher would take it into account at the customer's next change anyway.

use crate::failure::{transient, Failure};
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_aws::bank_history::DynamoBankHistory;
use kyc_core::bank::{BankAction, BankHistory};
use kyc_core::chrono::Utc;
use kyc_decision::aws::DynamoDecisionStore;
use kyc_decision::policy::Policy;
use kyc_decision::store::{recompute, DecisionStore, Recomputed};
use kyc_decision::{adjudication, Decision, RESOLVE_ACTION};
use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct Explain {
    /// Our customer id, e.g. customer-0042.
    customer: String,
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Outcome {
    Verified,
    Rejected,
    Blocked,
}

#[derive(clap::Args)]
pub struct Resolve {
    /// Our customer id, e.g. customer-0042.
    customer: String,
    /// The bank's decision.
    #[arg(long, value_enum)]
    outcome: Outcome,
    /// A code of the bank's procedures (1 to 64 of [A-Za-z0-9._:-]), e.g. AML-CASE-2026-117.
    #[arg(long)]
    reason: String,
    /// The second approver's identity (an IAM/STS ARN), where the policy requires one.
    #[arg(long)]
    approver: Option<String>,
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
    /// A policy file instead of the repository's (as the state publisher's
    /// DECISION_POLICY_FILE).
    #[arg(long, env = "DECISION_POLICY_FILE")]
    policy: Option<std::path::PathBuf>,
}

pub(crate) fn policy(path: Option<&std::path::Path>) -> Result<Policy, Failure> {
    match path {
        None => Ok(Policy::default_policy()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Failure::BadInput(format!("{}: {e}", p.display())))?;
            Policy::parse(&text).map_err(|e| Failure::BadInput(format!("{}: {e}", p.display())))
        }
    }
}

async fn store(table: &str) -> DynamoDecisionStore {
    DynamoDecisionStore::new(Client::new(&kyc_aws::load_config().await), table)
}

/// Per provider, the rows that produced its decision and the events they rest on.
pub async fn explain(args: Explain) -> Result<Value, Failure> {
    explanation_of(&args.table, &args.customer)
        .await?
        .ok_or_else(|| {
            Failure::BadInput(format!(
                "no KYC decision for {} yet (no provider state, or not recomputed yet)",
                args.customer
            ))
        })
}

/// `kyc decision explain`'s view of the customer's decision (`None`: no decision yet).
pub(crate) async fn explanation_of(table: &str, customer: &str) -> Result<Option<Value>, Failure> {
    let Some(d) = store(table).await.get(customer).await? else {
        return Ok(None);
    };
    let providers: serde_json::Map<String, Value> = d
        .providers
        .iter()
        .map(|(p, pd)| {
            (
                p.as_str().to_string(),
                json!({"decision": pd.decision, "reasons": pd.reasons, "since": pd.since,
                       "validUntil": pd.valid_until, "rules": pd.rules, "evidence": pd.evidence}),
            )
        })
        .collect();
    Ok(Some(json!({
        "customer": d.customer_id,
        "decision": d.decision,
        "reasons": d.reasons,
        "policyVersion": d.policy_version,
        "decisionVersion": d.decision_version,
        "computedAt": d.computed_at,
        "precedence": "blocked > rejected > inReview from any provider; verified when the policy's requirements are met; else expired > actionRequired > pending > notStarted of the required providers",
        "blockers": d.blockers,
        "adjudication": d.adjudication,
        "providers": providers,
    })))
}

/// The caller's AWS identity (an ARN).
pub(crate) async fn caller() -> Result<String, Failure> {
    let config = kyc_aws::load_config().await;
    let out = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            transient(
                "GetCallerIdentity",
                aws_sdk_sts::error::DisplayErrorContext(&e),
            )
        })?;
    out.arn()
        .map(str::to_string)
        .ok_or_else(|| Failure::Transient("GetCallerIdentity gave no ARN".into()))
}

pub async fn resolve(args: Resolve) -> Result<Value, Failure> {
    let policy = policy(args.policy.as_deref())?;
    let operator = caller().await?;
    let outcome = match args.outcome {
        Outcome::Verified => Decision::Verified,
        Outcome::Rejected => Decision::Rejected,
        Outcome::Blocked => Decision::Blocked,
    };
    let action = BankAction {
        at: Utc::now(),
        action: RESOLVE_ACTION.into(),
        operator,
        reason: args.reason.clone(),
        detail: json!({"outcome": outcome, "approver": args.approver}),
    };
    // Refused before anything is written: the same rules the decision applies.
    adjudication(&action, &policy).map_err(|e| Failure::BadInput(e.to_string()))?;
    let config = kyc_aws::load_config().await;
    let client = Client::new(&config);
    DynamoBankHistory::new(client.clone(), &args.table)
        .append(&args.customer, &action)
        .await?;
    let decisions = DynamoDecisionStore::new(client, &args.table);
    let (outcome, _) = recompute(&decisions, &policy, &args.customer, Utc::now())
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?;
    let decision = match outcome {
        Recomputed::Written(d) => Some(*d),
        Recomputed::Unchanged => decisions.get(&args.customer).await?,
    };
    Ok(json!({
        "customer": args.customer,
        "adjudication": action.id(),
        "operator": action.operator,
        "decision": decision.as_ref().map(kyc_decision::event::view),
    }))
}
