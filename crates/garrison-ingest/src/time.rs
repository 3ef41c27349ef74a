//! Timestamps as logs write them: RFC 3339 (also with `+hhmm` offsets), `YYYY-MM-DD
//! HH:MM:SS[.fff]` (UTC), epoch numbers.

use garrison_model::Timestamp;

/// Parses the time formats found in the logs we read; text without a zone is taken as UTC.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Some(timestamp);
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_epoch(text);
    }
    // An offset without its colon (`+0000`, as Suricata writes it).
    let bytes = text.as_bytes();
    if bytes.len() > 5
        && matches!(bytes[bytes.len() - 5], b'+' | b'-')
        && bytes[bytes.len() - 4..].iter().all(u8::is_ascii_digit)
        && text.contains('T')
    {
        let (head, minutes) = text.split_at(text.len() - 2);
        if let Ok(timestamp) = format!("{head}:{minutes}").parse::<Timestamp>() {
            return Some(timestamp);
        }
    }
    let civil: jiff::civil::DateTime = text
        .replacen(' ', "T", 1)
        .trim_end_matches('Z')
        .parse()
        .ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// Epoch seconds (with optional fraction), milliseconds (13 digits), microseconds (16) or
/// nanoseconds, read exactly (no floating point: `1795161790.550000` is .55 s, not .549999872).
fn parse_epoch(text: &str) -> Option<Timestamp> {
    let (integral, fraction) = text.split_once('.').unwrap_or((text, ""));
    if integral.is_empty() || fraction.contains('.') {
        return None;
    }
    let whole: i128 = integral.parse().ok()?;
    // Nanoseconds per unit of the integral part, by its number of digits.
    let unit: i128 = match integral.len() {
        0..=11 => 1_000_000_000,
        12..=14 => 1_000_000,
        15..=17 => 1_000,
        _ => 1,
    };
    let mut nanos = whole * unit;
    // The fraction, in the same unit, to nanosecond precision.
    let mut scale = unit;
    for digit in fraction.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        nanos += i128::from(digit - b'0') * scale;
    }
    Timestamp::from_nanosecond(nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let expected: Timestamp = "2020-08-07T14:32:22.692Z".parse().unwrap();
        for text in [
            "2020-08-07T14:32:22.692Z",
            "2020-08-07 14:32:22.692",
            "2020-08-07T14:32:22.692",
            "2020-08-07T16:32:22.692+02:00",
            "2020-08-07T14:32:22.692000+0000",
            "2020-08-07T12:32:22.692-0200",
            "1596810742.692",
            "1596810742692",
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        assert_eq!(
            parse_timestamp("1795161790.550000"),
            Some("2026-11-20T08:03:10.55Z".parse().unwrap())
        );
        assert_eq!(
            parse_timestamp("1709290800123456"),
            Some("2024-03-01T11:00:00.123456Z".parse().unwrap())
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
