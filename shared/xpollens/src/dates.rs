//! Xpollens dates. The `Webhook-Processdate` header is not ISO 8601 but .NET's
//! `dd/MM/yyyy HH:mm:ss zzz` (`12/12/2023 17:51:40 +00:00`; French day-first order). The
//! fallback queue writes the same instant ISO 8601 with 7 fractional digits, with or without
//! an offset (`2023-12-18T13:05:14.9053587+00:00`, `2024-09-24T22:10:24`). Bodies (callback
//! 36) use ISO 8601 with up to 7 fractional digits.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};

/// A provider date and whether its zone had to be assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderDate {
    /// The instant.
    pub at: DateTime<Utc>,
    /// No offset was written: read as UTC (Xpollens' servers and examples are UTC).
    pub assumed_utc: bool,
}

/// Parses `Webhook-Processdate` in any form Xpollens uses; `None` if it is none of them.
pub fn parse_provider_date(raw: &str) -> Option<ProviderDate> {
    let raw = raw.trim();
    if let Some(at) = header_form(raw) {
        return Some(ProviderDate {
            at,
            assumed_utc: false,
        });
    }
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

/// The form every live delivery's header has, `dd/MM/yyyy HH:mm:ss ±hh:mm`, read by position:
/// chrono's format interpreter costs more than the rest of a small callback's parse. `None`
/// for anything else (other forms, leap seconds, impossible dates), which the general path then
/// reads or refuses exactly as before.
fn header_form(raw: &str) -> Option<DateTime<Utc>> {
    let b = raw.as_bytes();
    if b.len() != 26 {
        return None;
    }
    let n = |at: usize| -> Option<u32> {
        let (hi, lo) = (b[at].wrapping_sub(b'0'), b[at + 1].wrapping_sub(b'0'));
        (hi < 10 && lo < 10).then_some(u32::from(hi) * 10 + u32::from(lo))
    };
    let punctuation = [
        (2, b'/'),
        (5, b'/'),
        (10, b' '),
        (13, b':'),
        (16, b':'),
        (19, b' '),
        (23, b':'),
    ];
    if punctuation.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let sign = match b[20] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let year = i32::try_from(n(6)? * 100 + n(8)?).ok()?;
    let local = NaiveDate::from_ymd_opt(year, n(3)?, n(0)?)?.and_hms_opt(n(11)?, n(14)?, n(17)?)?;
    let (offset_hours, offset_minutes) = (n(21)?, n(24)?);
    if offset_minutes >= 60 {
        return None;
    }
    let offset = FixedOffset::east_opt(
        sign * i32::try_from(offset_hours * 3600 + offset_minutes * 60).ok()?,
    )?;
    Some(
        local
            .and_local_timezone(offset)
            .single()?
            .with_timezone(&Utc),
    )
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

    /// `dd/MM/yyyy HH:mm:ss ±hh:mm` from its fields, in range or not.
    fn header_text(
        (y, mo, d, h, mi, s): (u32, u32, u32, u32, u32, u32),
        (sign, oh, om): (bool, u32, u32),
    ) -> String {
        let sign = if sign { '+' } else { '-' };
        format!("{d:02}/{mo:02}/{y:04} {h:02}:{mi:02}:{s:02} {sign}{oh:02}:{om:02}")
    }

    /// How chrono's format interpreter reads the header form: the reference.
    fn chrono_reading(raw: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_str(raw, "%d/%m/%Y %H:%M:%S %:z")
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    proptest::proptest! {
        /// The positional reader and chrono's `%d/%m/%Y %H:%M:%S %:z` agree on every string of
        /// the header's shape, valid or not: the fast path never accepts what the general path
        /// refuses, nor reads a date differently.
        #[test]
        fn the_header_form_reads_as_chrono_does(raw in "[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{2}:[0-9]{2}") {
            let chrono = chrono_reading(&raw);
            match header_form(&raw) {
                Some(fast) => proptest::prop_assert_eq!(Some(fast), chrono),
                // Declined: the general path decides, as it did before.
                None => proptest::prop_assert_eq!(parse_process_date(&raw), chrono),
            }
        }

        /// The same, on fields at and just past their limits (day 0 and 32, month 13, hour 24,
        /// second 60, offset minute 60...), where a positional reader would go wrong.
        #[test]
        fn boundary_header_dates_read_as_chrono_does(
            (y, mo, d, h, mi, s) in (0u32..10000, 0u32..14, 0u32..33, 0u32..26, 0u32..62, 0u32..62),
            (sign, oh, om) in (proptest::bool::ANY, 0u32..26, 0u32..62),
        ) {
            let raw = header_text((y, mo, d, h, mi, s), (sign, oh, om));
            let chrono = chrono_reading(&raw);
            if let Some(fast) = header_form(&raw) {
                proptest::prop_assert_eq!(Some(fast), chrono);
            }
            proptest::prop_assert_eq!(parse_process_date(&raw), chrono);
        }

        #[test]
        fn valid_header_dates_take_the_fast_path(
            (y, mo, d, h, mi, s) in (1u32..9999, 1u32..13, 1u32..29, 0u32..24, 0u32..60, 0u32..60),
            (sign, oh, om) in (proptest::bool::ANY, 0u32..24, 0u32..60),
        ) {
            let raw = header_text((y, mo, d, h, mi, s), (sign, oh, om));
            proptest::prop_assert!(chrono_reading(&raw).is_some());
            proptest::prop_assert_eq!(header_form(&raw), chrono_reading(&raw));
        }
    }
}
