//! Where Sigma's Windows log sources live in raw event logs: channels, event ids and, for
//! sources that log the same activity under other names, the field names to use.
//!
//! `category: process_creation` is Sysmon event 1 and also Security event 4688 whose fields
//! are named differently (`NewProcessName` for `Image`); the tables below say so. Channel names
//! and event ids are those Windows and Sysmon write.

use crate::rule::LogSource;
use std::borrow::Cow;

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";
const SECURITY: &str = "Security";
const POWERSHELL: &[&str] = &[
    "Microsoft-Windows-PowerShell/Operational",
    "PowerShellCore/Operational",
];
const POWERSHELL_CLASSIC: &str = "Windows PowerShell";
const DEFENDER: &str = "Microsoft-Windows-Windows Defender/Operational";

/// How a target names the fields Sigma rules use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldMapping {
    /// Rule field names are the event's field names.
    Identity,
    /// Security 4688 process creation.
    Security4688,
    /// Microsoft Defender detections for `category: antivirus`.
    DefenderAntivirus,
    /// Zeek logs: web-proxy names SigmaHQ's Zeek rules use (`c-uri`, `c-useragent`) and DNS
    /// names of `category: dns` read as Zeek's (`answer` is `answers`).
    Zeek,
    /// Microsoft cloud logs (Entra ID, Azure Activity): names compared without regard to case
    /// (the event's names are folded too), the diagnostic-settings `properties.` envelope
    /// dropped, and `properties.message` read as the operation's name.
    Azure,
}

/// Fields Security 4688 writes natively (rules may use them as they are).
const SECURITY_4688_NATIVE: &[&str] = &[
    "EventID",
    "Channel",
    "Computer",
    "Provider_Name",
    "SubjectUserSid",
    "SubjectUserName",
    "SubjectDomainName",
    "SubjectLogonId",
    "NewProcessId",
    "NewProcessName",
    "TokenElevationType",
    "ProcessId",
    "CommandLine",
    "TargetUserSid",
    "TargetUserName",
    "TargetDomainName",
    "TargetLogonId",
    "ParentProcessName",
    "MandatoryLabel",
];

impl FieldMapping {
    /// The event field a rule field reads, or `None` when this source has no such field.
    pub fn map(self, field: &str) -> Option<Cow<'_, str>> {
        match self {
            FieldMapping::Identity => Some(field.into()),
            FieldMapping::Security4688 => match field {
                "Image" => Some("NewProcessName".into()),
                "ParentImage" => Some("ParentProcessName".into()),
                "LogonId" => Some("SubjectLogonId".into()),
                _ if SECURITY_4688_NATIVE.contains(&field) => Some(field.into()),
                _ => None,
            },
            FieldMapping::DefenderAntivirus => match field {
                "Signature" => Some("ThreatName".into()),
                "Filename" | "FileName" => Some("Path".into()),
                _ => Some(field.into()),
            },
            FieldMapping::Zeek => Some(
                match field {
                    "c-uri" | "cs-uri" => "uri",
                    "c-useragent" | "cs-user-agent" => "user_agent",
                    "cs-host" | "r-dns" => "host",
                    "cs-method" => "method",
                    "cs-referrer" | "cs-referer" => "referrer",
                    "sc-status" => "status_code",
                    "answer" => "answers",
                    "record_type" => "qtype_name",
                    other => other,
                }
                .into(),
            ),
            FieldMapping::Azure => {
                let field = match field.strip_prefix("properties.") {
                    Some("message") => "OperationName",
                    Some(inner) => inner,
                    None => field,
                };
                Some(field.to_ascii_lowercase().into())
            }
        }
    }
}

/// One concrete place a rule's events are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsTarget {
    /// Channels (any when empty).
    pub channels: Vec<&'static str>,
    /// Event ids (any when empty).
    pub event_ids: Vec<u32>,
    /// Extra conditions the source implies, e.g. `EventType: CreateKey` for `registry_add`.
    pub extra: Vec<(&'static str, &'static [&'static str])>,
    pub mapping: FieldMapping,
}

impl WindowsTarget {
    fn new(channels: &[&'static str], event_ids: &[u32]) -> WindowsTarget {
        WindowsTarget {
            channels: channels.to_vec(),
            event_ids: event_ids.to_vec(),
            extra: Vec::new(),
            mapping: FieldMapping::Identity,
        }
    }

    fn sysmon(event_ids: &[u32]) -> WindowsTarget {
        WindowsTarget::new(&[SYSMON], event_ids)
    }
}

/// The channels of a Windows `service`.
fn service_channels(service: &str) -> Option<&'static [&'static str]> {
    Some(match service {
        "security" => &[SECURITY],
        "system" => &["System"],
        "application" => &["Application"],
        "sysmon" => &[SYSMON],
        "powershell" => POWERSHELL,
        "powershell-classic" => &[POWERSHELL_CLASSIC],
        "taskscheduler" => &["Microsoft-Windows-TaskScheduler/Operational"],
        "wmi" => &["Microsoft-Windows-WMI-Activity/Operational"],
        "dns-server" => &["DNS Server"],
        "dns-server-analytic" => &["Microsoft-Windows-DNS-Server/Analytical"],
        "dns-server-audit" => &["Microsoft-Windows-DNS-Server/Audit"],
        "dns-client" => &["Microsoft-Windows-DNS Client Events/Operational"],
        "driver-framework" => &["Microsoft-Windows-DriverFrameworks-UserMode/Operational"],
        "ntlm" => &["Microsoft-Windows-NTLM/Operational"],
        "windefend" => &[DEFENDER],
        "bits-client" => &["Microsoft-Windows-Bits-Client/Operational"],
        "firewall-as" => &["Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"],
        "codeintegrity-operational" => &["Microsoft-Windows-CodeIntegrity/Operational"],
        "applocker" => &[
            "Microsoft-Windows-AppLocker/MSI and Script",
            "Microsoft-Windows-AppLocker/EXE and DLL",
            "Microsoft-Windows-AppLocker/Packaged app-Deployment",
            "Microsoft-Windows-AppLocker/Packaged app-Execution",
        ],
        "msexchange-management" => &["MSExchange Management"],
        "printservice-admin" => &["Microsoft-Windows-PrintService/Admin"],
        "printservice-operational" => &["Microsoft-Windows-PrintService/Operational"],
        "smbclient-security" => &["Microsoft-Windows-SmbClient/Security"],
        "smbclient-connectivity" => &["Microsoft-Windows-SmbClient/Connectivity"],
        "smbserver-connectivity" => &["Microsoft-Windows-SMBServer/Connectivity"],
        "terminalservices-localsessionmanager" => {
            &["Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"]
        }
        "microsoft-servicebus-client" => &["Microsoft-ServiceBus-Client"],
        "ldap" | "ldap_debug" => &["Microsoft-Windows-LDAP-Client/Debug"],
        "openssh" => &["OpenSSH/Operational"],
        "shell-core" => &["Microsoft-Windows-Shell-Core/Operational"],
        "capi2" => &["Microsoft-Windows-CAPI2/Operational"],
        "certificateservicesclient-lifecycle-system" => {
            &["Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"]
        }
        "lsa-server" => &["Microsoft-Windows-LSA/Operational"],
        "appxdeployment-server" => &["Microsoft-Windows-AppXDeploymentServer/Operational"],
        "appxpackaging-om" => &["Microsoft-Windows-AppxPackaging/Operational"],
        "diagnosis-scripted" => &["Microsoft-Windows-Diagnosis-Scripted/Operational"],
        "appmodel-runtime" => &["Microsoft-Windows-AppModel-Runtime/Admin"],
        "security-mitigations" => &[
            "Microsoft-Windows-Security-Mitigations/Kernel Mode",
            "Microsoft-Windows-Security-Mitigations/User Mode",
        ],
        "vhdmp" => &["Microsoft-Windows-VHDMP-Operational"],
        "bitlocker" => &["Microsoft-Windows-BitLocker/BitLocker Management"],
        "kernel-shimengine" => &[
            "Microsoft-Windows-Kernel-ShimEngine/Operational",
            "Microsoft-Windows-Kernel-ShimEngine/Diagnostic",
        ],
        "iis-configuration" => &[
            "Microsoft-IIS-Configuration/Operational",
            "Microsoft-IIS-Configuration/Administrative",
        ],
        "hyper-v-worker" => &["Microsoft-Windows-Hyper-V-Worker-Admin"],
        "ntfs" => &["Microsoft-Windows-Ntfs/Operational"],
        "dhcp" => &["Microsoft-Windows-DHCP-Server/Operational"],
        "terminalservices-remoteconnectionmanager" => {
            &["Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational"]
        }
        "rdpcorets" => &["Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational"],
        "winrm" => &["Microsoft-Windows-WinRM/Operational"],
        "application-experience" => &[
            "Microsoft-Windows-Application-Experience/Program-Telemetry",
            "Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant",
        ],
        _ => return None,
    })
}

/// The targets of a Windows `category`.
fn category_targets(category: &str) -> Option<Vec<WindowsTarget>> {
    let sysmon = |ids: &[u32]| vec![WindowsTarget::sysmon(ids)];
    Some(match category {
        "process_creation" => vec![
            WindowsTarget::sysmon(&[1]),
            WindowsTarget {
                mapping: FieldMapping::Security4688,
                ..WindowsTarget::new(&[SECURITY], &[4688])
            },
        ],
        "file_change" => sysmon(&[2]),
        "network_connection" => sysmon(&[3]),
        "sysmon_status" => sysmon(&[4, 16]),
        "process_termination" => sysmon(&[5]),
        "driver_load" => sysmon(&[6]),
        "image_load" => sysmon(&[7]),
        "create_remote_thread" => sysmon(&[8]),
        "raw_access_thread" => sysmon(&[9]),
        "process_access" => sysmon(&[10]),
        "file_event" => sysmon(&[11]),
        "registry_add" => vec![WindowsTarget {
            extra: vec![("EventType", &["CreateKey"])],
            ..WindowsTarget::sysmon(&[12])
        }],
        "registry_delete" => vec![WindowsTarget {
            extra: vec![("EventType", &["DeleteKey", "DeleteValue"])],
            ..WindowsTarget::sysmon(&[12])
        }],
        "registry_set" => sysmon(&[13]),
        "registry_rename" => sysmon(&[14]),
        "registry_event" => sysmon(&[12, 13, 14]),
        "create_stream_hash" => sysmon(&[15]),
        "pipe_created" => sysmon(&[17, 18]),
        "wmi_event" => sysmon(&[19, 20, 21]),
        "dns_query" => sysmon(&[22]),
        "file_delete" => sysmon(&[23, 26]),
        "clipboard_capture" => sysmon(&[24]),
        "process_tampering" => sysmon(&[25]),
        "file_delete_detected" => sysmon(&[26]),
        "file_block_executable" => sysmon(&[27]),
        "file_block_shredding" => sysmon(&[28]),
        "file_executable_detected" => sysmon(&[29]),
        "sysmon_error" => sysmon(&[255]),
        "ps_module" => vec![WindowsTarget::new(POWERSHELL, &[4103])],
        "ps_script" => vec![WindowsTarget::new(POWERSHELL, &[4104])],
        "ps_classic_start" => vec![WindowsTarget::new(&[POWERSHELL_CLASSIC], &[400])],
        "ps_classic_provider_start" => vec![WindowsTarget::new(&[POWERSHELL_CLASSIC], &[600])],
        "ps_classic_script" => vec![WindowsTarget::new(&[POWERSHELL_CLASSIC], &[800])],
        "antivirus" => vec![WindowsTarget {
            mapping: FieldMapping::DefenderAntivirus,
            ..WindowsTarget::new(
                &[DEFENDER],
                &[1006, 1007, 1008, 1015, 1116, 1117, 1118, 1119],
            )
        }],
        _ => return None,
    })
}

/// Where a log source applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSourceScope {
    /// Windows event logs, at these targets.
    Windows(Vec<WindowsTarget>),
    /// Any other product: the kinds of non-Windows records it applies to, each with a
    /// condition telling its records apart within them (Zeek's `_path`, syslog's `program`,
    /// the event id of Sysmon for Linux).
    Generic(Vec<GenericPart>),
}

/// Kinds of non-Windows records a rule applies to, and what their records must also say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericPart {
    pub sources: Sources,
    pub condition: Option<(&'static str, Vec<String>)>,
}

impl LogSourceScope {
    fn generic(sources: Sources) -> LogSourceScope {
        Self::generic_if(sources, None)
    }

    fn generic_if(sources: Sources, condition: Option<(&'static str, &[&str])>) -> LogSourceScope {
        LogSourceScope::Generic(vec![GenericPart::new(sources, condition)])
    }
}

impl GenericPart {
    fn new(sources: Sources, condition: Option<(&'static str, &[&str])>) -> GenericPart {
        GenericPart {
            sources,
            condition: condition
                .map(|(field, values)| (field, values.iter().map(|v| v.to_string()).collect())),
        }
    }
}

/// Kinds of non-Windows records, as a set: rules are indexed by the kinds they apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources(pub u16);

impl Sources {
    pub const ZEEK: Sources = Sources(1);
    pub const AUDITD: Sources = Sources(1 << 1);
    /// Syslog and journald.
    pub const SYSLOG: Sources = Sources(1 << 2);
    /// Everything else: generic JSON (other tools' alerts, logs of unknown shape).
    pub const OTHER: Sources = Sources(1 << 3);
    pub const CLOUDTRAIL: Sources = Sources(1 << 4);
    pub const OKTA: Sources = Sources(1 << 5);
    pub const ENTRA_SIGN_IN: Sources = Sources(1 << 6);
    pub const ENTRA_AUDIT: Sources = Sources(1 << 7);
    pub const AZURE_ACTIVITY: Sources = Sources(1 << 8);
    /// Suricata EVE records.
    pub const SURICATA: Sources = Sources(1 << 9);
    /// Sysmon for Linux events (in syslog, as its XML), with Sysmon's names.
    pub const SYSMON_LINUX: Sources = Sources(1 << 10);
    /// Microsoft 365 unified audit log (Office 365 Management Activity API, Log Analytics
    /// `OfficeActivity`).
    pub const M365_AUDIT: Sources = Sources(1 << 11);
    /// Typed records no Sigma log source names (Defender XDR advanced hunting rows, VM
    /// Insights connections): only rules that name no product reach them.
    pub const UNNAMED: Sources = Sources(1 << 12);
    pub const COUNT: usize = 13;
    /// The kinds whose field names rules match without regard to case.
    const FOLDED: Sources =
        Sources(Sources::ENTRA_SIGN_IN.0 | Sources::ENTRA_AUDIT.0 | Sources::AZURE_ACTIVITY.0);

    pub fn union(self, other: Sources) -> Sources {
        Sources(self.0 | other.0)
    }

    /// Positions of the kinds in the set (0 for Zeek, 1 audit, ...).
    pub fn positions(self) -> impl Iterator<Item = usize> {
        (0..Sources::COUNT).filter(move |bit| self.0 & (1 << bit) != 0)
    }

    /// How rules for these kinds name fields: [`FieldMapping::Azure`] for the Microsoft cloud
    /// logs, else as they are.
    pub fn mapping(self) -> FieldMapping {
        if self.0 != 0 && self.0 & !Sources::FOLDED.0 == 0 {
            FieldMapping::Azure
        } else {
            FieldMapping::Identity
        }
    }

    /// The kinds split by how rules name their fields: Zeek apart ([`FieldMapping::Zeek`]),
    /// the rest together.
    pub fn by_mapping(self) -> Vec<(Sources, FieldMapping)> {
        let rest = Sources(self.0 & !Sources::ZEEK.0);
        let mut parts = Vec::new();
        if self.0 & Sources::ZEEK.0 != 0 {
            parts.push((Sources::ZEEK, FieldMapping::Zeek));
        }
        if rest.0 != 0 {
            parts.push((rest, rest.mapping()));
        }
        parts
    }

    /// The position of a record's kind.
    pub fn position_of(format: garrison_model::RecordFormat) -> usize {
        use garrison_model::RecordFormat::*;
        let kind = match format {
            Zeek => Sources::ZEEK,
            Auditd => Sources::AUDITD,
            Syslog | Journald => Sources::SYSLOG,
            CloudTrail => Sources::CLOUDTRAIL,
            Okta => Sources::OKTA,
            EntraSignIn => Sources::ENTRA_SIGN_IN,
            EntraAudit => Sources::ENTRA_AUDIT,
            AzureActivity => Sources::AZURE_ACTIVITY,
            Suricata => Sources::SURICATA,
            SysmonLinux => Sources::SYSMON_LINUX,
            M365Audit => Sources::M365_AUDIT,
            DefenderXdr | VmConnection => Sources::UNNAMED,
            Evtx | EvtxJson | Winlogbeat | FlatWindows | Json | Wazuh | SentinelAlert
            | MappedAlert | Csv | Cef | Leef => Sources::OTHER,
        };
        kind.0.trailing_zeros() as usize
    }
}

/// Sysmon for Linux event ids of the Linux categories Sigma gives it.
fn sysmon_linux_event(category: &str) -> Option<&'static [&'static str]> {
    Some(match category {
        "process_creation" => &["1"],
        "network_connection" => &["3"],
        "process_termination" => &["5"],
        "raw_access_thread" => &["9"],
        "file_event" => &["11"],
        "file_delete" => &["23", "26"],
        _ => return None,
    })
}

/// Where a rule of a product other than Windows applies.
fn generic_scope(logsource: &LogSource) -> Result<LogSourceScope, String> {
    let category = logsource.category.as_deref();
    let service = logsource.service.as_deref();
    let scope = LogSourceScope::generic_if;
    Ok(match logsource.product.as_deref() {
        // Zeek logs are told apart by `_path`, the log name Sigma calls the service.
        Some("zeek") => match service {
            Some(service) => LogSourceScope::Generic(vec![GenericPart {
                sources: Sources::ZEEK,
                condition: Some(("_path", vec![service.to_string()])),
            }]),
            None => LogSourceScope::generic(Sources::ZEEK),
        },
        Some("linux") => match (category, service) {
            (_, Some("auditd")) => scope(Sources::AUDITD, None),
            (Some(category), _) => {
                let Some(event_ids) = sysmon_linux_event(category) else {
                    return Err(format!(
                        "Linux category {category:?} has no source this engine reads"
                    ));
                };
                let sysmon = GenericPart::new(Sources::SYSMON_LINUX, Some(("EventID", event_ids)));
                if category == "process_creation" {
                    // Process starts also come from audit EXECVE events (auditd's own, or the
                    // Azure Monitor agent's AUOMS), which carry Sysmon's names too.
                    let audit = GenericPart::new(
                        Sources::AUDITD,
                        Some(("type", &["EXECVE", "AUOMS_EXECVE"])),
                    );
                    LogSourceScope::Generic(vec![audit, sysmon])
                } else {
                    LogSourceScope::Generic(vec![sysmon])
                }
            }
            (None, Some("syslog")) => scope(Sources::SYSLOG, None),
            (None, Some("auth")) => {
                scope(Sources::SYSLOG, Some(("facility", &["auth", "authpriv"])))
            }
            (None, Some(program)) => LogSourceScope::Generic(vec![GenericPart {
                sources: Sources::SYSLOG,
                condition: Some(("program", vec![program.to_string()])),
            }]),
            (None, None) => scope(Sources::AUDITD.union(Sources::SYSLOG), None),
        },
        Some("aws") => match service {
            None | Some("cloudtrail") => LogSourceScope::generic(Sources::CLOUDTRAIL),
            Some(other) => return Err(format!("AWS service {other:?} is not read yet")),
        },
        Some("okta") => LogSourceScope::generic(Sources::OKTA),
        Some("suricata") => LogSourceScope::generic(Sources::SURICATA),
        Some("m365") => match service {
            Some("audit") => LogSourceScope::generic(Sources::M365_AUDIT),
            Some(other) => {
                return Err(format!(
                    "Microsoft 365 service {other:?} is not read yet (the unified audit log is)"
                ));
            }
            None => LogSourceScope::generic(Sources::M365_AUDIT),
        },
        Some("azure") => match service {
            Some("signinlogs") => LogSourceScope::generic(Sources::ENTRA_SIGN_IN),
            Some("auditlogs") => LogSourceScope::generic(Sources::ENTRA_AUDIT),
            Some("activitylogs") => LogSourceScope::generic(Sources::AZURE_ACTIVITY),
            Some(other) => {
                return Err(format!(
                    "Azure service {other:?} is not read yet (sign-in, audit and activity logs are)"
                ));
            }
            None => LogSourceScope::generic(
                Sources::ENTRA_SIGN_IN
                    .union(Sources::ENTRA_AUDIT)
                    .union(Sources::AZURE_ACTIVITY),
            ),
        },
        // DNS query rules also run on Zeek's dns log.
        None if category == Some("dns") => {
            LogSourceScope::generic(Sources::OTHER.union(Sources::ZEEK))
        }
        // Rules naming no product: any record of no named source.
        None => LogSourceScope::generic(Sources::OTHER.union(Sources::UNNAMED)),
        _ => scope(Sources::OTHER, None),
    })
}

/// Resolves a rule's log source. Windows sources that have no event log equivalent (ETW-only
/// categories such as `file_access`) are an error naming the source.
pub fn resolve_logsource(logsource: &LogSource) -> Result<LogSourceScope, String> {
    let product = logsource.product.as_deref();
    let category = logsource.category.as_deref();
    let service = logsource.service.as_deref();
    let windows_category = category.and_then(category_targets);
    let windows_service = service.and_then(service_channels);
    let is_windows = match product {
        Some("windows") => true,
        Some(_) => false,
        // Product-less rules are Windows rules when their source is one Windows has.
        None => windows_category.is_some() || windows_service.is_some(),
    };
    if !is_windows {
        return generic_scope(logsource);
    }
    let targets = match (category, windows_category, service, windows_service) {
        (Some(category), None, _, _) => {
            return Err(format!(
                "Windows category {category:?} has no event log source this engine reads"
            ));
        }
        (_, _, Some(service), None) => {
            return Err(format!("unknown Windows service {service:?}"));
        }
        (_, Some(mut targets), _, Some(channels)) => {
            // Both given: the category's events, restricted to the service's channels.
            targets.retain_mut(|target| {
                target.channels.retain(|channel| channels.contains(channel));
                !target.channels.is_empty()
            });
            if targets.is_empty() {
                return Err(format!(
                    "category {:?} does not occur in service {:?}",
                    category.unwrap_or_default(),
                    service.unwrap_or_default()
                ));
            }
            targets
        }
        (_, Some(targets), _, None) => targets,
        (_, None, _, Some(channels)) => vec![WindowsTarget::new(channels, &[])],
        (None, None, None, None) => vec![WindowsTarget::new(&[], &[])],
    };
    Ok(LogSourceScope::Windows(targets))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logsource(
        product: Option<&str>,
        category: Option<&str>,
        service: Option<&str>,
    ) -> LogSource {
        LogSource {
            product: product.map(str::to_string),
            category: category.map(str::to_string),
            service: service.map(str::to_string),
            definition: None,
        }
    }

    #[test]
    fn process_creation_is_sysmon_1_and_security_4688() {
        let LogSourceScope::Windows(targets) =
            resolve_logsource(&logsource(Some("windows"), Some("process_creation"), None)).unwrap()
        else {
            panic!("windows expected")
        };
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].channels, [SYSMON]);
        assert_eq!(targets[0].event_ids, [1]);
        assert_eq!(targets[1].event_ids, [4688]);
        assert_eq!(
            targets[1].mapping.map("Image").as_deref(),
            Some("NewProcessName")
        );
        assert_eq!(targets[1].mapping.map("OriginalFileName"), None);
        assert_eq!(
            targets[1].mapping.map("CommandLine").as_deref(),
            Some("CommandLine")
        );
    }

    #[test]
    fn services_categories_and_products() {
        let scope = resolve_logsource(&logsource(Some("windows"), None, Some("security"))).unwrap();
        assert_eq!(
            scope,
            LogSourceScope::Windows(vec![WindowsTarget::new(&[SECURITY], &[])])
        );
        let scope = resolve_logsource(&logsource(Some("windows"), None, None)).unwrap();
        assert_eq!(
            scope,
            LogSourceScope::Windows(vec![WindowsTarget::new(&[], &[])])
        );
        // Linux process starts come from audit EXECVE events (auditd's or AUOMS's) and from
        // Sysmon for Linux; its other categories from Sysmon for Linux alone.
        let scope = resolve_logsource(&logsource(Some("linux"), Some("process_creation"), None));
        assert_eq!(
            scope.unwrap(),
            LogSourceScope::Generic(vec![
                GenericPart::new(Sources::AUDITD, Some(("type", &["EXECVE", "AUOMS_EXECVE"]))),
                GenericPart::new(Sources::SYSMON_LINUX, Some(("EventID", &["1"]))),
            ])
        );
        let scope = resolve_logsource(&logsource(Some("linux"), Some("file_event"), None));
        assert_eq!(
            scope.unwrap(),
            LogSourceScope::generic_if(Sources::SYSMON_LINUX, Some(("EventID", &["11"])))
        );
        let scope = resolve_logsource(&logsource(Some("linux"), None, Some("sshd"))).unwrap();
        assert_eq!(
            scope,
            LogSourceScope::generic_if(Sources::SYSLOG, Some(("program", &["sshd"])))
        );
        // Cloud logs: one kind of record each; the Microsoft ones match names in any case.
        for (product, service, sources) in [
            ("aws", Some("cloudtrail"), Sources::CLOUDTRAIL),
            ("okta", Some("okta"), Sources::OKTA),
            ("suricata", None, Sources::SURICATA),
            ("azure", Some("signinlogs"), Sources::ENTRA_SIGN_IN),
            ("azure", Some("auditlogs"), Sources::ENTRA_AUDIT),
            ("azure", Some("activitylogs"), Sources::AZURE_ACTIVITY),
            ("m365", Some("audit"), Sources::M365_AUDIT),
            ("cisco", Some("aaa"), Sources::OTHER),
        ] {
            let scope = resolve_logsource(&logsource(Some(product), None, service)).unwrap();
            assert_eq!(
                scope,
                LogSourceScope::generic(sources),
                "{product}/{service:?}"
            );
            let folds = product == "azure";
            assert_eq!(sources.mapping() == FieldMapping::Azure, folds, "{product}");
        }
        let error =
            resolve_logsource(&logsource(Some("aws"), None, Some("guardduty"))).unwrap_err();
        assert!(error.contains("not read yet"), "{error}");
        let error =
            resolve_logsource(&logsource(Some("azure"), None, Some("riskdetection"))).unwrap_err();
        assert!(error.contains("riskdetection"), "{error}");
        assert_eq!(
            FieldMapping::Azure.map("properties.message").as_deref(),
            Some("operationname")
        );
        assert_eq!(
            FieldMapping::Azure
                .map("DeviceDetail.isCompliant")
                .as_deref(),
            Some("devicedetail.iscompliant")
        );
        let error =
            resolve_logsource(&logsource(Some("linux"), Some("image_load"), None)).unwrap_err();
        assert!(error.contains("image_load"), "{error}");
        let error = resolve_logsource(&logsource(Some("m365"), None, Some("threat_management")))
            .unwrap_err();
        assert!(error.contains("threat_management"), "{error}");
        // Rules naming no product also reach typed records no product names.
        assert_eq!(
            resolve_logsource(&logsource(None, Some("webserver"), None)).unwrap(),
            LogSourceScope::generic(Sources::OTHER.union(Sources::UNNAMED))
        );
        let scope = resolve_logsource(&logsource(None, Some("antivirus"), None)).unwrap();
        assert!(
            matches!(scope, LogSourceScope::Windows(ref t) if t[0].mapping == FieldMapping::DefenderAntivirus)
        );
        let error =
            resolve_logsource(&logsource(Some("windows"), Some("file_access"), None)).unwrap_err();
        assert!(error.contains("file_access"));
        let error =
            resolve_logsource(&logsource(Some("windows"), None, Some("nosuch"))).unwrap_err();
        assert!(error.contains("nosuch"));
        let LogSourceScope::Windows(targets) =
            resolve_logsource(&logsource(Some("windows"), Some("registry_delete"), None)).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            targets[0].extra,
            [("EventType", &["DeleteKey", "DeleteValue"][..])]
        );
    }
}
