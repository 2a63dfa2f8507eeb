//! `kyc verify`: the history as it is now against the sealed hours. Reports every entry added,
//! changed, removed or moved after its hour was sealed (by the hour and the entry's key, never
//! its content), every digest replaced or altered and every break of the chain — and tells the
//! bank's own deletions (retention, erasure: their deletion records) from tampering.

use crate::leaf::Leaf;
use crate::merkle::Hash;
use crate::seal::{hour_start, DigestStore, HistorySource};
use kyc_core::intake::StoreError;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Something that should not be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Finding {
    /// An entry that was not there when its hour was sealed.
    #[serde(rename_all = "camelCase")]
    Added {
        /// The hour the entry belongs to.
        hour: String,
        /// Its partition key.
        pk: String,
        /// Its sort key.
        sk: String,
    },
    /// An entry whose content is not what was sealed.
    #[serde(rename_all = "camelCase")]
    Changed {
        /// The hour the entry belongs to.
        hour: String,
        /// Its partition key.
        pk: String,
        /// Its sort key.
        sk: String,
    },
    /// A sealed entry that is gone, with no deletion record for it (its leaf key: the entry's
    /// keys cannot be recovered from it).
    #[serde(rename_all = "camelCase")]
    Removed {
        /// The sealed hour.
        hour: String,
        /// The entry's leaf key.
        leaf: String,
    },
    /// A sealed entry gone from its place and found, same content, under other keys (its time
    /// or id rewritten: the history reordered).
    #[serde(rename_all = "camelCase")]
    Moved {
        /// The hour it was sealed in.
        from_hour: String,
        /// Its leaf key.
        leaf: String,
        /// The hour it is in now.
        hour: String,
        /// Its partition key now.
        pk: String,
        /// Its sort key now.
        sk: String,
    },
    /// The digest object has more than one version: it was overwritten.
    #[serde(rename_all = "camelCase")]
    DigestReplaced {
        /// The hour.
        hour: String,
        /// Versions of the digest object.
        versions: usize,
    },
    /// The digest's root is not the root of its leaves.
    #[serde(rename_all = "camelCase")]
    RootMismatch {
        /// The hour.
        hour: String,
    },
    /// The digest's previous root is not the previous hour's.
    #[serde(rename_all = "camelCase")]
    ChainBroken {
        /// The hour.
        hour: String,
    },
    /// A deletion record missing from the sealed hour it says it was written in: put later,
    /// by hand (it explains nothing).
    #[serde(rename_all = "camelCase")]
    UnsealedDeletionRecord {
        /// The hour the record says it was written in.
        hour: String,
        /// The record's sort key.
        sk: String,
    },
}

/// A sealed entry gone by the bank's own rule (a deletion record names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explained {
    /// The sealed hour.
    pub hour: String,
    /// The entry's leaf key.
    pub leaf: String,
    /// `retention` or `erasure`.
    pub rule: String,
    /// The deletion's reason code.
    pub reason: String,
    /// When it was deleted.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// What `kyc verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// Sealed hours checked.
    pub hours_checked: u64,
    /// Sealed leaves checked.
    pub leaves_checked: u64,
    /// History entries checked.
    pub entries_checked: u64,
    /// Hours asked for that are not sealed (yet, or before the chain began): not checked.
    pub not_sealed: Vec<String>,
    /// What should not be.
    pub tampering: Vec<Finding>,
    /// Sealed entries gone by a deletion record.
    pub explained: Vec<Explained>,
}

impl VerifyReport {
    /// True when nothing was tampered with.
    pub fn is_clean(&self) -> bool {
        self.tampering.is_empty()
    }
}

/// Verifies `hours` (`yyyy-mm-ddTHH`), reading the history through the hour index.
pub async fn verify(
    history: &dyn HistorySource,
    digests: &dyn DigestStore,
    hours: &[String],
) -> Result<VerifyReport, StoreError> {
    verify_with(history, digests, hours, &[]).await
}

/// [`verify`], with `extra` entries read from the table itself (a customer's partitions): an
/// entry written without its hour-index keys is not in the index, and would go unseen.
pub async fn verify_with(
    history: &dyn HistorySource,
    digests: &dyn DigestStore,
    hours: &[String],
    extra: &[crate::leaf::Entry],
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let hours: BTreeSet<&String> = hours.iter().collect();
    let Some(first) = hours.iter().next() else {
        return Ok(report);
    };
    let since_day = first.get(..10).unwrap_or_default().to_string();
    // Sealed leaves the bank deleted, by hour: (rule, reason, at).
    let mut deleted: BTreeMap<(String, String), (String, String, chrono::DateTime<chrono::Utc>)> =
        BTreeMap::new();
    let mut sealed_hours: BTreeMap<String, Option<crate::seal::HourSeal>> = BTreeMap::new();
    for (entry, r) in history.deletion_records(&since_day).await? {
        // Trusted only if sealed with the hour it was written in (or that hour is not sealed
        // yet: the next seal takes it).
        let written = entry.sk.get(..13).unwrap_or_default().to_string();
        if !sealed_hours.contains_key(&written) {
            let seal = digests.get(&written).await?.map(|d| d.seal);
            sealed_hours.insert(written.clone(), seal);
        }
        if let Some(Some(seal)) = sealed_hours.get(&written) {
            if !seal.leaves.contains(&Leaf::of(&entry, &[])) {
                report.tampering.push(Finding::UnsealedDeletionRecord {
                    hour: written,
                    sk: entry.sk.clone(),
                });
                continue;
            }
        }
        for (hour, leaves) in &r.leaves {
            for leaf in leaves {
                deleted.insert(
                    (hour.clone(), leaf.clone()),
                    (r.rule.clone(), r.reason.clone(), r.at),
                );
            }
        }
    }
    // Candidate salts by partition, read once per run.
    let mut salts: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    let mut removed: Vec<(String, Hash, Hash)> = Vec::new(); // (hour, key, content)
    let mut added: Vec<(String, String, String, Hash)> = Vec::new(); // (hour, pk, sk, content)
    for hour in hours {
        let Some(stored) = digests.get(hour).await? else {
            report.not_sealed.push(hour.clone());
            continue;
        };
        report.hours_checked += 1;
        let seal = &stored.seal;
        if stored.versions > 1 {
            report.tampering.push(Finding::DigestReplaced {
                hour: hour.clone(),
                versions: stored.versions,
            });
        }
        if seal.recomputed_root() != seal.root || &seal.hour != hour {
            report
                .tampering
                .push(Finding::RootMismatch { hour: hour.clone() });
        }
        if let Some(prev) = &seal.previous_hour {
            let linked = match digests.get(prev).await? {
                Some(p) => Some(p.seal.root) == seal.previous_root,
                None => false,
            };
            if !linked {
                report
                    .tampering
                    .push(Finding::ChainBroken { hour: hour.clone() });
            }
        }
        let sealed: BTreeMap<Hash, Hash> = seal.leaves.iter().map(|l| (l.key, l.content)).collect();
        report.leaves_checked += sealed.len() as u64;
        let mut now: BTreeMap<Hash, (String, String, Hash)> = BTreeMap::new();
        let mut entries = history.entries_of_hour(hour).await?;
        for e in extra {
            let in_hour = e.sk.get(5..18) == Some(hour.as_str());
            if in_hour && !entries.iter().any(|x| x.pk == e.pk && x.sk == e.sk) {
                entries.push(e.clone());
            }
        }
        for e in entries {
            report.entries_checked += 1;
            if !salts.contains_key(&e.pk) {
                salts.insert(e.pk.clone(), history.salts_for(&e.pk).await?);
            }
            let (leaf, _) =
                crate::leaf::leaf_as_sealed(&e, &salts[&e.pk], |k| sealed.contains_key(k));
            now.insert(leaf.key, (e.pk, e.sk, leaf.content));
        }
        for (key, content) in &sealed {
            match now.get(key) {
                Some((pk, sk, c)) if c != content => report.tampering.push(Finding::Changed {
                    hour: hour.clone(),
                    pk: pk.clone(),
                    sk: sk.clone(),
                }),
                Some(_) => {}
                None => match deleted.get(&(hour.clone(), hex::encode(key))) {
                    Some((rule, reason, at)) => report.explained.push(Explained {
                        hour: hour.clone(),
                        leaf: hex::encode(key),
                        rule: rule.clone(),
                        reason: reason.clone(),
                        at: *at,
                    }),
                    None => removed.push((hour.clone(), *key, *content)),
                },
            }
        }
        for (key, (pk, sk, content)) in now {
            if !sealed.contains_key(&key) {
                added.push((hour.clone(), pk, sk, content));
            }
        }
    }
    // A removal and an addition of the same content: one entry moved (reordered).
    for (from_hour, key, content) in removed {
        match added.iter().position(|a| a.3 == content) {
            Some(i) => {
                let (hour, pk, sk, _) = added.remove(i);
                report.tampering.push(Finding::Moved {
                    from_hour,
                    leaf: hex::encode(key),
                    hour,
                    pk,
                    sk,
                });
            }
            None => report.tampering.push(Finding::Removed {
                hour: from_hour,
                leaf: hex::encode(key),
            }),
        }
    }
    for (hour, pk, sk, _) in added {
        report.tampering.push(Finding::Added { hour, pk, sk });
    }
    Ok(report)
}

/// Every hour from `since` to `until` (both included).
pub fn hours_between(
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut t = hour_start(&crate::seal::hour_of(since)).expect("an hour");
    while t <= until {
        out.push(crate::seal::hour_of(t));
        t += chrono::Duration::hours(1);
    }
    out
}
