//! Pure conversions of Windows field text to OCSF values: paths, users, hashes, ids, times.

use garrison_model::Timestamp;
use garrison_model::ocsf::{File, Fingerprint};

/// The last component of a Windows or POSIX path (the whole text when it has none).
pub(crate) fn basename(path: &str) -> &str {
    let trimmed = path.trim_end_matches(['\\', '/']);
    match trimmed.rfind(['\\', '/']) {
        Some(index) => &trimmed[index + 1..],
        None if trimmed.is_empty() => path,
        None => trimmed,
    }
}

/// Splits `HKLM\Key\Value` into the key path and the value name.
pub(crate) fn split_registry_value(path: &str) -> (&str, &str) {
    match path.rfind('\\') {
        Some(index) => (&path[..index], &path[index + 1..]),
        None => ("", path),
    }
}

/// A file object for a path, with the given schema `type_id` (1 Regular File, 6 Named Pipe, ...).
pub(crate) fn file_at(path: &str, type_id: u8) -> File {
    let type_name = match type_id {
        1 => "Regular File",
        2 => "Folder",
        4 => "Block Device",
        6 => "Named Pipe",
        _ => "Unknown",
    };
    File {
        name: basename(path).to_string(),
        path: Some(path.to_string()),
        type_id,
        type_name: Some(type_name.to_string()),
        ..File::default()
    }
}

/// Splits `DOMAIN\user` into its domain and name.
pub(crate) fn split_account(account: &str) -> (Option<&str>, &str) {
    match account.split_once('\\') {
        Some((domain, name)) if !domain.is_empty() => (Some(domain), name),
        Some((_, name)) => (None, name),
        None => (None, account),
    }
}

/// The hashes of Sysmon's `Hashes` field (`SHA1=..,MD5=..,SHA256=..,IMPHASH=..`).
pub(crate) fn parse_hashes(text: &str) -> Vec<Fingerprint> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(algorithm, value)| {
            let algorithm = algorithm.trim();
            let algorithm_id = match algorithm.to_ascii_uppercase().as_str() {
                "MD5" => 1,
                "SHA1" => 2,
                "SHA256" => 3,
                "SHA512" => 4,
                "IMPHASH" => 18,
                _ => 99,
            };
            Fingerprint {
                algorithm_id,
                algorithm: Some(algorithm.to_string()),
                value: value.trim().to_string(),
            }
        })
        .collect()
}

/// `integrity_id` of Sysmon's `IntegrityLevel` text.
pub(crate) fn integrity_id_of_level(level: &str) -> u8 {
    match level.trim().to_ascii_lowercase().as_str() {
        "untrusted" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "system" => 5,
        "protected" => 6,
        _ => 99,
    }
}

/// `integrity` caption and `integrity_id` of a mandatory label SID (`S-1-16-12288`).
pub(crate) fn integrity_of_label(sid: &str) -> (&'static str, u8) {
    match sid.trim().to_ascii_uppercase().as_str() {
        "S-1-16-0" => ("Untrusted", 1),
        "S-1-16-4096" => ("Low", 2),
        "S-1-16-8192" => ("Medium", 3),
        "S-1-16-8448" => ("Medium Plus", 99),
        "S-1-16-12288" => ("High", 4),
        "S-1-16-16384" => ("System", 5),
        "S-1-16-20480" => ("Protected", 6),
        _ => ("Other", 99),
    }
}

/// `logon_type_id` and caption of a Windows logon type (the schema uses Windows' numbers).
pub(crate) fn logon_type(code: i64) -> (u8, &'static str) {
    match code {
        0 => (1, "System"),
        2 => (2, "Interactive"),
        3 => (3, "Network"),
        4 => (4, "Batch"),
        5 => (5, "OS Service"),
        7 => (7, "Unlock"),
        8 => (8, "Network Cleartext"),
        9 => (9, "New Credentials"),
        10 => (10, "Remote Interactive"),
        11 => (11, "Cached Interactive"),
        12 => (12, "Cached Remote Interactive"),
        13 => (13, "Cached Unlock"),
        _ => (99, "Other"),
    }
}

/// Whether a logon type reaches the host from elsewhere (`None` when it does not say).
pub(crate) fn logon_is_remote(code: i64) -> Option<bool> {
    match code {
        3 | 8 | 10 | 12 => Some(true),
        0 | 2 | 4 | 5 | 7 | 11 | 13 => Some(false),
        _ => None,
    }
}

/// `auth_protocol_id` of an authentication package name.
pub(crate) fn auth_protocol_id(package: &str) -> u8 {
    let package = package.trim().to_ascii_lowercase();
    if package == "ntlm"
        || package.starts_with("ntlm ")
        || package.contains("authentication_package_v1_0")
    {
        1
    } else if package == "kerberos" {
        2
    } else {
        99
    }
}

/// `true`/`false` as written by Sysmon and JSON shippers.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// An IP address without the `::ffff:` prefix of IPv4-mapped IPv6 addresses.
pub(crate) fn clean_ip(text: &str) -> &str {
    let text = text.trim();
    match text.strip_prefix("::ffff:") {
        Some(v4) if v4.contains('.') => v4,
        _ => text,
    }
}

/// A port number; 0 counts as absent.
pub(crate) fn parse_port(text: &str) -> Option<u16> {
    text.trim().parse::<u16>().ok().filter(|port| *port != 0)
}

/// IANA protocol number and lowercase name of a protocol given by name or number.
pub(crate) fn protocol(text: &str) -> (Option<u8>, String) {
    let text = text.trim();
    let by_number = |number: u8| match number {
        1 => "icmp".to_string(),
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        58 => "ipv6-icmp".to_string(),
        other => other.to_string(),
    };
    if let Ok(number) = text.parse::<u8>() {
        return (Some(number), by_number(number));
    }
    let name = text.to_ascii_lowercase();
    let number = match name.as_str() {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "ipv6-icmp" | "icmpv6" => Some(58),
        _ => None,
    };
    (number, name)
}

/// Epoch milliseconds of a UTC time written `2024-05-01 10:00:00.123` (Sysmon) or in RFC 3339.
pub(crate) fn parse_utc_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Some(timestamp.as_millisecond());
    }
    let civil: jiff::civil::DateTime = text.parse().ok()?;
    let zoned = civil.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// Whether a GUID is all zeros (Windows writes those for "no GUID").
pub(crate) fn is_null_guid(guid: &str) -> bool {
    guid.chars().all(|c| matches!(c, '0' | '-' | '{' | '}'))
}

/// The text between `<tag>` and `</tag>` in `xml`, with the five XML entities decoded.
pub(crate) fn xml_element(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let text = xml[start..end].trim();
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenames_of_windows_paths() {
        assert_eq!(basename(r"C:\Windows\System32\cmd.exe"), "cmd.exe");
        assert_eq!(basename(r"C:\Temp\"), "Temp");
        assert_eq!(basename("System"), "System");
        assert_eq!(basename(r"\\"), r"\\");
        assert_eq!(
            split_registry_value(r"HKLM\Software\Run\Evil"),
            (r"HKLM\Software\Run", "Evil")
        );
        assert_eq!(split_account(r"CORP\alice"), (Some("CORP"), "alice"));
        assert_eq!(split_account("alice"), (None, "alice"));
    }

    #[test]
    fn hashes_map_to_schema_algorithms() {
        let hashes = parse_hashes("SHA1=AA,MD5=BB,SHA256=CC,IMPHASH=DD,XX=EE,SHA512=");
        let ids: Vec<_> = hashes
            .iter()
            .map(|h| (h.algorithm_id, h.value.as_str()))
            .collect();
        assert_eq!(
            ids,
            [(2, "AA"), (1, "BB"), (3, "CC"), (18, "DD"), (99, "EE")]
        );
    }

    #[test]
    fn ids_of_windows_codes() {
        assert_eq!(logon_type(10), (10, "Remote Interactive"));
        assert_eq!(logon_type(6), (99, "Other"));
        assert_eq!(logon_is_remote(3), Some(true));
        assert_eq!(integrity_of_label("S-1-16-12288"), ("High", 4));
        assert_eq!(integrity_id_of_level("System"), 5);
        assert_eq!(auth_protocol_id("MICROSOFT_AUTHENTICATION_PACKAGE_V1_0"), 1);
        assert_eq!(auth_protocol_id("Kerberos"), 2);
        assert_eq!(auth_protocol_id("Negotiate"), 99);
        assert_eq!(protocol("6"), (Some(6), "tcp".to_string()));
        assert_eq!(protocol("udp"), (Some(17), "udp".to_string()));
        assert_eq!(clean_ip("::ffff:10.0.0.5"), "10.0.0.5");
        assert_eq!(clean_ip("fe80::1"), "fe80::1");
        assert_eq!(parse_port("0"), None);
    }

    #[test]
    fn times_in_sysmon_and_rfc3339_forms() {
        assert_eq!(
            parse_utc_millis("2024-05-01 10:00:00.123"),
            Some(1_714_557_600_123)
        );
        assert_eq!(
            parse_utc_millis("2024-05-01T10:00:00.123Z"),
            Some(1_714_557_600_123)
        );
        assert_eq!(parse_utc_millis("yesterday"), None);
    }

    #[test]
    fn xml_elements_are_unescaped() {
        let xml = "<Exec><Command>cmd.exe</Command><Arguments>/c echo &quot;a &amp; b&quot;</Arguments></Exec>";
        assert_eq!(xml_element(xml, "Command").as_deref(), Some("cmd.exe"));
        assert_eq!(
            xml_element(xml, "Arguments").as_deref(),
            Some("/c echo \"a & b\"")
        );
        assert_eq!(xml_element(xml, "WorkingDirectory"), None);
    }
}
