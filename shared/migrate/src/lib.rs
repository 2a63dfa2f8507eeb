//! `kyc migrate keys`: moves a deployed table from the key layout before provider-scoped keys
//! (`kyc_core::legacy_keys`) to `kyc_core::keys` (`docs/table-design.md`, "Migrating a deployed
//! table"). Step 2 of four: the functions already write the new layout and read both
//! (`LegacyKeyLayout::Read`); once this run reports nothing left, the stack drops the old
//! prefixes (`LegacyKeyLayout=off`). Delete this crate with the fallback.
//!
//! - [`plan`] (pure): what one old item becomes — the same item under its new keys, with the
//!   attributes the new layout adds (`customerId`, the hour index), or, for a provider state, a
//!   merge into the new state item stream by stream (the greater `ord` wins: the intake's own
//!   rule, so the result is the state either order of writes would reach).
//! - [`run`]: a scan of the table, page by page, each old item moved in one transaction (put
//!   new if absent, delete old if still there): an item is never in neither place, nor applied
//!   twice. Resumable from a checkpoint after each page, idempotent (a second run moves
//!   nothing), with a dry run.
//! - Ports: [`TableItems`] (DynamoDB adapter `aws::DynamoTableItems`, in-memory twin
//!   [`MemoryTableItems`]) and [`CheckpointStore`] ([`FileCheckpoint`], [`MemoryCheckpoint`]).

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

#[cfg(feature = "aws")]
pub mod aws;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::checkpoint_file;
use kyc_core::keys;
use kyc_core::legacy_keys::{classify, LegacyItem};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A table item as JSON, keys (`PK`, `SK`) included.
pub type Item = Map<String, Value>;

/// An item's primary key, the scan's position.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey {
    /// The partition key (`PK`).
    pub pk: String,
    /// The sort key (`SK`).
    pub sk: String,
}

impl ItemKey {
    /// The keys of an item (`None` when it lacks `PK` or `SK`).
    pub fn of(item: &Item) -> Option<ItemKey> {
        Some(ItemKey {
            pk: item.get("PK")?.as_str()?.to_string(),
            sk: item.get("SK")?.as_str()?.to_string(),
        })
    }
}

/// What one old item becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// The same item under its new keys (with the attributes the new layout adds).
    Relocate {
        /// The old item's kind, as the report counts it.
        kind: &'static str,
        /// The item as the new layout writes it.
        new: Item,
    },
    /// A provider state, merged into the new state item.
    MergeState {
        /// The keys of the new state item.
        new_key: ItemKey,
        /// The customer whose state it is.
        customer: String,
    },
}

/// The kind of an old item, as the report counts it.
fn kind(item: &LegacyItem) -> &'static str {
    match item {
        LegacyItem::Event { .. } => "event",
        LegacyItem::History { .. } => "history",
        LegacyItem::State { .. } => "state",
        LegacyItem::GoPayLink { .. } => "gopayLink",
        LegacyItem::Unassigned { .. } => "unassigned",
        LegacyItem::Rejection { .. } => "rejection",
    }
}

/// The received time of an old history entry (its attribute, else its sort key's).
fn received_at(item: &Item, sk_time: &str) -> Option<DateTime<Utc>> {
    item.get("receivedAt")
        .and_then(Value::as_str)
        .unwrap_or(sk_time)
        .parse::<DateTime<Utc>>()
        .ok()
}

/// What `item` becomes in the new layout; `None` for an item already there (or one whose keys
/// never change: GoPay profiles and pending consents).
pub fn plan(item: &Item) -> Option<Step> {
    let key = ItemKey::of(item)?;
    let legacy = classify(&key.pk, &key.sk)?;
    let (pk, sk) = legacy.new_keys();
    if let LegacyItem::State { customer, .. } = &legacy {
        return Some(Step::MergeState {
            new_key: ItemKey { pk, sk },
            customer: customer.clone(),
        });
    }
    let mut new = item.clone();
    if let Some(customer) = legacy.customer() {
        new.insert("customerId".into(), json!(customer));
    }
    if let LegacyItem::History { sk: h, .. } | LegacyItem::Unassigned { sk: h, .. } = &legacy {
        if let Some(at) = received_at(item, &h.time) {
            let (gsi_pk, gsi_sk) = keys::hour_index_keys(&pk, &sk, at);
            new.insert("GSI1PK".into(), json!(gsi_pk));
            new.insert("GSI1SK".into(), json!(gsi_sk));
        }
    }
    new.insert("PK".into(), json!(pk));
    new.insert("SK".into(), json!(sk));
    Some(Step::Relocate {
        kind: kind(&legacy),
        new,
    })
}

/// A stream's `ord` (DynamoDB numbers read as JSON numbers; text tolerated).
fn ord(v: &Value) -> Option<i64> {
    let o = v.get("ord")?;
    o.as_i64().or_else(|| o.as_str()?.parse().ok())
}

fn version(item: &Item) -> i64 {
    item.get("version").and_then(Value::as_i64).unwrap_or(0)
}

/// The new state item after merging the old one into it (or the old one's copy, if the
/// customer was not touched since the deploy): stream by stream the greater `ord` wins, the
/// `version` continues from the higher of the two, and `migratedAt` marks the write so the
/// state publisher does not mistake it for a state change.
pub fn merged_state(
    old: &Item,
    new: Option<&Item>,
    new_key: &ItemKey,
    customer: &str,
    now: DateTime<Utc>,
) -> Item {
    let mut merged = new.cloned().unwrap_or_else(|| old.clone());
    for (name, value) in old {
        let Some(old_ord) = ord(value) else { continue };
        let newer = merged
            .get(name)
            .and_then(ord)
            .is_none_or(|cur| cur < old_ord);
        if newer {
            merged.insert(name.clone(), value.clone());
        }
    }
    let v = new.map(version).unwrap_or(0).max(version(old));
    merged.insert("version".into(), json!(v));
    merged.insert("PK".into(), json!(new_key.pk));
    merged.insert("SK".into(), json!(new_key.sk));
    merged.insert("customerId".into(), json!(customer));
    merged.insert("migratedAt".into(), json!(now.to_rfc3339()));
    let from = ItemKey::of(old).map(|k| format!("{}|{}", k.pk, k.sk));
    merged.insert("migratedFrom".into(), json!(from));
    merged
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The table did not answer: the run stops; its checkpoint is kept.
    #[error("table unavailable: {0}")]
    Unavailable(String),
    /// The checkpoint could not be read or written.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

/// One page of a scan, in key order; `last`: where the next page starts (`None`: done).
pub struct Page {
    /// The page's items.
    pub items: Vec<Item>,
    /// The key of the last item read (`None`: the scan is complete).
    pub last: Option<ItemKey>,
}

/// What a relocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relocation {
    /// The item was written under its new key and the old copy deleted.
    Moved,
    /// The new key already held the item (written by this release since the deploy): the old
    /// copy was deleted.
    AlreadyThere,
    /// The old item was gone or changed (another run, or a writer of the previous release).
    OldChanged,
}

/// The table as the migration sees it.
#[async_trait]
pub trait TableItems: Send + Sync {
    /// A strongly consistent scan page.
    async fn page(&self, after: Option<&ItemKey>, limit: usize) -> Result<Page, MigrateError>;
    /// A strongly consistent read of one item.
    async fn get(&self, key: &ItemKey) -> Result<Option<Item>, MigrateError>;
    /// In one transaction: puts `new` if its key holds nothing, deletes `old` if it is still
    /// there. When the new key is taken, deletes `old` alone.
    async fn relocate(&self, old: &Item, new: &Item) -> Result<Relocation, MigrateError>;
    /// In one transaction: puts `merged` if the new state item is still `expected` (same
    /// `version`, or still absent), deletes `old` if its `version` is unchanged. `false`: one
    /// of them moved (read again and merge again).
    async fn replace_state(
        &self,
        old: &Item,
        expected: Option<&Item>,
        merged: &Item,
    ) -> Result<bool, MigrateError>;
}

/// Where a run keeps its progress between pages.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The last checkpoint saved (`None`: a fresh run).
    async fn load(&self) -> Result<Option<Checkpoint>, MigrateError>;
    /// Saves the progress after a page.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), MigrateError>;
    /// Forgets the checkpoint once a run is complete.
    async fn clear(&self) -> Result<(), MigrateError>;
}

/// Where an interrupted run resumes, with its counts so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The last item fully handled.
    pub after: ItemKey,
    /// The counts so far, continued by the resumed run.
    pub report: MigrateReport,
}

/// An item that could not be moved (left where it is; the next run tries again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The item's partition key.
    pub pk: String,
    /// The item's sort key.
    pub sk: String,
    /// Why it was not moved.
    pub error: String,
}

const LISTED_FAILURES: usize = 20;
/// Merges re-read after a concurrent write before the state is reported as failed.
const MERGE_ATTEMPTS: usize = 4;

/// What a run did (printed by `kyc migrate keys` as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrateReport {
    /// True when nothing was written.
    pub dry_run: bool,
    /// Items read, of either layout.
    pub items_scanned: u64,
    /// Items of the old layout moved (or, in a dry run, that would be), by kind.
    pub moved: BTreeMap<String, u64>,
    /// Old items whose new key already held the same item: the old copy was deleted.
    pub already_there: u64,
    /// Old items another run or writer changed while this one moved them (left to the next
    /// run).
    pub lost_races: u64,
    /// Items that could not be moved (all counted).
    pub failed: u64,
    /// Up to 20 of the items counted in `failed`.
    pub failures: Vec<Failure>,
    /// True when the run resumed from a checkpoint.
    pub resumed: bool,
    /// True when the scan reached the table's end.
    pub complete: bool,
    /// A one-line summary for the operator.
    pub message: String,
}

impl MigrateReport {
    fn moved_one(&mut self, kind: &str) {
        *self.moved.entry(kind.to_string()).or_default() += 1;
    }

    fn fail(&mut self, key: &ItemKey, error: String) {
        self.failed += 1;
        if self.failures.len() < LISTED_FAILURES {
            self.failures.push(Failure {
                pk: key.pk.clone(),
                sk: key.sk.clone(),
                error,
            });
        }
    }

    /// Old items this run found (moved, or would be).
    pub fn total_moved(&self) -> u64 {
        self.moved.values().sum()
    }
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Count what would move; write nothing (no checkpoint either).
    pub dry_run: bool,
    /// Items per scan page.
    pub page_size: usize,
}

/// Progress after each page.
pub type OnPage<'a> = &'a (dyn Fn(&MigrateReport) + Send + Sync);

/// One run: every page after the checkpoint (if any). An unavailable table stops the run with
/// its checkpoint saved after the last complete page; run again to continue.
pub async fn run(
    table: &dyn TableItems,
    checkpoints: &dyn CheckpointStore,
    options: &MigrateOptions,
    now: DateTime<Utc>,
    on_page: OnPage<'_>,
) -> Result<MigrateReport, MigrateError> {
    let (mut after, mut report) = match checkpoints.load().await? {
        // A dry run never continues a real run's counts, nor moves its checkpoint.
        Some(_) if options.dry_run => (None, MigrateReport::default()),
        Some(cp) => (
            Some(cp.after),
            MigrateReport {
                resumed: true,
                ..cp.report
            },
        ),
        None => (None, MigrateReport::default()),
    };
    report.dry_run = options.dry_run;
    report.complete = false;
    loop {
        let page = table.page(after.as_ref(), options.page_size.max(1)).await?;
        for item in &page.items {
            report.items_scanned += 1;
            if let Some(step) = plan(item) {
                move_one(table, item, step, options.dry_run, now, &mut report).await?;
            }
        }
        match page.last {
            Some(last) => {
                if !options.dry_run {
                    checkpoints
                        .save(&Checkpoint {
                            after: last.clone(),
                            report: report.clone(),
                        })
                        .await?;
                }
                after = Some(last);
                on_page(&report);
            }
            None => break,
        }
    }
    report.complete = true;
    let n = report.total_moved();
    report.message = match (options.dry_run, n, report.failed + report.lost_races) {
        (true, n, _) => format!("dry run: {n} item(s) of the old layout would move"),
        (false, 0, 0) => "nothing to migrate: no item of the old layout is left".into(),
        (false, n, 0) => format!("{n} item(s) moved; run again to confirm nothing is left"),
        (false, n, left) => {
            format!("{n} item(s) moved, {left} left where they were: run again")
        }
    };
    if !options.dry_run {
        checkpoints.clear().await?;
    }
    Ok(report)
}

async fn move_one(
    table: &dyn TableItems,
    item: &Item,
    step: Step,
    dry_run: bool,
    now: DateTime<Utc>,
    report: &mut MigrateReport,
) -> Result<(), MigrateError> {
    let key = ItemKey::of(item).expect("planned items have keys");
    match step {
        Step::Relocate { kind, new } => {
            if dry_run {
                report.moved_one(kind);
                return Ok(());
            }
            match table.relocate(item, &new).await? {
                Relocation::Moved => report.moved_one(kind),
                Relocation::AlreadyThere => report.already_there += 1,
                Relocation::OldChanged => report.lost_races += 1,
            }
        }
        Step::MergeState { new_key, customer } => {
            if dry_run {
                report.moved_one("state");
                return Ok(());
            }
            for _ in 0..MERGE_ATTEMPTS {
                let current = table.get(&new_key).await?;
                let merged = merged_state(item, current.as_ref(), &new_key, &customer, now);
                if table.replace_state(item, current.as_ref(), &merged).await? {
                    report.moved_one("state");
                    return Ok(());
                }
                // The old item itself changed (a writer of the previous release): its next
                // scan will see it again.
                if table.get(&key).await?.as_ref() != Some(item) {
                    report.lost_races += 1;
                    return Ok(());
                }
            }
            report.fail(&key, "the new state item kept changing".into());
        }
    }
    Ok(())
}

/// A change made to the twin's items just before a write (tests of races).
type WriteHook = Box<dyn FnMut(&mut BTreeMap<ItemKey, Item>) + Send>;

/// The in-memory twin of the table.
#[derive(Default)]
pub struct MemoryTableItems {
    items: Mutex<BTreeMap<ItemKey, Item>>,
    before_write: Mutex<Option<WriteHook>>,
}

impl MemoryTableItems {
    /// Stores an item under its `PK` and `SK` (panics without them).
    pub fn put(&self, item: Item) {
        let key = ItemKey::of(&item).expect("an item has PK and SK");
        self.items.lock().unwrap().insert(key, item);
    }

    /// Every item, in key order.
    pub fn all(&self) -> Vec<Item> {
        self.items.lock().unwrap().values().cloned().collect()
    }

    /// The item at these keys, if any.
    pub fn item(&self, pk: &str, sk: &str) -> Option<Item> {
        self.items
            .lock()
            .unwrap()
            .get(&ItemKey {
                pk: pk.into(),
                sk: sk.into(),
            })
            .cloned()
    }

    /// Runs `f` on the table before the next write (once).
    pub fn before_next_write(&self, f: impl FnMut(&mut BTreeMap<ItemKey, Item>) + Send + 'static) {
        *self.before_write.lock().unwrap() = Some(Box::new(f));
    }

    fn hook(&self, items: &mut BTreeMap<ItemKey, Item>) {
        if let Some(mut f) = self.before_write.lock().unwrap().take() {
            f(items);
        }
    }
}

#[async_trait]
impl TableItems for MemoryTableItems {
    async fn page(&self, after: Option<&ItemKey>, limit: usize) -> Result<Page, MigrateError> {
        let items = self.items.lock().unwrap();
        let page: Vec<(ItemKey, Item)> = items
            .iter()
            .filter(|(k, _)| after.is_none_or(|a| *k > a))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let more = page.len() == limit
            && items
                .keys()
                .any(|k| page.last().is_some_and(|(last, _)| k > last));
        Ok(Page {
            last: if more {
                page.last().map(|(k, _)| k.clone())
            } else {
                None
            },
            items: page.into_iter().map(|(_, v)| v).collect(),
        })
    }

    async fn get(&self, key: &ItemKey) -> Result<Option<Item>, MigrateError> {
        Ok(self.items.lock().unwrap().get(key).cloned())
    }

    async fn relocate(&self, old: &Item, new: &Item) -> Result<Relocation, MigrateError> {
        let mut items = self.items.lock().unwrap();
        self.hook(&mut items);
        let (old_key, new_key) = (ItemKey::of(old).unwrap(), ItemKey::of(new).unwrap());
        if !items.contains_key(&old_key) {
            return Ok(Relocation::OldChanged);
        }
        let outcome = match items.entry(new_key) {
            std::collections::btree_map::Entry::Occupied(_) => Relocation::AlreadyThere,
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(new.clone());
                Relocation::Moved
            }
        };
        items.remove(&old_key);
        Ok(outcome)
    }

    async fn replace_state(
        &self,
        old: &Item,
        expected: Option<&Item>,
        merged: &Item,
    ) -> Result<bool, MigrateError> {
        let mut items = self.items.lock().unwrap();
        self.hook(&mut items);
        let (old_key, new_key) = (ItemKey::of(old).unwrap(), ItemKey::of(merged).unwrap());
        let old_same = items.get(&old_key).map(version) == Some(version(old));
        let new_same = match (items.get(&new_key), expected) {
            (None, None) => true,
            (Some(cur), Some(exp)) => version(cur) == version(exp),
            _ => false,
        };
        if !(old_same && new_same) {
            return Ok(false);
        }
        items.insert(new_key, merged.clone());
        items.remove(&old_key);
        Ok(true)
    }
}

/// Progress in a JSON file: an interrupted run continues after it; a complete run removes it.
pub struct FileCheckpoint(pub std::path::PathBuf);

#[async_trait]
impl CheckpointStore for FileCheckpoint {
    async fn load(&self) -> Result<Option<Checkpoint>, MigrateError> {
        checkpoint_file::load(&self.0).map_err(MigrateError::Checkpoint)
    }
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), MigrateError> {
        checkpoint_file::save(&self.0, checkpoint).map_err(MigrateError::Checkpoint)
    }
    async fn clear(&self) -> Result<(), MigrateError> {
        checkpoint_file::clear(&self.0).map_err(MigrateError::Checkpoint)
    }
}

/// The in-memory twin of the checkpoint file.
#[derive(Default)]
pub struct MemoryCheckpoint(pub Mutex<Option<Checkpoint>>);

#[async_trait]
impl CheckpointStore for MemoryCheckpoint {
    async fn load(&self) -> Result<Option<Checkpoint>, MigrateError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), MigrateError> {
        *self.0.lock().unwrap() = Some(checkpoint.clone());
        Ok(())
    }
    async fn clear(&self) -> Result<(), MigrateError> {
        *self.0.lock().unwrap() = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
