//! Sysmon network connection (EID 3) and DNS query (EID 22) events.

use crate::normalize::build::{SYSMON_PROCESS, endpoint, process, process_actor, this_host};
use crate::normalize::source::Source;
use crate::normalize::values::{clean_ip, parse_bool, protocol};
use crate::normalize::{draft, set_outcome};
use garrison_model::ocsf::{
    ConnectionInfo, DnsActivity, DnsActivityId, DnsAnswer, DnsQuery, NetworkActivity,
    NetworkActivityId, OcsfEvent,
};

/// EID 3: a process opened a TCP or UDP connection (or accepted one, when not `Initiated`).
pub(super) fn connection(source: &mut Source) -> Option<OcsfEvent> {
    let actor = process(source, &SYSMON_PROCESS).map(process_actor);
    let src_endpoint = endpoint(
        source,
        Some("SourceIp"),
        Some("SourcePort"),
        Some("SourceHostname"),
    )
    .map(|mut endpoint| {
        endpoint.svc_name = source.take("SourcePortName").map(String::from);
        endpoint
    });
    let dst_endpoint = endpoint(
        source,
        Some("DestinationIp"),
        Some("DestinationPort"),
        Some("DestinationHostname"),
    )
    .map(|mut endpoint| {
        endpoint.svc_name = source.take("DestinationPortName").map(String::from);
        endpoint
    });
    let mut connection_info = ConnectionInfo::default();
    match source.peek("Initiated").and_then(parse_bool) {
        Some(true) => {
            source.consume("Initiated");
            connection_info.direction_id = 2;
            connection_info.direction = Some("Outbound".to_string());
        }
        Some(false) => {
            source.consume("Initiated");
            connection_info.direction_id = 1;
            connection_info.direction = Some("Inbound".to_string());
        }
        None => connection_info.direction = Some("Unknown".to_string()),
    }
    if let Some(name) = source.take("Protocol") {
        let (number, name) = protocol(name);
        connection_info.protocol_num = number;
        connection_info.protocol_name = Some(name);
    }
    if let Some(ipv6) = source.peek("SourceIsIpv6").and_then(parse_bool) {
        source.consume("SourceIsIpv6");
        source.consume("DestinationIsIpv6");
        connection_info.protocol_ver_id = Some(if ipv6 { 6 } else { 4 });
    }
    let mut event = draft(
        source,
        NetworkActivity {
            src_endpoint,
            dst_endpoint,
            connection_info: Some(connection_info),
            ..NetworkActivity::new(NetworkActivityId::Open)
        },
    );
    event.actor = actor;
    Some(event)
}

/// `rcode_id` and caption of the Windows DNS status of a query (`DNS_ERROR_RCODE_*`).
fn rcode(status: i64) -> (u8, &'static str) {
    match status {
        0 | 9501 => (0, "NoError"),
        9001 => (1, "FormError"),
        9002 => (2, "ServError"),
        9003 => (3, "NXDomain"),
        9004 => (4, "NotImp"),
        9005 => (5, "Refused"),
        9006 => (6, "YXDomain"),
        9007 => (7, "YXRRSet"),
        9008 => (8, "NXRRSet"),
        9009 => (9, "NotAuth"),
        9010 => (10, "NotZone"),
        _ => (99, "Other"),
    }
}

/// The answers of Sysmon's `QueryResults` (`type:  5 cname.example;::ffff:10.0.0.1;`).
fn answers(results: &str) -> Vec<DnsAnswer> {
    results
        .split(';')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| match entry.strip_prefix("type:") {
            Some(rest) => {
                let rest = rest.trim_start();
                let (code, data) = rest.split_once(' ').unwrap_or((rest, ""));
                let type_name = match code {
                    "5" => "CNAME".to_string(),
                    "12" => "PTR".to_string(),
                    "15" => "MX".to_string(),
                    "16" => "TXT".to_string(),
                    "33" => "SRV".to_string(),
                    other => format!("TYPE{other}"),
                };
                DnsAnswer {
                    rdata: data.trim().to_string(),
                    type_name: Some(type_name),
                    ttl: None,
                }
            }
            None => {
                let address = clean_ip(entry);
                let type_name = if address.contains(':') { "AAAA" } else { "A" };
                DnsAnswer {
                    rdata: address.to_string(),
                    type_name: Some(type_name.to_string()),
                    ttl: None,
                }
            }
        })
        .collect()
}

/// EID 22: a process resolved a name; Sysmon logs the query with its answer.
pub(super) fn dns_query(source: &mut Source) -> Option<OcsfEvent> {
    let actor = process(source, &SYSMON_PROCESS).map(process_actor);
    let query = source.take("QueryName").map(|name| DnsQuery {
        hostname: name.to_string(),
        ..DnsQuery::default()
    });
    let answers = source.take("QueryResults").map(answers).unwrap_or_default();
    let status = source.take_integer("QueryStatus");
    let (rcode_id, rcode_name) = status.map(rcode).unzip();
    let mut event = draft(
        source,
        DnsActivity {
            src_endpoint: this_host(source),
            query,
            answers,
            rcode_id,
            rcode: rcode_name.map(String::from),
            ..DnsActivity::new(DnsActivityId::Response)
        },
    );
    if let Some(status) = status {
        event.status_code = Some(status.to_string());
        set_outcome(&mut event, matches!(status, 0 | 9501));
    }
    event.actor = actor;
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::answers;
    use crate::normalize::test_support::{SYSMON, normalized_json};

    #[test]
    fn connection_maps_endpoints_and_direction() {
        let json = normalized_json(
            SYSMON,
            3,
            &[
                ("ProcessGuid", "{p}"),
                ("ProcessId", "300"),
                ("Image", r"C:\Windows\System32\rundll32.exe"),
                ("User", r"CORP\alice"),
                ("Protocol", "tcp"),
                ("Initiated", "true"),
                ("SourceIsIpv6", "false"),
                ("SourceIp", "10.0.0.5"),
                ("SourceHostname", "WS01.corp.local"),
                ("SourcePort", "50123"),
                ("SourcePortName", "-"),
                ("DestinationIsIpv6", "false"),
                ("DestinationIp", "203.0.113.7"),
                ("DestinationHostname", "-"),
                ("DestinationPort", "443"),
                ("DestinationPortName", "https"),
            ],
        );
        assert_eq!(json["class_uid"], 4001);
        assert_eq!(json["category_uid"], 4);
        assert_eq!(json["type_uid"], 400101);
        assert_eq!(json["src_endpoint"]["ip"], "10.0.0.5");
        assert_eq!(json["src_endpoint"]["port"], 50123);
        assert_eq!(json["src_endpoint"]["hostname"], "WS01.corp.local");
        assert_eq!(json["dst_endpoint"]["ip"], "203.0.113.7");
        assert_eq!(json["dst_endpoint"]["port"], 443);
        assert_eq!(json["dst_endpoint"]["svc_name"], "https");
        assert!(json["dst_endpoint"].get("hostname").is_none());
        assert_eq!(json["connection_info"]["direction_id"], 2);
        assert_eq!(json["connection_info"]["protocol_num"], 6);
        assert_eq!(json["connection_info"]["protocol_name"], "tcp");
        assert_eq!(json["connection_info"]["protocol_ver_id"], 4);
        assert_eq!(json["actor"]["process"]["name"], "rundll32.exe");
        assert!(
            json.get("unmapped")
                .is_none_or(|u| u.get("DestinationIsIpv6").is_none())
        );
    }

    #[test]
    fn dns_query_maps_query_answers_and_status() {
        let json = normalized_json(
            SYSMON,
            22,
            &[
                ("ProcessGuid", "{p}"),
                ("ProcessId", "300"),
                ("Image", r"C:\Windows\System32\nslookup.exe"),
                ("QueryName", "evil.example"),
                ("QueryStatus", "0"),
                (
                    "QueryResults",
                    "type:  5 cdn.example;::ffff:198.51.100.4;2001:db8::1;",
                ),
            ],
        );
        assert_eq!(json["class_uid"], 4003);
        assert_eq!(json["type_uid"], 400302);
        assert_eq!(json["query"]["hostname"], "evil.example");
        assert_eq!(json["answers"][0]["type"], "CNAME");
        assert_eq!(json["answers"][0]["rdata"], "cdn.example");
        assert_eq!(json["answers"][1]["type"], "A");
        assert_eq!(json["answers"][1]["rdata"], "198.51.100.4");
        assert_eq!(json["answers"][2]["type"], "AAAA");
        assert_eq!(json["rcode_id"], 0);
        assert_eq!(json["status_id"], 1);
        assert_eq!(json["src_endpoint"]["hostname"], "WS01.corp.local");
        let failed = normalized_json(
            SYSMON,
            22,
            &[
                ("ProcessId", "1"),
                ("QueryName", "nope.example"),
                ("QueryStatus", "9003"),
            ],
        );
        assert_eq!(failed["rcode_id"], 3);
        assert_eq!(failed["rcode"], "NXDomain");
        assert_eq!(failed["status_id"], 2);
        assert_eq!(failed["status_code"], "9003");
    }

    #[test]
    fn empty_results_have_no_answers() {
        assert!(answers("").is_empty());
        assert!(answers(" ; ").is_empty());
    }
}
