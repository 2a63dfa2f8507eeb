//! DynamoDB adapter of [`HistoryPages`]. A customer's history is kept in one partition per
//! provider (`docs/table-design.md`), so a page is one bounded Query per provider (`limit + 1`
//! items each, from the cursor's place in that partition), run concurrently and merged in
//! position order; strongly consistent like the store's own reads.

use crate::read_api::{HistoryPage, HistoryPages};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;
use aws_smithy_types::error::display::DisplayErrorContext;
use kyc_aws::dynamo_store::{history_of_item, merge_history};
use kyc_core::intake::{HistoryEntry, Provider, StoreError};
use kyc_core::keys::{self, HistoryPosition, HISTORY_END, HISTORY_PREFIX};
use kyc_core::legacy_keys::{self, LegacyKeyLayout};

/// The DynamoDB adapter of [`HistoryPages`]: a customer's history, a page at a time.
pub struct DynamoHistoryPages {
    client: Client,
    table: String,
    legacy: LegacyKeyLayout,
}

impl DynamoHistoryPages {
    /// An adapter on `table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            legacy: LegacyKeyLayout::Off,
        }
    }

    /// Also reads the old layout's single customer partition while a table moves.
    pub fn with_legacy_layout(mut self, legacy: LegacyKeyLayout) -> Self {
        self.legacy = legacy;
        self
    }

    /// Up to `limit` entries of one partition with sort keys from `from` on.
    async fn partition_page(
        &self,
        pk: String,
        from: String,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :end")
            .expression_attribute_values(":pk", Av::S(pk))
            .expression_attribute_values(":from", Av::S(from))
            .expression_attribute_values(":end", Av::S(HISTORY_END.into()))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(format!("{}", DisplayErrorContext(&e))))?;
        out.items().iter().cloned().map(history_of_item).collect()
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
        let cursor = match after {
            None => None,
            Some(a) => Some(
                HistoryPosition::parse(a)
                    .ok_or_else(|| StoreError::Corrupt("history cursor".into()))?,
            ),
        };
        let [xp, ts, gp] = Provider::ALL.map(|p| {
            let from = cursor
                .as_ref()
                .map(|c| c.lower_bound_in(p))
                .unwrap_or_else(|| HISTORY_PREFIX.to_string());
            self.partition_page(keys::customer_pk(p, customer), from, limit + 1)
        });
        let (xp, ts, gp) = tokio::try_join!(xp, ts, gp)?;
        let mut entries: Vec<HistoryEntry> = xp.into_iter().chain(ts).chain(gp).collect();
        if self.legacy.reads_legacy() {
            // Old sort keys hold raw ids: start at the cursor's time, filter by position below.
            let from = cursor
                .as_ref()
                .map(|c| format!("{HISTORY_PREFIX}{}", c.time))
                .unwrap_or_else(|| HISTORY_PREFIX.to_string());
            entries.extend(
                self.partition_page(legacy_keys::customer_pk(customer), from, 3 * (limit + 1))
                    .await?,
            );
        }
        let mut entries = merge_history(entries);
        if let Some(after) = after {
            entries.retain(|h| h.position().as_str() > after);
        }
        let more = entries.len() > limit;
        entries.truncate(limit);
        Ok(HistoryPage {
            next_after: if more {
                entries.last().map(HistoryEntry::position)
            } else {
                None
            },
            entries,
        })
    }
}
