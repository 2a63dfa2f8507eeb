//! DynamoDB single-table adapter of [`EventStore`]. Keys come from `kyc_core::keys` (the design
//! record is `docs/table-design.md`): everything an event writes is in its provider's own area.
//!
//! | item       | PK                    | SK                    | TTL |
//! |------------|-----------------------|-----------------------|-----|
//! | event      | `<P>#E#<eventId>`     | `EVENT`               | no  |
//! | history    | `<P>#C#<customer>`    | `HIST#<receivedAt>#<eventId>` | no  |
//! | state      | `<P>#C#<customer>`    | `STATE`               | no  |
//! | unassigned | `<P>#U#<day>`         | `HIST#...`            | no  |
//! | rejection  | `<P>#R#<day>`         | `<receivedAt>#<sha256>` | `expiresAt` |
//!
//! With `LegacyKeyLayout::Read` (while a deployed table moves to this layout) it also reads the
//! layout of earlier releases: a redelivered event is checked against its old key in the same
//! transaction, a customer's old state seeds the new item the first time it is touched, and
//! reads merge old and new.
//!
//! An event's sealed raw body larger than [`INLINE_BODY_LIMIT`] is put in the body store (S3)
//! first, and the event item keeps its location (`bodyRef`): no item nears DynamoDB's 400 KB
//! limit whatever the provider sends. A write DynamoDB refuses for good (validation error) is
//! `StoreError::Refused`, never retried as if the store were down.
//!
//! A new event is ONE `TransactWriteItems`: put the event (condition: id unseen), put the
//! history entry (condition: new), update the state stream (condition: `ord` greater — see
//! `kyc_core::kyc_state`). A duplicate fails the first condition: one call, nothing changed.
//! Only an event the rules do not apply costs a second transaction, recording it with the
//! reason. A stream that merges (same-second ties, keyed items: `kyc_state::resolve`) takes the
//! state item the cancelled transaction hands back, merges, and writes over exactly that
//! version (`#ver = :ver`): a compare-and-swap, no extra read.

use super::attribute::{attribute_of, from_attribute, to_attribute};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue as Av, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::types::{ConditionCheck, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use kyc_core::intake::{
    body_object_key_of, history_entry, sha256_hex, unassigned_partition, BodyStore, EventRecord,
    EventStore, HistoryEntry, Outcome, Provider, Rejection, StoreError, WritePlan,
};
use kyc_core::keys;
use kyc_core::kyc_state::{blind_write_floor, resolve, ProviderState, Stream, StreamValue};
use kyc_core::legacy_keys::{self, LegacyKeyLayout};
use rand::Rng as _;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The DynamoDB adapter of the event store: events, states and history in the single table.
pub struct DynamoStore {
    client: Client,
    table: String,
    bodies: Option<Arc<dyn BodyStore>>,
    inline_body_limit: usize,
    legacy: LegacyKeyLayout,
}

/// With a body store, sealed bodies up to this size stay in the event item and larger ones go
/// to the body store: with the summary bounded (see `kyc_xpollens::plan`) an event item stays far
/// below 400 KB.
pub const INLINE_BODY_LIMIT: usize = 64 * 1024;
/// Without a body store (functions whose bodies are small: GoPay answers, Trust & Sign object
/// descriptors), bodies up to this size stay inline, as before body stores existed; a larger
/// one is refused rather than failing on DynamoDB's limit every retry.
pub const INLINE_BODY_LIMIT_WITHOUT_STORE: usize = 350 * 1024;

const CONFLICT_RETRIES: u32 = 6;
/// Merged writes that may lose their compare-and-swap in a row. Each loss means another
/// writer of the same customer succeeded (progress), so with N concurrent callbacks of one
/// customer a writer loses at most N - 1 times; a burst of tens is tolerated, jittered.
const MERGE_RETRIES: u32 = 32;

fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}

/// Every item of partition `pk` whose sort key starts with `sk_prefix` (all of them without
/// one), read consistently, page after page.
pub async fn partition_items(
    client: &Client,
    table: &str,
    pk: &str,
    sk_prefix: Option<&str>,
) -> Result<Vec<HashMap<String, Av>>, StoreError> {
    let q = client
        .query()
        .table_name(table)
        .expression_attribute_values(":pk", s(pk))
        .consistent_read(true);
    let q = match sk_prefix {
        Some(prefix) => q
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":p", s(prefix)),
        None => q.key_condition_expression("PK = :pk"),
    };
    q.into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| unavailable(DisplayErrorContext(&e)))
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// How one attempt writes the state stream.
enum StateWrite {
    /// The event's own value, over a current value below `kyc_state::blind_write_floor` (no
    /// read; for most events the only attempt).
    Blind,
    /// A value merged with the current one, over exactly that item version.
    Merged {
        value: Box<StreamValue>,
        /// The item's `version` when it was read (absent on an item no event wrote).
        version: Option<String>,
        /// Sealed texts the merge kept from the current value, by name.
        kept_sealed: Vec<(String, String)>,
    },
}

/// Where, in one transaction's items, the legacy event check and the state update are.
#[derive(Clone, Copy, Default)]
struct ItemsAt {
    legacy_event: Option<usize>,
    state: Option<usize>,
    tombstone: Option<usize>,
}

/// Why a transaction was cancelled, read from its cancellation reasons.
enum Cancelled {
    /// The subject's erasure tombstone drops the event.
    Erased,
    /// The event id was already recorded; its stored body hash.
    Duplicate(Option<String>),
    /// The state condition failed; the stored state item.
    StateNotNewer(HashMap<String, Av>),
    /// Lost a race with a concurrent transaction on the same items: retry.
    Conflict,
}

impl DynamoStore {
    /// The condition that `guard` (an erasure tombstone, `kyc_core::erasure`) does not drop an
    /// event received at `at`: absent, or its `dropUntil` (epoch seconds) passed.
    fn tombstone_absent(
        &self,
        guard: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> TransactWriteItem {
        TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .key("PK", s(guard))
                    .key("SK", s(keys::TOMBSTONE_SK))
                    .condition_expression("attribute_not_exists(PK) OR dropUntil <= :at")
                    .expression_attribute_values(":at", Av::N(at.timestamp().to_string()))
                    .build()
                    .expect("table, key and condition are set"),
            )
            .build()
    }

    /// Counts a dropped event on its tombstone (all that is recorded of it). Best effort: the
    /// drop stands whether the count is written or not.
    async fn count_dropped(&self, guard: &str, e: &EventRecord) {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(guard))
            .key("SK", s(keys::TOMBSTONE_SK))
            .update_expression("ADD dropped :one SET lastDroppedAt = :at")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":one", Av::N("1".into()))
            .expression_attribute_values(":at", s(e.received_at.to_rfc3339()))
            .send()
            .await;
        if let Err(err) = counted {
            tracing::warn!(error = %DisplayErrorContext(&err), provider = e.provider.as_str(), "dropped event of an erased subject not counted");
        }
    }

    /// A store on `table`, with a client of the given AWS configuration.
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), table)
    }

    /// A store on `table`, through an existing client.
    pub fn from_client(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            bodies: None,
            inline_body_limit: INLINE_BODY_LIMIT_WITHOUT_STORE,
            legacy: LegacyKeyLayout::Off,
        }
    }

    /// Also reads the key layout of earlier releases (see the module docs).
    pub fn with_legacy_layout(mut self, legacy: LegacyKeyLayout) -> Self {
        self.legacy = legacy;
        self
    }

    /// Changes [`INLINE_BODY_LIMIT`] (tests of DynamoDB's own item limit).
    pub fn with_inline_body_limit(mut self, bytes: usize) -> Self {
        self.inline_body_limit = bytes;
        self
    }

    /// Where large sealed bodies go. Without one, an event whose body is too large to keep
    /// inline is refused (`StoreError::Refused`).
    pub fn with_body_store(mut self, bodies: Arc<dyn BodyStore>) -> Self {
        self.bodies = Some(bodies);
        self.inline_body_limit = INLINE_BODY_LIMIT;
        self
    }

    /// Puts a large sealed body in the body store; `None` when it stays inline.
    async fn offload_body(&self, e: &EventRecord) -> Result<Option<String>, StoreError> {
        if e.sealed_body.len() <= self.inline_body_limit {
            return Ok(None);
        }
        let Some(bodies) = &self.bodies else {
            return Err(StoreError::Refused(format!(
                "sealed body of {} bytes and no body store configured",
                e.sealed_body.len()
            )));
        };
        // One digest of the sealed text: the object key's, and SigV4's payload hash.
        let digest = sha256_hex(e.sealed_body.as_bytes());
        bodies
            .put_digested(&body_object_key_of(e, &digest), &e.sealed_body, &digest)
            .await
            .map(Some)
    }

    /// Empties a large body stored for an event that was then dropped (see `BodyStore::retract`).
    async fn retract_body(&self, e: &EventRecord) {
        let Some(bodies) = &self.bodies else { return };
        let key = body_object_key_of(e, &sha256_hex(e.sealed_body.as_bytes()));
        if let Err(err) = bodies.retract(&key).await {
            tracing::error!(error = %err,
                "ALERT: the body of an erased subject's dropped event was not emptied");
        }
    }

    fn put_event(
        &self,
        e: &EventRecord,
        outcome: &Outcome,
        body_ref: Option<&str>,
    ) -> TransactWriteItem {
        let mut item = HashMap::from([
            ("PK".to_string(), s(keys::event_pk(e.provider, &e.event_id))),
            ("SK".to_string(), s(keys::EVENT_SK)),
            ("itemType".to_string(), s("event")),
            ("provider".to_string(), s(e.provider.as_str())),
            ("eventId".to_string(), s(&e.event_id)),
            ("eventType".to_string(), s(&e.event_type)),
            ("receivedAt".to_string(), s(e.received_at.to_rfc3339())),
            ("bodySha256".to_string(), s(&e.body_sha256)),
            ("summary".to_string(), to_attribute(&e.summary)),
            ("outcome".to_string(), s(outcome.history_note())),
        ]);
        match body_ref {
            Some(location) => item.insert("bodyRef".into(), s(location)),
            None => item.insert("sealedBody".into(), s(&e.sealed_body)),
        };
        if let Some(subject) = &e.subject {
            item.insert("subject".into(), s(subject));
        }
        if let Some(t) = e.provider_time {
            item.insert("providerTime".into(), s(t.to_rfc3339()));
        }
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, item set");
        TransactWriteItem::builder().put(put).build()
    }

    fn put_history(&self, e: &EventRecord, outcome: &Outcome) -> TransactWriteItem {
        let h = history_entry(e, outcome);
        let pk = e
            .subject
            .as_deref()
            .map(|c| keys::customer_pk(e.provider, c))
            .unwrap_or_else(|| unassigned_partition(e));
        let sk = e.history_sort_key();
        let mut item = match attribute_of(&h) {
            Av::M(m) => m,
            _ => unreachable!("a struct serialises to an object"),
        };
        let (hour_pk, hour_sk) = keys::hour_index_keys(&pk, &sk, e.received_at);
        item.insert("GSI1PK".into(), s(hour_pk));
        item.insert("GSI1SK".into(), s(hour_sk));
        if let Some(subject) = &e.subject {
            item.insert("customerId".into(), s(subject));
        }
        item.insert("PK".into(), s(pk));
        item.insert("SK".into(), s(sk));
        item.insert("itemType".into(), s("history"));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .expect("table, item set");
        TransactWriteItem::builder().put(put).build()
    }

    fn update_state(
        &self,
        subject: &str,
        provider: Provider,
        plan: &WritePlan,
        write: &StateWrite,
    ) -> Option<TransactWriteItem> {
        let patch = plan.patch.as_ref()?;
        let mut update = Update::builder();
        let value = match write {
            StateWrite::Blind => {
                update = update
                    .condition_expression("attribute_not_exists(#s) OR #s.#ord < :ord")
                    .expression_attribute_names("#ord", "ord")
                    .expression_attribute_values(
                        ":ord",
                        Av::N(blind_write_floor(&patch.value).to_string()),
                    );
                &patch.value
            }
            StateWrite::Merged {
                value,
                version,
                kept_sealed,
            } => {
                // Compare-and-swap: the item is still the version merged from, and a sealed
                // text the merge kept was not re-sealed meanwhile (a reseal bumps no version).
                let mut condition = match version {
                    Some(v) => {
                        update = update.expression_attribute_values(":ver", Av::N(v.clone()));
                        "#ver = :ver".to_string()
                    }
                    None => "attribute_not_exists(#ver)".to_string(),
                };
                if !kept_sealed.is_empty() {
                    update = update.expression_attribute_names("#sealed", "sealed");
                }
                for (i, (name, text)) in kept_sealed.iter().enumerate() {
                    condition.push_str(&format!(" AND #s.#sealed.#f{i} = :f{i}"));
                    update = update
                        .expression_attribute_names(format!("#f{i}"), name)
                        .expression_attribute_values(format!(":f{i}"), s(text));
                }
                update = update.condition_expression(condition);
                value.as_ref()
            }
        };
        let update = update
            .table_name(&self.table)
            .key("PK", s(keys::customer_pk(provider, subject)))
            .key("SK", s(keys::STATE_SK))
            .update_expression(
                "SET #s = :v, #t = :type, #u = :now, #last = :id, #c = :c ADD #ver :one",
            )
            .expression_attribute_names("#s", patch.stream.attribute())
            .expression_attribute_names("#t", "itemType")
            .expression_attribute_names("#u", "updatedAt")
            .expression_attribute_names("#last", "lastEventId")
            .expression_attribute_names("#ver", "version")
            .expression_attribute_names("#c", "customerId")
            .expression_attribute_values(":c", s(subject))
            .expression_attribute_values(":v", attribute_of(value))
            .expression_attribute_values(":type", s("state"))
            .expression_attribute_values(":now", s(plan.event.received_at.to_rfc3339()))
            .expression_attribute_values(":id", s(&plan.event.event_id))
            .expression_attribute_values(":one", Av::N("1".into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, key, expression set");
        Some(TransactWriteItem::builder().update(update).build())
    }

    /// Runs one transaction; `plan` says where its event (index 0), legacy event check and
    /// state update are, to read the cancellation reasons.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        plan: ItemsAt,
    ) -> Result<Option<Cancelled>, StoreError> {
        // Boxed: the SDK's future is large, and every future awaiting it up to the runtime
        // would hold (and move) a copy of it — a measurable part of a callback's CPU.
        let send = Box::pin(
            self.client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send(),
        );
        let err = match send.await {
            Ok(_) => return Ok(None),
            Err(e) => e,
        };
        if err.code() == Some("ValidationException")
            && err.message().is_some_and(|m| m.contains("Item size"))
        {
            // The item is too large: the same write fails every time. Any other validation
            // error (an expression bug after a deploy) stays transient: it is retried, and
            // fixed by a deploy, not turned into a rejection.
            return Err(StoreError::Refused(
                err.message().unwrap_or("ValidationException").to_string(),
            ));
        }
        let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
            err.as_service_error()
        else {
            if err
                .as_service_error()
                .is_some_and(|e| e.is_transaction_in_progress_exception())
            {
                return Ok(Some(Cancelled::Conflict));
            }
            return Err(unavailable(DisplayErrorContext(&err)));
        };
        let reasons = tc.cancellation_reasons();
        let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
        if plan
            .tombstone
            .is_some_and(|i| code(i) == "ConditionalCheckFailed")
        {
            return Ok(Some(Cancelled::Erased));
        }
        // The event's own key, or its key in the old layout: already recorded.
        for i in std::iter::once(0).chain(plan.legacy_event) {
            if code(i) == "ConditionalCheckFailed" {
                let hash = reasons[i]
                    .item()
                    .and_then(|i| i.get("bodySha256"))
                    .and_then(|v| v.as_s().ok())
                    .cloned();
                return Ok(Some(Cancelled::Duplicate(hash)));
            }
        }
        if let Some(i) = plan.state.filter(|i| code(*i) == "ConditionalCheckFailed") {
            return Ok(Some(Cancelled::StateNotNewer(
                reasons[i].item().cloned().unwrap_or_default(),
            )));
        }
        if reasons
            .iter()
            .any(|r| r.code() == Some("TransactionConflict"))
        {
            return Ok(Some(Cancelled::Conflict));
        }
        let codes: Vec<&str> = (0..reasons.len()).map(code).collect();
        Err(unavailable(format!("transaction cancelled: {codes:?}")))
    }

    /// Every map attribute holding an `ord` is a stream (see `kyc_core::kyc_state::Stream`).
    pub fn parse_state(item: &HashMap<String, Av>) -> Result<ProviderState, StoreError> {
        let mut state = ProviderState {
            version: item
                .get("version")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            ..ProviderState::default()
        };
        for (name, v) in item {
            let Av::M(m) = v else { continue };
            if !m.contains_key("ord") {
                continue;
            }
            let stream = Stream::named(name.clone())
                .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))?;
            let value = from_attribute(v.clone())
                .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))?;
            let value: StreamValue = serde_json::from_value(value)
                .map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))?;
            state.streams.insert(stream, value);
        }
        Ok(state)
    }
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn record(&self, plan: &WritePlan) -> Result<Outcome, StoreError> {
        let e = &plan.event;
        let mut outcome = Outcome::planned(plan);
        // An erased person's large body is never stored: checked before it goes to S3 (the
        // transaction's own condition covers everything else).
        if let (Some(guard), Some(_), true) = (
            &plan.erasure_guard,
            &e.subject,
            e.sealed_body.len() > self.inline_body_limit,
        ) {
            if self.erased(guard, e.received_at).await? {
                self.count_dropped(guard, e).await;
                return Ok(Outcome::ErasedSubject);
            }
        }
        // Before the transaction: a body stored for an event that then turns out a duplicate
        // is the same body under the same key, harmless.
        let body_ref = self.offload_body(e).await?;
        if let (Some(subject), Some(_), true) =
            (&e.subject, &plan.patch, self.legacy.reads_legacy())
        {
            self.seed_state_from_legacy(e.provider, subject, e.received_at)
                .await?;
        }
        let mut state_write = (outcome == Outcome::Applied).then_some(StateWrite::Blind);
        let (mut conflicts, mut merges) = (0u32, 0u32);
        loop {
            let mut at = ItemsAt::default();
            let mut items = vec![self.put_event(e, &outcome, body_ref.as_deref())];
            if self.legacy.reads_legacy() {
                at.legacy_event = Some(items.len());
                items.push(self.legacy_event_absent(e));
            }
            items.push(self.put_history(e, &outcome));
            if let (Some(guard), Some(_)) = (&plan.erasure_guard, &e.subject) {
                at.tombstone = Some(items.len());
                items.push(self.tombstone_absent(guard, e.received_at));
            }
            if let (Some(write), Some(subject)) = (&state_write, &e.subject) {
                if let Some(update) = self.update_state(subject, e.provider, plan, write) {
                    at.state = Some(items.len());
                    items.push(update);
                }
            }
            match self.transact(items, at).await? {
                None => return Ok(outcome),
                Some(Cancelled::Erased) => {
                    // Erased between the pre-check and the transaction: the body just stored
                    // belongs to no event; emptied.
                    if body_ref.is_some() {
                        self.retract_body(e).await;
                    }
                    self.count_dropped(plan.erasure_guard.as_deref().unwrap_or_default(), e)
                        .await;
                    return Ok(Outcome::ErasedSubject);
                }
                Some(Cancelled::Duplicate(hash)) => {
                    return Ok(if hash.as_deref() == Some(e.body_sha256.as_str()) {
                        Outcome::Duplicate
                    } else {
                        Outcome::Conflict
                    })
                }
                Some(Cancelled::StateNotNewer(item)) => {
                    merges += 1;
                    if merges > MERGE_RETRIES {
                        return Err(unavailable("the state kept changing under the merge"));
                    }
                    if merges > 1 {
                        // Lost the compare-and-swap to a concurrent writer of this customer:
                        // a short jittered wait, so the writers of a burst stop colliding.
                        let ceiling = 2u64 << (merges - 2).min(5);
                        let wait = rand::rng().random_range(0..=ceiling);
                        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                    }
                    // The cancelled transaction handed back the state item: merge with it
                    // (`kyc_state::resolve`) and write over exactly that version, or skip.
                    let state = Self::parse_state(&item)?;
                    let patch = plan
                        .patch
                        .as_ref()
                        .expect("only a patch has a state condition");
                    let current = state.stream(&patch.stream);
                    let r = resolve(current, patch);
                    outcome = match r.skipped {
                        Some(reason) => Outcome::NotApplied { reason },
                        None => Outcome::Applied,
                    };
                    state_write = r.value.map(|value| StateWrite::Merged {
                        kept_sealed: value
                            .sealed
                            .iter()
                            .filter(|(k, v)| current.and_then(|c| c.sealed.get(*k)) == Some(*v))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        version: item.get("version").and_then(|v| v.as_n().ok()).cloned(),
                        value: Box::new(value),
                    });
                }
                Some(Cancelled::Conflict) => {
                    if conflicts == CONFLICT_RETRIES {
                        return Err(unavailable("too many transaction conflicts"));
                    }
                    let backoff = 10u64 << conflicts.min(5);
                    conflicts += 1;
                    // Jitter de-synchronises writers retrying the same item.
                    let wait = backoff + rand::rng().random_range(0..backoff);
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                }
            }
        }
    }

    async fn record_rejection(&self, r: &Rejection) -> Result<(), StoreError> {
        let item = HashMap::from([
            (
                "PK".to_string(),
                s(keys::rejection_pk(r.provider, r.received_at)),
            ),
            (
                "SK".to_string(),
                s(keys::rejection_sk(r.received_at, &r.body_sha256)),
            ),
            ("itemType".to_string(), s("rejection")),
            ("httpStatus".to_string(), Av::N(r.http_status.to_string())),
            ("reason".to_string(), s(&r.reason)),
            ("bodySize".to_string(), Av::N(r.body_size.to_string())),
            ("bodySha256".to_string(), s(&r.body_sha256)),
            ("sealedBodyPrefix".to_string(), s(&r.sealed_body_prefix)),
            ("receivedAt".to_string(), s(r.received_at.to_rfc3339())),
            (
                "expiresAt".to_string(),
                Av::N(r.expires_at.timestamp().to_string()),
            ),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| unavailable(DisplayErrorContext(&e)))
    }

    async fn provider_states(
        &self,
        subject: &str,
    ) -> Result<BTreeMap<Provider, ProviderState>, StoreError> {
        let keys: Vec<(String, String)> = Provider::ALL
            .iter()
            .map(|p| (keys::customer_pk(*p, subject), keys::STATE_SK.to_string()))
            .collect();
        let mut out = BTreeMap::new();
        for item in self.batch_get(&keys).await? {
            let pk = text(&item, "PK").unwrap_or_default();
            if let Some(p) = keys::provider_of_partition(&pk) {
                out.insert(p, Self::parse_state(&item)?);
            }
        }
        if self.legacy.reads_legacy() {
            let old = self
                .query_partition(&legacy_keys::customer_pk(subject), "STATE#")
                .await?;
            for item in old {
                let sk = text(&item, "SK").unwrap_or_default();
                if let Some(p) = sk.strip_prefix("STATE#").and_then(Provider::parse) {
                    out.entry(p)
                        .or_insert_with(ProviderState::default)
                        .merge(&Self::parse_state(&item)?);
                }
            }
        }
        Ok(out)
    }

    async fn history(&self, subject: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let mut partitions: Vec<String> = Provider::ALL
            .iter()
            .map(|p| keys::customer_pk(*p, subject))
            .collect();
        if self.legacy.reads_legacy() {
            partitions.push(legacy_keys::customer_pk(subject));
        }
        let mut entries = Vec::new();
        for pk in partitions {
            for item in self.query_partition(&pk, keys::HISTORY_PREFIX).await? {
                entries.push(history_of_item(item)?);
            }
        }
        Ok(merge_history(entries))
    }

    async fn erased(
        &self,
        guard: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(guard))
            .key("SK", s(keys::TOMBSTONE_SK))
            .projection_expression("dropUntil")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
        let until = out
            .item()
            .and_then(|i| i.get("dropUntil"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<i64>().ok());
        Ok(until.is_some_and(|u| at.timestamp() < u))
    }
}

/// A stored history entry without its keys and index attributes.
pub fn history_of_item(mut m: HashMap<String, Av>) -> Result<HistoryEntry, StoreError> {
    for k in ["PK", "SK", "itemType", "customerId", "GSI1PK", "GSI1SK"] {
        m.remove(k);
    }
    let entry =
        from_attribute(Av::M(m)).map_err(|e| StoreError::Corrupt(format!("history: {e}")))?;
    serde_json::from_value(entry).map_err(|e| StoreError::Corrupt(format!("history: {e}")))
}

/// One customer's history entries from several partitions (one per provider, and the old
/// layout's while a table moves): in merged order, each event once.
pub fn merge_history(mut entries: Vec<HistoryEntry>) -> Vec<HistoryEntry> {
    entries.sort_by_cached_key(HistoryEntry::position);
    let mut seen = std::collections::HashSet::new();
    entries.retain(|h| seen.insert((h.provider, h.event_id.clone())));
    entries
}

fn text(item: &HashMap<String, Av>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// BatchGetItem asks for at most 100 keys and may leave some unprocessed under load.
const BATCH_GET_ATTEMPTS: u32 = 8;

impl DynamoStore {
    /// The items at `keys` (absent ones are skipped), strongly consistent, in one
    /// `BatchGetItem` unless DynamoDB leaves keys unprocessed.
    pub async fn batch_get(
        &self,
        keys: &[(String, String)],
    ) -> Result<Vec<HashMap<String, Av>>, StoreError> {
        let mut wanted = KeysAndAttributes::builder().consistent_read(true);
        for (pk, sk) in keys {
            wanted = wanted.keys(HashMap::from([
                ("PK".to_string(), s(pk)),
                ("SK".to_string(), s(sk)),
            ]));
        }
        let mut request = Some(wanted.build().map_err(unavailable)?);
        let mut found = Vec::new();
        for attempt in 0..BATCH_GET_ATTEMPTS {
            let Some(ask) = request.take() else {
                return Ok(found);
            };
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, ask)
                .send()
                .await
                .map_err(|e| unavailable(DisplayErrorContext(&e)))?;
            if let Some(items) = out.responses().and_then(|r| r.get(&self.table)) {
                found.extend(items.iter().cloned());
            }
            request = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .filter(|k| !k.keys().is_empty())
                .cloned();
            if request.is_some() {
                let wait = 10u64 << attempt.min(5);
                let jitter = rand::rng().random_range(0..wait);
                tokio::time::sleep(std::time::Duration::from_millis(wait + jitter)).await;
            }
        }
        match request {
            None => Ok(found),
            Some(_) => Err(unavailable("keys left unprocessed by BatchGetItem")),
        }
    }

    /// Every item of one partition whose sort key starts with `prefix`, strongly consistent.
    pub async fn query_partition(
        &self,
        pk: &str,
        prefix: &str,
    ) -> Result<Vec<HashMap<String, Av>>, StoreError> {
        partition_items(&self.client, &self.table, pk, Some(prefix)).await
    }

    /// The transaction item that cancels a new event already recorded under the old layout.
    fn legacy_event_absent(&self, e: &EventRecord) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("PK", s(legacy_keys::event_pk(e.provider, &e.event_id)))
            .key("SK", s("EVENT"))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, key, condition set");
        TransactWriteItem::builder().condition_check(check).build()
    }

    /// While a table moves: the first time a customer's provider state is written in the new
    /// layout, it starts from the old item (streams and `version`, so consumers keep ordering
    /// by `stateVersion`). Marked `migratedAt`: the state publisher does not mistake the copy
    /// for a change. Costs one `BatchGetItem` (and a put the first time) per event in
    /// `LegacyKeyLayout::Read` only.
    async fn seed_state_from_legacy(
        &self,
        provider: Provider,
        subject: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let new_key = (
            keys::customer_pk(provider, subject),
            keys::STATE_SK.to_string(),
        );
        let old_key = (
            legacy_keys::customer_pk(subject),
            legacy_keys::state_sk(provider),
        );
        let found = self.batch_get(&[new_key.clone(), old_key.clone()]).await?;
        if found
            .iter()
            .any(|i| text(i, "PK").as_ref() == Some(&new_key.0))
        {
            return Ok(());
        }
        let Some(old) = found
            .into_iter()
            .find(|i| text(i, "PK").as_ref() == Some(&old_key.0))
        else {
            return Ok(());
        };
        let mut item = old;
        item.insert("PK".into(), s(&new_key.0));
        item.insert("SK".into(), s(&new_key.1));
        item.insert("customerId".into(), s(subject));
        item.insert("migratedAt".into(), s(now.to_rfc3339()));
        item.insert(
            "migratedFrom".into(),
            s(format!("{}|{}", old_key.0, old_key.1)),
        );
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
            // Seeded by a concurrent writer: the same copy.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(DisplayErrorContext(&e))),
        }
    }
}
