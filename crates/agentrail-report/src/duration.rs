//! Durations as rule headers and `--since` write them: a whole number and a
//! unit, `s`, `m`, `h` or `d` (`15m`, `24h`, `7d`).

use std::time::Duration;

/// Parses `text`; the error says what is accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} is not a duration: use a whole number and s, m, h or d (15m, 24h, 7d)")),
    };
    let count: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: use a whole number and s, m, h or d (15m, 24h, 7d)"))?;
    let seconds = count
        .checked_mul(seconds_per_unit)
        .filter(|s| *s > 0 && *s <= 100 * 365 * 86_400)
        .ok_or_else(|| format!("{text:?} is out of range: more than 0 and at most 100 years"))?;
    Ok(Duration::from_secs(seconds))
}

/// The shortest of the forms [`parse_duration`] reads.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_write_with_units() {
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration(" 7d "), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
        for bad in ["", "15", "m", "1.5h", "-1h", "1w", "0m", "99999999999999d", "1 h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} is refused");
        }
    }
}
