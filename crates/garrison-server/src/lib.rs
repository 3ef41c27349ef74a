//! Garrison's network face: the live inputs of `garrison serve` (syslog over UDP, TCP and TLS,
//! a Splunk HTTP Event Collector, the Elasticsearch bulk API, followed files, a NATS subject),
//! each appending what it accepts to its durable [`spool`] before acknowledging it.
//!
//! It also serves the console: the REST API ([`api`]) on its own address.
//!
//! Nothing here reads records: the binary reads the spools ([`spool::read_chunk`]) and hands
//! the records to the decoders and the agent team.

pub mod api;
pub mod auth;
pub mod config;
pub mod console;
mod http;
pub mod intake;
mod nats;
pub mod oidc;
pub mod rules;
pub mod spool;
mod syslog;
mod tail;
mod tls;
pub mod url;

pub use config::{Config, Input, InputKind, RecordFormat};
pub use intake::{InputStats, StatsSnapshot};

use intake::{Intake, Quarantine};
use spool::{Durability, Spool};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

/// A spool and how its records read.
#[derive(Debug, Clone)]
pub struct SpoolInfo {
    /// The input that fills it.
    pub input: String,
    pub dir: PathBuf,
    pub format: RecordFormat,
    pub spool: Spool,
}

/// An input as started.
#[derive(Debug, Clone)]
pub struct Listening {
    pub input: String,
    pub kind: &'static str,
    /// The bound address, or the path or subject followed.
    pub at: String,
    pub stats: Arc<InputStats>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("input {input}: cannot listen on {address}: {source}")]
    Bind {
        input: String,
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("input {input}: TLS: {reason}")]
    Tls { input: String, reason: String },
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
    #[error("input {input}: {reason}")]
    Nats { input: String, reason: String },
    #[error("{path}: another garrison serve is using this state folder")]
    Locked { path: String },
    #[error("{path}: {source}")]
    State {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The running inputs.
pub struct Server {
    /// Held while serving: one server per state folder (two would write the same spools).
    _lock: std::fs::File,
    pub spools: Vec<SpoolInfo>,
    pub listening: Vec<Listening>,
    pub quarantine: Arc<Quarantine>,
    shutdown: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// Where an input's spools live.
pub fn spool_dir(state: &Path, name: &str) -> PathBuf {
    state.join("spool").join(name)
}

impl Server {
    /// Opens every input's spools and starts listening. Must run inside a Tokio runtime.
    pub async fn start(config: &Config, state: &Path) -> Result<Server, ServerError> {
        let lock_path = state.join("serve.lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| ServerError::State {
                path: lock_path.display().to_string(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ServerError::Locked {
                    path: state.display().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(ServerError::State {
                    path: lock_path.display().to_string(),
                    source,
                });
            }
        }
        let (shutdown, stop) = watch::channel(false);
        let quarantine = Arc::new(Quarantine::new(
            &state.join("quarantine").join("live.jsonl"),
        ));
        let mut server = Server {
            _lock: lock,
            spools: Vec::new(),
            listening: Vec::new(),
            quarantine: quarantine.clone(),
            shutdown,
            tasks: tokio::task::JoinSet::new(),
            threads: Vec::new(),
        };
        for input in &config.inputs {
            let intake = Intake {
                input: Arc::from(input.name.as_str()),
                stats: Arc::new(InputStats::default()),
                quarantine: quarantine.clone(),
                shutdown: stop.clone(),
            };
            server
                .start_input(input, intake, state, config.durability)
                .await?;
        }
        Ok(server)
    }

    /// Serves the console (`router`: the API) on `address` until shutdown, with the inputs'
    /// limits (header timeout, connection cap); returns the address it listens on (port 0
    /// picks one).
    pub async fn start_console(
        &mut self,
        address: SocketAddr,
        router: axum::Router,
        tls: Option<&config::TlsFiles>,
    ) -> Result<SocketAddr, ServerError> {
        let acceptor = tls
            .map(tls::acceptor)
            .transpose()
            .map_err(|reason| ServerError::Tls {
                input: "console".into(),
                reason,
            })?;
        let bind_error = |source| ServerError::Bind {
            input: "console".into(),
            address,
            source,
        };
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(bind_error)?;
        let bound = listener.local_addr().map_err(bind_error)?;
        let intake = Intake {
            input: Arc::from("console"),
            stats: Arc::new(InputStats::default()),
            quarantine: self.quarantine.clone(),
            shutdown: self.shutdown.subscribe(),
        };
        self.tasks
            .spawn(serve_http(listener, acceptor, router, intake));
        Ok(bound)
    }

    fn open_spool(
        &mut self,
        input: &str,
        dir: PathBuf,
        format: RecordFormat,
        durability: Durability,
    ) -> Result<Spool, ServerError> {
        let spool = Spool::open(&dir, durability)?;
        self.spools.push(SpoolInfo {
            input: input.to_string(),
            dir,
            format,
            spool: spool.clone(),
        });
        Ok(spool)
    }

    async fn start_input(
        &mut self,
        input: &Input,
        intake: Intake,
        state: &Path,
        durability: Durability,
    ) -> Result<(), ServerError> {
        let name = input.name.clone();
        let bind_error = |address: SocketAddr| {
            let name = name.clone();
            move |source| ServerError::Bind {
                input: name,
                address,
                source,
            }
        };
        let tls_acceptor = |files: &Option<config::TlsFiles>| {
            files
                .as_ref()
                .map(tls::acceptor)
                .transpose()
                .map_err(|reason| ServerError::Tls {
                    input: name.clone(),
                    reason,
                })
        };
        let dir = spool_dir(state, &name);
        let at = match &input.kind {
            InputKind::SyslogUdp {
                address,
                max_message,
            } => {
                let spool = self.open_spool(&name, dir, RecordFormat::Syslog, durability)?;
                let socket = bind_udp(*address).map_err(bind_error(*address))?;
                let bound = socket.local_addr().map_err(bind_error(*address))?;
                self.tasks.spawn(syslog::serve_udp(
                    socket,
                    spool,
                    intake.clone(),
                    *max_message,
                ));
                bound.to_string()
            }
            InputKind::SyslogTcp {
                address,
                tls,
                max_message,
            } => {
                let acceptor = tls_acceptor(tls)?;
                let spool = self.open_spool(&name, dir, RecordFormat::Syslog, durability)?;
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .map_err(bind_error(*address))?;
                let bound = listener.local_addr().map_err(bind_error(*address))?;
                self.tasks.spawn(syslog::serve_tcp(
                    listener,
                    acceptor,
                    spool,
                    intake.clone(),
                    *max_message,
                ));
                bound.to_string()
            }
            InputKind::Hec {
                address,
                tokens,
                tls,
                max_body,
            }
            | InputKind::Elasticsearch {
                address,
                tokens,
                tls,
                max_body,
            } => {
                let acceptor = tls_acceptor(tls)?;
                let json =
                    self.open_spool(&name, dir.join("json"), RecordFormat::Json, durability)?;
                let (api, text) = match input.kind {
                    InputKind::Hec { .. } => (
                        http::Api::Hec,
                        Some(self.open_spool(
                            &name,
                            dir.join("text"),
                            RecordFormat::Syslog,
                            durability,
                        )?),
                    ),
                    _ => (http::Api::Elasticsearch, None),
                };
                let router = http::router(
                    api,
                    http::HttpInput::new(intake.clone(), tokens.clone(), json, text, *max_body),
                );
                let listener = tokio::net::TcpListener::bind(address)
                    .await
                    .map_err(bind_error(*address))?;
                let bound = listener.local_addr().map_err(bind_error(*address))?;
                self.tasks
                    .spawn(serve_http(listener, acceptor, router, intake.clone()));
                bound.to_string()
            }
            InputKind::File { path, format } => {
                let spool = self.open_spool(&name, dir.clone(), *format, durability)?;
                let (path, position, intake, runtime) = (
                    path.clone(),
                    dir.join("position"),
                    intake.clone(),
                    tokio::runtime::Handle::current(),
                );
                let at = path.display().to_string();
                let thread = std::thread::Builder::new()
                    .name(format!("tail-{name}"))
                    .spawn(move || tail::follow(path, position, spool, intake, durability, runtime))
                    .map_err(|error| {
                        ServerError::Spool(spool::SpoolError::Io {
                            path: at.clone(),
                            source: error,
                        })
                    })?;
                self.threads.push(thread);
                at
            }
            InputKind::Nats {
                url,
                subject,
                queue_group,
                credentials,
            } => {
                let json =
                    self.open_spool(&name, dir.join("json"), RecordFormat::Json, durability)?;
                let text =
                    self.open_spool(&name, dir.join("text"), RecordFormat::Syslog, durability)?;
                let subscription =
                    nats::subscribe(url, subject, queue_group.as_deref(), credentials.as_deref())
                        .await
                        .map_err(|reason| ServerError::Nats {
                            input: name.clone(),
                            reason,
                        })?;
                self.tasks
                    .spawn(nats::serve(subscription, json, text, intake.clone()));
                format!("{url} {subject}")
            }
        };
        self.listening.push(Listening {
            input: name,
            kind: input.kind.as_str(),
            at,
            stats: intake.stats.clone(),
        });
        Ok(())
    }

    /// Stops accepting, lets what was read reach the spools, and waits for the inputs.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        let threads = std::mem::take(&mut self.threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

/// A UDP socket with a receive buffer large enough to ride out a burst while the spool commits.
fn bind_udp(address: SocketAddr) -> std::io::Result<tokio::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // The kernel caps this at net.core.rmem_max; a smaller buffer still works.
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// How long open connections get to finish when the server stops.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Time a client has to send a request's headers.
const HEADER_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves `router` on `listener` (TLS when given) until shutdown.
async fn serve_http(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    mut intake: Intake,
) {
    use hyper_util::rt::{TokioExecutor, TokioTimer};
    let permits = Arc::new(tokio::sync::Semaphore::new(syslog::MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = intake.stopping() => break,
            permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
        };
        let (stream, _peer) = tokio::select! {
            _ = intake.stopping() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => { tokio::time::sleep(std::time::Duration::from_millis(50)).await; continue; }
            },
        };
        let _ = stream.set_nodelay(true);
        intake
            .stats
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (router, tls, mut stop, stats) = (
            router.clone(),
            tls.clone(),
            intake.clone(),
            intake.stats.clone(),
        );
        connections.spawn(async move {
            let _permit = permit;
            let service = hyper_util::service::TowerToHyperService::new(router);
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_LIMIT);
            match tls {
                None => serve_connection(&builder, stream, service, &mut stop).await,
                Some(acceptor) => {
                    let Ok(Ok(stream)) = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    else {
                        stats
                            .unauthorized
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return;
                    };
                    serve_connection(&builder, stream, service, &mut stop).await
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// Serves one connection's requests until it closes, or shutdown asks it to finish.
async fn serve_connection<S>(
    builder: &hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    stream: S,
    service: hyper_util::service::TowerToHyperService<axum::Router>,
    stop: &mut Intake,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stop.stopping() => {
            // Requests in progress finish; a stream that never does (a page watching the live
            // feed) is cut after a grace period rather than holding the process up.
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, connection).await;
        }
    }
}
