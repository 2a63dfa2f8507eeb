//! DynamoDB as the [`TableItems`] of `kyc migrate keys`: a paginated, strongly consistent Scan,
//! and one `TransactWriteItems` per moved item (put new if absent, delete old if unchanged).

use crate::{Item, ItemKey, MigrateError, Page, Relocation, TableItems};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue as Av, Delete, Put, TransactWriteItem};
use kyc_aws::attribute::{from_attribute, to_attribute};
use std::collections::HashMap;

/// The DynamoDB adapter of [`TableItems`]: the deployed table, scanned and rewritten.
pub struct DynamoTableItems {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoTableItems {
    /// An adapter on `table`, through `client`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> MigrateError {
    MigrateError::Unavailable(format!("{what}: {e}"))
}

fn to_item(item: HashMap<String, Av>) -> Result<Item, MigrateError> {
    match from_attribute(Av::M(item)) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => unreachable!("a map reads as an object"),
        Err(e) => Err(unavailable("an item JSON cannot hold", e)),
    }
}

fn to_dynamo(item: &Item) -> HashMap<String, Av> {
    match to_attribute(&serde_json::Value::Object(item.clone())) {
        Av::M(m) => m,
        _ => unreachable!("an object writes as a map"),
    }
}

fn key(k: &ItemKey) -> HashMap<String, Av> {
    HashMap::from([
        ("PK".to_string(), Av::S(k.pk.clone())),
        ("SK".to_string(), Av::S(k.sk.clone())),
    ])
}

fn version_of(item: &Item) -> Option<i64> {
    item.get("version").and_then(serde_json::Value::as_i64)
}

/// Delete `old` if it is still there with the version it was read with.
fn delete_old(table: &str, old: &Item) -> TransactWriteItem {
    let mut d = Delete::builder()
        .table_name(table)
        .set_key(Some(key(&ItemKey::of(old).expect("keys"))));
    d = match version_of(old) {
        Some(v) => d
            .condition_expression("attribute_exists(PK) AND version = :ov")
            .expression_attribute_values(":ov", Av::N(v.to_string())),
        None => d.condition_expression("attribute_exists(PK)"),
    };
    TransactWriteItem::builder()
        .delete(d.build().expect("table and key set"))
        .build()
}

/// Which items of a cancelled transaction failed their condition; `Err` for any other error.
fn failed_conditions(
    e: aws_sdk_dynamodb::error::SdkError<
        TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Result<Vec<bool>, MigrateError> {
    if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) = e.as_service_error() {
        let codes: Vec<bool> = tc
            .cancellation_reasons()
            .iter()
            .map(|r| r.code() == Some("ConditionalCheckFailed"))
            .collect();
        if codes.iter().any(|c| *c) {
            return Ok(codes);
        }
    }
    if e.code() == Some("TransactionConflict") {
        return Ok(vec![true, true]);
    }
    Err(unavailable("transaction", DisplayErrorContext(&e)))
}

#[async_trait]
impl TableItems for DynamoTableItems {
    async fn page(&self, after: Option<&ItemKey>, limit: usize) -> Result<Page, MigrateError> {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(after.map(key))
            .send()
            .await
            .map_err(|e| unavailable("scan", DisplayErrorContext(&e)))?;
        let items = out
            .items()
            .iter()
            .cloned()
            .map(to_item)
            .collect::<Result<Vec<_>, _>>()?;
        let last = out.last_evaluated_key().map(|k| ItemKey {
            pk: k
                .get("PK")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
            sk: k
                .get("SK")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default(),
        });
        Ok(Page { items, last })
    }

    async fn get(&self, k: &ItemKey) -> Result<Option<Item>, MigrateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(k)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("get", DisplayErrorContext(&e)))?;
        out.item.map(to_item).transpose()
    }

    async fn relocate(&self, old: &Item, new: &Item) -> Result<Relocation, MigrateError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_dynamo(new)))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .expect("table and item set");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(delete_old(&self.table, old))
            .send()
            .await;
        let failed = match result {
            Ok(_) => return Ok(Relocation::Moved),
            Err(e) => failed_conditions(e)?,
        };
        if failed.get(1) == Some(&true) {
            return Ok(Relocation::OldChanged);
        }
        // The new key is taken: the item is there already; the old copy goes alone.
        let result = self
            .client
            .transact_write_items()
            .transact_items(delete_old(&self.table, old))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Relocation::AlreadyThere),
            Err(e) => {
                failed_conditions(e)?;
                Ok(Relocation::OldChanged)
            }
        }
    }

    async fn replace_state(
        &self,
        old: &Item,
        expected: Option<&Item>,
        merged: &Item,
    ) -> Result<bool, MigrateError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_dynamo(merged)));
        put = match expected.map(version_of) {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(Some(v)) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", Av::N(v.to_string())),
            Some(None) => {
                put.condition_expression("attribute_exists(PK) AND attribute_not_exists(version)")
            }
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(put.build().expect("table and item set"))
                    .build(),
            )
            .transact_items(delete_old(&self.table, old))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => failed_conditions(e).map(|_| false),
        }
    }
}
