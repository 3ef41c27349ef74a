//! The prefilter must never hide a match: a rule set evaluated with it (many candidates) gives
//! exactly the matches of each rule evaluated alone (no prefilter).

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
    ])
    .prop_map(str::to_string)
}

fn value() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 0..5).prop_map(|words| words.join(""))
}

fn rule_text(index: usize, modifier: &str, field: &str, values: &[String], regex: bool) -> String {
    let quoted: Vec<String> = values
        .iter()
        .map(|v| {
            format!(
                "            - '{}'",
                v.replace('\'', "''").replace('\\', "\\\\")
            )
        })
        .collect();
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
    format!(
        "title: r{index}\nid: r{index}\nlogsource:\n    product: test\ndetection:\n    sel:\n{body}\n    condition: sel\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn prefilter_never_hides_a_match(
        specs in prop::collection::vec(
            (prop::sample::select(vec!["", "contains", "startswith", "endswith", "contains|all", "cased|contains"]),
             prop::sample::select(vec!["A", "B"]),
             prop::collection::vec(value().prop_filter("non-empty", |v| !v.is_empty()), 1..6),
             any::<bool>()),
            6..14),
        events in prop::collection::vec((value(), value()), 1..8),
    ) {
        let texts: Vec<String> = specs
            .iter()
            .enumerate()
            .map(|(i, (modifier, field, values, regex))| rule_text(i, modifier, field, values, *regex))
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let all = rules(&refs);
        prop_assert!(all.errors().is_empty(), "{:?}", all.errors());
        let singles: Vec<_> = refs.iter().map(|text| rules(&[text])).collect();
        for (a, b) in &events {
            let event = event(&[("A", a), ("B", b)]);
            let together = matching(&all, &event);
            let mut alone: Vec<String> = singles.iter().flat_map(|set| matching(set, &event)).collect();
            alone.sort();
            prop_assert_eq!(together, alone, "event A={:?} B={:?}", a, b);
        }
    }
}
