//! The identity a customer declared to the bank, and its comparison with the person GoPay
//! identified.
//!
//! The bank sends the declared identity (first name(s), last name(s), birth date) with
//! `POST /gopay/consents`; it is kept sealed ([`DeclaredIdentity::to_sealed_json`]) and, once
//! GoPay reports `IDENTIFIED` or `PARTIALLY_IDENTIFIED`, compared field by field with the
//! identified `subjectData` (`firstName`, `lastName`, `dateOfBirth` `yyyy-mm-dd`, reference
//! section "subjectData"). Names are folded ([`fold_name`]: case, accents, spacing, hyphens) and
//! compared as sets of name parts, so several given names or a compound surname can match in
//! part; a birth date must be the same day. The result ([`IdentityMatch`]) names fields, never
//! values: it goes into events, states and logs.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use icu_normalizer::DecomposingNormalizerBorrowed;
use kyc_core::redact::Personal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The longest accepted declared name (characters).
pub const MAX_NAME_CHARS: usize = 200;

/// One field's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FieldMatch {
    /// The same once folded (names: the same parts, in any order; dates: the same day).
    Match,
    /// Names only: some parts in common, not all (a second given name, one half of a compound
    /// surname).
    Partial,
    /// Nothing in common, or a birth date that differs or cannot be read.
    Mismatch,
    /// Missing on one side: nothing to compare.
    Absent,
}

impl FieldMatch {
    /// The result's name in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldMatch::Match => "match",
            FieldMatch::Partial => "partial",
            FieldMatch::Mismatch => "mismatch",
            FieldMatch::Absent => "absent",
        }
    }
}

/// The compared fields, by the names the API uses.
pub const FIELDS: [&str; 3] = ["firstName", "lastName", "birthDate"];

/// The field-by-field result and its overall verdict.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityMatch {
    /// `mismatch` if any field mismatches; `match` if every field matches; `absent` if no
    /// field could be compared; `partial` otherwise.
    pub result: FieldMatch,
    /// The first name's result.
    pub first_name: FieldMatch,
    /// The last name's result.
    pub last_name: FieldMatch,
    /// The birth date's result.
    pub birth_date: FieldMatch,
}

impl IdentityMatch {
    fn from_fields(first_name: FieldMatch, last_name: FieldMatch, birth_date: FieldMatch) -> Self {
        let all = [first_name, last_name, birth_date];
        let result = if all.contains(&FieldMatch::Mismatch) {
            FieldMatch::Mismatch
        } else if all.iter().all(|f| *f == FieldMatch::Match) {
            FieldMatch::Match
        } else if all.iter().all(|f| *f == FieldMatch::Absent) {
            FieldMatch::Absent
        } else {
            FieldMatch::Partial
        };
        Self {
            result,
            first_name,
            last_name,
            birth_date,
        }
    }

    /// `(field name, result)` in [`FIELDS`] order.
    pub fn fields(&self) -> [(&'static str, FieldMatch); 3] {
        [
            (FIELDS[0], self.first_name),
            (FIELDS[1], self.last_name),
            (FIELDS[2], self.birth_date),
        ]
    }

    /// The names of the fields that differ (mismatch or partial): what an operator checks.
    pub fn differing_fields(&self) -> Vec<&'static str> {
        self.fields()
            .into_iter()
            .filter(|(_, m)| matches!(m, FieldMatch::Mismatch | FieldMatch::Partial))
            .map(|(name, _)| name)
            .collect()
    }

    /// True when a field mismatches.
    pub fn is_mismatch(&self) -> bool {
        self.result == FieldMatch::Mismatch
    }

    /// The JSON put in events and the state's detail: results and field names only.
    pub fn summary(&self) -> Value {
        json!({
            "result": self.result,
            "fields": {
                "firstName": self.first_name,
                "lastName": self.last_name,
                "birthDate": self.birth_date,
            },
            "differingFields": self.differing_fields(),
        })
    }
}

/// Why a declared identity is refused (400). Names the field, never its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeclaredIdentityError {
    /// Not a JSON object.
    #[error("declaredIdentity must be an object")]
    NotAnObject,
    /// The named field is not a string.
    #[error("declaredIdentity.{0} must be a string")]
    NotAString(&'static str),
    /// The named field is empty.
    #[error("declaredIdentity.{0} is empty")]
    Empty(&'static str),
    /// The named field is longer than 200 characters.
    #[error("declaredIdentity.{0} is longer than 200 characters")]
    TooLong(&'static str),
    /// The named field has control characters.
    #[error("declaredIdentity.{0} contains control characters")]
    ControlCharacters(&'static str),
    /// The birth date is not `YYYY-MM-DD`.
    #[error("declaredIdentity.birthDate must be a date YYYY-MM-DD")]
    BadBirthDate,
    /// No field is given.
    #[error("declaredIdentity needs at least one of firstName, lastName, birthDate")]
    NoField,
}

/// What the customer declared to the bank. Every value is personal data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeclaredIdentity {
    /// One or more given names, as the bank holds them.
    pub first_name: Option<Personal>,
    /// One or more surnames (a compound surname with a hyphen or a space).
    pub last_name: Option<Personal>,
    /// `YYYY-MM-DD`.
    pub birth_date: Option<Personal>,
}

fn name_field(
    obj: &serde_json::Map<String, Value>,
    key: &'static str,
) -> Result<Option<Personal>, DeclaredIdentityError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                Err(DeclaredIdentityError::Empty(key))
            } else if t.chars().count() > MAX_NAME_CHARS {
                Err(DeclaredIdentityError::TooLong(key))
            } else if t.chars().any(char::is_control) {
                Err(DeclaredIdentityError::ControlCharacters(key))
            } else {
                Ok(Some(Personal::new(t.to_string())))
            }
        }
        Some(_) => Err(DeclaredIdentityError::NotAString(key)),
    }
}

impl DeclaredIdentity {
    /// Reads the API's `declaredIdentity` object (`firstName`, `lastName`, `birthDate`).
    pub fn from_json(value: &Value) -> Result<Self, DeclaredIdentityError> {
        let obj = value
            .as_object()
            .ok_or(DeclaredIdentityError::NotAnObject)?;
        let birth_date = match obj.get("birthDate") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(Personal::new(
                parse_birth_date(s)
                    .ok_or(DeclaredIdentityError::BadBirthDate)?
                    .format("%Y-%m-%d")
                    .to_string(),
            )),
            Some(_) => return Err(DeclaredIdentityError::NotAString("birthDate")),
        };
        let declared = Self {
            first_name: name_field(obj, "firstName")?,
            last_name: name_field(obj, "lastName")?,
            birth_date,
        };
        if declared.is_empty() {
            return Err(DeclaredIdentityError::NoField);
        }
        Ok(declared)
    }

    /// True when nothing was declared.
    pub fn is_empty(&self) -> bool {
        self.first_name.is_none() && self.last_name.is_none() && self.birth_date.is_none()
    }

    /// The plaintext to seal (built explicitly: `Personal` never serializes its value).
    pub fn to_sealed_json(&self) -> Personal<Vec<u8>> {
        let mut m = serde_json::Map::new();
        for (key, v) in [
            ("firstName", &self.first_name),
            ("lastName", &self.last_name),
            ("birthDate", &self.birth_date),
        ] {
            if let Some(v) = v {
                m.insert(key.into(), Value::String(v.expose().clone()));
            }
        }
        Personal::new(serde_json::to_vec(&Value::Object(m)).expect("a JSON map serializes"))
    }

    /// Reads back what [`Self::to_sealed_json`] wrote (after opening). `None`: not that shape.
    pub fn from_sealed_json(bytes: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        Self::from_json(&value).ok()
    }

    /// Compares with the identified person's `subjectData` (an object; a list holding one
    /// object is read as that object, anything else has no field to compare).
    pub fn compare(&self, subject: &Value) -> IdentityMatch {
        let subject = match subject {
            Value::Array(items) if items.len() == 1 => &items[0],
            other => other,
        };
        let text = |key: &str| {
            subject
                .get(key)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        IdentityMatch::from_fields(
            compare_names(
                self.first_name.as_ref().map(|p| p.expose().as_str()),
                text("firstName"),
            ),
            compare_names(
                self.last_name.as_ref().map(|p| p.expose().as_str()),
                text("lastName"),
            ),
            compare_dates(
                self.birth_date.as_ref().map(|p| p.expose().as_str()),
                text("dateOfBirth"),
            ),
        )
    }
}

/// `YYYY-MM-DD` (GoPay's `dateOfBirth` layout); a time part after it is ignored.
fn parse_birth_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    let day = t.get(..10)?;
    let rest = &t[10..];
    if !(rest.is_empty() || rest.starts_with(['T', ' '])) {
        return None;
    }
    NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()
}

/// Letters that carry no combining mark in Unicode's decomposition, spelled as an ASCII
/// reader would.
fn spell_out(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' | 'ẞ' => "ss",
        'ø' | 'Ø' => "o",
        'ł' | 'Ł' => "l",
        'đ' | 'Đ' => "d",
        'ħ' | 'Ħ' => "h",
        'ı' => "i",
        'æ' | 'Æ' => "ae",
        'œ' | 'Œ' => "oe",
        'þ' | 'Þ' => "th",
        'ð' | 'Ð' => "d",
        _ => return None,
    })
}

/// Combining marks that accents decompose into (Latin, Greek and Cyrillic names).
fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// A name folded for comparison: canonical decomposition with the combining marks dropped
/// (so `Nováková` and `Novakova` are equal, whether the accent came precomposed or not),
/// lower case, and every run of spaces, hyphens, dashes, apostrophes, dots or commas turned
/// into one separator. Returns the name's parts.
pub fn fold_name(name: &str) -> Vec<String> {
    let decomposed = DecomposingNormalizerBorrowed::new_nfd().normalize(name);
    let mut folded = String::with_capacity(decomposed.len());
    for c in decomposed.chars() {
        if is_combining_mark(c) {
            continue;
        }
        if let Some(s) = spell_out(c) {
            folded.push_str(s);
        } else if c.is_alphanumeric() {
            folded.extend(c.to_lowercase());
        } else {
            // Spaces, hyphens and dashes, apostrophes, dots, commas: separators.
            folded.push(' ');
        }
    }
    folded.split_whitespace().map(str::to_string).collect()
}

fn compare_names(declared: Option<&str>, identified: Option<&str>) -> FieldMatch {
    let (Some(d), Some(i)) = (declared, identified) else {
        return FieldMatch::Absent;
    };
    let (d, i) = (fold_name(d), fold_name(i));
    if d.is_empty() || i.is_empty() {
        return FieldMatch::Absent;
    }
    // "Anna Marie" vs "Annamarie": the same letters once the separators go.
    if d.concat() == i.concat() {
        return FieldMatch::Match;
    }
    let (ds, is): (BTreeSet<&String>, BTreeSet<&String>) = (d.iter().collect(), i.iter().collect());
    if ds == is {
        FieldMatch::Match
    } else if ds.intersection(&is).next().is_some() {
        FieldMatch::Partial
    } else {
        FieldMatch::Mismatch
    }
}

fn compare_dates(declared: Option<&str>, identified: Option<&str>) -> FieldMatch {
    let (Some(d), Some(i)) = (declared, identified) else {
        return FieldMatch::Absent;
    };
    match (parse_birth_date(d), parse_birth_date(i)) {
        (Some(d), Some(i)) if d == i => FieldMatch::Match,
        // A date GoPay sends that cannot be read is not evidence of a match: fail closed.
        _ => FieldMatch::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(first: Option<&str>, last: Option<&str>, birth: Option<&str>) -> DeclaredIdentity {
        DeclaredIdentity {
            first_name: first.map(|s| Personal::new(s.to_string())),
            last_name: last.map(|s| Personal::new(s.to_string())),
            birth_date: birth.map(|s| Personal::new(s.to_string())),
        }
    }

    #[test]
    fn names_fold_case_accents_spacing_and_hyphens() {
        assert_eq!(fold_name("  Nováková-ŠŤASTNÁ "), ["novakova", "stastna"]);
        // Decomposed input (a combining acute accent) folds the same way.
        assert_eq!(fold_name("Nova\u{301}kova\u{301}"), ["novakova"]);
        assert_eq!(fold_name("O'Brien"), ["o", "brien"]);
        assert_eq!(fold_name("Weiß  Łukasz"), ["weiss", "lukasz"]);
        assert_eq!(
            fold_name("Jean–Luc"),
            ["jean", "luc"],
            "an en dash separates"
        );
        assert!(fold_name(" - ").is_empty());
    }

    #[test]
    fn names_compare_as_sets_of_parts() {
        let cases = [
            ("Jan", "JAN", FieldMatch::Match),
            ("Tomáš", "Tomas", FieldMatch::Match),
            ("Jan Pavel", "Pavel Jan", FieldMatch::Match),
            ("Anna Marie", "Annamarie", FieldMatch::Match),
            ("Novák-Svoboda", "Novák Svoboda", FieldMatch::Match),
            ("Jan", "Jan Pavel", FieldMatch::Partial),
            ("Novák-Svoboda", "Novák", FieldMatch::Partial),
            ("Novák", "Nováková", FieldMatch::Mismatch),
            ("Eva", "Jana", FieldMatch::Mismatch),
        ];
        for (d, i, expected) in cases {
            assert_eq!(compare_names(Some(d), Some(i)), expected, "{d} / {i}");
        }
        assert_eq!(compare_names(None, Some("Jan")), FieldMatch::Absent);
        assert_eq!(compare_names(Some("Jan"), None), FieldMatch::Absent);
        assert_eq!(compare_names(Some("Jan"), Some("--")), FieldMatch::Absent);
    }

    #[test]
    fn birth_dates_must_be_the_same_day() {
        assert_eq!(
            compare_dates(Some("1990-06-12"), Some("1990-06-12")),
            FieldMatch::Match
        );
        assert_eq!(
            compare_dates(Some("1990-06-12"), Some("1990-06-12 00:00:00.000")),
            FieldMatch::Match
        );
        assert_eq!(
            compare_dates(Some("1990-06-12"), Some("1990-06-13")),
            FieldMatch::Mismatch
        );
        assert_eq!(
            compare_dates(Some("1990-06-12"), Some("12.06.1990")),
            FieldMatch::Mismatch
        );
        assert_eq!(compare_dates(Some("1990-06-12"), None), FieldMatch::Absent);
    }

    #[test]
    fn the_overall_result_is_the_worst_field_and_names_fields_only() {
        let subject =
            json!({"firstName": "Bohumila", "lastName": "Křížová", "dateOfBirth": "1977-04-23"});
        let all = declared(Some("bohumila"), Some("Krizova"), Some("1977-04-23")).compare(&subject);
        assert_eq!(all.result, FieldMatch::Match);
        assert!(all.differing_fields().is_empty());

        let part = declared(Some("Bohumila Marie"), Some("Křížová"), None).compare(&subject);
        assert_eq!(
            (part.result, part.first_name, part.birth_date),
            (FieldMatch::Partial, FieldMatch::Partial, FieldMatch::Absent)
        );
        assert_eq!(part.differing_fields(), ["firstName"]);

        let wrong =
            declared(Some("Bohumila"), Some("Šťastná"), Some("1977-04-24")).compare(&subject);
        assert_eq!(wrong.result, FieldMatch::Mismatch);
        assert_eq!(wrong.differing_fields(), ["lastName", "birthDate"]);
        let text = wrong.summary().to_string();
        for value in ["Bohumila", "Křížová", "Šťastná", "1977"] {
            assert!(!text.contains(value), "{value} in {text}");
        }
        assert_eq!(wrong.summary()["fields"]["lastName"], "mismatch");

        let nothing = declared(Some("Bohumila"), None, None).compare(&json!({}));
        assert_eq!(nothing.result, FieldMatch::Absent);
        // The layout of the reference's "person" example: a list of one.
        let listed = declared(Some("Bohumila"), Some("Křížová"), Some("1977-04-23"))
            .compare(&json!([subject]));
        assert_eq!(listed.result, FieldMatch::Match);
    }

    #[test]
    fn a_declared_identity_is_validated_without_echoing_values_and_round_trips() {
        let ok = DeclaredIdentity::from_json(
            &json!({"firstName": " Bohumila ", "lastName": "Křížová-Šťastná", "birthDate": "1977-04-23"}),
        )
        .unwrap();
        assert_eq!(ok.first_name.as_ref().unwrap().expose(), "Bohumila");
        assert!(!format!("{ok:?}").contains("Bohumila"));
        let bytes = ok.to_sealed_json();
        assert_eq!(DeclaredIdentity::from_sealed_json(bytes.expose()), Some(ok));
        for (value, error) in [
            (json!("Bohumila"), DeclaredIdentityError::NotAnObject),
            (
                json!({"firstName": 5}),
                DeclaredIdentityError::NotAString("firstName"),
            ),
            (
                json!({"lastName": "  "}),
                DeclaredIdentityError::Empty("lastName"),
            ),
            (
                json!({"birthDate": "1977-02-30"}),
                DeclaredIdentityError::BadBirthDate,
            ),
            (
                json!({"birthDate": "23.04.1977"}),
                DeclaredIdentityError::BadBirthDate,
            ),
            (
                json!({"firstName": "Bo\nhumila"}),
                DeclaredIdentityError::ControlCharacters("firstName"),
            ),
            (json!({}), DeclaredIdentityError::NoField),
        ] {
            let e = DeclaredIdentity::from_json(&value).unwrap_err();
            assert_eq!(e, error, "{value}");
            assert!(!e.to_string().contains("humila") && !e.to_string().contains("1977"));
        }
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            DeclaredIdentity::from_json(&json!({"firstName": long})).unwrap_err(),
            DeclaredIdentityError::TooLong("firstName")
        );
    }
}
