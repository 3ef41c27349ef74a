//! Syslog messages, one per line: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`),
//! RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`), and the forms log files keep them in
//! (3164 without the priority, as in `/var/log/auth.log`, or with an RFC 3339 time, rsyslog's
//! high-precision file format).
//!
//! Fields: `facility` and `severity` (names, when a priority is present), `hostname`,
//! `program`, `pid`, `msgid`, structured data as `sd.ID.PARAM`, and `message`; then the
//! message of a known program parsed by [`crate::linux_messages`] (sshd logins, sudo
//! commands, PAM sessions, account changes). Sysmon for Linux events (the program writes its
//! event XML as the message) get their event's fields and time, in Windows names. RFC 3164 has no year: the year is the one that
//! puts the time nearest before the reference time (the reading machine's clock), so a
//! December line read in January is last year's.

use crate::time::parse_timestamp;
use garrison_model::{Fields, Timestamp, ValueKind};

pub const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The channel Sysmon for Linux names in its events.
pub const SYSMON_LINUX_CHANNEL: &str = "Linux-Sysmon/Operational";

/// Why a line is not a syslog message.
pub type Rejection = &'static str;

/// Parses one message into `fields` (cleared first); returns its time. `now` is the
/// reference time for RFC 3164's missing year.
pub fn parse_line(line: &str, now: Timestamp, fields: &mut Fields) -> Result<Timestamp, Rejection> {
    fields.clear();
    let line = line.trim_end_matches(['\r', '\n']);
    let (priority, rest) = split_priority(line)?;
    // A CEF or LEEF event on its own: its time is in its extension.
    if crate::cef::kind_of(rest).is_some() {
        push_priority(priority, fields);
        if !crate::cef::parse(rest, fields) {
            return Err("CEF or LEEF header incomplete");
        }
        return ["rt", "devTime", "end", "start"]
            .iter()
            .find_map(|name| fields.value(name).and_then(parse_event_time))
            .ok_or("CEF or LEEF event without a time (rt, devTime)");
    }
    push_priority(priority, fields);
    let timestamp = match rest.strip_prefix("1 ") {
        Some(rest) if priority.is_some() => parse_5424(rest, fields)?,
        _ => parse_3164(rest, now, fields)?,
    };
    let message = fields.value("message").unwrap_or_default().to_string();
    let program = fields.value("program").unwrap_or_default().to_string();
    // CEF and LEEF over syslog: RFC 3164 readers take `CEF` for the program.
    if matches!(program.as_str(), "CEF" | "LEEF")
        && message.starts_with(|c: char| c.is_ascii_digit())
    {
        crate::cef::parse(&format!("{program}:{message}"), fields);
    } else if crate::cef::kind_of(&message).is_some() {
        crate::cef::parse(&message, fields);
    } else if message.trim_start().starts_with("<Event") {
        // Sysmon for Linux writes each event as its XML.
        if let Ok(Some(created)) = crate::windows_xml::add_event(&message, fields) {
            return Ok(created);
        }
    } else {
        crate::linux_messages::parse(&program, &message, fields);
    }
    Ok(timestamp)
}

fn push_priority(priority: Option<u8>, fields: &mut Fields) {
    if let Some(priority) = priority {
        fields.push(
            "facility",
            FACILITIES[(priority >> 3) as usize],
            ValueKind::Text,
        );
        fields.push(
            "severity",
            SEVERITIES[(priority & 7) as usize],
            ValueKind::Text,
        );
    }
}

/// A CEF/LEEF time: epoch milliseconds, or `MMM dd yyyy HH:mm:ss[.SSS]`, or RFC 3339.
fn parse_event_time(text: &str) -> Option<Timestamp> {
    if let Some(timestamp) = parse_timestamp(text) {
        return Some(timestamp);
    }
    let mut parts = text.split_whitespace();
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let day: i8 = parts.next()?.parse().ok()?;
    let year: i16 = parts.next()?.parse().ok()?;
    let time = parts.next()?;
    let civil: jiff::civil::DateTime = format!("{year:04}-{month:02}-{day:02}T{time}")
        .parse()
        .ok()?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}

/// The record format of a parsed line: CEF, LEEF and Sysmon for Linux events are theirs, the
/// rest syslog.
pub fn format_of(fields: &Fields) -> garrison_model::RecordFormat {
    if fields.value(garrison_model::event::windows::CHANNEL) == Some(SYSMON_LINUX_CHANNEL) {
        garrison_model::RecordFormat::SysmonLinux
    } else if fields.get("cef.name").is_some() {
        garrison_model::RecordFormat::Cef
    } else if fields.get("leef.event_id").is_some() {
        garrison_model::RecordFormat::Leef
    } else {
        garrison_model::RecordFormat::Syslog
    }
}

/// True when the first non-empty line of `head` reads as syslog.
pub fn looks_like_syslog(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let Some(line) = text.lines().map(str::trim).find(|line| !line.is_empty()) else {
        return false;
    };
    let now = Timestamp::now();
    // A line cut by the end of `head` still shows its header.
    parse_line(line, now, &mut Fields::new()).is_ok()
}

fn split_priority(line: &str) -> Result<(Option<u8>, &str), Rejection> {
    let Some(rest) = line.strip_prefix('<') else {
        return Ok((None, line));
    };
    let end = rest.find('>').ok_or("priority not closed")?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("priority is not a number");
    }
    let value: u16 = digits.parse().map_err(|_| "priority is not a number")?;
    if value > 191 {
        return Err("priority above 191");
    }
    Ok((Some(value as u8), &rest[end + 1..]))
}

/// Splits off one space-separated token.
fn token(text: &str) -> (&str, &str) {
    match text.split_once(' ') {
        Some((head, rest)) => (head, rest),
        None => (text, ""),
    }
}

fn push_unless_nil(fields: &mut Fields, name: &str, value: &str) {
    if value != "-" && !value.is_empty() {
        fields.push(name, value, ValueKind::Text);
    }
}

fn parse_5424(rest: &str, fields: &mut Fields) -> Result<Timestamp, Rejection> {
    let (time, rest) = token(rest);
    let timestamp = parse_timestamp(time).ok_or("RFC 5424 timestamp unreadable")?;
    let (host, rest) = token(rest);
    let (app, rest) = token(rest);
    let (procid, rest) = token(rest);
    let (msgid, rest) = token(rest);
    push_unless_nil(fields, "hostname", host);
    push_unless_nil(fields, "program", app);
    push_unless_nil(fields, "pid", procid);
    push_unless_nil(fields, "msgid", msgid);
    let message = if let Some(after) = rest.strip_prefix('-') {
        after
    } else if rest.starts_with('[') {
        parse_structured_data(rest, fields)?
    } else {
        return Err("RFC 5424 structured data missing");
    };
    let message = message.strip_prefix(' ').unwrap_or(message);
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    fields.push("message", message, ValueKind::Text);
    Ok(timestamp)
}

/// Reads `[id name="value" ...]...` into `sd.ID.NAME` fields; returns what follows.
fn parse_structured_data<'a>(mut rest: &'a str, fields: &mut Fields) -> Result<&'a str, Rejection> {
    while let Some(element) = rest.strip_prefix('[') {
        let id_end = element
            .find([' ', ']'])
            .ok_or("structured data not closed")?;
        let id = &element[..id_end];
        let mut cursor = &element[id_end..];
        loop {
            cursor = cursor.trim_start_matches(' ');
            if let Some(after) = cursor.strip_prefix(']') {
                rest = after;
                break;
            }
            let eq = cursor
                .find('=')
                .ok_or("structured data parameter without value")?;
            let name = &cursor[..eq];
            let after = cursor[eq + 1..]
                .strip_prefix('"')
                .ok_or("structured data value not quoted")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let mut end = None;
            while let Some((at, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            if !matches!(escaped, '"' | '\\' | ']') {
                                value.push('\\');
                            }
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(at);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or("structured data value not closed")?;
            fields.push(&format!("sd.{id}.{name}"), &value, ValueKind::Text);
            cursor = &after[end + 1..];
        }
    }
    Ok(rest)
}

fn parse_3164(rest: &str, now: Timestamp, fields: &mut Fields) -> Result<Timestamp, Rejection> {
    let (timestamp, rest) = if rest.len() >= 15 && MONTHS.contains(&&rest[..3]) {
        let after = rest[15..]
            .strip_prefix(' ')
            .ok_or("no space after the timestamp")?;
        (bsd_time(&rest[..15], now)?, after)
    } else {
        let (time, rest) = token(rest);
        let timestamp = parse_timestamp(time)
            .filter(|_| time.len() >= 19 && time.as_bytes()[10] == b'T')
            .ok_or("no syslog timestamp")?;
        (timestamp, rest)
    };
    let (host, rest) = token(rest.trim_start());
    if host.is_empty() {
        return Err("no host name");
    }
    fields.push("hostname", host, ValueKind::Text);
    // TAG[PID]: or TAG: ; a message without a tag keeps all of it.
    let tag_end = rest.find([':', '[', ' ']).unwrap_or(rest.len());
    let tag = &rest[..tag_end];
    let after_tag = &rest[tag_end..];
    let (pid, after) = match after_tag.strip_prefix('[').and_then(|a| a.split_once(']')) {
        Some((pid, after)) => (Some(pid), after),
        None => (None, after_tag),
    };
    match after.strip_prefix(':') {
        Some(message) if !tag.is_empty() => {
            fields.push("program", tag, ValueKind::Text);
            if let Some(pid) = pid {
                fields.push("pid", pid, ValueKind::Text);
            }
            fields.push("message", message.trim_start(), ValueKind::Text);
        }
        _ => fields.push("message", rest, ValueKind::Text),
    }
    Ok(timestamp)
}

/// `Mmm dd hh:mm:ss` in the year that puts it nearest before `now` (a day of clock skew
/// allowed), in UTC.
fn bsd_time(text: &str, now: Timestamp) -> Result<Timestamp, Rejection> {
    let month = MONTHS
        .iter()
        .position(|m| *m == &text[..3])
        .ok_or("unknown month")? as i8
        + 1;
    let day: i8 = text[4..6].trim().parse().map_err(|_| "day unreadable")?;
    let time: jiff::civil::Time = text[7..15].parse().map_err(|_| "time unreadable")?;
    let year = now.to_zoned(jiff::tz::TimeZone::UTC).year();
    for year in [year, year - 1] {
        let Ok(date) = jiff::civil::Date::new(year, month, day) else {
            continue;
        };
        let at = date
            .to_datetime(time)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| "time out of range")?
            .timestamp();
        if at <= now + jiff::SignedDuration::from_hours(24) {
            return Ok(at);
        }
    }
    Err("date does not exist")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-03-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn rfc5424_with_structured_data() {
        let mut fields = Fields::new();
        let time = parse_line(
            r#"<86>1 2024-02-29T10:00:01.5+01:00 web1 sshd 4242 LOGIN [origin ip="10.0.0.1"][meta x="a\"b\]c"] Accepted password for alice from 203.0.113.9 port 50022 ssh2"#,
            now(),
            &mut fields,
        )
        .unwrap();
        assert_eq!(time, "2024-02-29T09:00:01.5Z".parse().unwrap());
        assert_eq!(fields.value("facility"), Some("authpriv"));
        assert_eq!(fields.value("severity"), Some("info"));
        assert_eq!(fields.value("hostname"), Some("web1"));
        assert_eq!(fields.value("program"), Some("sshd"));
        assert_eq!(fields.value("pid"), Some("4242"));
        assert_eq!(fields.value("msgid"), Some("LOGIN"));
        assert_eq!(fields.value("sd.origin.ip"), Some("10.0.0.1"));
        assert_eq!(fields.value("sd.meta.x"), Some("a\"b]c"));
        assert_eq!(fields.value("user"), Some("alice"));
        assert_eq!(fields.value("src_ip"), Some("203.0.113.9"));
    }

    #[test]
    fn rfc3164_and_file_forms() {
        let mut fields = Fields::new();
        let time = parse_line(
            "<38>Feb  5 17:32:18 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
            now(),
            &mut fields,
        )
        .unwrap();
        assert_eq!(time, "2024-02-05T17:32:18Z".parse().unwrap());
        assert_eq!(fields.value("facility"), Some("auth"));
        assert_eq!(fields.value("program"), Some("su"));
        assert_eq!(fields.get("pid"), None);
        // December, read in March: last year.
        let time = parse_line(
            "Dec 31 23:59:59 db1 sudo[77]:    bob : TTY=pts/1 ; PWD=/root ; USER=root ; COMMAND=/bin/bash -i",
            now(),
            &mut fields,
        )
        .unwrap();
        assert_eq!(time, "2023-12-31T23:59:59Z".parse().unwrap());
        assert_eq!(fields.get("facility"), None);
        assert_eq!(fields.value("pid"), Some("77"));
        assert_eq!(fields.value("command"), Some("/bin/bash -i"));
        let time = parse_line(
            "2024-02-29T12:00:00.123456+00:00 web1 kernel: [  12.5] eth0: link up",
            now(),
            &mut fields,
        )
        .unwrap();
        assert_eq!(time, "2024-02-29T12:00:00.123456Z".parse().unwrap());
        assert_eq!(fields.value("program"), Some("kernel"));
        assert_eq!(fields.value("message"), Some("[  12.5] eth0: link up"));
    }

    #[test]
    fn rejections() {
        let mut fields = Fields::new();
        for line in [
            "",
            "hello world",
            "<999>1 2024-01-01T00:00:00Z h a p m - x",
            "<13>1 yesterday h a p m - x",
            "<13>1 2024-01-01T00:00:00Z h a p m [x y=\"1\" x",
            "{\"a\":1}",
        ] {
            assert!(parse_line(line, now(), &mut fields).is_err(), "{line}");
        }
        assert!(looks_like_syslog(b"Feb  5 17:32:18 host prog: hi\n"));
        assert!(!looks_like_syslog(b"type=SYSCALL msg=audit(1.0:1): a=b"));
    }

    #[test]
    fn sysmon_for_linux_messages_are_its_events() {
        let line = r#"May 11 18:10:21 UBUNTU5 sysmon: <Event><System><Provider Name="Linux-Sysmon"/><EventID>1</EventID><TimeCreated SystemTime="2022-05-11T18:10:21.989312000Z"/><Channel>Linux-Sysmon/Operational</Channel><Computer>UBUNTU5</Computer></System><EventData><Data Name="Image">/bin/bash</Data><Data Name="ParentImage">/usr/bin/java</Data></EventData></Event>"#;
        let mut fields = Fields::new();
        let time = parse_line(line, now(), &mut fields).unwrap();
        assert_eq!(time, "2022-05-11T18:10:21.989312Z".parse().unwrap());
        assert_eq!(
            format_of(&fields),
            garrison_model::RecordFormat::SysmonLinux
        );
        assert_eq!(fields.value("program"), Some("sysmon"));
        assert_eq!(fields.value("ParentImage"), Some("/usr/bin/java"));
        // Broken XML stays a syslog message.
        let mut fields = Fields::new();
        parse_line(
            "May 11 18:10:21 h sysmon: <Event><System>",
            now(),
            &mut fields,
        )
        .unwrap();
        assert_eq!(format_of(&fields), garrison_model::RecordFormat::Syslog);
    }
}
