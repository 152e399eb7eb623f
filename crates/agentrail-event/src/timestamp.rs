//! UTC timestamps with microsecond precision, and the one parser for every
//! time format the sources use.
//!
//! Audit sources disagree on how to write a time: RFC 3339 with any number of
//! fraction digits and any offset (CloudTrail, Okta, Kubernetes, GCP), a space
//! instead of the `T` with no offset at all (exports and re-shippers), epoch
//! seconds (OpenAI), epoch milliseconds (GitHub `@timestamp`), epoch
//! nanoseconds as a decimal string (OTLP `timeUnixNano`). Parsing is hand
//! written: it is on the hot path of every record and `chrono`'s format-driven
//! parser is several times slower for these fixed shapes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// A point in time, microseconds since the Unix epoch, UTC.
///
/// The Arrow type is `Timestamp(Microsecond, "UTC")`; the JSON form is
/// RFC 3339 with exactly six fraction digits and a `Z`, which sorts
/// lexicographically in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a text or number is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("`{0}` is not a date-time (expected RFC 3339 such as 2026-11-20T10:00:00Z)")]
    Syntax(String),
    #[error("`{0}` has a field out of range (month, day, hour, minute, second or offset)")]
    Range(String),
    #[error("epoch value {0} is outside the years 1970..=9999")]
    Epoch(String),
}

impl Timestamp {
    /// Latest time accepted: 9999-12-31T23:59:59.999999Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999_999);

    /// The current time, from the system clock.
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
    }

    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 and its common relatives: `T`, `t` or a space between
    /// date and time; 0 to 9 fraction digits (beyond 6 are truncated); `Z`,
    /// `+HH:MM`, `+HHMM`, `+HH` or no offset (taken as UTC); a bare date.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        parse_datetime(text.trim())
    }

    /// Interprets an integer as epoch seconds, milliseconds, microseconds or
    /// nanoseconds by its magnitude. Every unit maps the years 1973..=5138 to
    /// a distinct range, so the guess is unambiguous for real audit data.
    pub fn from_epoch_guess(value: i64) -> Result<Self, TimestampError> {
        let magnitude = value.unsigned_abs();
        let micros = if magnitude < 100_000_000_000 {
            value.checked_mul(MICROS_PER_SECOND)
        } else if magnitude < 100_000_000_000_000 {
            value.checked_mul(1_000)
        } else if magnitude < 100_000_000_000_000_000 {
            Some(value)
        } else {
            Some(value / 1_000)
        };
        Self::checked(micros, || value.to_string())
    }

    /// An epoch number with a fraction: seconds as some JSON loggers write
    /// them, or a larger unit told by its magnitude (`1621305118553.0` ms).
    pub fn from_epoch_seconds_f64(seconds: f64) -> Result<Self, TimestampError> {
        if !seconds.is_finite() {
            return Err(TimestampError::Epoch(seconds.to_string()));
        }
        if seconds.abs() >= 100_000_000_000.0 && seconds.abs() < i64::MAX as f64 {
            return Self::from_epoch_guess(seconds as i64);
        }
        let micros = (seconds * MICROS_PER_SECOND as f64).round();
        if micros.abs() > i64::MAX as f64 {
            return Err(TimestampError::Epoch(seconds.to_string()));
        }
        Self::checked(Some(micros as i64), || seconds.to_string())
    }

    /// Epoch in an explicit unit (`1` = seconds, `1_000` = ms, `1_000_000` =
    /// µs, `1_000_000_000` = ns).
    pub fn from_epoch_units(value: i64, units_per_second: i64) -> Result<Self, TimestampError> {
        let micros = if units_per_second >= MICROS_PER_SECOND {
            Some(value / (units_per_second / MICROS_PER_SECOND))
        } else {
            value.checked_mul(MICROS_PER_SECOND / units_per_second.max(1))
        };
        Self::checked(micros, || value.to_string())
    }

    fn checked(micros: Option<i64>, shown: impl Fn() -> String) -> Result<Self, TimestampError> {
        match micros {
            Some(m) if (0..=Self::MAX.0).contains(&m) => Ok(Timestamp(m)),
            _ => Err(TimestampError::Epoch(shown())),
        }
    }

    /// Writes `YYYY-MM-DDTHH:MM:SS.ffffffZ` into `out` without allocating.
    pub fn write_rfc3339(self, out: &mut String) {
        let days = self.0.div_euclid(MICROS_PER_SECOND * SECONDS_PER_DAY);
        let in_day = self.0.rem_euclid(MICROS_PER_SECOND * SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let seconds = in_day / MICROS_PER_SECOND;
        let fraction = in_day % MICROS_PER_SECOND;
        push_digits(out, year, 4);
        out.push('-');
        push_digits(out, month as i64, 2);
        out.push('-');
        push_digits(out, day as i64, 2);
        out.push('T');
        push_digits(out, seconds / 3600, 2);
        out.push(':');
        push_digits(out, seconds / 60 % 60, 2);
        out.push(':');
        push_digits(out, seconds % 60, 2);
        out.push('.');
        push_digits(out, fraction, 6);
        out.push('Z');
    }

    /// The calendar day, `YYYY-MM-DD`, used for day partitions.
    pub fn date_string(self) -> String {
        let (year, month, day) = civil_from_days(self.0.div_euclid(MICROS_PER_SECOND * SECONDS_PER_DAY));
        format!("{year:04}-{month:02}-{day:02}")
    }
}

fn push_digits(out: &mut String, value: i64, width: u32) {
    let mut divisor = 10_i64.pow(width - 1);
    let mut rest = value.rem_euclid(10_i64.pow(width));
    while divisor > 0 {
        out.push(char::from(b'0' + (rest / divisor) as u8));
        rest %= divisor;
        divisor /= 10;
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(27);
        self.write_rfc3339(&mut text);
        f.write_str(&text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A cursor over ASCII bytes for the fixed-shape parser.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, count: usize) -> Option<i64> {
        let slice = self.bytes.get(self.at..self.at + count)?;
        let mut value = 0_i64;
        for &b in slice {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(b - b'0');
        }
        self.at += count;
        Some(value)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, expected: u8) -> bool {
        if self.peek() == Some(expected) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

fn parse_datetime(text: &str) -> Result<Timestamp, TimestampError> {
    let syntax = || TimestampError::Syntax(shorten(text));
    let range = || TimestampError::Range(shorten(text));
    let mut c = Cursor { bytes: text.as_bytes(), at: 0 };

    let year = c.digits(4).ok_or_else(syntax)?;
    // ISO 8601 basic form, `20131102T010628Z`, as older CloudTrail records write it.
    let basic = c.peek().is_some_and(|b| b.is_ascii_digit());
    let month = if basic || c.eat(b'-') { c.digits(2).ok_or_else(syntax)? } else { return Err(syntax()) };
    let day = if basic || c.eat(b'-') { c.digits(2).ok_or_else(syntax)? } else { return Err(syntax()) };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(range());
    }
    let mut seconds_of_day = 0_i64;
    let mut fraction_micros = 0_i64;
    let mut offset_seconds = 0_i64;
    if !c.done() {
        match c.peek() {
            Some(b'T' | b't' | b' ') => c.at += 1,
            _ => return Err(syntax()),
        }
        let hour = c.digits(2).ok_or_else(syntax)?;
        let minute = if basic || c.eat(b':') { c.digits(2).ok_or_else(syntax)? } else { return Err(syntax()) };
        let second = if c.eat(b':') || (basic && c.peek().is_some_and(|b| b.is_ascii_digit())) {
            c.digits(2).ok_or_else(syntax)?
        } else {
            0
        };
        // A leap second (:60) is folded into :59, as most systems log it.
        if hour > 23 || minute > 59 || second > 60 {
            return Err(range());
        }
        seconds_of_day = hour * 3600 + minute * 60 + second.min(59);
        if c.eat(b'.') || c.eat(b',') {
            let start = c.at;
            let mut scale = 100_000_i64;
            while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
                fraction_micros += i64::from(b - b'0') * scale;
                scale /= 10;
                c.at += 1;
            }
            if c.at == start {
                return Err(syntax());
            }
        }
        c.eat(b' ');
        match c.peek() {
            None => {}
            Some(b'Z' | b'z') => c.at += 1,
            Some(sign @ (b'+' | b'-')) => {
                c.at += 1;
                let hours = c.digits(2).ok_or_else(syntax)?;
                c.eat(b':');
                let minutes = if c.done() { 0 } else { c.digits(2).ok_or_else(syntax)? };
                if hours > 23 || minutes > 59 {
                    return Err(range());
                }
                let magnitude = hours * 3600 + minutes * 60;
                offset_seconds = if sign == b'+' { magnitude } else { -magnitude };
            }
            Some(_) if text[c.at..].eq_ignore_ascii_case("utc") => c.at = text.len(),
            Some(_) => return Err(syntax()),
        }
        if !c.done() {
            return Err(syntax());
        }
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * SECONDS_PER_DAY + seconds_of_day - offset_seconds;
    let micros = seconds * MICROS_PER_SECOND + fraction_micros;
    if !(0..=Timestamp::MAX.0).contains(&micros) {
        return Err(range());
    }
    Ok(Timestamp(micros))
}

fn shorten(text: &str) -> String {
    const LIMIT: usize = 64;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> String {
        match Timestamp::parse(text) {
            Ok(ts) => ts.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn parses_the_shapes_sources_write() {
        assert_eq!(parsed("2019-01-01T00:00:00Z"), "2019-01-01T00:00:00.000000Z");
        assert_eq!(parsed("2026-11-20T10:00:00.123Z"), "2026-11-20T10:00:00.123000Z");
        assert_eq!(parsed("2023-03-08T18:52:52.558899123Z"), "2023-03-08T18:52:52.558899Z");
        assert_eq!(parsed("2023-03-08T10:52:52.510-08:00"), "2023-03-08T18:52:52.510000Z");
        assert_eq!(parsed("2023-03-08T10:52:52+0530"), "2023-03-08T05:22:52.000000Z");
        assert_eq!(parsed("2022-11-29 00:09:04.38"), "2022-11-29T00:09:04.380000Z");
        assert_eq!(parsed("2022-07-28 16:48:14"), "2022-07-28T16:48:14.000000Z");
        assert_eq!(parsed("2025-01-15 14:20:35.456 UTC"), "2025-01-15T14:20:35.456000Z");
        assert_eq!(parsed("2024-02-29"), "2024-02-29T00:00:00.000000Z");
        assert_eq!(parsed("2016-12-31T23:59:60Z"), "2016-12-31T23:59:59.000000Z");
        assert_eq!(parsed("20131102T010628Z"), "2013-11-02T01:06:28.000000Z");
    }

    #[test]
    fn rejects_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-01-01T24:00:00Z",
            "2023-01-01T00:00:00.Z",
            "2023-01-01T00:00:00Zjunk",
            "2023-01-01X00:00:00Z",
            "1969-12-31T23:59:59Z",
            "٢٠٢٣-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn epoch_units_are_guessed_by_magnitude() {
        let expected = "2021-05-18T02:31:58.553000Z";
        assert_eq!(Timestamp::from_epoch_guess(1_621_305_118_553).map(|t| t.to_string()), Ok(expected.into()));
        assert_eq!(Timestamp::from_epoch_guess(1_621_305_118_553_000_000).map(|t| t.to_string()), Ok(expected.into()));
        assert_eq!(
            Timestamp::from_epoch_guess(1_702_857_600).map(|t| t.to_string()),
            Ok("2023-12-18T00:00:00.000000Z".into())
        );
        assert!(Timestamp::from_epoch_guess(-5).is_err());
        assert!(Timestamp::from_epoch_guess(i64::MAX).is_err() || Timestamp::from_epoch_guess(i64::MAX).is_ok());
    }

    #[test]
    fn epoch_in_explicit_units() {
        assert_eq!(Timestamp::from_epoch_units(1_500, 1_000), Ok(Timestamp(1_500_000)));
        assert_eq!(Timestamp::from_epoch_units(1_500_000_000, 1_000_000_000), Ok(Timestamp(1_500_000)));
        assert!(Timestamp::from_epoch_units(i64::MAX, 1).is_err());
    }

    #[test]
    fn date_string_is_the_utc_day() {
        assert_eq!(Timestamp::parse("2026-11-22T23:59:59Z").map(|t| t.date_string()), Ok("2026-11-22".into()));
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_is_identity(micros in 0_i64..=Timestamp::MAX.0) {
            let ts = Timestamp(micros);
            proptest::prop_assert_eq!(Timestamp::parse(&ts.to_string()), Ok(ts));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = Timestamp::parse(&text);
        }
    }
}
