//! Recognises cloud and identity-provider records among JSON records (AWS CloudTrail, Okta
//! System Log, Microsoft Entra ID sign-ins and directory audits, Azure Activity) and names
//! their fields the way Sigma rules for them do.
//!
//! CloudTrail and Okta keep their own (dotted) names. Microsoft's logs reach a SOC in three
//! shapes that name the same things differently: Microsoft Graph exports (`status.errorCode`,
//! `activityDisplayName`), Azure Monitor diagnostic settings (`properties.*` under a common
//! envelope) and Log Analytics tables (`ResultType`, `OperationName`, nested objects as JSON
//! text). All three become the Log Analytics names, which SigmaHQ's Azure rules use: the
//! `properties.` envelope is opened, Graph names that differ get their Log Analytics name as
//! well, and JSON text is expanded into dotted fields beside the text itself. What is left
//! differs only in case, which rules ignore for these records
//! ([`RecordFormat::folds_field_names`]).

use crate::json::{Naming, flatten_json};
use crate::time::parse_timestamp;
use garrison_model::{Fields, RecordFormat, Timestamp, ValueKind};

/// Log Analytics sign-in tables.
const SIGN_IN_TABLES: &[&str] = &[
    "SigninLogs",
    "AADNonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs",
];

/// Diagnostic-settings categories of sign-in logs.
const SIGN_IN_CATEGORIES: &[&str] = &[
    "SignInLogs",
    "NonInteractiveUserSignInLogs",
    "ServicePrincipalSignInLogs",
    "ManagedIdentitySignInLogs",
];

/// Categories of the Azure Activity Log.
const ACTIVITY_CATEGORIES: &[&str] = &[
    "Administrative",
    "Policy",
    "Security",
    "ServiceHealth",
    "Alert",
    "Recommendation",
    "Autoscale",
    "ResourceHealth",
];

/// The cloud format of a flattened JSON record, if it is one.
pub fn cloud_format(fields: &Fields) -> Option<RecordFormat> {
    let has = |name: &str| fields.get(name).is_some();
    let value = |name: &str| fields.value(name);
    if has("eventSource") && has("eventName") && (has("awsRegion") || has("eventVersion")) {
        return Some(RecordFormat::CloudTrail);
    }
    if has("eventType")
        && has("published")
        && (has("uuid") || has("actor.id") || has("actor.alternateId"))
    {
        return Some(RecordFormat::Okta);
    }
    // Log Analytics names its table in `Type`.
    if let Some(table) = value("Type") {
        if SIGN_IN_TABLES.contains(&table) {
            return Some(RecordFormat::EntraSignIn);
        }
        match table {
            "AuditLogs" => return Some(RecordFormat::EntraAudit),
            "AzureActivity" => return Some(RecordFormat::AzureActivity),
            _ => {}
        }
    }
    // Diagnostic settings: the log's category around `properties`.
    if let Some(category) = value("category") {
        if SIGN_IN_CATEGORIES.contains(&category) && has("properties.userPrincipalName") {
            return Some(RecordFormat::EntraSignIn);
        }
        if category == "AuditLogs" && has("properties.activityDisplayName") {
            return Some(RecordFormat::EntraAudit);
        }
        if ACTIVITY_CATEGORIES.contains(&category) && has("operationName") && has("resourceId") {
            return Some(RecordFormat::AzureActivity);
        }
    }
    // The Activity Log REST API: localized names under `value`.
    if has("operationName.value") && has("eventTimestamp") && has("category.value") {
        return Some(RecordFormat::AzureActivity);
    }
    // Microsoft Graph exports, and Log Analytics rows whose `Type` a query replaced: the
    // columns, in either case.
    let has_any_case = |name: &str| fields.iter().any(|f| f.name.eq_ignore_ascii_case(name));
    if has_any_case("createdDateTime")
        && has_any_case("userPrincipalName")
        && has_any_case("appDisplayName")
    {
        return Some(RecordFormat::EntraSignIn);
    }
    if has_any_case("activityDisplayName")
        && has_any_case("activityDateTime")
        && has_any_case("loggedByService")
    {
        return Some(RecordFormat::EntraAudit);
    }
    None
}

/// The parts of a CloudTrail record that rules also search as JSON text.
#[derive(serde::Deserialize)]
#[allow(non_snake_case)]
struct CloudTrailObjects<'a> {
    #[serde(borrow)]
    requestParameters: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    responseElements: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    additionalEventData: Option<&'a serde_json::value::RawValue>,
}

/// Writes the fields of a cloud record (`record`, flattened with dotted names from `bytes`)
/// into `fields` under the names rules use; returns the record's time.
pub fn add_cloud_fields(
    format: RecordFormat,
    bytes: &[u8],
    record: &Fields,
    fields: &mut Fields,
) -> Option<Timestamp> {
    if !format.folds_field_names() {
        for field in record.iter() {
            fields.push(field.name, field.value, field.kind);
        }
        if format == RecordFormat::CloudTrail {
            // CloudTrail's request and response objects, also whole as JSON text, as SIEMs
            // keep them: rules search them with `contains` (`requestParameters|contains`).
            if let Ok(objects) = serde_json::from_slice::<CloudTrailObjects>(bytes) {
                for (name, object) in [
                    ("requestParameters", objects.requestParameters),
                    ("responseElements", objects.responseElements),
                    ("additionalEventData", objects.additionalEventData),
                ] {
                    if let Some(object) = object.filter(|o| o.get().starts_with('{')) {
                        fields.push(name, object.get(), ValueKind::Text);
                    }
                }
            }
        }
        let time = match format {
            RecordFormat::CloudTrail => "eventTime",
            _ => "published",
        };
        return fields.value(time).and_then(parse_timestamp);
    }
    for field in record.iter() {
        let name = field.name.strip_prefix("properties.").unwrap_or(field.name);
        let name = graph_name(name);
        // Microsoft pads some activity names (`Update application – Certificates and secrets
        // management `); rules name them without the padding.
        let value = field.value.trim();
        fields.push(name, value, field.kind);
        if let Some(alias) = log_analytics_alias(format, name) {
            fields.push(alias, value, field.kind);
        }
        if field.kind == ValueKind::Text {
            expand_json_text(name, field.value, fields);
        }
    }
    [
        "TimeGenerated",
        "createdDateTime",
        "activityDateTime",
        "eventTimestamp",
        "time",
    ]
    .iter()
    .find_map(|name| record.value(name).and_then(parse_timestamp))
}

/// Graph names whose Log Analytics column is named otherwise (beyond case).
fn graph_name(name: &str) -> &str {
    match name {
        "clientAppUsed" => "ClientAppUsed",
        _ => name,
    }
}

/// A second, Log Analytics name for a Graph or diagnostic-settings field.
fn log_analytics_alias(format: RecordFormat, name: &str) -> Option<&'static str> {
    match (format, name) {
        (RecordFormat::EntraSignIn, "status.errorCode") => Some("ResultType"),
        (RecordFormat::EntraSignIn, "status.failureReason") => Some("ResultDescription"),
        (RecordFormat::EntraAudit, "activityDisplayName") => Some("OperationName"),
        (RecordFormat::AzureActivity, "operationName.value") => Some("OperationNameValue"),
        (RecordFormat::AzureActivity, "category.value") => Some("CategoryValue"),
        (RecordFormat::AzureActivity, "resourceProviderName.value") => {
            Some("ResourceProviderValue")
        }
        _ => None,
    }
}

/// When `value` is a JSON object or array written as text (as Log Analytics writes nested
/// columns), adds its members as `name.member` fields.
pub(crate) fn expand_json_text(name: &str, value: &str, fields: &mut Fields) {
    if !looks_like_json(value) {
        return;
    }
    // Wrapped so that arrays flatten too: `v`, `v.key`, ... become `name`, `name.key`.
    let wrapped = format!("{{\"v\":{value}}}");
    let mut nested = Fields::new();
    if flatten_json(wrapped.as_bytes(), Naming::Dotted, &mut nested).is_err() {
        return;
    }
    let mut nested_name = String::new();
    for inner in nested.iter() {
        // A scalar array element (`v` alone) is the text's own value again.
        let Some(rest) = inner.name.strip_prefix('v').filter(|rest| !rest.is_empty()) else {
            continue;
        };
        nested_name.clear();
        nested_name.push_str(name);
        nested_name.push_str(rest);
        fields.push(&nested_name, inner.value, inner.kind);
    }
}

fn looks_like_json(text: &str) -> bool {
    let trimmed = text.trim_start();
    (trimmed.starts_with('{') || trimmed.starts_with('[')) && trimmed.len() > 2
}

#[cfg(test)]
mod tests {
    use crate::shapes::tests::decode;
    use garrison_model::RecordFormat;

    #[test]
    fn cloudtrail_keeps_dotted_names_and_request_text() {
        let (format, time, fields) = decode(
            r#"{"eventVersion":"1.09","userIdentity":{"type":"IAMUser","userName":"ci"},"eventTime":"2026-11-20T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketVersioning","awsRegion":"eu-west-1","requestParameters":{"bucketName":"b","VersioningConfiguration":{"Status":"Suspended"}},"responseElements":null}"#,
        );
        assert_eq!(format, RecordFormat::CloudTrail);
        assert_eq!(time, Some("2026-11-20T10:00:00Z".parse().unwrap()));
        assert_eq!(fields.value("userIdentity.userName"), Some("ci"));
        assert_eq!(
            fields.value("requestParameters.VersioningConfiguration.Status"),
            Some("Suspended")
        );
        // The object as JSON text too, for `requestParameters|contains`; a null response adds
        // no text.
        assert!(
            fields
                .value("requestParameters")
                .is_some_and(|text| text.contains(r#""Status":"Suspended""#))
        );
        assert_eq!(fields.value("responseElements"), Some(""));
    }

    #[test]
    fn okta_events_are_recognised() {
        let (format, time, fields) = decode(
            r#"{"uuid":"u1","published":"2026-11-20T09:40:02.118Z","eventType":"user.session.start","actor":{"id":"00u1","alternateId":"a@corp.example"},"outcome":{"result":"FAILURE"}}"#,
        );
        assert_eq!(format, RecordFormat::Okta);
        assert!(time.is_some());
        assert_eq!(fields.value("outcome.result"), Some("FAILURE"));
    }

    #[test]
    fn log_analytics_rows_expand_their_json_text() {
        let (format, time, fields) = decode(
            r#"{"TimeGenerated":"2021-08-02T13:29:25.983Z","OperationName":"Update application – Certificates and secrets management ","Category":"ApplicationManagement","Result":"success","LoggedByService":"Core Directory","InitiatedBy":"{\"user\":{\"userPrincipalName\":\"p@x.com\",\"ipAddress\":null}}","TargetResources":"[{\"id\":\"1\",\"type\":\"Application\",\"modifiedProperties\":[{\"displayName\":\"KeyDescription\",\"newValue\":\"[x]\"}]}]","Type":"AuditLogs"}"#,
        );
        assert_eq!(format, RecordFormat::EntraAudit);
        assert_eq!(time, Some("2021-08-02T13:29:25.983Z".parse().unwrap()));
        // Padding trimmed; the text kept beside its expansion.
        assert_eq!(
            fields.value("OperationName"),
            Some("Update application – Certificates and secrets management")
        );
        assert_eq!(
            fields.value("InitiatedBy.user.userPrincipalName"),
            Some("p@x.com")
        );
        assert_eq!(fields.value("TargetResources.type"), Some("Application"));
        assert_eq!(
            fields.value("TargetResources.modifiedProperties.newValue"),
            Some("[x]")
        );
        assert!(fields.value("TargetResources").unwrap().starts_with("[{"));
    }

    #[test]
    fn graph_and_diagnostic_sign_ins_get_log_analytics_names() {
        let (format, _, fields) = decode(
            r#"{"id":"1","createdDateTime":"2026-11-20T09:31:02Z","userPrincipalName":"a@corp.example","appDisplayName":"Office 365","ipAddress":"203.0.113.78","clientAppUsed":"Browser","status":{"errorCode":50126,"failureReason":"Invalid"}}"#,
        );
        assert_eq!(format, RecordFormat::EntraSignIn);
        assert_eq!(fields.value("ResultType"), Some("50126"));
        assert_eq!(fields.value("ResultDescription"), Some("Invalid"));
        assert_eq!(fields.value("ClientAppUsed"), Some("Browser"));
        let (format, time, fields) = decode(
            r#"{"time":"2026-11-20T09:31:02Z","category":"SignInLogs","operationName":"Sign-in activity","resultType":"0","properties":{"userPrincipalName":"a@corp.example","userAgent":"curl"}}"#,
        );
        assert_eq!(format, RecordFormat::EntraSignIn);
        assert!(time.is_some());
        // The diagnostic-settings envelope is opened.
        assert_eq!(fields.value("userPrincipalName"), Some("a@corp.example"));
        assert_eq!(fields.value("userAgent"), Some("curl"));
        assert_eq!(fields.value("resultType"), Some("0"));
    }

    #[test]
    fn azure_activity_in_each_export() {
        for text in [
            r#"{"TimeGenerated":"2026-11-20T10:00:00Z","OperationNameValue":"MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE","Caller":"a@corp.example","Type":"AzureActivity"}"#,
            r#"{"time":"2026-11-20T10:00:00Z","resourceId":"/subscriptions/s/x","operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/DELETE","category":"Administrative","resultType":"Success"}"#,
            r#"{"eventTimestamp":"2026-11-20T10:00:00Z","operationName":{"value":"Microsoft.Compute/virtualMachines/delete"},"category":{"value":"Administrative"},"caller":"a@corp.example"}"#,
        ] {
            let (format, time, _) = decode(text);
            assert_eq!(format, RecordFormat::AzureActivity, "{text}");
            assert!(time.is_some(), "{text}");
        }
    }

    #[test]
    fn other_json_stays_generic() {
        for text in [
            r#"{"eventTime":"2021-01-01T00:00:00Z","userIdentity":{"type":"Root"}}"#,
            r#"{"eventType":"login","published":"2026-01-01T00:00:00Z"}"#,
            r#"{"category":"AuditLogs","operationName":"x"}"#,
            r#"{"OperationName":"x","Type":"Heartbeat"}"#,
        ] {
            assert_eq!(decode(text).0, RecordFormat::Json, "{text}");
        }
    }
}
