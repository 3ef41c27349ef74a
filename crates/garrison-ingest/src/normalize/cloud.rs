//! Cloud control-plane records to OCSF: AWS CloudTrail (console sign-ins as Authentication,
//! every other call as API Activity), the Azure Activity Log and the Microsoft 365 unified
//! audit log (API Activity). Identity
//! providers are in [`super::identity`]. Every class gets `cloud` (provider, account, region)
//! and the `cloud` profile; fields not represented stay in `unmapped`.

use super::source::Source;
use super::{draft, set_outcome};
use garrison_model::RecordFormat;
use garrison_model::ocsf::{
    Account, Actor, Api, ApiActivity, ApiActivityId, ApiRequest, ApiResponse, Authentication,
    AuthenticationActivityId, Cloud, HttpRequest, NetworkEndpoint, OcsfEvent, Organization,
    Product, ResourceDetails, Service, User,
};

/// The verb an API operation starts with, as an API Activity.
fn api_activity_of_verb(operation: &str) -> ApiActivityId {
    const CREATE: &[&str] = &[
        "Create", "Add", "Put", "Run", "Register", "Import", "Allocate",
    ];
    const READ: &[&str] = &[
        "Get", "List", "Describe", "Lookup", "Head", "Search", "Select",
    ];
    const UPDATE: &[&str] = &[
        "Update",
        "Modify",
        "Attach",
        "Set",
        "Enable",
        "Disable",
        "Start",
        "Stop",
        "Change",
        "Associate",
        "Authorize",
        "Reset",
        "Restore",
        "Tag",
        "Untag",
        "Upload",
        "Assume",
        "Replace",
        "Reboot",
        "Apply",
    ];
    const DELETE: &[&str] = &[
        "Delete",
        "Remove",
        "Detach",
        "Terminate",
        "Revoke",
        "Deregister",
        "Disassociate",
        "Purge",
        "Release",
    ];
    let starts = |verbs: &[&str]| {
        verbs.iter().any(|verb| {
            operation.starts_with(verb)
                && operation[verb.len()..]
                    .chars()
                    .next()
                    .is_none_or(|next| !next.is_ascii_lowercase())
        })
    };
    if starts(CREATE) {
        ApiActivityId::Create
    } else if starts(READ) {
        ApiActivityId::Read
    } else if starts(DELETE) {
        ApiActivityId::Delete
    } else if starts(UPDATE) {
        ApiActivityId::Update
    } else {
        ApiActivityId::Other(operation.to_string())
    }
}

/// The caller's address: an IP, else the service name CloudTrail writes for calls made by
/// AWS services (`ec2.amazonaws.com`).
fn caller_endpoint(address: Option<&str>, fallback: &str) -> NetworkEndpoint {
    match address {
        Some(address) if address.parse::<std::net::IpAddr>().is_ok() => NetworkEndpoint {
            ip: Some(address.to_string()),
            ..NetworkEndpoint::default()
        },
        Some(name) => NetworkEndpoint {
            hostname: Some(name.to_string()),
            ..NetworkEndpoint::default()
        },
        None => NetworkEndpoint {
            svc_name: Some(fallback.to_string()),
            ..NetworkEndpoint::default()
        },
    }
}

/// A CloudTrail record.
pub(crate) fn cloudtrail(source: &mut Source) -> OcsfEvent {
    let operation = source.take("eventName").unwrap_or("unknown").to_string();
    let user = cloudtrail_user(source);
    let invoked_by = source.take("userIdentity.invokedBy").map(str::to_string);
    let endpoint = caller_endpoint(source.take("sourceIPAddress"), "AWS");
    let http_request = HttpRequest::with_user_agent(source.take("userAgent").map(str::to_string));
    let error_code = source.take("errorCode");
    let error_message = source.take("errorMessage");
    let mut event = if operation == "ConsoleLogin" {
        let mut authentication = Authentication::new(
            AuthenticationActivityId::Logon,
            user.clone().unwrap_or_default(),
        );
        authentication.src_endpoint = Some(endpoint);
        authentication.http_request = http_request;
        authentication.service = Some(Service {
            name: Some("AWS Management Console".to_string()),
            uid: None,
        });
        authentication.is_mfa = source
            .take("additionalEventData.MFAUsed")
            .map(|used| used.eq_ignore_ascii_case("yes"));
        let mut event = draft(source, authentication);
        let succeeded = source
            .take("responseElements.ConsoleLogin")
            .map(|outcome| outcome.eq_ignore_ascii_case("success"))
            .unwrap_or(error_code.is_none() && error_message.is_none());
        set_outcome(&mut event, succeeded);
        event.status_detail = error_message.map(str::to_string);
        event
    } else {
        let mut resources = Vec::new();
        let arns = source.take_all("resources.ARN");
        let types = source.take_all("resources.type");
        source.consume_prefix("resources.accountId");
        for (index, arn) in arns.iter().enumerate() {
            resources.push(ResourceDetails {
                uid: Some(arn.to_string()),
                name: arn.rsplit(['/', ':']).next().map(str::to_string),
                type_name: types.get(index).map(|kind| kind.to_string()),
            });
        }
        let api = Api {
            operation: operation.clone(),
            service: source.take("eventSource").map(|name| Service {
                name: Some(name.to_string()),
                uid: None,
            }),
            version: source.take("apiVersion").map(str::to_string),
            request: source.take("requestID").map(|uid| ApiRequest {
                uid: uid.to_string(),
            }),
            response: (error_code.is_some() || error_message.is_some()).then(|| ApiResponse {
                error: error_code.map(str::to_string),
                error_message: error_message.map(str::to_string),
            }),
        };
        let mut event = draft(
            source,
            ApiActivity {
                activity: api_activity_of_verb(&operation),
                api,
                src_endpoint: endpoint,
                resources,
                http_request,
            },
        );
        set_outcome(&mut event, error_code.is_none());
        event.status_code = error_code.map(str::to_string);
        event
    };
    event.actor = Some(Actor {
        user,
        invoked_by,
        ..Actor::default()
    })
    .filter(|actor| !actor.is_empty());
    event.metadata.product = Product {
        name: Some("CloudTrail".to_string()),
        vendor_name: Some("AWS".to_string()),
        version: None,
    };
    event.metadata.log_version = source.take("eventVersion").map(str::to_string);
    event.metadata.original_event_uid = source.take("eventID").map(str::to_string);
    event.metadata.event_code = Some(operation);
    event.metadata.log_name = source.take("eventType").map(str::to_string);
    event.metadata.log_provider = source.peek("eventSource").map(str::to_string);
    event.metadata.correlation_uid = source.take("sharedEventID").map(str::to_string);
    event.metadata.original_time = source.take("eventTime").map(str::to_string);
    let account = source
        .take("recipientAccountId")
        .map(|uid| aws_account(uid.to_string()));
    event.set_cloud(Cloud {
        provider: "AWS".to_string(),
        region: source.take("awsRegion").map(str::to_string),
        account,
        org: None,
    });
    event
}

fn aws_account(uid: String) -> Account {
    Account {
        uid: Some(uid),
        type_id: Some(10),
        type_name: Some("AWS Account".to_string()),
        ..Account::default()
    }
}

/// The identity behind a CloudTrail call: an IAM user, the root user, an assumed role (named by
/// its session, usually the federated user), or an AWS service.
fn cloudtrail_user(source: &mut Source) -> Option<User> {
    let kind = source.take("userIdentity.type").unwrap_or_default();
    let principal = source.take("userIdentity.principalId");
    let arn = source.take("userIdentity.arn");
    let user_name = source.take("userIdentity.userName");
    let (name, type_id, type_name) = match kind {
        "Root" => (Some("root"), 2, "Admin"),
        "IAMUser" => (user_name, 1, "User"),
        "AWSService" => (source.peek("userIdentity.invokedBy"), 4, "Service"),
        "SAMLUser" | "WebIdentityUser" => (user_name, 99, kind),
        "AssumedRole" | "FederatedUser" => (
            principal
                .and_then(|id| id.split_once(':'))
                .map(|(_, session)| session)
                .or(user_name),
            99,
            kind,
        ),
        _ => (user_name, 0, "Unknown"),
    };
    if name.is_none() && principal.is_none() && arn.is_none() {
        return None;
    }
    let account = source
        .take("userIdentity.accountId")
        .map(|uid| aws_account(uid.to_string()));
    Some(User {
        name: name.map(str::to_string),
        uid: principal.map(str::to_string),
        uid_alt: arn.map(str::to_string),
        type_id: Some(type_id),
        type_name: Some(type_name.to_string()),
        credential_uid: source.take("userIdentity.accessKeyId").map(str::to_string),
        account,
        ..User::default()
    })
}

/// An Azure Activity Log event (Log Analytics `AzureActivity`, diagnostic settings, or the
/// REST API's shape).
pub(crate) fn azure_activity(source: &mut Source) -> OcsfEvent {
    let operation = source
        .take_first(&["OperationNameValue", "operationName", "OperationName"])
        .unwrap_or("unknown")
        .to_string();
    source.consume("operationName.localizedValue");
    source.consume("OperationName");
    let caller = source.take_first(&["Caller"]);
    let endpoint = caller_endpoint(
        source.take_first(&["CallerIpAddress", "httpRequest.clientIpAddress"]),
        "Azure Resource Manager",
    );
    let status = source
        .take_first(&[
            "ActivityStatusValue",
            "resultType",
            "status.value",
            "ActivityStatus",
        ])
        .map(str::to_string);
    let resource = source.take_first(&["ResourceId", "_ResourceId"]);
    let lower = operation.to_ascii_lowercase();
    let activity = if lower.ends_with("/delete") {
        ApiActivityId::Delete
    } else if lower.ends_with("/read") {
        ApiActivityId::Read
    } else if lower.ends_with("/write") {
        ApiActivityId::Update
    } else {
        ApiActivityId::Other(operation.rsplit('/').next().unwrap_or("Other").to_string())
    };
    let provider = source.take_first(&["ResourceProviderValue", "resourceProviderName.value"]);
    let request = source.take_first(&["CorrelationId"]).map(|uid| ApiRequest {
        uid: uid.to_string(),
    });
    let mut event = draft(
        source,
        ApiActivity {
            activity,
            api: Api {
                operation: operation.clone(),
                service: provider.map(|name| Service {
                    name: Some(name.to_string()),
                    uid: None,
                }),
                request,
                ..Api::default()
            },
            src_endpoint: endpoint,
            resources: resource
                .map(|uid| ResourceDetails {
                    uid: Some(uid.to_string()),
                    name: uid.rsplit('/').next().map(str::to_string),
                    type_name: None,
                })
                .into_iter()
                .collect(),
            http_request: None,
        },
    );
    set_status_word(&mut event, status);
    event.actor = caller.map(|caller| Actor {
        user: Some(User {
            name: Some(caller.to_string()),
            email_addr: caller.contains('@').then(|| caller.to_string()),
            ..User::default()
        }),
        ..Actor::default()
    });
    event.metadata.product = microsoft_product("Azure Activity Log");
    event.metadata.event_code = Some(operation);
    event.metadata.log_name = source
        .take_first(&["CategoryValue", "category.value", "category"])
        .map(str::to_string);
    event.metadata.original_event_uid = source.take_first(&["EventDataId"]).map(str::to_string);
    let account = source.take_first(&["SubscriptionId"]).map(|uid| Account {
        uid: Some(uid.to_string()),
        ..Account::default()
    });
    event.set_cloud(Cloud {
        provider: "Azure".to_string(),
        account,
        ..Cloud::default()
    });
    source.consume("Type");
    event
}

pub(crate) fn microsoft_product(name: &str) -> Product {
    Product {
        name: Some(name.to_string()),
        vendor_name: Some("Microsoft".to_string()),
        version: None,
    }
}

/// The cloud view of a record of `format`, before the shared attributes are filled.
pub(crate) fn map(format: RecordFormat, source: &mut Source) -> Option<OcsfEvent> {
    Some(match format {
        RecordFormat::CloudTrail => cloudtrail(source),
        RecordFormat::AzureActivity => azure_activity(source),
        RecordFormat::Okta => super::identity::okta(source),
        RecordFormat::EntraSignIn => super::identity::entra_sign_in(source),
        RecordFormat::EntraAudit => super::identity::entra_audit(source),
        RecordFormat::M365Audit => m365_audit(source),
        _ => return None,
    })
}

/// The outcome a Microsoft log states as a word (`Success`, `Succeeded`, `Failed`, `True`);
/// any other word is kept as the status detail.
fn set_status_word(event: &mut OcsfEvent, status: Option<String>) {
    let Some(status) = status else { return };
    match status.to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "true" => set_outcome(event, true),
        "failure" | "failed" | "false" => set_outcome(event, false),
        _ => event.status_detail = Some(status),
    }
}

/// The activity of a Microsoft 365 audit operation: Exchange cmdlets by their verb
/// (`New-InboxRule`, `Set-Mailbox`), reads by their past participle (`MailItemsAccessed`,
/// `FileDownloaded`), the rest by the verb they start with.
fn m365_activity(operation: &str) -> ApiActivityId {
    if let Some((verb, _)) = operation.split_once('-') {
        match verb {
            "New" | "Add" | "Enable" => return ApiActivityId::Create,
            "Get" | "Search" | "Test" => return ApiActivityId::Read,
            "Set" | "Update" | "Disable" => return ApiActivityId::Update,
            "Remove" => return ApiActivityId::Delete,
            _ => {}
        }
    }
    if ["Accessed", "Viewed", "Downloaded", "Previewed", "Searched"]
        .iter()
        .any(|read| operation.ends_with(read))
    {
        return ApiActivityId::Read;
    }
    api_activity_of_verb(operation)
}

/// A Microsoft 365 unified audit log record (names of the Management Activity API).
pub(crate) fn m365_audit(source: &mut Source) -> OcsfEvent {
    let operation = source.take("Operation").unwrap_or("unknown").to_string();
    let workload = source.take("Workload").map(str::to_string);
    // `ClientIP` may carry a port (`1.2.3.4:443`, `[2001:db8::1]:443`).
    let address = source
        .take_first(&["ClientIP", "ClientIPAddress"])
        .map(|address| {
            let address = address.trim();
            match address
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
            {
                Some((ip, _)) => ip,
                None if address.matches(':').count() == 1 => {
                    address.split(':').next().unwrap_or(address)
                }
                None => address,
            }
        });
    let endpoint = caller_endpoint(address, "Microsoft 365");
    let user = source.take("UserId").map(|user| User {
        name: Some(user.to_string()),
        email_addr: user.contains('@').then(|| user.to_string()),
        uid: source.peek("UserKey").map(str::to_string),
        ..User::default()
    });
    source.consume("UserKey");
    let status = source.take("ResultStatus").map(str::to_string);
    let resource = source
        .take_first(&["ObjectId", "MailboxOwnerUPN"])
        .map(|uid| ResourceDetails {
            uid: Some(uid.to_string()),
            name: None,
            type_name: None,
        });
    let mut event = draft(
        source,
        ApiActivity {
            activity: m365_activity(&operation),
            api: Api {
                operation: operation.clone(),
                service: workload.clone().map(|name| Service {
                    name: Some(name),
                    uid: None,
                }),
                ..Api::default()
            },
            src_endpoint: endpoint,
            resources: resource.into_iter().collect(),
            http_request: None,
        },
    );
    set_status_word(&mut event, status);
    event.actor = user.map(|user| Actor {
        user: Some(user),
        ..Actor::default()
    });
    event.metadata.product = microsoft_product("Microsoft 365");
    event.metadata.event_code = Some(operation);
    event.metadata.log_name = workload;
    event.metadata.original_event_uid = source.take_first(&["Id", "OfficeId"]).map(str::to_string);
    let org = Organization {
        uid: source.take("OrganizationId").map(str::to_string),
        name: source.take("OrganizationName").map(str::to_string),
    };
    event.set_cloud(Cloud {
        provider: "Azure".to_string(),
        org: (org.uid.is_some() || org.name.is_some()).then_some(org),
        ..Cloud::default()
    });
    source.consume("Type");
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_verbs_give_the_activity() {
        for (operation, activity) in [
            ("CreateAccessKey", ApiActivityId::Create),
            ("PutBucketPolicy", ApiActivityId::Create),
            ("GetCallerIdentity", ApiActivityId::Read),
            ("ListBuckets", ApiActivityId::Read),
            ("DescribeInstances", ApiActivityId::Read),
            ("AttachUserPolicy", ApiActivityId::Update),
            ("StopLogging", ApiActivityId::Update),
            ("DeleteDetector", ApiActivityId::Delete),
            ("DetachRolePolicy", ApiActivityId::Delete),
            // A verb must end where the next word starts: `Settle` is no `Set`.
            ("Settlement", ApiActivityId::Other("Settlement".into())),
            ("ConsoleLogin", ApiActivityId::Other("ConsoleLogin".into())),
        ] {
            assert_eq!(api_activity_of_verb(operation), activity, "{operation}");
        }
    }

    #[test]
    fn microsoft_365_operations_give_the_activity() {
        for (operation, activity) in [
            ("New-InboxRule", ApiActivityId::Create),
            ("Set-Mailbox", ApiActivityId::Update),
            ("Remove-MailboxPermission", ApiActivityId::Delete),
            ("MailItemsAccessed", ApiActivityId::Read),
            ("FileDownloaded", ApiActivityId::Read),
            ("UserLoggedIn", ApiActivityId::Other("UserLoggedIn".into())),
        ] {
            assert_eq!(m365_activity(operation), activity, "{operation}");
        }
    }

    #[test]
    fn callers_are_addresses_or_services() {
        assert_eq!(
            caller_endpoint(Some("203.0.113.77"), "AWS").ip.as_deref(),
            Some("203.0.113.77")
        );
        assert_eq!(
            caller_endpoint(Some("ec2.amazonaws.com"), "AWS")
                .hostname
                .as_deref(),
            Some("ec2.amazonaws.com")
        );
        assert_eq!(
            caller_endpoint(None, "AWS").svc_name.as_deref(),
            Some("AWS")
        );
    }
}
