//! The mapping tables: from every status, flag and reason the providers' code stores to a
//! [`Decision`] with a stable reason code. Data, not code: `docs/decision.md` prints the same
//! rows, and a test fails when a status a parser knows has no row here.
//!
//! A stream the tables do not name is ignored (it is not decisive: strong authentication,
//! web views, PDF copies...). A decisive stream holding a status without a row maps to
//! `inReview` / `unknownStatus`: never to `verified`.

use crate::Decision;
use kyc_core::intake::Provider;

/// What one stored status means for the provider's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The stream says this about the customer.
    Decide {
        /// What the stream says.
        decision: Decision,
        /// Why the customer is not (or no longer) verified; `None` for `verified` and the
        /// plain steps of a running procedure.
        reason: Option<&'static str>,
        /// Stays `blocked` until the bank resolves it, whatever the stream says later.
        sticky: bool,
    },
    /// Known, and says nothing about the decision (e.g. a user who is not frozen).
    Neutral,
}

/// Which streams a row applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamName {
    /// The stream of this name.
    Exact(&'static str),
    /// Streams named at run time (`clientFile#<uuid>`).
    Prefix(&'static str),
}

impl StreamName {
    /// True when the stream `name` is one the row applies to.
    pub fn matches(self, name: &str) -> bool {
        match self {
            StreamName::Exact(s) => name == s,
            StreamName::Prefix(p) => name.starts_with(p),
        }
    }
    /// The streams as the printed tables name them (`clientFile#*`).
    pub fn label(self) -> String {
        match self {
            StreamName::Exact(s) => s.to_string(),
            StreamName::Prefix(p) => format!("{p}*"),
        }
    }
}

/// One row: `provider`, `stream`, `status` → `effect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The provider.
    pub provider: Provider,
    /// The streams it applies to.
    pub stream: StreamName,
    /// The stored canonical status.
    pub status: &'static str,
    /// What it means for the decision.
    pub effect: Effect,
}

impl Row {
    /// The rule's name, as `kyc decision explain` prints it.
    pub fn rule(&self) -> String {
        format!(
            "{}:{}={}",
            self.provider.as_str(),
            self.stream.label(),
            self.status
        )
    }
}

const fn decide(decision: Decision, reason: Option<&'static str>) -> Effect {
    Effect::Decide {
        decision,
        reason,
        sticky: false,
    }
}

const fn sticky(reason: &'static str) -> Effect {
    Effect::Decide {
        decision: Decision::Blocked,
        reason: Some(reason),
        sticky: true,
    }
}

use Decision::*;
use Provider::{Gopay, TrustSign, Xpollens};
use StreamName::{Exact, Prefix};

/// Xpollens KYC demand (callback 4), user record (34), user freeze (15).
const KYC_DEMAND: StreamName = Exact("kycDemand");
const USER_RECORD: StreamName = Exact("userRecord");
const USER_FREEZE: StreamName = Exact("userFreeze");
/// Xpollens PEP screening (`PoliticallyExposedPersonStatusCreatedOrUpdated`). The #31
/// complementary diligence stream is not decisive: it follows transfers (origin of funds), not
/// the customer's identity; an operator sees it in the provider detail.
const PEP_SCREENING: StreamName = Exact("pepScreening");
/// Trust & Sign: one stream per client file.
const CLIENT_FILE: StreamName = Prefix("clientFile#");
/// GoPay streams (`kyc_gopay::plan`).
const GOPAY_IDENTIFICATION: StreamName = Exact("gopayIdentification");
const GOPAY_CONSENT: StreamName = Exact("gopayConsent");
const GOPAY_BINDING: StreamName = Exact("gopayConsentBinding");

macro_rules! row {
    ($p:expr, $s:expr, $status:literal, $e:expr) => {
        Row {
            provider: $p,
            stream: $s,
            status: $status,
            effect: $e,
        }
    };
}

/// Every status row.
pub const ROWS: &[Row] = &[
    // Xpollens KYC demand: the newest demand is the customer's (a rejected demand is followed
    // by a new one), except fraud, which stays until the bank resolves it.
    row!(
        Xpollens,
        KYC_DEMAND,
        "Initialized",
        decide(ActionRequired, Some("documentsAwaited"))
    ),
    row!(Xpollens, KYC_DEMAND, "BeingReceived", decide(Pending, None)),
    row!(Xpollens, KYC_DEMAND, "FullyReceived", decide(Pending, None)),
    row!(Xpollens, KYC_DEMAND, "Pending", decide(Pending, None)),
    row!(
        Xpollens,
        KYC_DEMAND,
        "Incomplete",
        decide(ActionRequired, Some("incompleteFile"))
    ),
    row!(
        Xpollens,
        KYC_DEMAND,
        "AwaitingExpertise",
        decide(InReview, Some("manualReview"))
    ),
    row!(
        Xpollens,
        KYC_DEMAND,
        "Anomaly",
        decide(InReview, Some("anomaly"))
    ),
    row!(Xpollens, KYC_DEMAND, "Complete", decide(Verified, None)),
    row!(
        Xpollens,
        KYC_DEMAND,
        "Rejected",
        decide(Rejected, Some("kycRejected"))
    ),
    row!(
        Xpollens,
        KYC_DEMAND,
        "FraudSuspicion",
        sticky("fraudSuspicion")
    ),
    // Xpollens user record: the account's own verdict (sticky final in the state rules).
    row!(Xpollens, USER_RECORD, "Initialized", decide(Pending, None)),
    row!(Xpollens, USER_RECORD, "InProgress", decide(Pending, None)),
    row!(
        Xpollens,
        USER_RECORD,
        "WithoutKYC",
        decide(NotStarted, Some("kycNotStarted"))
    ),
    row!(Xpollens, USER_RECORD, "Validated", decide(Verified, None)),
    row!(
        Xpollens,
        USER_RECORD,
        "Refused",
        decide(Rejected, Some("userRecordRefused"))
    ),
    // Xpollens user freeze: either can follow the other, so a freeze lifted lifts the block.
    row!(
        Xpollens,
        USER_FREEZE,
        "Frozen",
        decide(Blocked, Some("userFrozen"))
    ),
    row!(Xpollens, USER_FREEZE, "NotFrozen", Effect::Neutral),
    // Xpollens PEP screening: onboarding waits for the screening; a refusal blocks until the
    // bank resolves it; an acceptance passes with the `enhancedDueDiligence` flag (INFO_FLAGS).
    row!(
        Xpollens,
        PEP_SCREENING,
        "InAnalysis",
        decide(Pending, Some("pepScreeningRunning"))
    ),
    row!(Xpollens, PEP_SCREENING, "NotPep", Effect::Neutral),
    row!(
        Xpollens,
        PEP_SCREENING,
        "PepAwaitingDecision",
        decide(InReview, Some("pepDecisionAwaited"))
    ),
    row!(
        Xpollens,
        PEP_SCREENING,
        "AcceptedWithEnhancedDueDiligence",
        Effect::Neutral
    ),
    row!(Xpollens, PEP_SCREENING, "Blocked", sticky("pepRefused")),
    // Trust & Sign client files (`clientFile.state`): the newest file decides; a fraud mark on
    // any file is a sticky block (see FLAG_ROWS).
    row!(
        TrustSign,
        CLIENT_FILE,
        "INITIALIZED",
        decide(ActionRequired, Some("customerAwaited"))
    ),
    row!(
        TrustSign,
        CLIENT_FILE,
        "PENDING",
        decide(ActionRequired, Some("customerAwaited"))
    ),
    row!(
        TrustSign,
        CLIENT_FILE,
        "RUNNING_POST_FINALIZATION",
        decide(Pending, None)
    ),
    row!(
        TrustSign,
        CLIENT_FILE,
        "WAITING",
        decide(InReview, Some("manualReview"))
    ),
    row!(
        TrustSign,
        CLIENT_FILE,
        "SUSPENDED",
        decide(InReview, Some("fileSuspended"))
    ),
    row!(TrustSign, CLIENT_FILE, "ACCEPTED", decide(Verified, None)),
    row!(
        TrustSign,
        CLIENT_FILE,
        "REJECTED",
        decide(Rejected, Some("fileRejected"))
    ),
    // A report without `clientFile.state` (stored as UNKNOWN).
    row!(
        TrustSign,
        CLIENT_FILE,
        "UNKNOWN",
        decide(InReview, Some("unknownStatus"))
    ),
    // GoPay identification (`state`; reasons in REASON_ROWS refine it).
    row!(
        Gopay,
        GOPAY_IDENTIFICATION,
        "PENDING",
        decide(Pending, None)
    ),
    row!(
        Gopay,
        GOPAY_IDENTIFICATION,
        "IDENTIFIED",
        decide(Verified, None)
    ),
    row!(
        Gopay,
        GOPAY_IDENTIFICATION,
        "PARTIALLY_IDENTIFIED",
        decide(ActionRequired, Some("partiallyIdentified"))
    ),
    row!(
        Gopay,
        GOPAY_IDENTIFICATION,
        "NOT_IDENTIFIED",
        decide(ActionRequired, Some("notIdentified"))
    ),
    // Identified, but not as the identity the customer declared.
    row!(
        Gopay,
        GOPAY_IDENTIFICATION,
        "IDENTITY_MISMATCH",
        decide(InReview, Some("identityMismatch"))
    ),
    // GoPay consent: without a working consent the identification cannot be followed.
    row!(Gopay, GOPAY_CONSENT, "GRANTED", Effect::Neutral),
    row!(
        Gopay,
        GOPAY_CONSENT,
        "DENIED",
        decide(ActionRequired, Some("consentDenied"))
    ),
    row!(
        Gopay,
        GOPAY_CONSENT,
        "EXCHANGE_FAILED",
        decide(ActionRequired, Some("consentNeeded"))
    ),
    row!(
        Gopay,
        GOPAY_CONSENT,
        "NEEDS_CONSENT",
        decide(ActionRequired, Some("consentNeeded"))
    ),
    row!(
        Gopay,
        GOPAY_CONSENT,
        "REVOKED",
        decide(ActionRequired, Some("consentRevoked"))
    ),
    row!(
        Gopay,
        GOPAY_CONSENT,
        "PROFILE_UNKNOWN",
        decide(InReview, Some("profileUnknown"))
    ),
    row!(
        Gopay,
        GOPAY_CONSENT,
        "PROFILE_LINKED_ELSEWHERE",
        decide(InReview, Some("profileLinkedElsewhere"))
    ),
    // A consent this customer started was completed by another customer: a fraud signal.
    row!(
        Gopay,
        GOPAY_BINDING,
        "MISMATCH",
        sticky("consentBindingMismatch")
    ),
];

/// A flag on a stream value (`StreamValue.flags`) that decides on its own, whatever the
/// status: applies to every decisive stream of the provider (`None`: of every provider).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagRow {
    /// The provider whose streams it applies to (`None`: every provider).
    pub provider: Option<Provider>,
    /// The flag.
    pub flag: &'static str,
    /// What it means for the decision.
    pub effect: Effect,
}

impl FlagRow {
    /// The row's name in applied rules (`trust_sign:flag=fraudMarked`).
    pub fn rule(&self) -> String {
        format!(
            "{}:flag={}",
            self.provider.map_or("any", Provider::as_str),
            self.flag
        )
    }
}

/// The flags that decide, whatever the status.
pub const FLAG_ROWS: &[FlagRow] = &[
    FlagRow {
        provider: Some(TrustSign),
        flag: "fraudMarked",
        effect: sticky("fraudMarked"),
    },
    FlagRow {
        provider: Some(TrustSign),
        flag: "reviewedOutcomeUnknown",
        effect: decide(InReview, Some("reviewOutcomeUnknown")),
    },
    FlagRow {
        provider: Some(TrustSign),
        flag: "unconfirmedFailures",
        effect: decide(InReview, Some("unconfirmedFailures")),
    },
    // Two events of one instant the state rules could not order by meaning.
    FlagRow {
        provider: None,
        flag: "sameSecondAmbiguous",
        effect: decide(InReview, Some("sameSecondAmbiguous")),
    },
];

/// Flags a stream value carries that change no decision but must reach whoever onboards the
/// customer (copied into the provider's and the overall decision's `flags`).
pub const INFO_FLAGS: &[&str] = &["enhancedDueDiligence"];

/// A GoPay identification reason (`detail.reasons[]`, GoPay's `reasons`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonRow {
    /// GoPay's reason code.
    pub reason: &'static str,
    /// What it means for the decision.
    pub effect: Effect,
}

impl ReasonRow {
    /// The row's name in applied rules.
    pub fn rule(&self) -> String {
        format!("gopay:gopayIdentification.reasons={}", self.reason)
    }
}

/// The GoPay reasons that decide.
pub const REASON_ROWS: &[ReasonRow] = &[
    ReasonRow {
        reason: "EXPIRED_IDENTIFICATION",
        effect: decide(Expired, Some("identificationExpired")),
    },
    ReasonRow {
        reason: "EXPIRED_IDENT_DOCUMENT",
        effect: decide(Expired, Some("documentExpired")),
    },
    ReasonRow {
        reason: "WAITING_IDENT_DOCUMENT",
        effect: decide(ActionRequired, Some("identDocumentAwaited")),
    },
    ReasonRow {
        reason: "WAITING_ADDITIONAL_DOCUMENT",
        effect: decide(ActionRequired, Some("additionalDocumentAwaited")),
    },
    ReasonRow {
        reason: "WAITING_ADDRESS",
        effect: decide(ActionRequired, Some("addressAwaited")),
    },
    ReasonRow {
        reason: "WAITING_BANK_ACCOUNT",
        effect: decide(ActionRequired, Some("bankAccountAwaited")),
    },
    ReasonRow {
        reason: "DENIED_FRAUD",
        effect: sticky("fraudDenied"),
    },
    ReasonRow {
        reason: "DENIED_FACEMATCH",
        effect: decide(Rejected, Some("faceMatchFailed")),
    },
    ReasonRow {
        reason: "DENIED_BAD_QUALITY_DOCUMENT",
        effect: decide(ActionRequired, Some("badQualityDocument")),
    },
];

/// The effect of a status without a row on a decisive stream.
pub const UNKNOWN_STATUS: Effect = decide(InReview, Some("unknownStatus"));
/// The effect of a GoPay reason without a row (its text is never copied).
pub const UNKNOWN_REASON: Effect = decide(InReview, Some("unknownReason"));

/// Whether `stream` of `provider` is decisive (named by a row).
pub fn is_decisive(provider: Provider, stream: &str) -> bool {
    ROWS.iter()
        .any(|r| r.provider == provider && r.stream.matches(stream))
}

/// The row of a stored status, if any.
pub fn row(provider: Provider, stream: &str, status: &str) -> Option<&'static Row> {
    ROWS.iter()
        .find(|r| r.provider == provider && r.stream.matches(stream) && r.status == status)
}

/// The flag row of `flag` on a stream of `provider`, if any.
pub fn flag_row(provider: Provider, flag: &str) -> Option<&'static FlagRow> {
    FLAG_ROWS
        .iter()
        .find(|f| f.flag == flag && f.provider.is_none_or(|p| p == provider))
}

/// The row of a GoPay reason, if any.
pub fn reason_row(reason: &str) -> Option<&'static ReasonRow> {
    REASON_ROWS.iter().find(|r| r.reason == reason)
}
