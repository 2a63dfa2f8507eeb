//! Xpollens dates. The `Webhook-Processdate` header is not ISO 8601 but .NET's
//! `dd/MM/yyyy HH:mm:ss zzz` (`12/12/2023 17:51:40 +00:00`; French day-first order). The
//! fallback queue writes the same instant ISO 8601 with 7 fractional digits, with or without
//! an offset (`2023-12-18T13:05:14.9053587+00:00`, `2024-09-24T22:10:24`). Bodies (callback
//! 36) use ISO 8601 with up to 7 fractional digits.

use chrono::{DateTime, NaiveDateTime, Utc};

/// A provider date and whether its zone had to be assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderDate {
    pub at: DateTime<Utc>,
    /// No offset was written: read as UTC (Xpollens' servers and examples are UTC).
    pub assumed_utc: bool,
}

/// Parses `Webhook-Processdate` in any form Xpollens uses; `None` if it is none of them.
pub fn parse_provider_date(raw: &str) -> Option<ProviderDate> {
    let raw = raw.trim();
    let with_offset = [
        "%d/%m/%Y %H:%M:%S %:z",
        "%d/%m/%Y %H:%M:%S %z",
        "%d/%m/%Y %H:%M:%S%.f %:z",
        "%d/%m/%Y %H:%M:%S%.f %z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ]
    .iter()
    .find_map(|fmt| DateTime::parse_from_str(raw, fmt).ok())
    .or_else(|| DateTime::parse_from_rfc3339(raw).ok());
    if let Some(d) = with_offset {
        return Some(ProviderDate {
            at: d.with_timezone(&Utc),
            assumed_utc: false,
        });
    }
    [
        "%d/%m/%Y %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(raw, fmt).ok())
    .map(|n| ProviderDate {
        at: n.and_utc(),
        assumed_utc: true,
    })
}

/// Parses `Webhook-Processdate` (see [`parse_provider_date`]), dropping the zone flag.
pub fn parse_process_date(raw: &str) -> Option<DateTime<Utc>> {
    parse_provider_date(raw).map(|d| d.at)
}

/// Parses an ISO 8601 body date (`2021-05-18T12:47:14.4008694+00:00`).
pub fn parse_body_date(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn process_date_is_day_first_with_offset() {
        let d = parse_process_date("12/11/2023 17:51:40 +00:00").unwrap();
        assert_eq!(d, Utc.with_ymd_and_hms(2023, 11, 12, 17, 51, 40).unwrap());
        let d = parse_process_date("01/02/2024 10:00:00 +02:00").unwrap();
        assert_eq!(d, Utc.with_ymd_and_hms(2024, 2, 1, 8, 0, 0).unwrap());
        assert!(parse_process_date("2024-02-01T10:00:00Z").is_some());
        assert!(parse_process_date("13/13/2023 17:51:40 +00:00").is_none());
        assert!(parse_process_date("yesterday").is_none());
    }

    #[test]
    fn queue_forms_with_seven_digit_fractions_with_or_without_offset() {
        let d = parse_provider_date("2023-12-18T13:05:14.9053587+00:00").unwrap();
        assert!(!d.assumed_utc);
        assert_eq!(
            d.at,
            Utc.with_ymd_and_hms(2023, 12, 18, 13, 5, 14).unwrap()
                + chrono::Duration::nanoseconds(905_358_700)
        );
        let d = parse_provider_date("2024-09-24T22:10:24").unwrap();
        assert!(d.assumed_utc);
        assert_eq!(d.at, Utc.with_ymd_and_hms(2024, 9, 24, 22, 10, 24).unwrap());
        let d = parse_provider_date("2024-09-24T22:10:24.1234567").unwrap();
        assert!(d.assumed_utc);
        assert_eq!(d.at.timestamp(), 1727215824);
        let d = parse_provider_date("2024-09-24T22:10:24.5+02:00").unwrap();
        assert_eq!(d.at.timestamp(), 1727215824 - 7200);
        // The header form and the queue form of one delivery are the same instant.
        assert_eq!(
            parse_process_date("18/12/2023 13:05:14 +00:00")
                .unwrap()
                .timestamp(),
            parse_process_date("2023-12-18T13:05:14.9053587+00:00")
                .unwrap()
                .timestamp()
        );
        assert!(
            parse_provider_date("12/12/2023 17:51:40")
                .unwrap()
                .assumed_utc
        );
    }

    #[test]
    fn body_dates_accept_seven_fractional_digits() {
        let d = parse_body_date("2021-05-18T12:47:14.4008694+00:00").unwrap();
        assert_eq!(
            d.timestamp(),
            Utc.with_ymd_and_hms(2021, 5, 18, 12, 47, 14)
                .unwrap()
                .timestamp()
        );
    }
}
