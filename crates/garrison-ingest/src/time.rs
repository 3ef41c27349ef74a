//! Timestamps as logs write them: RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), epoch numbers.

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

/// Epoch seconds (with optional fraction) or milliseconds (13 digits) or microseconds.
fn parse_epoch(text: &str) -> Option<Timestamp> {
    let value: f64 = text.parse().ok()?;
    let integral = text.split('.').next().unwrap_or_default();
    let nanos = match integral.len() {
        0..=11 => value * 1e9,
        12..=14 => value * 1e6,
        15..=17 => value * 1e3,
        _ => value,
    };
    Timestamp::from_nanosecond(nanos as i128).ok()
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
            "1596810742.692",
            "1596810742692",
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
