//! DynamoDB adapter of [`LifecycleStore`] (`docs/lifecycle.md`, `docs/table-design.md`).
//!
//! - snapshot: one consistent `BatchGetItem` (lifecycle, hold, the three provider states, the
//!   GoPay link), then the GoPay profile's status if linked;
//! - the end, a reopening, a hold: one `TransactWriteItems` with the bank action (and the
//!   customer's salt, `if_not_exists`);
//! - due customers: `Query` of `GSI1` under `DELETE#<shard>` (8 shards), never a scan;
//! - the deletion's commit point: one `TransactWriteItems` — each provider state deleted only
//!   at the version the check read (or checked absent), the lifecycle item moved to `deleting`
//!   only at the version read, no hold, the deletion record put; then the rest by
//!   `DeleteItem` (16 at a time), the lifecycle item last.

use crate::erase::{Mark, StoredTombstone};
use crate::store::{deletion_rule, record_id, Due, LifecycleStore, ObjectVersions, Written};
use crate::{Deleting, Hold, Lifecycle, ObjectRef, Snapshot};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{
    AttributeValue as Av, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use kyc_aws::attribute::{from_attribute, to_attribute};
use kyc_aws::bank_history::bank_action_item;
use kyc_aws::DynamoStore;
use kyc_core::bank::BankAction;
use kyc_core::erasure::Tombstone;
use kyc_core::evidence::{leaf_key_hash, DeletionRecord, SALT_SK};
use kyc_core::intake::{Provider, StoreError};
use kyc_core::keys;
use std::collections::{BTreeMap, HashMap};

/// The DynamoDB (and S3) adapter of [`LifecycleStore`]: lifecycle items, holds, deletions.
pub struct DynamoLifecycleStore {
    client: Client,
    table: String,
    items: DynamoStore,
    objects: Option<(std::sync::Arc<dyn ObjectVersions>, Buckets)>,
    /// The Trust & Sign keyring, to open the sealed archive keys of the customer's events
    /// (`kyc erase` holds it; the sweep's role does not).
    trust_sign_keys: Option<kyc_core::crypto::Keyring>,
}

/// The buckets whose objects name a customer by key (the Xpollens body bucket is named by each
/// event's `bodyRef`).
#[derive(Debug, Clone, Default)]
pub struct Buckets {
    /// GoPay: `gopay/identification-pdf/<client profile id>/`.
    pub gopay: Option<String>,
    /// Trust & Sign: `processed/<client file uuid>/` (report.json copies).
    pub archive: Option<String>,
}

impl DynamoLifecycleStore {
    /// A store on `table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self {
            items: DynamoStore::from_client(client.clone(), table.clone()),
            client,
            table,
            objects: None,
            trust_sign_keys: None,
        }
    }

    /// Also deletes every version of the incoming Trust & Sign archives the customer's events
    /// name (their keys are sealed under this keyring: only an operator who holds it reaches
    /// them).
    pub fn with_trust_sign_keys(mut self, keys: kyc_core::crypto::Keyring) -> Self {
        self.trust_sign_keys = Some(keys);
        self
    }

    /// The incoming archive and the report copy a Trust & Sign event item's sealed descriptor
    /// names.
    fn archive_of(&self, item: &HashMap<String, Av>) -> Result<Vec<ObjectRef>, StoreError> {
        let (Some(keys), Some(sealed), Some(id)) = (
            &self.trust_sign_keys,
            text(item, "sealedBody"),
            text(item, "eventId"),
        ) else {
            return Ok(Vec::new());
        };
        let subject = text(item, "subject");
        let aad =
            kyc_core::intake::EventRecord::body_aad(Provider::TrustSign, &id, subject.as_deref());
        let opened = keys
            .open(&aad, &sealed)
            .map_err(|e| StoreError::Corrupt(format!("Trust & Sign descriptor: {e}")))?;
        let descriptor: serde_json::Value = serde_json::from_slice(&opened)
            .map_err(|_| StoreError::Corrupt("Trust & Sign descriptor is not JSON".into()))?;
        let object = &descriptor["object"];
        let Some(bucket) = object["bucket"].as_str() else {
            return Ok(Vec::new());
        };
        Ok(
            [object["key"].as_str(), descriptor["processedKey"].as_str()]
                .into_iter()
                .flatten()
                .map(|key| ObjectRef {
                    provider: Some(Provider::TrustSign),
                    bucket: bucket.into(),
                    key: key.into(),
                    prefix: false,
                })
                .collect(),
        )
    }

    /// Deletes the customers' objects too (every version), in these buckets.
    pub fn with_objects(
        mut self,
        objects: std::sync::Arc<dyn ObjectVersions>,
        buckets: Buckets,
    ) -> Self {
        self.objects = Some((objects, buckets));
        self
    }

    /// The customer's objects: large bodies its events name, its GoPay PDFs, its Trust & Sign
    /// report copies (found before the items naming them go).
    async fn objects_of(
        &self,
        ids: &BTreeMap<Provider, String>,
        history: &[Entry],
    ) -> Result<Vec<ObjectRef>, StoreError> {
        let Some((_, buckets)) = &self.objects else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        let events: Vec<(String, String)> = history
            .iter()
            .filter_map(|e| e.event_pk.clone())
            .map(|pk| (pk, keys::EVENT_SK.to_string()))
            .collect();
        for chunk in events.chunks(100) {
            for item in self.items.batch_get(chunk).await? {
                if text(&item, "provider").as_deref() == Some(Provider::TrustSign.as_str()) {
                    found.extend(self.archive_of(&item)?);
                }
                let Some(location) = text(&item, "bodyRef") else {
                    continue;
                };
                let (bucket, key) = location
                    .strip_prefix("s3://")
                    .and_then(|r| r.split_once('/'))
                    .ok_or_else(|| StoreError::Corrupt("bodyRef is not s3://bucket/key".into()))?;
                found.push(ObjectRef {
                    provider: text(&item, "provider").and_then(|p| Provider::parse(&p)),
                    bucket: bucket.into(),
                    key: key.into(),
                    prefix: false,
                });
            }
        }
        if let (Some(bucket), Some(gp)) = (&buckets.gopay, ids.get(&Provider::Gopay)) {
            let link = key(keys::customer_pk(Provider::Gopay, gp), keys::GOPAY_LINK_SK);
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(link))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
            if let Some(id) = out.item().and_then(|i| text(i, "clientProfileId")) {
                found.push(ObjectRef {
                    provider: Some(Provider::Gopay),
                    bucket: bucket.clone(),
                    key: format!("gopay/identification-pdf/{id}/"),
                    prefix: true,
                });
            }
        }
        if let (Some(bucket), Some(ts)) = (&buckets.archive, ids.get(&Provider::TrustSign)) {
            let state = key(keys::customer_pk(Provider::TrustSign, ts), keys::STATE_SK);
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(state))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
            if let Some(item) = out.item() {
                for stream in DynamoStore::parse_state(item)?.streams.keys() {
                    if let Some(uuid) = stream.attribute().strip_prefix("clientFile#") {
                        found.push(ObjectRef {
                            provider: Some(Provider::TrustSign),
                            bucket: bucket.clone(),
                            key: format!("processed/{uuid}/"),
                            prefix: true,
                        });
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }
}

/// [`ObjectVersions`] on S3: `ListObjectVersions` under the key, then `DeleteObjects` of every
/// version and delete marker (1,000 a call).
pub struct S3ObjectVersions {
    /// The S3 client.
    pub client: kyc_aws::aws_sdk_s3::Client,
}

#[async_trait]
impl ObjectVersions for S3ObjectVersions {
    async fn delete_every_version(&self, o: &ObjectRef) -> Result<u64, StoreError> {
        use kyc_aws::aws_sdk_s3::error::DisplayErrorContext as S3Error;
        use kyc_aws::aws_sdk_s3::types::Delete as S3Delete;
        let ids = self.versions_of(o).await?;
        let n = ids.len() as u64;
        for chunk in ids.chunks(1000) {
            let out = self
                .client
                .delete_objects()
                .bucket(&o.bucket)
                .delete(
                    S3Delete::builder()
                        .set_objects(Some(chunk.to_vec()))
                        .quiet(true)
                        .build()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                )
                .send()
                .await
                .map_err(|e| unavailable(format!("S3 DeleteObjects: {}", S3Error(&e))))?;
            if !out.errors().is_empty() {
                // The codes only: keys may name the person.
                let codes: Vec<&str> = out.errors().iter().filter_map(|e| e.code()).collect();
                return Err(unavailable(format!(
                    "S3 DeleteObjects refused versions: {codes:?}"
                )));
            }
        }
        Ok(n)
    }

    async fn count_versions(&self, o: &ObjectRef) -> Result<u64, StoreError> {
        Ok(self.versions_of(o).await?.len() as u64)
    }
}

impl S3ObjectVersions {
    /// Every version and delete marker of `o` (or of every key under it).
    async fn versions_of(
        &self,
        o: &ObjectRef,
    ) -> Result<Vec<kyc_aws::aws_sdk_s3::types::ObjectIdentifier>, StoreError> {
        use kyc_aws::aws_sdk_s3::error::DisplayErrorContext as S3Error;
        use kyc_aws::aws_sdk_s3::types::ObjectIdentifier;
        let mut ids: Vec<ObjectIdentifier> = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let out = self
                .client
                .list_object_versions()
                .bucket(&o.bucket)
                .prefix(&o.key)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| unavailable(format!("S3 ListObjectVersions: {}", S3Error(&e))))?;
            let wanted = |k: Option<&str>| k.is_some_and(|k| o.prefix || k == o.key);
            for (k, v) in out
                .versions()
                .iter()
                .map(|v| (v.key(), v.version_id()))
                .chain(
                    out.delete_markers()
                        .iter()
                        .map(|m| (m.key(), m.version_id())),
                )
            {
                if wanted(k) {
                    ids.push(
                        ObjectIdentifier::builder()
                            .key(k.unwrap_or_default())
                            .set_version_id(v.map(str::to_string))
                            .build()
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    );
                }
            }
            if out.is_truncated() != Some(true) {
                break;
            }
            key_marker = out.next_key_marker().map(str::to_string);
            version_marker = out.next_version_id_marker().map(str::to_string);
        }
        Ok(ids)
    }
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn text(item: &HashMap<String, Av>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &HashMap<String, Av>, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

fn key(pk: String, sk: &str) -> HashMap<String, Av> {
    HashMap::from([
        ("PK".to_string(), Av::S(pk)),
        ("SK".to_string(), Av::S(sk.to_string())),
    ])
}

const KEY_ATTRS: [&str; 5] = ["PK", "SK", "itemType", "GSI1PK", "GSI1SK"];

/// A stored item (keys and index attributes dropped) → `T`.
fn parse<T: serde::de::DeserializeOwned>(
    item: &HashMap<String, Av>,
    what: &str,
) -> Result<T, StoreError> {
    let fields: HashMap<String, Av> = item
        .iter()
        .filter(|(k, _)| !KEY_ATTRS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let json = from_attribute(Av::M(fields)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    serde_json::from_value(json).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn attributes(value: &impl serde::Serialize) -> HashMap<String, Av> {
    match to_attribute(&serde_json::to_value(value).expect("serialises")) {
        Av::M(m) => m,
        _ => unreachable!("a struct serialises to an object"),
    }
}

/// The due-index tag: outcome and the providers that held a state (`customer.XP+GP`).
fn tag(l: &Lifecycle) -> String {
    // `XP:3`: the provider held a state and 3 object versions when the end was recorded.
    let providers: Vec<String> = l
        .state_versions
        .keys()
        .chain(l.objects.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|p| match l.objects.get(p) {
            Some(n) if *n > 0 => format!("{}:{n}", keys::provider_prefix(*p)),
            _ => keys::provider_prefix(*p).to_string(),
        })
        .collect();
    format!(
        "{}.{}",
        l.outcome.as_str(),
        if providers.is_empty() {
            "-".to_string()
        } else {
            providers.join("+")
        }
    )
}

/// The lifecycle item (on the due index while it has a date).
pub fn lifecycle_item(l: &Lifecycle) -> HashMap<String, Av> {
    let mut item = attributes(l);
    item.insert("PK".into(), Av::S(keys::customer_area_pk(&l.customer_id)));
    item.insert("SK".into(), Av::S(keys::LIFECYCLE_SK.into()));
    item.insert("itemType".into(), Av::S("lifecycle".into()));
    if let Some(d) = l.delete_after {
        let (pk, sk) = keys::delete_index_keys(&l.customer_id, d, &tag(l));
        item.insert("GSI1PK".into(), Av::S(pk));
        item.insert("GSI1SK".into(), Av::S(sk));
    }
    item
}

/// One history entry of a provider partition, as listed for a deletion.
struct Entry {
    pk: String,
    sk: String,
    received: String,
    event_id: Option<String>,
    event_pk: Option<String>,
}

impl DynamoLifecycleStore {
    fn transaction_failed<E>(
        &self,
        e: aws_sdk_dynamodb::error::SdkError<E>,
    ) -> Result<Written, StoreError>
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
        E: IsCanceled,
    {
        if e.as_service_error().is_some_and(IsCanceled::is_canceled) {
            return Ok(Written::Superseded);
        }
        Err(unavailable(DisplayErrorContext(&e)))
    }

    /// Every item of a partition (consistent).
    async fn partition(&self, pk: &str) -> Result<Vec<HashMap<String, Av>>, StoreError> {
        kyc_aws::dynamo_store::partition_items(&self.client, &self.table, pk, None).await
    }

    /// Under which id each provider keeps the customer's data (`kyc customer alias`): the
    /// provider id aliased to it, else its own id — unless its own id at that provider is
    /// aliased to another customer, whose data it then is (left out: never deleted here).
    async fn ids(&self, customer: &str) -> Result<BTreeMap<Provider, String>, StoreError> {
        let c = keys::customer_area_pk(customer);
        let aliased = async {
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
                .expression_attribute_values(":pk", Av::S(c.clone()))
                .expression_attribute_values(":p", Av::S(keys::CUSTOMER_ALIAS_PREFIX.into()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))
        };
        let sides: Vec<(String, String)> = Provider::ALL
            .iter()
            .map(|p| (keys::alias_pk(*p, customer), keys::ALIAS_SK.to_string()))
            .collect();
        let (aliased, sides) = tokio::join!(aliased, self.items.batch_get(&sides));
        let mut ids: BTreeMap<Provider, String> = Provider::ALL
            .iter()
            .map(|p| (*p, customer.to_string()))
            .collect();
        for item in sides? {
            let pk = text(&item, "PK").unwrap_or_default();
            let owner = text(&item, "customerId");
            if let Some(p) = Provider::ALL
                .into_iter()
                .find(|p| keys::alias_pk(*p, customer) == pk)
            {
                if owner.is_some_and(|o| o != customer) {
                    ids.remove(&p);
                }
            }
        }
        for item in aliased?.items() {
            if let (Some(p), Some(id)) = (
                text(item, "provider").and_then(|p| Provider::parse(&p)),
                text(item, "providerId"),
            ) {
                ids.insert(p, id);
            }
        }
        Ok(ids)
    }

    /// The customer's history entries at every provider (under the ids of [`Self::ids`]).
    async fn history(&self, ids: &BTreeMap<Provider, String>) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        for (p, id) in ids {
            let (p, pk) = (*p, keys::customer_pk(*p, id));
            for item in self.partition(&pk).await? {
                let Some(sk) = text(&item, "SK").filter(|s| s.starts_with(keys::HISTORY_PREFIX))
                else {
                    continue;
                };
                let received = sk[keys::HISTORY_PREFIX.len()..]
                    .split(keys::SEP)
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let event_id = text(&item, "eventId");
                out.push(Entry {
                    event_pk: event_id.as_deref().map(|id| keys::event_pk(p, id)),
                    event_id,
                    pk: pk.clone(),
                    sk,
                    received,
                });
            }
        }
        Ok(out)
    }

    async fn salt(&self, customer: &str) -> Result<Vec<u8>, StoreError> {
        self.salt_if_any(customer).await?.ok_or_else(|| {
            StoreError::Corrupt("a customer with a lifecycle item has no salt".into())
        })
    }

    async fn salt_if_any(&self, customer: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::customer_area_pk(customer), SALT_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        Ok(out
            .item()
            .and_then(|i| i.get("salt"))
            .and_then(|v| v.as_b().ok())
            .map(|b| b.as_ref().to_vec()))
    }

    /// Deletes `items` (keys), 16 `DeleteItem`s at a time. Not `BatchWriteItem`: IAM cannot
    /// tell its deletes from its puts, and this role must never be able to write a provider's
    /// data.
    async fn delete_all(&self, items: Vec<HashMap<String, Av>>) -> Result<(), StoreError> {
        for chunk in items.chunks(16) {
            let mut running = tokio::task::JoinSet::new();
            for k in chunk {
                let request = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(k.clone()));
                running.spawn(async move { request.send().await.map(drop) });
            }
            while let Some(done) = running.join_next().await {
                done.map_err(|e| unavailable(format!("delete task: {e}")))?
                    .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
            }
        }
        Ok(())
    }
}

/// Whether a transaction's service error is a cancellation (a condition failed).
pub trait IsCanceled {
    /// True when the transaction was cancelled.
    fn is_canceled(&self) -> bool;
}

impl IsCanceled for aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError {
    fn is_canceled(&self) -> bool {
        self.is_transaction_canceled_exception()
    }
}

#[async_trait]
impl LifecycleStore for DynamoLifecycleStore {
    async fn snapshot(&self, customer: &str) -> Result<Snapshot, StoreError> {
        let c = keys::customer_area_pk(customer);
        let ids = self.ids(customer).await?;
        let mut wanted = vec![
            (c.clone(), keys::LIFECYCLE_SK.to_string()),
            (c.clone(), keys::HOLD_SK.to_string()),
            (c.clone(), keys::DECISION_SK.to_string()),
        ];
        if let Some(gp) = ids.get(&Provider::Gopay) {
            wanted.push((
                keys::customer_pk(Provider::Gopay, gp),
                keys::GOPAY_LINK_SK.to_string(),
            ));
        }
        wanted.extend(
            ids.iter()
                .map(|(p, id)| (keys::customer_pk(*p, id), keys::STATE_SK.to_string())),
        );
        let mut snapshot = Snapshot {
            provider_ids: ids.clone(),
            ..Snapshot::default()
        };
        let mut profile = None;
        for item in self.items.batch_get(&wanted).await? {
            let pk = text(&item, "PK").unwrap_or_default();
            match text(&item, "SK").as_deref() {
                Some(keys::LIFECYCLE_SK) => snapshot.lifecycle = Some(parse(&item, "lifecycle")?),
                Some(keys::HOLD_SK) => snapshot.hold = Some(parse(&item, "hold")?),
                Some(keys::DECISION_SK) => {
                    snapshot.ever_verified = item
                        .get("everVerified")
                        .and_then(|v| v.as_bool().ok())
                        .copied()
                        .unwrap_or(false)
                }
                Some(keys::GOPAY_LINK_SK) => profile = text(&item, "clientProfileId"),
                Some(keys::STATE_SK) => {
                    if let Some(p) = keys::provider_of_partition(&pk) {
                        snapshot
                            .state_versions
                            .insert(p, number(&item, "version").unwrap_or(0));
                    }
                }
                _ => {}
            }
        }
        if let Some(id) = profile {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("GOPAY_PROFILE#{id}"), "PROFILE")))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
            // We hold tokens while active, or while GoPay's 404 may be wrong; a revoked
            // profile's tokens are erased, and needsConsent means GoPay refused them.
            snapshot.gopay_consent_live = out
                .item()
                .and_then(|i| text(i, "status"))
                .is_some_and(|s| s == "active" || s == "unknownAtGoPay");
        }
        Ok(snapshot)
    }

    async fn write_lifecycle(
        &self,
        lifecycle: &Lifecycle,
        read_version: i64,
        action: &BankAction,
    ) -> Result<Written, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(lifecycle_item(lifecycle)));
        let put = if read_version == 0 {
            put.condition_expression("attribute_not_exists(PK)")
        } else {
            put.condition_expression("version = :v")
                .expression_attribute_values(":v", Av::N(read_version.to_string()))
        };
        let salt = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::customer_area_pk(&lifecycle.customer_id),
                SALT_SK,
            )))
            .update_expression("SET salt = if_not_exists(salt, :s), itemType = :t")
            .expression_attribute_values(":s", Av::B(crate::store::new_salt().to_vec().into()))
            .expression_attribute_values(":t", Av::S("salt".into()));
        let history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(bank_action_item(&lifecycle.customer_id, action)))
            .condition_expression("attribute_not_exists(PK)");
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt(e.to_string());
        let sent = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .put(put.build().map_err(built)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(salt.build().map_err(built)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .put(history.build().map_err(built)?)
                    .build(),
            )
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Written::Written),
            Err(e) => self.transaction_failed(e),
        }
    }

    async fn write_hold(
        &self,
        customer: &str,
        hold: Option<&Hold>,
        action: &BankAction,
    ) -> Result<(), StoreError> {
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt(e.to_string());
        let c = keys::customer_area_pk(customer);
        let change = match hold {
            Some(h) => {
                let mut item = attributes(h);
                item.extend(key(c, keys::HOLD_SK));
                item.insert("itemType".into(), Av::S("hold".into()));
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(item))
                            .build()
                            .map_err(built)?,
                    )
                    .build()
            }
            None => TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(c, keys::HOLD_SK)))
                        .build()
                        .map_err(built)?,
                )
                .build(),
        };
        let history = Put::builder()
            .table_name(&self.table)
            .set_item(Some(bank_action_item(customer, action)))
            .build()
            .map_err(built)?;
        self.client
            .transact_write_items()
            .transact_items(change)
            .transact_items(TransactWriteItem::builder().put(history).build())
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        Ok(())
    }

    async fn due(&self, until: DateTime<Utc>, limit: usize) -> Result<Vec<Due>, StoreError> {
        let upper = format!("{}$", keys::key_time(until));
        let found = kyc_aws::sharded_index::below(
            &self.client,
            &self.table,
            "DELETE",
            keys::DELETE_SHARDS,
            &upper,
            limit,
        )
        .await?;
        let mut due = Vec::new();
        for (sk, pk) in found {
            let Some((time, tag, escaped)) = keys::parse_delete_index_sk(&sk) else {
                continue;
            };
            let delete_after = DateTime::parse_from_rfc3339(time)
                .map_err(|_| StoreError::Corrupt("due index time".into()))?
                .with_timezone(&Utc);
            let (outcome, providers) = tag.split_once('.').unwrap_or((tag, "-"));
            let outcome = crate::retention::Outcome::parse(outcome)
                .ok_or_else(|| StoreError::Corrupt("due index outcome".into()))?;
            let mut objects = BTreeMap::new();
            let providers = providers
                .split('+')
                .filter_map(|p| {
                    let (p, n) = p.split_once(':').unwrap_or((p, "0"));
                    let provider = keys::provider_of_partition(&format!("{p}#"))?;
                    if let Ok(n) = n.parse::<u64>() {
                        if n > 0 {
                            objects.insert(provider, n);
                        }
                    }
                    Some(provider)
                })
                .collect();
            let customer = match keys::unescape_id(escaped) {
                Some(c) => c,
                // The digest form: the lifecycle item holds the id.
                None => {
                    let out = self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .set_key(Some(key(pk, keys::LIFECYCLE_SK)))
                        .send()
                        .await
                        .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
                    match out.item().and_then(|i| text(i, "customerId")) {
                        Some(c) => c,
                        None => continue,
                    }
                }
            };
            due.push(Due {
                customer,
                delete_after,
                outcome,
                providers,
                objects,
            });
        }
        Ok(due)
    }

    async fn inactive_applicants(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let upper = keys::key_time(before);
        let found = kyc_aws::sharded_index::below(
            &self.client,
            &self.table,
            "INACTIVE",
            keys::DELETE_SHARDS,
            &upper,
            limit,
        )
        .await?;
        let mut out = Vec::new();
        for (sk, pk) in found {
            let Some((time, escaped)) = sk.split_once(keys::SEP) else {
                continue;
            };
            let last = DateTime::parse_from_rfc3339(time)
                .map_err(|_| StoreError::Corrupt("inactivity index time".into()))?
                .with_timezone(&Utc);
            let customer = match keys::unescape_id(escaped) {
                Some(c) => c,
                // The digest form: the decision item holds the id.
                None => {
                    let item = self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .set_key(Some(key(pk, keys::DECISION_SK)))
                        .send()
                        .await
                        .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
                    match item.item().and_then(|i| text(i, "customerId")) {
                        Some(c) => c,
                        None => continue,
                    }
                }
            };
            out.push((customer, last));
        }
        Ok(out)
    }

    async fn commit_deletion(
        &self,
        customer: &str,
        snapshot: &Snapshot,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<Written, StoreError> {
        let Some(lifecycle) = &snapshot.lifecycle else {
            return Ok(Written::Superseded);
        };
        let salt = self.salt(customer).await?;
        let ids = self.ids(customer).await?;
        let history = self.history(&ids).await?;
        // A provider id aliased to the customer after some of its hours were sealed had them
        // sealed under its own salt (if it has one): its entries are named under both.
        let mut own_salts: BTreeMap<Provider, Vec<u8>> = BTreeMap::new();
        for (p, id) in &ids {
            if id != customer {
                if let Some(own) = self.salt_if_any(id).await? {
                    own_salts.insert(*p, own);
                }
            }
        }
        let mut leaves: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &history {
            let hour = leaves
                .entry(e.received.get(..13).unwrap_or_default().to_string())
                .or_default();
            hour.push(leaf_key_hash(&salt, &e.pk, &e.sk));
            if let Some(own) = keys::provider_of_partition(&e.pk).and_then(|p| own_salts.get(&p)) {
                hour.push(leaf_key_hash(own, &e.pk, &e.sk));
            }
        }
        // The bank's own history of the customer (holds, ends, reveals, exports) is sealed
        // too, and goes with the customer level.
        let c = keys::customer_area_pk(customer);
        for item in self.partition(&c).await? {
            if let Some(sk) = text(&item, "SK").filter(|s| s.starts_with(keys::HISTORY_PREFIX)) {
                let hour = sk
                    .get(keys::HISTORY_PREFIX.len()..keys::HISTORY_PREFIX.len() + 13)
                    .unwrap_or_default()
                    .to_string();
                leaves
                    .entry(hour)
                    .or_default()
                    .push(leaf_key_hash(&salt, &c, &sk));
            }
        }
        let id = record_id();
        let record = DeletionRecord {
            at: now,
            rule: deletion_rule(lifecycle).into(),
            reason: lifecycle.rule.clone(),
            operator: operator.into(),
            leaves,
            counts: BTreeMap::from([
                ("states".to_string(), snapshot.state_versions.len() as u64),
                ("history".to_string(), history.len() as u64),
            ]),
        };
        let built = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt(e.to_string());
        let mut items = Vec::new();
        // Every provider state at the version the check read, or still absent.
        for (p, id) in &ids {
            let p = *p;
            let k = key(keys::customer_pk(p, id), keys::STATE_SK);
            items.push(match snapshot.state_versions.get(&p) {
                Some(v) => TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(k))
                            .condition_expression("version = :v")
                            .expression_attribute_values(":v", Av::N(v.to_string()))
                            .build()
                            .map_err(built)?,
                    )
                    .build(),
                None => TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name(&self.table)
                            .set_key(Some(k))
                            .condition_expression("attribute_not_exists(PK)")
                            .build()
                            .map_err(built)?,
                    )
                    .build(),
            });
        }
        let c = keys::customer_area_pk(customer);
        items.push(
            TransactWriteItem::builder()
                .condition_check(
                    ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(c.clone(), keys::HOLD_SK)))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .map_err(built)?,
                )
                .build(),
        );
        let deleting = Deleting {
            since: now,
            record_id: id.clone(),
            objects: self.objects_of(&ids, &history).await?,
        };
        items.push(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(c, keys::LIFECYCLE_SK)))
                        .update_expression("SET deleting = :d, version = :next")
                        .condition_expression("version = :v AND attribute_not_exists(deleting)")
                        .expression_attribute_values(
                            ":d",
                            to_attribute(&serde_json::to_value(&deleting).expect("serialises")),
                        )
                        .expression_attribute_values(
                            ":next",
                            Av::N((lifecycle.version + 1).to_string()),
                        )
                        .expression_attribute_values(":v", Av::N(lifecycle.version.to_string()))
                        .build()
                        .map_err(built)?,
                )
                .build(),
        );
        let mut record_item = attributes(&record);
        let (record_pk, record_sk) = (
            keys::deletion_record_pk(now),
            format!("{}#{id}", keys::key_time(now)),
        );
        // On the hour index: the record is sealed with its hour, so `kyc verify` can tell a
        // record the bank wrote from one forged later to hide a deletion.
        let (hour_pk, hour_sk) = keys::hour_index_keys(&record_pk, &record_sk, now);
        record_item.insert("GSI1PK".into(), Av::S(hour_pk));
        record_item.insert("GSI1SK".into(), Av::S(hour_sk));
        record_item.extend(key(record_pk, &record_sk));
        record_item.insert("itemType".into(), Av::S("deletionRecord".into()));
        items.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(record_item))
                        .condition_expression("attribute_not_exists(PK)")
                        .build()
                        .map_err(built)?,
                )
                .build(),
        );
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Written::Written),
            Err(e) => self.transaction_failed(e),
        }
    }

    async fn finish_deletion(
        &self,
        customer: &str,
        deleting: &Deleting,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let since = keys::key_time(deleting.since);
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut gone: Vec<HashMap<String, Av>> = Vec::new();
        let ids = self.ids(customer).await?;
        for e in self.history(&ids).await? {
            // An entry received after the commit is new data: it stays.
            if e.received > since {
                continue;
            }
            *counts.entry("history".into()).or_default() += 1;
            if let Some(ep) = e.event_pk {
                *counts.entry("events".into()).or_default() += 1;
                gone.push(key(ep, "EVENT"));
            }
            gone.push(key(e.pk, &e.sk));
        }
        // The GoPay link and a revoked profile (a live one kept the customer: never here).
        let gp_items = match ids.get(&Provider::Gopay) {
            Some(id) => {
                self.partition(&keys::customer_pk(Provider::Gopay, id))
                    .await?
            }
            None => Vec::new(),
        };
        for item in gp_items {
            let gp = text(&item, "PK").unwrap_or_default();
            if text(&item, "SK").as_deref() == Some(keys::GOPAY_LINK_SK) {
                if let Some(id) = text(&item, "clientProfileId") {
                    gone.push(key(format!("GOPAY_PROFILE#{id}"), "PROFILE"));
                    *counts.entry("gopayProfile".into()).or_default() += 1;
                }
                gone.push(key(gp.clone(), keys::GOPAY_LINK_SK));
            }
        }
        // The customer level: decision, bank history, aliases (both sides), salt; the
        // lifecycle item last (a crash before it leaves the customer due: resumed).
        let c = keys::customer_area_pk(customer);
        for item in self.partition(&c).await? {
            let sk = text(&item, "SK").unwrap_or_default();
            if sk == keys::LIFECYCLE_SK {
                continue;
            }
            if sk.starts_with(keys::CUSTOMER_ALIAS_PREFIX) {
                if let (Some(p), Some(id)) = (
                    text(&item, "provider").and_then(|p| Provider::parse(&p)),
                    text(&item, "providerId"),
                ) {
                    gone.push(key(keys::alias_pk(p, &id), keys::ALIAS_SK));
                    // The id's own salt, when the id is no customer of the bank's (its area
                    // holds only that salt): it named the id's hours sealed before the alias.
                    let own = keys::customer_area_pk(&id);
                    let area = self.partition(&own).await?;
                    if !area.is_empty()
                        && area
                            .iter()
                            .all(|i| text(i, "SK").as_deref() == Some(SALT_SK))
                    {
                        gone.push(key(own, SALT_SK));
                        *counts.entry("aliasedIdSalt".into()).or_default() += 1;
                    }
                }
            }
            *counts.entry("customerLevel".into()).or_default() += 1;
            gone.push(key(c.clone(), &sk));
        }
        self.delete_all(gone).await?;
        if let Some((objects, _)) = &self.objects {
            let mut versions = 0;
            for o in &deleting.objects {
                versions += objects.delete_every_version(o).await?;
            }
            counts.insert("objectVersions".into(), versions);
        }
        self.delete_all(vec![key(c, keys::LIFECYCLE_SK)]).await?;
        Ok(counts)
    }

    async fn objects_by_provider(
        &self,
        customer: &str,
    ) -> Result<BTreeMap<Provider, u64>, StoreError> {
        let Some((objects, _)) = &self.objects else {
            return Ok(BTreeMap::new());
        };
        let ids = self.ids(customer).await?;
        let history = self.history(&ids).await?;
        let mut out = BTreeMap::new();
        for o in self.objects_of(&ids, &history).await? {
            let n = objects.count_versions(&o).await?;
            if n > 0 {
                *out.entry(o.provider.unwrap_or(Provider::Xpollens))
                    .or_default() += n;
            }
        }
        Ok(out)
    }

    async fn event_ids(&self, customer: &str) -> Result<Vec<(Provider, String)>, StoreError> {
        let ids = self.ids(customer).await?;
        Ok(self
            .history(&ids)
            .await?
            .into_iter()
            .filter_map(|e| {
                let p = keys::provider_of_partition(&e.pk)?;
                Some((p, e.event_id?))
            })
            .collect())
    }

    async fn tombstone(&self, partition: &str) -> Result<Option<StoredTombstone>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(partition.to_string(), keys::TOMBSTONE_SK)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let time = |name: &str| {
            text(item, name)
                .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        #[derive(serde::Deserialize)]
        struct Stored {
            tombstone: Tombstone,
        }
        let stored: Stored = parse(item, "tombstone")?;
        Ok(Some(StoredTombstone {
            tombstone: stored.tombstone,
            completed_at: time("completedAt"),
            announced_at: time("announcedAt"),
            dropped: number(item, "dropped").unwrap_or(0) as u64,
        }))
    }

    async fn write_tombstones(
        &self,
        tombstones: &[Tombstone],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for t in tombstones {
            let mut item = attributes(&serde_json::json!({ "tombstone": t }));
            item.extend(key(t.partition.clone(), keys::TOMBSTONE_SK));
            item.insert("itemType".into(), Av::S("tombstone".into()));
            // What intake's condition reads (`kyc_core::erasure`), and DynamoDB's TTL a week
            // after it (an expired tombstone drops nothing: kept a little for the record).
            item.insert(
                "dropUntil".into(),
                Av::N(t.drop_until.timestamp().to_string()),
            );
            item.insert(
                "expiresAt".into(),
                Av::N(
                    (t.drop_until + chrono::Duration::days(7))
                        .timestamp()
                        .to_string(),
                ),
            );
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                // A live tombstone stays (a resumed erasure); an expired one is replaced.
                .condition_expression("attribute_not_exists(PK) OR dropUntil <= :now")
                .expression_attribute_values(":now", Av::N(now.timestamp().to_string()))
                .send()
                .await;
            if let Err(e) = put {
                let exists = e
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception());
                if !exists {
                    return Err(unavailable(DisplayErrorContext(&e)));
                }
            }
        }
        Ok(())
    }

    async fn lift_tombstones(&self, partitions: &[String]) -> Result<(), StoreError> {
        for p in partitions {
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(p.clone(), keys::TOMBSTONE_SK)))
                // A completed erasure's tombstone is never lifted.
                .condition_expression("attribute_not_exists(completedAt)")
                .send()
                .await;
            if let Err(e) = deleted {
                let completed = e
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception());
                if !completed {
                    return Err(unavailable(DisplayErrorContext(&e)));
                }
            }
        }
        Ok(())
    }

    async fn mark_tombstone(
        &self,
        partition: &str,
        mark: Mark,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let field = match mark {
            Mark::Completed => "completedAt",
            Mark::Announced => "announcedAt",
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(partition.to_string(), keys::TOMBSTONE_SK)))
            .update_expression("SET #f = if_not_exists(#f, :at)")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":at", Av::S(at.to_rfc3339()))
            .send()
            .await
            .map(drop)
            .map_err(|e| unavailable(DisplayErrorContext(&e)))
    }
}
