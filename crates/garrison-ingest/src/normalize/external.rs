//! Alerts of other tools (Wazuh, Microsoft Sentinel / Defender, mapped sources) to OCSF
//! Detection Findings: the tool's rule as the analytic, its ATT&CK mapping as `attacks`, the
//! host it names as `device`. Suricata's alerts are in [`super::suricata`], with their flow.

use super::finding::detection_finding;
use super::source::Source;
use crate::alerts::ExternalAlerts;
use garrison_model::ocsf::{OcsfEvent, Product};
use garrison_model::{Event, RecordFormat};

/// The fields each tool's finding represents (they leave `unmapped`).
fn represented(format: RecordFormat) -> &'static [&'static str] {
    match format {
        RecordFormat::Wazuh => &[
            "rule.description",
            "rule.level",
            "rule.id",
            "rule.mitre.tactic",
            "rule.mitre.id",
            "agent.name",
            "timestamp",
        ],
        RecordFormat::SentinelAlert => &[
            "AlertName",
            "AlertSeverity",
            "Tactics",
            "Techniques",
            "CompromisedEntity",
            "Description",
            "AlertType",
            "TimeGenerated",
        ],
        RecordFormat::Cef => &[
            "cef.name",
            "cef.severity",
            "cef.signature_id",
            "cef.device_product",
            "cef.device_vendor",
            "dhost",
            "msg",
        ],
        RecordFormat::Leef => &[
            "leef.event_id",
            "leef.product",
            "leef.vendor",
            "sev",
            "msg",
            "cat",
        ],
        _ => &[
            crate::mapping::fields::TITLE,
            crate::mapping::fields::SEVERITY,
            crate::mapping::fields::RULE_ID,
            crate::mapping::fields::HOST,
            crate::mapping::fields::TACTIC,
            crate::mapping::fields::TECHNIQUE,
            crate::mapping::fields::SOURCE,
            crate::mapping::fields::TIME,
        ],
    }
}

/// The finding of an alert record; `None` when the record is not a complete alert.
pub(crate) fn normalize_alert(event: &Event) -> Option<OcsfEvent> {
    let detection = ExternalAlerts::default().detection(event)?;
    let mut finding = detection_finding(&detection);
    let mut source = Source::new(event);
    for name in represented(event.format) {
        source.take_all(name);
    }
    let product = crate::alerts::alert_parts(event).map(|parts| parts.product.to_string());
    finding.metadata.product = match event.format {
        RecordFormat::Wazuh => Product {
            name: Some("Wazuh".into()),
            vendor_name: Some("Wazuh".into()),
            version: None,
        },
        RecordFormat::SentinelAlert => Product {
            name: event
                .field("ProductName")
                .map(str::to_string)
                .or_else(|| Some("Microsoft Sentinel".into())),
            vendor_name: Some(event.field("VendorName").unwrap_or("Microsoft").to_string()),
            version: None,
        },
        RecordFormat::Cef | RecordFormat::Leef => Product {
            name: product,
            vendor_name: event
                .field("cef.device_vendor")
                .or_else(|| event.field("leef.vendor"))
                .map(str::to_string),
            version: event
                .field("cef.device_version")
                .or_else(|| event.field("leef.product_version"))
                .map(str::to_string),
        },
        _ => Product {
            name: product,
            vendor_name: None,
            version: None,
        },
    };
    finding.metadata.log_format = Some(event.format.as_str().to_string());
    if let garrison_model::ocsf::EventDetail::DetectionFinding(attributes) = &mut finding.detail {
        // Another tool's alert, not one of our rules'.
        attributes.finding_info.types = vec![format!("{} alert", event.format.as_str())];
    }
    finding.message = Some(detection.rule.title.clone());
    if finding.device.is_some() {
        finding.add_profile("host");
    }
    // The tool's own fields stay with the finding, beside the rule's.
    finding.unmapped.extend(source.unmapped());
    Some(finding)
}
