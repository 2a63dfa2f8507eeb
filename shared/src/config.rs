//! Reading a function's settings from its environment, once per cold start.

/// A required variable; the error names it (never its value).
pub fn required(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("missing environment variable {name}"))
}

/// An optional variable parsed as `T`, or `default` when absent or unparsable.
pub fn or_default<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An optional variable parsed as `T`: `default` when absent, an error naming the variable
/// (not its value) when present but unparsable — a typo fails the cold start instead of
/// silently running with the default.
pub fn parsed_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) if v.trim().is_empty() => Ok(default),
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("environment variable {name} is not valid")),
    }
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
    use std::time::Duration;

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
