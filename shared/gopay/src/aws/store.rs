//! DynamoDB adapter of [`GoPayStore`] (same single table) and the S3 adapter of
//! [`TokenRescue`] and [`PdfSink`].
//!
//! | item          | PK                          | SK             | notes |
//! |---------------|-----------------------------|----------------|-------|
//! | consent state | `GOPAY_STATE#sha256:<hex>`  | `GOPAY_STATE`  | customer, `validUntil` (24 h by default), `completion`, sealed declared identity, `usedAt` once taken; TTL `expiresAt` a day later |
//! | profile       | `GOPAY_PROFILE#<id>`        | `PROFILE`      | customer, status, sealed tokens + `tokenGen`, `nextDueAt`, lease, last snapshot, PDF key; `GSI1PK`=`GOPAY_DUE#<shard>`, `GSI1SK`=`<nextDueAt>#<id>` while active |
//! | customer link | `GP#C#<customer>` (escaped) | `LINK#PROFILE` | the customer's GoPay profile id, and `customerId` |
//!
//! The link is in the customer's GoPay partition (`kyc_core::keys`), which only the GoPay roles
//! can write; a link is followed only to a profile whose `customerId` is the link's customer.
//! Profiles and pending consents keep their keys (`docs/table-design.md`: a profile holds a
//! refresh token that rotates on every use, and is never moved).
//!
//! Every state change that matters is a conditional write: taking a state (unused, unexpired),
//! claiming (active, due, lease free/expired/ours), storing a rotated token (`tokenGen` equals
//! the generation refreshed from), finishing a visit (lease still ours), marking a dead token
//! (generation unchanged).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue as Av, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use kyc_core::intake::Provider;
use kyc_core::keys;
use kyc_core::legacy_keys::{self, LegacyKeyLayout};

use crate::consent::{CompletionMode, PendingConsent};
use crate::identification::{ClientProfileId, StatusSnapshot};
use crate::schedule::Lease;
use crate::store::{
    due_shard, ConsentSaved, DeadTokenEvidence, GoPayStore, NewConsent, PdfSink, ProfileRecord,
    ProfileStatus, RawRefreshAnswer, RotationWrite, SealedTokens, TokenRescue, VisitResult,
};
use crate::StateRejection;
use kyc_core::intake::StoreError;

/// The due-time index.
pub const DUE_INDEX: &str = "GSI1";

/// The SDK configuration with explicit timeouts, for every AWS client of the GoPay functions
/// and tools: a whole operation (its retries included) never takes more than `operation`, one
/// attempt never more than `attempt`. The sync's refresh budget and lease are derived from
/// these, so a stuck call cannot outlive a lease or the Lambda deadline unnoticed.
pub fn with_timeouts(
    config: &aws_config::SdkConfig,
    operation: std::time::Duration,
    attempt: std::time::Duration,
) -> aws_config::SdkConfig {
    config
        .to_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(attempt.min(std::time::Duration::from_secs(3)))
                .operation_attempt_timeout(attempt)
                .operation_timeout(operation)
                .build(),
        )
        .build()
}
/// Consent-state items are deleted by TTL this long after they expire (kept for a day of
/// troubleshooting; the expiry itself is checked on `validUntil`).
const STATE_RETENTION: Duration = Duration::days(1);

fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}

fn n(v: impl ToString) -> Av {
    Av::N(v.to_string())
}

/// Fixed-width UTC time: sorts and compares as text (conditions, index sort keys).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(v: Option<&Av>) -> Option<DateTime<Utc>> {
    let text = v?.as_s().ok()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn text(item: &HashMap<String, Av>, key: &str) -> Option<String> {
    item.get(key).and_then(|v| v.as_s().ok()).cloned()
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

/// The outcome of a conditional update: `None` when its condition did not hold.
fn conditional<T, R: std::fmt::Debug>(
    result: Result<T, SdkError<UpdateItemError, R>>,
) -> Result<Option<T>, StoreError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(unavailable(e)),
    }
}

fn state_pk(key: &str) -> String {
    format!("GOPAY_STATE#{key}")
}

fn profile_pk(id: &ClientProfileId) -> String {
    format!("GOPAY_PROFILE#{}", id.as_str())
}

fn link_key(customer: &str) -> HashMap<String, Av> {
    HashMap::from([
        ("PK".into(), s(keys::customer_pk(Provider::Gopay, customer))),
        ("SK".into(), s(keys::GOPAY_LINK_SK)),
    ])
}

/// The link as releases before provider-scoped keys wrote it (read while a table moves).
fn legacy_link_key(customer: &str) -> HashMap<String, Av> {
    HashMap::from([
        ("PK".into(), s(legacy_keys::customer_pk(customer))),
        ("SK".into(), s(legacy_keys::GOPAY_LINK_SK)),
    ])
}

fn profile_key(id: &ClientProfileId) -> HashMap<String, Av> {
    HashMap::from([
        ("PK".into(), s(profile_pk(id))),
        ("SK".into(), s("PROFILE")),
    ])
}

/// The DynamoDB adapter of [`GoPayStore`]: profiles, consent states and the due index.
pub struct DynamoGoPayStore {
    client: Client,
    table: String,
    shards: u32,
    legacy: LegacyKeyLayout,
}

impl DynamoGoPayStore {
    /// A store on `table`, through `client`, with `shards` partitions of the due index.
    pub fn new(client: Client, table: impl Into<String>, shards: u32) -> Self {
        Self {
            client,
            table: table.into(),
            shards: shards.max(1),
            legacy: LegacyKeyLayout::Off,
        }
    }

    /// Also reads the customer link where releases before provider-scoped keys kept it.
    pub fn with_legacy_layout(mut self, legacy: LegacyKeyLayout) -> Self {
        self.legacy = legacy;
        self
    }

    fn due_keys(&self, id: &ClientProfileId, due: DateTime<Utc>) -> (String, String) {
        (
            format!("GOPAY_DUE#{}", due_shard(id, self.shards)),
            format!("{}#{}", ts(due), id.as_str()),
        )
    }

    /// The item of a freshly consented profile (`snapshot`: a state already known, for bulk
    /// imports such as the benchmark's seeding).
    pub fn profile_item(
        &self,
        c: &NewConsent,
        snapshot: Option<&StatusSnapshot>,
    ) -> HashMap<String, Av> {
        let id = &c.client_profile_id;
        let (gsi_pk, gsi_sk) = self.due_keys(id, c.due_at);
        let mut item = profile_key(id);
        item.extend([
            ("itemType".to_string(), s("gopayProfile")),
            ("clientProfileId".to_string(), s(id.as_str())),
            ("customerId".to_string(), s(&c.customer_id)),
            ("status".to_string(), s(ProfileStatus::Active.as_str())),
            ("tokenGen".to_string(), n(c.tokens.generation)),
            ("sealedRefresh".to_string(), s(&c.tokens.sealed_refresh)),
            ("sealedAccess".to_string(), s(&c.tokens.sealed_access)),
            (
                "accessExpiresAt".to_string(),
                s(ts(c.tokens.access_expires_at)),
            ),
            ("nextDueAt".to_string(), s(ts(c.due_at))),
            ("failures".to_string(), n(0)),
            ("consentedAt".to_string(), s(ts(c.now))),
            ("updatedAt".to_string(), s(ts(c.now))),
            ("GSI1PK".to_string(), s(gsi_pk)),
            ("GSI1SK".to_string(), s(gsi_sk)),
        ]);
        if let Some(sealed) = &c.sealed_identity {
            item.insert("sealedDeclaredIdentity".into(), s(sealed));
        }
        if let Some(snapshot) = snapshot {
            item.insert(
                "lastSnapshot".into(),
                s(serde_json::to_string(snapshot).expect("snapshot serializes")),
            );
        }
        item
    }

    /// The table's client (bulk tools).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Takes `lease` on the profile if `condition` holds; the profile as it now is.
    /// `with_status` binds `#status`, `:active` and `:true` for conditions that use them.
    async fn lease_if(
        &self,
        id: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
        condition: &str,
        with_status: bool,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET leaseOwner = :owner, leaseUntil = :until")
            .condition_expression(condition)
            .expression_attribute_values(":now", s(ts(now)))
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":until", s(ts(lease.expires_at)))
            .return_values(ReturnValue::AllNew);
        if with_status {
            update = update
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":active", s(ProfileStatus::Active.as_str()))
                .expression_attribute_values(":true", Av::Bool(true));
        }
        conditional(update.send().await)?
            .map(|out| Self::parse_profile(&out.attributes.unwrap_or_default()))
            .transpose()
    }

    fn parse_profile(item: &HashMap<String, Av>) -> Result<ProfileRecord, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("gopay profile: {what}"));
        let id = text(item, "clientProfileId").ok_or_else(|| corrupt("clientProfileId"))?;
        let lease = match (text(item, "leaseOwner"), parse_ts(item.get("leaseUntil"))) {
            (Some(owner), Some(expires_at)) => Some(Lease { owner, expires_at }),
            _ => None,
        };
        let last_snapshot = match text(item, "lastSnapshot") {
            Some(j) => Some(
                serde_json::from_str::<StatusSnapshot>(&j).map_err(|_| corrupt("lastSnapshot"))?,
            ),
            None => None,
        };
        Ok(ProfileRecord {
            client_profile_id: ClientProfileId::new(id).map_err(|_| corrupt("clientProfileId"))?,
            customer_id: text(item, "customerId").ok_or_else(|| corrupt("customerId"))?,
            status: text(item, "status")
                .and_then(|s| ProfileStatus::parse(&s))
                .ok_or_else(|| corrupt("status"))?,
            token_gen: item
                .get("tokenGen")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| corrupt("tokenGen"))?,
            sealed_refresh: text(item, "sealedRefresh"),
            sealed_access: text(item, "sealedAccess"),
            access_expires_at: parse_ts(item.get("accessExpiresAt")),
            next_due_at: parse_ts(item.get("nextDueAt")),
            consecutive_failures: item
                .get("failures")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            last_snapshot,
            pdf_key: text(item, "pdfKey"),
            lease,
            updated_at: parse_ts(item.get("updatedAt")),
            event_pending: item
                .get("eventPending")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            missing_polls: item
                .get("missingPolls")
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            sealed_identity: text(item, "sealedDeclaredIdentity"),
            dead_token_evidence: match text(item, "deadTokenEvidence") {
                Some(j) => Some(
                    serde_json::from_str::<DeadTokenEvidence>(&j)
                        .map_err(|_| corrupt("deadTokenEvidence"))?,
                ),
                None => None,
            },
        })
    }

    async fn get(
        &self,
        key: HashMap<String, Av>,
    ) -> Result<Option<HashMap<String, Av>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}

#[async_trait]
impl GoPayStore for DynamoGoPayStore {
    async fn put_consent_state(&self, p: &PendingConsent) -> Result<(), StoreError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("PK", s(state_pk(&p.state_key)))
            .item("SK", s("GOPAY_STATE"))
            .item("itemType", s("gopayConsentState"))
            .item("customerId", s(&p.customer_id))
            .item("createdAt", s(ts(p.created_at)))
            .item("validUntil", s(ts(p.expires_at)))
            .item("completion", s(p.completion.as_str()))
            .item("expiresAt", n((p.expires_at + STATE_RETENTION).timestamp()));
        if let Some(sealed) = &p.sealed_identity {
            put = put.item("sealedDeclaredIdentity", s(sealed));
        }
        // 256 random bits: a collision means a bug, never overwrite.
        put.condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_consent_state(
        &self,
        state_key: &str,
        now: DateTime<Utc>,
    ) -> Result<Result<PendingConsent, StateRejection>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(state_pk(state_key)))
            .key("SK", s("GOPAY_STATE"))
            .update_expression("SET usedAt = :now")
            .condition_expression(
                "attribute_exists(PK) AND attribute_not_exists(usedAt) AND validUntil > :now",
            )
            .expression_attribute_values(":now", s(ts(now)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.unwrap_or_default();
                let created_at = parse_ts(item.get("createdAt")).unwrap_or(now);
                Ok(Ok(PendingConsent {
                    state_key: state_key.to_string(),
                    customer_id: text(&item, "customerId")
                        .ok_or_else(|| StoreError::Corrupt("consent state: customerId".into()))?,
                    created_at,
                    expires_at: parse_ts(item.get("validUntil")).unwrap_or(now),
                    used_at: Some(now),
                    // States stored before the completion modes existed: the direct callback.
                    completion: match text(&item, "completion") {
                        None => CompletionMode::DirectCallback,
                        Some(m) => CompletionMode::parse(&m).ok_or_else(|| {
                            StoreError::Corrupt("consent state: completion".into())
                        })?,
                    },
                    sealed_identity: text(&item, "sealedDeclaredIdentity"),
                }))
            }
            Err(e) => match e.as_service_error() {
                Some(se) if se.is_conditional_check_failed_exception() => {
                    let old = match se {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                        _ => None,
                    };
                    Ok(Err(match old {
                        None => StateRejection::Unknown,
                        Some(item) if item.contains_key("usedAt") => StateRejection::AlreadyUsed,
                        // Moto returns no old item on some versions: an existing PK with the
                        // condition failing is used or expired; expired is the only other case.
                        Some(_) => StateRejection::Expired,
                    }))
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn save_consent(&self, c: &NewConsent) -> Result<ConsentSaved, StoreError> {
        let id = &c.client_profile_id;
        let item = self.profile_item(c, None);
        // Compare-and-swap on the generation, like a rotation: a first consent only creates,
        // a re-consent replaces exactly the generation it read.
        let put_profile = match c.expected_generation {
            None => Put::builder().condition_expression("attribute_not_exists(PK)"),
            Some(g) => Put::builder()
                .condition_expression("customerId = :c AND tokenGen = :g")
                .expression_attribute_values(":c", s(&c.customer_id))
                .expression_attribute_values(":g", n(g)),
        }
        .table_name(&self.table)
        .set_item(Some(item))
        .build()
        .expect("table and item set");
        let mut link = link_key(&c.customer_id);
        link.extend([
            ("itemType".to_string(), s("gopayLink")),
            ("customerId".to_string(), s(&c.customer_id)),
            ("clientProfileId".to_string(), s(id.as_str())),
            ("updatedAt".to_string(), s(ts(c.now))),
        ]);
        let put_link = Put::builder()
            .table_name(&self.table)
            .set_item(Some(link))
            .build()
            .expect("table and item set");
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_profile).build())
            .transact_items(TransactWriteItem::builder().put(put_link).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(ConsentSaved::Stored),
            Err(e) => {
                let first_failed = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
                            Some(t.cancellation_reasons().first().and_then(|r| r.code()) == Some("ConditionalCheckFailed"))
                        }
                        _ => None,
                    })
                    .unwrap_or(false);
                if first_failed {
                    let linked_elsewhere = self
                        .profile(id)
                        .await?
                        .is_some_and(|p| p.customer_id != c.customer_id);
                    Ok(if linked_elsewhere {
                        ConsentSaved::LinkedToOtherCustomer
                    } else {
                        ConsentSaved::GenerationMoved
                    })
                } else {
                    Err(unavailable(e))
                }
            }
        }
    }

    async fn due_profiles(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClientProfileId>, StoreError> {
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("GSI1PK = :pk AND GSI1SK <= :upper")
            .expression_attribute_values(":pk", s(format!("GOPAY_DUE#{shard}")))
            // '~' sorts after every id character: everything due at or before `now`.
            .expression_attribute_values(":upper", s(format!("{}#~", ts(now))))
            .projection_expression("GSI1SK")
            .into_paginator()
            .page_size(limit.clamp(1, 1000) as i32)
            .items()
            .send();
        let mut ids = Vec::new();
        // Stop reading pages once `limit` ids are in hand.
        while ids.len() < limit {
            let Some(item) = items.next().await else {
                break;
            };
            if let Some(id) = text(&item.map_err(unavailable)?, "GSI1SK")
                .and_then(|sk| sk.split_once('#').map(|(_, id)| id.to_string()))
                .and_then(|id| ClientProfileId::new(id).ok())
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    async fn claim(
        &self,
        id: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        // Due, in service (or owing an event), and not leased by another run.
        self.lease_if(
            id,
            lease,
            now,
            "(#status = :active OR eventPending = :true) AND nextDueAt <= :now AND \
             (attribute_not_exists(leaseUntil) OR leaseUntil <= :now OR leaseOwner = :owner)",
            true,
        )
        .await
    }

    async fn store_rotation(&self, t: &SealedTokens) -> Result<RotationWrite, StoreError> {
        let id = ClientProfileId::new(t.client_profile_id.clone())
            .map_err(|_| StoreError::Corrupt("rotation: clientProfileId".into()))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(&id)))
            .update_expression(
                "SET sealedRefresh = :r, sealedAccess = :a, accessExpiresAt = :x, \
                 tokenGen = :new, updatedAt = :now REMOVE deadTokenEvidence",
            )
            .condition_expression("tokenGen = :prev")
            .expression_attribute_values(":r", s(&t.sealed_refresh))
            .expression_attribute_values(":a", s(&t.sealed_access))
            .expression_attribute_values(":x", s(ts(t.access_expires_at)))
            .expression_attribute_values(":new", n(t.generation))
            .expression_attribute_values(":prev", n(t.generation.saturating_sub(1)))
            .expression_attribute_values(":now", s(ts(Utc::now())))
            .send()
            .await;
        Ok(match conditional(result)? {
            Some(_) => RotationWrite::Stored,
            None => RotationWrite::GenerationMoved,
        })
    }

    async fn finish_visit(
        &self,
        id: &ClientProfileId,
        owner: &str,
        r: &VisitResult,
    ) -> Result<bool, StoreError> {
        let (gsi_pk, gsi_sk) = self.due_keys(id, r.next_due_at);
        let mut set = vec![
            "nextDueAt = :due",
            "GSI1PK = :gpk",
            "GSI1SK = :gsk",
            "failures = :f",
            "missingPolls = :mp",
            "updatedAt = :now",
        ];
        let mut remove = vec!["leaseOwner", "leaseUntil"];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .condition_expression("leaseOwner = :owner AND #status = :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":active", s(ProfileStatus::Active.as_str()))
            .expression_attribute_values(":due", s(ts(r.next_due_at)))
            .expression_attribute_values(":gpk", s(gsi_pk))
            .expression_attribute_values(":gsk", s(gsi_sk))
            .expression_attribute_values(":f", n(r.consecutive_failures))
            .expression_attribute_values(":mp", n(r.missing_polls))
            .expression_attribute_values(":now", s(ts(r.now)));
        if let Some(snapshot) = &r.snapshot {
            set.push("lastSnapshot = :snap");
            req = req.expression_attribute_values(
                ":snap",
                s(serde_json::to_string(snapshot).expect("snapshot serializes")),
            );
        }
        if let Some(key) = &r.pdf_key {
            set.push("pdfKey = :pdf");
            req = req.expression_attribute_values(":pdf", s(key));
        }
        if r.drop_access {
            remove.extend(["sealedAccess", "accessExpiresAt"]);
        }
        let expression = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
        Ok(conditional(req.update_expression(expression).send().await)?.is_some())
    }

    async fn mark_needs_consent(
        &self,
        id: &ClientProfileId,
        generation: u64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // The (dead) sealed refresh token is kept: if the classification was ever wrong, an
        // operator can still try it (`kyc gopay reactivate`). The profile stays in the index,
        // due now, with `eventPending` until its NEEDS_CONSENT event is recorded.
        let (gsi_pk, gsi_sk) = self.due_keys(id, now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression(
                "SET #status = :needs, needsConsentAt = :now, updatedAt = :now, \
                 eventPending = :true, nextDueAt = :now, GSI1PK = :gpk, GSI1SK = :gsk \
                 REMOVE sealedAccess, accessExpiresAt, leaseOwner, leaseUntil",
            )
            .condition_expression("tokenGen = :g")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":needs", s(ProfileStatus::NeedsConsent.as_str()))
            .expression_attribute_values(":now", s(ts(now)))
            .expression_attribute_values(":g", n(generation))
            .expression_attribute_values(":true", Av::Bool(true))
            .expression_attribute_values(":gpk", s(gsi_pk))
            .expression_attribute_values(":gsk", s(gsi_sk))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn mark_unknown_at_gopay(
        &self,
        id: &ClientProfileId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (gsi_pk, gsi_sk) = self.due_keys(id, now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression(
                "SET #status = :unknown, unknownAtGoPayAt = :now, updatedAt = :now, \
                 eventPending = :true, nextDueAt = :now, GSI1PK = :gpk, GSI1SK = :gsk \
                 REMOVE leaseOwner, leaseUntil",
            )
            .condition_expression("#status = :active AND leaseOwner = :owner")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":unknown", s(ProfileStatus::UnknownAtGoPay.as_str()))
            .expression_attribute_values(":active", s(ProfileStatus::Active.as_str()))
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":now", s(ts(now)))
            .expression_attribute_values(":true", Av::Bool(true))
            .expression_attribute_values(":gpk", s(gsi_pk))
            .expression_attribute_values(":gsk", s(gsi_sk))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn event_recorded(
        &self,
        id: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression(
                "SET updatedAt = :now REMOVE eventPending, GSI1PK, GSI1SK, nextDueAt, leaseOwner, leaseUntil",
            )
            .condition_expression("attribute_exists(PK) AND #status <> :active")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(ProfileStatus::Active.as_str()))
            .expression_attribute_values(":now", s(ts(now)))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }

    async fn record_dead_token_evidence(
        &self,
        id: &ClientProfileId,
        evidence: &DeadTokenEvidence,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("SET deadTokenEvidence = :e, updatedAt = :now")
            .condition_expression("#status = :active AND tokenGen = :g")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(ProfileStatus::Active.as_str()))
            .expression_attribute_values(":g", n(evidence.generation))
            .expression_attribute_values(
                ":e",
                s(serde_json::to_string(evidence).expect("evidence serializes")),
            )
            .expression_attribute_values(":now", s(ts(now)))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn reactivate(
        &self,
        id: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (gsi_pk, gsi_sk) = self.due_keys(id, now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression(
                "SET #status = :active, nextDueAt = :now, GSI1PK = :gpk, GSI1SK = :gsk, \
                 failures = :zero, reactivatedAt = :now, updatedAt = :now \
                 REMOVE eventPending, needsConsentAt, unknownAtGoPayAt, leaseOwner, leaseUntil, \
                 deadTokenEvidence",
            )
            .condition_expression(
                "(#status = :needs OR #status = :unknown) AND attribute_exists(sealedRefresh)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":active", s(ProfileStatus::Active.as_str()))
            .expression_attribute_values(":needs", s(ProfileStatus::NeedsConsent.as_str()))
            .expression_attribute_values(":unknown", s(ProfileStatus::UnknownAtGoPay.as_str()))
            .expression_attribute_values(":now", s(ts(now)))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":gpk", s(gsi_pk))
            .expression_attribute_values(":gsk", s(gsi_sk))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn take_lease(
        &self,
        id: &ClientProfileId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        // Whatever its status (operator tools), if no other run holds it.
        self.lease_if(
            id,
            lease,
            now,
            "attribute_exists(PK) AND \
             (attribute_not_exists(leaseUntil) OR leaseUntil <= :now OR leaseOwner = :owner)",
            false,
        )
        .await
    }

    async fn release_lease(&self, id: &ClientProfileId, owner: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression("REMOVE leaseOwner, leaseUntil")
            .condition_expression("leaseOwner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        conditional(result)?;
        Ok(())
    }

    async fn mark_revoked(
        &self,
        id: &ClientProfileId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The generation moves on so a rotation in flight can never write tokens back.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(profile_key(id)))
            .update_expression(
                "SET #status = :revoked, revokedAt = :now, updatedAt = :now, tokenGen = tokenGen + :one \
                 REMOVE GSI1PK, GSI1SK, sealedRefresh, sealedAccess, accessExpiresAt, leaseOwner, leaseUntil, eventPending",
            )
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":revoked", s(ProfileStatus::Revoked.as_str()))
            .expression_attribute_values(":now", s(ts(now)))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn profile(&self, id: &ClientProfileId) -> Result<Option<ProfileRecord>, StoreError> {
        match self.get(profile_key(id)).await? {
            Some(item) => Ok(Some(Self::parse_profile(&item)?)),
            None => Ok(None),
        }
    }

    async fn profile_of_customer(
        &self,
        customer_id: &str,
    ) -> Result<Option<ProfileRecord>, StoreError> {
        let mut link = self.get(link_key(customer_id)).await?;
        if link.is_none() && self.legacy.reads_legacy() {
            link = self.get(legacy_link_key(customer_id)).await?;
        }
        let Some(link) = link else {
            return Ok(None);
        };
        let id = text(&link, "clientProfileId")
            .and_then(|id| ClientProfileId::new(id).ok())
            .ok_or_else(|| StoreError::Corrupt("gopay link: clientProfileId".into()))?;
        let profile = self.profile(&id).await?;
        Ok(crate::store::owned_by(profile, customer_id))
    }
}

/// S3: the rescue place for rotated tokens and the identification PDFs, both encrypted at rest
/// by the bucket's default (SSE-KMS under `DataKmsKeyArn`, else SSE-S3: no encryption header is
/// sent, one would override it); the rescue objects are sealed with the payload key as well.
pub struct S3Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// Prefix of rescued-token objects.
pub const RESCUE_PREFIX: &str = "gopay/token-rescue/";
/// Prefix of raw token answers kept until their tokens are stored.
pub const RAW_RESCUE_PREFIX: &str = "gopay/token-answer-rescue/";

impl S3Objects {
    /// Objects in `bucket`, through `client`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// An S3 client for the configuration (path-style when an endpoint override is set, as
    /// local emulators need).
    pub fn client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        let builder = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some());
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    fn rescue_key(t: &SealedTokens) -> String {
        format!(
            "{RESCUE_PREFIX}{}/{:020}.json",
            t.client_profile_id, t.generation
        )
    }

    fn raw_key(r: &RawRefreshAnswer) -> String {
        format!(
            "{RAW_RESCUE_PREFIX}{}/{:020}.json",
            r.client_profile_id, r.generation
        )
    }

    /// Every object under `prefix`, read as JSON `T` (unreadable ones are left, logged).
    async fn list_json<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, StoreError> {
        let err = |e: String| StoreError::Unavailable(e);
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err(DisplayErrorContext(e).to_string()))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                let body = self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| err(DisplayErrorContext(e).to_string()))?
                    .body
                    .collect()
                    .await
                    .map_err(|e| err(e.to_string()))?
                    .into_bytes();
                match serde_json::from_slice::<T>(&body) {
                    Ok(t) => out.push(t),
                    Err(_) => {
                        tracing::error!(key, "gopay: unreadable rescue object left for an operator")
                    }
                }
            }
        }
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl TokenRescue for S3Objects {
    async fn save(&self, t: &SealedTokens) -> Result<(), StoreError> {
        let body = serde_json::to_vec(t).expect("sealed tokens serialize");
        self.put(&Self::rescue_key(t), body, "application/json")
            .await
    }

    async fn list(&self) -> Result<Vec<SealedTokens>, StoreError> {
        let mut out: Vec<SealedTokens> = self.list_json(RESCUE_PREFIX).await?;
        // Oldest generation first, so a chain of rescues applies in order.
        out.sort_by_key(|t| t.generation);
        Ok(out)
    }

    async fn remove(&self, t: &SealedTokens) -> Result<(), StoreError> {
        self.delete(&Self::rescue_key(t)).await
    }

    async fn save_raw(&self, r: &RawRefreshAnswer) -> Result<(), StoreError> {
        let body = serde_json::to_vec(r).expect("raw answer serializes");
        self.put(&Self::raw_key(r), body, "application/json").await
    }

    async fn list_raw(&self) -> Result<Vec<RawRefreshAnswer>, StoreError> {
        let mut out: Vec<RawRefreshAnswer> = self.list_json(RAW_RESCUE_PREFIX).await?;
        out.sort_by_key(|t| t.generation);
        Ok(out)
    }

    async fn remove_raw(&self, r: &RawRefreshAnswer) -> Result<(), StoreError> {
        self.delete(&Self::raw_key(r)).await
    }
}

#[async_trait]
impl PdfSink for S3Objects {
    async fn put_pdf(&self, key: &str, pdf: &[u8]) -> Result<(), StoreError> {
        self.put(key, pdf.to_vec(), "application/pdf").await
    }
}
