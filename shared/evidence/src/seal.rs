//! The hourly seal: every history entry recorded in an hour becomes a leaf; the hour's Merkle
//! root and the previous hour's root go into a digest object that nobody can delete or replace
//! (S3 Object Lock, written only if absent); a chain pointer says which hour was sealed last.

use crate::leaf::{Entry, Leaf};
use crate::merkle::{self, Hash};
use async_trait::async_trait;
use chrono::{DateTime, Duration, DurationRound, Utc};
use kyc_core::evidence::DeletionRecord;
use kyc_core::intake::StoreError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// `yyyy-mm-ddTHH` of an instant.
pub fn hour_of(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H").to_string()
}

/// The start of an hour named `yyyy-mm-ddTHH`.
pub fn hour_start(hour: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(&format!("{hour}:00:00"), "%Y-%m-%dT%H:%M:%S")
        .ok()
        .map(|t| t.and_utc())
}

/// The digest object of one sealed hour (schema version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HourSeal {
    /// The digest's schema version (1).
    pub schema_version: u32,
    /// The hour sealed.
    pub hour: String,
    /// When it was sealed.
    pub sealed_at: DateTime<Utc>,
    /// Sorted by key.
    pub leaves: Vec<Leaf>,
    /// The root of its leaves.
    #[serde(with = "merkle::hex_hash")]
    pub root: Hash,
    /// The hour sealed before this one and its root (`None`: the chain's first hour).
    pub previous_hour: Option<String>,
    /// The previous hour's root.
    #[serde(default, with = "opt_hash", skip_serializing_if = "Option::is_none")]
    pub previous_root: Option<Hash>,
}

mod opt_hash {
    use crate::merkle::{hex_hash, Hash};
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(h: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_str(&hex::encode(h)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| hex_hash::parse(&t).ok_or_else(|| serde::de::Error::custom("a hex hash")))
            .transpose()
    }
}

impl HourSeal {
    /// The seal of `leaves` (any order), chained to `previous`.
    pub fn new(
        hour: &str,
        mut leaves: Vec<Leaf>,
        previous: Option<&ChainPointer>,
        now: DateTime<Utc>,
    ) -> Self {
        leaves.sort();
        let root = merkle::root(&leaves.iter().map(Leaf::hash).collect::<Vec<_>>());
        Self {
            schema_version: 1,
            hour: hour.into(),
            sealed_at: now,
            leaves,
            root,
            previous_hour: previous.map(|p| p.hour.clone()),
            previous_root: previous.map(|p| p.root),
        }
    }

    /// The root recomputed from the leaves (a digest whose root is not this was altered).
    pub fn recomputed_root(&self) -> Hash {
        merkle::root(&self.leaves.iter().map(Leaf::hash).collect::<Vec<_>>())
    }

    /// The inclusion proof of the leaf with `key`, if sealed here.
    pub fn proof_of(&self, key: &Hash) -> Option<Vec<merkle::Step>> {
        let i = self.leaves.iter().position(|l| &l.key == key)?;
        Some(merkle::proof(
            &self.leaves.iter().map(Leaf::hash).collect::<Vec<_>>(),
            i,
        ))
    }
}

/// The last sealed hour and its root (the table's `EVIDENCE#CHAIN` item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainPointer {
    /// The last hour sealed.
    pub hour: String,
    /// Its root.
    #[serde(with = "merkle::hex_hash")]
    pub root: Hash,
}

/// A digest as stored, with how many versions its object has (more than one: replaced).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDigest {
    /// The digest (its first version).
    pub seal: HourSeal,
    /// Versions of its object.
    pub versions: usize,
}

/// Where the history is read (the table through its hour index) and the chain is kept.
#[async_trait]
pub trait HistorySource: Send + Sync {
    /// Every history entry received in `hour` (the hour index, never a scan).
    async fn entries_of_hour(&self, hour: &str) -> Result<Vec<Entry>, StoreError>;
    /// The salt of the customer whose partition `pk` is (with `create`, given one if it has
    /// none; without, `None` if it has none); empty for a partition that names no customer.
    async fn salt_for(&self, pk: &str, create: bool) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every salt an entry of `pk` may have been sealed under, the customer's now first: a
    /// provider id aliased to a customer (`kyc customer alias`) after some of its hours were
    /// sealed had them sealed under the id's own salt, which stays a candidate while it exists.
    async fn salts_for(&self, pk: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.salt_for(pk, false).await?.into_iter().collect())
    }
    /// The deletion records written on or after `day` (`yyyy-mm-dd`), each with its item (the
    /// records are on the hour index: sealed with the hour they were written in).
    async fn deletion_records(
        &self,
        since_day: &str,
    ) -> Result<Vec<(Entry, DeletionRecord)>, StoreError>;
    /// The hours in which the customer has history entries now.
    async fn hours_of_customer(&self, customer: &str) -> Result<Vec<String>, StoreError>;
    /// The chain pointer, if an hour was sealed.
    async fn chain(&self) -> Result<Option<ChainPointer>, StoreError>;
    /// Moves the chain from `from` to `to` if it is still at `from`; `false` otherwise.
    async fn advance_chain(
        &self,
        from: Option<&ChainPointer>,
        to: &ChainPointer,
    ) -> Result<bool, StoreError>;
}

/// Where the digests are kept (S3 with Object Lock; the twin below).
#[async_trait]
pub trait DigestStore: Send + Sync {
    /// Writes the hour's digest unless one exists (`false`: it existed, nothing written).
    async fn put_new(&self, seal: &HourSeal) -> Result<bool, StoreError>;
    /// The hour's digest, if sealed.
    async fn get(&self, hour: &str) -> Result<Option<StoredDigest>, StoreError>;
}

/// The in-memory twin of the digest store: objects by hour, every version kept.
#[derive(Default)]
pub struct MemoryDigests {
    /// Every version of each hour's digest, by hour.
    pub objects: Mutex<BTreeMap<String, Vec<HourSeal>>>,
}

#[async_trait]
impl DigestStore for MemoryDigests {
    async fn put_new(&self, seal: &HourSeal) -> Result<bool, StoreError> {
        let mut o = self.objects.lock().unwrap();
        if o.contains_key(&seal.hour) {
            return Ok(false);
        }
        o.insert(seal.hour.clone(), vec![seal.clone()]);
        Ok(true)
    }
    async fn get(&self, hour: &str) -> Result<Option<StoredDigest>, StoreError> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .get(hour)
            .map(|v| StoredDigest {
                // The first version is the one sealed; a later one is a replacement (flagged).
                seal: v.first().cloned().expect("a version"),
                versions: v.len(),
            }))
    }
}

/// How the sealer runs.
#[derive(Debug, Clone, Copy)]
pub struct SealSettings {
    /// How long after an hour ends before it is sealed: longer than the longest writer's
    /// timeout plus the index's lag, so no late write looks like an insertion.
    pub delay: Duration,
    /// Hours sealed per run at most (a run that fell behind catches up over several).
    pub max_hours: usize,
}

impl Default for SealSettings {
    fn default() -> Self {
        Self {
            delay: Duration::minutes(20),
            max_hours: 24,
        }
    }
}

/// What one run sealed (counts only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SealReport {
    /// Hours sealed.
    pub hours: u64,
    /// Entries sealed.
    pub entries: u64,
    /// Digests a crashed run had written before moving the chain: kept as they are.
    pub found_written: u64,
    /// The last hour sealed.
    pub last_hour: Option<String>,
    /// Hours still to seal after this run (it stopped at `max_hours`).
    pub behind: u64,
}

/// Seals every hour that ended at least `delay` ago and is not sealed yet, in order.
pub async fn run(
    history: &dyn HistorySource,
    digests: &dyn DigestStore,
    settings: SealSettings,
    now: DateTime<Utc>,
) -> Result<SealReport, StoreError> {
    let mut report = SealReport::default();
    let mut chain = history.chain().await?;
    // The last hour that may be sealed: it ended `delay` ago.
    let last = (now - settings.delay - Duration::hours(1))
        .duration_trunc(Duration::hours(1))
        .expect("an hour divides time");
    let mut next = match &chain {
        Some(c) => {
            hour_start(&c.hour).ok_or_else(|| StoreError::Corrupt("chain pointer's hour".into()))?
                + Duration::hours(1)
        }
        // The chain's first hour: the last one that may be sealed.
        None => last,
    };
    // Salts by partition, for the whole run (a customer active over several hours is read once).
    let mut salts: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    while next <= last {
        if report.hours as usize == settings.max_hours {
            report.behind = ((last - next).num_hours() + 1) as u64;
            break;
        }
        let hour = hour_of(next);
        let mut leaves = Vec::new();
        for e in history.entries_of_hour(&hour).await? {
            let salt = match salts.get(&e.pk) {
                Some(s) => s.clone(),
                None => {
                    let s = history
                        .salt_for(&e.pk, true)
                        .await?
                        .ok_or_else(|| StoreError::Corrupt("a salt was not created".into()))?;
                    salts.insert(e.pk.clone(), s.clone());
                    s
                }
            };
            leaves.push(Leaf::of(&e, &salt));
        }
        report.entries += leaves.len() as u64;
        let mut seal = HourSeal::new(&hour, leaves, chain.as_ref(), now);
        if !digests.put_new(&seal).await? {
            // Written by a run that stopped before moving the chain: the locked one stands —
            // if it seals what this run read. Otherwise someone wrote it ahead (leaving out
            // entries they meant to change): stop, loudly.
            let found = digests
                .get(&hour)
                .await?
                .ok_or_else(|| StoreError::Corrupt("digest vanished".into()))?
                .seal;
            if found.leaves != seal.leaves || found.previous_root != seal.previous_root {
                tracing::error!(hour = %hour, "ALERT a digest exists for this hour and does not seal its history: written by something other than the seal");
                return Err(StoreError::Corrupt(format!(
                    "the digest of {hour} was not written by this seal: it does not seal the hour's history"
                )));
            }
            report.found_written += 1;
            seal = found;
        }
        let to = ChainPointer {
            hour: hour.clone(),
            root: seal.root,
        };
        if !history.advance_chain(chain.as_ref(), &to).await? {
            // Another run moved it: stop; the next run goes on from there.
            break;
        }
        chain = Some(to);
        report.hours += 1;
        report.last_hour = Some(hour);
        next += Duration::hours(1);
    }
    tracing::info!(
        hours = report.hours,
        entries = report.entries,
        behind = report.behind,
        "history sealed"
    );
    Ok(report)
}
