//! Network sensor records to OCSF: Zeek logs (conn, dns, http, ssl, files) here, Suricata EVE
//! records (alert, flow, dns, http, tls, fileinfo) in [`super::suricata`].
//!
//! Connections are Network Activity (with traffic counts and, for TLS, the session's
//! parameters), name resolution DNS Activity, web requests HTTP Activity, files carried over the
//! network Network File Activity, and Suricata's alerts Detection Findings. Both sensors' flow
//! ids (Zeek's `uid`, Suricata's `flow_id`) become `metadata.correlation_uid`, so the records of
//! one connection can be found together. Other Zeek logs and EVE types have no class here and
//! become Base Events. Azure Monitor VM Insights connections (`VMConnection`) are Network
//! Activity of the process that made them.

use super::source::Source;
use super::values::{basename, clean_ip, parse_port, protocol};
use super::{draft, set_outcome};
use garrison_model::ocsf::{
    Actor, Certificate, ConnectionInfo, Device, DnsActivity, DnsActivityId, DnsAnswer, DnsQuery,
    File, Fingerprint, HttpActivity, HttpActivityId, HttpRequest, HttpResponse, NetworkActivity,
    NetworkActivityId, NetworkEndpoint, NetworkFileActivity, NetworkFileActivityId, NetworkTraffic,
    OcsfEvent, Process, Product, Tls, Url,
};
use garrison_model::{Event, RecordFormat};

/// The OCSF view of a Zeek or Suricata record, or `None` when its log or type has no class.
pub(crate) fn normalize_network(event: &Event) -> Option<OcsfEvent> {
    let mut source = Source::new(event);
    let mut normalized = match event.format {
        RecordFormat::Zeek => zeek(&mut source)?,
        RecordFormat::Suricata => super::suricata::suricata(&mut source)?,
        RecordFormat::VmConnection => vm_connection(&mut source),
        _ => return None,
    };
    normalized.metadata.log_format = Some(event.format.as_str().to_string());
    if let Some(time) = event.timestamp {
        normalized.set_time(time);
    }
    normalized.unmapped = source.unmapped();
    Some(normalized)
}

pub(super) fn endpoint(source: &mut Source, ip: &str, port: &str) -> Option<NetworkEndpoint> {
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

pub(super) fn number(source: &mut Source, name: &str) -> Option<i64> {
    let value = source.peek(name)?.trim().parse::<f64>().ok()? as i64;
    source.consume(name);
    Some(value)
}

pub(super) fn connection(source: &mut Source, proto: &str) -> ConnectionInfo {
    let mut info = ConnectionInfo::default();
    if let Some(name) = source.take(proto) {
        let (number, name) = protocol(name);
        info.protocol_num = number;
        info.protocol_name = Some(name);
    }
    info
}

pub(super) fn hashes(source: &mut Source, fields: [(&str, u8, &str); 3]) -> Vec<Fingerprint> {
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

pub(super) fn sensor_product(name: &str, vendor: &str) -> Product {
    Product {
        name: Some(name.to_string()),
        vendor_name: Some(vendor.to_string()),
        version: None,
    }
}

/// The HTTP activity of a request method.
pub(super) fn http_activity(method: Option<&str>) -> HttpActivityId {
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
pub(super) fn url(
    host: Option<&str>,
    target: Option<&str>,
    port: Option<u16>,
    tls: bool,
) -> Option<Url> {
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
    let activity = if rcode.is_some() || !answers.is_empty() {
        DnsActivityId::Traffic
    } else {
        DnsActivityId::Query
    };
    let transaction_id = number(source, "trans_id");
    let mut event = dns(
        source,
        activity,
        (src, dst, info),
        (query, answers, rcode),
        transaction_id,
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
    let mut event = file_transfer(source, file, !upload, (src, dst), None, carrier);
    event.metadata.original_event_uid = source.take("fuid").map(str::to_string);
    Some(event)
}

/// A DNS Activity: who asked whom, the question, the answers and the response code.
pub(super) fn dns(
    source: &Source,
    activity: DnsActivityId,
    (src, dst, info): (
        Option<NetworkEndpoint>,
        Option<NetworkEndpoint>,
        ConnectionInfo,
    ),
    (query, answers, rcode): (Option<DnsQuery>, Vec<DnsAnswer>, Option<String>),
    transaction_id: Option<i64>,
) -> OcsfEvent {
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
            ..DnsActivity::new(activity)
        },
    )
}

/// A file a sensor saw cross the network: downloaded by the client from the server, or
/// uploaded. Who moved it is not known to a sensor; the protocol that carried it is the actor.
pub(super) fn file_transfer(
    source: &Source,
    file: File,
    download: bool,
    (client, server): (Option<NetworkEndpoint>, Option<NetworkEndpoint>),
    connection_info: Option<ConnectionInfo>,
    carrier: Option<String>,
) -> OcsfEvent {
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
            connection_info,
        },
    );
    event.actor = Some(Actor {
        app_name: carrier.or_else(|| Some("network".to_string())),
        ..Actor::default()
    });
    event
}

/// A VM Insights connection summary: who connected where, the bytes, and whether the
/// connection was opened or closed in the interval.
fn vm_connection(source: &mut Source) -> OcsfEvent {
    let src = endpoint(source, "SourceIp", "SourcePort");
    let dst = endpoint(source, "DestinationIp", "DestinationPort");
    let mut info = connection(source, "Protocol");
    let (direction_id, direction) = match source.take("Direction") {
        Some("outbound") => (2, "Outbound"),
        Some("inbound") => (1, "Inbound"),
        _ => (0, "Unknown"),
    };
    info.direction_id = direction_id;
    info.direction = Some(direction.to_string());
    let opened = number(source, "LinksEstablished").unwrap_or(0);
    let closed = number(source, "LinksTerminated").unwrap_or(0);
    let activity = match (opened > 0, closed > 0) {
        (true, _) => NetworkActivityId::Open,
        (false, true) => NetworkActivityId::Close,
        (false, false) => NetworkActivityId::Traffic,
    };
    let traffic = NetworkTraffic {
        bytes_out: number(source, "BytesSent"),
        bytes_in: number(source, "BytesReceived"),
        ..NetworkTraffic::default()
    };
    // `Process` is VM Insights' own id of the process (`p-` and a hash).
    let process = source.take("Process").map(|uid| Process {
        uid: Some(uid.to_string()),
        name: source.take("ProcessName").map(str::to_string),
        ..Process::default()
    });
    let mut event = draft(
        source,
        NetworkActivity {
            src_endpoint: src,
            dst_endpoint: dst,
            connection_info: Some(info),
            traffic: (traffic != NetworkTraffic::default()).then_some(traffic),
            ..NetworkActivity::new(activity)
        },
    );
    event.metadata.product = sensor_product("Azure Monitor VM Insights", "Microsoft");
    event.metadata.log_name = Some("VMConnection".to_string());
    event.metadata.correlation_uid = source.take("ConnectionId").map(str::to_string);
    event.actor = process.map(|process| Actor {
        process: Some(process),
        ..Actor::default()
    });
    event.device = source.take("Computer").map(|host| Device {
        hostname: Some(host.to_string()),
        type_id: 0,
        type_name: Some("Unknown".to_string()),
        ..Device::default()
    });
    super::declare_host_profile(&mut event);
    event
}
