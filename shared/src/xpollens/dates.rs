//! Xpollens dates. The `Webhook-Processdate` header is not ISO 8601 but .NET's
//! `dd/MM/yyyy HH:mm:ss zzz` (`12/12/2023 17:51:40 +00:00`; French day-first order). Bodies
//! (callback 36) use ISO 8601 with up to 7 fractional digits.

use chrono::{DateTime, Utc};

/// Parses `Webhook-Processdate`. ISO 8601 is accepted too, in case Xpollens moves to it.
pub fn parse_process_date(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    [
        "%d/%m/%Y %H:%M:%S %:z",
        "%d/%m/%Y %H:%M:%S %z",
        "%d/%m/%Y %H:%M:%S%.f %:z",
    ]
    .iter()
    .find_map(|fmt| DateTime::parse_from_str(raw, fmt).ok())
    .or_else(|| DateTime::parse_from_rfc3339(raw).ok())
    .map(|d| d.with_timezone(&Utc))
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
