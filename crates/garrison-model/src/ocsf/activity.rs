//! The activities of each OCSF class, as closed enums that know their schema id and caption.
//!
//! Every enum also has `Unknown` (id 0) and `Other(label)` (id 99), which the base event defines
//! for every class; `Other` carries the source's own name for the activity.

macro_rules! activity_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $id:literal => $caption:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            Unknown,
            $($variant,)*
            /// Not one of the schema's activities; the label names what it was.
            Other(String),
        }

        impl $name {
            /// The schema's `activity_id`.
            pub fn id(&self) -> u8 {
                match self {
                    $name::Unknown => 0,
                    $($name::$variant => $id,)*
                    $name::Other(_) => 99,
                }
            }

            /// The schema's caption for the activity (`activity_name`), or the label of `Other`.
            pub fn caption(&self) -> &str {
                match self {
                    $name::Unknown => "Unknown",
                    $($name::$variant => $caption,)*
                    $name::Other(label) => label,
                }
            }
        }
    };
}

activity_enum! {
    /// Base Event (0): only Unknown and Other.
    BaseActivityId {}
}

activity_enum! {
    /// Process Activity (1007).
    ProcessActivityId {
        Launch = 1 => "Launch",
        Terminate = 2 => "Terminate",
        Open = 3 => "Open",
        Inject = 4 => "Inject",
        SetUserId = 5 => "Set User ID",
    }
}

activity_enum! {
    /// Module Activity (1005).
    ModuleActivityId {
        Load = 1 => "Load",
        Unload = 2 => "Unload",
        Invoke = 3 => "Invoke",
    }
}

activity_enum! {
    /// File System Activity (1001).
    FileActivityId {
        Create = 1 => "Create",
        Read = 2 => "Read",
        Update = 3 => "Update",
        Delete = 4 => "Delete",
        Rename = 5 => "Rename",
        SetAttributes = 6 => "Set Attributes",
        SetSecurity = 7 => "Set Security",
        GetAttributes = 8 => "Get Attributes",
        GetSecurity = 9 => "Get Security",
        Encrypt = 10 => "Encrypt",
        Decrypt = 11 => "Decrypt",
        Mount = 12 => "Mount",
        Unmount = 13 => "Unmount",
        Open = 14 => "Open",
    }
}

activity_enum! {
    /// Scheduled Job Activity (1006).
    ScheduledJobActivityId {
        Create = 1 => "Create",
        Update = 2 => "Update",
        Delete = 3 => "Delete",
        Enable = 4 => "Enable",
        Disable = 5 => "Disable",
        Start = 6 => "Start",
    }
}

activity_enum! {
    /// Registry Key Activity (201001, Windows extension).
    RegistryKeyActivityId {
        Create = 1 => "Create",
        Read = 2 => "Read",
        Modify = 3 => "Modify",
        Delete = 4 => "Delete",
        Rename = 5 => "Rename",
        SetSecurity = 6 => "Set Security",
        Restore = 7 => "Restore",
        Import = 8 => "Import",
        Export = 9 => "Export",
    }
}

activity_enum! {
    /// Registry Value Activity (201002, Windows extension).
    RegistryValueActivityId {
        Get = 1 => "Get",
        Set = 2 => "Set",
        Modify = 3 => "Modify",
        Delete = 4 => "Delete",
    }
}

activity_enum! {
    /// Windows Service Activity (201004, Windows extension).
    WindowsServiceActivityId {
        Create = 1 => "Create",
        Reconfigure = 2 => "Reconfigure",
        Start = 3 => "Start",
        Stop = 4 => "Stop",
        Pause = 5 => "Pause",
        Continue = 6 => "Continue",
        Delete = 7 => "Delete",
    }
}

activity_enum! {
    /// Network Activity (4001).
    NetworkActivityId {
        Open = 1 => "Open",
        Close = 2 => "Close",
        Reset = 3 => "Reset",
        Fail = 4 => "Fail",
        Refuse = 5 => "Refuse",
        Traffic = 6 => "Traffic",
        Listen = 7 => "Listen",
    }
}

activity_enum! {
    /// HTTP Activity (4002): by request method.
    HttpActivityId {
        Connect = 1 => "Connect",
        Delete = 2 => "Delete",
        Get = 3 => "Get",
        Head = 4 => "Head",
        Options = 5 => "Options",
        Post = 6 => "Post",
        Put = 7 => "Put",
        Trace = 8 => "Trace",
        Patch = 9 => "Patch",
    }
}

activity_enum! {
    /// Network File Activity (4010).
    NetworkFileActivityId {
        Upload = 1 => "Upload",
        Download = 2 => "Download",
    }
}

activity_enum! {
    /// DNS Activity (4003).
    DnsActivityId {
        Query = 1 => "Query",
        Response = 2 => "Response",
        Traffic = 6 => "Traffic",
    }
}

activity_enum! {
    /// SMB Activity (4006).
    SmbActivityId {
        FileSupersede = 1 => "File Supersede",
        FileOpen = 2 => "File Open",
        FileCreate = 3 => "File Create",
        FileOpenIf = 4 => "File Open If",
        FileOverwrite = 5 => "File Overwrite",
        FileOverwriteIf = 6 => "File Overwrite If",
    }
}

activity_enum! {
    /// Authentication (3002).
    AuthenticationActivityId {
        Logon = 1 => "Logon",
        Logoff = 2 => "Logoff",
        AuthenticationTicket = 3 => "Authentication Ticket",
        ServiceTicketRequest = 4 => "Service Ticket Request",
        ServiceTicketRenew = 5 => "Service Ticket Renew",
        Preauth = 6 => "Preauth",
        AccountSwitch = 7 => "Account Switch",
    }
}

activity_enum! {
    /// Authorize Session (3003).
    AuthorizeSessionActivityId {
        AssignPrivileges = 1 => "Assign Privileges",
        AssignGroups = 2 => "Assign Groups",
        AssignRoles = 3 => "Assign Roles",
    }
}

activity_enum! {
    /// Account Change (3001).
    AccountChangeActivityId {
        Create = 1 => "Create",
        Enable = 2 => "Enable",
        PasswordChange = 3 => "Password Change",
        PasswordReset = 4 => "Password Reset",
        Disable = 5 => "Disable",
        Delete = 6 => "Delete",
        AttachPolicy = 7 => "Attach Policy",
        DetachPolicy = 8 => "Detach Policy",
        Lock = 9 => "Lock",
        MfaFactorEnable = 10 => "MFA Factor Enable",
        MfaFactorDisable = 11 => "MFA Factor Disable",
        Unlock = 12 => "Unlock",
    }
}

activity_enum! {
    /// Entity Management (3004): a directory or identity-provider object (an application, a
    /// policy, a role) created or changed.
    EntityManagementActivityId {
        Create = 1 => "Create",
        Read = 2 => "Read",
        Update = 3 => "Update",
        Delete = 4 => "Delete",
        Move = 5 => "Move",
        Enroll = 6 => "Enroll",
        Unenroll = 7 => "Unenroll",
        Enable = 8 => "Enable",
        Disable = 9 => "Disable",
        Activate = 10 => "Activate",
        Deactivate = 11 => "Deactivate",
        Suspend = 12 => "Suspend",
        Resume = 13 => "Resume",
    }
}

activity_enum! {
    /// API Activity (6003): a call to a cloud or SaaS control-plane API.
    ApiActivityId {
        Create = 1 => "Create",
        Read = 2 => "Read",
        Update = 3 => "Update",
        Delete = 4 => "Delete",
    }
}

activity_enum! {
    /// Group Management (3006).
    GroupManagementActivityId {
        AssignPrivileges = 1 => "Assign Privileges",
        RevokePrivileges = 2 => "Revoke Privileges",
        AddUser = 3 => "Add User",
        RemoveUser = 4 => "Remove User",
        Delete = 5 => "Delete",
        Create = 6 => "Create",
        AddSubgroup = 7 => "Add Subgroup",
        RemoveSubgroup = 8 => "Remove Subgroup",
        Update = 9 => "Update",
        AttachPolicies = 10 => "Attach Policies",
        DetachPolicies = 11 => "Detach Policies",
        AssignRoles = 12 => "Assign Roles",
        RemoveRoles = 13 => "Remove Roles",
    }
}

activity_enum! {
    /// Detection Finding (2004).
    FindingActivityId {
        Create = 1 => "Create",
        Update = 2 => "Update",
        Close = 3 => "Close",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_captions_follow_the_schema() {
        assert_eq!(ProcessActivityId::Launch.id(), 1);
        assert_eq!(ProcessActivityId::SetUserId.caption(), "Set User ID");
        assert_eq!(FileActivityId::Open.id(), 14);
        assert_eq!(DnsActivityId::Traffic.id(), 6);
        assert_eq!(AccountChangeActivityId::Unlock.id(), 12);
        assert_eq!(GroupManagementActivityId::Unknown.id(), 0);
        let other = AccountChangeActivityId::Other("Rename".into());
        assert_eq!((other.id(), other.caption()), (99, "Rename"));
    }
}
