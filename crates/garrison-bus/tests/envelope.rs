//! Sealing and opening envelopes: what a receiver accepts, and each reason it refuses.

mod common;

use common::{TestKind, TestMessage, alert, now};
use garrison_bus::{AgentId, AgentKeys, Directory, Lineage, Rejection};

fn keys(role: &str, seed: u8) -> AgentKeys {
    AgentKeys::from_seed(AgentId::new(role, "1"), [seed; 32])
}

fn directory(detect: &AgentKeys) -> Directory<TestKind> {
    let mut directory = Directory::default();
    directory.admit(detect.public(), [TestKind::AlertRaised]);
    directory
}

#[test]
fn a_sealed_envelope_opens_with_its_lineage() {
    let detect = keys("detect", 1);
    let directory = directory(&detect);
    let first = detect.seal(alert("r1"), Lineage::start(), now()).unwrap();
    assert_eq!(first.subject, "alert.raised");
    let opened = directory.open::<TestMessage>(&first).unwrap();
    assert_eq!(opened.payload, alert("r1"));
    assert_eq!(opened.sender, AgentId::new("detect", "1"));
    assert_eq!(opened.schema_version, 2);
    assert_eq!(opened.causation_id, None);
    assert_eq!(opened.timestamp, now());

    let second = detect
        .seal(alert("r2"), Lineage::after(&opened), now())
        .unwrap();
    let answer = directory.open::<TestMessage>(&second).unwrap();
    assert_eq!(answer.causation_id, Some(opened.id));
    assert_eq!(answer.correlation_id, opened.correlation_id);
    assert!(answer.id > opened.id, "ids sort by creation");
}

#[test]
fn receivers_refuse_what_they_cannot_trust() {
    let detect = keys("detect", 1);
    let directory = directory(&detect);
    let sealed = detect.seal(alert("r1"), Lineage::start(), now()).unwrap();

    let stranger = keys("stranger", 9);
    let from_stranger = stranger.seal(alert("r1"), Lineage::start(), now()).unwrap();
    assert_eq!(
        directory.open::<TestMessage>(&from_stranger),
        Err(Rejection::UnknownSender(AgentId::new("stranger", "1")))
    );

    // A forger claiming to be detect/1 with another key.
    let forger = AgentKeys::from_seed(AgentId::new("detect", "1"), [7; 32]);
    let forged = forger.seal(alert("r1"), Lineage::start(), now()).unwrap();
    assert_eq!(
        directory.open::<TestMessage>(&forged),
        Err(Rejection::BadSignature(AgentId::new("detect", "1")))
    );

    let mut altered = sealed.clone();
    let text = String::from_utf8(altered.body.clone())
        .unwrap()
        .replace("r1", "r9");
    altered.body = text.into_bytes();
    assert!(matches!(
        directory.open::<TestMessage>(&altered),
        Err(Rejection::BadSignature(_))
    ));

    let mut rerouted = sealed.clone();
    rerouted.subject = "incident.opened".into();
    assert_eq!(
        directory.open::<TestMessage>(&rerouted),
        Err(Rejection::HeaderMismatch { field: "subject" })
    );

    // detect may raise alerts but not open incidents.
    let overreach = detect
        .seal(
            TestMessage::IncidentOpened { title: "t".into() },
            Lineage::start(),
            now(),
        )
        .unwrap();
    assert_eq!(
        directory.open::<TestMessage>(&overreach),
        Err(Rejection::NotAllowed {
            sender: AgentId::new("detect", "1"),
            subject: "incident.opened"
        })
    );
}

#[test]
fn a_partition_subject_opens_and_lookalikes_do_not() {
    let detect = keys("detect", 1);
    let directory = directory(&detect);
    let sealed = detect.seal(alert("r1"), Lineage::start(), now()).unwrap();
    let routed = sealed.clone().in_partition(3);
    assert_eq!(routed.subject, "alert.raised.3");
    assert_eq!(
        directory.open::<TestMessage>(&routed).unwrap().payload,
        alert("r1")
    );
    for subject in [
        "alert.raised.",
        "alert.raised.x",
        "alert.raisedx",
        "alert.raised.3.4",
    ] {
        let mut lookalike = sealed.clone();
        lookalike.subject = subject.into();
        assert_eq!(
            directory.open::<TestMessage>(&lookalike),
            Err(Rejection::HeaderMismatch { field: "subject" }),
            "{subject}"
        );
    }
}

#[test]
fn partitions_are_stable_and_spread() {
    // The same key lands in the same partition in every process: FNV-1a of "dc01" (computed
    // independently) is fixed.
    assert_eq!(
        garrison_bus::partition_of("dc01", 1 << 31),
        (0x7262_c767_256c_f343_u64 % (1 << 31)) as u32
    );
    let mut counts = [0u32; 4];
    for host in 0..400 {
        counts[garrison_bus::partition_of(&format!("ws{host:03}"), 4) as usize] += 1;
    }
    assert!(
        counts.iter().all(|&n| (60..=140).contains(&n)),
        "{counts:?}"
    );
    assert_eq!(garrison_bus::partition_of("anything", 1), 0);
}

#[test]
fn newer_schema_versions_are_refused_by_name() {
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Future {
        AlertRaised { rule: String },
    }
    impl garrison_bus::Message for Future {
        type Kind = TestKind;
        const SCHEMA_VERSION: u16 = 3;
        fn kind(&self) -> TestKind {
            TestKind::AlertRaised
        }
        fn subject(_: TestKind) -> &'static str {
            "alert.raised"
        }
    }
    let detect = keys("detect", 1);
    let directory = directory(&detect);
    let sealed = detect
        .seal(
            Future::AlertRaised { rule: "r".into() },
            Lineage::start(),
            now(),
        )
        .unwrap();
    assert_eq!(
        directory.open::<TestMessage>(&sealed),
        Err(Rejection::UnsupportedSchema {
            found: 3,
            supported: 2
        })
    );
}

#[test]
fn secret_keys_do_not_show_in_debug_output() {
    let detect = keys("detect", 1);
    let shown = format!("{detect:?}");
    assert!(shown.contains("detect"));
    assert!(!shown.contains(&hex_of(&[1; 32])), "{shown}");
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
