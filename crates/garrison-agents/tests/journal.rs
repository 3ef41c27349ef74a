//! A stateful agent whose handled messages are journaled: a fresh instance (a restart, another
//! process taking over) rebuilds its state by handling them again without answering twice, and
//! a redelivered message the journal holds is skipped.

use garrison_agents::{Agent, AgentError, AgentSpec, Clock, Context, RuntimeBuilder};
use garrison_bus::{Bus, Envelope, EnvelopeId, InProcessBus, KeyRing, Lineage, Message};
use garrison_store::{Journal, JournalEntry, SqliteStore, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Msg {
    Number { n: u64 },
    Total { total: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Number,
    Total,
}

impl Message for Msg {
    type Kind = Kind;
    const SCHEMA_VERSION: u16 = 1;
    fn kind(&self) -> Kind {
        match self {
            Msg::Number { .. } => Kind::Number,
            Msg::Total { .. } => Kind::Total,
        }
    }
    fn subject(kind: Kind) -> &'static str {
        match kind {
            Kind::Number => "number.raised",
            Kind::Total => "total.updated",
        }
    }
}

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        "2026-12-03T02:00:00Z".parse().unwrap()
    }
}

/// Journal entries by role, and checkpoints, in memory.
#[derive(Default)]
struct MemoryJournal {
    entries: Mutex<Vec<(String, JournalEntry)>>,
    checkpoints: Mutex<std::collections::HashMap<String, (u64, Vec<u8>)>>,
}

impl Journal for MemoryJournal {
    fn checkpoint(&self, role: &str, state: &[u8]) -> Result<u64, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        let mut position = 0;
        for (index, (r, entry)) in entries.iter_mut().enumerate() {
            if r == role {
                position = index as u64 + 1;
                entry.body.clear();
                entry.signature.clear();
            }
        }
        self.checkpoints
            .lock()
            .unwrap()
            .insert(role.to_string(), (position, state.to_vec()));
        Ok(position)
    }
    fn latest_checkpoint(&self, role: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self.checkpoints.lock().unwrap().get(role).cloned())
    }
    fn record(&self, role: &str, entry: &JournalEntry) -> Result<bool, StoreError> {
        let mut entries = self.entries.lock().unwrap();
        if entries.iter().any(|(r, e)| r == role && e.id == entry.id) {
            return Ok(false);
        }
        entries.push((role.to_string(), entry.clone()));
        Ok(true)
    }
    fn handled(&self, role: &str, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .entries
            .lock()
            .unwrap()
            .iter()
            .any(|(r, e)| r == role && e.id == id))
    }
    fn entries(
        &self,
        role: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, JournalEntry)>, StoreError> {
        Ok(self
            .entries
            .lock()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, entry)| (i as u64 + 1, entry))
            .filter(|(position, (r, _))| r == role && *position > after)
            .take(limit)
            .map(|(position, (_, entry))| (position, entry.clone()))
            .collect())
    }
}

/// Sums numbers; answers each with the running total. Saves its total when `checkpoints`.
/// How long the summer may hold a message before it is delivered again.
const SUMMER_ACK_WAIT: Duration = Duration::from_secs(1);
/// Numbers from this one on take the summer long to add.
const SLOW: u64 = 1_000;

struct Summer {
    total: u64,
    replayed: Arc<AtomicUsize>,
    checkpoints: bool,
    /// Answers only once nothing more is queued (or on its tick), as investigation does.
    defers: bool,
    /// Added since the total was last answered.
    pending: bool,
}

impl Agent<Msg> for Summer {
    fn checkpoint(&self) -> Option<Vec<u8>> {
        self.checkpoints
            .then(|| self.total.to_string().into_bytes())
    }
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        self.total = std::str::from_utf8(state)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or("not a total")?;
        Ok(())
    }

    async fn handle(
        &mut self,
        envelope: &Envelope<Msg>,
        context: &Context,
    ) -> Result<Vec<Msg>, AgentError> {
        let Msg::Number { n } = envelope.payload else {
            return Err(AgentError::Permanent("numbers only".into()));
        };
        if context.replaying {
            self.replayed.fetch_add(1, Ordering::SeqCst);
        }
        if n >= SLOW {
            // A slow one: longer than two ack waits.
            tokio::time::sleep(SUMMER_ACK_WAIT * 5 / 2).await;
        }
        self.total += n;
        self.pending = self.defers && context.backlog > 0;
        Ok(match self.pending {
            true => Vec::new(),
            false => vec![Msg::Total { total: self.total }],
        })
    }

    async fn tick(&mut self, _: &Context) -> Result<Vec<Msg>, AgentError> {
        Ok(match std::mem::take(&mut self.pending) {
            true => vec![Msg::Total { total: self.total }],
            false => Vec::new(),
        })
    }
}

/// Collects totals.
struct Collect(Arc<Mutex<Vec<u64>>>);

impl Agent<Msg> for Collect {
    async fn handle(
        &mut self,
        envelope: &Envelope<Msg>,
        _: &Context,
    ) -> Result<Vec<Msg>, AgentError> {
        if let Msg::Total { total } = envelope.payload {
            self.0.lock().unwrap().push(total);
        }
        Ok(Vec::new())
    }
}

struct Run {
    bus: InProcessBus,
    runtime: garrison_agents::Runtime,
    source: garrison_agents::Publisher<InProcessBus, Msg>,
    totals: Arc<Mutex<Vec<u64>>>,
    replayed: Arc<AtomicUsize>,
}

/// How the summer runs besides its journal.
#[derive(Default, Clone, Copy)]
struct Summing {
    /// Saves its state every this many messages (0: never).
    checkpoint_every: u64,
    /// Holds its answer back while more is queued, answering on its tick.
    defers: bool,
}

async fn start(ring: Arc<KeyRing>, journal: Arc<MemoryJournal>, audit: Arc<SqliteStore>) -> Run {
    start_summing(ring, journal, audit, Summing::default()).await
}

/// As [`start`], the summer saving its state every `checkpoint_every` messages (0: never).
async fn start_saving(
    ring: Arc<KeyRing>,
    journal: Arc<MemoryJournal>,
    audit: Arc<SqliteStore>,
    checkpoint_every: u64,
) -> Run {
    let summing = Summing {
        checkpoint_every,
        ..Summing::default()
    };
    start_summing(ring, journal, audit, summing).await
}

async fn start_summing(
    ring: Arc<KeyRing>,
    journal: Arc<MemoryJournal>,
    audit: Arc<SqliteStore>,
    summing: Summing,
) -> Run {
    let Summing {
        checkpoint_every,
        defers,
    } = summing;
    let bus = InProcessBus::new();
    let mut builder = RuntimeBuilder::<_, Msg>::new(bus.clone(), audit, Arc::new(FixedClock))
        .with_key_ring(ring, "test")
        .with_journal(journal);
    let source = builder.publisher("source", [Kind::Number]).unwrap();
    let replayed = Arc::new(AtomicUsize::new(0));
    let counter = replayed.clone();
    builder
        .agent(
            AgentSpec {
                stateful: true,
                checkpoint_every,
                ack_wait: Some(SUMMER_ACK_WAIT),
                tick: defers.then_some(Duration::from_millis(20)),
                ..AgentSpec::new("summer", vec![Kind::Number], vec![Kind::Total])
            },
            move || Summer {
                total: 0,
                replayed: counter.clone(),
                checkpoints: checkpoint_every > 0,
                defers,
                pending: false,
            },
        )
        .unwrap();
    let totals = Arc::new(Mutex::new(Vec::new()));
    let sink = totals.clone();
    builder
        .agent(
            AgentSpec::new("collect", vec![Kind::Total], vec![]),
            move || Collect(sink.clone()),
        )
        .unwrap();
    let runtime = builder.start().await.unwrap();
    Run {
        bus,
        runtime,
        source,
        totals,
        replayed,
    }
}

/// Role keys, an audit log and an empty journal, in a folder dropped with the first.
fn fixture() -> (
    tempfile::TempDir,
    Arc<KeyRing>,
    Arc<SqliteStore>,
    Arc<MemoryJournal>,
) {
    let dir = tempfile::tempdir().unwrap();
    KeyRing::init(dir.path(), &["source", "summer", "collect"]).unwrap();
    let ring = Arc::new(KeyRing::load(dir.path(), &["source", "summer", "collect"]).unwrap());
    let audit = Arc::new(SqliteStore::open(dir.path()).unwrap());
    (dir, ring, audit, Arc::new(MemoryJournal::default()))
}

/// Raises `numbers`, one message each; their ids.
async fn publish(run: &Run, numbers: &[u64]) -> Vec<EnvelopeId> {
    let mut ids = Vec::new();
    for &n in numbers {
        ids.extend(
            run.source
                .publish(Msg::Number { n }, Lineage::start())
                .await
                .unwrap(),
        );
    }
    ids
}

/// The message `id` raising `n`, sent again by the source.
fn resent(ring: &KeyRing, id: EnvelopeId, n: u64) -> garrison_bus::SignedEnvelope {
    ring.keys("source", "test-1")
        .unwrap()
        .seal_as(id, Msg::Number { n }, Lineage::start(), FixedClock.now())
        .unwrap()
}

async fn totals_reach(run: &Run, count: usize) -> Vec<u64> {
    for _ in 0..500 {
        if run.totals.lock().unwrap().len() >= count && run.bus.is_idle() {
            return run.totals.lock().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("totals: {:?}", run.totals.lock().unwrap());
}

#[tokio::test]
async fn a_fresh_instance_rebuilds_its_state_from_the_journal_and_skips_what_it_holds() {
    let (_dir, ring, audit, journal) = fixture();

    let first = start(ring.clone(), journal.clone(), audit.clone()).await;
    let ids = publish(&first, &[1, 2, 3]).await;
    assert_eq!(totals_reach(&first, 3).await, [1, 3, 6]);
    assert_eq!(journal.entries("summer", 0, 10).unwrap().len(), 3);
    assert!(
        journal.entries("collect", 0, 10).unwrap().is_empty(),
        "stateless: no journal"
    );
    first.runtime.shutdown().await;

    // A new process: the summer is rebuilt from the journal (answering nothing while it is),
    // then carries on from 6.
    let second = start(ring.clone(), journal.clone(), audit).await;
    second
        .source
        .publish(Msg::Number { n: 4 }, Lineage::start())
        .await
        .unwrap();
    assert_eq!(totals_reach(&second, 1).await, [10]);
    assert_eq!(second.replayed.load(Ordering::SeqCst), 3);

    // A message handled before comes again (a redelivery the old process never acked): the
    // journal knows it, so it is not added twice.
    second.bus.publish(resent(&ring, ids[1], 2)).await.unwrap();
    second
        .source
        .publish(Msg::Number { n: 5 }, Lineage::start())
        .await
        .unwrap();
    assert_eq!(totals_reach(&second, 2).await, [10, 15]);
    let stats = second.runtime.shutdown().await;
    assert_eq!(stats.agents["summer"].duplicates, 1);
}

#[tokio::test]
async fn a_checkpoint_spares_the_replay_of_what_it_holds() {
    let (_dir, ring, audit, journal) = fixture();

    let first = start_saving(ring.clone(), journal.clone(), audit.clone(), 2).await;
    let ids = publish(&first, &[1, 2, 3, 4, 5]).await;
    assert_eq!(totals_reach(&first, 5).await, [1, 3, 6, 10, 15]);
    first.runtime.shutdown().await;
    // Saved after the 2nd and the 4th: the state holds 1..4, the 5th is journaled after it.
    let (position, state) = journal.latest_checkpoint("summer").unwrap().unwrap();
    assert_eq!((position, state), (4, b"10".to_vec()));
    let bodies: Vec<bool> = journal
        .entries("summer", 0, 10)
        .unwrap()
        .iter()
        .map(|(_, entry)| entry.body.is_empty())
        .collect();
    assert_eq!(bodies, [true, true, true, true, false]);

    // A new owner restores 10 and replays only the 5th.
    let second = start_saving(ring.clone(), journal.clone(), audit, 2).await;
    second
        .source
        .publish(Msg::Number { n: 6 }, Lineage::start())
        .await
        .unwrap();
    assert_eq!(totals_reach(&second, 1).await, [21]);
    assert_eq!(second.replayed.load(Ordering::SeqCst), 1);
    // A message the checkpoint holds comes again: its id is still known as handled.
    second.bus.publish(resent(&ring, ids[0], 1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = second.runtime.shutdown().await;
    assert_eq!(stats.agents["summer"].duplicates, 1);
    assert_eq!(second.totals.lock().unwrap().as_slice(), [21]);
}

#[tokio::test]
async fn a_handler_slower_than_its_ack_wait_keeps_its_message() {
    let (_dir, ring, audit, journal) = fixture();
    let run = start(ring, journal, audit).await;
    publish(&run, &[SLOW, 1]).await;
    assert_eq!(totals_reach(&run, 2).await, [SLOW, SLOW + 1]);
    let stats = run.runtime.shutdown().await;
    // Said "still working" while adding: never delivered again, so never skipped as a
    // duplicate either.
    assert_eq!(stats.agents["summer"].duplicates, 0);
    let summer = run
        .bus
        .stats()
        .consumers
        .into_iter()
        .find(|consumer| consumer.name == "summer")
        .unwrap();
    assert_eq!((summer.expired, summer.acked), (0, 2));
}

#[tokio::test]
async fn what_an_owner_held_back_when_it_died_is_answered_by_the_next() {
    let (_dir, ring, audit, journal) = fixture();
    // An owner handled three in a burst, holding its answer back while more were queued,
    // and died before answering.
    for n in [1, 2, 3] {
        let sealed = resent(&ring, EnvelopeId::new(), n);
        let entry = JournalEntry {
            id: sealed.id.to_string(),
            subject: sealed.subject,
            sender: sealed.sender.to_string(),
            body: sealed.body,
            signature: sealed.signature.to_vec(),
        };
        assert!(journal.record("summer", &entry).unwrap());
    }

    let defers = Summing {
        defers: true,
        ..Summing::default()
    };
    let run = start_summing(ring, journal, audit, defers).await;
    // Handled again without answering, then answered once.
    assert_eq!(totals_reach(&run, 1).await, [6]);
    assert_eq!(run.replayed.load(Ordering::SeqCst), 3);
    publish(&run, &[4]).await;
    assert_eq!(totals_reach(&run, 2).await, [6, 10]);
}
