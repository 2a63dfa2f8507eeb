//! The bank's decision policy: which providers must have verified the customer, how long a
//! verification stays valid, which adjudications need a second approver. Versioned JSON in the
//! repository (`policy/kyc-decision.v1.json`, embedded), overridable by a file the function is
//! deployed with (`DECISION_POLICY_PATH`); validated at cold start, so a bad policy stops the
//! function instead of deciding wrongly. Not a secret: it is reviewed like code.
//!
//! The precedence is fixed (documented, not configurable): `blocked` > `rejected` > `inReview`
//! from any provider; then `verified` when the requirements are met; otherwise the furthest
//! of `expired` > `actionRequired` > `pending` > `notStarted` among the required providers.

use crate::Decision;
use kyc_core::intake::Provider;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The policy in the repository.
pub const DEFAULT_POLICY: &str = include_str!("../../../policy/kyc-decision.v1.json");

/// Which providers must have verified the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requirements {
    /// Every one of these providers must have verified the customer.
    #[serde(default)]
    pub all_of: Vec<Provider>,
    /// At least one of these (when not empty).
    #[serde(default)]
    pub any_of: Vec<Provider>,
}

/// The bank's decision policy (`policy/kyc-decision.v1.json`), validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// On every decision (`policyVersion`): which rules made it.
    pub policy_version: String,
    /// Which providers must have verified the customer.
    pub requirements: Requirements,
    /// A provider's verification expires this many days after its provider time (periodic
    /// review), unless the provider gives an earlier expiry.
    #[serde(default)]
    pub verified_valid_for_days: BTreeMap<Provider, u32>,
    /// Adjudication outcomes that need a second approver (another identity than the operator).
    #[serde(default)]
    pub second_approver_for: Vec<Decision>,
}

/// Why a policy is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON of the policy's shape (serde's message).
    #[error("policy is not valid JSON of the policy's shape: {0}")]
    Shape(String),
    /// The version is empty, too long or has other characters.
    #[error("policyVersion must be 1 to 64 characters of [A-Za-z0-9._-]")]
    Version,
    /// Neither `allOf` nor `anyOf` names a provider.
    #[error("requirements name no provider")]
    NoRequirement,
    /// A provider is named twice.
    #[error("provider {0} is both in allOf and anyOf, or twice in one")]
    Duplicate(&'static str),
    /// A validity period is out of bounds.
    #[error("verifiedValidForDays of {0} must be 1 to 3650")]
    Days(&'static str),
    /// A second approver is asked for an outcome no adjudication gives.
    #[error("secondApproverFor may name verified, rejected and blocked only")]
    Approver,
}

impl Policy {
    /// Parses and validates a policy.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        // serde's message names the field and position, never a value worth hiding.
        let p: Policy =
            serde_json::from_str(text).map_err(|e| PolicyError::Shape(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// The policy in the repository.
    pub fn default_policy() -> Self {
        Self::parse(DEFAULT_POLICY).expect("the repository's policy is valid (tested)")
    }

    /// Checks the rules [`Policy::parse`] enforces, on a policy built otherwise.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let v = &self.policy_version;
        if v.is_empty()
            || v.len() > 64
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(PolicyError::Version);
        }
        let r = &self.requirements;
        if r.all_of.is_empty() && r.any_of.is_empty() {
            return Err(PolicyError::NoRequirement);
        }
        let mut seen = Vec::new();
        for p in r.all_of.iter().chain(&r.any_of) {
            if seen.contains(p) {
                return Err(PolicyError::Duplicate(p.as_str()));
            }
            seen.push(*p);
        }
        for (p, days) in &self.verified_valid_for_days {
            if !(1..=3650).contains(days) {
                return Err(PolicyError::Days(p.as_str()));
            }
        }
        if self.second_approver_for.iter().any(|d| {
            !matches!(
                d,
                Decision::Verified | Decision::Rejected | Decision::Blocked
            )
        }) {
            return Err(PolicyError::Approver);
        }
        Ok(())
    }

    /// Every provider the requirements name.
    pub fn required(&self) -> impl Iterator<Item = Provider> + '_ {
        self.requirements
            .all_of
            .iter()
            .chain(&self.requirements.any_of)
            .copied()
    }

    /// Whether these providers' verifications meet the requirements.
    pub fn met_by(&self, verified: &[Provider]) -> bool {
        let r = &self.requirements;
        r.all_of.iter().all(|p| verified.contains(p))
            && (r.any_of.is_empty() || r.any_of.iter().any(|p| verified.contains(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_policy_is_valid() {
        let p = Policy::default_policy();
        assert!(!p.policy_version.is_empty());
        assert!(p.met_by(&[Provider::Gopay]));
        assert!(!p.met_by(&[]));
    }

    #[test]
    fn bad_policies_are_refused_with_the_rule_they_break() {
        let base = |req: &str, extra: &str| {
            format!(r#"{{"policyVersion":"v1","requirements":{req}{extra}}}"#)
        };
        let cases = [
            (base(r#"{"allOf":[]}"#, ""), PolicyError::NoRequirement),
            (
                base(r#"{"allOf":["gopay"],"anyOf":["gopay"]}"#, ""),
                PolicyError::Duplicate("gopay"),
            ),
            (
                base(
                    r#"{"allOf":["gopay"]}"#,
                    r#","verifiedValidForDays":{"gopay":0}"#,
                ),
                PolicyError::Days("gopay"),
            ),
            (
                base(
                    r#"{"allOf":["gopay"]}"#,
                    r#","secondApproverFor":["pending"]"#,
                ),
                PolicyError::Approver,
            ),
            (
                r#"{"policyVersion":"a b","requirements":{"allOf":["gopay"]}}"#.to_string(),
                PolicyError::Version,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Policy::parse(&text), Err(want), "{text}");
        }
        // Unknown fields and providers are refused, not ignored.
        assert!(matches!(
            Policy::parse(&base(r#"{"allOf":["gopay"]}"#, r#","precedence":[]"#)),
            Err(PolicyError::Shape(_))
        ));
        assert!(matches!(
            Policy::parse(&base(r#"{"allOf":["onfido"]}"#, "")),
            Err(PolicyError::Shape(_))
        ));
    }

    #[test]
    fn all_of_and_any_of_combine() {
        let p = Policy::parse(
            r#"{"policyVersion":"v2","requirements":{"allOf":["xpollens"],"anyOf":["gopay","trust_sign"]}}"#,
        )
        .unwrap();
        assert!(!p.met_by(&[Provider::Xpollens]));
        assert!(!p.met_by(&[Provider::Gopay]));
        assert!(p.met_by(&[Provider::Xpollens, Provider::TrustSign]));
    }
}
