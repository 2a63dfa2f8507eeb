//! DynamoDB adapter of [`DecisionStore`] (`C#<customer>` / `DECISION`, `docs/table-design.md`).
//!
//! - inputs: one strongly consistent `BatchGetItem` of the three provider `STATE` items and,
//!   concurrently, one strongly consistent `Query` of the customer level from `DECISION` to the
//!   end of its history (`SK BETWEEN DECISION AND HIST$`: the decision and the bank's actions);
//! - write: one `PutItem`, conditional: no decision yet, or the stored one is still the one
//!   read (`decisionVersion`) and none of its inputs' versions (`basedOn`) is newer than ours;
//! - a decision with a `validUntil` is in GSI1 under `EXPIRY#<shard>` / `<validUntil>#<c>`.
//!
//! So a decision change costs three DynamoDB calls (two reads run concurrently, one write).

use crate::store::{DecisionStore, Written};
use crate::{CustomerDecision, Inputs};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use kyc_aws::attribute::{from_attribute, to_attribute};
use kyc_aws::DynamoStore;
use kyc_core::bank::BankAction;
use kyc_core::intake::{Provider, StoreError};
use kyc_core::keys;
use std::collections::{BTreeMap, HashMap};

pub struct DynamoDecisionStore {
    client: Client,
    table: String,
    states: DynamoStore,
}

impl DynamoDecisionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self {
            states: DynamoStore::from_client(client.clone(), table.clone()),
            client,
            table,
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn text(item: &HashMap<String, Av>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A stored decision item → the decision (keys and index attributes are not part of it).
pub fn parse_decision(item: &HashMap<String, Av>) -> Result<CustomerDecision, StoreError> {
    let fields: HashMap<String, Av> = item
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "PK" | "SK" | "itemType" | "GSI1PK" | "GSI1SK"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let json = from_attribute(Av::M(fields)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    serde_json::from_value(json).map_err(|e| StoreError::Corrupt(format!("decision: {e}")))
}

/// The decision's item.
pub fn decision_item(decision: &CustomerDecision) -> HashMap<String, Av> {
    let Av::M(mut item) =
        to_attribute(&serde_json::to_value(decision).expect("a decision serialises"))
    else {
        unreachable!("a struct serialises to an object")
    };
    item.insert(
        "PK".into(),
        Av::S(keys::customer_area_pk(&decision.customer_id)),
    );
    item.insert("SK".into(), Av::S(keys::DECISION_SK.into()));
    item.insert("itemType".into(), Av::S("decision".into()));
    if let Some(v) = decision.valid_until {
        let (pk, sk) = keys::expiry_index_keys(&decision.customer_id, v);
        item.insert("GSI1PK".into(), Av::S(pk));
        item.insert("GSI1SK".into(), Av::S(sk));
    }
    item
}

impl DynamoDecisionStore {
    /// The decision and the bank's actions: one consistent query of the customer level.
    async fn customer_level(
        &self,
        customer: &str,
    ) -> Result<(Option<CustomerDecision>, Vec<BankAction>), StoreError> {
        let mut decision = None;
        let mut bank = Vec::new();
        let mut start: Option<HashMap<String, Av>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                .expression_attribute_values(":pk", Av::S(keys::customer_area_pk(customer)))
                .expression_attribute_values(":from", Av::S(keys::DECISION_SK.into()))
                .expression_attribute_values(":to", Av::S(keys::HISTORY_END.into()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
            for item in out.items() {
                match text(item, "itemType").as_deref() {
                    Some("decision") => decision = Some(parse_decision(item)?),
                    Some("bankAction") => {
                        let fields: HashMap<String, Av> = item
                            .iter()
                            .filter(|(k, _)| {
                                !matches!(
                                    k.as_str(),
                                    "PK" | "SK" | "itemType" | "customerId" | "GSI1PK" | "GSI1SK"
                                )
                            })
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        let json = from_attribute(Av::M(fields))
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        bank.push(
                            serde_json::from_value(json)
                                .map_err(|e| StoreError::Corrupt(format!("bank action: {e}")))?,
                        );
                    }
                    _ => {}
                }
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok((decision, bank))
    }

    async fn states(
        &self,
        customer: &str,
    ) -> Result<BTreeMap<Provider, kyc_core::kyc_state::ProviderState>, StoreError> {
        let wanted: Vec<(String, String)> = Provider::ALL
            .iter()
            .map(|p| (keys::customer_pk(*p, customer), keys::STATE_SK.to_string()))
            .collect();
        let mut out = BTreeMap::new();
        for item in self.states.batch_get(&wanted).await? {
            let pk = text(&item, "PK").unwrap_or_default();
            if let Some(p) = keys::provider_of_partition(&pk) {
                out.insert(p, DynamoStore::parse_state(&item)?);
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl DecisionStore for DynamoDecisionStore {
    async fn inputs(&self, customer: &str) -> Result<Inputs, StoreError> {
        let (states, level) = tokio::join!(self.states(customer), self.customer_level(customer));
        let (stored, bank) = level?;
        Ok(Inputs {
            states: states?,
            bank,
            stored,
        })
    }

    async fn write(
        &self,
        decision: &CustomerDecision,
        read: Option<&CustomerDecision>,
    ) -> Result<Written, StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(decision_item(decision)));
        put = match read {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(r) => {
                let b = decision.based_on;
                put.condition_expression(
                    "decisionVersion = :prev AND basedOn.xpollens <= :xp AND basedOn.trustSign <= :ts \
                     AND basedOn.gopay <= :gp AND basedOn.bank <= :bank",
                )
                .expression_attribute_values(":prev", Av::N(r.decision_version.to_string()))
                .expression_attribute_values(":xp", Av::N(b.xpollens.to_string()))
                .expression_attribute_values(":ts", Av::N(b.trust_sign.to_string()))
                .expression_attribute_values(":gp", Av::N(b.gopay.to_string()))
                .expression_attribute_values(":bank", Av::N(b.bank.to_string()))
            }
        };
        match put.send().await {
            Ok(_) => Ok(Written::Written),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(Written::Superseded)
            }
            Err(e) => Err(unavailable(DisplayErrorContext(&e))),
        }
    }

    async fn get(&self, customer: &str) -> Result<Option<CustomerDecision>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", Av::S(keys::customer_area_pk(customer)))
            .key("SK", Av::S(keys::DECISION_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        out.item().map(parse_decision).transpose()
    }

    async fn due_expiries(
        &self,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        // `$` sorts after `#`: every key of a validUntil at or before `until`.
        let upper = format!("{}$", keys::key_time(until));
        let mut found: Vec<(String, String)> = Vec::new();
        for shard in 0..keys::EXPIRY_SHARDS {
            let mut start: Option<HashMap<String, Av>> = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name("GSI1")
                    .key_condition_expression("GSI1PK = :pk AND GSI1SK < :upper")
                    .expression_attribute_values(":pk", Av::S(format!("EXPIRY#{shard}")))
                    .expression_attribute_values(":upper", Av::S(upper.clone()))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
                for item in out.items() {
                    if let (Some(sk), Some(pk)) = (text(item, "GSI1SK"), text(item, "PK")) {
                        found.push((sk, pk));
                    }
                }
                match out.last_evaluated_key() {
                    Some(k) if !k.is_empty() && found.len() < limit => start = Some(k.clone()),
                    _ => break,
                }
            }
        }
        found.sort();
        let mut customers = Vec::new();
        for (_, pk) in found.into_iter().take(limit) {
            let escaped = pk.strip_prefix("C#").unwrap_or_default();
            match keys::unescape_id(escaped) {
                Some(c) => customers.push(c),
                // A digest-form key: the decision item holds the id.
                None => {
                    let item = self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .key("PK", Av::S(pk.clone()))
                        .key("SK", Av::S(keys::DECISION_SK.into()))
                        .send()
                        .await
                        .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
                    if let Some(c) = item.item().and_then(|i| text(i, "customerId")) {
                        customers.push(c);
                    }
                }
            }
        }
        Ok(customers)
    }
}
