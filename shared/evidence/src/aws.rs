//! The adapters: the history through the table's hour index (`GSI1PK = HOUR#<hour>#<shard>`,
//! keys only, then a consistent `BatchGetItem` of the entries), salts at the customer level,
//! the chain pointer (`EVIDENCE#CHAIN`), and the digests in the Object Lock bucket
//! (`digests/<hour>.json`, written only if absent, locked until a retention date).

use crate::leaf::Entry;
use crate::seal::{ChainPointer, DigestStore, HistorySource, HourSeal, StoredDigest};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::Client;
use chrono::{Duration, Utc};
use kyc_aws::attribute::from_attribute;
use kyc_aws::DynamoStore;
use kyc_core::evidence::{DeletionRecord, SALT_SK};
use kyc_core::intake::{Provider, StoreError};
use kyc_core::keys;
use std::collections::{BTreeSet, HashMap};

/// The chain pointer's key.
pub const CHAIN_PK: &str = "EVIDENCE#CHAIN";
/// See [`CHAIN_PK`]: the chain pointer's sort key.
pub const CHAIN_SK: &str = "CHAIN";

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn text(item: &HashMap<String, Av>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The history and the chain in the table.
pub struct DynamoHistory {
    client: Client,
    table: String,
    items: DynamoStore,
}

impl DynamoHistory {
    /// The history and chain of `table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self {
            items: DynamoStore::from_client(client.clone(), table.clone()),
            client,
            table,
        }
    }

    /// The bank customer whose data a provider partition holds: the alias's owner, else the id.
    async fn customer_of(&self, pk: &str) -> Result<Option<String>, StoreError> {
        // The bank's own history of a customer (`C#<c>`): that customer's salt.
        if let Some(c) = pk.strip_prefix("C#").and_then(keys::unescape_id) {
            return Ok(Some(c));
        }
        let Some((p, id)) = keys::parse_customer_pk(pk) else {
            return Ok(None);
        };
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", Av::S(keys::alias_pk(p, &id)))
            .key("SK", Av::S(keys::ALIAS_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        Ok(Some(
            out.item().and_then(|i| text(i, "customerId")).unwrap_or(id),
        ))
    }

    async fn query_all(
        &self,
        index: Option<&str>,
        condition: &str,
        values: Vec<(&str, Av)>,
    ) -> Result<Vec<HashMap<String, Av>>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(condition)
            // A base-table read is consistent (an index cannot be).
            .consistent_read(index.is_none());
        for (k, v) in values {
            q = q.expression_attribute_values(k, v);
        }
        q.into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(&e)))
    }
}

impl DynamoHistory {
    /// Every history entry of the customer now, at every provider (its own id and the ids
    /// aliased to it), as stored.
    pub async fn entries_of_customer(&self, customer: &str) -> Result<Vec<Entry>, StoreError> {
        let mut partitions: Vec<String> = Provider::ALL
            .iter()
            .map(|p| keys::customer_pk(*p, customer))
            .collect();
        for item in self
            .query_all(
                None,
                "PK = :pk AND begins_with(SK, :a)",
                vec![
                    (":pk", Av::S(keys::customer_area_pk(customer))),
                    (":a", Av::S(keys::CUSTOMER_ALIAS_PREFIX.into())),
                ],
            )
            .await?
        {
            if let (Some(p), Some(id)) = (
                text(&item, "provider").and_then(|p| Provider::parse(&p)),
                text(&item, "providerId"),
            ) {
                partitions.push(keys::customer_pk(p, &id));
            }
        }
        let mut entries = Vec::new();
        for pk in partitions {
            for item in self
                .query_all(
                    None,
                    "PK = :pk AND begins_with(SK, :h)",
                    vec![
                        (":pk", Av::S(pk.clone())),
                        (":h", Av::S(keys::HISTORY_PREFIX.into())),
                    ],
                )
                .await?
            {
                if let Some(sk) = text(&item, "SK") {
                    entries.push(Entry {
                        pk: pk.clone(),
                        sk,
                        item: attributes_json(&item)?,
                    });
                }
            }
        }
        Ok(entries)
    }
}

/// A stored item's attributes without its keys and index attributes, as JSON.
fn attributes_json(item: &HashMap<String, Av>) -> Result<serde_json::Value, StoreError> {
    let fields: HashMap<String, Av> = item
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "PK" | "SK" | "GSI1PK" | "GSI1SK"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    from_attribute(Av::M(fields)).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl HistorySource for DynamoHistory {
    async fn entries_of_hour(&self, hour: &str) -> Result<Vec<Entry>, StoreError> {
        let mut wanted: Vec<(String, String)> = Vec::new();
        for shard in 0..keys::HOUR_SHARDS {
            for item in self
                .query_all(
                    Some("GSI1"),
                    "GSI1PK = :pk",
                    vec![(":pk", Av::S(format!("HOUR#{hour}#{shard:02}")))],
                )
                .await?
            {
                if let (Some(pk), Some(sk)) = (text(&item, "PK"), text(&item, "SK")) {
                    wanted.push((pk, sk));
                }
            }
        }
        let mut entries = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(100) {
            for item in self.items.batch_get(chunk).await? {
                let (Some(pk), Some(sk)) = (text(&item, "PK"), text(&item, "SK")) else {
                    continue;
                };
                entries.push(Entry {
                    pk,
                    sk,
                    item: attributes_json(&item)?,
                });
            }
        }
        Ok(entries)
    }

    async fn salt_for(&self, pk: &str, create: bool) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(customer) = self.customer_of(pk).await? else {
            return Ok(Some(Vec::new()));
        };
        self.salt_of_customer(&customer, create).await
    }

    async fn salts_for(&self, pk: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let Some(customer) = self.customer_of(pk).await? else {
            return Ok(vec![Vec::new()]);
        };
        let mut salts: Vec<Vec<u8>> = self
            .salt_of_customer(&customer, false)
            .await?
            .into_iter()
            .collect();
        if let Some((_, id)) = keys::parse_customer_pk(pk).filter(|(_, id)| *id != customer) {
            if let Some(own) = self.salt_of_customer(&id, false).await? {
                if !salts.contains(&own) {
                    salts.push(own);
                }
            }
        }
        Ok(salts)
    }

    async fn deletion_records(
        &self,
        since_day: &str,
    ) -> Result<Vec<(Entry, DeletionRecord)>, StoreError> {
        let start = chrono::NaiveDate::parse_from_str(since_day, "%Y-%m-%d")
            .map_err(|_| StoreError::Corrupt("a day yyyy-mm-dd".into()))?;
        // Through tomorrow: a record written just past midnight by a clock a little ahead.
        let today = Utc::now().date_naive() + Duration::days(1);
        let mut out = Vec::new();
        let mut day = start;
        while day <= today {
            let pk = keys::deletion_record_pk(day.and_hms_opt(12, 0, 0).expect("noon").and_utc());
            for item in self
                .query_all(None, "PK = :pk", vec![(":pk", Av::S(pk.clone()))])
                .await?
            {
                let json = attributes_json(&item)?;
                let record = serde_json::from_value(json.clone())
                    .map_err(|e| StoreError::Corrupt(format!("deletion record: {e}")))?;
                let entry = Entry {
                    pk: pk.clone(),
                    sk: text(&item, "SK").unwrap_or_default(),
                    item: json,
                };
                out.push((entry, record));
            }
            day += Duration::days(1);
        }
        Ok(out)
    }

    async fn hours_of_customer(&self, customer: &str) -> Result<Vec<String>, StoreError> {
        let hours: BTreeSet<String> = self
            .entries_of_customer(customer)
            .await?
            .iter()
            .filter_map(|e| {
                e.sk.get(keys::HISTORY_PREFIX.len()..keys::HISTORY_PREFIX.len() + 13)
                    .map(str::to_string)
            })
            .collect();
        Ok(hours.into_iter().collect())
    }

    async fn chain(&self) -> Result<Option<ChainPointer>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", Av::S(CHAIN_PK.into()))
            .key("SK", Av::S(CHAIN_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        serde_json::from_value(attributes_json(item)?)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("chain pointer: {e}")))
    }

    async fn advance_chain(
        &self,
        from: Option<&ChainPointer>,
        to: &ChainPointer,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", Av::S(CHAIN_PK.into()))
            .item("SK", Av::S(CHAIN_SK.into()))
            .item("itemType", Av::S("evidenceChain".into()))
            .item("hour", Av::S(to.hour.clone()))
            .item("root", Av::S(hex::encode(to.root)));
        let put = match from {
            None => put.condition_expression("attribute_not_exists(PK)"),
            Some(f) => put
                .condition_expression("#h = :h")
                .expression_attribute_names("#h", "hour")
                .expression_attribute_values(":h", Av::S(f.hour.clone())),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(DisplayErrorContext(&e))),
        }
    }
}

/// The digests in the Object Lock bucket.
pub struct S3Digests {
    /// The S3 client.
    pub client: aws_sdk_s3::Client,
    /// The Object Lock bucket.
    pub bucket: String,
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub lock_mode: aws_sdk_s3::types::ObjectLockMode,
    /// How long each digest is locked.
    pub lock_days: u32,
}

impl S3Digests {
    /// The object key of an hour's digest.
    pub fn key(hour: &str) -> String {
        format!("digests/{hour}.json")
    }
}

#[async_trait]
impl DigestStore for S3Digests {
    async fn put_new(&self, seal: &HourSeal) -> Result<bool, StoreError> {
        let key = Self::key(&seal.hour);
        // Checked first (a store that ignored If-None-Match would add a version), then put
        // with If-None-Match: two runs racing cannot both write.
        if self.get(&seal.hour).await?.is_some() {
            return Ok(false);
        }
        let body = serde_json::to_vec(seal).expect("a seal serialises");
        let until = Utc::now() + Duration::days(i64::from(self.lock_days));
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/json")
            .if_none_match("*")
            .object_lock_mode(self.lock_mode.clone())
            .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                until.timestamp(),
            ))
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
            .body(body.into())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(false),
            Err(e) => Err(unavailable(aws_sdk_s3::error::DisplayErrorContext(&e))),
        }
    }

    async fn get(&self, hour: &str) -> Result<Option<StoredDigest>, StoreError> {
        let key = Self::key(hour);
        let listed = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(&key)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        let versions = listed
            .versions()
            .iter()
            .filter(|v| v.key() == Some(key.as_str()))
            .count()
            + listed
                .delete_markers()
                .iter()
                .filter(|m| m.key() == Some(key.as_str()))
                .count();
        if versions == 0 {
            return Ok(None);
        }
        // The oldest version is the one sealed (a later one is a replacement, flagged). S3
        // lists a key's versions newest first; `LastModified` has one-second resolution, so
        // the order, not the time, names the oldest.
        let first = listed
            .versions()
            .iter()
            .rfind(|v| v.key() == Some(key.as_str()))
            .and_then(|v| v.version_id().map(str::to_string));
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .set_version_id(first)
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_s3::error::DisplayErrorContext(&e)))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| unavailable(format!("digest body: {e}")))?
            .into_bytes();
        let seal: HourSeal = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("digest {hour}: {e}")))?;
        Ok(Some(StoredDigest { seal, versions }))
    }
}

/// A lock mode from its name.
pub fn lock_mode(name: &str) -> Option<aws_sdk_s3::types::ObjectLockMode> {
    match name {
        "GOVERNANCE" => Some(aws_sdk_s3::types::ObjectLockMode::Governance),
        "COMPLIANCE" => Some(aws_sdk_s3::types::ObjectLockMode::Compliance),
        _ => None,
    }
}

impl DynamoHistory {
    /// `C#<customer>` / `SALT` (with `create`, given one if missing).
    async fn salt_of_customer(
        &self,
        customer: &str,
        create: bool,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = HashMap::from([
            ("PK".to_string(), Av::S(keys::customer_area_pk(customer))),
            ("SK".to_string(), Av::S(SALT_SK.into())),
        ]);
        let item = if create {
            let fresh: [u8; 32] = rand::random();
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("SET salt = if_not_exists(salt, :s), itemType = :t")
                .expression_attribute_values(":s", Av::B(fresh.to_vec().into()))
                .expression_attribute_values(":t", Av::S("salt".into()))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))?
                .attributes
        } else {
            self.client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))?
                .item
        };
        Ok(item
            .as_ref()
            .and_then(|i| i.get("salt"))
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec()))
    }
}
