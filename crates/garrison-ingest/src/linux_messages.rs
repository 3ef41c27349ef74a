//! The messages of Linux programs that matter to a SOC, read into fields: sshd logins, sudo
//! commands, su, PAM sessions and authentication failures, and account changes (useradd,
//! userdel, groupadd, passwd). Shared by syslog and journald records.
//!
//! Every parsed message gets `action` (what happened, e.g. `logon`, `sudo`, `user_added`)
//! and, where the message says, `outcome` (`success`/`failure`), `user`, `src_ip`,
//! `src_port`, `auth_method`, `target_user`, `command`, `tty`, `cwd`, `pam_module`,
//! `pam_service`. A message no parser knows keeps only its text.

use garrison_model::{Fields, ValueKind};

/// Adds the fields of `message` written by `program`.
pub fn parse(program: &str, message: &str, fields: &mut Fields) {
    let program = program.rsplit('/').next().unwrap_or(program);
    if let Some(pam) = message.strip_prefix("pam_") {
        return parse_pam(pam, fields);
    }
    match program {
        "sshd" | "sshd-session" => parse_sshd(message, fields),
        "sudo" => parse_sudo(message, fields),
        "su" => parse_su(message, fields),
        "useradd" | "adduser" | "groupadd" | "userdel" | "groupdel" | "usermod" | "passwd"
        | "chpasswd" => parse_accounts(message, fields),
        "dhcpd" => parse_dhcpd(message, fields),
        _ => {}
    }
}

/// ISC dhcpd's lease messages: `DHCPACK on 10.0.0.5 to 00:11:22:33:44:55 (laptop7) via eth0`,
/// `DHCPRELEASE of 10.0.0.5 from 00:11:22:33:44:55 (laptop7) via eth0 (found)`: `dhcp_action`,
/// `dhcp_address`, `dhcp_mac` and `dhcp_hostname` (when the client sent one).
fn parse_dhcpd(message: &str, fields: &mut Fields) {
    let mut words = message.split_whitespace();
    let Some(action @ ("DHCPACK" | "DHCPRELEASE" | "DHCPOFFER" | "DHCPDECLINE" | "DHCPEXPIRE")) =
        words.next()
    else {
        return;
    };
    let Some("on" | "of") = words.next() else {
        return;
    };
    let Some(address) = words
        .next()
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
    else {
        return;
    };
    text(fields, "dhcp_action", action);
    text(fields, "dhcp_address", address);
    if let Some("to" | "from") = words.next()
        && let Some(mac) = words.next()
    {
        text(fields, "dhcp_mac", mac);
        if let Some(name) = words
            .next()
            .and_then(|word| word.strip_prefix('('))
            .and_then(|word| word.strip_suffix(')'))
        {
            text(fields, "dhcp_hostname", name);
        }
    }
}

fn text(fields: &mut Fields, name: &str, value: &str) {
    if !value.is_empty() {
        fields.push(name, value, ValueKind::Text);
    }
}

/// The word after `marker` in `text`.
fn word_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    let at = text.find(marker)? + marker.len();
    text[at..].split([' ', ',', ';']).next()
}

/// `... from ADDRESS port PORT ...`
fn push_source(message: &str, fields: &mut Fields) {
    if let Some(address) = word_after(message, " from ") {
        text(fields, "src_ip", address);
    }
    if let Some(port) = word_after(message, " port ") {
        fields.push("src_port", port, ValueKind::Integer);
    }
}

fn parse_sshd(message: &str, fields: &mut Fields) {
    // Accepted publickey for alice from 10.0.0.5 port 51234 ssh2: RSA SHA256:...
    // Failed password for invalid user bob from 10.0.0.5 port 4444 ssh2
    for (prefix, outcome) in [("Accepted ", "success"), ("Failed ", "failure")] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((method, rest)) = rest.split_once(" for ")
        {
            let rest = rest.strip_prefix("invalid user ").unwrap_or(rest);
            let user = rest.split(' ').next().unwrap_or_default();
            text(fields, "action", "logon");
            text(fields, "outcome", outcome);
            text(fields, "auth_method", method);
            text(fields, "user", user);
            push_source(message, fields);
            return;
        }
    }
    // Invalid user bob from 10.0.0.5 port 4444
    if let Some(rest) = message.strip_prefix("Invalid user ") {
        text(fields, "action", "logon");
        text(fields, "outcome", "failure");
        text(fields, "status_detail", "invalid user");
        text(fields, "user", rest.split(' ').next().unwrap_or_default());
        push_source(message, fields);
        return;
    }
    // Disconnected from user alice 10.0.0.5 port 51234
    if let Some(rest) = message.strip_prefix("Disconnected from user ") {
        let mut words = rest.split(' ');
        text(fields, "action", "logoff");
        text(fields, "user", words.next().unwrap_or_default());
        text(fields, "src_ip", words.next().unwrap_or_default());
        if let Some(port) = word_after(message, " port ") {
            fields.push("src_port", port, ValueKind::Integer);
        }
    }
}

fn parse_sudo(message: &str, fields: &mut Fields) {
    // alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id
    // alice : 3 incorrect password attempts ; TTY=pts/0 ; ... ; COMMAND=/bin/bash
    let Some((user, rest)) = message.trim_start().split_once(" : ") else {
        return;
    };
    text(fields, "action", "sudo");
    text(fields, "user", user.trim());
    let mut failure = None;
    for part in rest.split(" ; ") {
        let part = part.trim();
        match part.split_once('=') {
            Some(("TTY", value)) => text(fields, "tty", value),
            Some(("PWD", value)) => text(fields, "cwd", value),
            Some(("USER", value)) => text(fields, "target_user", value),
            Some(("COMMAND", value)) => text(fields, "command", value),
            Some(_) => {}
            None => failure = Some(part),
        }
    }
    match failure {
        Some(reason) => {
            text(fields, "outcome", "failure");
            text(fields, "status_detail", reason);
        }
        None => text(fields, "outcome", "success"),
    }
}

fn parse_su(message: &str, fields: &mut Fields) {
    // (to root) alice on pts/0 ; FAILED SU (to root) alice on pts/0
    let (outcome, rest) = match message.strip_prefix("FAILED SU ") {
        Some(rest) => ("failure", rest),
        None => ("success", message),
    };
    let Some(rest) = rest.strip_prefix("(to ") else {
        return;
    };
    let Some((target, rest)) = rest.split_once(") ") else {
        return;
    };
    text(fields, "action", "su");
    text(fields, "outcome", outcome);
    text(fields, "target_user", target);
    let mut words = rest.split(' ');
    text(fields, "user", words.next().unwrap_or_default());
    if let Some(tty) = word_after(rest, " on ") {
        text(fields, "tty", tty);
    }
}

/// `MODULE(SERVICE:TYPE): TEXT`, after `pam_`.
fn parse_pam(rest: &str, fields: &mut Fields) {
    let Some((module, rest)) = rest.split_once('(') else {
        return;
    };
    let Some((context, message)) = rest.split_once("): ") else {
        return;
    };
    let (service, _kind) = context.split_once(':').unwrap_or((context, ""));
    text(fields, "pam_module", &format!("pam_{module}"));
    text(fields, "pam_service", service);
    // session opened for user alice(uid=1000) by (uid=0)
    for (marker, action) in [
        ("session opened for user ", "session_opened"),
        ("session closed for user ", "session_closed"),
    ] {
        if let Some(after) = message.strip_prefix(marker) {
            let user = after.split(['(', ' ']).next().unwrap_or_default();
            text(fields, "action", action);
            text(fields, "outcome", "success");
            text(fields, "user", user);
            if let Some(by) = word_after(after, " by ") {
                let by = by.split('(').next().unwrap_or_default();
                text(fields, "by_user", by);
            }
            return;
        }
    }
    // authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.0.0.5  user=alice
    if let Some(rest) = message.strip_prefix("authentication failure;") {
        text(fields, "action", "logon");
        text(fields, "outcome", "failure");
        for pair in rest.split_whitespace() {
            match pair.split_once('=') {
                Some(("user", value)) => text(fields, "user", value),
                Some(("rhost", value)) => text(fields, "src_ip", value),
                Some(("ruser", value)) => text(fields, "remote_user", value),
                Some(("tty", value)) => text(fields, "tty", value),
                _ => {}
            }
        }
        return;
    }
    // password changed for bob
    if let Some(user) = message.strip_prefix("password changed for ") {
        text(fields, "action", "password_changed");
        text(fields, "outcome", "success");
        text(fields, "target_user", user.trim());
    }
}

fn parse_accounts(message: &str, fields: &mut Fields) {
    // new user: name=bob, UID=1001, GID=1001, home=/home/bob, shell=/bin/bash, from=/dev/pts/0
    // new group: name=bob, GID=1001
    for (prefix, action) in [("new user: ", "user_added"), ("new group: ", "group_added")] {
        if let Some(rest) = message.strip_prefix(prefix) {
            text(fields, "action", action);
            text(fields, "outcome", "success");
            for pair in rest.split(", ") {
                match pair.split_once('=') {
                    Some(("name", value)) => text(fields, "target_user", value),
                    Some(("UID", value)) => text(fields, "target_uid", value),
                    Some(("GID", value)) => text(fields, "target_gid", value),
                    Some(("home", value)) => text(fields, "home", value),
                    Some(("shell", value)) => text(fields, "shell", value),
                    _ => {}
                }
            }
            return;
        }
    }
    // delete user 'bob'  /  removed group 'bob' owned by 'bob'
    for (prefix, action) in [
        ("delete user '", "user_deleted"),
        ("removed group '", "group_deleted"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix) {
            text(fields, "action", action);
            text(fields, "outcome", "success");
            text(
                fields,
                "target_user",
                rest.split('\'').next().unwrap_or_default(),
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(program: &str, message: &str) -> Fields {
        let mut fields = Fields::new();
        parse(program, message, &mut fields);
        fields
    }

    #[test]
    fn dhcpd_leases() {
        let mut fields = Fields::new();
        parse(
            "dhcpd",
            "DHCPACK on 10.0.0.5 to 00:11:22:33:44:55 (laptop7) via eth0",
            &mut fields,
        );
        assert_eq!(fields.value("dhcp_action"), Some("DHCPACK"));
        assert_eq!(fields.value("dhcp_address"), Some("10.0.0.5"));
        assert_eq!(fields.value("dhcp_mac"), Some("00:11:22:33:44:55"));
        assert_eq!(fields.value("dhcp_hostname"), Some("laptop7"));
        let mut fields = Fields::new();
        parse(
            "dhcpd",
            "DHCPRELEASE of 10.0.0.5 from 00:11:22:33:44:55 via eth0 (found)",
            &mut fields,
        );
        assert_eq!(fields.value("dhcp_action"), Some("DHCPRELEASE"));
        assert_eq!(fields.get("dhcp_hostname"), None);
        let mut fields = Fields::new();
        parse(
            "dhcpd",
            "DHCPDISCOVER from 00:11:22:33:44:55 via eth0",
            &mut fields,
        );
        assert!(fields.is_empty());
    }

    #[test]
    fn sshd_logins() {
        let f = fields_of(
            "sshd",
            "Failed password for invalid user oracle from 198.51.100.4 port 40022 ssh2",
        );
        assert_eq!(f.value("action"), Some("logon"));
        assert_eq!(f.value("outcome"), Some("failure"));
        assert_eq!(f.value("auth_method"), Some("password"));
        assert_eq!(f.value("user"), Some("oracle"));
        assert_eq!(f.value("src_ip"), Some("198.51.100.4"));
        assert_eq!(f.value("src_port"), Some("40022"));
        let f = fields_of(
            "sshd",
            "Accepted publickey for alice from 10.0.0.5 port 51234 ssh2: ED25519 SHA256:abc",
        );
        assert_eq!(f.value("outcome"), Some("success"));
        assert_eq!(f.value("auth_method"), Some("publickey"));
        let f = fields_of("sshd", "Invalid user admin from 198.51.100.4 port 40000");
        assert_eq!(f.value("user"), Some("admin"));
        assert_eq!(f.value("status_detail"), Some("invalid user"));
        assert!(fields_of("sshd", "Server listening on 0.0.0.0 port 22.").is_empty());
    }

    #[test]
    fn sudo_su_pam_accounts() {
        let f = fields_of(
            "sudo",
            "bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow",
        );
        assert_eq!(f.value("user"), Some("bob"));
        assert_eq!(f.value("target_user"), Some("root"));
        assert_eq!(f.value("command"), Some("/usr/bin/cat /etc/shadow"));
        assert_eq!(f.value("outcome"), Some("failure"));
        assert_eq!(
            f.value("status_detail"),
            Some("3 incorrect password attempts")
        );
        let f = fields_of("su", "FAILED SU (to root) alice on pts/3");
        assert_eq!(
            (f.value("user"), f.value("target_user"), f.value("outcome")),
            (Some("alice"), Some("root"), Some("failure"))
        );
        let f = fields_of(
            "sshd",
            "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
        );
        assert_eq!(f.value("pam_module"), Some("pam_unix"));
        assert_eq!(f.value("pam_service"), Some("sshd"));
        assert_eq!(f.value("action"), Some("session_opened"));
        assert_eq!(f.value("user"), Some("alice"));
        let f = fields_of(
            "sshd",
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.4  user=root",
        );
        assert_eq!(
            (f.value("user"), f.value("src_ip")),
            (Some("root"), Some("198.51.100.4"))
        );
        let f = fields_of(
            "useradd",
            "new user: name=backdoor, UID=0, GID=0, home=/root, shell=/bin/bash, from=/dev/pts/0",
        );
        assert_eq!(f.value("action"), Some("user_added"));
        assert_eq!(f.value("target_user"), Some("backdoor"));
        assert_eq!(f.value("target_uid"), Some("0"));
        let f = fields_of("userdel", "delete user 'backdoor'");
        assert_eq!(f.value("action"), Some("user_deleted"));
    }
}
