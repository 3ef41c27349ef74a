//! Linux audit logs as auditd writes them (`/var/log/audit/audit.log`): one record per line,
//! `[node=N ]type=T msg=audit(SECONDS.MILLIS:SERIAL): key=value ...`, and the records of one
//! event (SYSCALL, EXECVE, CWD, PATH, PROCTITLE, ...) sharing the serial.
//!
//! The records of an event are joined into one event: `type` once per record, every record's
//! fields under their own names (so `name` repeats for each PATH record and any of them can
//! match), quoted values unquoted, values auditd hex-encodes (untrusted strings with spaces or
//! quotes, EXECVE arguments, `proctitle`) decoded, split EXECVE arguments (`a1[0]`, `a1[1]`)
//! put together, the `msg='...'` of user-space records (PAM, logins) opened into its fields,
//! and the interpreted fields of the enriched format (`UID="root"` after `\x1d`) kept.
//! An event with an EXECVE record also gets the process fields Sigma's Linux
//! `process_creation` rules use: `Image`, `CommandLine`, `CurrentDirectory`, `ProcessId`,
//! `ParentProcessId`, `User`.
//!
//! The evidence of an event is its first record: line number and byte offset. A line that is
//! not an audit record is quarantined with its line number.

use crate::diagnostic::{Diagnostic, DiagnosticKind, keep_raw};
use crate::read::StreamName;
use garrison_model::{Fields, Timestamp, ValueKind};

/// The parts of a record line before its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader<'a> {
    pub node: Option<&'a str>,
    pub kind: &'a str,
    pub seconds: i64,
    pub millis: u32,
    pub serial: u64,
    pub body: &'a str,
}

impl RecordHeader<'_> {
    pub fn timestamp(&self) -> Option<Timestamp> {
        Timestamp::new(self.seconds, self.millis as i32 * 1_000_000).ok()
    }
}

/// Reads a record line's header; `None` when the line is not an audit record.
pub fn parse_header(line: &str) -> Option<RecordHeader<'_>> {
    let mut rest = line.trim_start();
    let mut node = None;
    if let Some(after) = rest.strip_prefix("node=") {
        let (name, after) = after.split_once(' ')?;
        node = Some(name);
        rest = after;
    }
    let after = rest.strip_prefix("type=")?;
    let (kind, after) = after.split_once(' ')?;
    let after = after.trim_start().strip_prefix("msg=audit(")?;
    let (stamp, body) = after.split_once("):")?;
    let (time, serial) = stamp.split_once(':')?;
    let (seconds, millis) = time.split_once('.').unwrap_or((time, "0"));
    if kind.is_empty() || millis.len() > 3 {
        return None;
    }
    Some(RecordHeader {
        node,
        kind,
        seconds: seconds.parse().ok()?,
        millis: format!("{millis:0<3}").parse().ok()?,
        serial: serial.parse().ok()?,
        body: body.trim_start(),
    })
}

/// True when the first non-empty line of `head` is an audit record.
pub fn looks_like_auditd(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .is_some_and(|line| parse_header(line).is_some())
}

/// The serial of a record line, for keeping an event's records in one unit.
pub fn serial_of(line: &[u8]) -> Option<u64> {
    let start = memchr::memmem::find(line, b"msg=audit(")? + 10;
    let rest = &line[start..];
    let end = memchr::memchr(b')', rest)?;
    let stamp = std::str::from_utf8(&rest[..end]).ok()?;
    stamp.split_once(':')?.1.parse().ok()
}

/// Fields auditd writes as untrusted strings: quoted, or hex-encoded when they hold spaces,
/// quotes or control characters.
fn is_untrusted_string(kind: &str, key: &str) -> bool {
    matches!(
        key,
        "comm"
            | "exe"
            | "cwd"
            | "name"
            | "path"
            | "proctitle"
            | "dir"
            | "acct"
            | "cmd"
            | "data"
            | "ocomm"
            | "watch"
            | "key"
            | "old-chardev"
            | "new-chardev"
            | "vm"
            | "device"
            | "cgroup"
            | "hostname"
            | "terminal"
            | "id"
    ) || (kind == "EXECVE" && is_argument(key))
}

/// `a0`, `a1`, ...
fn is_argument(key: &str) -> bool {
    key.strip_prefix('a')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Decodes auditd's hex encoding (upper-case pairs); NULs (argument separators in
/// `proctitle`) become spaces. `None` when `value` is not hex-encoded.
fn decode_hex(value: &str) -> Option<String> {
    if value.len() < 2
        || !value.len().is_multiple_of(2)
        || !value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return None;
    }
    let bytes: Vec<u8> = (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&value[i..i + 2], 16).expect("checked hex"))
        .map(|b| if b == 0 { b' ' } else { b })
        .collect();
    Some(String::from_utf8_lossy(bytes.trim_ascii_end()).into_owned())
}

/// One `key=value` of a record body, with the value as written (quotes included).
fn pairs(body: &str) -> impl Iterator<Item = Result<(&str, &str), &str>> {
    let mut rest = body;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches([' ', '\x1d', '\t']);
        if rest.is_empty() {
            return None;
        }
        let word_end = rest.find([' ', '\x1d', '\t']).unwrap_or(rest.len());
        let Some(eq) = rest[..word_end].find('=') else {
            let word = &rest[..word_end];
            rest = &rest[word_end..];
            return Some(Err(word));
        };
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let (value, next) = match after.as_bytes().first() {
            Some(&quote @ (b'"' | b'\'')) => match after[1..].find(quote as char) {
                Some(end) => (&after[..end + 2], &after[end + 2..]),
                None => (after, ""),
            },
            _ => {
                let end = after.find([' ', '\x1d', '\t']).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        rest = next;
        Some(Ok((key, value)))
    })
}

/// Pushes the fields of one record body.
fn push_body(kind: &str, body: &str, fields: &mut Fields) {
    let mut text = String::new();
    // A long EXECVE argument split into `aN[i]` pieces, being put together.
    let mut pending: Option<(String, String)> = None;
    let flush = |pending: &mut Option<(String, String)>, fields: &mut Fields| {
        if let Some((name, value)) = pending.take() {
            let value = decode_hex(&value).unwrap_or(value);
            fields.push(&name, &value, ValueKind::Text);
        }
    };
    for pair in pairs(body) {
        let (key, raw) = match pair {
            Ok(pair) => pair,
            Err(word) => {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(word);
                continue;
            }
        };
        if let Some((argument, _)) = key.split_once('[')
            && kind == "EXECVE"
            && is_argument(argument)
        {
            match &mut pending {
                Some((name, value)) if name == argument => value.push_str(unquote(raw)),
                _ => {
                    flush(&mut pending, fields);
                    pending = Some((argument.to_string(), unquote(raw).to_string()));
                }
            }
            continue;
        }
        flush(&mut pending, fields);
        if key == "msg" && raw.starts_with('\'') {
            // A user-space record's own fields.
            push_body(kind, unquote(raw), fields);
            continue;
        }
        let quoted = raw.starts_with('"') || raw.starts_with('\'');
        let value = unquote(raw);
        let decoded = (!quoted && is_untrusted_string(kind, key))
            .then(|| decode_hex(value))
            .flatten();
        let value = decoded.as_deref().unwrap_or(value);
        let value_kind =
            if !quoted && value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
                ValueKind::Integer
            } else {
                ValueKind::Text
            };
        fields.push(key, value, value_kind);
    }
    flush(&mut pending, fields);
    if !text.is_empty() {
        fields.push("text", text.trim_end_matches(':'), ValueKind::Text);
    }
}

fn unquote(raw: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = raw.strip_prefix(quote) {
            return inner.strip_suffix(quote).unwrap_or(inner);
        }
    }
    raw
}

/// One joined event: its records' lines, in file order.
pub struct AuditEvent<'a> {
    pub first_line: u64,
    pub first_offset: u64,
    pub records: Vec<RecordHeader<'a>>,
}

impl AuditEvent<'_> {
    /// Writes the event's fields; returns its timestamp.
    pub fn write_fields(&self, fields: &mut Fields) -> Option<Timestamp> {
        fields.clear();
        let first = self.records.first()?;
        if let Some(node) = first.node {
            fields.push("node", node, ValueKind::Text);
        }
        fields.push("serial", &first.serial.to_string(), ValueKind::Integer);
        for record in &self.records {
            fields.push("type", record.kind, ValueKind::Text);
            push_body(record.kind, record.body, fields);
        }
        if self.records.iter().any(|record| record.kind == "EXECVE") {
            add_process_fields(self, fields);
        }
        first.timestamp()
    }
}

/// The Sysmon-style names Sigma's Linux `process_creation` rules use.
fn add_process_fields(event: &AuditEvent<'_>, fields: &mut Fields) {
    // Each record of interest read on its own, so same-named fields do not mix.
    let parsed: Vec<(&str, Fields)> = event
        .records
        .iter()
        .filter(|record| matches!(record.kind, "SYSCALL" | "EXECVE" | "CWD"))
        .map(|record| {
            let mut own = Fields::new();
            push_body(record.kind, record.body, &mut own);
            (record.kind, own)
        })
        .collect();
    let arguments: Vec<&str> = parsed
        .iter()
        .filter(|(kind, _)| *kind == "EXECVE")
        .flat_map(|(_, own)| own.iter().filter(|f| is_argument(f.name)).map(|f| f.value))
        .collect();
    let first_of = |name: &str, kind: &str| {
        parsed
            .iter()
            .filter(|(record, _)| *record == kind)
            .find_map(|(_, own)| own.value(name))
    };
    fields.push("CommandLine", &arguments.join(" "), ValueKind::Text);
    for (name, source, record, kind) in [
        ("Image", "exe", "SYSCALL", ValueKind::Text),
        ("CurrentDirectory", "cwd", "CWD", ValueKind::Text),
        ("ProcessId", "pid", "SYSCALL", ValueKind::Integer),
        ("ParentProcessId", "ppid", "SYSCALL", ValueKind::Integer),
    ] {
        if let Some(value) = first_of(source, record) {
            fields.push(name, value, kind);
        }
    }
    if let Some(user) = first_of("UID", "SYSCALL").or_else(|| first_of("uid", "SYSCALL")) {
        fields.push("User", user, ValueKind::Text);
    }
}

/// Reads one event of the Azure Monitor agent's audit collector (AUOMS), as Log Analytics
/// keeps it in the `Syslog` table: `type=AUOMS_EXECVE audit(SECONDS.MILLIS:SERIAL): key=value
/// ...`, one line per event with the records already merged. Fields are named as for auditd
/// events, with the Sysmon-style process names (`Image`, `CommandLine`, ...) for process
/// starts. AUOMS writes `cmdline` quoted without escaping the quotes inside it; it is read up
/// to the field that follows it. Returns the event's time, or `None` (and writes nothing) when
/// `message` is not an AUOMS event.
pub fn read_auoms(message: &str, fields: &mut Fields) -> Option<Timestamp> {
    let after = message.trim_start().strip_prefix("type=")?;
    let (kind, after) = after.split_once(' ')?;
    let after = after.trim_start().strip_prefix("audit(")?;
    let (stamp, body) = after.split_once("):")?;
    let (time, serial) = stamp.split_once(':')?;
    let (seconds, millis) = time.split_once('.').unwrap_or((time, "0"));
    let seconds: i64 = seconds.parse().ok()?;
    let millis: u32 = format!("{millis:0<3}").get(..3)?.parse().ok()?;
    // Nothing is written unless the event reads.
    let time = Timestamp::new(seconds, millis as i32 * 1_000_000).ok()?;
    let serial: u64 = serial.parse().ok()?;
    fields.push("type", kind, ValueKind::Text);
    fields.push("serial", &serial.to_string(), ValueKind::Integer);
    let (body, command_line) = split_auoms_cmdline(body);
    push_body(kind, &body, fields);
    if let Some(command_line) = command_line {
        fields.push("cmdline", command_line, ValueKind::Text);
    }
    if kind.ends_with("EXECVE") {
        if let Some(command_line) = command_line {
            fields.push("CommandLine", command_line, ValueKind::Text);
        }
        let mut process = Vec::new();
        for (name, source) in [
            ("Image", "exe"),
            ("CurrentDirectory", "cwd"),
            ("ProcessId", "pid"),
            ("ParentProcessId", "ppid"),
            ("User", "user"),
        ] {
            if let Some(field) = fields.get(source) {
                process.push((name, field.value.to_string(), field.kind));
            }
        }
        for (name, value, kind) in process {
            fields.push(name, &value, kind);
        }
    }
    Some(time)
}

/// The body of an AUOMS event without its `cmdline`, and the command line.
fn split_auoms_cmdline(body: &str) -> (std::borrow::Cow<'_, str>, Option<&str>) {
    let Some(start) = body.find(" cmdline=\"") else {
        return (body.into(), None);
    };
    let value_start = start + " cmdline=\"".len();
    let rest = &body[value_start..];
    // The value ends at the quote before the next field AUOMS writes after it.
    let end = [" redactors=", " containerid="]
        .iter()
        .filter_map(|next| rest.find(next))
        .min()
        .and_then(|next| rest[..next].rfind('"'))
        .or_else(|| rest.rfind('"'));
    let Some(end) = end else {
        return (body.into(), None);
    };
    let remainder = format!("{}{}", &body[..start], &rest[end + 1..]);
    (remainder.into(), Some(&rest[..end]))
}

/// Groups a block of whole lines into events by serial (records of concurrent events may
/// interleave), calling `each` per event in order of first record, and `bad` per line that
/// is not an audit record.
pub fn group_events<'a>(
    data: &'a [u8],
    first_line: u64,
    first_offset: u64,
    mut each: impl FnMut(&AuditEvent<'a>),
    mut bad: impl FnMut(u64, u64, &'a [u8], &'static str),
) {
    let mut events: Vec<AuditEvent<'a>> = Vec::new();
    let mut open: std::collections::HashMap<(Option<&str>, u64), usize> = Default::default();
    crate::decode::for_each_line(data, first_line, first_offset, |number, offset, line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii().is_empty() {
            return;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return bad(number, offset, line, "not UTF-8 text");
        };
        let Some(header) = parse_header(text) else {
            return bad(number, offset, line, "not an audit record");
        };
        match open.get(&(header.node, header.serial)) {
            Some(&index) => events[index].records.push(header),
            None => {
                open.insert((header.node, header.serial), events.len());
                events.push(AuditEvent {
                    first_line: number,
                    first_offset: offset,
                    records: vec![header],
                });
            }
        }
    });
    for event in &events {
        each(event);
    }
}

/// The quarantine diagnostic of a line that is not an audit record.
pub(crate) fn bad_line(
    stream: &StreamName,
    line_number: u64,
    offset: u64,
    line: &[u8],
    why: &str,
) -> Diagnostic {
    Diagnostic {
        kind: DiagnosticKind::Auditd,
        location: stream.location(Some(line_number), Some(offset)),
        message: format!("audit log line {line_number} quarantined: {why}"),
        raw: Some(keep_raw(line)),
    }
}

/// Where a block of audit lines may end: before the trailing run of lines sharing the last
/// line's serial, so an event's records stay in one unit; 0 when the whole block is one
/// event (read on until its end).
pub fn event_boundary(block: &[u8]) -> usize {
    let lines: Vec<(usize, &[u8])> = {
        let mut out = Vec::new();
        let mut start = 0;
        while start < block.len() {
            let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |at| start + at);
            out.push((start, &block[start..end]));
            start = end + 1;
        }
        out
    };
    let Some(&(_, last)) = lines.last() else {
        return block.len();
    };
    let Some(serial) = serial_of(last) else {
        return block.len();
    };
    let run_start = lines
        .iter()
        .rposition(|(_, line)| serial_of(line) != Some(serial))
        .map(|index| lines[index + 1].0);
    run_start.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"type=SYSCALL msg=audit(1604996384.965:93777): arch=c000003e syscall=59 success=yes exit=0 a0=558e25052c70 a1=558e251641a0 a2=558e25160800 a3=1b6 items=2 ppid=29002 pid=2168 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=104 comm="dd" exe="/bin/dd" key=(null)
type=EXECVE msg=audit(1604996384.965:93777): argc=4 a0="dd" a1="if=/dev/zero" a2="bs=1" a3=636F756E743D31
type=CWD msg=audit(1604996384.965:93777): cwd="/home/wardog"
type=PATH msg=audit(1604996384.965:93777): item=0 name="/bin/dd" inode=20 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PATH msg=audit(1604996384.965:93777): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=29514 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0
type=PROCTITLE msg=audit(1604996384.965:93777): proctitle=64640069663D2F6465762F7A65726F0062733D3100636F756E743D31
type=USER_AUTH msg=audit(1604996390.001:93778): pid=811 uid=0 auid=4294967295 ses=4294967295 msg='op=PAM:authentication grantors=? acct="root" exe="/usr/sbin/sshd" hostname=203.0.113.7 addr=203.0.113.7 terminal=ssh res=failed'UID="root" AUID="unset"
"#;

    fn events(text: &str) -> (Vec<Fields>, Vec<u64>) {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        group_events(
            text.as_bytes(),
            1,
            0,
            |event| {
                let mut fields = Fields::new();
                event.write_fields(&mut fields);
                out.push(fields);
            },
            |line, _, _, _| bad.push(line),
        );
        (out, bad)
    }

    #[test]
    fn records_of_one_serial_are_one_event() {
        let (events, bad) = events(SAMPLE);
        assert!(bad.is_empty());
        assert_eq!(events.len(), 2);
        let exec = &events[0];
        let types: Vec<_> = exec.get_all("type").map(|f| f.value).collect();
        assert_eq!(
            types,
            ["SYSCALL", "EXECVE", "CWD", "PATH", "PATH", "PROCTITLE"]
        );
        let names: Vec<_> = exec.get_all("name").map(|f| f.value).collect();
        assert_eq!(names, ["/bin/dd", "/lib64/ld-linux-x86-64.so.2"]);
        assert_eq!(exec.value("exe"), Some("/bin/dd"));
        assert_eq!(exec.value("key"), Some("(null)"));
        assert_eq!(
            exec.value("proctitle"),
            Some("dd if=/dev/zero bs=1 count=1")
        );
        assert_eq!(
            exec.value("CommandLine"),
            Some("dd if=/dev/zero bs=1 count=1")
        );
        assert_eq!(exec.value("Image"), Some("/bin/dd"));
        assert_eq!(exec.value("CurrentDirectory"), Some("/home/wardog"));
        assert_eq!(exec.value("ParentProcessId"), Some("29002"));
        assert_eq!(exec.value("User"), Some("1000"));
        // SYSCALL's a3 and EXECVE's hex-encoded a3 are both there.
        let a3: Vec<_> = exec.get_all("a3").map(|f| f.value).collect();
        assert_eq!(a3, ["1b6", "count=1"]);
        let auth = &events[1];
        assert_eq!(auth.value("op"), Some("PAM:authentication"));
        assert_eq!(auth.value("acct"), Some("root"));
        assert_eq!(auth.value("addr"), Some("203.0.113.7"));
        assert_eq!(auth.value("res"), Some("failed"));
        assert_eq!(auth.value("UID"), Some("root"));
        assert_eq!(auth.value("AUID"), Some("unset"));
        assert!(auth.get("CommandLine").is_none());
    }

    #[test]
    fn interleaved_records_and_split_arguments() {
        let text = "node=web1 type=SYSCALL msg=audit(1700000000.5:10): syscall=59 exe=\"/usr/bin/python3\" pid=5 ppid=1 uid=0\n\
                    node=web1 type=SYSCALL msg=audit(1700000000.5:11): syscall=2 exe=\"/bin/cat\"\n\
                    node=web1 type=EXECVE msg=audit(1700000000.5:10): argc=3 a0=\"python3\" a1=\"-c\" a2_len=12 a2[0]=7072696E74 a2[1]=2827686927290A\n\
                    garbage line\n";
        let (events, bad) = events(text);
        assert_eq!(bad, [4]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].value("node"), Some("web1"));
        assert_eq!(events[0].value("a2"), Some("print('hi')"));
        assert_eq!(
            events[0].value("CommandLine"),
            Some("python3 -c print('hi')")
        );
        assert_eq!(events[1].value("exe"), Some("/bin/cat"));
    }

    #[test]
    fn headers_and_boundaries() {
        let header = parse_header(SAMPLE.lines().next().unwrap()).unwrap();
        assert_eq!(header.kind, "SYSCALL");
        assert_eq!(header.serial, 93777);
        assert_eq!(
            header.timestamp(),
            Some("2020-11-10T08:19:44.965Z".parse().unwrap())
        );
        assert!(looks_like_auditd(SAMPLE.as_bytes()));
        assert!(!looks_like_auditd(b"{\"a\":1}"));
        // The block ends before the last event's records.
        let cut = event_boundary(SAMPLE.as_bytes());
        assert_eq!(&SAMPLE[cut..cut + 15], "type=USER_AUTH ");
        let only_one: String = SAMPLE.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(event_boundary(only_one.as_bytes()), 0);
    }

    #[test]
    fn auoms_events_read_with_their_unescaped_command_line() {
        let message = r#"type=AUOMS_EXECVE audit(1652292621.990:84143): SchemaVersion="1" node=UBUNTU5 syscall=execve success=yes ppid=1340 pid=17790 user=tomcat uid=1001 comm="bash" exe="/bin/bash" cwd="/" path_name=["/bin/bash"] argc=3 cmdline="bash -c "{echo,aWQK}|{base64,-d}|{bash,-i}"" redactors= containerid="#;
        let mut fields = Fields::new();
        let time = read_auoms(message, &mut fields).unwrap();
        assert_eq!(time, "2022-05-11T18:10:21.990Z".parse().unwrap());
        assert_eq!(fields.value("type"), Some("AUOMS_EXECVE"));
        assert_eq!(fields.value("serial"), Some("84143"));
        assert_eq!(fields.value("node"), Some("UBUNTU5"));
        assert_eq!(
            fields.value("CommandLine"),
            Some(r#"bash -c "{echo,aWQK}|{base64,-d}|{bash,-i}""#)
        );
        assert_eq!(fields.value("Image"), Some("/bin/bash"));
        assert_eq!(fields.value("ParentProcessId"), Some("1340"));
        assert_eq!(fields.value("User"), Some("tomcat"));
        assert_eq!(fields.value("CurrentDirectory"), Some("/"));
        // What follows the command line is read too.
        assert_eq!(fields.value("redactors"), Some(""));
        let mut untouched = Fields::new();
        assert!(read_auoms("type=SYSCALL msg=audit(1.0:1): x=1", &mut untouched).is_none());
        assert!(read_auoms("type=AUOMS_EXECVE audit(1.0:x): pid=1", &mut untouched).is_none());
        assert!(untouched.is_empty());
    }
}
