//! The prefilter must never hide a match: a rule set evaluated with it gives exactly the matches
//! of evaluating every candidate's expression.

mod support;

use proptest::prelude::*;
use support::*;

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "cmd",
        "Power",
        "shell",
        "-enc",
        "\\temp\\",
        "ÄRGER",
        "σίσυφος",
        "lsass",
        ".exe",
        "x",
        "/c",
        "ab",
        // Longer than the prefilter keeps of a literal.
        "c:\\program files\\windowsapps\\",
        "ünïcödé-lönger-than-sixteen",
    ])
    .prop_map(str::to_string)
}

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 0..5).prop_map(|words| words.join(""))
}

fn rule_text(
    index: usize,
    modifier: &str,
    field: &str,
    values: &[String],
    regex: bool,
    extra: &Option<String>,
) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| {
            format!(
                "            - '{}'",
                v.replace('\'', "''").replace('\\', "\\\\")
            )
        })
        .collect();
    if field == "K" {
        // A keyword search over every value.
        return format!(
            "title: r{index}\nid: r{index}\nlogsource:\n    product: test\ndetection:\n    keywords:\n{}\n    condition: keywords\n",
            quoted.join("\n")
        );
    }
    let key = if regex {
        format!("{field}|re")
    } else if modifier.is_empty() {
        field.to_string()
    } else {
        format!("{field}|{modifier}")
    };
    let body = if regex {
        format!(
            "        {key}: '{}'",
            regex::escape(&values[0]).replace('\'', "''")
        )
    } else {
        format!("        {key}:\n{}", quoted.join("\n"))
    };
    // An optional second selection on the other field makes a conjunction of literal sets.
    let (other, condition) = match extra {
        Some(value) => (
            format!(
                "\n    other:\n        {}|contains: '{}'",
                if field == "A" { "B" } else { "A" },
                value.replace('\'', "''").replace('\\', "\\\\")
            ),
            "sel and other",
        ),
        None => (String::new(), "sel"),
    };
    format!(
        "title: r{index}\nid: r{index}\nlogsource:\n    product: test\ndetection:\n    sel:\n{body}{other}\n    condition: {condition}\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn prefilter_never_hides_a_match(
        specs in prop::collection::vec(
            (prop::sample::select(vec!["", "contains", "startswith", "endswith", "contains|all", "cased|contains"]),
             prop::sample::select(vec!["A", "B", "K"]),
             prop::collection::vec(value().prop_filter("non-empty", |v| !v.is_empty()), 1..6),
             any::<bool>(),
             prop::option::of(value().prop_filter("non-empty", |v| !v.is_empty()))),
            1..14),
        events in prop::collection::vec((value(), value()), 1..8),
    ) {
        let texts: Vec<String> = specs
            .iter()
            .enumerate()
            .map(|(i, (modifier, field, values, regex, extra))| rule_text(i, modifier, field, values, *regex, extra))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let all = rules(&refs);
        prop_assert!(all.errors().is_empty(), "{:?}", all.errors());
        // One scratch for every event, twice over: the per-thread scan cache must give the same
        // answers as a fresh scan.
        let mut scratch = all.scratch();
        for (a, b) in events.iter().chain(events.iter()) {
            let event = event(&[("A", a), ("B", b)]);
            let mut found = Vec::new();
            all.evaluate(&event, &mut scratch, &mut found);
            let mut ids: Vec<String> = found.iter().map(|m| all.rule(m.rule).id.clone()).collect();
            ids.sort();
            prop_assert_eq!(&ids, &matching_unfiltered(&all, &event), "event A={:?} B={:?}", a, b);
            prop_assert_eq!(ids, matching(&all, &event));
        }
    }
}

/// Regression guard for the per-thread scan cache: the same values seen again must give the
/// same matches.
#[test]
fn repeated_values_match_again() {
    let rule = "title: r\nid: r\nlogsource:\n    product: test\ndetection:\n    sel:\n        A|contains: 'mimikatz'\n    other:\n        B|endswith: '.exe'\n    condition: sel and other\n";
    let all = rules(&[rule]);
    let mut scratch = all.scratch();
    for round in 0..3 {
        let hit = event(&[("A", "run MimiKatz now"), ("B", "c:\\x.EXE")]);
        let miss = event(&[("A", "run MimiKatz now"), ("B", "c:\\x.dll")]);
        let mut found = Vec::new();
        all.evaluate(&hit, &mut scratch, &mut found);
        assert_eq!(found.len(), 1, "round {round}");
        found.clear();
        all.evaluate(&miss, &mut scratch, &mut found);
        assert!(found.is_empty(), "round {round}");
    }
}
