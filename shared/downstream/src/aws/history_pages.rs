//! DynamoDB adapter of [`HistoryPages`]: one bounded Query per page (`limit + 1` items, to
//! know whether another page follows), strongly consistent like the store's own reads.

use crate::read_api::{HistoryPage, HistoryPages};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use kyc_aws::attribute::from_attribute;
use kyc_aws::dynamo_store::customer_pk;
use kyc_core::intake::{HistoryEntry, StoreError};
use std::collections::HashMap;

pub struct DynamoHistoryPages {
    client: Client,
    table: String,
}

impl DynamoHistoryPages {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl HistoryPages for DynamoHistoryPages {
    async fn history_page(
        &self,
        customer: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<HistoryPage, StoreError> {
        let pk = customer_pk(customer);
        let start = after.map(|sk| {
            HashMap::from([
                ("PK".to_string(), Av::S(pk.clone())),
                ("SK".to_string(), Av::S(sk.to_string())),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", Av::S(pk))
            .expression_attribute_values(":p", Av::S("HIST#".into()))
            .consistent_read(true)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}", DisplayErrorContext(&e))))?;
        let items = out.items();
        let more = items.len() > limit;
        let mut entries = Vec::new();
        let mut last_key = None;
        for item in items.iter().take(limit) {
            let mut m = item.clone();
            last_key = m.get("SK").and_then(|v| v.as_s().ok()).cloned();
            for k in ["PK", "SK", "itemType"] {
                m.remove(k);
            }
            let entry = from_attribute(Av::M(m))
                .map_err(|e| StoreError::Corrupt(format!("history: {e}")))?;
            let entry: HistoryEntry = serde_json::from_value(entry)
                .map_err(|e| StoreError::Corrupt(format!("history: {e}")))?;
            entries.push(entry);
        }
        Ok(HistoryPage {
            entries,
            next_after: if more { last_key } else { None },
        })
    }
}
