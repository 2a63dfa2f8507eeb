//! Building blocks of the report model: open enums, ISO 8601 timestamps, identifiers.
//!
//! The reference warns that undescribed values "may change or disappear" and that fields may be
//! added without notice, so nothing here ever fails on an unexpected value: it is kept.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// `null` and absence both mean "empty": Namirial writes either, depending on the field.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Declares an enum whose documented values are variants and whose any other value is kept in
/// `Other` as it was written (a string, or the JSON text of a non-string).
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = concat!("`", $text, "`.")] $variant,)+
            /// A value the reference does not describe, kept verbatim.
            Other(String),
        }

        impl $name {
            /// Every value the reference describes (the KYC decision's mapping table has a
            /// row for each).
            #[allow(dead_code)]
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The value as Namirial writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(raw) => raw,
                }
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                match raw {
                    $($text => Self::$variant,)+
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                Ok(match crate::report::lenient::bounded(d)? {
                    serde_json::Value::String(s) => Self::from(s.as_str()),
                    other => Self::Other(other.to_string()),
                })
            }
        }
    };
}
pub(crate) use open_enum;

/// A date as written in the report (ISO 8601, see [`super::iso8601`]), with its parsed
/// instant when it parses. An unparseable date is kept raw (clipped), never fatal; ordering
/// code treats it as unknown. A time written without an offset is read in the zone the parse
/// was given (Europe/Paris by default) and marked [`Timestamp::is_zoneless`].
#[derive(Clone, PartialEq, Eq)]
pub struct Timestamp {
    raw: String,
    parsed: Option<chrono::DateTime<chrono::Utc>>,
    zoneless: bool,
}

impl Timestamp {
    /// Parsed with a zone-less time read in Europe/Paris (Namirial's zone).
    pub fn new(raw: impl Into<String>) -> Self {
        Self::in_zone(raw, super::iso8601::DEFAULT_ZONE)
    }
    /// Parsed with a zone-less time read in `zone`.
    pub fn in_zone(raw: impl Into<String>, zone: chrono_tz::Tz) -> Self {
        let raw = raw.into();
        let parsed = super::iso8601::parse(&raw, zone);
        Self {
            raw: super::lenient::clip_owned(raw, MAX_RAW_DATE),
            parsed: parsed.map(|p| p.instant),
            zoneless: parsed.is_some_and(|p| p.zoneless),
        }
    }
    /// The date as written (clipped).
    pub fn raw(&self) -> &str {
        &self.raw
    }
    /// The instant, if the date could be read.
    pub fn instant(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.parsed
    }
    /// The text had no offset: [`Timestamp::instant`] assumes the configured zone.
    pub fn is_zoneless(&self) -> bool {
        self.zoneless
    }
}

/// The most of an unparseable date's text kept (a date is ~30 characters).
const MAX_RAW_DATE: usize = 64;

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.raw)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match super::lenient::bounded(d)? {
            Value::String(s) => {
                let t = Self::in_zone(s, super::lenient::zone());
                if t.zoneless {
                    super::lenient::count_zoneless();
                }
                t
            }
            other => Self {
                raw: super::lenient::clip_owned(other.to_string(), MAX_RAW_DATE),
                parsed: None,
                zoneless: false,
            },
        })
    }
}

/// An identifier written sometimes as a number (`"id": 10002`), sometimes as a string.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ident(pub String);

impl<'de> Deserialize<'de> for Ident {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match super::lenient::bounded(d)? {
            Value::String(s) => Self(s),
            other => Self(other.to_string()),
        })
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    open_enum!(Colour { Red => "RED", Blue => "BLUE" });

    #[test]
    fn open_enums_keep_unknown_values() {
        let v: Vec<Colour> = serde_json::from_str(r#"["RED","GREEN",3]"#).unwrap();
        assert_eq!(v[0], Colour::Red);
        assert_eq!(v[1], Colour::Other("GREEN".into()));
        assert_eq!(v[2], Colour::Other("3".into()));
        assert_eq!(serde_json::to_string(&v).unwrap(), r#"["RED","GREEN","3"]"#);
    }

    #[test]
    fn timestamps_parse_iso8601_and_keep_bad_ones_raw() {
        let t: Timestamp = serde_json::from_str(r#""2015-03-10T16:47:42Z""#).unwrap();
        assert_eq!(t.instant().unwrap().timestamp(), 1_426_006_062);
        let bad: Timestamp = serde_json::from_str(r#""10/03/2015""#).unwrap();
        assert_eq!(bad.instant(), None);
        assert_eq!(bad.raw(), "10/03/2015");
        // Not only RFC 3339: a basic offset, and no offset at all (read in Paris, flagged).
        let basic: Timestamp = serde_json::from_str(r#""2024-05-02T10:15:30+0200""#).unwrap();
        assert_eq!(
            basic.instant().unwrap().to_rfc3339(),
            "2024-05-02T08:15:30+00:00"
        );
        assert!(!basic.is_zoneless());
        let local: Timestamp = serde_json::from_str(r#""2024-05-02T10:15:30""#).unwrap();
        assert_eq!(local.instant(), basic.instant());
        assert!(local.is_zoneless());
        // A huge non-date keeps a clipped text only.
        let huge = Timestamp::new("x".repeat(100_000));
        assert!(huge.raw().len() < 100, "{}", huge.raw().len());
    }

    #[test]
    fn idents_accept_numbers_and_strings() {
        let v: Vec<Ident> = serde_json::from_str(r#"[10002,"A-1"]"#).unwrap();
        assert_eq!(v[0].0, "10002");
        assert_eq!(v[1].0, "A-1");
    }
}
