//! `kyc reseal`: re-seals every stored value that is not yet `v2` under its provider's current
//! key, so retired keys can be dropped from the keyrings (issue 10).
//!
//! Pure rules here: where each item kind keeps sealed values and what each is bound to
//! ([`sealed_values`]), and the run itself ([`run`]) over a small port ([`SealedItems`]) with an
//! in-memory twin ([`MemorySealedItems`]); the DynamoDB + S3 adapter is
//! `aws::DynamoSealedItems` (feature `aws`).
//!
//! Guarantees:
//! - **Never overwrites a concurrent writer**: each value is replaced with a conditional write
//!   on its old sealed text. A lost race (a GoPay token rotated meanwhile...) re-reads the item:
//!   a value already current is left alone, an older one is re-sealed from what was read.
//! - **Resumable**: after every page the last item key and the counts so far go to a
//!   checkpoint; a run that stops (crash, Ctrl-C, expired credentials) continues after it.
//! - **Idempotent**: a value already `v2` under the current key is never rewritten, so a second
//!   run changes nothing and says so.
//! - **Nothing in clear leaves the process**: plaintexts live only between open and seal; the
//!   report carries counts, key ids and item keys, never values.

#![warn(missing_docs)]

// The product's logs in test output, for the personal-data scan (KYC_TEST_LOG).
#[cfg(test)]
kyc_test_log::install!();

#[cfg(feature = "aws")]
pub mod aws;
/// `kyc keys check`: every key a stored value is sealed under is in its keyring (issue 21).
pub mod keys_check;

use async_trait::async_trait;
use kyc_core::checkpoint_file;
use kyc_core::crypto::{usage_label, Aad, Keyring};
use kyc_core::intake::{EventRecord, Provider};
use kyc_core::keys;
use kyc_core::legacy_keys;
use kyc_core::redact::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// One item's attributes as JSON (`kyc_aws::attribute::from_attribute` of a DynamoDB item).
pub type Attributes = Map<String, Value>;

/// An item's primary key, the scan's position.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    /// The partition key (`PK`).
    pub pk: String,
    /// The sort key (`SK`).
    pub sk: String,
}

/// One table item, as a scan reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    /// Its keys.
    pub key: ItemKey,
    /// Its attributes, keys included.
    pub attributes: Attributes,
}

/// One step into an item's nested documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathStep {
    /// An attribute or map key.
    Key(String),
    /// A position in a list.
    Index(usize),
}

fn key(name: &str) -> PathStep {
    PathStep::Key(name.to_string())
}

/// Where the sealed text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The attribute at the path is the sealed text.
    Inline,
    /// The attribute at the path is the S3 location of the sealed text (an offloaded body).
    Offloaded,
}

/// A sealed value found in an item: where it is and what its associated data binds it to.
#[derive(Debug, Clone)]
pub struct Found {
    /// The provider whose keyring sealed it.
    pub provider: Provider,
    /// The path to the attribute from the item's top level.
    pub path: Vec<PathStep>,
    /// The associated data the value is bound to.
    pub aad: Aad,
    /// Inline, or an offloaded body's location.
    pub place: Place,
}

fn text<'a>(attributes: &'a Attributes, name: &str) -> Option<&'a str> {
    attributes.get(name).and_then(Value::as_str)
}

/// The value at `path`, if the item still has one there.
pub fn value_at<'a>(attributes: &'a Attributes, path: &[PathStep]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let PathStep::Key(first) = first else {
        return None;
    };
    let mut v = attributes.get(first)?;
    for step in rest {
        v = match step {
            PathStep::Key(k) => v.get(k)?,
            PathStep::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

/// Every sealed value an item holds, by item kind (see the single-table design in the README).
/// Unknown item kinds hold none.
pub fn sealed_values(item: &StoredItem) -> Vec<Found> {
    let (pk, sk, a) = (&item.key.pk, &item.key.sk, &item.attributes);
    let mut found = Vec::new();
    let provider = text(a, "provider").and_then(Provider::parse);
    // Both key layouts: the provider-scoped one (`kyc_core::keys`) and, while a table moves,
    // the one before (`kyc_core::legacy_keys`). A customer is bound as the provider sent it:
    // the item's `customerId` (keys hold it escaped, or only a digest), else the old key.
    let legacy = legacy_keys::classify(pk, sk);
    let customer_of_item = || {
        text(a, "customerId")
            .map(str::to_string)
            .or_else(|| {
                legacy
                    .as_ref()
                    .and_then(|l| l.customer().map(str::to_string))
            })
            .or_else(|| keys::parse_customer_pk(pk).map(|(_, c)| c))
    };
    let is_event = sk == keys::EVENT_SK
        && (pk.starts_with("EVENT#")
            || (keys::provider_of_partition(pk).is_some() && pk.contains("#E#")));
    let state_provider = match &legacy {
        Some(legacy_keys::LegacyItem::State { provider, .. }) => Some(*provider),
        Some(_) => None,
        None if sk == keys::STATE_SK => keys::parse_customer_pk(pk)
            .map(|(p, _)| p)
            .or_else(|| keys::provider_of_partition(pk).filter(|_| pk.contains("#C#"))),
        None => None,
    };
    let is_rejection = matches!(legacy, Some(legacy_keys::LegacyItem::Rejection { .. }))
        || (keys::provider_of_partition(pk).is_some() && pk.contains("#R#"));
    if is_event {
        let (Some(provider), Some(event_id)) = (provider, text(a, "eventId")) else {
            return found;
        };
        let subject = text(a, "subject");
        let aad = EventRecord::body_aad(provider, event_id, subject);
        for (name, place) in [("sealedBody", Place::Inline), ("bodyRef", Place::Offloaded)] {
            if text(a, name).is_some() {
                found.push(Found {
                    provider,
                    path: vec![key(name)],
                    aad: aad.clone(),
                    place,
                });
            }
        }
        archive_keys(provider, event_id, subject, a, "summary", &mut found);
    } else if sk.starts_with(keys::HISTORY_PREFIX) {
        // A customer's history, or a day's unassigned events (no customer).
        let customer = customer_of_item();
        if let (Some(provider), Some(event_id)) = (provider, text(a, "eventId")) {
            archive_keys(
                provider,
                event_id,
                customer.as_deref(),
                a,
                "summary",
                &mut found,
            );
        }
    } else if let (Some(customer), Some(provider)) = (customer_of_item(), state_provider) {
        let customer = customer.as_str();
        for (name, stream) in a {
            let (Some(event_id), true) = (
                stream.get("eventId").and_then(Value::as_str),
                stream.get("ord").is_some(),
            ) else {
                continue;
            };
            if let Some(Value::Object(sealed)) = stream.get("sealed") {
                for field in sealed.keys() {
                    found.push(Found {
                        provider,
                        path: vec![key(name), key("sealed"), key(field)],
                        aad: kyc_xpollens::plan::sealed_field_aad(event_id, field, Some(customer)),
                        place: Place::Inline,
                    });
                }
            }
            let mut in_stream = Vec::new();
            if let Some(detail) = stream.get("detail") {
                walk_archive_keys(
                    provider,
                    event_id,
                    Some(customer),
                    detail,
                    &mut vec![key(name), key("detail")],
                    &mut in_stream,
                );
            }
            found.extend(in_stream);
        }
    } else if is_rejection {
        if let (Some(provider), Some(sha), Some(_)) = (
            provider
                .or_else(|| legacy.as_ref().map(legacy_keys::LegacyItem::provider))
                .or_else(|| keys::provider_of_partition(pk)),
            text(a, "bodySha256"),
            text(a, "sealedBodyPrefix"),
        ) {
            found.push(Found {
                provider,
                path: vec![key("sealedBodyPrefix")],
                aad: kyc_core::intake::rejection_body_aad(provider, sha),
                place: Place::Inline,
            });
        }
    } else if let (Some(profile), "PROFILE") = (pk.strip_prefix("GOPAY_PROFILE#"), sk.as_str()) {
        gopay_tokens(profile, a, &mut found);
    } else if let (Some(state_key), "GOPAY_STATE") = (pk.strip_prefix("GOPAY_STATE#"), sk.as_str())
    {
        // A started consent's declared identity (lives a day or so, but a key may retire sooner).
        if let (Some(customer), Some(_)) =
            (text(a, "customerId"), text(a, "sealedDeclaredIdentity"))
        {
            found.push(Found {
                provider: Provider::Gopay,
                path: vec![key("sealedDeclaredIdentity")],
                aad: kyc_gopay::consent::declared_identity_state_aad(state_key, customer),
                place: Place::Inline,
            });
        }
    }
    found
}

fn gopay_tokens(profile: &str, a: &Attributes, found: &mut Vec<Found>) {
    use kyc_gopay::identification::ClientProfileId;
    use kyc_gopay::store::{declared_identity_aad, sealed_access_aad, sealed_refresh_aad};
    let (Ok(id), Some(customer)) = (ClientProfileId::new(profile), text(a, "customerId")) else {
        return;
    };
    // The declared identity is bound to the profile and customer, not to a token generation.
    if text(a, "sealedDeclaredIdentity").is_some() {
        found.push(Found {
            provider: Provider::Gopay,
            path: vec![key("sealedDeclaredIdentity")],
            aad: declared_identity_aad(&id, customer),
            place: Place::Inline,
        });
    }
    let Some(generation) = a.get("tokenGen").and_then(Value::as_u64) else {
        return;
    };
    for (name, aad) in [
        (
            "sealedRefresh",
            sealed_refresh_aad(&id, generation, customer),
        ),
        ("sealedAccess", sealed_access_aad(&id, generation, customer)),
    ] {
        if text(a, name).is_some() {
            found.push(Found {
                provider: Provider::Gopay,
                path: vec![key(name)],
                aad,
                place: Place::Inline,
            });
        }
    }
}

/// Trust & Sign archive and quarantine keys sealed inside a summary or stream detail.
fn archive_keys(
    provider: Provider,
    event_id: &str,
    customer: Option<&str>,
    a: &Attributes,
    attribute: &str,
    found: &mut Vec<Found>,
) {
    if let Some(v) = a.get(attribute) {
        walk_archive_keys(
            provider,
            event_id,
            customer,
            v,
            &mut vec![key(attribute)],
            found,
        );
    }
}

fn walk_archive_keys(
    provider: Provider,
    event_id: &str,
    customer: Option<&str>,
    value: &Value,
    path: &mut Vec<PathStep>,
    found: &mut Vec<Found>,
) {
    use kyc_trust_sign::plan::{archive_key_aad, quarantine_key_aad};
    if provider != Provider::TrustSign {
        return;
    }
    match value {
        Value::Object(map) => {
            for (name, v) in map {
                path.push(key(name));
                match (name.as_str(), v) {
                    ("sealedKey", Value::String(_)) => found.push(Found {
                        provider,
                        path: path.clone(),
                        aad: archive_key_aad(event_id, customer),
                        place: Place::Inline,
                    }),
                    ("sealedQuarantineKey", Value::String(_)) => found.push(Found {
                        provider,
                        path: path.clone(),
                        aad: quarantine_key_aad(event_id, customer),
                        place: Place::Inline,
                    }),
                    _ => walk_archive_keys(provider, event_id, customer, v, path, found),
                }
                path.pop();
            }
        }
        Value::Array(list) => {
            for (i, v) in list.iter().enumerate() {
                path.push(PathStep::Index(i));
                walk_archive_keys(provider, event_id, customer, v, path, found);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// The table or the bucket did not answer: the run stops, its checkpoint is kept.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The checkpoint could not be read or written.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// The named provider's keyring is not configured.
    #[error("no keyring for {0}")]
    NoKeyring(&'static str),
}

/// One page of a scan of the table, in key order; `last` is where the next page starts
/// (`None`: the scan is complete).
pub struct ItemPage {
    /// The page's items.
    pub items: Vec<StoredItem>,
    /// The key of the last item read (`None`: the scan is complete).
    pub last: Option<ItemKey>,
}

/// The table (and the body bucket) as `kyc reseal` sees them.
#[async_trait]
pub trait SealedItems: Send + Sync {
    /// A strongly consistent scan page of up to `limit` items after `after`.
    async fn page(&self, after: Option<&ItemKey>, limit: usize) -> Result<ItemPage, ResealError>;
    /// A strongly consistent read of one item.
    async fn item(&self, key: &ItemKey) -> Result<Option<StoredItem>, ResealError>;
    /// Sets the string at `path` to `new` only if it is still `old`; `false`: it was not (a
    /// concurrent writer got there first, or the item is gone).
    async fn replace(
        &self,
        key: &ItemKey,
        path: &[PathStep],
        old: &str,
        new: &str,
    ) -> Result<bool, ResealError>;
    /// The sealed text of an offloaded body.
    async fn read_body(&self, location: &str) -> Result<String, ResealError>;
    /// Stores a re-sealed body beside `old_location` (named by the new text's digest, never
    /// overwriting anything) and returns its location.
    async fn write_body(&self, old_location: &str, sealed: &str) -> Result<String, ResealError>;
    /// Deletes an offloaded body once nothing points to it.
    async fn delete_body(&self, location: &str) -> Result<(), ResealError>;
}

/// Where a run keeps its progress between pages.
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// The last checkpoint saved (`None`: a fresh run).
    async fn load(&self) -> Result<Option<Checkpoint>, ResealError>;
    /// Saves the progress after a page.
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), ResealError>;
    /// Forgets the checkpoint once a run is complete.
    async fn clear(&self) -> Result<(), ResealError>;
}

/// Where an interrupted run resumes, with its counts so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The last item fully handled.
    pub after: ItemKey,
    /// The counts so far, continued by the resumed run.
    pub report: ResealReport,
}

/// How a run goes.
#[derive(Debug, Clone)]
pub struct ResealOptions {
    /// The providers whose values are re-sealed (others are skipped, not counted).
    pub providers: BTreeSet<Provider>,
    /// Count what would be re-sealed; write nothing (no checkpoint either).
    pub dry_run: bool,
    /// Items per scan page.
    pub page_size: usize,
}

/// A value that could not be re-sealed (it is left as it is).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The item's partition key.
    pub pk: String,
    /// The item's sort key.
    pub sk: String,
    /// The path to the value in the item.
    pub path: Vec<PathStep>,
    /// `v1.<keyId>`... of the value; never the value.
    pub sealed_as: String,
    /// Why it was not re-sealed (never the value).
    pub error: String,
}

/// At most this many failures are listed (all are counted).
const LISTED_FAILURES: usize = 20;
/// Re-reads after lost races before a value is reported as failed.
const RACE_ATTEMPTS: usize = 3;

/// What a run did (printed by `kyc reseal` as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResealReport {
    /// True when nothing was written.
    pub dry_run: bool,
    /// The providers re-sealed.
    pub providers: Vec<String>,
    /// Items read.
    pub items_scanned: u64,
    /// Sealed values found in them.
    pub sealed_values: u64,
    /// Values re-sealed under the current key.
    pub resealed: u64,
    /// In a dry run: values that would be re-sealed.
    pub would_reseal: u64,
    /// Values already sealed under their provider's current key.
    pub already_current: u64,
    /// Values a concurrent writer changed while we re-sealed them (left to the writer).
    pub lost_races: u64,
    /// Values that could not be re-sealed (all counted).
    pub failed: u64,
    /// Up to 20 of the values counted in `failed`.
    pub failures: Vec<Failure>,
    /// Per provider, values per `<version>.<keyId>` once this run is done: a retired key id
    /// that no longer appears here can be removed from that provider's keyring.
    pub remaining: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per provider, keyring ids no stored value uses any more (complete scans only).
    pub retirable: BTreeMap<String, Vec<String>>,
    /// Per provider, key ids stored values are sealed under that the keyring does not hold
    /// (removed, or never added): those values open nothing until the key is restored.
    #[serde(default)]
    pub missing_keys: BTreeMap<String, Vec<String>>,
    /// True when the run resumed from a checkpoint.
    pub resumed: bool,
    /// True when the scan reached the table's end.
    pub complete: bool,
    /// A one-line summary for the operator.
    pub message: String,
}

impl ResealReport {
    fn count(&mut self, provider: Provider, label: String) {
        *self
            .remaining
            .entry(provider.as_str().to_string())
            .or_default()
            .entry(label)
            .or_default() += 1;
    }

    fn fail(&mut self, item: &ItemKey, path: &[PathStep], sealed: &str, error: String) {
        self.failed += 1;
        if self.failures.len() < LISTED_FAILURES {
            self.failures.push(Failure {
                pk: item.pk.clone(),
                sk: item.sk.clone(),
                path: path.to_vec(),
                sealed_as: usage_label(sealed),
                error,
            });
        }
    }
}

/// Progress after each page: items scanned so far and the report so far.
pub type OnPage<'a> = &'a (dyn Fn(&ResealReport) + Send + Sync);

/// One run: every page after the checkpoint (if any), every sealed value of the selected
/// providers. An error (store unavailable) stops the run with its checkpoint saved after the
/// last complete page; run again to continue.
pub async fn run(
    items: &dyn SealedItems,
    checkpoints: &dyn CheckpointStore,
    keyrings: &BTreeMap<Provider, Keyring>,
    options: &ResealOptions,
    on_page: OnPage<'_>,
) -> Result<ResealReport, ResealError> {
    for p in &options.providers {
        if !keyrings.contains_key(p) {
            return Err(ResealError::NoKeyring(p.as_str()));
        }
    }
    let providers: Vec<String> = options
        .providers
        .iter()
        .map(|p| p.as_str().to_string())
        .collect();
    let (mut after, mut report) = match checkpoints.load().await? {
        Some(cp) if options.dry_run => {
            // A dry run never continues a real run's counts, nor moves its checkpoint.
            let _ = cp;
            (None, ResealReport::default())
        }
        Some(cp) => {
            if cp.report.providers != providers {
                return Err(ResealError::Checkpoint(format!(
                    "the checkpoint is of a run for {:?}; run with the same --provider, or remove it to start over",
                    cp.report.providers
                )));
            }
            (
                Some(cp.after),
                ResealReport {
                    resumed: true,
                    ..cp.report
                },
            )
        }
        None => (None, ResealReport::default()),
    };
    report.dry_run = options.dry_run;
    report.providers = providers;
    report.complete = false;
    loop {
        let page = items.page(after.as_ref(), options.page_size.max(1)).await?;
        for item in &page.items {
            report.items_scanned += 1;
            for found in sealed_values(item) {
                if !options.providers.contains(&found.provider) {
                    continue;
                }
                let ring = &keyrings[&found.provider];
                reseal_one(items, ring, item, &found, options.dry_run, &mut report).await?;
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
    for p in &options.providers {
        let used = report.remaining.get(p.as_str());
        let ring = &keyrings[p];
        let retirable: Vec<String> = ring
            .key_ids()
            .filter(|id| *id != ring.current_key_id())
            .filter(|id| {
                used.is_none_or(|labels| {
                    labels
                        .keys()
                        .all(|l| l.split_once('.').is_none_or(|(_, k)| k != *id))
                })
            })
            .map(str::to_string)
            .collect();
        report.retirable.insert(p.as_str().to_string(), retirable);
        report
            .missing_keys
            .insert(p.as_str().to_string(), missing_keys(used, ring));
    }
    report.message = if options.dry_run {
        format!(
            "dry run: {} value(s) would be re-sealed",
            report.would_reseal
        )
    } else if report.resealed == 0 && report.failed == 0 {
        "nothing to re-seal: every value is v2 under its provider's current key".into()
    } else {
        format!(
            "{} value(s) re-sealed, {} failed",
            report.resealed, report.failed
        )
    };
    on_page(&report);
    if !options.dry_run {
        checkpoints.clear().await?;
    }
    Ok(report)
}

/// The key ids of `labels` (`<version>.<keyId>` → count) that `ring` does not hold.
pub fn missing_keys(labels: Option<&BTreeMap<String, u64>>, ring: &Keyring) -> Vec<String> {
    let held: BTreeSet<&str> = ring.key_ids().collect();
    let used: BTreeSet<&str> = labels
        .into_iter()
        .flat_map(|l| l.keys())
        .filter_map(|l| l.split_once('.').map(|(_, key_id)| key_id))
        .collect();
    used.difference(&held).map(|id| id.to_string()).collect()
}

async fn reseal_one(
    items: &dyn SealedItems,
    ring: &Keyring,
    item: &StoredItem,
    found: &Found,
    dry_run: bool,
    report: &mut ResealReport,
) -> Result<(), ResealError> {
    report.sealed_values += 1;
    let mut attributes = item.attributes.clone();
    for attempt in 0..RACE_ATTEMPTS {
        let Some(at_path) = value_at(&attributes, &found.path).and_then(Value::as_str) else {
            // Gone after a lost race (a token erased, an item deleted): nothing to re-seal.
            report.lost_races += 1;
            return Ok(());
        };
        let at_path = at_path.to_string();
        let sealed = match found.place {
            Place::Inline => at_path.clone(),
            Place::Offloaded => items.read_body(&at_path).await?,
        };
        if ring.is_current(&sealed) {
            if attempt == 0 {
                report.already_current += 1;
            } else {
                report.lost_races += 1;
            }
            report.count(found.provider, usage_label(&sealed));
            return Ok(());
        }
        let resealed = match ring.open(&found.aad, &sealed) {
            Ok(plain) => ring.seal(&found.aad, Secret::new(plain).expose()),
            Err(e) => {
                report.fail(&item.key, &found.path, &sealed, e.to_string());
                report.count(found.provider, usage_label(&sealed));
                return Ok(());
            }
        };
        if dry_run {
            report.would_reseal += 1;
            report.count(found.provider, usage_label(&sealed));
            return Ok(());
        }
        let new_at_path = match found.place {
            Place::Inline => resealed.clone(),
            Place::Offloaded => items.write_body(&at_path, &resealed).await?,
        };
        if items
            .replace(&item.key, &found.path, &at_path, &new_at_path)
            .await?
        {
            if found.place == Place::Offloaded {
                // The old object is unreferenced now. A failed delete leaves a copy sealed
                // under the old key that nothing points at: logged, not fatal.
                if let Err(e) = items.delete_body(&at_path).await {
                    tracing::warn!(error = %e, "reseal: old body object not deleted");
                }
            }
            report.resealed += 1;
            report.count(found.provider, usage_label(&resealed));
            return Ok(());
        }
        if found.place == Place::Offloaded {
            let _ = items.delete_body(&new_at_path).await;
        }
        // Lost race: read the item again and look at what the writer left.
        match items.item(&item.key).await? {
            Some(now) => attributes = now.attributes,
            None => {
                report.lost_races += 1;
                return Ok(());
            }
        }
    }
    report.fail(
        &item.key,
        &found.path,
        "",
        "the value kept changing while it was re-sealed".into(),
    );
    Ok(())
}

/// The in-memory twin of the table and body bucket, with fault injection for tests.
#[derive(Default)]
pub struct MemorySealedItems {
    items: Mutex<BTreeMap<ItemKey, Attributes>>,
    bodies: Mutex<BTreeMap<String, String>>,
    /// `page` fails once this many pages have been served (an interrupted run).
    pub fail_after_pages: Mutex<Option<usize>>,
    pages_served: Mutex<usize>,
    /// Run once, just before the next `replace` is applied (a concurrent writer).
    #[allow(clippy::type_complexity)]
    before_replace: Mutex<Option<Box<dyn FnOnce(&mut BTreeMap<ItemKey, Attributes>) + Send>>>,
    replaces: Mutex<usize>,
}

impl MemorySealedItems {
    /// Stores an item; `attributes` must be a JSON object.
    pub fn put(&self, pk: &str, sk: &str, attributes: Value) {
        let Value::Object(attributes) = attributes else {
            panic!("an item is a JSON object");
        };
        self.items.lock().unwrap().insert(
            ItemKey {
                pk: pk.into(),
                sk: sk.into(),
            },
            attributes,
        );
    }

    /// Stores an offloaded body's sealed text at `location`.
    pub fn put_body(&self, location: &str, sealed: &str) {
        self.bodies
            .lock()
            .unwrap()
            .insert(location.into(), sealed.into());
    }

    /// The attributes of the item at these keys, if any.
    pub fn get(&self, pk: &str, sk: &str) -> Option<Attributes> {
        self.items
            .lock()
            .unwrap()
            .get(&ItemKey {
                pk: pk.into(),
                sk: sk.into(),
            })
            .cloned()
    }

    /// The sealed text at `location`, if any.
    pub fn body(&self, location: &str) -> Option<String> {
        self.bodies.lock().unwrap().get(location).cloned()
    }

    /// Offloaded bodies stored.
    pub fn body_count(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }

    /// Scan pages served so far.
    pub fn pages_served(&self) -> usize {
        *self.pages_served.lock().unwrap()
    }

    /// Conditional writes applied so far.
    pub fn replaces(&self) -> usize {
        *self.replaces.lock().unwrap()
    }

    /// Runs `writer` on the items just before the next `replace` (a concurrent writer).
    pub fn before_next_replace(
        &self,
        writer: impl FnOnce(&mut BTreeMap<ItemKey, Attributes>) + Send + 'static,
    ) {
        *self.before_replace.lock().unwrap() = Some(Box::new(writer));
    }
}

fn set_at(attributes: &mut Attributes, path: &[PathStep], new: Value) -> bool {
    let Some((PathStep::Key(first), rest)) = path.split_first() else {
        return false;
    };
    let Some(mut v) = attributes.get_mut(first) else {
        return false;
    };
    for step in rest {
        let next = match step {
            PathStep::Key(k) => v.get_mut(k),
            PathStep::Index(i) => v.get_mut(*i),
        };
        let Some(next) = next else { return false };
        v = next;
    }
    *v = new;
    true
}

#[async_trait]
impl SealedItems for MemorySealedItems {
    async fn page(&self, after: Option<&ItemKey>, limit: usize) -> Result<ItemPage, ResealError> {
        {
            let mut served = self.pages_served.lock().unwrap();
            if self
                .fail_after_pages
                .lock()
                .unwrap()
                .is_some_and(|n| *served >= n)
            {
                return Err(ResealError::Unavailable("injected stop".into()));
            }
            *served += 1;
        }
        let items = self.items.lock().unwrap();
        let page: Vec<StoredItem> = items
            .iter()
            .filter(|(k, _)| after.is_none_or(|a| *k > a))
            .take(limit)
            .map(|(k, v)| StoredItem {
                key: k.clone(),
                attributes: v.clone(),
            })
            .collect();
        let more = page
            .last()
            .is_some_and(|last| items.keys().any(|k| *k > last.key));
        Ok(ItemPage {
            last: more.then(|| page.last().map(|i| i.key.clone())).flatten(),
            items: page,
        })
    }

    async fn item(&self, key: &ItemKey) -> Result<Option<StoredItem>, ResealError> {
        Ok(self.items.lock().unwrap().get(key).map(|a| StoredItem {
            key: key.clone(),
            attributes: a.clone(),
        }))
    }

    async fn replace(
        &self,
        key: &ItemKey,
        path: &[PathStep],
        old: &str,
        new: &str,
    ) -> Result<bool, ResealError> {
        let writer = self.before_replace.lock().unwrap().take();
        let mut items = self.items.lock().unwrap();
        if let Some(writer) = writer {
            writer(&mut items);
        }
        let Some(attributes) = items.get_mut(key) else {
            return Ok(false);
        };
        if value_at(attributes, path).and_then(Value::as_str) != Some(old) {
            return Ok(false);
        }
        *self.replaces.lock().unwrap() += 1;
        Ok(set_at(attributes, path, Value::String(new.into())))
    }

    async fn read_body(&self, location: &str) -> Result<String, ResealError> {
        self.body(location)
            .ok_or_else(|| ResealError::Unavailable(format!("no body at {location}")))
    }

    async fn write_body(&self, old_location: &str, sealed: &str) -> Result<String, ResealError> {
        let location = resealed_body_location(old_location, sealed);
        self.put_body(&location, sealed);
        Ok(location)
    }

    async fn delete_body(&self, location: &str) -> Result<(), ResealError> {
        self.bodies.lock().unwrap().remove(location);
        Ok(())
    }
}

/// An offloaded body's objects are named by the sealed text's digest
/// (`kyc_core::intake::body_object_key`): the re-sealed text gets its own object beside the
/// old one.
pub fn resealed_body_location(old_location: &str, sealed: &str) -> String {
    let digest = kyc_core::intake::sha256_hex(sealed.as_bytes());
    match old_location.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{digest}.sealed"),
        None => format!("{digest}.sealed"),
    }
}

/// The in-memory checkpoint (tests); `FileCheckpoint` keeps it on disk for the CLI.
#[derive(Default)]
pub struct MemoryCheckpoint(pub Mutex<Option<Checkpoint>>);

#[async_trait]
impl CheckpointStore for MemoryCheckpoint {
    async fn load(&self) -> Result<Option<Checkpoint>, ResealError> {
        Ok(self.0.lock().unwrap().clone())
    }
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), ResealError> {
        *self.0.lock().unwrap() = Some(checkpoint.clone());
        Ok(())
    }
    async fn clear(&self) -> Result<(), ResealError> {
        *self.0.lock().unwrap() = None;
        Ok(())
    }
}

/// A checkpoint in a local JSON file, replaced atomically (write then rename).
pub struct FileCheckpoint(pub std::path::PathBuf);

#[async_trait]
impl CheckpointStore for FileCheckpoint {
    async fn load(&self) -> Result<Option<Checkpoint>, ResealError> {
        checkpoint_file::load(&self.0).map_err(ResealError::Checkpoint)
    }
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), ResealError> {
        checkpoint_file::save(&self.0, checkpoint).map_err(ResealError::Checkpoint)
    }
    async fn clear(&self) -> Result<(), ResealError> {
        checkpoint_file::clear(&self.0).map_err(ResealError::Checkpoint)
    }
}

#[cfg(test)]
#[path = "reseal_tests.rs"]
mod tests;
