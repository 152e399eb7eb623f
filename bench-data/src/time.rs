//! Time arithmetic and the timestamp spellings of each vendor, without a
//! clock: every instant is nanoseconds since the Unix epoch (`Nanos`).

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub type Nanos = i64;

pub const NANOS_PER_SEC: Nanos = 1_000_000_000;
pub const NANOS_PER_MIN: Nanos = 60 * NANOS_PER_SEC;
pub const NANOS_PER_HOUR: Nanos = 60 * NANOS_PER_MIN;
pub const NANOS_PER_DAY: Nanos = 24 * NANOS_PER_HOUR;

/// Fractional-second digits of an RFC 3339 timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

/// Days since the epoch of a proleptic Gregorian date: the event crate's
/// calendar, so generator and normalizer agree on every date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    agentrail_event::days_from_civil(year, i64::from(month), i64::from(day))
}

pub use agentrail_event::civil_from_days;

/// Parses `YYYY-MM-DD` into the instant of its midnight UTC.
pub fn parse_date(text: &str) -> Option<Nanos> {
    let mut parts = text.trim().split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    days.checked_mul(NANOS_PER_DAY)
}

/// RFC 3339 in UTC with a `Z` suffix, e.g. `2026-11-16T10:00:00.123456Z`.
pub fn rfc3339(at: Nanos, precision: Precision) -> String {
    let days = at.div_euclid(NANOS_PER_DAY);
    let within = at.rem_euclid(NANOS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = within / NANOS_PER_SEC;
    let frac = within % NANOS_PER_SEC;
    let mut out = String::with_capacity(32);
    push_digits(&mut out, year, 4);
    out.push('-');
    push_digits(&mut out, i64::from(month), 2);
    out.push('-');
    push_digits(&mut out, i64::from(day), 2);
    out.push('T');
    push_digits(&mut out, secs / 3600, 2);
    out.push(':');
    push_digits(&mut out, (secs / 60) % 60, 2);
    out.push(':');
    push_digits(&mut out, secs % 60, 2);
    let (value, width) = match precision {
        Precision::Seconds => (0, 0),
        Precision::Millis => (frac / 1_000_000, 3),
        Precision::Micros => (frac / 1_000, 6),
        Precision::Nanos => (frac, 9),
    };
    if width > 0 {
        out.push('.');
        push_digits(&mut out, value, width);
    }
    out.push('Z');
    out
}

/// Appends `value` zero-padded to `width` digits (wider values keep all digits).
fn push_digits(out: &mut String, value: i64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut rest = value.unsigned_abs();
    let mut len = 0;
    while rest > 0 || len < width {
        digits[len] = b'0' + (rest % 10) as u8;
        rest /= 10;
        len += 1;
        if len == digits.len() {
            break;
        }
    }
    if value < 0 {
        out.push('-');
    }
    for &digit in digits[..len].iter().rev() {
        out.push(char::from(digit));
    }
}

/// Whole seconds since the epoch.
pub fn epoch_secs(at: Nanos) -> i64 {
    at.div_euclid(NANOS_PER_SEC)
}

/// Whole milliseconds since the epoch.
pub fn epoch_millis(at: Nanos) -> i64 {
    at.div_euclid(1_000_000)
}

/// Hour of the day (0..24) in UTC.
pub fn hour_of_day(at: Nanos) -> i64 {
    at.rem_euclid(NANOS_PER_DAY) / NANOS_PER_HOUR
}

/// Day of the week, 0 = Monday.
pub fn weekday(at: Nanos) -> i64 {
    // 1970-01-01 was a Thursday (3 when Monday is 0).
    (at.div_euclid(NANOS_PER_DAY) + 3).rem_euclid(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let start = parse_date("2026-11-16").expect("valid date");
        assert_eq!(rfc3339(start, Precision::Seconds), "2026-11-16T00:00:00Z");
        let t = start + 10 * NANOS_PER_HOUR + 123_456_789;
        assert_eq!(rfc3339(t, Precision::Millis), "2026-11-16T10:00:00.123Z");
        assert_eq!(rfc3339(t, Precision::Micros), "2026-11-16T10:00:00.123456Z");
        assert_eq!(rfc3339(t, Precision::Nanos), "2026-11-16T10:00:00.123456789Z");
        assert_eq!(weekday(start), 0, "2026-11-16 is a Monday");
        assert_eq!(epoch_secs(start), 1_794_787_200);
        assert!(parse_date("2026-02-30").is_none());
        assert!(parse_date("2024-02-29").is_some());
    }
}
