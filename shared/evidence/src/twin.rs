//! The in-memory twin of [`HistorySource`]: entries by hour, salts by customer, deletion
//! records, the chain pointer; and helpers that do to it what an intruder with table access
//! could (tests).

use crate::leaf::Entry;
use crate::seal::{hour_of, ChainPointer, HistorySource};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kyc_core::evidence::DeletionRecord;
use kyc_core::intake::StoreError;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct Tables {
    /// hour → entries.
    entries: BTreeMap<String, Vec<Entry>>,
    /// customer → salt.
    salts: BTreeMap<String, Vec<u8>>,
    /// provider partition → the customer its id is aliased to (`kyc customer alias`).
    aliases: BTreeMap<String, String>,
    records: Vec<(Entry, DeletionRecord)>,
    chain: Option<ChainPointer>,
}

/// The twin.
#[derive(Default)]
pub struct MemoryHistory {
    tables: Mutex<Tables>,
}

/// A deletion record as its item: `D#<day>` / `<time>#<id>`.
fn record_entry(record: &DeletionRecord) -> Entry {
    Entry {
        pk: kyc_core::keys::deletion_record_pk(record.at),
        sk: format!("{}#{}", kyc_core::keys::key_time(record.at), record.reason),
        item: serde_json::to_value(record).expect("a record serialises"),
    }
}

/// The customer of a provider partition (`<P>#C#<id>`), as the twin knows no aliases.
fn customer_of(pk: &str) -> Option<String> {
    pk.strip_prefix("C#")
        .and_then(kyc_core::keys::unescape_id)
        .or_else(|| kyc_core::keys::parse_customer_pk(pk).map(|(_, c)| c))
}

impl MemoryHistory {
    /// A history entry received at `at`.
    pub fn add(&self, pk: &str, sk: &str, at: DateTime<Utc>, item: serde_json::Value) {
        self.tables
            .lock()
            .unwrap()
            .entries
            .entry(hour_of(at))
            .or_default()
            .push(Entry {
                pk: pk.into(),
                sk: sk.into(),
                item,
            });
    }

    /// Applies `f` to the entry with these keys (an edit with table access).
    pub fn edit(&self, pk: &str, sk: &str, f: impl FnOnce(&mut Entry)) {
        let mut t = self.tables.lock().unwrap();
        let e = t
            .entries
            .values_mut()
            .flatten()
            .find(|e| e.pk == pk && e.sk == sk)
            .expect("the entry");
        f(e);
    }

    /// Removes the entry with these keys.
    pub fn remove(&self, pk: &str, sk: &str) -> Entry {
        let mut t = self.tables.lock().unwrap();
        for list in t.entries.values_mut() {
            if let Some(i) = list.iter().position(|e| e.pk == pk && e.sk == sk) {
                return list.remove(i);
            }
        }
        panic!("no such entry")
    }

    /// Moves an entry to other keys and hour, content unchanged (reordering).
    pub fn move_to(&self, pk: &str, sk: &str, new_sk: &str, at: DateTime<Utc>) {
        let mut e = self.remove(pk, sk);
        e.sk = new_sk.into();
        self.tables
            .lock()
            .unwrap()
            .entries
            .entry(hour_of(at))
            .or_default()
            .push(e);
    }

    /// What the lifecycle does: records the deletion, removes the entries and the salt.
    pub fn delete_customer(&self, customer: &str, record: DeletionRecord) {
        let entry = record_entry(&record);
        let mut t = self.tables.lock().unwrap();
        for list in t.entries.values_mut() {
            list.retain(|e| customer_of(&e.pk).as_deref() != Some(customer));
        }
        t.salts.remove(customer);
        // On the hour index, as the lifecycle writes it.
        t.entries
            .entry(hour_of(record.at))
            .or_default()
            .push(entry.clone());
        t.records.push((entry, record));
    }

    /// A deletion record put by hand to hide a removal (not on the hour index).
    pub fn forge_deletion_record(&self, record: DeletionRecord) {
        let entry = record_entry(&record);
        self.tables.lock().unwrap().records.push((entry, record));
    }

    /// `kyc customer alias`: the provider partition `pk` is `customer`'s from now on.
    pub fn alias(&self, pk: &str, customer: &str) {
        self.tables
            .lock()
            .unwrap()
            .aliases
            .insert(pk.into(), customer.into());
    }

    /// The customer's salt, if it has one.
    pub fn salt_of(&self, customer: &str) -> Option<Vec<u8>> {
        self.tables.lock().unwrap().salts.get(customer).cloned()
    }
}

#[async_trait]
impl HistorySource for MemoryHistory {
    async fn entries_of_hour(&self, hour: &str) -> Result<Vec<Entry>, StoreError> {
        Ok(self
            .tables
            .lock()
            .unwrap()
            .entries
            .get(hour)
            .cloned()
            .unwrap_or_default())
    }

    async fn salt_for(&self, pk: &str, create: bool) -> Result<Option<Vec<u8>>, StoreError> {
        let mut t = self.tables.lock().unwrap();
        let Some(customer) = t.aliases.get(pk).cloned().or_else(|| customer_of(pk)) else {
            return Ok(Some(Vec::new()));
        };
        if create && !t.salts.contains_key(&customer) {
            t.salts
                .insert(customer.clone(), rand::random::<[u8; 32]>().to_vec());
        }
        Ok(t.salts.get(&customer).cloned())
    }

    async fn salts_for(&self, pk: &str) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut salts: Vec<Vec<u8>> = self.salt_for(pk, false).await?.into_iter().collect();
        let t = self.tables.lock().unwrap();
        if t.aliases.contains_key(pk) {
            if let Some(own) = customer_of(pk).and_then(|id| t.salts.get(&id).cloned()) {
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
        Ok(self
            .tables
            .lock()
            .unwrap()
            .records
            .iter()
            .filter(|(_, r)| r.at.format("%Y-%m-%d").to_string().as_str() >= since_day)
            .cloned()
            .collect())
    }

    async fn hours_of_customer(&self, customer: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .tables
            .lock()
            .unwrap()
            .entries
            .iter()
            .filter(|(_, list)| {
                list.iter()
                    .any(|e| customer_of(&e.pk).as_deref() == Some(customer))
            })
            .map(|(h, _)| h.clone())
            .collect())
    }

    async fn chain(&self) -> Result<Option<ChainPointer>, StoreError> {
        Ok(self.tables.lock().unwrap().chain.clone())
    }

    async fn advance_chain(
        &self,
        from: Option<&ChainPointer>,
        to: &ChainPointer,
    ) -> Result<bool, StoreError> {
        let mut t = self.tables.lock().unwrap();
        if t.chain.as_ref() != from {
            return Ok(false);
        }
        t.chain = Some(to.clone());
        Ok(true)
    }
}
