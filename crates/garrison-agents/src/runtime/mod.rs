//! The agent runtime: identities, subscriptions, message checks, idempotency, publishing,
//! supervision and shutdown. Agents only see checked messages and return their answers.

use crate::dedupe::SeenSet;
use crate::{AgentError, Clock};
use garrison_bus::{
    AgentId, AgentKeys, Bus, BusError, Delivery, Directory, Envelope, EnvelopeId, KeyRing,
    KeyRingError, Message, Subscription, SubscriptionSpec,
};
use garrison_store::{AuditAction, AuditLog, AuditRecord, Journal};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod handle;
mod journal;
mod publish;

use handle::{Handled, handle_delivery, handle_tick};
use journal::{Saved, replay, save_checkpoint};
pub use publish::{Partitions, Publisher};
use publish::{misfit, remote_specs, subscription_spec};

/// An agent's declaration: its role (also its consumer name on the bus), how many instances
/// share its work, what it consumes and may publish, and its delivery policy.
#[derive(Debug, Clone)]
pub struct AgentSpec<K> {
    pub role: String,
    pub instances: usize,
    pub consumes: Vec<K>,
    pub publishes: Vec<K>,
    /// Messages queued for the agent before publishers wait.
    pub queue: usize,
    /// Deliveries of one message before it becomes a dead letter.
    pub max_deliver: u32,
    /// How long one message may take before it is delivered again.
    pub ack_wait: Option<Duration>,
    /// How often [`Agent::tick`] is called (never when `None`).
    pub tick: Option<Duration>,
    /// The agent keeps state across messages: with a journal (see
    /// [`RuntimeBuilder::with_journal`]), the messages it handled are recorded, and a fresh
    /// instance (after a panic, in another process) handles them again before new ones.
    pub stateful: bool,
    /// For an agent reading a partitioned kind (see [`RuntimeBuilder::partitioned`]): the one
    /// partition it reads, whose owner it is; its journal is the partition's own.
    pub partition: Option<u32>,
    /// A journaled agent's state is saved every this many journaled messages (see
    /// [`Agent::checkpoint`]); 0: never.
    pub checkpoint_every: u64,
}

impl<K> AgentSpec<K> {
    pub fn new(role: impl Into<String>, consumes: Vec<K>, publishes: Vec<K>) -> AgentSpec<K> {
        AgentSpec {
            role: role.into(),
            instances: 1,
            consumes,
            publishes,
            queue: 1024,
            max_deliver: 5,
            ack_wait: Some(Duration::from_secs(60)),
            tick: None,
            stateful: false,
            partition: None,
            checkpoint_every: 1_000,
        }
    }

    /// What owns this agent's state, and names its journal: the role, or the role's partition
    /// (`triage.3`).
    pub fn owner(&self) -> String {
        match self.partition {
            Some(partition) => format!("{}.{partition}", self.role),
            None => self.role.clone(),
        }
    }
}

/// What a handler knows besides the message.
#[derive(Clone)]
pub struct Context {
    pub agent: AgentId,
    /// Which delivery of the message this is (1 the first time).
    pub attempt: u32,
    pub clock: Arc<dyn Clock>,
    /// Messages still queued for this agent: more work is coming right away. Never 0 while
    /// replaying: what an agent holds back for the end of a burst is answered after.
    pub backlog: usize,
    /// The message was handled before, by an instance whose state is being rebuilt: answers
    /// are discarded, and side effects (audit entries) were made the first time.
    pub replaying: bool,
}

/// An agent: handles one checked message at a time and returns the messages to publish in
/// answer (each is sent with this message as its cause).
pub trait Agent<M: Message>: Send + 'static {
    fn handle(
        &mut self,
        envelope: &Envelope<M>,
        context: &Context,
    ) -> impl Future<Output = Result<Vec<M>, AgentError>> + Send;

    /// Called every [`AgentSpec::tick`] (agents that watch for time passing: timeouts);
    /// returns messages to publish, each starting new work.
    fn tick(
        &mut self,
        _context: &Context,
    ) -> impl Future<Output = Result<Vec<M>, AgentError>> + Send {
        async { Ok(Vec::new()) }
    }

    /// A stateful agent's whole state, saved between messages every
    /// [`AgentSpec::checkpoint_every`] journaled ones so that a new owner restores it instead
    /// of handling its whole journal again. `None`: the agent cannot, its journal is replayed.
    fn checkpoint(&self) -> Option<Vec<u8>> {
        None
    }

    /// Takes the state [`Agent::checkpoint`] saved. An error leaves the agent unable to start
    /// (the messages the state holds cannot be replayed any more): the runtime says why and
    /// keeps trying, and the role waits rather than run on partial state.
    fn restore(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Err("this agent keeps no checkpoints".into())
    }
}

/// What one agent role did (all instances together).
#[derive(Debug, Default)]
pub struct AgentCounters {
    pub handled: AtomicU64,
    pub failed: AtomicU64,
    /// Messages refused: bad signature, unknown sender, not granted, malformed.
    pub rejected: AtomicU64,
    /// Redelivered messages already handled, acknowledged without handling them again.
    pub duplicates: AtomicU64,
    pub published: AtomicU64,
    pub restarts: AtomicU64,
    /// The agent failed too often and was stopped.
    pub gave_up: AtomicBool,
}

/// A snapshot of every agent's counters, by role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    pub agents: BTreeMap<String, CountersSnapshot>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    pub handled: u64,
    pub failed: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub published: u64,
    pub restarts: u64,
    pub gave_up: bool,
}

impl AgentCounters {
    fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            handled: self.handled.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            gave_up: self.gave_up.load(Ordering::Relaxed),
        }
    }
}

/// Restarts allowed within [`RESTART_WINDOW`] before an agent is stopped for good.
const RESTART_LIMIT: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// Handled message ids remembered per role.
const SEEN_IDS: usize = 100_000;

/// What every agent task shares.
struct Shared<B: Bus, M: Message> {
    bus: B,
    directory: Directory<M::Kind>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    shutdown: watch::Receiver<bool>,
    journal: Option<Arc<dyn Journal>>,
    partitions: Arc<Partitions<M::Kind>>,
}

impl<B: Bus, M: Message> Shared<B, M> {
    fn audit(&self, actor: &AgentId, action: AuditAction, subject: String, detail: String) {
        let record = AuditRecord {
            actor: actor.to_string(),
            action,
            subject,
            detail,
        };
        // An audit write that fails must not pass unnoticed: it is reported, and the counters
        // still show what happened.
        if let Err(error) = self.audit.append(&record, self.clock.now()) {
            tracing::error!("garrison: audit write failed ({error}) for {record:?}");
        }
    }
}

type StartFuture = Pin<Box<dyn Future<Output = Result<Vec<JoinHandle<()>>, BusError>> + Send>>;
type Starter<B, M> = Box<dyn FnOnce(Arc<Shared<B, M>>) -> StartFuture + Send>;

/// Collects agents, gives each instance its identity, and builds the directory every receiver
/// checks messages against.
pub struct RuntimeBuilder<B: Bus, M: Message> {
    bus: B,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    directory: Directory<M::Kind>,
    starters: Vec<Starter<B, M>>,
    counters: BTreeMap<String, Arc<AgentCounters>>,
    /// Role keys shared by instances in several processes, and what names this process's
    /// instances; none: a fresh key per instance (everything runs in this process).
    ring: Option<(Arc<KeyRing>, String)>,
    /// Every consumer of the deployment, declared before anything is published.
    declared: Vec<SubscriptionSpec>,
    journal: Option<Arc<dyn Journal>>,
    partitions: Partitions<M::Kind>,
    /// Agents that cannot run as declared, refused at start.
    misfits: Vec<String>,
}

impl<B: Bus, M: Message> RuntimeBuilder<B, M> {
    pub fn new(bus: B, audit: Arc<dyn AuditLog>, clock: Arc<dyn Clock>) -> RuntimeBuilder<B, M> {
        RuntimeBuilder {
            bus,
            audit,
            clock,
            directory: Directory::default(),
            starters: Vec::new(),
            counters: BTreeMap::new(),
            ring: None,
            declared: Vec::new(),
            journal: None,
            partitions: Partitions::default(),
            misfits: Vec::new(),
        }
    }

    /// Cuts messages of `kind` into `count` partitions by their entity key (see
    /// [`Message::split`]): each partition has its own subject, and each agent reading the
    /// kind reads one partition ([`AgentSpec::partition`]). Call before adding agents and
    /// publishers.
    pub fn partitioned(mut self, kind: M::Kind, count: u32) -> Self {
        self.partitions.set(kind, count);
        self
    }

    /// Journals what stateful agents handle (see [`AgentSpec::stateful`]).
    pub fn with_journal(mut self, journal: Arc<dyn Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Signs with the role keys of `ring` instead of fresh keys, and trusts every instance of
    /// a role holding its key: agents of one deployment run in several processes. This
    /// process's instances are named `instance-1`, `instance-2`, ...
    pub fn with_key_ring(mut self, ring: Arc<KeyRing>, instance: impl Into<String>) -> Self {
        self.ring = Some((ring, instance.into()));
        self
    }

    /// The keys of instance `number` of `role`, trusted to publish `kinds`.
    fn keys(
        &mut self,
        role: &str,
        number: &str,
        kinds: impl IntoIterator<Item = M::Kind>,
    ) -> Result<AgentKeys, KeyRingError> {
        match &self.ring {
            None => {
                let keys = AgentKeys::generate(AgentId::new(role, number))?;
                self.directory.admit(keys.public(), kinds);
                Ok(keys)
            }
            Some((ring, instance)) => {
                let keys = ring.keys(role, &format!("{instance}-{number}"))?;
                self.directory.admit_role(role, keys.public().key, kinds);
                Ok(keys)
            }
        }
    }

    /// Trusts `role`, running in other processes, to publish `kinds` (with its key from the
    /// ring), and declares its consumer so work published for it waits until it runs.
    pub fn remote(&mut self, spec: &AgentSpec<M::Kind>) -> Result<(), KeyRingError> {
        let Some((ring, _)) = &self.ring else {
            return Err(KeyRingError::MissingSecret(format!(
                "{} (remote agents need a key ring)",
                spec.role
            )));
        };
        let key = ring
            .public(&spec.role)
            .ok_or_else(|| KeyRingError::MissingSecret(format!("{}.pub", spec.role)))?;
        self.directory
            .admit_role(&spec.role, key, spec.publishes.iter().copied());
        if !spec.consumes.is_empty() {
            self.declared
                .extend(remote_specs::<M>(spec, &self.partitions));
        }
        Ok(())
    }

    /// An identity that publishes without consuming (a telemetry source feeding the team).
    pub fn publisher(
        &mut self,
        role: &str,
        kinds: impl IntoIterator<Item = M::Kind>,
    ) -> Result<Publisher<B, M>, KeyRingError> {
        let keys = self.keys(role, "1", kinds)?;
        Ok(Publisher {
            bus: self.bus.clone(),
            keys: Arc::new(keys),
            clock: self.clock.clone(),
            partitions: Arc::new(self.partitions.clone()),
            payload: PhantomData,
        })
    }

    /// Adds an agent; `factory` builds a fresh instance at start and after each restart.
    pub fn agent<A, F>(&mut self, spec: AgentSpec<M::Kind>, factory: F) -> Result<(), KeyRingError>
    where
        A: Agent<M>,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let mut identities = Vec::new();
        for instance in 1..=spec.instances.max(1) {
            // Each partition's agent is an instance of its own (`triage/1.p3`).
            let number = match spec.partition {
                Some(partition) => format!("{instance}.p{partition}"),
                None => instance.to_string(),
            };
            let keys = self.keys(&spec.role, &number, spec.publishes.iter().copied())?;
            identities.push(Arc::new(keys));
        }
        self.misfits.extend(misfit(&spec, &self.partitions));
        self.declared
            .push(subscription_spec::<M>(&spec, &self.partitions));
        let counters = self.counters.entry(spec.role.clone()).or_default().clone();
        let spec = Arc::new(spec);
        let factory = Arc::new(factory);
        let seen = Arc::new(Mutex::new(SeenSet::new(SEEN_IDS)));
        self.starters
            .push(Box::new(move |shared: Arc<Shared<B, M>>| {
                Box::pin(async move {
                    let mut handles = Vec::new();
                    for keys in identities {
                        let subscription = shared
                            .bus
                            .subscribe(subscription_spec::<M>(&spec, &shared.partitions))
                            .await?;
                        let instance = Instance {
                            shared: shared.clone(),
                            spec: spec.clone(),
                            keys,
                            counters: counters.clone(),
                            seen: seen.clone(),
                        };
                        let factory = factory.clone();
                        handles.push(tokio::spawn(supervise(instance, factory, subscription)));
                    }
                    Ok(handles)
                }) as StartFuture
            }));
        Ok(())
    }

    /// Declares every consumer, local and remote (so nothing published from now on lacks a
    /// route), subscribes every local agent and starts them.
    pub async fn start(self) -> Result<Runtime, BusError> {
        if !self.misfits.is_empty() {
            return Err(BusError::InvalidSubscription(self.misfits.join("; ")));
        }
        self.bus.declare(&self.declared).await?;
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let shared = Arc::new(Shared {
            bus: self.bus,
            directory: self.directory,
            audit: self.audit,
            clock: self.clock,
            shutdown: shutdown_receiver,
            journal: self.journal,
            partitions: Arc::new(self.partitions),
        });
        let mut handles = Vec::new();
        for starter in self.starters {
            handles.extend(starter(shared.clone()).await?);
        }
        Ok(Runtime {
            shutdown,
            handles,
            counters: self.counters,
        })
    }
}

/// The running team.
pub struct Runtime {
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    counters: BTreeMap<String, Arc<AgentCounters>>,
}

/// The team's counters, readable while it runs (for health pages and metrics).
#[derive(Debug, Clone)]
pub struct RuntimeCounters(BTreeMap<String, Arc<AgentCounters>>);

impl RuntimeCounters {
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            agents: self
                .0
                .iter()
                .map(|(role, counters)| (role.clone(), counters.snapshot()))
                .collect(),
        }
    }
}

impl Runtime {
    pub fn stats(&self) -> RuntimeStats {
        self.counters().stats()
    }

    pub fn counters(&self) -> RuntimeCounters {
        RuntimeCounters(self.counters.clone())
    }

    /// Asks every agent to stop after the message it is handling, and waits for them.
    pub async fn shutdown(mut self) -> RuntimeStats {
        self.shutdown.send_replace(true);
        for handle in std::mem::take(&mut self.handles) {
            // A supervisor only ends by returning; a join error here means it was aborted.
            let _ = handle.await;
        }
        self.stats()
    }
}

/// Why a publisher could not publish.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot encode the message: {0}")]
    Encode(String),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// One agent instance's fixed parts.
struct Instance<B: Bus, M: Message> {
    shared: Arc<Shared<B, M>>,
    spec: Arc<AgentSpec<M::Kind>>,
    keys: Arc<AgentKeys>,
    counters: Arc<AgentCounters>,
    seen: Arc<Mutex<SeenSet<EnvelopeId>>>,
}

impl<B: Bus, M: Message> Instance<B, M> {
    /// Audits a message this instance refused (or an answer it refused to send).
    fn audit_refusal(&self, subject: String, detail: String) {
        self.shared.audit(
            self.keys.id(),
            AuditAction::MessageRejected,
            subject,
            detail,
        );
    }
}

impl<B: Bus, M: Message> Clone for Instance<B, M> {
    fn clone(&self) -> Self {
        Instance {
            shared: self.shared.clone(),
            spec: self.spec.clone(),
            keys: self.keys.clone(),
            counters: self.counters.clone(),
            seen: self.seen.clone(),
        }
    }
}

/// Runs an instance, restarting it with a fresh agent when it panics (its message in flight is
/// then delivered again), and stops it for good after too many restarts in a short time.
async fn supervise<B, M, A, F>(instance: Instance<B, M>, factory: Arc<F>, first: B::Subscription)
where
    B: Bus,
    M: Message,
    A: Agent<M>,
    F: Fn() -> A + Send + Sync + 'static,
{
    let mut subscription = Some(first);
    let mut restarts: VecDeque<tokio::time::Instant> = VecDeque::new();
    let mut shutdown = instance.shared.shutdown.clone();
    loop {
        let subscription = match subscription.take() {
            Some(subscription) => subscription,
            None => match instance
                .shared
                .bus
                .subscribe(subscription_spec::<M>(
                    &instance.spec,
                    &instance.shared.partitions,
                ))
                .await
            {
                Ok(subscription) => subscription,
                Err(_) => return,
            },
        };
        let task = tokio::spawn(run(instance.clone(), factory(), subscription));
        let panic = match task.await {
            Ok(()) => return,
            Err(error) if error.is_panic() => panic_text(error.into_panic()),
            Err(_) => return,
        };
        instance.counters.restarts.fetch_add(1, Ordering::Relaxed);
        let now = tokio::time::Instant::now();
        restarts.push_back(now);
        while restarts
            .front()
            .is_some_and(|at| now.duration_since(*at) > RESTART_WINDOW)
        {
            restarts.pop_front();
        }
        let giving_up = restarts.len() > RESTART_LIMIT;
        instance.shared.audit(
            &AgentId::new("supervisor", "1"),
            AuditAction::AgentRestarted,
            instance.keys.id().to_string(),
            if giving_up {
                format!("panicked ({panic}); {RESTART_LIMIT} restarts within a minute, stopped")
            } else {
                format!("panicked ({panic}); restarted")
            },
        );
        if giving_up {
            instance.counters.gave_up.store(true, Ordering::Relaxed);
            return;
        }
        // Back off a little more after each recent restart; stop waiting on shutdown.
        let backoff = Duration::from_millis(50) * restarts.len() as u32;
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-text panic".to_string())
}

/// One instance's loop: receive, check, skip duplicates, handle, publish answers, settle.
async fn run<B, M, A>(instance: Instance<B, M>, mut agent: A, mut subscription: B::Subscription)
where
    B: Bus,
    M: Message,
    A: Agent<M>,
{
    let mut shutdown = instance.shared.shutdown.clone();
    if !replay(&instance, &mut agent).await {
        return;
    }
    // Messages journaled since the state was last saved.
    let mut journaled = 0;
    // Without a tick the timer never fires (a day is as good as never between messages).
    let period = instance.spec.tick.unwrap_or(Duration::from_secs(86_400));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = *shutdown.borrow();
        if stopping {
            return;
        }
        enum Next {
            Delivery(Delivery),
            Tick,
            Stop,
        }
        let next = tokio::select! {
            delivery = subscription.next() => match delivery {
                Some(delivery) => Next::Delivery(delivery),
                None => Next::Stop,
            },
            _ = ticks.tick(), if instance.spec.tick.is_some() => Next::Tick,
            _ = shutdown.wait_for(|stop| *stop) => Next::Stop,
        };
        match next {
            Next::Delivery(delivery) => {
                let backlog = subscription.backlog();
                match handle_delivery(&instance, &mut agent, delivery, backlog).await {
                    Handled::Stop => return,
                    Handled::Journaled => journaled += 1,
                    Handled::Settled => {}
                }
                if journaled >= instance.spec.checkpoint_every.max(1)
                    && instance.spec.checkpoint_every > 0
                {
                    match save_checkpoint(&instance, &agent) {
                        Saved::Yes | Saved::Never => journaled = 0,
                        Saved::Later => {}
                        Saved::Fenced => return,
                    }
                }
            }
            Next::Tick => handle_tick(&instance, &mut agent).await,
            Next::Stop => return,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
