//! Suricata EVE records to OCSF: alerts as Detection Findings, flows and TLS sessions as
//! Network Activity, DNS, HTTP and files (see [`super::network`]).

use super::draft;
use super::network::{
    connection, dns, endpoint, file_transfer, hashes, http_activity, number, sensor_product, url,
};
use super::source::Source;
use super::values::basename;
use garrison_model::ocsf::{
    Certificate, ConnectionInfo, DetectionFinding, DnsActivityId, DnsAnswer, DnsQuery, Evidence,
    File, FindingActivityId, FindingInfo, Fingerprint, HttpActivity, HttpRequest, HttpResponse,
    NetworkActivity, NetworkActivityId, NetworkEndpoint, NetworkTraffic, OcsfEvent, Severity, Tls,
};

pub(super) fn suricata(source: &mut Source) -> Option<OcsfEvent> {
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
    let activity = match kind {
        "query" | "request" => DnsActivityId::Query,
        "answer" | "response" => DnsActivityId::Response,
        _ => DnsActivityId::Traffic,
    };
    dns(
        source,
        activity,
        (src, dst, info),
        (query, answers, rcode),
        transaction_id,
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
    Some(file_transfer(
        source,
        file,
        download,
        (client, server),
        Some(info),
        carrier,
    ))
}
