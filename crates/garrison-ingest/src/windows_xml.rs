//! Windows event XML (`<Event><System>..</System><EventData><Data Name="..">..</Data>..`), as
//! Sysmon for Linux writes its events to syslog and as Log Analytics keeps the `EventData` of
//! `SecurityEvent` and `Event` rows, read into the canonical Windows names (the ones
//! [`crate::json::flatten_json`] gives `evtx_dump` JSON): System elements by name, their
//! attributes as `Element_Attribute` (`Provider_Name`, `TimeCreated_SystemTime`), and each
//! `Data` by its `Name`.

use garrison_model::{Fields, Timestamp, ValueKind};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use std::borrow::Cow;

/// How much of an event document was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Whole,
    /// The document ends early (syslog relays cut long messages, often at 2 KiB) after its
    /// System part: the fields before the cut are read, and `truncated` is set to `true`.
    Truncated,
}

/// Reads an `<Event>` document into `fields`; returns why it could not be read when it is
/// not well-formed, or is cut before its event id.
pub fn read_event(xml: &str, fields: &mut Fields) -> Result<Read, String> {
    match read(xml, true, fields) {
        Ok(()) => Ok(Read::Whole),
        Err(_) if fields.get("EventID").is_some() && is_cut(xml) => {
            fields.push("truncated", "true", ValueKind::Text);
            Ok(Read::Truncated)
        }
        Err(error) => Err(error),
    }
}

/// Adds the fields of an event document found in a message (Sysmon for Linux writes its events
/// to syslog this way) to `fields`, which are left as they were when the message does not
/// read as one; returns the event's `TimeCreated`, if it has one.
pub fn add_event(message: &str, fields: &mut Fields) -> Result<Option<Timestamp>, String> {
    let mut event = Fields::new();
    read_event(message.trim_start(), &mut event)?;
    for field in event.iter() {
        fields.push(field.name, field.value, field.kind);
    }
    Ok(event
        .value(garrison_model::event::windows::TIME_CREATED)
        .and_then(crate::time::parse_timestamp))
}

/// Whether a document that failed to read ends before its root element closes.
fn is_cut(xml: &str) -> bool {
    !xml.trim_end().ends_with("</Event>")
}

/// Reads the named `Data` elements of an `EventData` fragment (in any wrapper, such as the
/// `DataItem` of the Log Analytics `Event` table) into `fields`; `Data` without a name and
/// other elements are left out. A fragment that is not well-formed adds what came before the
/// fault.
pub fn read_event_data(xml: &str, fields: &mut Fields) {
    let _ = read(xml, false, fields);
}

/// Sysmon for Linux writes entity references without their `;` (`&lt unknown process&gt `,
/// `&quot SELECT`); such references, and `&` that starts none, are written out properly.
fn repair_entities(xml: &str) -> Cow<'_, str> {
    const NAMES: [&str; 5] = ["lt", "gt", "amp", "quot", "apos"];
    let well_formed = |rest: &str| {
        let name_end = rest.find(';').filter(|&end| end <= 8);
        name_end.is_some_and(|end| {
            let name = &rest[..end];
            NAMES.contains(&name)
                || name.strip_prefix("#x").is_some_and(|hex| {
                    !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
                })
                || name
                    .strip_prefix('#')
                    .is_some_and(|dec| !dec.is_empty() && dec.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    if xml
        .match_indices('&')
        .all(|(at, _)| well_formed(&xml[at + 1..]))
    {
        return Cow::Borrowed(xml);
    }
    let mut repaired = String::with_capacity(xml.len() + 16);
    let mut rest = xml;
    while let Some(at) = rest.find('&') {
        repaired.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if well_formed(after) {
            repaired.push('&');
        } else if let Some(name) = NAMES.iter().find(|name| after.starts_with(**name)) {
            repaired.push('&');
            repaired.push_str(name);
            repaired.push(';');
            rest = &after[name.len()..];
            continue;
        } else {
            repaired.push_str("&amp;");
        }
        rest = after;
    }
    repaired.push_str(rest);
    Cow::Owned(repaired)
}

fn read(xml: &str, with_system: bool, fields: &mut Fields) -> Result<(), String> {
    let xml = repair_entities(xml);
    let mut reader = Reader::from_str(&xml);
    // Open elements below the root, by local name.
    let mut path: Vec<String> = Vec::new();
    // The name of the field the next text belongs to, if any.
    let mut pending: Option<String> = None;
    let mut text = String::new();
    loop {
        let event = reader
            .read_event()
            .map_err(|error| format!("XML error at byte {}: {error}", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                let element = local_name(&start);
                pending = field_of(&path, &element, &start, with_system, fields)?;
                text.clear();
                path.push(element);
            }
            Event::Empty(start) => {
                let element = local_name(&start);
                if let Some(name) = field_of(&path, &element, &start, with_system, fields)? {
                    fields.push(&name, "", ValueKind::Text);
                }
            }
            Event::Text(content) if pending.is_some() => {
                let decoded = content
                    .xml_content(XmlVersion::Implicit1_0)
                    .map_err(|error| format!("bad text in <{}>: {error}", path.join("/")))?;
                text.push_str(&decoded);
            }
            Event::GeneralRef(reference) if pending.is_some() => {
                let name = reference.decode().map_err(|error| error.to_string())?;
                match reference.resolve_char_ref().ok().flatten() {
                    Some(c) => text.push(c),
                    None => text.push_str(match name.as_ref() {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "apos" => "'",
                        "quot" => "\"",
                        other => return Err(format!("unknown entity &{other};")),
                    }),
                }
            }
            Event::CData(content) if pending.is_some() => {
                text.push_str(&String::from_utf8_lossy(&content));
            }
            Event::End(_) => {
                path.pop();
                if let Some(name) = pending.take() {
                    fields.push(&name, &text, kind_of(&text));
                }
            }
            Event::Eof if !path.is_empty() => {
                return Err(format!("document ends inside <{}>", path.join("/")));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if with_system && fields.get("EventID").is_none() {
        return Err("no <System><EventID>".to_string());
    }
    Ok(())
}

fn local_name(start: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(start.local_name().as_ref()).into_owned()
}

/// Pushes the attributes of a System element and returns the name of the field its text
/// gives, if any.
fn field_of(
    path: &[String],
    element: &str,
    start: &BytesStart<'_>,
    with_system: bool,
    fields: &mut Fields,
) -> Result<Option<String>, String> {
    let parent = path.last().map(String::as_str);
    if with_system && parent == Some("System") {
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|error| error.to_string())?;
            let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|error| format!("bad attribute of <{element}>: {error}"))?;
            let name = format!("{element}_{}", canonical_attribute(element, &key));
            fields.push(&name, &value, kind_of(&value));
        }
        return Ok(Some(element.to_string()));
    }
    if element == "Data" && matches!(parent, Some("EventData")) {
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|error| error.to_string())?;
            if attribute.key.local_name().as_ref() == b"Name" {
                let value = attribute
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|error| error.to_string())?;
                let mut name: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                crate::json::keep_system_names_apart("EventData", &mut name);
                return Ok(Some(name));
            }
        }
    }
    Ok(None)
}

/// Attribute names as event logs spell them in the canonical names (`Security UserId` in
/// Sysmon for Linux, `UserID` on Windows).
fn canonical_attribute<'a>(element: &str, key: &'a str) -> &'a str {
    match (element, key) {
        ("Security", "UserId") => "UserID",
        _ => key,
    }
}

fn kind_of(value: &str) -> ValueKind {
    if !value.is_empty() && value.len() < 19 && value.bytes().all(|b| b.is_ascii_digit()) {
        ValueKind::Integer
    } else {
        ValueKind::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSMON_LINUX: &str = r#"<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/><EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2022-05-11T18:10:21.989312000Z"/><EventRecordID>245760</EventRecordID><Correlation/><Execution ProcessID="1590" ThreadID="1590"/><Channel>Linux-Sysmon/Operational</Channel><Computer>UBUNTU5</Computer><Security UserId="0"/></System><EventData><Data Name="RuleName">-</Data><Data Name="Image">/bin/bash</Data><Data Name="CommandLine">bash -c &quot;id&quot; &amp;&amp; x &lt;y&gt;</Data><Data Name="CurrentDirectory"></Data><Data Name="ParentImage">/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java</Data></EventData></Event>"#;

    #[test]
    fn sysmon_for_linux_events_get_windows_names() {
        let mut fields = Fields::new();
        assert_eq!(read_event(SYSMON_LINUX, &mut fields), Ok(Read::Whole));
        assert_eq!(fields.value("EventID"), Some("1"));
        assert_eq!(fields.value("Channel"), Some("Linux-Sysmon/Operational"));
        assert_eq!(fields.value("Computer"), Some("UBUNTU5"));
        assert_eq!(fields.value("Provider_Name"), Some("Linux-Sysmon"));
        assert_eq!(
            fields.value("TimeCreated_SystemTime"),
            Some("2022-05-11T18:10:21.989312000Z")
        );
        assert_eq!(fields.value("Execution_ProcessID"), Some("1590"));
        assert_eq!(fields.value("Security_UserID"), Some("0"));
        assert_eq!(fields.value("EventRecordID"), Some("245760"));
        // Entities decoded; an empty element is an empty value.
        assert_eq!(
            fields.value("CommandLine"),
            Some(r#"bash -c "id" && x <y>"#)
        );
        assert_eq!(fields.value("CurrentDirectory"), Some(""));
        assert_eq!(
            fields.value("ParentImage"),
            Some("/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java")
        );
    }

    #[test]
    fn documents_cut_after_their_system_part_keep_what_came_before() {
        let cut = &SYSMON_LINUX[..SYSMON_LINUX.find("/usr/lib/jvm").unwrap()];
        let mut fields = Fields::new();
        assert_eq!(read_event(cut, &mut fields), Ok(Read::Truncated));
        assert_eq!(fields.value("EventID"), Some("1"));
        assert_eq!(fields.value("Image"), Some("/bin/bash"));
        assert_eq!(fields.value("truncated"), Some("true"));
        // The field being cut is not given a partial value.
        assert!(fields.get("ParentImage").is_none());
        let mut fields = Fields::new();
        assert!(read_event("<Event><System><Provider Name=\"x\"/>", &mut fields).is_err());
    }

    #[test]
    fn references_without_semicolons_are_read_as_meant() {
        assert_eq!(
            repair_entities("&lt unknown process&gt  &quot;x&quot a&b &#38; &#x26;"),
            "&lt; unknown process&gt;  &quot;x&quot; a&amp;b &#38; &#x26;"
        );
        assert!(matches!(repair_entities("a &amp; b"), Cow::Borrowed(_)));
        let mut fields = Fields::new();
        read_event(
            "<Event><System><EventID>5</EventID></System><EventData><Data Name=\"Image\">&lt unknown process&gt </Data></EventData></Event>",
            &mut fields,
        )
        .unwrap();
        assert_eq!(fields.value("Image"), Some("< unknown process> "));
    }

    #[test]
    fn broken_documents_are_errors() {
        let mut fields = Fields::new();
        assert!(read_event("<Event><System><EventID>1</System></Event>", &mut fields).is_err());
        let mut fields = Fields::new();
        let error = read_event("<Event><EventData/></Event>", &mut fields).unwrap_err();
        assert!(error.contains("EventID"), "{error}");
    }

    #[test]
    fn event_data_fragments_give_their_named_data() {
        let mut fields = Fields::new();
        read_event_data(
            r#"<DataItem type="System.XmlData"><EventData xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><Data Name="SubjectUserName">wardog</Data><Data Name="Channel">x</Data><Data>unnamed</Data></EventData></DataItem>"#,
            &mut fields,
        );
        assert_eq!(fields.value("SubjectUserName"), Some("wardog"));
        // A Data field named like a System field keeps apart from it.
        assert_eq!(fields.value("EventData_Channel"), Some("x"));
        assert_eq!(fields.len(), 2);
    }
}
