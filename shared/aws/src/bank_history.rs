//! DynamoDB adapter of [`BankHistory`]: the customer level's history (`C#<customer>`,
//! `HIST#<t>#<id>`), one conditional put per action (a retry writes nothing), in the hour index
//! like every history entry.

use crate::attribute::{from_attribute, to_attribute};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;
use kyc_core::bank::{BankAction, BankHistory};
use kyc_core::intake::StoreError;
use kyc_core::keys;
use std::collections::HashMap;

/// The DynamoDB adapter of [`BankHistory`]: the customer level's history.
pub struct DynamoBankHistory {
    client: Client,
    table: String,
}

impl DynamoBankHistory {
    /// An adapter on `table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// A bank action's history item (`C#<customer>` / `HIST#<t>#bank:<id>`, in the hour index):
/// for a put of its own, or inside a transaction with what the action changed.
pub fn bank_action_item(customer: &str, action: &BankAction) -> HashMap<String, Av> {
    let pk = keys::customer_area_pk(customer);
    let sk = keys::history_sk(action.at, &action.id());
    let mut item =
        match to_attribute(&serde_json::to_value(action).expect("a bank action serialises")) {
            Av::M(m) => m,
            _ => unreachable!("a struct serialises to an object"),
        };
    let (hour_pk, hour_sk) = keys::hour_index_keys(&pk, &sk, action.at);
    item.extend([
        ("PK".to_string(), Av::S(pk)),
        ("SK".to_string(), Av::S(sk)),
        ("itemType".to_string(), Av::S("bankAction".into())),
        ("customerId".to_string(), Av::S(customer.to_string())),
        ("GSI1PK".to_string(), Av::S(hour_pk)),
        ("GSI1SK".to_string(), Av::S(hour_sk)),
    ]);
    item
}

#[async_trait]
impl BankHistory for DynamoBankHistory {
    async fn append(&self, customer: &str, action: &BankAction) -> Result<(), StoreError> {
        let item = bank_action_item(customer, action);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            // Recorded already (a retry of the same action).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(DisplayErrorContext(&e))),
        }
    }

    async fn list(&self, customer: &str) -> Result<Vec<BankAction>, StoreError> {
        let items = crate::dynamo_store::partition_items(
            &self.client,
            &self.table,
            &keys::customer_area_pk(customer),
            Some(keys::HISTORY_PREFIX),
        )
        .await?;
        items
            .into_iter()
            .map(|mut m| {
                for k in ["PK", "SK", "itemType", "customerId", "GSI1PK", "GSI1SK"] {
                    m.remove(k);
                }
                let v = from_attribute(Av::M(m))
                    .map_err(|e| StoreError::Corrupt(format!("bank action: {e}")))?;
                serde_json::from_value(v)
                    .map_err(|e| StoreError::Corrupt(format!("bank action: {e}")))
            })
            .collect()
    }
}
