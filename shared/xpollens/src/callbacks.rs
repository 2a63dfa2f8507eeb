//! Typed Xpollens callbacks. To support a new callback type: add a variant to
//! [`CallbackKind`], a `parse_*` function below, one arm in [`parse_callback`], and its state
//! rule in `plan.rs` (`proposal`, `finality`).

use super::dates::parse_body_date;
use super::lenient::squash;
use super::lenient::{array, field, integer, object, scalar_text, text};
use super::status::{
    authentication_reason, AuthenticationStatus, DiligenceStatus, KycStatus, Status,
    UserFreezeStatus, UserRecordStatus,
};
use chrono::{DateTime, Utc};
use kyc_core::redact::{Personal, Secret};
use serde_json::{Map, Value};

/// The callback number of the user's freeze status.
pub const USER_FREEZE: u32 = 15;
/// The callback number of the KYC demand's status.
pub const KYC_DEMAND: u32 = 4;
/// The callback number of the user record's status.
pub const USER_RECORD: u32 = 34;
/// The callback number of strong authentication enrolment.
pub const SCA_ENROLMENT: u32 = 35;
/// The callback number of a strong authentication's result.
pub const SCA_RESULT: u32 = 36;
/// The callback number of a diligence to upload again.
pub const DILIGENCE_REUPLOAD: u32 = 47;
/// The callback number of the KYC web view.
pub const KYC_WEBVIEW: u32 = 48;
/// The callback number of a complementary diligence of an incoming transfer.
pub const COMPLEMENTARY_DILIGENCE: u32 = 31;
/// The PEP screening callback is named, not numbered.
pub const PEP_SCREENING: &str = "PoliticallyExposedPersonStatusCreatedOrUpdated";
/// Callbacks whose data travels outside the body (query string: #01, #05, #15, #37; HTTP
/// headers: #36's header form): a fallback-queue copy may have lost it.
pub const DATA_OUTSIDE_THE_BODY: [u32; 5] = [1, 5, 15, 36, 37];

/// A callback type as Xpollens names it: a number (`"4"`, `4`, `"04"`) or a word
/// (`PoliticallyExposedPersonStatusCreatedOrUpdated`, `SepaCreditTransferCreatedOrUpdated`).
/// A word is kept as sent (at most 100 letters, digits, `_`, `-`, `.`): it is the only name
/// such a callback has in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackType {
    /// A numbered type (`4`).
    Number(u32),
    /// A named type, as sent.
    Named(String),
}

impl CallbackType {
    /// `None` for a type that is neither a number nor a word (blank, too long, other
    /// characters): such a callback is recorded as of an unknown type.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        if let Ok(n) = raw.parse::<u32>() {
            return Some(Self::Number(n));
        }
        let word = !raw.is_empty()
            && raw.len() <= 100
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        word.then(|| Self::Named(raw.to_string()))
    }

    /// The type's number, if it has one.
    pub fn number(&self) -> Option<u32> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Named(_) => None,
        }
    }

    /// True for the PEP screening callback, however its name is cased.
    pub fn is_pep_screening(&self) -> bool {
        matches!(self, Self::Named(n) if squash(n) == squash(PEP_SCREENING))
    }

    /// Whether two spellings name the same type (words ignore case).
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Number(a), Self::Number(b)) => a == b,
            (Self::Named(a), Self::Named(b)) => a.eq_ignore_ascii_case(b),
            _ => false,
        }
    }

    /// As the summary keeps it: a number stays a JSON number (as stored events have it).
    pub fn to_json(&self) -> Value {
        match self {
            Self::Number(n) => Value::from(*n),
            Self::Named(n) => Value::from(n.as_str()),
        }
    }
}

impl std::fmt::Display for CallbackType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Number(n) => write!(f, "{n}"),
            Self::Named(n) => f.write_str(n),
        }
    }
}

/// One callback as Xpollens sent it, normalised.
#[derive(Debug, Clone)]
pub struct Callback {
    /// `None` only for an unknown callback without a readable type.
    pub callback_type: Option<CallbackType>,
    /// `appUserId` in whatever casing it came.
    pub subject: Option<String>,
    /// What the body says, by type.
    pub kind: CallbackKind,
    /// The body's canonical digest (keys sorted, no whitespace), from the same parse: what tells
    /// a re-sent body from a different one.
    pub body_sha256: String,
}

/// A callback's content, for the types this product reads.
#[derive(Debug, Clone)]
pub enum CallbackKind {
    /// #4.
    KycDemand(KycDemand),
    /// #34.
    UserRecord(UserRecord),
    /// #35.
    ScaEnrolment(ScaEnrolment),
    /// #36.
    ScaResult(ScaResult),
    /// #47.
    DiligenceReupload(DiligenceReupload),
    /// #48.
    KycWebview(KycWebview),
    /// #15.
    UserFreeze(UserFreeze),
    /// PEP screening.
    PepScreening(PepScreening),
    /// #31.
    ComplementaryDiligence(ComplementaryDiligence),
    /// Every other type (payments, cards...): recorded raw, never rejected.
    Other,
}

/// PEP screening: each flag true, false, or null (`None`: null or absent). A value that is
/// none of these is kept as sent (`Err`), never guessed.
#[derive(Debug, Clone)]
pub struct PepScreening {
    /// `isPep`.
    pub is_pep: Result<Option<bool>, String>,
    /// `finalDecision`.
    pub final_decision: Result<Option<bool>, String>,
    /// `riskAnalysisStatut`: null, inProgress, done.
    pub risk_analysis: Option<String>,
}

/// #31: the complementary diligence of one incoming transfer (SCT IN or Instant Payment).
#[derive(Debug, Clone)]
pub struct ComplementaryDiligence {
    /// The diligence's status.
    pub status: Option<Status<DiligenceStatus>>,
    /// The diligence's type.
    pub diligence_type: Option<String>,
    /// Why, as the provider words it.
    pub reason: Option<String>,
    /// Cents of euro.
    pub amount: Option<i64>,
    /// The transfer's date, as sent.
    pub transfer_date: Option<String>,
    /// The transmitter's first and last (and birth) names: personal data, sealed.
    pub transmitter_full_name: Option<Personal>,
    /// SCT IN or Instant Payment, as sent.
    pub operation_type: Option<String>,
    /// The transfer's order id: the key of its diligence.
    pub order_id: Option<String>,
    /// The provider's match score of the transmitter's last name.
    pub score_name: Option<f64>,
    /// The provider's match score of the transmitter's first name.
    pub score_first_name: Option<f64>,
}

/// #4: the KYC demand's status and its diligences.
#[derive(Debug, Clone)]
pub struct KycDemand {
    /// `None` when the callback carries no status.
    pub status: Option<Status<KycStatus>>,
    /// v2 fields (`kycLevel`, `workflowCode`, `expectedDiligences`, `receivedDiligences`).
    pub v2: bool,
    /// v2 `kycLevel`.
    pub kyc_level: Option<String>,
    /// v2 `workflowCode`.
    pub workflow_code: Option<String>,
    /// v2 `expectedDiligences`.
    pub expected: Vec<ExpectedDiligence>,
    /// v1 `diligences` or v2 `receivedDiligences`.
    pub diligences: Vec<Diligence>,
}

/// A diligence the KYC demand expects (v2).
#[derive(Debug, Clone)]
pub struct ExpectedDiligence {
    /// The diligence's type.
    pub diligence_type: Option<String>,
    /// How many documents are expected.
    pub expected_count: Option<i64>,
    /// The document sub-types accepted.
    pub possible_sub_types: Vec<String>,
}

/// A diligence received, with its status.
#[derive(Debug, Clone)]
pub struct Diligence {
    /// The diligence's type.
    pub diligence_type: Option<String>,
    /// The diligence's status.
    pub status: Option<Status<DiligenceStatus>>,
    /// Free-text refusal reason from the provider ("Illegible document"...).
    pub reason: Option<String>,
    /// Attachment keys only: file names may carry personal data and stay in the sealed raw body.
    pub attachment_keys: Vec<String>,
    /// Attachments listed.
    pub attachment_count: usize,
}

/// #34: the user record's status.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The record's status.
    pub status: Option<Status<UserRecordStatus>>,
    /// Used to enrol strong authentication: treated as a secret.
    pub public_user_code: Option<Secret>,
    /// The identification level, as sent.
    pub identification_level: Option<String>,
}

/// #35: what the customer needs to enrol strong authentication.
#[derive(Debug, Clone)]
pub struct ScaEnrolment {
    /// The activation code: a secret.
    pub activation_code: Option<Secret>,
    /// The enrolment web view's URL: a secret.
    pub web_view_url: Option<Secret>,
    /// Provider error text; kept out of logs all the same.
    pub error_message: Option<String>,
}

/// #36: a strong authentication's result.
#[derive(Debug, Clone)]
pub struct ScaResult {
    /// The authentication's id.
    pub authentication_id: Option<String>,
    /// The authentication's status.
    pub status: Option<Status<AuthenticationStatus>>,
    /// Why, as the provider words it.
    pub reason: Option<String>,
    /// When the result was given.
    pub result_date: Option<DateTime<Utc>>,
    /// When the provider processed it.
    pub processed_date: Option<DateTime<Utc>>,
    /// The provider's response code.
    pub response_code: Option<i64>,
    /// What `Payload` held.
    pub payload: PayloadShape,
}

/// Callback 36 `Payload`: a JSON document serialised into a string, or empty, or null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PayloadShape {
    /// `null` or no `Payload`.
    Absent,
    /// An empty string.
    Empty,
    /// A JSON string holding JSON (or a JSON object sent as is).
    Json,
    /// A string that is not JSON: kept in the sealed raw body.
    Opaque,
}

/// Callback 15, sent as a query string (`?type=15&userstatus=1|2&userid=`).
#[derive(Debug, Clone)]
pub struct UserFreeze {
    /// Frozen or not.
    pub status: Option<Status<UserFreezeStatus>>,
}

/// #47: a diligence to upload again.
#[derive(Debug, Clone)]
pub struct DiligenceReupload {
    /// The upload web view's URL: a secret.
    pub web_view_url: Option<Secret>,
}

/// #48: the KYC web view.
#[derive(Debug, Clone)]
pub struct KycWebview {
    /// `url`: a secret.
    pub url: Option<Secret>,
    /// `token`: a secret.
    pub token: Option<Secret>,
    /// `webviewUrl`: a secret.
    pub web_view_url: Option<Secret>,
}

/// Why a body cannot be a callback (answered 400, recorded as a rejection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The body is not JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("body must be a JSON object")]
    NotAnObject,
    /// The body's type is not the URL's.
    #[error("callback type {body} in the body does not match type {path} in the URL")]
    TypeMismatch {
        /// The type in the URL.
        path: String,
        /// The type in the body.
        body: String,
    },
    /// The type needs an `appUserId` and has none.
    #[error("callback type {0} requires appUserId")]
    MissingSubject(String),
    /// The `appUserId` cannot be an id.
    #[error("appUserId is longer than 128 characters or contains control characters")]
    InvalidSubject,
}

/// Parses a callback body. `path_type` is the `{type}` of `/xpollens/callbacks/{type}` when the
/// callback URL names it; it fills a missing body type and must agree with a present one.
pub fn parse_callback(
    body: &[u8],
    path_type: Option<&CallbackType>,
) -> Result<Callback, CallbackError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json's message names line/column and the expected token, never the content.
        CallbackError::NotJson(e.to_string())
    })?;
    let obj = value.as_object().ok_or(CallbackError::NotAnObject)?;
    let body_sha256 = canonical_digest(&value);
    // Callback 36 nests everything under `Header`.
    let header = object(obj, &["Header"]);
    let fields = header.unwrap_or(obj);

    // A type that is neither a number nor a word is recorded raw like any other unknown
    // type, never refused; a word is kept as its name.
    let body_type = text(fields, &["type"])
        .or_else(|| text(obj, &["type"]))
        .and_then(|t| CallbackType::parse(&t));
    let callback_type = match (path_type, body_type) {
        (Some(p), Some(b)) if !p.same_as(&b) => {
            return Err(CallbackError::TypeMismatch {
                path: p.to_string(),
                body: b.to_string(),
            })
        }
        (p, b) => b.or_else(|| p.cloned()),
    };
    let number = callback_type.as_ref().and_then(CallbackType::number);
    // Callback 15 names the customer `userid` (query string).
    let subject = text(fields, &["appUserId"]).or_else(|| {
        (number == Some(USER_FREEZE))
            .then(|| text(fields, &["userid", "userId"]))
            .flatten()
    });
    let subject_valid = subject
        .as_ref()
        .is_none_or(|s| s.chars().count() <= 128 && !s.chars().any(char::is_control));

    let kind = match number {
        Some(KYC_DEMAND) => CallbackKind::KycDemand(parse_kyc_demand(fields)),
        Some(USER_RECORD) => CallbackKind::UserRecord(parse_user_record(fields)),
        Some(SCA_ENROLMENT) => CallbackKind::ScaEnrolment(parse_sca_enrolment(fields)),
        Some(SCA_RESULT) => CallbackKind::ScaResult(parse_sca_result(fields, obj)),
        Some(DILIGENCE_REUPLOAD) => CallbackKind::DiligenceReupload(DiligenceReupload {
            web_view_url: secret(fields, &["webviewUrl", "webViewUrl"]),
        }),
        Some(KYC_WEBVIEW) => CallbackKind::KycWebview(KycWebview {
            url: secret(fields, &["url"]),
            token: secret(fields, &["token"]),
            web_view_url: secret(fields, &["webviewUrl", "webViewUrl"]),
        }),
        Some(USER_FREEZE) => CallbackKind::UserFreeze(UserFreeze {
            status: text(fields, &["userstatus", "userStatus"])
                .map(|s| UserFreezeStatus::parse(&s)),
        }),
        Some(COMPLEMENTARY_DILIGENCE) => {
            CallbackKind::ComplementaryDiligence(parse_complementary_diligence(fields))
        }
        _ if callback_type
            .as_ref()
            .is_some_and(CallbackType::is_pep_screening) =>
        {
            CallbackKind::PepScreening(PepScreening {
                is_pep: flag(fields, "isPoliticallyExposedPerson"),
                final_decision: flag(fields, "finalDecisionPep"),
                risk_analysis: text(fields, &["riskAnalysisStatut", "riskAnalysisStatus"]),
            })
        }
        _ => CallbackKind::Other,
    };
    let known = !matches!(kind, CallbackKind::Other);
    if known && subject.is_none() {
        return Err(CallbackError::MissingSubject(
            callback_type.map(|t| t.to_string()).unwrap_or_default(),
        ));
    }
    if known && !subject_valid {
        return Err(CallbackError::InvalidSubject);
    }
    Ok(Callback {
        callback_type,
        // An unknown type with an unusable appUserId is kept unassigned rather than refused.
        subject: subject.filter(|_| subject_valid),
        kind,
        body_sha256,
    })
}

/// The digest that tells a re-sent body from a different one: SHA-256 of the body in canonical
/// form (keys sorted, as serde_json's `Map` is a `BTreeMap`; no whitespace), streamed into the
/// hash. The fallback queue hands back the body as a JSON value, re-serialised, and it must
/// still be a duplicate of the live delivery. Stored events keep this digest, so its bytes must
/// never change (see the golden test).
fn canonical_digest(value: &Value) -> String {
    use sha2::Digest;
    // Buffered: the serializer writes a token at a time, and each hasher call costs more than
    // copying the token (a quarter of a 64 KiB callback's parse, unbuffered).
    let mut writer = std::io::BufWriter::with_capacity(8 * 1024, sha2::Sha256::new());
    serde_json::to_writer(&mut writer, value).expect("a Value always serialises into a hash");
    let hasher = writer
        .into_inner()
        .unwrap_or_else(|_| unreachable!("writing into a hasher cannot fail"));
    hex::encode(hasher.finalize())
}

/// A documented tri-state flag: JSON true/false (or their text), null/absent/blank = `None`;
/// anything else kept as sent (clipped), never guessed.
fn flag(obj: &Map<String, Value>, name: &str) -> Result<Option<bool>, String> {
    match field(obj, &[name]) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "" | "null" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(t.trim().chars().take(32).collect()),
        },
        Some(other) => Err(other.to_string().chars().take(32).collect()),
    }
}

fn parse_complementary_diligence(obj: &Map<String, Value>) -> ComplementaryDiligence {
    let score = object(obj, &["score"]);
    let number = |names: &[&str]| score.and_then(|s| field(s, names)).and_then(Value::as_f64);
    ComplementaryDiligence {
        status: text(obj, &["status"]).map(|s| DiligenceStatus::parse(&s)),
        diligence_type: text(obj, &["diligenceType"]),
        reason: text(obj, &["reason"]),
        amount: integer(obj, &["amount"]),
        transfer_date: text(obj, &["transferDate"]),
        transmitter_full_name: text(obj, &["transmitterFullName"]).map(Personal::new),
        operation_type: text(obj, &["operationType"]),
        order_id: text(obj, &["orderId"]),
        score_name: number(&["name"]),
        score_first_name: number(&["firstName"]),
    }
}

fn secret(obj: &Map<String, Value>, names: &[&str]) -> Option<Secret> {
    text(obj, names).map(Secret::new)
}

fn parse_kyc_demand(obj: &Map<String, Value>) -> KycDemand {
    let v2_keys = [
        "kycLevel",
        "workflowCode",
        "expectedDiligences",
        "receivedDiligences",
    ];
    let v2 = v2_keys.iter().any(|k| field(obj, &[k]).is_some());
    let expected = array(obj, &["expectedDiligences"])
        .iter()
        .filter_map(Value::as_object)
        .map(|e| ExpectedDiligence {
            diligence_type: text(e, &["type", "diligenceType"]),
            expected_count: integer(e, &["expectedCount"]),
            possible_sub_types: array(e, &["possibleDiligenceSubTypes"])
                .iter()
                .filter_map(scalar_text)
                .collect(),
        })
        .collect();
    let diligences = array(obj, &["receivedDiligences", "diligences"])
        .iter()
        .filter_map(Value::as_object)
        .map(parse_diligence)
        .collect();
    KycDemand {
        status: text(obj, &["status"]).map(|s| KycStatus::parse(&s)),
        v2,
        kyc_level: text(obj, &["kycLevel"]),
        workflow_code: text(obj, &["workflowCode"]),
        expected,
        diligences,
    }
}

fn parse_diligence(d: &Map<String, Value>) -> Diligence {
    let attachments = array(d, &["attachments"]);
    Diligence {
        diligence_type: text(d, &["diligenceType", "type"]),
        status: text(d, &["status"]).map(|s| DiligenceStatus::parse(&s)),
        reason: text(d, &["reason"]),
        attachment_keys: attachments
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|a| text(a, &["attachmentKey"]))
            .collect(),
        attachment_count: attachments.len(),
    }
}

fn parse_user_record(obj: &Map<String, Value>) -> UserRecord {
    UserRecord {
        status: text(obj, &["userRecordStatus", "status"]).map(|s| UserRecordStatus::parse(&s)),
        public_user_code: secret(obj, &["publicUserCode"]),
        identification_level: text(obj, &["identificationLevel"]),
    }
}

fn parse_sca_enrolment(obj: &Map<String, Value>) -> ScaEnrolment {
    let extra = object(obj, &["ExtraData"]);
    ScaEnrolment {
        activation_code: secret(obj, &["ActivationCode"]),
        web_view_url: extra
            .and_then(|e| secret(e, &["WebViewUrl"]))
            .or_else(|| secret(obj, &["WebViewUrl"])),
        error_message: text(obj, &["ErrorMessage"]),
    }
}

fn parse_sca_result(header: &Map<String, Value>, root: &Map<String, Value>) -> ScaResult {
    let date = |names: &[&str]| text(header, names).and_then(|s| parse_body_date(&s));
    ScaResult {
        authentication_id: text(header, &["AuthenticationId"]),
        status: text(header, &["Status"]).map(|s| AuthenticationStatus::parse(&s)),
        reason: text(header, &["Reason"]).map(|r| authentication_reason(&r)),
        result_date: date(&["AuthenticationResultDate"]),
        processed_date: date(&["RequestProcessDate", "RequestProcessedDate"]),
        response_code: integer(header, &["RequestResponseCode"]),
        payload: match field(root, &["Payload"]) {
            None | Some(Value::Null) => PayloadShape::Absent,
            Some(Value::String(s)) if s.trim().is_empty() => PayloadShape::Empty,
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(_) => PayloadShape::Json,
                Err(_) => PayloadShape::Opaque,
            },
            Some(_) => PayloadShape::Json,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest of a raw body as the first release computed it (a JSON body canonical, any
    /// other body as it is): the reference the one-parse digest is held to.
    fn body_digest(body: &[u8]) -> String {
        match serde_json::from_slice::<Value>(body) {
            Ok(v) => canonical_digest(&v),
            Err(_) => kyc_core::intake::sha256_hex(body),
        }
    }

    fn parse(json: &str) -> Callback {
        parse_callback(json.as_bytes(), None).unwrap()
    }

    #[test]
    fn kyc_demand_v1_documented_example() {
        let c = parse(
            r#"{"type":"4","status":"Incomplete","appUserId":"559d7e85J","diligences":[{"reason":"","diligenceType":"ID_CARD","status":"Validated"}]}"#,
        );
        assert_eq!(c.callback_type, Some(CallbackType::Number(4)));
        assert_eq!(c.subject.as_deref(), Some("559d7e85J"));
        let CallbackKind::KycDemand(d) = c.kind else {
            panic!()
        };
        assert!(!d.v2);
        assert_eq!(d.status, Some(Status::Known(KycStatus::Incomplete)));
        assert_eq!(d.diligences[0].diligence_type.as_deref(), Some("ID_CARD"));
        assert_eq!(
            d.diligences[0].status,
            Some(Status::Known(DiligenceStatus::Validated))
        );
        assert_eq!(d.diligences[0].reason, None);
    }

    #[test]
    fn kyc_demand_v2_with_mixed_case_attachments() {
        let c = parse(
            r#"{"type":4,"status":"AwaintingExpertise","appUserid":"u1","kycLevel":"High","workflowCode":"Identity",
            "expectedDiligences":[{"type":"Complementary","expectedCount":1,"possibleDiligenceSubTypes":["PAYSLIP"]}],
            "receivedDiligences":[{"diligenceType":"SELFIE","status":"Refused","reason":"Too dark selfie",
               "attachments":[{"fileName":"a.jpg","attachmentKey":"k1"},{"FileName":"b.jpg","AttachmentKey":"k2"}]}],
            "someNewField":{"x":1}}"#,
        );
        assert_eq!(c.subject.as_deref(), Some("u1"));
        let CallbackKind::KycDemand(d) = c.kind else {
            panic!()
        };
        assert!(d.v2);
        assert_eq!(d.status, Some(Status::Known(KycStatus::AwaitingExpertise)));
        assert_eq!(d.kyc_level.as_deref(), Some("High"));
        assert_eq!(d.expected[0].expected_count, Some(1));
        assert_eq!(d.expected[0].possible_sub_types, vec!["PAYSLIP"]);
        assert_eq!(d.diligences[0].attachment_keys, vec!["k1", "k2"]);
        assert_eq!(d.diligences[0].reason.as_deref(), Some("Too dark selfie"));
    }

    #[test]
    fn sca_enrolment_pascal_case_keeps_secrets_wrapped() {
        let c = parse(
            r#"{"type":"35","AppUserId":"Au007","ActivationCode":"5743c6747156074e5aebcaec6f8b4a8","ErrorMessage":null,
            "ExtraData":{"WebViewUrl":"https://pad.example/index.html?technicalId=X&token=l03lhEzA"}}"#,
        );
        assert_eq!(c.subject.as_deref(), Some("Au007"));
        let CallbackKind::ScaEnrolment(e) = c.kind else {
            panic!()
        };
        assert_eq!(
            e.activation_code.as_ref().unwrap().expose(),
            "5743c6747156074e5aebcaec6f8b4a8"
        );
        assert!(e.web_view_url.is_some());
        assert_eq!(e.error_message, None);
        let debug = format!("{e:?}");
        assert!(
            !debug.contains("5743c") && !debug.contains("l03lhEzA"),
            "{debug}"
        );
    }

    #[test]
    fn sca_result_header_and_payload_shapes() {
        let base = r#"{"Header":{"AuthenticationId":"1240b556-604e-4b5d-9bc1-73b649fc992e","Type":36,"AppUserId":"49807005J",
            "AuthenticationResultDate":"2021-05-18T12:47:25+00:00","RequestProcessedDate":"2021-05-18T12:47:14.4008694+00:00",
            "RequestResponseCode":201,"Status":"Failed","Reason":"NotFound "},"Payload":PAYLOAD}"#;
        for (payload, shape) in [
            ("\"\"", PayloadShape::Empty),
            ("null", PayloadShape::Absent),
            (r#""{\"amount\":12}""#, PayloadShape::Json),
            ("\"not json\"", PayloadShape::Opaque),
        ] {
            let c = parse(&base.replace("PAYLOAD", payload));
            assert_eq!(c.callback_type, Some(CallbackType::Number(36)));
            assert_eq!(c.subject.as_deref(), Some("49807005J"));
            let CallbackKind::ScaResult(r) = c.kind else {
                panic!()
            };
            assert_eq!(r.payload, shape);
            assert_eq!(r.status, Some(Status::Known(AuthenticationStatus::Failed)));
            assert_eq!(r.reason.as_deref(), Some("NotFound"));
            assert!(r.processed_date.is_some() && r.result_date.is_some());
            assert_eq!(r.response_code, Some(201));
        }
        let newer = base
            .replace("RequestProcessedDate", "RequestProcessDate")
            .replace("PAYLOAD", "\"\"");
        let CallbackKind::ScaResult(r) = parse(&newer).kind else {
            panic!()
        };
        assert!(r.processed_date.is_some());
    }

    #[test]
    fn webview_callbacks() {
        let CallbackKind::KycWebview(w) = parse(
            r#"{"type":"48","appUserId":"u","url":"https://x/i.html","token":"20240702_71Q"}"#,
        )
        .kind
        else {
            panic!()
        };
        assert_eq!(w.token.unwrap().expose(), "20240702_71Q");
        assert!(w.url.is_some());
        let CallbackKind::DiligenceReupload(r) =
            parse(r#"{"type":"47","appUserId":"u","webviewUrl":"https://x"}"#).kind
        else {
            panic!()
        };
        assert!(r.web_view_url.is_some());
    }

    #[test]
    fn unknown_types_are_accepted_even_without_subject() {
        let c = parse(r#"{"type":"16","amount":10}"#);
        assert_eq!(c.callback_type, Some(CallbackType::Number(16)));
        assert!(matches!(c.kind, CallbackKind::Other));
        let c = parse(r#"{"whatever":true}"#);
        assert_eq!(c.callback_type, None);
    }

    #[test]
    fn path_type_fills_and_must_agree() {
        let c = parse_callback(
            br#"{"appUserId":"u","userRecordStatus":"InProgress"}"#,
            Some(&CallbackType::Number(34)),
        )
        .unwrap();
        assert!(matches!(c.kind, CallbackKind::UserRecord(_)));
        assert_eq!(
            parse_callback(
                br#"{"type":"4","appUserId":"u"}"#,
                Some(&CallbackType::Number(34))
            )
            .unwrap_err(),
            CallbackError::TypeMismatch {
                path: "34".into(),
                body: "4".into()
            }
        );
        // A named type in the URL, in any case, fills and agrees with the body's.
        let pep = CallbackType::parse("politicallyexposedpersonstatuscreatedorupdated").unwrap();
        let c = parse_callback(br#"{"appUserId":"u"}"#, Some(&pep)).unwrap();
        assert!(matches!(c.kind, CallbackKind::PepScreening(_)));
        let c = parse_callback(
            br#"{"appUserId":"u","type":"PoliticallyExposedPersonStatusCreatedOrUpdated"}"#,
            Some(&pep),
        )
        .unwrap();
        assert_eq!(
            c.callback_type,
            Some(CallbackType::Named(PEP_SCREENING.into()))
        );
    }

    #[test]
    fn callback_types_are_numbers_or_words_kept_as_sent() {
        assert_eq!(CallbackType::parse(" 04 "), Some(CallbackType::Number(4)));
        assert_eq!(
            CallbackType::parse("SepaCreditTransferCreatedOrUpdated"),
            Some(CallbackType::Named(
                "SepaCreditTransferCreatedOrUpdated".into()
            ))
        );
        for bad in ["", "two words", "a/b", &"x".repeat(101), "é"] {
            assert_eq!(CallbackType::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            CallbackType::Named("Internaltransfer".into()).to_json(),
            "Internaltransfer"
        );
        assert_eq!(CallbackType::Number(4).to_json(), 4);
    }

    #[test]
    fn pep_screening_reads_the_three_documented_values() {
        let c = parse(
            r#"{"appUserId":"rx193bo32","type":"PoliticallyExposedPersonStatusCreatedOrUpdated","isPoliticallyExposedPerson":"true","finalDecisionPep":null,"riskAnalysisStatut":"inProgress"}"#,
        );
        assert_eq!(c.subject.as_deref(), Some("rx193bo32"));
        let CallbackKind::PepScreening(p) = c.kind else {
            panic!()
        };
        assert_eq!(p.is_pep, Ok(Some(true)));
        assert_eq!(p.final_decision, Ok(None));
        assert_eq!(p.risk_analysis.as_deref(), Some("inProgress"));
        let CallbackKind::PepScreening(p) = parse(
            r#"{"appUserId":"u","type":"PoliticallyExposedPersonStatusCreatedOrUpdated","isPoliticallyExposedPerson":"maybe","finalDecisionPep":false}"#,
        )
        .kind
        else {
            panic!()
        };
        assert_eq!(p.is_pep, Err("maybe".into()));
        assert_eq!(p.final_decision, Ok(Some(false)));
        assert!(matches!(
            parse_callback(
                br#"{"type":"PoliticallyExposedPersonStatusCreatedOrUpdated"}"#,
                None
            ),
            Err(CallbackError::MissingSubject(t)) if t == PEP_SCREENING
        ));
    }

    #[test]
    fn complementary_diligence_documented_example_keeps_the_name_personal() {
        let c = parse(
            r#"{"type":"31","status":"To_Review_Manually","appUserId":"NemaabcJs","diligenceType":"SCTIN","reason":"The beneficiary's name is different from the transmitter's name","amount":145,"transferDate":"2021-01-30T08:30:00Z","transmitterFullName":"Epp Sandra","operationType":"SCT_In","orderId":"rx193bo32","score":{"name":0.333333333333333,"firstName":1}}"#,
        );
        let CallbackKind::ComplementaryDiligence(d) = c.kind else {
            panic!()
        };
        assert_eq!(
            d.status,
            Some(Status::Known(DiligenceStatus::ToReviewManually))
        );
        assert_eq!(d.amount, Some(145));
        assert_eq!(d.order_id.as_deref(), Some("rx193bo32"));
        assert_eq!(d.score_name, Some(0.333333333333333));
        assert_eq!(d.score_first_name, Some(1.0));
        assert_eq!(
            d.transmitter_full_name.as_ref().unwrap().expose(),
            "Epp Sandra"
        );
        assert!(!format!("{d:?}").contains("Epp Sandra"));
    }

    #[test]
    fn malformed_inputs_get_precise_errors() {
        assert!(matches!(
            parse_callback(b"{not json", None),
            Err(CallbackError::NotJson(_))
        ));
        assert_eq!(
            parse_callback(b"[1]", None).unwrap_err(),
            CallbackError::NotAnObject
        );
        // Not a number: an unknown type, recorded raw under its name.
        let c = parse_callback(br#"{"type":"four"}"#, None).unwrap();
        assert_eq!(c.callback_type, Some(CallbackType::Named("four".into())));
        assert!(matches!(c.kind, CallbackKind::Other));
        let c = parse_callback(br#"{"type":"not a type"}"#, None).unwrap();
        assert_eq!(c.callback_type, None);
        let long_unknown = format!(r#"{{"type":"16","appUserId":"{}"}}"#, "x".repeat(200));
        assert_eq!(
            parse_callback(long_unknown.as_bytes(), None)
                .unwrap()
                .subject,
            None
        );
        assert_eq!(
            parse_callback(br#"{"type":"4","status":"Pending"}"#, None).unwrap_err(),
            CallbackError::MissingSubject("4".into())
        );
        let long = format!(r#"{{"type":"34","appUserId":"{}"}}"#, "x".repeat(200));
        assert_eq!(
            parse_callback(long.as_bytes(), None).unwrap_err(),
            CallbackError::InvalidSubject
        );
    }

    #[test]
    fn a_json_body_re_serialised_keeps_its_digest() {
        let live = br#"{ "type": "4",  "status":"Pending", "appUserId":"u", "n": 10.50 }"#;
        let queued = br#"{"appUserId":"u","n":10.5,"status":"Pending","type":"4"}"#;
        assert_eq!(body_digest(live), body_digest(queued));
        assert_ne!(
            body_digest(live),
            body_digest(br#"{"type":"4","status":"Complete"}"#)
        );
        assert_eq!(body_digest(b"a=1"), kyc_core::intake::sha256_hex(b"a=1"));
    }

    /// Stored events keep their body digest, and a re-sent `Webhook-Id` is a duplicate or a
    /// conflict by comparing it: these digests were computed by the first release (parse, then
    /// `serde_json::to_vec`) and must never change, whichever way the digest is computed.
    #[test]
    fn body_digests_are_those_already_stored() {
        let golden = [
            (
                r#"{"type":"34","appUserId":"70rot07ay","publicUserCode":"363O2TWZ3787","userRecordStatus":"InProgress","identificationLevel":"Intermediate"}"#,
                "dfa538c6c99d1c7d8b3ab400fb6e4a4e7119111562941a78efb4bce1aedc536a",
            ),
            (
                r#"{"Header":{"AuthenticationId":"1240b556-604e-4b5d-9bc1-73b649fc992e","Type":36,"AppUserId":"49807005J","AuthenticationResultDate":"2021-05-18T12:47:25+00:00","RequestProcessedDate":"2021-05-18T12:47:14.4008694+00:00","RequestResponseCode":201,"Status":"Succeeded","Reason":null},"Payload":""}"#,
                "782a1db2b71358f4b808ceeb2090d81909b3ee82c419ccd82cf1d2443c731cb4",
            ),
            (
                "{ \"type\": 4, \"status\":\"Refus\u{e9}\", \"appUserId\":\"u\\u00e9\\n\\t\\\"/\\\\\u{1F600}\", \"n\": [10.50, -0.0, 1e3, 12345678901234567890, 1.7976931348623157e308, 5e-324, true, null], \"z\":{\"b\":1,\"a\":{}} }",
                "b5579ad7ea7f2b6c8c8d74bb0223b7ac308d96b8d54bf17da0a7c4932c0c4e4c",
            ),
            (
                "{\"type\":\"4\",\"ctl\":\"\\u0001\\u001f\\u007f\\u2028\",\"k\":\"\\ud83d\\ude00\"}",
                "412e913ffbb7752372c37185432081fef1f11286ed9fe164d72f0cbce4aadb74",
            ),
            (
                "type=4&appUserId=u",
                "852221dacb62d1c4c7cdc93f73991e7ed76edaa3ed1f50366612c4b5218c0384",
            ),
        ];
        for (body, digest) in golden {
            assert_eq!(body_digest(body.as_bytes()), digest, "{body}");
            if let Ok(c) = parse_callback(body.as_bytes(), None) {
                assert_eq!(c.body_sha256, digest, "{body}");
            }
        }
    }

    proptest::proptest! {
        /// The digest the parse computes is the one `body_digest` gives the same bytes, for
        /// any JSON object (whatever its keys, nesting, numbers and escapes). Top-level keys
        /// start with `x` so that no generated body is a known callback missing its subject.
        #[test]
        fn the_parse_digest_is_the_body_digest(value in json_object()) {
            let body = serde_json::to_vec_pretty(&value).unwrap();
            let c = parse_callback(&body, None).unwrap();
            proptest::prop_assert_eq!(&c.body_sha256, &body_digest(&body));
            // The first release's way: parse, serialise to a buffer, hash the buffer.
            let reparsed: Value = serde_json::from_slice(&body).unwrap();
            proptest::prop_assert_eq!(
                c.body_sha256,
                kyc_core::intake::sha256_hex(&serde_json::to_vec(&reparsed).unwrap())
            );
        }
    }

    fn json_object() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        let tree = leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        proptest::collection::btree_map("x[a-zA-Z]{0,7}", tree, 0..8)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }
}
