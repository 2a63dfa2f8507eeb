//! What the bank's own people and systems did about a customer: adjudications, legal holds,
//! closures, erasures, personal data opened or exported. Each is recorded in the customer's
//! history at the customer level (`C#<customer>`, `HIST#<t>#<id>`: `docs/table-design.md`),
//! written only by the decision and lifecycle roles and by operators, with the caller's AWS
//! identity and a reason code — never personal data (ids, codes and ARNs only).
//!
//! Port [`BankHistory`], in-memory twin [`MemoryBankHistory`], DynamoDB adapter
//! `kyc_aws::bank_history::DynamoBankHistory`.

use crate::intake::{sha256_hex, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One action of the bank on a customer's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BankAction {
    /// When the bank acted.
    pub at: DateTime<Utc>,
    /// What was done: `decisionResolved`, `legalHold`, `legalHoldReleased`,
    /// `relationshipEnded`, `erased`, `personalDataRevealed`, `evidenceExported`...
    pub action: String,
    /// Who did it: the caller's AWS identity (an IAM/STS ARN), or the function's name.
    pub operator: String,
    /// Why: a short code the bank's procedures define (never free text).
    pub reason: String,
    /// What else the action needs to be understood (codes, ids, versions; no personal data).
    #[serde(default)]
    pub detail: Value,
}

impl BankAction {
    /// Stable id of the action: the same action recorded twice (a retry) is one entry.
    pub fn id(&self) -> String {
        let digest = sha256_hex(
            format!(
                "{}\n{}\n{}\n{}",
                crate::keys::key_time(self.at),
                self.action,
                self.operator,
                self.reason
            )
            .as_bytes(),
        );
        format!("bank:{}", &digest[..32])
    }
}

/// The bank's actions on customers, kept in their history.
#[async_trait]
pub trait BankHistory: Send + Sync {
    /// Appends `action` to `customer`'s history; the same action again changes nothing.
    async fn append(&self, customer: &str, action: &BankAction) -> Result<(), StoreError>;
    /// The customer's bank actions, oldest first.
    async fn list(&self, customer: &str) -> Result<Vec<BankAction>, StoreError>;
}

/// The in-memory twin of the bank history.
#[derive(Default)]
pub struct MemoryBankHistory {
    actions: Mutex<BTreeMap<String, BTreeMap<String, BankAction>>>,
}

#[async_trait]
impl BankHistory for MemoryBankHistory {
    async fn append(&self, customer: &str, action: &BankAction) -> Result<(), StoreError> {
        let key = crate::keys::history_sk(action.at, &action.id());
        self.actions
            .lock()
            .unwrap()
            .entry(customer.to_string())
            .or_default()
            .entry(key)
            .or_insert_with(|| action.clone());
        Ok(())
    }

    async fn list(&self, customer: &str) -> Result<Vec<BankAction>, StoreError> {
        Ok(self
            .actions
            .lock()
            .unwrap()
            .get(customer)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn action(minute: u32, what: &str) -> BankAction {
        BankAction {
            at: Utc.with_ymd_and_hms(2026, 12, 6, 10, minute, 0).unwrap(),
            action: what.into(),
            operator: "arn:aws:sts::123456789012:assumed-role/kyc-operator/jane".into(),
            reason: "AML-REVIEW-7".into(),
            detail: Value::Null,
        }
    }

    #[tokio::test]
    async fn actions_are_kept_once_in_time_order() {
        let h = MemoryBankHistory::default();
        h.append("c-1", &action(5, "legalHold")).await.unwrap();
        h.append("c-1", &action(1, "decisionResolved"))
            .await
            .unwrap();
        h.append("c-1", &action(5, "legalHold")).await.unwrap();
        let got: Vec<String> = h
            .list("c-1")
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(got, ["decisionResolved", "legalHold"]);
        assert!(h.list("c-2").await.unwrap().is_empty());
        assert_ne!(action(1, "a").id(), action(1, "b").id());
    }
}
