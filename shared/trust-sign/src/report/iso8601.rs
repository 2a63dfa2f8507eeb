//! ISO 8601 date-times as report.json may write them ("Toutes les dates … au format
//! ISO8601"): not only RFC 3339. Read here: extended (`2024-05-02T10:15:30`) and basic
//! (`20240502T101530`) forms, `T` or a space between date and time, minutes-only times,
//! fractions after `.` or `,` (any number of digits, nanoseconds kept), and an offset `Z`,
//! `±HH:MM`, `±HHMM` or `±HH` — or none. A time without an offset is local time somewhere:
//! it is read in the configured zone (Namirial's, Europe/Paris by default) and flagged
//! zone-less, so an operator knows the instant rests on that assumption.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A parsed date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The instant.
    pub instant: DateTime<Utc>,
    /// No offset was written: the instant assumes the configured zone.
    pub zoneless: bool,
}

/// The zone a zone-less time is read in when nothing else is configured: Namirial's.
pub const DEFAULT_ZONE: Tz = chrono_tz::Europe::Paris;

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_any(&mut self, set: &[u8]) -> Option<u8> {
        let b = self.peek().filter(|b| set.contains(b))?;
        self.i += 1;
        Some(b)
    }
    fn digits(&mut self, n: usize) -> Option<u32> {
        let chunk = self.s.get(self.i..self.i + n)?;
        if !chunk.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(
            chunk
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }
    fn at_digit(&self) -> bool {
        self.peek().is_some_and(|b| b.is_ascii_digit())
    }
    fn done(&self) -> bool {
        self.i == self.s.len()
    }
}

/// Parses an ISO 8601 date-time; `None` when it is not one (kept raw by the caller).
pub fn parse(text: &str, zone: Tz) -> Option<Parsed> {
    let mut c = Cursor {
        s: text.trim().as_bytes(),
        i: 0,
    };
    let year = c.digits(4)?;
    let extended = c.eat(b'-');
    let month = c.digits(2)?;
    if extended && !c.eat(b'-') {
        return None;
    }
    let day = c.digits(2)?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    c.eat_any(b"Tt ")?;
    let hour = c.digits(2)?;
    let colon = c.eat(b':');
    let minute = c.digits(2)?;
    let second = if (colon && c.eat(b':')) || (!colon && c.at_digit()) {
        c.digits(2)?
    } else {
        0
    };
    let mut nanos = 0u32;
    if c.eat_any(b".,").is_some() {
        if !c.at_digit() {
            return None;
        }
        let mut scale = 100_000_000u32;
        while c.at_digit() {
            let d = u32::from(c.peek()? - b'0');
            c.i += 1;
            nanos += d * scale;
            scale /= 10;
        }
    }
    // A leap second (`:60`) is kept as chrono represents it.
    let time = if second == 60 {
        NaiveTime::from_hms_nano_opt(hour, minute, 59, 1_000_000_000 + nanos)?
    } else {
        NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?
    };
    let local = NaiveDateTime::new(date, time);
    let offset = match c.eat_any(b"Zz+-") {
        None => None,
        Some(b'Z' | b'z') => Some(FixedOffset::east_opt(0)?),
        Some(sign) => {
            let h = c.digits(2)?;
            let m = if c.eat(b':') || c.at_digit() {
                c.digits(2)?
            } else {
                0
            };
            if m > 59 {
                return None;
            }
            let secs = i32::try_from(h * 3600 + m * 60).ok()?;
            Some(FixedOffset::east_opt(if sign == b'-' {
                -secs
            } else {
                secs
            })?)
        }
    };
    if !c.done() {
        return None;
    }
    Some(match offset {
        Some(o) => Parsed {
            instant: o.from_local_datetime(&local).single()?.with_timezone(&Utc),
            zoneless: false,
        },
        None => Parsed {
            instant: in_zone(local, zone)?,
            zoneless: true,
        },
    })
}

/// A local time in `zone`: the earlier instant when the clocks went back (the hour happens
/// twice), the offset before the change when they went forward (the hour does not exist).
fn in_zone(local: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    use chrono::Offset;
    match zone.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        chrono::LocalResult::None => {
            let before = zone
                .offset_from_utc_datetime(&(local - Duration::hours(6)))
                .fix();
            Some(
                Utc.from_utc_datetime(
                    &(local - Duration::seconds(before.local_minus_utc().into())),
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<(String, bool)> {
        parse(text, DEFAULT_ZONE).map(|p| (p.instant.to_rfc3339(), p.zoneless))
    }

    #[test]
    fn every_offset_form_gives_the_same_instant() {
        let utc = Some(("2024-05-02T08:15:30+00:00".to_string(), false));
        for form in [
            "2024-05-02T08:15:30Z",
            "2024-05-02T10:15:30+02:00",
            "2024-05-02T10:15:30+0200",
            "2024-05-02T10:15:30+02",
            "20240502T101530+0200",
            "2024-05-02 10:15:30+02:00",
            "2024-05-02t08:15:30z",
            "2024-05-02T05:15:30-03:00",
            " 2024-05-02T08:15:30Z ",
        ] {
            assert_eq!(at(form), utc, "{form}");
        }
    }

    #[test]
    fn fractions_are_kept_to_the_nanosecond() {
        let p = parse("2024-05-02T10:15:30.1234567891+0200", DEFAULT_ZONE).unwrap();
        assert_eq!(p.instant.timestamp_subsec_nanos(), 123_456_789);
        let p = parse("2024-05-02T10:15:30,5Z", DEFAULT_ZONE).unwrap();
        assert_eq!(p.instant.timestamp_subsec_millis(), 500);
        assert_eq!(at("2024-05-02T10:15:30.Z"), None);
    }

    #[test]
    fn a_zoneless_time_is_read_in_the_configured_zone_and_flagged() {
        // Paris is UTC+2 in May, UTC+1 in January.
        assert_eq!(
            at("2024-05-02T10:15:30"),
            Some(("2024-05-02T08:15:30+00:00".into(), true))
        );
        assert_eq!(
            at("2024-01-02T10:15"),
            Some(("2024-01-02T09:15:00+00:00".into(), true))
        );
        let prague = parse("2024-05-02T10:15:30", chrono_tz::UTC).unwrap();
        assert_eq!(prague.instant.to_rfc3339(), "2024-05-02T10:15:30+00:00");
        // 02:30 happened twice on 2024-10-27 in Paris: the earlier one. It never happened on
        // 2024-03-31: read with the offset before the change (UTC+1).
        assert_eq!(
            at("2024-10-27T02:30:00").unwrap().0,
            "2024-10-27T00:30:00+00:00"
        );
        assert_eq!(
            at("2024-03-31T02:30:00").unwrap().0,
            "2024-03-31T01:30:00+00:00"
        );
    }

    #[test]
    fn what_is_not_an_iso_date_time_is_refused() {
        for bad in [
            "",
            "10/03/2015",
            "2024-05-02",
            "2024-13-02T10:00:00Z",
            "2024-05-02T25:00:00Z",
            "2024-05-02T10:00:00+25:00",
            "2024-05-02T10:00:00+02:75",
            "2024-0502T10:00:00Z",
            "2024-05-02T10:00:00Zjunk",
            "2024-05-02T10",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
