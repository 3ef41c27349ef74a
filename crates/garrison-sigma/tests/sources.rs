//! Log sources beyond Windows and Linux. Cloud: each product's rules read only its own
//! records, and the Microsoft cloud logs match field names whatever their case or envelope, in
//! detections and in correlations. Network: Zeek records read the web-proxy and DNS names
//! SigmaHQ rules use.

mod support;

use garrison_model::{RecordFormat, Timestamp};
use support::*;

fn rule(id: &str, product: &str, service: &str, detection: &str) -> String {
    format!(
        "title: {id}\nid: {id}\nname: {id}\nlevel: medium\nlogsource:\n    product: {product}\n    service: {service}\ndetection:\n{detection}\n"
    )
}

#[test]
fn each_cloud_product_reads_its_own_records() {
    let rules = rules(&[
        &rule(
            "aws",
            "aws",
            "cloudtrail",
            "    sel:\n        eventName: DeleteTrail\n    condition: sel",
        ),
        &rule(
            "okta",
            "okta",
            "okta",
            "    sel:\n        eventName: DeleteTrail\n    condition: sel",
        ),
    ]);
    let fields = [
        ("eventName", "DeleteTrail"),
        ("eventSource", "cloudtrail.amazonaws.com"),
    ];
    assert_eq!(
        matching(&rules, &event_with(RecordFormat::CloudTrail, &fields)),
        ["aws"]
    );
    assert_eq!(
        matching(&rules, &event_with(RecordFormat::Okta, &fields)),
        ["okta"]
    );
    assert!(matching(&rules, &event_with(RecordFormat::Json, &fields)).is_empty());
}

#[test]
fn microsoft_cloud_names_match_in_any_case_and_envelope() {
    let rules = rules(&[
        &rule(
            "camel",
            "azure",
            "auditlogs",
            "    sel:\n        operationName: Add member to role\n        targetResources.type: User\n    condition: sel",
        ),
        &rule(
            "message",
            "azure",
            "auditlogs",
            "    sel:\n        properties.message: Add member to role\n    condition: sel",
        ),
        &rule(
            "exact",
            "azure",
            "auditlogs",
            "    sel:\n        OperationName: Add member to role\n    condition: sel",
        ),
        &rule(
            "signin",
            "azure",
            "signinlogs",
            "    sel:\n        ResultType: 50126\n    condition: sel",
        ),
    ]);
    let audit = [
        ("OperationName", "Add member to role"),
        ("TargetResources.type", "User"),
    ];
    assert_eq!(
        matching(&rules, &event_with(RecordFormat::EntraAudit, &audit)),
        ["camel", "exact", "message"]
    );
    // Field names of other records are matched exactly, and audit rules read audit records.
    assert!(matching(&rules, &event_with(RecordFormat::Json, &audit)).is_empty());
    assert!(matching(&rules, &event_with(RecordFormat::EntraSignIn, &audit)).is_empty());
    assert_eq!(
        matching(
            &rules,
            &event_with(RecordFormat::EntraSignIn, &[("resulttype", "50126")])
        ),
        ["signin"]
    );
}

#[test]
fn correlations_group_by_names_in_any_case() {
    let failure = rule(
        "failure",
        "azure",
        "signinlogs",
        "    sel:\n        ResultType: 50126\n    condition: sel",
    );
    let spray = "title: spray\nid: spray\nlevel: high\ncorrelation:\n    type: value_count\n    rules:\n        - failure\n    group-by:\n        - IPAddress\n    timespan: 10m\n    condition:\n        field: UserPrincipalName\n        gte: 3\n";
    let rules = rules(&[&failure, spray]);
    let mut scratch = rules.scratch();
    let mut sightings = Vec::new();
    for (index, user) in ["a", "b", "c"].iter().enumerate() {
        // A Graph export names them `ipAddress` and `userPrincipalName`.
        let mut event = event_with(
            RecordFormat::EntraSignIn,
            &[
                ("ResultType", "50126"),
                ("ipAddress", "203.0.113.78"),
                ("userPrincipalName", user),
            ],
        );
        event.timestamp = Some(Timestamp::from_second(1_700_000_000 + index as i64).unwrap());
        event.evidence.record_id = index as u64 + 1;
        let mut found = Vec::new();
        rules.evaluate(&event, &mut scratch, &mut found);
        sightings.extend(found.iter().filter_map(|hit| rules.sighting(hit, &event)));
    }
    let detections = rules.correlate(&sightings);
    assert_eq!(detections.len(), 1, "{detections:?}");
    let context = detections[0].correlation.as_ref().unwrap();
    assert_eq!(
        context.group,
        [("IPAddress".to_string(), "203.0.113.78".to_string())]
    );
    assert_eq!(context.count, 3);
}

#[test]
fn zeek_reads_web_proxy_and_dns_names() {
    let rules = rules(&[
        "title: uri\nid: uri\nlevel: high\nlogsource:\n    product: zeek\n    service: http\ndetection:\n    sel:\n        c-uri|endswith: '.bin'\n        c-useragent|contains: WindowsPowerShell\n    condition: sel\n",
        "title: dns\nid: dns\nlevel: high\nlogsource:\n    category: dns\ndetection:\n    sel:\n        query|endswith: '.example.net'\n        answer: 203.0.113.45\n    condition: sel\n",
    ]);
    let http = event_with(
        RecordFormat::Zeek,
        &[
            ("_path", "http"),
            ("uri", "/updsvc.bin"),
            ("user_agent", "Mozilla/5.0 WindowsPowerShell/5.1"),
        ],
    );
    assert_eq!(matching(&rules, &http), ["uri"]);
    let dns = event_with(
        RecordFormat::Zeek,
        &[
            ("_path", "dns"),
            ("query", "cdn-update.example.net"),
            ("answers", "203.0.113.45"),
        ],
    );
    assert_eq!(matching(&rules, &dns), ["dns"]);
    // Other DNS records keep the rule's own names.
    let other = event_with(
        RecordFormat::Json,
        &[
            ("query", "cdn-update.example.net"),
            ("answer", "203.0.113.45"),
        ],
    );
    assert_eq!(matching(&rules, &other), ["dns"]);
}
