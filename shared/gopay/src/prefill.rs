//! `POST /api/prefill-client-data`: customer data GoPay pre-fills in its registration, and the
//! `prefillId` it answers (passed on as the consent URL's `prefill_id`).
//!
//! Every field is personal data ([`Personal`]): `Debug` and `Serialize` print the marker, so
//! the outgoing JSON is built explicitly by [`PrefillRequest::to_body`] and is itself
//! `Personal`. Fields are validated before anything is sent (GoPay answers 409 otherwise);
//! errors name the field, never its value.

use serde_json::{Map, Value};

use super::error::GoPayError;
use kyc_core::redact::{Personal, Secret};

/// `internationalBankAccount`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InternationalBankAccount {
    /// The IBAN.
    pub iban: Personal,
    /// The BIC.
    pub bic: Option<Personal>,
}

/// The prefill body. All fields optional, at least one required.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefillRequest {
    /// First name.
    pub first_name: Option<Personal>,
    /// Last name.
    pub last_name: Option<Personal>,
    /// E-mail address.
    pub email: Option<Personal>,
    /// With the international prefix (`+420…`).
    pub phone_number: Option<Personal>,
    /// Czech form: `[prefix-]number/bankCode`.
    pub domestic_bank_account: Option<Personal>,
    /// An international bank account.
    pub international_bank_account: Option<InternationalBankAccount>,
    /// Postal address.
    pub address: Option<Personal>,
}

fn invalid(field: &'static str, reason: &'static str) -> GoPayError {
    GoPayError::InvalidPrefill { field, reason }
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, GoPayError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(invalid(field, "empty"));
    }
    if v.chars().count() > max {
        return Err(invalid(field, "too long"));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(field, "control characters"));
    }
    Ok(v.to_string())
}

fn email(value: &str) -> Result<String, GoPayError> {
    let v = text("email", value, 254)?;
    let (local, domain) = v.split_once('@').ok_or(invalid("email", "no @"))?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || v.chars().any(char::is_whitespace)
    {
        return Err(invalid("email", "not an e-mail address"));
    }
    Ok(v)
}

fn phone(value: &str) -> Result<String, GoPayError> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = compact
        .strip_prefix('+')
        .ok_or(invalid("phoneNumber", "no international prefix (+)"))?;
    if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("phoneNumber", "not + and 8 to 15 digits"));
    }
    Ok(compact)
}

fn domestic_account(value: &str) -> Result<String, GoPayError> {
    let v = value.trim();
    let bad = || invalid("domesticBankAccount", "not [prefix-]number/bankCode");
    let (account, bank) = v.split_once('/').ok_or_else(bad)?;
    let (prefix, number) = match account.split_once('-') {
        Some((p, n)) => (Some(p), n),
        None => (None, account),
    };
    let digits = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if prefix.is_some_and(|p| !digits(p, 1, 6)) || !digits(number, 2, 10) || !digits(bank, 4, 4) {
        return Err(bad());
    }
    Ok(v.to_string())
}

/// IBAN: country letters, check digits, 15-34 characters, ISO 13616 mod-97 check.
pub fn normalize_iban(value: &str) -> Result<String, GoPayError> {
    let iban: String = value
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = iban.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return Err(invalid("internationalBankAccount.iban", "not an IBAN"));
    }
    let mut remainder: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let n = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        remainder = if n >= 10 {
            (remainder * 100 + n) % 97
        } else {
            (remainder * 10 + n) % 97
        };
    }
    if remainder != 1 {
        return Err(invalid(
            "internationalBankAccount.iban",
            "check digits do not match",
        ));
    }
    Ok(iban)
}

fn bic(value: &str) -> Result<String, GoPayError> {
    let v = value.trim().to_ascii_uppercase();
    let b = v.as_bytes();
    if !(b.len() == 8 || b.len() == 11)
        || !b[..6].iter().all(u8::is_ascii_uppercase)
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return Err(invalid("internationalBankAccount.bic", "not a BIC"));
    }
    Ok(v)
}

impl PrefillRequest {
    /// Validates and normalizes every field, then builds the JSON body (camelCase keys as in
    /// the reference, absent fields omitted).
    pub fn to_body(&self) -> Result<Personal<Vec<u8>>, GoPayError> {
        let mut body = Map::new();
        let mut put = |key: &str, v: String| {
            body.insert(key.to_string(), Value::String(v));
        };
        if let Some(v) = &self.first_name {
            put("firstName", text("firstName", v.expose(), 100)?);
        }
        if let Some(v) = &self.last_name {
            put("lastName", text("lastName", v.expose(), 100)?);
        }
        if let Some(v) = &self.email {
            put("email", email(v.expose())?);
        }
        if let Some(v) = &self.phone_number {
            put("phoneNumber", phone(v.expose())?);
        }
        if let Some(v) = &self.address {
            put("address", text("address", v.expose(), 300)?);
        }
        if let Some(v) = &self.domestic_bank_account {
            put("domesticBankAccount", domestic_account(v.expose())?);
        }
        if let Some(account) = &self.international_bank_account {
            let mut m = Map::new();
            m.insert(
                "iban".into(),
                Value::String(normalize_iban(account.iban.expose())?),
            );
            if let Some(b) = &account.bic {
                m.insert("bic".into(), Value::String(bic(b.expose())?));
            }
            body.insert("internationalBankAccount".into(), Value::Object(m));
        }
        if body.is_empty() {
            return Err(invalid("*", "no field to prefill"));
        }
        let bytes = serde_json::to_vec(&Value::Object(body)).expect("a JSON map serializes");
        Ok(Personal::new(bytes))
    }
}

/// `{prefillId}`. Treated as a secret: it points at the customer's prefilled data.
pub fn parse_prefill_response(body: &[u8]) -> Result<Secret, GoPayError> {
    const CONTEXT: &str = "prefill";
    let value: Value = serde_json::from_slice(body).map_err(|e| GoPayError::json(CONTEXT, &e))?;
    let obj = value
        .as_object()
        .ok_or(GoPayError::NotAnObject { context: CONTEXT })?;
    match obj.get("prefillId") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Secret::new(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Secret::new(n.to_string())),
        _ => Err(GoPayError::MissingField {
            context: CONTEXT,
            field: "prefillId",
        }),
    }
}
