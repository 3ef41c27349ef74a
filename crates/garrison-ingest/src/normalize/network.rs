//! Network sensor records to OCSF: Zeek logs (conn, dns, http, ssl, files) and Suricata EVE
//! records (alert, flow, dns, http, tls, fileinfo).
//!
//! Connections are Network Activity (with traffic counts and, for TLS, the session's
//! parameters), name resolution DNS Activity, web requests HTTP Activity, files carried over the
//! network Network File Activity, and Suricata's alerts Detection Findings. Both sensors' flow
//! ids (Zeek's `uid`, Suricata's `flow_id`) become `metadata.correlation_uid`, so the records of
//! one connection can be found together. Other Zeek logs and EVE types have no class here and
//! become Base Events.

use super::source::Source;
use super::values::{basename, clean_ip, parse_port, protocol};
use super::{draft, set_outcome};
use garrison_model::ocsf::{
    Actor, Certificate, ConnectionInfo, DetectionFinding, DnsActivity, DnsActivityId, DnsAnswer,
    DnsQuery, Evidence, File, FindingActivityId, FindingInfo, Fingerprint, HttpActivity,
    HttpActivityId, HttpRequest, HttpResponse, NetworkActivity, NetworkActivityId, NetworkEndpoint,
    NetworkFileActivity, NetworkFileActivityId, NetworkTraffic, OcsfEvent, Product, Severity, Tls,
    Url,
};
use garrison_model::{Event, RecordFormat};

/// The OCSF view of a Zeek or Suricata record, or `None` when its log or type has no class.
pub(crate) fn normalize_network(event: &Event) -> Option<OcsfEvent> {
    let mut source = Source::new(event);
    let mut normalized = match event.format {
        RecordFormat::Zeek => zeek(&mut source)?,
        RecordFormat::Suricata => suricata(&mut source)?,
        _ => return None,
    };
    normalized.metadata.log_format = Some(event.format.as_str().to_string());
    if let Some(time) = event.timestamp {
        normalized.set_time(time);
    }
    normalized.unmapped = source.unmapped();
    Some(normalized)
}

fn endpoint(source: &mut Source, ip: &str, port: &str) -> Option<NetworkEndpoint> {
    let mut endpoint = NetworkEndpoint {
        ip: source.take(ip).map(|ip| clean_ip(ip).to_string()),
        ..NetworkEndpoint::default()
    };
    if let Some(port) = source.peek(port).and_then(parse_port) {
        endpoint.port = Some(port);
    }
    source.consume(port);
    (!endpoint.is_empty()).then_some(endpoint)
}

fn number(source: &mut Source, name: &str) -> Option<i64> {
    let value = source.peek(name)?.trim().parse::<f64>().ok()? as i64;
    source.consume(name);
    Some(value)
}

fn connection(source: &mut Source, proto: &str) -> ConnectionInfo {
    let mut info = ConnectionInfo::default();
    if let Some(name) = source.take(proto) {
        let (number, name) = protocol(name);
        info.protocol_num = number;
        info.protocol_name = Some(name);
    }
    info
}

fn hashes(source: &mut Source, fields: [(&str, u8, &str); 3]) -> Vec<Fingerprint> {
    fields
        .into_iter()
        .filter_map(|(field, algorithm_id, algorithm)| {
            source.take(field).map(|value| Fingerprint {
                algorithm_id,
                algorithm: Some(algorithm.to_string()),
                value: value.to_string(),
            })
        })
        .collect()
}

const FILE_HASHES: [(&str, u8, &str); 3] = [
    ("md5", 1, "MD5"),
    ("sha1", 2, "SHA-1"),
    ("sha256", 3, "SHA-256"),
];

fn sensor_product(name: &str, vendor: &str) -> Product {
    Product {
        name: Some(name.to_string()),
        vendor_name: Some(vendor.to_string()),
        version: None,
    }
}

/// The HTTP activity of a request method.
fn http_activity(method: Option<&str>) -> HttpActivityId {
    match method.map(str::to_ascii_uppercase).as_deref() {
        Some("CONNECT") => HttpActivityId::Connect,
        Some("DELETE") => HttpActivityId::Delete,
        Some("GET") => HttpActivityId::Get,
        Some("HEAD") => HttpActivityId::Head,
        Some("OPTIONS") => HttpActivityId::Options,
        Some("POST") => HttpActivityId::Post,
        Some("PUT") => HttpActivityId::Put,
        Some("TRACE") => HttpActivityId::Trace,
        Some("PATCH") => HttpActivityId::Patch,
        Some(other) => HttpActivityId::Other(other.to_string()),
        None => HttpActivityId::Unknown,
    }
}

/// A URL from the Host header and the request target, split into its parts.
fn url(host: Option<&str>, target: Option<&str>, port: Option<u16>, tls: bool) -> Option<Url> {
    if host.is_none() && target.is_none() {
        return None;
    }
    let target = target.unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (target, None),
    };
    let scheme = if tls { "https" } else { "http" };
    let url_string = match host {
        Some(host) if !target.contains("://") => Some(format!("{scheme}://{host}{target}")),
        _ => Some(target.to_string()),
    };
    Some(Url {
        url_string,
        scheme: Some(scheme.to_string()),
        hostname: host.map(str::to_string),
        port,
        path: Some(path.to_string()),
        query_string: query,
    })
}

/// OCSF's `rcode_id` of a DNS response code name (`NOERROR`, `NXDOMAIN`, ...).
fn rcode_id(name: &str) -> u8 {
    match name.to_ascii_uppercase().as_str() {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        "YXDOMAIN" => 6,
        "YXRRSET" => 7,
        "NXRRSET" => 8,
        "NOTAUTH" => 9,
        "NOTZONE" => 10,
        _ => 99,
    }
}

// ---------------------------------------------------------------------------------------------
// Zeek

fn zeek(source: &mut Source) -> Option<OcsfEvent> {
    let log = source.peek(crate::zeek::PATH_FIELD)?;
    let mut event = match log {
        "conn" => zeek_conn(source),
        "dns" => zeek_dns(source),
        "http" => zeek_http(source),
        "ssl" => zeek_ssl(source),
        "files" => zeek_files(source)?,
        _ => return None,
    };
    source.consume(crate::zeek::PATH_FIELD);
    event.metadata.product = sensor_product("Zeek", "Zeek");
    event.metadata.log_name = Some(log.to_string());
    event.metadata.correlation_uid = source.take("uid").map(str::to_string);
    event.metadata.original_time = source.take("ts").map(str::to_string);
    Some(event)
}

fn zeek_endpoints(source: &mut Source) -> (Option<NetworkEndpoint>, Option<NetworkEndpoint>) {
    (
        endpoint(source, "id.orig_h", "id.orig_p"),
        endpoint(source, "id.resp_h", "id.resp_p"),
    )
}

/// A Zeek boolean (`T`/`F` in TSV, `true`/`false` in JSON), taken.
fn flag(source: &mut Source, name: &str) -> Option<bool> {
    match source.take(name)? {
        "T" | "true" => Some(true),
        "F" | "false" => Some(false),
        _ => None,
    }
}

/// Zeek's `local_orig`/`local_resp` as OCSF's direction: 1 Inbound, 2 Outbound, 3 Lateral.
fn zeek_direction(source: &mut Source) -> (u8, &'static str) {
    match (flag(source, "local_orig"), flag(source, "local_resp")) {
        (Some(true), Some(false)) => (2, "Outbound"),
        (Some(false), Some(true)) => (1, "Inbound"),
        (Some(true), Some(true)) => (3, "Lateral"),
        _ => (0, "Unknown"),
    }
}

fn zeek_conn(source: &mut Source) -> OcsfEvent {
    let (src, dst) = zeek_endpoints(source);
    let mut info = connection(source, "proto");
    let (direction_id, direction) = zeek_direction(source);
    info.direction_id = direction_id;
    info.direction = Some(direction.to_string());
    let state = source.take("conn_state").unwrap_or_default().to_string();
    let activity = match state.as_str() {
        "S0" => NetworkActivityId::Fail,
        "REJ" => NetworkActivityId::Refuse,
        "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" => NetworkActivityId::Reset,
        "SF" | "S2" | "S3" => NetworkActivityId::Close,
        "S1" => NetworkActivityId::Open,
        _ => NetworkActivityId::Traffic,
    };
    let traffic = NetworkTraffic {
        bytes_out: number(source, "orig_bytes"),
        bytes_in: number(source, "resp_bytes"),
        packets_out: number(source, "orig_pkts"),
        packets_in: number(source, "resp_pkts"),
        ..NetworkTraffic::default()
    };
    let has_traffic = traffic != NetworkTraffic::default();
    let app_name = source.take("service").map(str::to_string);
    let mut event = draft(
        source,
        NetworkActivity {
            src_endpoint: src,
            dst_endpoint: dst,
            connection_info: Some(info),
            initiator_id: Some(1),
            traffic: has_traffic.then_some(traffic),
            app_name,
            ..NetworkActivity::new(activity)
        },
    );
    if let Some(seconds) = source.peek("duration").and_then(|d| d.parse::<f64>().ok()) {
        source.consume("duration");
        event.duration = Some((seconds * 1000.0).round() as i64);
    }
    event.status_detail = (!state.is_empty()).then_some(state);
    event
}

fn zeek_dns(source: &mut Source) -> OcsfEvent {
    let (src, dst) = zeek_endpoints(source);
    let info = connection(source, "proto");
    let query = source.take("query").map(|name| DnsQuery {
        hostname: name.to_string(),
        type_name: source.take("qtype_name").map(str::to_string),
        class: source.take("qclass_name").map(str::to_string),
    });
    let ttls = source.take_all("TTLs");
    let answers: Vec<DnsAnswer> = source
        .take_all("answers")
        .into_iter()
        .enumerate()
        .filter(|(_, answer)| !answer.is_empty() && *answer != "-")
        .map(|(index, answer)| DnsAnswer {
            rdata: answer.to_string(),
            type_name: None,
            ttl: ttls
                .get(index)
                .and_then(|ttl| ttl.parse::<f64>().ok())
                .map(|ttl| ttl as i64),
        })
        .collect();
    let rcode = source.take("rcode_name").map(str::to_string);
    let responded = rcode.is_some() || !answers.is_empty();
    let transaction_id = number(source, "trans_id");
    let mut event = draft(
        source,
        DnsActivity {
            src_endpoint: src,
            dst_endpoint: dst,
            query,
            answers,
            rcode_id: rcode.as_deref().map(rcode_id),
            rcode,
            connection_info: Some(info),
            transaction_id,
            ..DnsActivity::new(if responded {
                DnsActivityId::Traffic
            } else {
                DnsActivityId::Query
            })
        },
    );
    event.status_code = source.take("rcode").map(str::to_string);
    event
}

fn zeek_http(source: &mut Source) -> OcsfEvent {
    let (src, dst) = zeek_endpoints(source);
    let method = source.take("method");
    let port = dst.as_ref().and_then(|dst| dst.port);
    let request = HttpRequest {
        http_method: method.map(str::to_string),
        url: url(source.take("host"), source.take("uri"), port, false),
        user_agent: source.take("user_agent").map(str::to_string),
        referrer: source.take("referrer").map(str::to_string),
        version: source.take("version").map(str::to_string),
        length: number(source, "request_body_len"),
        uid: None,
    };
    let response = number(source, "status_code").map(|code| HttpResponse {
        code,
        status: source.take("status_msg").map(str::to_string),
        length: number(source, "response_body_len"),
        content_type: source.peek("resp_mime_types").map(str::to_string),
    });
    draft(
        source,
        HttpActivity {
            activity: http_activity(method),
            src_endpoint: src,
            dst_endpoint: dst,
            connection_info: None,
            http_request: Some(request),
            http_response: response,
            traffic: None,
        },
    )
}

fn zeek_ssl(source: &mut Source) -> OcsfEvent {
    let (src, dst) = zeek_endpoints(source);
    let tls = source.take("version").map(|version| Tls {
        version: version.to_string(),
        cipher: source.take("cipher").map(str::to_string),
        sni: source.take("server_name").map(str::to_string),
        ja3_hash: source.take("ja3").map(|hash| Fingerprint {
            algorithm_id: 1,
            algorithm: Some("MD5".to_string()),
            value: hash.to_string(),
        }),
        ja3s_hash: source.take("ja3s").map(|hash| Fingerprint {
            algorithm_id: 1,
            algorithm: Some("MD5".to_string()),
            value: hash.to_string(),
        }),
        certificate: source.take("subject").map(|subject| Certificate {
            serial_number: source.take("serial").unwrap_or_default().to_string(),
            subject: Some(subject.to_string()),
            issuer: source.take("issuer").map(str::to_string),
        }),
    });
    let established = flag(source, "established");
    let mut event = draft(
        source,
        NetworkActivity {
            src_endpoint: src,
            dst_endpoint: dst,
            initiator_id: Some(1),
            tls,
            app_name: Some("ssl".to_string()),
            ..NetworkActivity::new(NetworkActivityId::Open)
        },
    );
    if let Some(established) = established {
        set_outcome(&mut event, established);
    }
    event
}

/// A file Zeek saw on a connection: downloaded when the responder sent it (`is_orig` false),
/// uploaded when the originator did. Old `files.log` name the hosts `tx_hosts`/`rx_hosts`.
fn zeek_files(source: &mut Source) -> Option<OcsfEvent> {
    let (mut src, mut dst) = zeek_endpoints(source);
    let upload = flag(source, "is_orig") == Some(true);
    if src.is_none() {
        let (tx, rx) = (source.take("tx_hosts"), source.take("rx_hosts"));
        let host = |ip: &str| NetworkEndpoint {
            ip: Some(ip.to_string()),
            ..NetworkEndpoint::default()
        };
        // Without `is_orig`, the receiver is taken for the client.
        src = rx.map(host);
        dst = tx.map(host);
    }
    let name = source
        .take("filename")
        .map(|name| basename(name).to_string())
        .or_else(|| source.peek("fuid").map(str::to_string))?;
    let file = File {
        name,
        type_id: 1,
        type_name: Some("Regular File".to_string()),
        hashes: hashes(source, FILE_HASHES),
        mime_type: source.take("mime_type").map(str::to_string),
        size: number(source, "seen_bytes").or_else(|| number(source, "total_bytes")),
        ..File::default()
    };
    let carrier = source.take("source").map(str::to_string);
    let mut event = draft(
        source,
        NetworkFileActivity {
            activity: if upload {
                NetworkFileActivityId::Upload
            } else {
                NetworkFileActivityId::Download
            },
            file,
            src_endpoint: src.unwrap_or_default(),
            dst_endpoint: dst,
            connection_info: None,
        },
    );
    // Who moved the file is not known to a sensor; the protocol that carried it is.
    event.actor = Some(Actor {
        app_name: carrier.or_else(|| Some("network".to_string())),
        ..Actor::default()
    });
    event.metadata.original_event_uid = source.take("fuid").map(str::to_string);
    Some(event)
}

// ---------------------------------------------------------------------------------------------
// Suricata

fn suricata(source: &mut Source) -> Option<OcsfEvent> {
    let kind = source.peek("event_type")?.to_string();
    let (src, dst) = (
        endpoint(source, "src_ip", "src_port"),
        endpoint(source, "dest_ip", "dest_port"),
    );
    let mut info = connection(source, "proto");
    info.direction_id = match source.take("direction") {
        Some("to_server") => 2,
        Some("to_client") => 1,
        _ => 0,
    };
    let mut event = match kind.as_str() {
        "alert" => suricata_alert(source, src, dst, info),
        "flow" | "netflow" => suricata_flow(source, src, dst, info),
        "dns" => suricata_dns(source, src, dst, info),
        "http" => suricata_http(source, src, dst, info),
        "tls" => suricata_tls(source, src, dst, info),
        "fileinfo" => suricata_file(source, src, dst, info)?,
        _ => return None,
    };
    source.consume("event_type");
    event.metadata.product = sensor_product("Suricata", "OISF");
    event.metadata.log_name = Some(kind);
    event.metadata.correlation_uid = source.take("flow_id").map(str::to_string);
    event.metadata.original_time = source.take("timestamp").map(str::to_string);
    if let Some(sensor) = source.take("host") {
        event.metadata.log_provider = Some(sensor.to_string());
    }
    Some(event)
}

fn suricata_alert(
    source: &mut Source,
    src: Option<NetworkEndpoint>,
    dst: Option<NetworkEndpoint>,
    info: ConnectionInfo,
) -> OcsfEvent {
    let signature_id = source.take("alert.signature_id").unwrap_or("0").to_string();
    let title = source.take("alert.signature").map(str::to_string);
    let category = source.take("alert.category").map(str::to_string);
    let severity = source
        .peek("alert.severity")
        .and_then(|s| s.parse::<u8>().ok());
    source.consume("alert.severity");
    let request = source.peek("http.url").map(|_| HttpRequest {
        http_method: source.take("http.http_method").map(str::to_string),
        url: url(
            source.take("http.hostname"),
            source.take("http.url"),
            None,
            false,
        ),
        user_agent: source.take("http.http_user_agent").map(str::to_string),
        ..HttpRequest::default()
    });
    let evidence = Evidence {
        src_endpoint: src,
        dst_endpoint: dst,
        connection_info: Some(info),
        http_request: request,
        ..Evidence::default()
    };
    let uid = format!(
        "{}:{}:{}",
        source.take("alert.gid").unwrap_or("1"),
        signature_id,
        source.take("alert.rev").unwrap_or("0")
    );
    let mut event = draft(
        source,
        DetectionFinding {
            activity: FindingActivityId::Create,
            finding_info: FindingInfo {
                uid,
                title,
                types: category.into_iter().collect(),
                ..FindingInfo::default()
            },
            evidences: vec![evidence],
            is_alert: Some(true),
        },
    );
    // Suricata's priority: 1 is the most severe.
    event.severity = match severity {
        Some(1) => Severity::High,
        Some(2) => Severity::Medium,
        Some(3) => Severity::Low,
        _ => Severity::Informational,
    };
    match source.take("alert.action") {
        Some("blocked") => {
            event.action_id = Some(2);
            event.action = Some("Denied".to_string());
        }
        Some("allowed") => {
            event.action_id = Some(1);
            event.action = Some("Allowed".to_string());
        }
        _ => {}
    }
    if event.action_id.is_some() {
        event.add_profile("security_control");
    }
    event
}

fn suricata_traffic(source: &mut Source) -> Option<NetworkTraffic> {
    let traffic = NetworkTraffic {
        bytes_out: number(source, "flow.bytes_toserver"),
        bytes_in: number(source, "flow.bytes_toclient"),
        packets_out: number(source, "flow.pkts_toserver"),
        packets_in: number(source, "flow.pkts_toclient"),
        ..NetworkTraffic::default()
    };
    (traffic != NetworkTraffic::default()).then_some(traffic)
}

fn suricata_flow(
    source: &mut Source,
    src: Option<NetworkEndpoint>,
    dst: Option<NetworkEndpoint>,
    info: ConnectionInfo,
) -> OcsfEvent {
    let state = source.take("flow.state").unwrap_or_default().to_string();
    let activity = match state.as_str() {
        "closed" => NetworkActivityId::Close,
        "new" => NetworkActivityId::Open,
        "established" => NetworkActivityId::Traffic,
        _ => NetworkActivityId::Traffic,
    };
    let traffic = suricata_traffic(source);
    let app_name = source.take("app_proto").map(str::to_string);
    let mut event = draft(
        source,
        NetworkActivity {
            src_endpoint: src,
            dst_endpoint: dst,
            connection_info: Some(info),
            initiator_id: Some(1),
            traffic,
            app_name,
            ..NetworkActivity::new(activity)
        },
    );
    if let Some(seconds) = number(source, "flow.age") {
        event.duration = Some(seconds * 1000);
    }
    event.status_detail = source
        .take("flow.reason")
        .map(|reason| format!("{state} ({reason})"));
    event
}

fn suricata_dns(
    source: &mut Source,
    src: Option<NetworkEndpoint>,
    dst: Option<NetworkEndpoint>,
    info: ConnectionInfo,
) -> OcsfEvent {
    let kind = source.take("dns.type").unwrap_or_default();
    let query = source
        .take("dns.rrname")
        .or_else(|| source.take("dns.queries.rrname"))
        .map(|name| DnsQuery {
            hostname: name.to_string(),
            type_name: source
                .take("dns.rrtype")
                .or_else(|| source.take("dns.queries.rrtype"))
                .map(str::to_string),
            class: None,
        });
    let types = source.take_all("dns.answers.rrtype");
    let ttls = source.take_all("dns.answers.ttl");
    source.take_all("dns.answers.rrname");
    let answers = source
        .take_all("dns.answers.rdata")
        .into_iter()
        .enumerate()
        .map(|(index, rdata)| DnsAnswer {
            rdata: rdata.to_string(),
            type_name: types.get(index).map(|t| t.to_string()),
            ttl: ttls.get(index).and_then(|ttl| ttl.parse().ok()),
        })
        .collect();
    let rcode = source.take("dns.rcode").map(str::to_string);
    let transaction_id = number(source, "dns.id");
    draft(
        source,
        DnsActivity {
            src_endpoint: src,
            dst_endpoint: dst,
            query,
            answers,
            rcode_id: rcode.as_deref().map(rcode_id),
            rcode,
            connection_info: Some(info),
            transaction_id,
            ..DnsActivity::new(match kind {
                "query" | "request" => DnsActivityId::Query,
                "answer" | "response" => DnsActivityId::Response,
                _ => DnsActivityId::Traffic,
            })
        },
    )
}

fn suricata_http(
    source: &mut Source,
    src: Option<NetworkEndpoint>,
    dst: Option<NetworkEndpoint>,
    info: ConnectionInfo,
) -> OcsfEvent {
    let method = source.take("http.http_method");
    let port = number(source, "http.http_port")
        .and_then(|port| u16::try_from(port).ok())
        .or(dst.as_ref().and_then(|dst| dst.port));
    let request = HttpRequest {
        http_method: method.map(str::to_string),
        url: url(
            source.take("http.hostname"),
            source.take("http.url"),
            port,
            false,
        ),
        user_agent: source.take("http.http_user_agent").map(str::to_string),
        referrer: source.take("http.http_refer").map(str::to_string),
        version: source.take("http.protocol").map(str::to_string),
        ..HttpRequest::default()
    };
    let response = number(source, "http.status").map(|code| HttpResponse {
        code,
        length: number(source, "http.length"),
        content_type: source.take("http.http_content_type").map(str::to_string),
        status: None,
    });
    draft(
        source,
        HttpActivity {
            activity: http_activity(method),
            src_endpoint: src,
            dst_endpoint: dst,
            connection_info: Some(info),
            http_request: Some(request),
            http_response: response,
            traffic: None,
        },
    )
}

fn suricata_tls(
    source: &mut Source,
    src: Option<NetworkEndpoint>,
    dst: Option<NetworkEndpoint>,
    info: ConnectionInfo,
) -> OcsfEvent {
    let md5 = |hash: &str| Fingerprint {
        algorithm_id: 1,
        algorithm: Some("MD5".to_string()),
        value: hash.to_string(),
    };
    let tls = Tls {
        version: source
            .take("tls.version")
            .unwrap_or("UNDETERMINED")
            .to_string(),
        cipher: None,
        sni: source.take("tls.sni").map(str::to_string),
        ja3_hash: source.take("tls.ja3.hash").map(md5),
        ja3s_hash: source.take("tls.ja3s.hash").map(md5),
        certificate: source.take("tls.serial").map(|serial| Certificate {
            serial_number: serial.to_string(),
            subject: source.take("tls.subject").map(str::to_string),
            issuer: source.take("tls.issuerdn").map(str::to_string),
        }),
    };
    let app_name = source.take("app_proto").map(str::to_string);
    draft(
        source,
        NetworkActivity {
            src_endpoint: src,
            dst_endpoint: dst,
            connection_info: Some(info),
            initiator_id: Some(1),
            tls: Some(tls),
            app_name,
            ..NetworkActivity::new(NetworkActivityId::Open)
        },
    )
}

fn suricata_file(
    source: &mut Source,
    src: Option<NetworkEndpoint>,
    dst: Option<NetworkEndpoint>,
    info: ConnectionInfo,
) -> Option<OcsfEvent> {
    let name = basename(source.take("fileinfo.filename")?).to_string();
    let file = File {
        name,
        type_id: 1,
        type_name: Some("Regular File".to_string()),
        hashes: hashes(
            source,
            [
                ("fileinfo.md5", 1, "MD5"),
                ("fileinfo.sha1", 2, "SHA-1"),
                ("fileinfo.sha256", 3, "SHA-256"),
            ],
        ),
        desc: source.take("fileinfo.magic").map(str::to_string),
        size: number(source, "fileinfo.size"),
        ..File::default()
    };
    // Suricata logs a file with the flow's addresses as the packet carrying it had them: a
    // download comes from the server (`to_client`), so the client is the destination.
    let download = info.direction_id != 2;
    let (client, server) = if download { (dst, src) } else { (src, dst) };
    let carrier = source.take("app_proto").map(str::to_string);
    let mut event = draft(
        source,
        NetworkFileActivity {
            activity: if download {
                NetworkFileActivityId::Download
            } else {
                NetworkFileActivityId::Upload
            },
            file,
            src_endpoint: client.unwrap_or_default(),
            dst_endpoint: server,
            connection_info: Some(info),
        },
    );
    event.actor = Some(Actor {
        app_name: carrier.or_else(|| Some("network".to_string())),
        ..Actor::default()
    });
    Some(event)
}
