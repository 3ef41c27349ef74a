//! Response actions under faults, for `garrison chaos`: a connector endpoint that records every
//! call it receives by idempotency key (the other side of a webhook), and a response
//! configuration that lets the response agent act alone on everything its playbooks propose,
//! through that endpoint. An action whose key reaches the endpoint twice was executed twice.

use crate::Failure;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the endpoint takes to answer a call.
const ANSWER_DELAY: Duration = Duration::from_millis(150);

/// Calls received, by idempotency key, and the effect each asked for (action kind and
/// target, from the webhook's body).
type Calls = Arc<Mutex<BTreeMap<String, (u32, String)>>>;

/// The recording endpoint: answers every request `200 OK`, counting it by its
/// `Idempotency-Key` header.
pub struct Recorder {
    url: String,
    calls: Calls,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Recorder {
    pub fn start() -> Result<Recorder, Failure> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|error| Failure::Internal(format!("cannot listen for actions: {error}")))?;
        let address = listener
            .local_addr()
            .map_err(|error| Failure::Internal(error.to_string()))?;
        let calls = Calls::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (calls, stop) = (calls.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let calls = calls.clone();
                            std::thread::spawn(move || answer(stream, &calls));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        Ok(Recorder {
            url: format!("http://{address}/actions"),
            calls,
            stop,
            thread: Some(thread),
        })
    }

    /// The calls received since the last take, by idempotency key.
    pub fn take(&self) -> BTreeMap<String, (u32, String)> {
        std::mem::take(
            &mut *self
                .calls
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Writes a response configuration acting alone, through this endpoint, on every action
    /// kind (calls time out quickly, so an action held by a killed process is soon taken for
    /// ambiguous); the file's path.
    pub fn write_config(&self, dir: &Path) -> Result<PathBuf, Failure> {
        let kinds: Vec<String> = garrison_model::action::ActionKind::ALL
            .iter()
            .map(|kind| format!("{:?}", kind.as_str()))
            .collect();
        let autonomy: String = garrison_model::action::ActionKind::ALL
            .iter()
            .map(|kind| format!("{} = \"act_then_notify\"\n", kind.as_str()))
            .collect();
        let policy = dir.join("chaos-policy.cedar");
        let config = dir.join("chaos-response.toml");
        let write = |path: &Path, text: String| {
            std::fs::write(path, text).map_err(|error| {
                Failure::Output(format!("cannot write {}: {error}", path.display()))
            })
        };
        write(
            &policy,
            "@id(\"chaos-act-alone\")\n@reason(\"the fault test lets the agent act alone\")\n\
             permit (principal, action, resource);\n"
                .into(),
        )?;
        write(
            &config,
            format!(
                "[response]\npolicy = \"chaos-policy.cedar\"\nmax_attempts = 2\n\
                 retry_backoff_ms = 100\ntimeout_seconds = 2\n\n[response.autonomy]\n{autonomy}\n\
                 [[response.connector]]\nname = \"recorder\"\ntype = \"webhook\"\nurl = {:?}\n\
                 actions = [{}]\n",
                self.url,
                kinds.join(", ")
            ),
        )?;
        Ok(config)
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request, counts it, answers `200 OK`.
fn answer(stream: TcpStream, calls: &Calls) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let (mut key, mut length) = (None, 0usize);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("idempotency-key") {
                key = Some(value.trim().to_string());
            } else if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    // Counted once the request is whole, before answering: a caller killed now has acted.
    // The answer takes a moment, as a real endpoint's does, so kills land mid-call too.
    if let Some(key) = key {
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let effect = format!(
            "{} {}:{}",
            body["action"].as_str().unwrap_or_default(),
            body["target_kind"].as_str().unwrap_or_default(),
            body["target"].as_str().unwrap_or_default()
        );
        calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_insert((0, effect))
            .0 += 1;
    }
    std::thread::sleep(ANSWER_DELAY);
    let _ = (&stream)
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
}

/// What the endpoint saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executions {
    /// Distinct actions (idempotency keys) executed.
    pub actions: u64,
    /// Executions of an action beyond its first, where a second one does something again
    /// (tickets, notifications, credential resets).
    pub duplicates: u64,
    /// Calls of an action beyond its first where the action sets a state (isolated, blocked,
    /// suspended): sent again, same idempotency key, after its responder died mid-call, which
    /// has the effect of sending it once.
    pub resent: u64,
    /// Distinct actions asking for an effect (kind on target) another action already asked for.
    pub repeated_effects: u64,
}

pub fn executions(calls: &BTreeMap<String, (u32, String)>) -> Executions {
    let mut effects = std::collections::BTreeSet::new();
    let repeated_effects = calls
        .values()
        .filter(|(_, effect)| !effects.insert(effect.as_str()))
        .count() as u64;
    let repeats = |safe: bool| {
        calls
            .values()
            .filter(|(_, effect)| sets_state(effect) == safe)
            .map(|(n, _)| u64::from(n.saturating_sub(1)))
            .sum()
    };
    Executions {
        actions: calls.len() as u64,
        duplicates: repeats(false),
        resent: repeats(true),
        repeated_effects,
    }
}

/// True when the effect's action kind sets a state (see `ActionKind::sets_state`).
fn sets_state(effect: &str) -> bool {
    let kind = effect.split(' ').next().unwrap_or_default();
    garrison_model::action::ActionKind::ALL
        .iter()
        .any(|known| known.as_str() == kind && known.sets_state())
}
