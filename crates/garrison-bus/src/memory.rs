//! The in-process bus: the embedded default. Each consumer is a bounded queue; publishing waits
//! while a queue is full (backpressure); deliveries not acked come back; messages delivered
//! `max_deliver` times without an ack are kept as dead letters.

use crate::{Acknowledge, Bus, BusError, Delivery, SignedEnvelope, Subscription, SubscriptionSpec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The in-process bus. Clones share it.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    consumers: Mutex<HashMap<String, Arc<Consumer>>>,
    routes: RwLock<HashMap<String, Vec<Arc<Consumer>>>>,
    published: AtomicU64,
    publish_waits: AtomicU64,
    closed: AtomicBool,
    shutdown: watch::Sender<bool>,
}

/// A message that could not be delivered successfully, kept for inspection.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub consumer: String,
    pub envelope: Arc<SignedEnvelope>,
    pub attempts: u32,
}

/// Counters of the whole bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusStats {
    pub published: u64,
    /// Publishes that had to wait for room in a consumer's queue.
    pub publish_waits: u64,
    pub consumers: Vec<ConsumerStats>,
}

/// Counters of one consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerStats {
    pub name: String,
    /// Messages waiting in the queue now.
    pub queued: usize,
    pub delivered: u64,
    pub acked: u64,
    pub redelivered: u64,
    /// Deliveries not settled within the ack deadline.
    pub expired: u64,
    pub dead_lettered: u64,
}

#[derive(Debug, Clone)]
struct Item {
    envelope: Arc<SignedEnvelope>,
    attempt: u32,
}

#[derive(Debug)]
struct Consumer {
    name: String,
    subjects: Vec<String>,
    capacity: usize,
    max_deliver: u32,
    ack_wait: Option<Duration>,
    sender: mpsc::Sender<Item>,
    receiver: tokio::sync::Mutex<mpsc::Receiver<Item>>,
    runtime: tokio::runtime::Handle,
    dead_letters: Mutex<Vec<DeadLetter>>,
    delivered: AtomicU64,
    acked: AtomicU64,
    redelivered: AtomicU64,
    expired: AtomicU64,
    /// Deliveries handed out and not settled yet.
    unsettled: AtomicI64,
    /// Messages waiting out a redelivery delay (neither queued nor delivered).
    delayed: AtomicI64,
}

impl Default for InProcessBus {
    fn default() -> Self {
        InProcessBus::new()
    }
}

impl InProcessBus {
    pub fn new() -> InProcessBus {
        InProcessBus {
            inner: Arc::new(Inner {
                consumers: Mutex::new(HashMap::new()),
                routes: RwLock::new(HashMap::new()),
                published: AtomicU64::new(0),
                publish_waits: AtomicU64::new(0),
                closed: AtomicBool::new(false),
                shutdown: watch::channel(false).0,
            }),
        }
    }

    /// Stops the bus: publishing fails and subscriptions end once drained of nothing more.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.shutdown.send_replace(true);
    }

    pub fn stats(&self) -> BusStats {
        let consumers = lock(&self.inner.consumers);
        let mut list: Vec<ConsumerStats> = consumers
            .values()
            .map(|consumer| ConsumerStats {
                name: consumer.name.clone(),
                queued: consumer.capacity - consumer.sender.capacity(),
                delivered: consumer.delivered.load(Ordering::Relaxed),
                acked: consumer.acked.load(Ordering::Relaxed),
                redelivered: consumer.redelivered.load(Ordering::Relaxed),
                expired: consumer.expired.load(Ordering::Relaxed),
                dead_lettered: lock(&consumer.dead_letters).len() as u64,
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        BusStats {
            published: self.inner.published.load(Ordering::Relaxed),
            publish_waits: self.inner.publish_waits.load(Ordering::Relaxed),
            consumers: list,
        }
    }

    /// True when no message is queued, being handled, or waiting to be delivered again: the
    /// team has nothing left to do until something new is published.
    pub fn is_idle(&self) -> bool {
        lock(&self.inner.consumers).values().all(|consumer| {
            consumer.sender.capacity() == consumer.capacity
                && consumer.unsettled.load(Ordering::SeqCst) == 0
                && consumer.delayed.load(Ordering::SeqCst) == 0
        })
    }

    /// Every dead letter so far, by consumer.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        let consumers = lock(&self.inner.consumers);
        let mut all: Vec<DeadLetter> = consumers
            .values()
            .flat_map(|consumer| lock(&consumer.dead_letters).clone())
            .collect();
        all.sort_by(|a, b| (&a.consumer, a.envelope.id).cmp(&(&b.consumer, b.envelope.id)));
        all
    }
}

/// Locks a std mutex; a panic elsewhere while it was held leaves plain data behind, still
/// consistent for these counters and lists.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Consumer {
    /// Puts a message back in the queue after `delay`, or keeps it as a dead letter when it has
    /// been delivered `max_deliver` times.
    fn redeliver(self: &Arc<Consumer>, item: Item, delay: Duration) {
        if item.attempt >= self.max_deliver {
            lock(&self.dead_letters).push(DeadLetter {
                consumer: self.name.clone(),
                envelope: item.envelope,
                attempts: item.attempt,
            });
            return;
        }
        self.redelivered.fetch_add(1, Ordering::Relaxed);
        let item = Item {
            envelope: item.envelope,
            attempt: item.attempt + 1,
        };
        if delay.is_zero() {
            match self.sender.try_send(item) {
                Ok(()) => {}
                Err(
                    mpsc::error::TrySendError::Full(item) | mpsc::error::TrySendError::Closed(item),
                ) => {
                    let consumer = self.clone();
                    self.runtime
                        .spawn(async move { consumer.requeue(item).await });
                }
            }
        } else {
            let consumer = self.clone();
            consumer.delayed.fetch_add(1, Ordering::SeqCst);
            self.runtime.spawn(async move {
                tokio::time::sleep(delay).await;
                consumer.requeue(item).await;
                consumer.delayed.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    async fn requeue(&self, item: Item) {
        // The consumer owns its receiver, so the queue only closes with the consumer itself.
        if let Err(error) = self.sender.send(item).await {
            let item = error.0;
            lock(&self.dead_letters).push(DeadLetter {
                consumer: self.name.clone(),
                envelope: item.envelope,
                attempts: item.attempt,
            });
        }
    }
}

const PENDING: u8 = 0;
const SETTLED: u8 = 1;

/// Settles one delivery: the first of ack, nack, drop or the ack deadline wins; progress moves
/// the deadline.
struct Settle {
    consumer: Arc<Consumer>,
    item: Item,
    state: Arc<AtomicU8>,
    deadline: Arc<std::sync::Mutex<tokio::time::Instant>>,
}

impl Settle {
    fn settle(&self) -> bool {
        let settled = self
            .state
            .compare_exchange(PENDING, SETTLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if settled {
            self.consumer.unsettled.fetch_sub(1, Ordering::SeqCst);
        }
        settled
    }
}

impl Acknowledge for Settle {
    fn ack(&self) {
        if self.settle() {
            self.consumer.acked.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn nack(&self, delay: Duration) {
        if self.settle() {
            self.consumer.redeliver(self.item.clone(), delay);
        }
    }

    fn progress(&self) {
        if let Some(wait) = self.consumer.ack_wait {
            *lock(&self.deadline) = tokio::time::Instant::now() + wait;
        }
    }
}

/// A subscriber of one consumer.
#[derive(Debug)]
pub struct InProcessSubscription {
    consumer: Arc<Consumer>,
    shutdown: watch::Receiver<bool>,
}

impl Subscription for InProcessSubscription {
    fn backlog(&self) -> usize {
        self.consumer.capacity - self.consumer.sender.capacity()
    }

    async fn next(&mut self) -> Option<Delivery> {
        let item = {
            let mut receiver = self.consumer.receiver.lock().await;
            tokio::select! {
                item = receiver.recv() => {
                    let item = item?;
                    // Counted before the queue is seen shorter, so the message is never
                    // neither queued nor unsettled.
                    self.consumer.unsettled.fetch_add(1, Ordering::SeqCst);
                    item
                }
                _ = self.shutdown.wait_for(|closed| *closed) => return None,
            }
        };
        self.consumer.delivered.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(AtomicU8::new(PENDING));
        let deadline = Arc::new(std::sync::Mutex::new(
            tokio::time::Instant::now() + self.consumer.ack_wait.unwrap_or_default(),
        ));
        if self.consumer.ack_wait.is_some() {
            let expiry = Settle {
                consumer: self.consumer.clone(),
                item: item.clone(),
                state: state.clone(),
                deadline: deadline.clone(),
            };
            self.consumer.runtime.spawn(async move {
                // Until the deadline stops moving (progress moves it).
                loop {
                    let at = *lock(&expiry.deadline);
                    tokio::time::sleep_until(at).await;
                    if tokio::time::Instant::now() >= *lock(&expiry.deadline) {
                        break;
                    }
                }
                if expiry.settle() {
                    expiry.consumer.expired.fetch_add(1, Ordering::Relaxed);
                    expiry
                        .consumer
                        .redeliver(expiry.item.clone(), Duration::ZERO);
                }
            });
        }
        let envelope = item.envelope.clone();
        let attempt = item.attempt;
        let settle = Settle {
            consumer: self.consumer.clone(),
            item,
            state,
            deadline,
        };
        Some(Delivery::new(envelope, attempt, Box::new(settle)))
    }
}

impl Bus for InProcessBus {
    type Subscription = InProcessSubscription;

    async fn publish(&self, envelope: SignedEnvelope) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(BusError::Closed);
        }
        let consumers = self
            .inner
            .routes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&envelope.subject)
            .cloned()
            .unwrap_or_default();
        if consumers.is_empty() {
            return Err(BusError::NoRoute(envelope.subject));
        }
        let envelope = Arc::new(envelope);
        for consumer in consumers {
            let item = Item {
                envelope: envelope.clone(),
                attempt: 1,
            };
            match consumer.sender.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(item)) => {
                    self.inner.publish_waits.fetch_add(1, Ordering::Relaxed);
                    consumer
                        .sender
                        .send(item)
                        .await
                        .map_err(|_| BusError::Closed)?;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Err(BusError::Closed),
            }
        }
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn subscribe(&self, spec: SubscriptionSpec) -> Result<InProcessSubscription, BusError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(BusError::Closed);
        }
        spec.validate()?;
        let mut subjects = spec.subjects.clone();
        subjects.sort();
        subjects.dedup();
        let mut consumers = lock(&self.inner.consumers);
        let consumer = match consumers.get(&spec.consumer) {
            Some(existing) if existing.subjects == subjects => existing.clone(),
            Some(_) => {
                return Err(BusError::ConsumerConflict {
                    name: spec.consumer,
                });
            }
            None => {
                let (sender, receiver) = mpsc::channel(spec.capacity);
                let consumer = Arc::new(Consumer {
                    name: spec.consumer.clone(),
                    subjects: subjects.clone(),
                    capacity: spec.capacity,
                    max_deliver: spec.max_deliver,
                    ack_wait: spec.ack_wait,
                    sender,
                    receiver: tokio::sync::Mutex::new(receiver),
                    runtime: tokio::runtime::Handle::current(),
                    dead_letters: Mutex::new(Vec::new()),
                    delivered: AtomicU64::new(0),
                    acked: AtomicU64::new(0),
                    redelivered: AtomicU64::new(0),
                    expired: AtomicU64::new(0),
                    unsettled: AtomicI64::new(0),
                    delayed: AtomicI64::new(0),
                });
                let mut routes = self
                    .inner
                    .routes
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                for subject in &subjects {
                    routes
                        .entry(subject.clone())
                        .or_default()
                        .push(consumer.clone());
                }
                consumers.insert(spec.consumer.clone(), consumer.clone());
                consumer
            }
        };
        Ok(InProcessSubscription {
            consumer,
            shutdown: self.inner.shutdown.subscribe(),
        })
    }
}
