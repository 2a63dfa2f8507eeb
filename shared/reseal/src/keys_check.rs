//! `kyc keys check` (issue 21): is every key a stored value is sealed under still in its
//! provider's keyring? A keyring that lost a key (deleted, restored from an old copy, edited
//! by hand) silently loses every value sealed under it; this says so before a customer does.
//!
//! The same scan as [`crate::run`] over the same port ([`SealedItems`]) and the same places
//! ([`sealed_values`]), counting each value under its `<version>.<keyId>`
//! ([`usage_label`]); nothing is written. With `open`, every value is also opened with its
//! binding (the proof of a restore drill: the restored keyring opens everything).

use crate::{missing_keys, sealed_values, value_at, ItemKey, Place, ResealError, SealedItems};
use kyc_core::crypto::{usage_label, Keyring};
use kyc_core::intake::Provider;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// At most this many values that do not open are listed (all are counted).
const LISTED: usize = 20;

/// A value that does not open (with `open`), or whose key is missing: where it is and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unopened {
    /// The item's partition key.
    pub pk: String,
    /// The item's sort key.
    pub sk: String,
    /// `v2.<keyId>`... of the value; never the value.
    pub sealed_as: String,
    /// Why it does not open (never the value).
    pub error: String,
}

/// What `kyc keys check` found (printed as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCheckReport {
    /// The providers checked.
    pub providers: Vec<String>,
    /// Items read.
    pub items_scanned: u64,
    /// Sealed values found in them.
    pub sealed_values: u64,
    /// Per provider, values per `<version>.<keyId>`.
    pub in_use: BTreeMap<String, BTreeMap<String, u64>>,
    /// Per provider, key ids stored values use that the keyring does not hold.
    pub missing_keys: BTreeMap<String, Vec<String>>,
    /// Values sealed under a missing key, plus (with `open`) values that did not open: each
    /// is lost until its key comes back. The metric `SealedValuesWithoutKey`.
    pub values_without_key: u64,
    /// With `open`: values opened.
    pub opened: Option<u64>,
    /// Up to 20 of the values counted in `values_without_key`.
    pub unopened: Vec<Unopened>,
    /// Per provider, the id of the keyring's naming key (`null`: none). Trust & Sign needs
    /// one to quarantine bad archives.
    pub naming_keys: BTreeMap<String, Option<String>>,
    /// No value without its key, and Trust & Sign (when checked) has its naming key.
    pub ok: bool,
    /// A one-line summary for the operator.
    pub message: String,
}

impl KeyCheckReport {
    fn unopened(&mut self, key: &ItemKey, sealed: &str, error: String) {
        self.values_without_key += 1;
        if self.unopened.len() < LISTED {
            self.unopened.push(Unopened {
                pk: key.pk.clone(),
                sk: key.sk.clone(),
                sealed_as: usage_label(sealed),
                error,
            });
        }
    }
}

/// Scans every item once; per provider in `keyrings`, counts the values per key id and
/// finds the ids the keyring lacks. Errors only when the store does not answer.
pub async fn check_keys(
    items: &dyn SealedItems,
    keyrings: &BTreeMap<Provider, Keyring>,
    open: bool,
    page_size: usize,
    on_page: &(dyn Fn(&KeyCheckReport) + Send + Sync),
) -> Result<KeyCheckReport, ResealError> {
    let mut report = KeyCheckReport {
        providers: keyrings.keys().map(|p| p.as_str().to_string()).collect(),
        opened: open.then_some(0),
        ..KeyCheckReport::default()
    };
    let mut after: Option<ItemKey> = None;
    loop {
        let page = items.page(after.as_ref(), page_size.max(1)).await?;
        for item in &page.items {
            report.items_scanned += 1;
            for found in sealed_values(item) {
                let Some(ring) = keyrings.get(&found.provider) else {
                    continue;
                };
                let Some(at_path) = value_at(&item.attributes, &found.path).and_then(Value::as_str)
                else {
                    continue;
                };
                let sealed = match found.place {
                    Place::Inline => at_path.to_string(),
                    Place::Offloaded => items.read_body(at_path).await?,
                };
                report.sealed_values += 1;
                let label = usage_label(&sealed);
                *report
                    .in_use
                    .entry(found.provider.as_str().to_string())
                    .or_default()
                    .entry(label.clone())
                    .or_default() += 1;
                let key_id = label.split_once('.').map(|(_, id)| id);
                if !key_id.is_some_and(|id| ring.key_ids().any(|k| k == id)) {
                    let why = match key_id {
                        Some(id) => format!("key id {id:?} is not in the keyring"),
                        None => "not a sealed value".to_string(),
                    };
                    report.unopened(&item.key, &sealed, why);
                } else if open {
                    match ring.open(&found.aad, &sealed) {
                        Ok(_) => *report.opened.get_or_insert(0) += 1,
                        Err(e) => report.unopened(&item.key, &sealed, e.to_string()),
                    }
                }
            }
        }
        on_page(&report);
        match page.last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    for (provider, ring) in keyrings {
        let name = provider.as_str().to_string();
        let missing = missing_keys(report.in_use.get(&name), ring);
        report.missing_keys.insert(name.clone(), missing);
        report
            .naming_keys
            .insert(name, ring.naming_key().map(|n| n.id().to_string()));
    }
    let missing: BTreeSet<&String> = report.missing_keys.values().flatten().collect();
    let trust_sign_unnamed = report
        .naming_keys
        .get(Provider::TrustSign.as_str())
        .is_some_and(Option::is_none);
    report.ok = report.values_without_key == 0 && !trust_sign_unnamed;
    report.message = if report.ok {
        format!(
            "every stored value's key is in its keyring{}",
            if open { ", and every value opens" } else { "" }
        )
    } else {
        let mut why = Vec::new();
        if report.values_without_key > 0 {
            why.push(format!(
                "{} value(s) cannot be opened (missing key ids: {})",
                report.values_without_key,
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if trust_sign_unnamed {
            why.push(
                "the Trust & Sign keyring has no namingKey (bad archives cannot be quarantined)"
                    .into(),
            );
        }
        why.join("; ")
    };
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySealedItems;
    use kyc_core::crypto::{Aad, NamingKey, PayloadKey};
    use kyc_core::intake::EventRecord;
    use serde_json::json;

    fn key(id: &str, byte: u8) -> PayloadKey {
        PayloadKey::new(id, [byte; 32]).unwrap()
    }

    /// Two Xpollens events, one sealed under k1 and one under k2.
    fn table() -> MemorySealedItems {
        let t = MemorySealedItems::default();
        for (event, ring) in [
            ("e1", Keyring::new(key("k1", 1), vec![])),
            ("e2", Keyring::new(key("k2", 2), vec![])),
        ] {
            let aad: Aad = EventRecord::body_aad(Provider::Xpollens, event, Some("c1"));
            t.put(
                &format!("EVENT#xpollens#{event}"),
                "EVENT",
                json!({"provider": "xpollens", "eventId": event, "subject": "c1",
                       "sealedBody": ring.seal(&aad, b"{}")}),
            );
        }
        t
    }

    fn rings(ring: Keyring) -> BTreeMap<Provider, Keyring> {
        [(Provider::Xpollens, ring)].into()
    }

    #[tokio::test]
    async fn every_key_present_and_every_value_opening_is_ok() {
        let ring = Keyring::new(key("k2", 2), vec![key("k1", 1)]);
        let r = check_keys(&table(), &rings(ring), true, 1, &|_| {})
            .await
            .unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(
            (r.sealed_values, r.opened, r.values_without_key),
            (2, Some(2), 0)
        );
        assert_eq!(
            r.in_use["xpollens"],
            BTreeMap::from([("v2.k1".to_string(), 1), ("v2.k2".to_string(), 1)])
        );
        assert!(r.missing_keys["xpollens"].is_empty());
    }

    /// Issue 21: a key missing from the keyring is found without opening anything.
    #[tokio::test]
    async fn a_key_missing_from_the_keyring_is_reported_with_its_values() {
        let ring = Keyring::new(key("k2", 2), vec![]);
        let r = check_keys(&table(), &rings(ring), false, 100, &|_| {})
            .await
            .unwrap();
        assert!(!r.ok);
        assert_eq!(r.missing_keys["xpollens"], ["k1"]);
        assert_eq!((r.values_without_key, r.opened), (1, None));
        assert_eq!(r.unopened[0].pk, "EVENT#xpollens#e1");
        assert_eq!(r.unopened[0].sealed_as, "v2.k1");
        assert!(r.message.contains("missing key ids: k1"), "{}", r.message);
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            !text.contains("sealedBody") && !text.contains("{}\""),
            "{text}"
        );
    }

    /// A key id present with other material (a keyring restored from the wrong copy): the
    /// headers look fine, only opening tells.
    #[tokio::test]
    async fn with_open_a_key_with_other_material_is_found() {
        let ring = Keyring::new(key("k2", 2), vec![key("k1", 9)]);
        let headers = check_keys(&table(), &rings(ring.clone()), false, 100, &|_| {})
            .await
            .unwrap();
        assert!(headers.ok);
        let opened = check_keys(&table(), &rings(ring), true, 100, &|_| {})
            .await
            .unwrap();
        assert!(!opened.ok);
        assert_eq!((opened.opened, opened.values_without_key), (Some(1), 1));
        assert!(opened.unopened[0].error.contains("does not open"));
    }

    #[tokio::test]
    async fn a_trust_sign_keyring_without_its_naming_key_is_not_ok() {
        let t = MemorySealedItems::default();
        let ring = Keyring::new(key("ts-1", 3), vec![]);
        let named = ring
            .clone()
            .with_naming_key(NamingKey::new("n1", [4; 32]).unwrap());
        let r = check_keys(
            &t,
            &[(Provider::TrustSign, ring)].into(),
            false,
            100,
            &|_| {},
        )
        .await
        .unwrap();
        assert!(!r.ok);
        assert!(r.message.contains("no namingKey"), "{}", r.message);
        let r = check_keys(
            &t,
            &[(Provider::TrustSign, named)].into(),
            false,
            100,
            &|_| {},
        )
        .await
        .unwrap();
        assert!(r.ok);
        assert_eq!(r.naming_keys["trust_sign"], Some("n1".to_string()));
    }
}
