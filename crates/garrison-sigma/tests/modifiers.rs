//! Every value modifier, wildcard and condition form of the Sigma specification, checked with
//! matching and non-matching events.

mod support;

use base64::Engine;
use garrison_sigma::{CompileOptions, RuleErrorKind};
use std::collections::HashMap;
use support::*;

/// An event's (name, value) pairs.
type Fields<'a> = &'a [(&'a str, &'a str)];

/// Compiles `detection` and checks each (fields, expected) case.
fn check(detection: &str, cases: &[(&[(&str, &str)], bool)]) {
    let rules = rules(&[&generic_rule(detection)]);
    assert!(
        rules.errors().is_empty(),
        "{detection}\n{:?}",
        rules.errors()
    );
    assert_eq!(rules.stats().rules, 1);
    for (fields, expected) in cases {
        let hit = !matching(&rules, &event(fields)).is_empty();
        assert_eq!(hit, *expected, "detection:\n{detection}\nevent: {fields:?}");
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|unit| unit.to_le_bytes())
        .collect()
}

#[test]
fn plain_values_are_case_insensitive_and_exact() {
    check(
        "    sel:\n        Image: 'C:\\Windows\\System32\\cmd.exe'\n    condition: sel",
        &[
            (&[("Image", "c:\\windows\\system32\\CMD.EXE")], true),
            (&[("Image", "C:\\Windows\\System32\\cmd.exe2")], false),
            (&[("Other", "C:\\Windows\\System32\\cmd.exe")], false),
        ],
    );
}

#[test]
fn contains_startswith_endswith_and_lists() {
    check(
        "    sel:\n        CommandLine|contains:\n            - 'mimikatz'\n            - 'sekurlsa'\n        Image|endswith: '\\rundll32.exe'\n        User|startswith: 'NT AUTHORITY'\n    condition: sel",
        &[
            (
                &[
                    ("CommandLine", "x SekurLSA::logonpasswords"),
                    ("Image", "C:\\W\\RUNDLL32.exe"),
                    ("User", "nt authority\\system"),
                ],
                true,
            ),
            (
                &[
                    ("CommandLine", "harmless"),
                    ("Image", "C:\\W\\rundll32.exe"),
                    ("User", "NT AUTHORITY\\SYSTEM"),
                ],
                false,
            ),
            (
                &[
                    ("CommandLine", "mimikatz"),
                    ("Image", "C:\\W\\rundll32.exe.bak"),
                    ("User", "NT AUTHORITY\\SYSTEM"),
                ],
                false,
            ),
        ],
    );
}

#[test]
fn all_requires_every_value() {
    check(
        "    sel:\n        CommandLine|contains|all:\n            - ' -w hidden'\n            - ' -enc '\n    condition: sel",
        &[
            (&[("CommandLine", "powershell -W Hidden -Enc AAAA")], true),
            (&[("CommandLine", "powershell -w hidden")], false),
        ],
    );
}

#[test]
fn many_contains_values_group_into_one_automaton() {
    let values: Vec<String> = (0..40)
        .map(|i| format!("            - 'needle{i:02}x'"))
        .collect();
    let detection = format!(
        "    sel:\n        CommandLine|contains:\n{}\n    condition: sel",
        values.join("\n")
    );
    check(
        &detection,
        &[
            (&[("CommandLine", "aaa NEEDLE17X bbb")], true),
            (&[("CommandLine", "needle17")], false),
            (&[("CommandLine", "needle40x")], false),
        ],
    );
}

#[test]
fn wildcards_and_escapes() {
    check(
        "    sel:\n        Image: 'C:\\Users\\\\*\\AppData\\\\*.exe'\n        Name: 'prog?.exe'\n        Literal: 'a\\*b'\n    condition: sel",
        &[
            (
                &[
                    ("Image", "c:\\users\\bob\\appdata\\x\\evil.EXE"),
                    ("Name", "prog1.exe"),
                    ("Literal", "a*b"),
                ],
                true,
            ),
            (
                &[
                    ("Image", "c:\\users\\bob\\appdata\\x\\evil.EXE"),
                    ("Name", "prog12.exe"),
                    ("Literal", "a*b"),
                ],
                false,
            ),
            (
                &[
                    ("Image", "c:\\users\\bob\\appdata\\x\\evil.EXE"),
                    ("Name", "prog1.exe"),
                    ("Literal", "axb"),
                ],
                false,
            ),
            (
                &[
                    ("Image", "c:\\users\\bob\\desktop\\evil.exe"),
                    ("Name", "prog1.exe"),
                    ("Literal", "a*b"),
                ],
                false,
            ),
        ],
    );
}

#[test]
fn regular_expressions_and_their_flags() {
    check(
        "    sel:\n        CommandLine|re: 'Invoke-[A-Z]\\w+'\n    condition: sel",
        &[
            (&[("CommandLine", "x Invoke-Mimikatz")], true),
            (&[("CommandLine", "x invoke-mimikatz")], false),
        ],
    );
    check(
        "    sel:\n        CommandLine|re|i: 'invoke-[a-z]+'\n    condition: sel",
        &[
            (&[("CommandLine", "INVOKE-EXPRESSION")], true),
            (&[("CommandLine", "invoke")], false),
        ],
    );
    check(
        "    sel:\n        Script|re|m: '^Set-MpPreference'\n    condition: sel",
        &[
            (&[("Script", "line one\nSet-MpPreference -x")], true),
            (&[("Script", "x Set-MpPreference")], false),
        ],
    );
    check(
        "    sel:\n        Script|re|s: 'begin.end'\n    condition: sel",
        &[
            (&[("Script", "begin\nend")], true),
            (&[("Script", "begin\n\nend")], false),
        ],
    );
}

#[test]
fn base64_encodings() {
    check(
        "    sel:\n        Data|base64: 'cmd.exe /c'\n    condition: sel",
        &[
            (&[("Data", &b64(b"cmd.exe /c"))], true),
            (&[("Data", &b64(b"CMD.EXE /c"))], false),
        ],
    );
    let needle = "Invoke-Mimikatz";
    let cases: Vec<(String, bool)> = ["", "a", "ab", "abc"]
        .iter()
        .map(|prefix| (b64(format!("{prefix}{needle} -DumpCreds").as_bytes()), true))
        .chain([(b64(b"Invoke-Something else"), false)])
        .collect();
    let rules = rules(&[&generic_rule(
        "    sel:\n        CommandLine|base64offset|contains: 'Invoke-Mimikatz'\n    condition: sel",
    )]);
    for (encoded, expected) in &cases {
        let text = format!("powershell -enc {encoded}");
        assert_eq!(
            !matching(&rules, &event(&[("CommandLine", &text)])).is_empty(),
            *expected,
            "{text}"
        );
    }
    for prefix in ["", "x", "xy"] {
        let encoded = b64(&utf16le(&format!("{prefix}IEX (New-Object Net.WebClient)")));
        check(
            "    sel:\n        CommandLine|wide|base64offset|contains: 'New-Object Net.WebClient'\n    condition: sel",
            &[
                (
                    &[("CommandLine", &format!("powershell -e {encoded}"))],
                    true,
                ),
                (&[("CommandLine", &b64(b"New-Object Net.WebClient"))], false),
            ],
        );
    }
    let big_endian: Vec<u8> = "whoami"
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    check(
        "    sel:\n        Data|utf16be|base64: 'whoami'\n    condition: sel",
        &[
            (&[("Data", &b64(&big_endian))], true),
            (&[("Data", &b64(&utf16le("whoami")))], false),
        ],
    );
    let mut with_bom = vec![0xFF, 0xFE];
    with_bom.extend(utf16le("whoami"));
    check(
        "    sel:\n        Data|utf16|base64: 'whoami'\n    condition: sel",
        &[(&[("Data", &b64(&with_bom))], true)],
    );
}

#[test]
fn windash_covers_every_dash() {
    check(
        "    sel:\n        CommandLine|contains|windash: ' -encodedcommand '\n    condition: sel",
        &[
            (&[("CommandLine", "powershell -EncodedCommand AAA")], true),
            (&[("CommandLine", "powershell /encodedcommand AAA")], true),
            (
                &[("CommandLine", "powershell \u{2013}encodedcommand AAA")],
                true,
            ),
            (
                &[("CommandLine", "powershell \u{2014}encodedcommand AAA")],
                true,
            ),
            (
                &[("CommandLine", "powershell \u{2015}encodedcommand AAA")],
                true,
            ),
            (&[("CommandLine", "powershell encodedcommand AAA")], false),
        ],
    );
}

#[test]
fn cidr_for_both_families() {
    check(
        "    sel:\n        DestinationIp|cidr:\n            - '10.0.0.0/8'\n            - '2001:db8::/32'\n    condition: sel",
        &[
            (&[("DestinationIp", "10.20.30.40")], true),
            (&[("DestinationIp", "2001:db8::1")], true),
            (&[("DestinationIp", "::ffff:10.1.1.1")], true),
            (&[("DestinationIp", "11.0.0.1")], false),
            (&[("DestinationIp", "not an ip")], false),
        ],
    );
}

#[test]
fn exists_and_null_and_empty() {
    check(
        "    sel:\n        Signed|exists: true\n        Parent|exists: false\n    condition: sel",
        &[
            (&[("Signed", "")], true),
            (&[("Signed", "true"), ("Parent", "x")], false),
            (&[("Other", "x")], false),
        ],
    );
    check(
        "    sel:\n        PasswordLastSet: null\n    condition: sel",
        &[
            (&[("Other", "x")], true),
            (&[("PasswordLastSet", "")], true),
            (&[("PasswordLastSet", "2024")], false),
        ],
    );
    check(
        "    sel:\n        Description: ''\n    condition: sel",
        &[
            (&[("Description", "")], true),
            (&[("Description", "x")], false),
            (&[("Other", "")], false),
        ],
    );
}

#[test]
fn field_references() {
    check(
        "    sel:\n        TargetUserName|fieldref: SubjectUserName\n    condition: sel",
        &[
            (
                &[("TargetUserName", "Alice"), ("SubjectUserName", "alice")],
                true,
            ),
            (
                &[("TargetUserName", "alice"), ("SubjectUserName", "bob")],
                false,
            ),
            (&[("TargetUserName", "alice")], false),
        ],
    );
    check(
        "    sel:\n        CommandLine|fieldref|contains: Image\n    condition: sel",
        &[
            (
                &[("CommandLine", "\"C:\\x.exe\" -a"), ("Image", "c:\\X.exe")],
                true,
            ),
            (&[("CommandLine", "y"), ("Image", "x")], false),
        ],
    );
    check(
        "    sel:\n        TargetUserName|fieldref|neq: SubjectUserName\n    condition: sel",
        &[
            (
                &[("TargetUserName", "alice"), ("SubjectUserName", "bob")],
                true,
            ),
            (
                &[("TargetUserName", "bob"), ("SubjectUserName", "bob")],
                false,
            ),
        ],
    );
}

#[test]
fn numeric_comparisons_and_neq() {
    check(
        "    sel:\n        Size|gt: 1000\n        Count|lte: 5\n        Mask|gte: 16\n        Low|lt: 2\n    condition: sel",
        &[
            (
                &[
                    ("Size", "1001"),
                    ("Count", "5"),
                    ("Mask", "0x10"),
                    ("Low", "1.5"),
                ],
                true,
            ),
            (
                &[
                    ("Size", "1000"),
                    ("Count", "5"),
                    ("Mask", "0x10"),
                    ("Low", "1"),
                ],
                false,
            ),
            (
                &[
                    ("Size", "2000"),
                    ("Count", "6"),
                    ("Mask", "0x10"),
                    ("Low", "1"),
                ],
                false,
            ),
            (
                &[
                    ("Size", "big"),
                    ("Count", "1"),
                    ("Mask", "0x10"),
                    ("Low", "1"),
                ],
                false,
            ),
        ],
    );
    check(
        "    sel:\n        Status|neq:\n            - 'ok'\n            - 'skipped'\n    condition: sel",
        &[
            (&[("Status", "failed")], true),
            (&[("Status", "OK")], false),
            (&[("Status", "skipped")], false),
            (&[("Other", "x")], false),
        ],
    );
}

#[test]
fn time_parts() {
    check(
        "    sel:\n        UtcTime|hour|gte: 22\n    condition: sel",
        &[
            (&[("UtcTime", "2024-05-01 23:10:00.000")], true),
            (&[("UtcTime", "2024-05-01T09:10:00Z")], false),
        ],
    );
    check(
        "    sel:\n        Time|month: 12\n        Time|year: 2024\n    condition: sel",
        &[
            (&[("Time", "2024-12-24T10:00:00Z")], true),
            (&[("Time", "2023-12-24T10:00:00Z")], false),
        ],
    );
}

#[test]
fn placeholders_expand_when_configured_and_fail_otherwise() {
    let detection = generic_rule(
        "    sel:\n        Computer|expand: '%DomainControllers%'\n    condition: sel",
    );
    let mut placeholders = HashMap::new();
    placeholders.insert(
        "DomainControllers".to_string(),
        vec!["DC01".to_string(), "DC0?.corp".to_string()],
    );
    let options = CompileOptions {
        placeholders,
        ..CompileOptions::default()
    };
    let rules = rules_with(&[&detection], &options);
    assert!(rules.errors().is_empty());
    assert!(!matching(&rules, &event(&[("Computer", "dc01")])).is_empty());
    assert!(!matching(&rules, &event(&[("Computer", "DC02.corp")])).is_empty());
    assert!(matching(&rules, &event(&[("Computer", "WS01")])).is_empty());
    let unconfigured = support::rules(&[&detection]);
    assert_eq!(unconfigured.stats().rules, 0);
    assert_eq!(unconfigured.errors()[0].kind, RuleErrorKind::Placeholder);
    assert!(
        unconfigured.errors()[0]
            .reason
            .contains("DomainControllers")
    );
}

#[test]
fn cased_matches_case_sensitively() {
    check(
        "    sel:\n        CommandLine|cased|contains: 'Invoke-Mimikatz'\n    condition: sel",
        &[
            (&[("CommandLine", "x Invoke-Mimikatz")], true),
            (&[("CommandLine", "x invoke-mimikatz")], false),
        ],
    );
}

#[test]
fn numbers_booleans_and_repeated_fields() {
    check(
        "    sel:\n        EventID: 4624\n        Elevated: true\n        Data: 'needle'\n    condition: sel",
        &[
            (
                &[
                    ("EventID", "4624"),
                    ("Elevated", "True"),
                    ("Data", "hay"),
                    ("Data", "needle"),
                ],
                true,
            ),
            (
                &[
                    ("EventID", "46240"),
                    ("Elevated", "true"),
                    ("Data", "needle"),
                ],
                false,
            ),
        ],
    );
}

#[test]
fn keyword_searches() {
    check(
        "    keywords:\n        - 'event::clear'\n        - 'lsadump'\n    condition: keywords",
        &[
            (&[("Payload", "mimikatz # event::clear")], true),
            (&[("A", "x"), ("B", "LSADUMP::sam")], true),
            (&[("Payload", "nothing here")], false),
        ],
    );
    check(
        "    keywords:\n        '|all':\n            - 'OabVirtualDirectory'\n            - ' -ExternalUrl '\n    condition: keywords",
        &[
            (
                &[
                    ("A", "Set-OabVirtualDirectory x"),
                    ("B", "y -ExternalUrl http"),
                ],
                true,
            ),
            (&[("A", "Set-OabVirtualDirectory x")], false),
        ],
    );
}

#[test]
fn condition_forms() {
    let detection = "    selection_a:\n        A: '1'\n    selection_b:\n        B: '1'\n    filter_x:\n        X: '1'\n    _hidden:\n        H: '1'";
    let cases: &[(&str, Fields, bool)] = &[
        ("1 of selection_* and not filter_x", &[("A", "1")], true),
        (
            "1 of selection_* and not filter_x",
            &[("A", "1"), ("X", "1")],
            false,
        ),
        ("all of selection_*", &[("A", "1")], false),
        ("all of selection_*", &[("A", "1"), ("B", "1")], true),
        ("all of them", &[("A", "1"), ("B", "1"), ("X", "1")], true),
        ("1 of them", &[("H", "1")], false),
        ("2 of selection_* or _hidden", &[("H", "1")], true),
        ("2 of selection_*", &[("A", "1")], false),
        ("not (selection_a or selection_b)", &[("C", "1")], true),
        (
            "selection_a and (selection_b or not filter_x)",
            &[("A", "1"), ("X", "1")],
            false,
        ),
    ];
    for (condition, fields, expected) in cases {
        check(
            &format!("{detection}\n    condition: {condition}"),
            &[(fields, *expected)],
        );
    }
    check(
        "    a:\n        A: '1'\n    b:\n        B: '1'\n    condition:\n        - a\n        - b",
        &[(&[("B", "1")], true), (&[("C", "1")], false)],
    );
}

#[test]
fn invalid_rules_are_listed_with_reasons() {
    let cases = [
        (
            "    sel:\n        A|re: '('\n    condition: sel",
            RuleErrorKind::Regex,
        ),
        (
            "    sel:\n        A|cidr: 'nope'\n    condition: sel",
            RuleErrorKind::Modifier,
        ),
        (
            "    sel:\n        A|contains|startswith: 'x'\n    condition: sel",
            RuleErrorKind::Modifier,
        ),
        (
            "    sel:\n        A|wide: 'x'\n    condition: sel",
            RuleErrorKind::Modifier,
        ),
        (
            "    sel:\n        A|base64: 'x*'\n    condition: sel",
            RuleErrorKind::Modifier,
        ),
        (
            "    sel:\n        A|gt: 'many'\n    condition: sel",
            RuleErrorKind::Modifier,
        ),
        (
            "    sel:\n        A|exists: 'maybe'\n    condition: sel",
            RuleErrorKind::Modifier,
        ),
        (
            "    sel:\n        A: 1\n    condition: other",
            RuleErrorKind::Condition,
        ),
        (
            "    sel:\n        A: 1\n    condition: 1 of filter*",
            RuleErrorKind::Condition,
        ),
    ];
    for (detection, kind) in cases {
        let rules = rules(&[&generic_rule(detection)]);
        assert_eq!(rules.stats().rules, 0, "{detection}");
        assert_eq!(rules.errors().len(), 1, "{detection}");
        assert_eq!(
            rules.errors()[0].kind,
            kind,
            "{detection}: {}",
            rules.errors()[0]
        );
        assert_eq!(rules.errors()[0].path, "rule0.yml");
    }
}
