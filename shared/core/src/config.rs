//! Reading a function's settings from its environment, once per cold start.
//!
//! Each function has one `Settings::from_env` built on [`Env`]; a missing or bad value fails
//! the cold start with a [`SettingsError`] naming the variable and what it expects, never its
//! value (some variables name secrets or buckets, and a typo might be a pasted secret).
//! Hand-written rather than `envy`: envy's parse errors quote the offending value.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Why a function's settings cannot be read. Fails the cold start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A required variable is unset or blank.
    #[error("missing environment variable {name}")]
    Missing {
        /// The variable.
        name: String,
    },
    /// A variable is set but not valid.
    #[error("environment variable {name} is not valid: {expected}")]
    Invalid {
        /// The variable.
        name: String,
        /// What it should be.
        expected: String,
    },
}

impl SettingsError {
    /// An [`SettingsError::Invalid`] of `name`, saying what was expected.
    pub fn invalid(name: &str, expected: impl std::fmt::Display) -> Self {
        SettingsError::Invalid {
            name: name.to_string(),
            expected: expected.to_string(),
        }
    }

    /// The variable at fault.
    pub fn name(&self) -> &str {
        match self {
            SettingsError::Missing { name } | SettingsError::Invalid { name, .. } => name,
        }
    }
}

/// Why a function cannot start (its cold start fails with this message).
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A setting is missing or not valid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The HTTP client (TLS roots) could not be built.
    #[error(transparent)]
    HttpClient(#[from] crate::http::ClientBuildError),
}

/// Where settings come from: the process environment, or a map in tests (the process
/// environment is shared by every test thread).
pub enum Env {
    /// The process environment.
    Process,
    /// A fixed map (tests).
    Map(HashMap<String, String>),
}

impl Env {
    /// A map of the given pairs (tests).
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Env::Map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The value, `None` when unset or blank (CloudFormation writes `""` for an empty parameter).
    pub fn optional(&self, name: &str) -> Option<String> {
        let v = match self {
            Env::Process => std::env::var(name).ok(),
            Env::Map(m) => m.get(name).cloned(),
        }?;
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    /// The value, or [`SettingsError::Missing`] when unset or blank.
    pub fn required(&self, name: &str) -> Result<String, SettingsError> {
        self.optional(name).ok_or_else(|| SettingsError::Missing {
            name: name.to_string(),
        })
    }

    /// A value parsed as `T`: `default` when unset, an error when set but unparsable (a typo
    /// fails the cold start instead of silently running with the default).
    pub fn parsed_or<T: FromStr>(
        &self,
        name: &str,
        default: T,
        expected: &str,
    ) -> Result<T, SettingsError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| SettingsError::invalid(name, expected)),
        }
    }

    /// A whole number within `range` (inclusive), `default` when unset.
    pub fn number_in<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, SettingsError>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let v = self.parsed_or(name, default, &expected)?;
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(SettingsError::invalid(name, expected))
        }
    }

    /// A duration in whole seconds within `range`, `default` when unset.
    pub fn seconds_in(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, SettingsError> {
        self.number_in(name, default, range)
            .map(Duration::from_secs)
    }

    /// A value checked by `check`, whose error (a description of what is expected, never
    /// quoting the value) becomes the message.
    pub fn checked<T, E: std::fmt::Display>(
        &self,
        name: &str,
        value: &str,
        check: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, SettingsError> {
        check(value).map_err(|e| SettingsError::invalid(name, e))
    }
}

/// `SECRET_CACHE_TTL_SECONDS`: how long a fetched secret is used before it is fetched again.
pub fn secret_ttl(env: &Env) -> Result<Duration, SettingsError> {
    env.seconds_in("SECRET_CACHE_TTL_SECONDS", 300, 1..=3600)
}

/// A required variable; the error names it (never its value).
pub fn required(name: &str) -> Result<String, SettingsError> {
    Env::Process.required(name)
}

/// An optional variable parsed as `T`: `default` when absent, an error naming the variable
/// (not its value) when present but unparsable.
pub fn parsed_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, SettingsError> {
    Env::Process.parsed_or(name, default, "a value of the expected type")
}

/// A scheduled run's deadline: the Lambda deadline (epoch ms from the runtime context) as a
/// time. Lambda always gives one in the future; one already past at the start (local emulators
/// set it before compiling the function) is replaced by `now + fallback`, logged.
pub fn run_deadline(
    deadline_ms: u64,
    now: chrono::DateTime<chrono::Utc>,
    fallback: std::time::Duration,
) -> chrono::DateTime<chrono::Utc> {
    match chrono::DateTime::from_timestamp_millis(deadline_ms as i64) {
        Some(d) if d > now => d,
        _ => {
            tracing::warn!(
                deadline_ms,
                "invocation deadline already past; using the fallback run length"
            );
            now + chrono::Duration::from_std(fallback).unwrap_or(chrono::Duration::seconds(60))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_fail_with_the_variable_named_and_never_the_value() {
        let env = Env::from_pairs(&[
            ("N", "sixteen"),
            ("BIG", "1000"),
            ("OK", " 20 "),
            ("BLANK", "  "),
            ("TOKEN", "s3cr3t-value"),
        ]);
        let e = env.number_in("N", 16u32, 1..=64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable N is not valid: a whole number from 1 to 64"
        );
        assert_eq!(e.name(), "N");
        assert!(env.number_in("BIG", 16u32, 1..=64).is_err());
        assert_eq!(env.number_in("OK", 16u32, 1..=64), Ok(20));
        // Unset or blank: the default.
        assert_eq!(env.number_in("BLANK", 16u32, 1..=64), Ok(16));
        assert_eq!(env.number_in("UNSET", 16u32, 1..=64), Ok(16));
        assert_eq!(
            env.required("BLANK").unwrap_err(),
            SettingsError::Missing {
                name: "BLANK".into()
            }
        );
        let e = env
            .checked("TOKEN", &env.required("TOKEN").unwrap(), |v| {
                v.parse::<u8>().map_err(|_| "a byte")
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("TOKEN") && !e.contains("s3cr3t"), "{e}");
        assert_eq!(
            secret_ttl(&Env::from_pairs(&[("SECRET_CACHE_TTL_SECONDS", "0")]))
                .unwrap_err()
                .name(),
            "SECRET_CACHE_TTL_SECONDS"
        );
    }

    #[test]
    fn a_future_deadline_is_kept_and_a_past_one_replaced() {
        let now = chrono::DateTime::from_timestamp_millis(1_800_000_000_000).unwrap();
        let future = 1_800_000_060_000u64;
        assert_eq!(
            run_deadline(future, now, Duration::from_secs(5)).timestamp_millis() as u64,
            future
        );
        let five = chrono::Duration::seconds(5);
        let past = run_deadline(1_799_999_999_000, now, Duration::from_secs(5));
        assert_eq!(past, now + five);
        assert_eq!(run_deadline(0, now, Duration::from_secs(5)), now + five);
    }
}
