//! `garrison user` and `garrison token`: users added with a password from standard input
//! (kept as an Argon2id hash), tokens printed once (kept as a digest), bounded by their user's
//! role, revoked, and every change in the audit log.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the garrison binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn users_and_tokens_are_made_listed_revoked_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let password = "lantern-orbit-97-quay";
    let add = |name: &str, role: &str, password: &str| {
        run(
            &[
                "user", "add", name, "--role", role, "--state", state, "--as", "root",
            ],
            &format!("{password}\n"),
        )
    };
    let (code, _, stderr) = add("ana", "responder", password);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("user ana (responder) added"), "{stderr}");
    let (code, _, stderr) = add("ana", "admin", password);
    assert_eq!(code, 2, "a name is taken once: {stderr}");
    assert!(stderr.contains("user ana exists already"), "{stderr}");
    let (code, _, stderr) = add("bob", "viewer", "short");
    assert_eq!(code, 2);
    assert!(stderr.contains("too short"), "{stderr}");
    let (code, _, stderr) = add("bob smith", "viewer", password);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = add("bob", "root", password);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown role"), "{stderr}");

    // The password is nowhere in the store, its hash is.
    let mut database = std::fs::read(dir.path().join("garrison.sqlite3")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("garrison.sqlite3-wal")) {
        database.extend(wal);
    }
    let contains = |needle: &[u8]| database.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(password.as_bytes()));
    assert!(contains(b"$argon2id$v=19$"));

    let (code, users, _) = run(&["user", "list", "--state", state, "--format", "json"], "");
    assert_eq!(code, 0);
    let users: serde_json::Value = serde_json::from_str(&users).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["name"], "ana");
    assert_eq!(users[0]["role"], "responder");
    assert!(users[0].get("password_hash").is_none());

    let create = |extra: &[&str]| {
        let mut args = vec!["token", "create", "--user", "ana", "--state", state];
        args.extend_from_slice(extra);
        run(&args, "")
    };
    let (code, token, stderr) = create(&["--role", "analyst", "--label", "SOAR"]);
    assert_eq!(code, 0, "{stderr}");
    let token = token.trim().to_string();
    assert!(token.starts_with("gar_"), "{token}");
    let id = token[4..20].to_string();
    assert!(
        stderr.contains(&format!("token {id} for ana (analyst) created")),
        "{stderr}"
    );
    let (code, _, stderr) = create(&["--role", "admin"]);
    assert_eq!(code, 2, "no token does more than its user: {stderr}");
    let (code, _, stderr) = run(
        &["token", "create", "--user", "nobody", "--state", state],
        "",
    );
    assert_eq!(code, 2, "{stderr}");

    let (code, list, _) = run(&["token", "list", "--state", state, "--format", "json"], "");
    assert_eq!(code, 0);
    let secret = &token[21..];
    assert!(!list.contains(secret), "the secret is shown once only");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["role"], "analyst");
    assert_eq!(list[0]["label"], "SOAR");
    assert!(list[0]["revoked"].is_null());

    let (code, _, stderr) = run(&["token", "revoke", &id, "--state", state], "");
    assert_eq!(code, 0, "{stderr}");
    let (code, _, _) = run(&["token", "revoke", &id, "--state", state], "");
    assert_eq!(code, 2, "revoked once");
    let (_, list, _) = run(&["token", "list", "--state", state, "--format", "json"], "");
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert!(list[0]["revoked"].is_string(), "{list}");

    // Every change is in the audit log, which is intact: the user, the token, the revocation.
    let (code, stdout, stderr) = run(&["audit", "verify", "--state", state], "");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("3 entries"), "{stdout}");
}
