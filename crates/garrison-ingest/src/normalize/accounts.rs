//! Security log account and group management: 4720-4726, 4738, 4740, 4767, 4781 (accounts)
//! and 4727-4735, 4737, 4754-4758 (security groups and their members).

use super::build::{TARGET_ACCOUNT, endpoint, subject_actor, user};
use super::draft;
use super::source::Source;
use garrison_model::ocsf::{
    AccountChange, AccountChangeActivityId, Group, GroupManagement, GroupManagementActivityId,
    LdapPerson, OcsfEvent, User,
};

/// 4720 created, 4722 enabled, 4723 password change, 4724 password reset, 4725 disabled,
/// 4726 deleted, 4738 changed, 4740 locked out, 4767 unlocked, 4781 renamed.
pub(super) fn account_changed(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    use AccountChangeActivityId::*;
    let activity = match event_id {
        4720 => Create,
        4722 => Enable,
        4723 => PasswordChange,
        4724 => PasswordReset,
        4725 => Disable,
        4726 => Delete,
        4740 => Lock,
        4767 => Unlock,
        4738 => Other("Account Changed".to_string()),
        4781 => Other("Rename".to_string()),
        _ => return None,
    };
    let mut src_endpoint = None;
    let mut user_result = None;
    let user = match event_id {
        4781 => {
            let renamed = User {
                uid: source.take("TargetSid").map(String::from),
                domain: source.take("TargetDomainName").map(String::from),
                ..User::default()
            };
            user_result = Some(User {
                name: source.take("NewTargetUserName").map(String::from),
                ..renamed.clone()
            });
            User {
                name: source.take("OldTargetUserName").map(String::from),
                ..renamed
            }
        }
        4740 => {
            // In 4740 the "domain" field holds the caller computer's name.
            src_endpoint = endpoint(source, None, None, Some("TargetDomainName"));
            User {
                uid: source.take("TargetSid").map(String::from),
                name: source.take("TargetUserName").map(String::from),
                ..User::default()
            }
        }
        _ => user(source, &TARGET_ACCOUNT)?,
    };
    let actor = subject_actor(source);
    let mut event = draft(
        source,
        AccountChange {
            user_result,
            src_endpoint,
            ..AccountChange::new(activity, user)
        },
    );
    event.actor = actor;
    Some(event)
}

/// A group member named by `MemberName` (a distinguished name, or `-` for local accounts) and
/// `MemberSid`.
fn member(source: &mut Source) -> Option<User> {
    let sid = source.take("MemberSid");
    let name = source.take("MemberName");
    if sid.is_none() && name.is_none() {
        return None;
    }
    let is_distinguished_name = name.is_some_and(|name| {
        let upper = name.trim_start().to_ascii_uppercase();
        upper.starts_with("CN=") || upper.starts_with("OU=") || upper.starts_with("DC=")
    });
    Some(if is_distinguished_name {
        User {
            uid: sid.map(String::from),
            ldap_person: Some(LdapPerson {
                ldap_dn: name.map(String::from),
            }),
            ..User::default()
        }
    } else {
        User {
            uid: sid.map(String::from),
            name: name.map(String::from),
            ..User::default()
        }
    })
}

/// Security group events: 4727/4731/4754 created, 4728/4732/4756 member added, 4729/4733/4757
/// member removed, 4730/4734/4758 deleted, 4735/4737/4755 changed (global, local, universal).
pub(super) fn group_changed(event_id: u32, source: &mut Source) -> Option<OcsfEvent> {
    use GroupManagementActivityId::*;
    let activity = match event_id {
        4727 | 4731 | 4754 => Create,
        4728 | 4732 | 4756 => AddUser,
        4729 | 4733 | 4757 => RemoveUser,
        4730 | 4734 | 4758 => Delete,
        4735 | 4737 | 4755 => Update,
        _ => return None,
    };
    let group = Group {
        uid: source.take("TargetSid").map(String::from),
        name: source.take("TargetUserName").map(String::from),
        domain: source.take("TargetDomainName").map(String::from),
        privileges: Vec::new(),
    };
    if group.uid.is_none() && group.name.is_none() {
        return None;
    }
    let user = match activity {
        AddUser | RemoveUser => member(source),
        _ => None,
    };
    let actor = subject_actor(source);
    let mut event = draft(source, GroupManagement::new(activity, group, user));
    event.actor = actor;
    Some(event)
}

#[cfg(test)]
mod tests {
    use crate::normalize::test_support::normalized_json;

    const SUBJECT_AND_TARGET: [(&str, &str); 6] = [
        ("SubjectUserSid", "S-1-5-21-1-500"),
        ("SubjectUserName", "administrator"),
        ("SubjectDomainName", "CORP"),
        ("TargetSid", "S-1-5-21-1-1337"),
        ("TargetUserName", "backdoor"),
        ("TargetDomainName", "CORP"),
    ];

    #[test]
    fn account_events_map_to_activities() {
        let cases = [
            (4720, 300101),
            (4722, 300102),
            (4723, 300103),
            (4724, 300104),
            (4725, 300105),
            (4726, 300106),
            (4740, 300109),
            (4767, 300112),
            (4738, 300199),
        ];
        for (event_id, type_uid) in cases {
            let json = normalized_json("Security", event_id, &SUBJECT_AND_TARGET);
            assert_eq!(json["class_uid"], 3001, "{event_id}");
            assert_eq!(json["type_uid"], type_uid, "{event_id}");
            assert_eq!(json["user"]["uid"], "S-1-5-21-1-1337", "{event_id}");
            assert_eq!(json["actor"]["user"]["name"], "administrator", "{event_id}");
        }
        let created = normalized_json("Security", 4720, &SUBJECT_AND_TARGET);
        assert_eq!(created["user"]["name"], "backdoor");
        assert_eq!(created["user"]["domain"], "CORP");
    }

    #[test]
    fn lockout_names_the_caller_computer_and_rename_the_new_name() {
        let locked = normalized_json("Security", 4740, &SUBJECT_AND_TARGET);
        assert_eq!(locked["src_endpoint"]["hostname"], "CORP");
        assert!(locked["user"].get("domain").is_none());
        let renamed = normalized_json(
            "Security",
            4781,
            &[
                ("OldTargetUserName", "guest"),
                ("NewTargetUserName", "svc_backup"),
                ("TargetDomainName", "CORP"),
                ("TargetSid", "S-1-5-21-1-501"),
            ],
        );
        assert_eq!(renamed["activity_id"], 99);
        assert_eq!(renamed["activity_name"], "Rename");
        assert_eq!(renamed["user"]["name"], "guest");
        assert_eq!(renamed["user_result"]["name"], "svc_backup");
        assert_eq!(renamed["user_result"]["uid"], "S-1-5-21-1-501");
    }

    #[test]
    fn group_membership_changes() {
        let added = normalized_json(
            "Security",
            4728,
            &[
                ("MemberName", "CN=Backdoor,CN=Users,DC=corp,DC=local"),
                ("MemberSid", "S-1-5-21-1-1337"),
                ("TargetUserName", "Domain Admins"),
                ("TargetDomainName", "CORP"),
                ("TargetSid", "S-1-5-21-1-512"),
                ("SubjectUserName", "administrator"),
            ],
        );
        assert_eq!(added["class_uid"], 3006);
        assert_eq!(added["type_uid"], 300603);
        assert_eq!(added["group"]["name"], "Domain Admins");
        assert_eq!(added["group"]["uid"], "S-1-5-21-1-512");
        assert_eq!(added["user"]["uid"], "S-1-5-21-1-1337");
        assert_eq!(
            added["user"]["ldap_person"]["ldap_dn"],
            "CN=Backdoor,CN=Users,DC=corp,DC=local"
        );
        assert_eq!(added["actor"]["user"]["name"], "administrator");
        for (event_id, type_uid) in [
            (4729, 300604),
            (4732, 300603),
            (4733, 300604),
            (4756, 300603),
            (4757, 300604),
            (4731, 300606),
            (4734, 300605),
            (4735, 300609),
        ] {
            let json = normalized_json(
                "Security",
                event_id,
                &[
                    ("TargetUserName", "Administrators"),
                    ("MemberSid", "S-1-5-21-1-1337"),
                ],
            );
            assert_eq!(json["type_uid"], type_uid, "{event_id}");
        }
    }
}
