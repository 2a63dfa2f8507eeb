//! Values that must never reach a log line or an error message.
//!
//! `Secret` wraps tokens, activation codes and web-view URLs; `Personal` wraps names, birth
//! dates, IBANs and other personal data. Both print as a fixed marker through `Debug` and
//! `Display`, so a stray `{:?}` in a log statement cannot leak them. Reading the value is an
//! explicit call (`expose`), easy to grep for in review.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! redacted_type {
    ($name:ident, $marker:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, PartialEq, Eq, Default)]
        pub struct $name<T = String>(T);

        impl<T> $name<T> {
            /// Wraps a value.
            pub fn new(value: T) -> Self {
                Self(value)
            }
            /// The wrapped value. Call only where the value is really needed (encryption,
            /// an outgoing request), never to format it for a log.
            pub fn expose(&self) -> &T {
                &self.0
            }
            /// The wrapped value, unwrapped (same care as [`Self::expose`]).
            pub fn into_inner(self) -> T {
                self.0
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($marker)
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($marker)
            }
        }

        impl<T> From<T> for $name<T> {
            fn from(value: T) -> Self {
                Self(value)
            }
        }

        /// Serializing writes the marker, not the value: a redacted type never leaks through
        /// JSON output either. Code that must persist the value encrypts `expose()` instead.
        impl<T> Serialize for $name<T> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str($marker)
            }
        }

        impl<'de, T: Deserialize<'de>> Deserialize<'de> for $name<T> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                T::deserialize(deserializer).map(Self)
            }
        }
    };
}

redacted_type!(
    Secret,
    "[REDACTED secret]",
    "A credential-like value (token, activation code, web-view URL, key)."
);
redacted_type!(
    Personal,
    "[REDACTED personal data]",
    "Personal data (name, birth date, address, IBAN, birth number...)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_display_and_json_never_show_the_value() {
        let s = Secret::new("tok-123".to_string());
        let p = Personal::new("FR7630006000011234567890189".to_string());
        for rendered in [
            format!("{s:?}"),
            format!("{s}"),
            format!("{p:?}"),
            format!("{p}"),
            serde_json::to_string(&s).unwrap(),
            serde_json::to_string(&p).unwrap(),
            format!("{:?}", Some(&s)),
        ] {
            assert!(!rendered.contains("tok-123"), "{rendered}");
            assert!(!rendered.contains("FR76"), "{rendered}");
        }
        assert_eq!(s.expose(), "tok-123");
    }

    #[test]
    fn deserializes_the_plain_value() {
        let s: Secret = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(s.expose(), "abc");
    }
}
