//! Canonical Xpollens statuses and the spellings the provider really sends.
//!
//! Each status has a `rank` that orders states along the provider's diagram (used only to break
//! ties between two events of the same instant) and a `final` flag (terminal in the diagram).

use super::lenient::squash;
use serde::Serialize;

/// A status as received: a canonical value, or the raw text we did not recognise (kept, never
/// guessed, never applied to the state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Status<T> {
    /// A canonical status.
    Known(T),
    /// The raw text, as sent.
    Unrecognised(String),
}

impl<T: Copy> Status<T> {
    /// The canonical status, if recognised.
    pub fn known(&self) -> Option<T> {
        match self {
            Status::Known(t) => Some(*t),
            Status::Unrecognised(_) => None,
        }
    }
}

/// What every canonical status enum offers to the state rules.
pub trait StatusRules: Copy + Serialize {
    /// The canonical name, as stored.
    fn name(self) -> &'static str;
    /// Position along the diagram, unique per status (1..=15).
    fn rank(self) -> u8;
    /// True when the status is terminal in the diagram.
    fn is_final(self) -> bool;
}

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $label:literal, rank $rank:literal, final $fin:literal, [$($spelling:literal),*]);+ $(;)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name { $(#[doc = concat!("`", $label, "`.")] #[serde(rename = $label)] $variant),+ }

        impl $name {
            /// Every status of the enum.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Parses any known spelling (case, `_`, spaces and documented typos ignored).
            pub fn parse(raw: &str) -> Status<$name> {
                match squash(raw).as_str() {
                    $($($spelling)|* => Status::Known($name::$variant),)+
                    _ => Status::Unrecognised(raw.trim().to_string()),
                }
            }
        }

        impl StatusRules for $name {
            fn name(self) -> &'static str { match self { $($name::$variant => $label),+ } }
            fn rank(self) -> u8 { match self { $($name::$variant => $rank),+ } }
            fn is_final(self) -> bool { match self { $($name::$variant => $fin),+ } }
        }
    };
}

status_enum!(
    /// KYC demand (callback 4). Final: Complete, Rejected, FraudSuspicion. KYB only:
    /// BeingReceived, FullyReceived. `Validated` is the label of Complete in the summary diagram.
    KycStatus {
        Initialized = "Initialized", rank 1, final false, ["initialized", "initialised"];
        BeingReceived = "BeingReceived", rank 2, final false, ["beingreceived"];
        FullyReceived = "FullyReceived", rank 3, final false, ["fullyreceived"];
        Pending = "Pending", rank 4, final false, ["pending"];
        Incomplete = "Incomplete", rank 5, final false, ["incomplete"];
        AwaitingExpertise = "AwaitingExpertise", rank 6, final false, ["awaitingexpertise", "awaintingexpertise", "awaitingexpertize"];
        Anomaly = "Anomaly", rank 7, final false, ["anomaly", "anomalie"];
        // Among finals, a higher rank wins a same-instant tie: the more conservative decision.
        Complete = "Complete", rank 8, final true, ["complete", "completed", "validated"];
        Rejected = "Rejected", rank 9, final true, ["rejected"];
        FraudSuspicion = "FraudSuspicion", rank 10, final true, ["fraudsuspicion", "fraudsuspiscion", "fraudsuspision"];
    }
);

status_enum!(
    /// One diligence (document) of a KYC demand.
    DiligenceStatus {
        Received = "Received", rank 1, final false, ["received"];
        ToReviewManually = "To_Review_Manually", rank 2, final false, ["toreviewmanually", "toreview"];
        Validated = "Validated", rank 3, final true, ["validated"];
        Refused = "Refused", rank 4, final true, ["refused", "rejected"];
    }
);

status_enum!(
    /// User record (callback 34). Legacy numeric codes: 1 Initialized, 2 InProgress,
    /// 4 Validated, 5 Refused (3 is not documented: left unrecognised).
    UserRecordStatus {
        Initialized = "Initialized", rank 1, final false, ["initialized", "initialised", "1"];
        InProgress = "InProgress", rank 2, final false, ["inprogress", "2"];
        WithoutKyc = "WithoutKYC", rank 3, final false, ["withoutkyc"];
        Validated = "Validated", rank 4, final true, ["validated", "4"];
        Refused = "Refused", rank 5, final true, ["refused", "5"];
    }
);

status_enum!(
    /// Strong-authentication result (callback 36). Each authentication is its own operation, so
    /// no status is final for the customer: a later authentication may fail after one succeeded.
    AuthenticationStatus {
        Pending = "Pending", rank 1, final false, ["pending"];
        Succeeded = "Succeeded", rank 2, final false, ["succeeded", "success", "succeded"];
        Failed = "Failed", rank 3, final false, ["failed", "failure"];
    }
);

status_enum!(
    /// User freeze (callback 15, query string `userstatus`): 1 = not frozen, 2 = frozen. Either
    /// can follow the other: neither is final.
    UserFreezeStatus {
        NotFrozen = "NotFrozen", rank 1, final false, ["1", "notfrozen", "unfrozen"];
        Frozen = "Frozen", rank 2, final false, ["2", "frozen"];
    }
);

status_enum!(
    /// PEP screening (`PoliticallyExposedPersonStatusCreatedOrUpdated`), derived from
    /// `isPoliticallyExposedPerson` and `finalDecisionPep` by [`pep_status`]. Latest wins (the
    /// callback is sent each time a value changes); at the same second the more restrictive.
    PepStatus {
        InAnalysis = "InAnalysis", rank 1, final false, ["inanalysis"];
        NotPep = "NotPep", rank 2, final true, ["notpep"];
        AwaitingDecision = "PepAwaitingDecision", rank 3, final false, ["pepawaitingdecision"];
        AcceptedWithEnhancedDueDiligence = "AcceptedWithEnhancedDueDiligence", rank 4, final true, ["acceptedwithenhancedduediligence"];
        Blocked = "Blocked", rank 5, final true, ["blocked"];
    }
);

/// The PEP status the two documented flags mean. `finalDecisionPep` false blocks onboarding
/// whatever else is said; true validates the PEP step, which only a PEP goes through, so it
/// is always an acceptance WITH enhanced due diligence (never a plain pass, even when
/// `isPoliticallyExposedPerson` says otherwise: the conservative reading of an inconsistency).
/// Without a decision: null = still in analysis, false = not a PEP, true = waiting for
/// Xpollens' decision.
pub fn pep_status(is_pep: Option<bool>, final_decision: Option<bool>) -> PepStatus {
    match (final_decision, is_pep) {
        (Some(false), _) => PepStatus::Blocked,
        (Some(true), _) => PepStatus::AcceptedWithEnhancedDueDiligence,
        (None, None) => PepStatus::InAnalysis,
        (None, Some(false)) => PepStatus::NotPep,
        (None, Some(true)) => PepStatus::AwaitingDecision,
    }
}

/// Reason of a failed strong authentication. Xpollens pads some values with a space
/// ("NotFound "): trimmed here, unknown values kept as sent.
pub fn authentication_reason(raw: &str) -> String {
    match squash(raw).as_str() {
        "timeout" => "TIMEOUT".into(),
        "canceled" | "cancelled" => "CANCELED".into(),
        "failed" => "FAILED".into(),
        "unprocessableentity" => "UnprocessableEntity".into(),
        "notfound" => "NotFound".into(),
        _ => raw.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_misspellings_map_to_canonical_statuses() {
        for raw in [
            "FraudSuspicion",
            "FraudSuspiscion",
            "Fraud_Suspicion",
            "fraudsuspicion",
        ] {
            assert_eq!(
                KycStatus::parse(raw),
                Status::Known(KycStatus::FraudSuspicion),
                "{raw}"
            );
        }
        for raw in ["AwaitingExpertise", "AwaintingExpertise"] {
            assert_eq!(
                KycStatus::parse(raw),
                Status::Known(KycStatus::AwaitingExpertise)
            );
        }
        assert_eq!(
            DiligenceStatus::parse("To_Review_Manually"),
            Status::Known(DiligenceStatus::ToReviewManually)
        );
        assert_eq!(
            AuthenticationStatus::parse("succeeded"),
            Status::Known(AuthenticationStatus::Succeeded)
        );
        assert_eq!(
            UserRecordStatus::parse("4"),
            Status::Known(UserRecordStatus::Validated)
        );
        assert_eq!(authentication_reason("NotFound "), "NotFound");
        assert_eq!(
            authentication_reason("UnprocessableEntity "),
            "UnprocessableEntity"
        );
    }

    #[test]
    fn unknown_statuses_are_kept_not_guessed() {
        assert_eq!(
            KycStatus::parse(" Frozen "),
            Status::Unrecognised("Frozen".into())
        );
        assert_eq!(
            UserRecordStatus::parse("3"),
            Status::Unrecognised("3".into())
        );
    }

    #[test]
    fn ranks_are_unique_and_finals_match_the_diagrams() {
        fn check<T: StatusRules + PartialEq + std::fmt::Debug>(all: &[T], finals: &[T]) {
            let mut ranks: Vec<u8> = all.iter().map(|s| s.rank()).collect();
            ranks.sort_unstable();
            ranks.dedup();
            assert_eq!(ranks.len(), all.len());
            assert!(ranks.iter().all(|r| (1..=15).contains(r)));
            for s in all {
                assert_eq!(s.is_final(), finals.contains(s), "{s:?}");
            }
        }
        use KycStatus as K;
        check(K::ALL, &[K::Complete, K::Rejected, K::FraudSuspicion]);
        check(
            DiligenceStatus::ALL,
            &[DiligenceStatus::Validated, DiligenceStatus::Refused],
        );
        check(
            UserRecordStatus::ALL,
            &[UserRecordStatus::Validated, UserRecordStatus::Refused],
        );
        check(AuthenticationStatus::ALL, &[]);
        use PepStatus as P;
        check(
            P::ALL,
            &[P::NotPep, P::AcceptedWithEnhancedDueDiligence, P::Blocked],
        );
    }

    #[test]
    fn pep_flags_map_to_one_status_and_a_negative_decision_always_blocks() {
        use PepStatus as P;
        let all = [None, Some(false), Some(true)];
        for is_pep in all {
            assert_eq!(pep_status(is_pep, Some(false)), P::Blocked);
            assert_eq!(
                pep_status(is_pep, Some(true)),
                P::AcceptedWithEnhancedDueDiligence
            );
        }
        assert_eq!(pep_status(None, None), P::InAnalysis);
        assert_eq!(pep_status(Some(false), None), P::NotPep);
        assert_eq!(pep_status(Some(true), None), P::AwaitingDecision);
        // At the same second the more restrictive status wins.
        assert!(P::Blocked.rank() > P::AcceptedWithEnhancedDueDiligence.rank());
        assert!(P::AwaitingDecision.rank() > P::NotPep.rank());
    }
}
