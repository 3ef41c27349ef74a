//! Identity-provider records to OCSF: the Okta System Log and Microsoft Entra ID sign-ins and
//! directory audits.
//!
//! Sign-ins and second-factor checks are Authentication; changes to a user's account (created,
//! suspended, password, MFA factors, privileges) are Account Change; membership changes are
//! Group Management; every other administrative change (applications, policies, tokens, roles)
//! is Entity Management on the object changed. All get `cloud` with the provider and tenant.

use super::cloud::microsoft_product;
use super::source::Source;
use super::{draft, set_outcome};
use garrison_model::ocsf::{
    AccountChange, AccountChangeActivityId, Actor, Authentication, AuthenticationActivityId, Cloud,
    EntityManagement, EntityManagementActivityId, Group, GroupManagement,
    GroupManagementActivityId, HttpRequest, ManagedEntity, NetworkEndpoint, OcsfEvent,
    Organization, Product, Service, Severity, User,
};

/// One element of a record's array of targets (Okta `target`, Entra `TargetResources`).
#[derive(Debug, Default, Clone)]
struct Target<'e> {
    id: Option<&'e str>,
    kind: Option<&'e str>,
    name: Option<&'e str>,
    alternate: Option<&'e str>,
}

/// The targets of an array flattened into parallel fields `prefix.id`, `prefix.type`, ...
fn targets<'e>(source: &mut Source<'e>, prefix: &str, names: [&str; 4]) -> Vec<Target<'e>> {
    let [id, kind, name, alternate] =
        names.map(|field| source.take_all(&format!("{prefix}.{field}")));
    let count = id.len().max(kind.len()).max(name.len());
    let at = |values: &Vec<&'e str>, index: usize| {
        values.get(index).copied().filter(|value| !value.is_empty())
    };
    (0..count)
        .map(|index| Target {
            id: at(&id, index),
            kind: at(&kind, index),
            name: at(&name, index),
            alternate: at(&alternate, index),
        })
        .collect()
}

fn target_user(target: &Target) -> User {
    let name = target.alternate.or(target.name);
    User {
        name: name.map(str::to_string),
        uid: target.id.map(str::to_string),
        full_name: target
            .name
            .filter(|full| Some(*full) != name)
            .map(str::to_string),
        email_addr: name.filter(|n| n.contains('@')).map(str::to_string),
        ..User::default()
    }
}

fn target_entity(target: &Target, type_id: Option<u8>) -> ManagedEntity {
    ManagedEntity {
        name: target.name.or(target.alternate).map(str::to_string),
        uid: target.id.map(str::to_string),
        type_name: target.kind.map(str::to_string),
        type_id,
        ..ManagedEntity::default()
    }
}

/// Where a change was asked from: the client's address and request.
type Origin = (Option<NetworkEndpoint>, Option<HttpRequest>);

/// An Account Change of `user` (the account changed).
fn account_change(
    source: &Source,
    activity: AccountChangeActivityId,
    user: Option<User>,
    (endpoint, http_request): Origin,
) -> OcsfEvent {
    let mut change = AccountChange::new(activity, user.unwrap_or_default());
    change.src_endpoint = endpoint;
    change.http_request = http_request;
    draft(source, change)
}

/// A Group Management event on the group a target names, with its member.
fn group_change(
    source: &Source,
    activity: GroupManagementActivityId,
    group: Option<&Target>,
    member: Option<User>,
    (endpoint, http_request): Origin,
) -> OcsfEvent {
    let group = group
        .map(|group| Group {
            name: group.name.map(str::to_string),
            uid: group.id.map(str::to_string),
            ..Group::default()
        })
        .unwrap_or_default();
    let mut change = GroupManagement::new(activity, group, member);
    change.src_endpoint = endpoint;
    change.http_request = http_request;
    draft(source, change)
}

fn okta_cloud(source: &mut Source) -> Cloud {
    let org = source
        .take("debugContext.debugData.oktaOrg")
        .or_else(|| source.peek("authenticationContext.issuer.id"))
        .map(|uid| Organization {
            uid: Some(uid.to_string()),
            name: None,
        });
    Cloud {
        provider: "Okta".to_string(),
        org,
        ..Cloud::default()
    }
}

/// An Okta System Log event, by its `eventType`.
pub(crate) fn okta(source: &mut Source) -> OcsfEvent {
    let event_type = source.take("eventType").unwrap_or_default().to_string();
    let actor_user = source
        .take("actor.alternateId")
        .or_else(|| source.peek("actor.displayName"))
        .map(|name| User {
            name: Some(name.to_string()),
            uid: source.take("actor.id").map(str::to_string),
            full_name: source.take("actor.displayName").map(str::to_string),
            email_addr: name.contains('@').then(|| name.to_string()),
            type_name: source.take("actor.type").map(str::to_string),
            ..User::default()
        });
    let endpoint = source.take("client.ipAddress").map(|ip| NetworkEndpoint {
        ip: Some(ip.to_string()),
        ..NetworkEndpoint::default()
    });
    let http_request = HttpRequest::with_user_agent(
        source
            .take("client.userAgent.rawUserAgent")
            .map(str::to_string),
    );
    let all_targets = targets(
        source,
        "target",
        ["id", "type", "displayName", "alternateId"],
    );
    let of_type = |kind: &str| {
        all_targets
            .iter()
            .find(|target| target.kind.is_some_and(|k| k.eq_ignore_ascii_case(kind)))
    };
    let account_activity = match event_type.as_str() {
        "user.lifecycle.create" => Some(AccountChangeActivityId::Create),
        "user.lifecycle.activate" | "user.lifecycle.reactivate" | "user.lifecycle.unsuspend" => {
            Some(AccountChangeActivityId::Enable)
        }
        "user.lifecycle.deactivate" | "user.lifecycle.suspend" => {
            Some(AccountChangeActivityId::Disable)
        }
        "user.lifecycle.delete.initiated" | "user.lifecycle.delete.completed" => {
            Some(AccountChangeActivityId::Delete)
        }
        "user.account.lock" | "user.account.lock.limit" => Some(AccountChangeActivityId::Lock),
        "user.account.unlock" | "user.account.unlock_by_admin" => {
            Some(AccountChangeActivityId::Unlock)
        }
        "user.account.update_password" => Some(AccountChangeActivityId::PasswordChange),
        "user.account.reset_password" | "user.credential.forgot_password" => {
            Some(AccountChangeActivityId::PasswordReset)
        }
        "user.mfa.factor.activate" => Some(AccountChangeActivityId::MfaFactorEnable),
        "user.mfa.factor.deactivate" | "user.mfa.factor.reset_all" | "user.mfa.factor.suspend" => {
            Some(AccountChangeActivityId::MfaFactorDisable)
        }
        "user.account.privilege.grant" => Some(AccountChangeActivityId::AttachPolicy),
        "user.account.privilege.revoke" => Some(AccountChangeActivityId::DetachPolicy),
        _ => None,
    };
    let mut event = if event_type.starts_with("user.session.")
        || event_type.starts_with("user.authentication.")
        || event_type.starts_with("user.mfa.okta_verify")
    {
        let activity = match event_type.as_str() {
            "user.session.start" | "user.authentication.sso" => AuthenticationActivityId::Logon,
            "user.session.end" => AuthenticationActivityId::Logoff,
            other => AuthenticationActivityId::Other(other.to_string()),
        };
        let mfa_step = event_type.contains("mfa") || event_type.contains("verify");
        let mut authentication =
            Authentication::new(activity, actor_user.clone().unwrap_or_default());
        authentication.src_endpoint = endpoint;
        authentication.http_request = http_request;
        authentication.is_mfa = mfa_step.then_some(true);
        // The application signed in to, else Okta itself.
        authentication.service = Some(match of_type("AppInstance") {
            Some(app) => Service {
                name: app.name.map(str::to_string),
                uid: app.id.map(str::to_string),
            },
            None => Service {
                name: Some("Okta".to_string()),
                uid: None,
            },
        });
        draft(source, authentication)
    } else if let Some(activity) = account_activity {
        let user = of_type("User")
            .map(target_user)
            .or_else(|| actor_user.clone());
        account_change(source, activity, user, (endpoint, http_request))
    } else if let Some(activity) = match event_type.as_str() {
        "group.user_membership.add" => Some(GroupManagementActivityId::AddUser),
        "group.user_membership.remove" => Some(GroupManagementActivityId::RemoveUser),
        _ => None,
    } {
        let member = of_type("User").map(target_user);
        group_change(
            source,
            activity,
            of_type("UserGroup"),
            member,
            (endpoint, http_request),
        )
    } else {
        let entity = all_targets
            .first()
            .map(|target| target_entity(target, None))
            .unwrap_or_else(|| ManagedEntity {
                name: Some(event_type.clone()),
                ..ManagedEntity::default()
            });
        draft(
            source,
            EntityManagement {
                activity: entity_activity_of(&event_type),
                entity,
                entity_result: None,
                src_endpoint: endpoint,
                http_request,
                comment: None,
            },
        )
    };
    event.actor = actor_user.map(|user| Actor {
        user: Some(user),
        ..Actor::default()
    });
    let outcome = source.take("outcome.result").unwrap_or_default();
    match outcome {
        "SUCCESS" | "ALLOW" => set_outcome(&mut event, true),
        "FAILURE" | "DENY" => set_outcome(&mut event, false),
        "" => {}
        other => event.status = Some(other.to_string()),
    }
    event.status_detail = source.take("outcome.reason").map(str::to_string);
    event.message = source.take("displayMessage").map(str::to_string);
    event.severity = match source.take("severity").unwrap_or_default() {
        "WARN" => Severity::Low,
        "ERROR" => Severity::Medium,
        _ => Severity::Informational,
    };
    event.metadata.product = Product {
        name: Some("Okta System Log".to_string()),
        vendor_name: Some("Okta".to_string()),
        version: None,
    };
    event.metadata.event_code = Some(event_type);
    event.metadata.original_event_uid = source.take("uuid").map(str::to_string);
    event.metadata.log_version = source.take("version").map(str::to_string);
    event.metadata.original_time = source.take("published").map(str::to_string);
    event.metadata.correlation_uid = source.take("transaction.id").map(str::to_string);
    let cloud = okta_cloud(source);
    event.set_cloud(cloud);
    event
}

/// The Entity Management activity a dotted event type or an operation name ends with.
fn entity_activity_of(operation: &str) -> EntityManagementActivityId {
    let lower = operation.to_ascii_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    let has = |candidates: &[&str]| words.iter().any(|word| candidates.contains(word));
    if has(&["create", "add", "register", "new", "consent", "grant"]) {
        EntityManagementActivityId::Create
    } else if has(&["delete", "remove", "revoke", "hard"]) {
        EntityManagementActivityId::Delete
    } else if has(&["deactivate"]) {
        EntityManagementActivityId::Deactivate
    } else if has(&["activate"]) {
        EntityManagementActivityId::Activate
    } else if has(&["disable"]) {
        EntityManagementActivityId::Disable
    } else if has(&["enable"]) {
        EntityManagementActivityId::Enable
    } else if has(&["update", "set", "change", "modify", "reset", "assign"]) {
        EntityManagementActivityId::Update
    } else if has(&["read", "list", "get", "view"]) {
        EntityManagementActivityId::Read
    } else {
        EntityManagementActivityId::Other(operation.to_string())
    }
}

fn entra_cloud(source: &mut Source) -> Cloud {
    let tenant = source.take_first(&["AADTenantId", "TenantId", "tenantId"]);
    source.consume("TenantId");
    Cloud {
        provider: "Azure".to_string(),
        org: tenant.map(|uid| Organization {
            uid: Some(uid.to_string()),
            name: None,
        }),
        ..Cloud::default()
    }
}

/// What every Entra record shares: product, ids, time text, tenant.
fn entra_finish(source: &mut Source, event: &mut OcsfEvent, product: &str) {
    event.metadata.product = microsoft_product(product);
    event.metadata.original_event_uid = source.take_first(&["Id"]).map(str::to_string);
    event.metadata.correlation_uid = source.take_first(&["CorrelationId"]).map(str::to_string);
    event.metadata.log_name = source.take_first(&["Type", "Category"]).map(str::to_string);
    event.metadata.original_time = source
        .take_first(&[
            "TimeGenerated",
            "createdDateTime",
            "activityDateTime",
            "time",
        ])
        .map(str::to_string);
    let cloud = entra_cloud(source);
    event.set_cloud(cloud);
}

/// An Entra ID sign-in: error code 0 is success, anything else names the failure.
pub(crate) fn entra_sign_in(source: &mut Source) -> OcsfEvent {
    let user = User {
        name: source
            .take_first(&["UserPrincipalName", "Identity", "UserDisplayName"])
            .map(str::to_string),
        uid: source.take_first(&["UserId"]).map(str::to_string),
        full_name: source.take_first(&["UserDisplayName"]).map(str::to_string),
        type_name: source.take_first(&["UserType"]).map(str::to_string),
        ..User::default()
    };
    let mut authentication = Authentication::new(AuthenticationActivityId::Logon, user.clone());
    authentication.src_endpoint = source.take_first(&["IPAddress"]).map(|ip| NetworkEndpoint {
        ip: Some(ip.to_string()),
        ..NetworkEndpoint::default()
    });
    let app_id = source.take_first(&["AppId"]).map(str::to_string);
    authentication.service = Some(Service {
        name: Some(
            source
                .take_first(&["AppDisplayName"])
                .unwrap_or("Entra ID")
                .to_string(),
        ),
        uid: app_id,
    });
    authentication.http_request =
        HttpRequest::with_user_agent(source.take_first(&["UserAgent"]).map(str::to_string));
    authentication.is_mfa = source
        .take_first(&["AuthenticationRequirement"])
        .map(|requirement| requirement.eq_ignore_ascii_case("multiFactorAuthentication"));
    let mut event = draft(source, authentication);
    let code = source.take_first(&["ResultType"]).map(str::to_string);
    source.consume("status.errorCode");
    source.consume("Status.errorCode");
    if let Some(code) = &code {
        set_outcome(&mut event, code.trim() == "0");
        event.status_code = Some(code.clone());
    }
    event.status_detail = source
        .take_first(&["ResultDescription", "status.failureReason"])
        .map(str::to_string);
    source.consume("status.failureReason");
    event.actor = Some(Actor {
        user: Some(user),
        ..Actor::default()
    });
    source.consume("OperationName");
    source.consume("Category");
    entra_finish(source, &mut event, "Entra ID");
    event
}

/// An Entra ID directory audit event, by its activity.
pub(crate) fn entra_audit(source: &mut Source) -> OcsfEvent {
    let operation = source
        .take_first(&["OperationName", "ActivityDisplayName"])
        .unwrap_or("unknown")
        .trim()
        .to_string();
    source.consume("ActivityDisplayName");
    source.consume("OperationName");
    let initiator = source
        .take_first(&["InitiatedBy.user.userPrincipalName", "InitiatingUserOrApp"])
        .map(|name| User {
            name: Some(name.to_string()),
            uid: source
                .take_first(&["InitiatedBy.user.id"])
                .map(str::to_string),
            email_addr: name.contains('@').then(|| name.to_string()),
            ..User::default()
        });
    let app = source
        .take_first(&["InitiatedBy.app.displayName"])
        .map(str::to_string);
    let endpoint = source
        .take_first(&["InitiatedBy.user.ipAddress"])
        .map(|ip| NetworkEndpoint {
            ip: Some(ip.to_string()),
            ..NetworkEndpoint::default()
        });
    let http_request =
        HttpRequest::with_user_agent(source.take_first(&["UserAgent"]).map(str::to_string));
    let all_targets = targets(
        source,
        "TargetResources",
        ["id", "type", "displayName", "userPrincipalName"],
    );
    let of_type = |kind: &str| {
        all_targets
            .iter()
            .find(|target| target.kind.is_some_and(|k| k.eq_ignore_ascii_case(kind)))
    };
    let account_activity = match operation.as_str() {
        "Add user" => Some(AccountChangeActivityId::Create),
        "Delete user" | "Hard Delete user" => Some(AccountChangeActivityId::Delete),
        "Disable account" => Some(AccountChangeActivityId::Disable),
        "Enable account" => Some(AccountChangeActivityId::Enable),
        "Reset user password" | "Reset password (by admin)" => {
            Some(AccountChangeActivityId::PasswordReset)
        }
        "Change user password" | "Change password (self-service)" => {
            Some(AccountChangeActivityId::PasswordChange)
        }
        "User registered security info" => Some(AccountChangeActivityId::MfaFactorEnable),
        "User deleted security info" => Some(AccountChangeActivityId::MfaFactorDisable),
        _ => None,
    };
    let group_activity = match operation.as_str() {
        "Add member to group" => Some(GroupManagementActivityId::AddUser),
        "Remove member from group" => Some(GroupManagementActivityId::RemoveUser),
        "Add group" => Some(GroupManagementActivityId::Create),
        "Delete group" => Some(GroupManagementActivityId::Delete),
        _ => None,
    };
    let mut event = if let Some(activity) = account_activity {
        let user = of_type("User")
            .map(target_user)
            .or_else(|| initiator.clone());
        account_change(source, activity, user, (endpoint, http_request))
    } else if let Some(activity) = group_activity {
        let member = of_type("User").map(target_user);
        group_change(
            source,
            activity,
            of_type("Group"),
            member,
            (endpoint, http_request),
        )
    } else {
        let entity = all_targets
            .first()
            .map(|target| {
                let type_id = match target.kind.unwrap_or_default() {
                    "User" => Some(2),
                    "Group" => Some(3),
                    "Policy" => Some(5),
                    "Device" => Some(1),
                    _ => None,
                };
                let mut entity = target_entity(target, type_id);
                if type_id == Some(2) {
                    entity.user = Some(target_user(target));
                }
                entity
            })
            .unwrap_or_else(|| ManagedEntity {
                name: Some(operation.clone()),
                ..ManagedEntity::default()
            });
        let activity = match source.take_first(&["AADOperationType", "operationType"]) {
            Some(kind) => entity_activity_of(kind),
            None => entity_activity_of(&operation),
        };
        draft(
            source,
            EntityManagement {
                activity,
                entity,
                entity_result: None,
                src_endpoint: endpoint,
                http_request,
                comment: None,
            },
        )
    };
    event.actor = Some(Actor {
        user: initiator,
        app_name: app,
        ..Actor::default()
    })
    .filter(|actor| !actor.is_empty());
    match source
        .take_first(&["Result"])
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("success") => set_outcome(&mut event, true),
        Some("failure") => set_outcome(&mut event, false),
        _ => {}
    }
    event.status_detail = source.take_first(&["ResultReason"]).map(str::to_string);
    event.message = Some(operation.clone());
    event.metadata.event_code = Some(operation);
    entra_finish(source, &mut event, "Entra ID");
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;
    use garrison_model::ocsf::OcsfClass;
    use garrison_model::{Event, EvidenceRef, Fields, RecordFormat, ValueKind};

    fn okta_event(event_type: &str, targets: &[(&str, &str, &str)]) -> Event {
        let mut fields = Fields::new();
        for (name, value) in [
            ("uuid", "u1"),
            ("published", "2026-11-20T10:00:00Z"),
            ("eventType", event_type),
            ("actor.id", "00u1admin"),
            ("actor.alternateId", "it.admin@corp.example"),
            ("client.ipAddress", "198.51.100.10"),
            ("outcome.result", "SUCCESS"),
        ] {
            fields.push(name, value, ValueKind::Text);
        }
        for (id, kind, name) in targets {
            fields.push("target.id", id, ValueKind::Text);
            fields.push("target.type", kind, ValueKind::Text);
            fields.push("target.alternateId", name, ValueKind::Text);
            fields.push("target.displayName", name, ValueKind::Text);
        }
        Event {
            evidence: EvidenceRef {
                path: "okta.jsonl".into(),
                member: None,
                record_id: 1,
                offset: 0,
            },
            timestamp: Some("2026-11-20T10:00:00Z".parse().unwrap()),
            format: RecordFormat::Okta,
            fields,
        }
    }

    #[test]
    fn okta_membership_changes_name_group_and_member() {
        let event = okta_event(
            "group.user_membership.add",
            &[
                ("00u1dave", "User", "dave.kim@corp.example"),
                ("00g1admins", "UserGroup", "Super Admins"),
            ],
        );
        let normalized = normalize(&event).unwrap();
        assert_eq!(normalized.class(), OcsfClass::GroupManagement);
        let json = normalized.to_json();
        assert_eq!(json["activity_name"], "Add User");
        assert_eq!(json["group"]["name"], "Super Admins");
        assert_eq!(json["user"]["name"], "dave.kim@corp.example");
        assert_eq!(json["actor"]["user"]["name"], "it.admin@corp.example");
        assert_eq!(json["status"], "Success");
        assert_eq!(json["cloud"]["provider"], "Okta");
    }

    #[test]
    fn okta_account_and_other_changes() {
        let suspended = normalize(&okta_event(
            "user.lifecycle.suspend",
            &[("00u1dave", "User", "dave.kim@corp.example")],
        ))
        .unwrap();
        assert_eq!(suspended.class(), OcsfClass::AccountChange);
        assert_eq!(suspended.to_json()["activity_name"], "Disable");
        let policy = normalize(&okta_event(
            "policy.lifecycle.deactivate",
            &[("00p1", "PolicyEntity", "MFA for admins")],
        ))
        .unwrap();
        assert_eq!(policy.class(), OcsfClass::EntityManagement);
        let json = policy.to_json();
        assert_eq!(json["activity_name"], "Deactivate");
        assert_eq!(json["entity"]["name"], "MFA for admins");
        assert_eq!(json["entity"]["type"], "PolicyEntity");
    }

    #[test]
    fn entity_activities_from_operation_names() {
        for (operation, activity) in [
            ("Add service principal credentials", "Create"),
            ("Hard Delete application", "Delete"),
            ("Update application", "Update"),
            ("system.api_token.revoke", "Delete"),
            ("application.lifecycle.deactivate", "Deactivate"),
            ("Restore user", "Restore user"),
        ] {
            assert_eq!(
                entity_activity_of(operation).caption(),
                activity,
                "{operation}"
            );
        }
    }
}
