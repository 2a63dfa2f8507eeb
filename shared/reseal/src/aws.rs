//! DynamoDB + S3 as the [`SealedItems`] of `kyc reseal`: a paginated, strongly consistent
//! Scan of the table, conditional `UpdateItem`s on the old sealed text, and the body bucket's
//! offloaded bodies.

use crate::{
    resealed_body_location, ItemKey, ItemPage, PathStep, ResealError, SealedItems, StoredItem,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_s3::primitives::ByteStream;
use kyc_aws::attribute::from_attribute;
use std::collections::HashMap;

/// The DynamoDB and S3 adapter of [`SealedItems`]: the table and the body bucket.
pub struct DynamoSealedItems {
    ddb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    table: String,
}

impl DynamoSealedItems {
    /// An adapter on `table`, with clients of the given AWS configuration.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self {
            ddb: aws_sdk_dynamodb::Client::new(config),
            s3: kyc_aws::s3_client(config),
            table: table.into(),
        }
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> ResealError {
    ResealError::Unavailable(format!("{what}: {e}"))
}

fn key_of(item: &HashMap<String, Av>) -> Option<ItemKey> {
    Some(ItemKey {
        pk: item.get("PK")?.as_s().ok()?.clone(),
        sk: item.get("SK")?.as_s().ok()?.clone(),
    })
}

fn stored(item: HashMap<String, Av>) -> Option<StoredItem> {
    let key = key_of(&item)?;
    let attributes = item
        .iter()
        .filter(|(name, _)| *name != "PK" && *name != "SK")
        // An attribute JSON cannot hold (binary, say) holds no sealed text; it is left out of
        // the view, and untouched: every write names the paths it changes.
        .filter_map(|(name, v)| Some((name.clone(), from_attribute(v.clone()).ok()?)))
        .collect();
    Some(StoredItem { key, attributes })
}

fn dynamo_key(key: &ItemKey) -> HashMap<String, Av> {
    HashMap::from([
        ("PK".to_string(), Av::S(key.pk.clone())),
        ("SK".to_string(), Av::S(key.sk.clone())),
    ])
}

/// `#p0.#p1[3].#p2` with its attribute names: names are always placeholders (stream names
/// like `clientFile#…` and reserved words are not valid in an expression as they are).
fn path_expression(path: &[PathStep]) -> (String, HashMap<String, String>) {
    let mut expression = String::new();
    let mut names = HashMap::new();
    for (i, step) in path.iter().enumerate() {
        match step {
            PathStep::Key(name) => {
                let placeholder = format!("#p{i}");
                if !expression.is_empty() {
                    expression.push('.');
                }
                expression.push_str(&placeholder);
                names.insert(placeholder, name.clone());
            }
            PathStep::Index(n) => expression.push_str(&format!("[{n}]")),
        }
    }
    (expression, names)
}

fn s3_location(location: &str) -> Result<(&str, &str), ResealError> {
    location
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .ok_or_else(|| ResealError::Unavailable("body location is not s3://BUCKET/KEY".into()))
}

#[async_trait]
impl SealedItems for DynamoSealedItems {
    async fn page(&self, after: Option<&ItemKey>, limit: usize) -> Result<ItemPage, ResealError> {
        let out = self
            .ddb
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .limit(limit.min(i32::MAX as usize) as i32)
            .set_exclusive_start_key(after.map(dynamo_key))
            .send()
            .await
            .map_err(|e| {
                unavailable(
                    "DynamoDB Scan",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                )
            })?;
        let last = out.last_evaluated_key().and_then(key_of);
        Ok(ItemPage {
            items: out
                .items
                .unwrap_or_default()
                .into_iter()
                .filter_map(stored)
                .collect(),
            last,
        })
    }

    async fn item(&self, key: &ItemKey) -> Result<Option<StoredItem>, ResealError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(dynamo_key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                unavailable(
                    "DynamoDB GetItem",
                    aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                )
            })?;
        Ok(out.item.and_then(stored))
    }

    async fn replace(
        &self,
        key: &ItemKey,
        path: &[PathStep],
        old: &str,
        new: &str,
    ) -> Result<bool, ResealError> {
        let (target, names) = path_expression(path);
        let result = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(dynamo_key(key)))
            .update_expression(format!("SET {target} = :new"))
            .condition_expression(format!("{target} = :old"))
            .set_expression_attribute_names(Some(names))
            .expression_attribute_values(":new", Av::S(new.to_string()))
            .expression_attribute_values(":old", Av::S(old.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(
                "DynamoDB UpdateItem",
                aws_sdk_dynamodb::error::DisplayErrorContext(&e),
            )),
        }
    }

    async fn read_body(&self, location: &str) -> Result<String, ResealError> {
        let (bucket, key) = s3_location(location)?;
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| unavailable("S3 GetObject", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| unavailable("S3 body read", e))?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| ResealError::Unavailable("offloaded body is not UTF-8".into()))
    }

    /// No encryption header: the body bucket's default applies (with `DataKmsKeyArn`, an
    /// upload presenting another encryption is refused by the bucket policy).
    async fn write_body(&self, old_location: &str, sealed: &str) -> Result<String, ResealError> {
        let location = resealed_body_location(old_location, sealed);
        let (bucket, key) = s3_location(&location)?;
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(sealed.as_bytes().to_vec()))
            .content_type("text/plain")
            .send()
            .await
            .map_err(|e| unavailable("S3 PutObject", aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        Ok(location)
    }

    async fn delete_body(&self, location: &str) -> Result<(), ResealError> {
        let (bucket, key) = s3_location(location)?;
        self.s3
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                unavailable(
                    "S3 DeleteObject",
                    aws_sdk_s3::error::DisplayErrorContext(&e),
                )
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_placeholder_expressions() {
        let (e, names) = path_expression(&[
            PathStep::Key("clientFile#cf".into()),
            PathStep::Key("detail".into()),
            PathStep::Index(2),
            PathStep::Key("sealedKey".into()),
        ]);
        assert_eq!(e, "#p0.#p1[2].#p3");
        assert_eq!(names["#p0"], "clientFile#cf");
        assert_eq!(names["#p3"], "sealedKey");
    }
}
