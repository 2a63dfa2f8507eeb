//! DynamoDB adapter of [`DecisionStore`] (`C#<customer>` / `DECISION`, `docs/table-design.md`).
//!
//! - inputs: one strongly consistent `BatchGetItem` of the three provider `STATE` items and
//!   the provider side of the customer's id in the alias map (`A#<P>#<c>`), and, concurrently,
//!   one strongly consistent `Query` of the customer level from `ALIAS#` to the end of its
//!   history (`SK BETWEEN ALIAS# AND HIST$`: its aliases, the decision, the bank's actions);
//!   only an aliased customer costs one more `BatchGetItem` (the states under the provider ids);
//! - write: one `PutItem`, conditional: no decision yet, or the stored one is still the one
//!   read (`decisionVersion`) and none of its inputs' versions (`basedOn`) is newer than ours;
//! - a decision with a `validUntil` is in GSI1 under `EXPIRY#<shard>` / `<validUntil>#<c>`.
//!
//! So a decision change costs three DynamoDB calls (two reads run concurrently, one write).

use crate::alias::{
    self, AliasError, AliasMap, AliasOutcome, AliasPlan, AliasRequest, AliasView, ProviderSide,
};
use crate::store::{DecisionStore, Written};
use crate::{CustomerDecision, Inputs};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use kyc_aws::attribute::{from_attribute, to_attribute};
use kyc_aws::bank_history::bank_action_item;
use kyc_aws::DynamoStore;
use kyc_core::bank::BankAction;
use kyc_core::intake::{Provider, StoreError};
use kyc_core::keys;
use kyc_core::kyc_state::ProviderState;
use std::collections::{BTreeMap, HashMap};

/// The DynamoDB adapter of the decision store: decisions, states and bank history in the table.
pub struct DynamoDecisionStore {
    client: Client,
    table: String,
    states: DynamoStore,
}

impl DynamoDecisionStore {
    /// A store on `table`, through `client`.
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
    // One GSI1 entry per item: a verified decision's expiry, or a never-verified applicant's
    // last activity (the lifecycle's inactivity clock).
    let index = match (decision.valid_until, decision.since) {
        (Some(v), _) => Some(keys::expiry_index_keys(&decision.customer_id, v)),
        (None, Some(last)) if !decision.ever_verified => {
            Some(keys::inactive_index_keys(&decision.customer_id, last))
        }
        _ => None,
    };
    if let Some((pk, sk)) = index {
        item.insert("GSI1PK".into(), Av::S(pk));
        item.insert("GSI1SK".into(), Av::S(sk));
    }
    item
}

impl DynamoDecisionStore {
    /// The customer's aliases, decision and bank actions: one consistent query of the
    /// customer level.
    async fn customer_level(&self, customer: &str) -> Result<CustomerLevel, StoreError> {
        let mut level = CustomerLevel::default();
        let mut start: Option<HashMap<String, Av>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
                .expression_attribute_values(":pk", Av::S(keys::customer_area_pk(customer)))
                .expression_attribute_values(":from", Av::S(keys::CUSTOMER_ALIAS_PREFIX.into()))
                .expression_attribute_values(":to", Av::S(keys::HISTORY_END.into()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
            for item in out.items() {
                match text(item, "itemType").as_deref() {
                    Some("decision") => level.decision = Some(parse_decision(item)?),
                    Some("alias") => {
                        let provider = text(item, "provider").and_then(|p| Provider::parse(&p));
                        match (provider, text(item, "providerId")) {
                            (Some(p), Some(id)) => {
                                level.aliases.insert(p, id);
                            }
                            _ => return Err(StoreError::Corrupt("alias item".into())),
                        }
                    }
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
                        level.bank.push(
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
        Ok(level)
    }

    /// The provider states stored under `ids` (one consistent `BatchGetItem`), and the
    /// provider side of the alias map for `alias_ids` in the same call.
    async fn states_and_sides(
        &self,
        ids: &[(Provider, &str)],
        alias_ids: &[(Provider, &str)],
    ) -> Result<
        (
            BTreeMap<Provider, ProviderState>,
            BTreeMap<Provider, ProviderSide>,
        ),
        StoreError,
    > {
        let state_keys: Vec<(String, String)> = ids
            .iter()
            .map(|(p, id)| (keys::customer_pk(*p, id), keys::STATE_SK.to_string()))
            .collect();
        let side_keys: Vec<(Provider, String)> = alias_ids
            .iter()
            .map(|(p, id)| (*p, keys::alias_pk(*p, id)))
            .collect();
        let wanted: Vec<(String, String)> = state_keys
            .iter()
            .cloned()
            .chain(
                side_keys
                    .iter()
                    .map(|(_, pk)| (pk.clone(), keys::ALIAS_SK.to_string())),
            )
            .collect();
        let (mut states, mut sides) = (BTreeMap::new(), BTreeMap::new());
        if wanted.is_empty() {
            return Ok((states, sides));
        }
        for item in self.states.batch_get(&wanted).await? {
            let pk = text(&item, "PK").unwrap_or_default();
            if let Some((p, _)) = side_keys.iter().find(|(_, k)| *k == pk) {
                sides.insert(*p, provider_side(&item)?);
            } else if let Some(i) = state_keys.iter().position(|(k, _)| *k == pk) {
                states.insert(ids[i].0, DynamoStore::parse_state(&item)?);
            }
        }
        Ok((states, sides))
    }
}

/// The customer level as read for a decision.
#[derive(Default)]
struct CustomerLevel {
    aliases: BTreeMap<Provider, String>,
    decision: Option<CustomerDecision>,
    bank: Vec<BankAction>,
}

fn provider_side(item: &HashMap<String, Av>) -> Result<ProviderSide, StoreError> {
    Ok(ProviderSide {
        customer: text(item, "customerId"),
        changes: item
            .get("changes")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("alias item without changes".into()))?,
    })
}

#[async_trait]
impl DecisionStore for DynamoDecisionStore {
    async fn inputs(&self, customer: &str) -> Result<Inputs, StoreError> {
        let own: Vec<(Provider, &str)> = Provider::ALL.iter().map(|p| (*p, customer)).collect();
        let (first, level) = tokio::join!(
            self.states_and_sides(&own, &own),
            self.customer_level(customer)
        );
        let (mut states, sides) = first?;
        let level = level?;
        let aliases = AliasView::of(customer, &level.bank, level.aliases, &sides);
        // States under the customer's own id that are not its own (aliased either way).
        states.retain(|p, _| aliases.state_id(customer, *p) == Some(customer));
        if !aliases.used.is_empty() {
            let aliased: Vec<(Provider, &str)> = aliases
                .used
                .iter()
                .map(|(p, id)| (*p, id.as_str()))
                .collect();
            let (more, _) = self.states_and_sides(&aliased, &[]).await?;
            states.extend(more);
        }
        Ok(Inputs {
            states,
            bank: level.bank,
            stored: level.decision,
            aliases,
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
                // The twin of `BasedOn::any_older_than`: an older alias generation, or the same
                // one and no version newer than ours (items from before the alias map have
                // none: generation 0).
                put.condition_expression(
                    "decisionVersion = :prev AND (basedOn.aliases < :al OR ((attribute_not_exists(basedOn.aliases) OR basedOn.aliases = :al) \
                     AND basedOn.xpollens <= :xp AND basedOn.trustSign <= :ts \
                     AND basedOn.gopay <= :gp AND basedOn.bank <= :bank))",
                )
                .expression_attribute_values(":prev", Av::N(r.decision_version.to_string()))
                .expression_attribute_values(":al", Av::N(b.aliases.to_string()))
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
        let found = kyc_aws::sharded_index::below(
            &self.client,
            &self.table,
            "EXPIRY",
            keys::EXPIRY_SHARDS,
            &upper,
            limit,
        )
        .await?;
        let mut customers = Vec::new();
        for (_, pk) in found {
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

impl DynamoDecisionStore {
    /// The two sides of an alias as stored (consistent reads).
    async fn alias_sides(
        &self,
        req: &AliasRequest,
    ) -> Result<(Option<ProviderSide>, Option<String>), StoreError> {
        let get = |pk: String, sk: String| {
            self.client
                .get_item()
                .table_name(&self.table)
                .key("PK", Av::S(pk))
                .key("SK", Av::S(sk))
                .consistent_read(true)
                .send()
        };
        let (side, own) = tokio::join!(
            get(
                keys::alias_pk(req.provider, &req.provider_id),
                keys::ALIAS_SK.into()
            ),
            get(
                keys::customer_area_pk(&req.customer),
                keys::customer_alias_sk(req.provider)
            )
        );
        let side = side.map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        let own = own.map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        Ok((
            side.item().map(provider_side).transpose()?,
            own.item().and_then(|i| text(i, "providerId")),
        ))
    }
}

#[async_trait]
impl AliasMap for DynamoDecisionStore {
    /// One `TransactWriteItems`: the provider side (conditional on the `changes` read), the
    /// bank side, and the bank action; a concurrent change fails it whole ([`AliasError::Raced`]).
    async fn change(&self, req: &AliasRequest) -> Result<AliasOutcome, AliasError> {
        use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
        let (side, own) = self.alias_sides(req).await?;
        let (outcome, before) = match alias::plan(req, side.as_ref(), own.as_deref())? {
            AliasPlan::Nothing(outcome) => return Ok(outcome),
            AliasPlan::Write {
                outcome,
                changes_before,
            } => (outcome, changes_before),
        };
        let side_pk = keys::alias_pk(req.provider, &req.provider_id);
        let own_pk = keys::customer_area_pk(&req.customer);
        let own_sk = keys::customer_alias_sk(req.provider);
        let n = |v: i64| Av::N(v.to_string());
        let at = Av::S(keys::key_time(req.at));
        let built = |e: aws_sdk_dynamodb::error::BuildError| {
            AliasError::Store(StoreError::Corrupt(e.to_string()))
        };
        let (side_write, own_write) = if req.remove {
            let side = Update::builder()
                .table_name(&self.table)
                .key("PK", Av::S(side_pk))
                .key("SK", Av::S(keys::ALIAS_SK.into()))
                .update_expression("SET changes = :next, changedAt = :at REMOVE customerId")
                .condition_expression("customerId = :c AND changes = :before")
                .expression_attribute_values(":next", n(before + 1))
                .expression_attribute_values(":before", n(before))
                .expression_attribute_values(":at", at)
                .expression_attribute_values(":c", Av::S(req.customer.clone()))
                .build()
                .map_err(built)?;
            let own = Delete::builder()
                .table_name(&self.table)
                .key("PK", Av::S(own_pk))
                .key("SK", Av::S(own_sk))
                .condition_expression("providerId = :id")
                .expression_attribute_values(":id", Av::S(req.provider_id.clone()))
                .build()
                .map_err(built)?;
            (
                TransactWriteItem::builder().update(side).build(),
                TransactWriteItem::builder().delete(own).build(),
            )
        } else {
            let common = |pk: String, sk: String| {
                HashMap::from([
                    ("PK".to_string(), Av::S(pk)),
                    ("SK".to_string(), Av::S(sk)),
                    ("itemType".to_string(), Av::S("alias".into())),
                    ("provider".to_string(), Av::S(req.provider.as_str().into())),
                    ("providerId".to_string(), Av::S(req.provider_id.clone())),
                    ("customerId".to_string(), Av::S(req.customer.clone())),
                    ("changedAt".to_string(), at.clone()),
                ])
            };
            let mut side_item = common(side_pk, keys::ALIAS_SK.into());
            side_item.insert("changes".into(), n(before + 1));
            let side = Put::builder()
                .table_name(&self.table)
                .set_item(Some(side_item))
                .condition_expression(if before == 0 {
                    "attribute_not_exists(PK)"
                } else {
                    "changes = :before AND attribute_not_exists(customerId)"
                });
            let side = if before == 0 {
                side
            } else {
                side.expression_attribute_values(":before", n(before))
            };
            let own = Put::builder()
                .table_name(&self.table)
                .set_item(Some(common(own_pk, own_sk)))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(built)?;
            (
                TransactWriteItem::builder()
                    .put(side.build().map_err(built)?)
                    .build(),
                TransactWriteItem::builder().put(own).build(),
            )
        };
        let history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(bank_action_item(&req.customer, &req.action())))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(built)?;
        let sent = self
            .client
            .transact_write_items()
            .transact_items(side_write)
            .transact_items(own_write)
            .transact_items(TransactWriteItem::builder().put(history).build())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(outcome),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Err(AliasError::Raced)
            }
            Err(e) => Err(AliasError::Store(unavailable(DisplayErrorContext(&e)))),
        }
    }
}
