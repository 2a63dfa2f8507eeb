//! GoPay's dates: `yyyy-mm-dd HH:MM:SS.mmm`, with no zone.
//!
//! # Which zone
//! The reference gives no zone and no offset (the table even writes the layout as
//! `yyyy-mm-dd HH:MM:SS:MS`, while every example uses `.mmm`). We assume **Europe/Prague
//! civil time (CET, UTC+1 / CEST, UTC+2)**: GoPay is a Czech service run from Prague, its
//! documentation is Czech, and its customers read these dates as local Czech time. This is an
//! inference, not a confirmed fact, so we never lose what was sent: [`GoPayDateTime`] keeps the
//! raw text and the naive local value, and only derives the UTC instant from the assumption.
//! If GoPay ever sends an explicit offset (`Z`, `+01:00`), that offset wins.
//!
//! Prague's offsets come from the IANA time-zone database (`chrono-tz`, `Europe/Prague`): since
//! 1996 summer time runs from the last Sunday of March 01:00 UTC to the last Sunday of October
//! 01:00 UTC. Local times in the autumn hour that happens twice resolve to the earlier instant
//! (summer time), and local times in the spring gap that never happens are read as winter time;
//! both cases are flagged in [`ZoneSource`].

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Europe::Prague;

use super::error::GoPayError;

/// The zone GoPay's zone-less dates are read in.
pub const ASSUMED_ZONE: &str = "Europe/Prague";

/// How the UTC instant of a [`GoPayDateTime`] was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneSource {
    /// Zone-less value read as Prague civil time; unambiguous.
    AssumedPrague,
    /// Zone-less value in the autumn hour that occurs twice; the earlier instant was taken.
    AssumedPragueAmbiguous,
    /// Zone-less value in the spring gap that does not exist locally; read as winter time.
    AssumedPragueGap,
    /// The value carried its own offset.
    Explicit,
}

/// One GoPay date as sent, with its naive local reading and its derived UTC instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoPayDateTime {
    raw: String,
    local: NaiveDateTime,
    utc: DateTime<Utc>,
    source: ZoneSource,
}

impl GoPayDateTime {
    /// Parses leniently: `yyyy-mm-dd HH:MM:SS.mmm` (documented examples), `...SS:mmm` (the
    /// documented layout), any fraction length or none, `T` instead of the space, a bare date,
    /// and RFC 3339 with an explicit offset.
    pub fn parse(input: &str) -> Result<Self, GoPayError> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(GoPayError::InvalidDate { reason: "empty" });
        }
        if raw.len() > 64 {
            return Err(GoPayError::InvalidDate { reason: "too long" });
        }
        if let Ok(explicit) = DateTime::parse_from_rfc3339(raw) {
            check_year(explicit.naive_utc())?;
            return Ok(Self {
                raw: raw.to_string(),
                local: explicit.naive_local(),
                utc: explicit.with_timezone(&Utc),
                source: ZoneSource::Explicit,
            });
        }
        let local = parse_naive(raw)?;
        // Zone arithmetic near chrono's limits would overflow: such a year is no real date.
        check_year(local)?;
        let (utc, source) = prague_local_to_utc(local);
        Ok(Self {
            raw: raw.to_string(),
            local,
            utc,
            source,
        })
    }

    /// Builds the value GoPay would send for an instant (Prague civil time, milliseconds).
    pub fn from_utc(utc: DateTime<Utc>) -> Self {
        let local = utc.naive_utc() + prague_offset_at(utc);
        let raw = format_gopay_local(local);
        Self {
            raw,
            local,
            utc,
            source: ZoneSource::AssumedPrague,
        }
    }

    /// The text exactly as received (trimmed).
    pub fn raw(&self) -> &str {
        &self.raw
    }
    /// The wall-clock value as sent, without any zone.
    pub fn local(&self) -> NaiveDateTime {
        self.local
    }
    /// The instant, under the Prague assumption unless the value carried an offset.
    pub fn utc(&self) -> DateTime<Utc> {
        self.utc
    }
    /// Whether the zone was sent or assumed.
    pub fn zone_source(&self) -> ZoneSource {
        self.source
    }
}

/// Years GoPay can mean (`0000-00-00`-style placeholders and far years are unusable).
fn check_year(value: NaiveDateTime) -> Result<(), GoPayError> {
    if (1..=9999).contains(&value.year()) {
        Ok(())
    } else {
        Err(GoPayError::InvalidDate {
            reason: "year out of range 0001-9999",
        })
    }
}

fn parse_naive(raw: &str) -> Result<NaiveDateTime, GoPayError> {
    let mut text = raw.replacen('T', " ", 1);
    // Documented layout `HH:MM:SS:MS`: a fourth time component separated by a colon.
    if let Some((date, time)) = text.split_once(' ') {
        if time.matches(':').count() == 3 {
            if let Some(pos) = time.rfind(':') {
                text = format!("{date} {}.{}", &time[..pos], &time[pos + 1..]);
            }
        }
    }
    for layout in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(v) = NaiveDateTime::parse_from_str(&text, layout) {
            return Ok(v);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN));
    }
    Err(GoPayError::InvalidDate {
        reason: "not yyyy-mm-dd HH:MM:SS.mmm",
    })
}

/// Formats a naive local value the way GoPay does: `yyyy-mm-dd HH:MM:SS.mmm`.
pub fn format_gopay_local(local: NaiveDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        local.year(),
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.nanosecond() / 1_000_000 % 1000
    )
}

/// Prague's offset from UTC at an instant.
pub fn prague_offset_at(utc: DateTime<Utc>) -> Duration {
    Duration::seconds(i64::from(prague_fixed_offset_at(utc).local_minus_utc()))
}

/// The fixed offset of Prague at an instant.
pub fn prague_fixed_offset_at(utc: DateTime<Utc>) -> FixedOffset {
    Prague.offset_from_utc_datetime(&utc.naive_utc()).fix()
}

/// Reads a Prague wall-clock value as an instant (see the module documentation for the
/// ambiguous and missing hours).
pub fn prague_local_to_utc(local: NaiveDateTime) -> (DateTime<Utc>, ZoneSource) {
    match Prague.from_local_datetime(&local) {
        LocalResult::Single(t) => (t.with_timezone(&Utc), ZoneSource::AssumedPrague),
        LocalResult::Ambiguous(earlier, _) => (
            earlier.with_timezone(&Utc),
            ZoneSource::AssumedPragueAmbiguous,
        ),
        // The spring gap: read as the winter offset (UTC+1) the clock showed just before.
        LocalResult::None => (
            (local - Duration::hours(1)).and_utc(),
            ZoneSource::AssumedPragueGap,
        ),
    }
}
