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
