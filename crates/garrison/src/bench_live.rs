//! `garrison bench live`: `garrison serve` as its own process, loaded over loopback the way
//! shippers load it: syslog over TCP (as fast as it takes it) and UDP (paced), and Splunk HEC
//! requests on keep-alive connections; then killed with SIGKILL in the middle of HEC load and
//! restarted, to count acknowledged events lost and records spooled twice. A discard sink in
//! this process is the baseline: the rate the load generator itself reaches on this machine.

use crate::bench::percentile;
use crate::{ExitCode, Failure};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchLiveArgs {
    /// Seconds of each load phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Sender connections (TCP and HEC).
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// UDP messages per second to offer.
    #[arg(long, default_value_t = 50_000)]
    pub udp_rate: u64,
    /// Events per HEC request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// The spool's durability: fsync (on disk before acknowledged) or write.
    #[arg(long, default_value = "fsync")]
    pub durability: String,
}

const TOKEN: &str = "bench-token-0123456789abcdef";

/// A `garrison serve` child process.
struct Server {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    state: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Result<Server, Failure> {
        let state = dir.join("state");
        let exe = std::env::current_exe().map_err(|e| Failure::Internal(e.to_string()))?;
        let mut child = Command::new(exe)
            .args(["serve", "--http", "127.0.0.1:0", "--config"])
            .arg(dir.join("serve.toml"))
            .arg("--state")
            .arg(&state)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::Internal(format!("cannot start garrison serve: {e}")))?;
        let stderr = child.stderr.take().expect("piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready, is_ready) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let done = line.starts_with("garrison serve: ready");
                if line.contains("error") {
                    eprintln!("{line}");
                }
                lines.lock().expect("log").push(line);
                if done {
                    let _ = ready.send(());
                }
            }
            let _ = ready.send(());
        });
        let _ = is_ready.recv_timeout(Duration::from_secs(120));
        let server = Server { child, log, state };
        server.address("hec")?;
        Ok(server)
    }

    fn address(&self, input: &str) -> Result<String, Failure> {
        let prefix = format!("garrison serve: input {input} (");
        let log = self.log.lock().expect("log");
        log.iter()
            .find(|line| line.starts_with(&prefix))
            .and_then(|line| line.rsplit(' ').next())
            .map(str::to_string)
            .ok_or_else(|| Failure::Internal(format!("serve did not start:\n{}", log.join("\n"))))
    }

    /// Peak resident memory, and the anonymous part of what is resident now (Linux), in
    /// bytes: the rest is file pages (the store's memory-mapped database), which the kernel
    /// drops when it needs them.
    fn memory(&self) -> (u64, u64) {
        let process = self.child.id().to_string();
        (
            crate::bench::memory_of(&process, "VmHWM:"),
            crate::bench::memory_of(&process, "RssAnon:"),
        )
    }

    fn stop(mut self) -> Result<Vec<String>, Failure> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self
            .child
            .wait()
            .map_err(|e| Failure::Internal(e.to_string()))?;
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().expect("log").clone();
        if !status.success() {
            return Err(Failure::Internal(format!(
                "serve failed ({status}):\n{}",
                log.join("\n")
            )));
        }
        Ok(log)
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Records committed in a spool folder (lines of its segments).
fn spooled(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| lines_in(&e.path()))
        .sum()
}

/// Lines of a file, read a block at a time (spools grow to gigabytes under load).
fn lines_in(path: &Path) -> u64 {
    let Ok(mut file) = std::fs::File::open(path) else {
        return 0;
    };
    let mut block = vec![0; 1 << 20];
    let mut lines = 0;
    while let Ok(read) = file.read(&mut block) {
        if read == 0 {
            break;
        }
        lines += memchr::memchr_iter(b'\n', &block[..read]).count() as u64;
    }
    lines
}

/// Records of a spool folder the processor has finished (its cursor).
fn processed(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("cursor"))
        .ok()
        .and_then(|t| {
            let n: Vec<u64> = t
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (n.len() == 3).then(|| n[0] + n[2])
        })
        .unwrap_or(0)
}

/// When the `n`th message of a sender was written: 20 µs apart (50,000 a second), as a
/// real sender's messages are in time order.
fn stamp(n: u64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_764_669_600).expect("in range")
        + jiff::SignedDuration::from_micros(n as i64 * 20)
}

/// Realistic syslog traffic: RFC 5424 sshd, sudo and cron messages, numbered.
fn syslog_message(n: u64) -> String {
    let at = stamp(n);
    match n % 4 {
        0 => format!(
            "<86>1 {at} web{:02} sshd 2110 - - Accepted publickey for deploy from 198.51.100.{} port {} ssh2",
            n % 50,
            n % 250,
            40000 + n % 20000
        ),
        1 => format!(
            "<38>1 {at} web{:02} sshd 2111 - - Failed password for invalid user admin{} from 203.0.113.{} port {} ssh2",
            n % 50,
            n % 7,
            n % 250,
            40000 + n % 20000
        ),
        2 => format!(
            "<85>1 {at} web{:02} sudo - - - deploy : TTY=pts/1 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart app{}",
            n % 50,
            n % 9
        ),
        _ => format!(
            "<78>1 {at} web{:02} CRON 2231 - - (root) CMD (/usr/local/bin/backup.sh --job {n})",
            n % 50
        ),
    }
}

/// Sends syslog over `connections` TCP connections for `seconds`; returns messages sent.
fn tcp_load(address: &str, connections: usize, seconds: u64) -> u64 {
    let sent = AtomicU64::new(0);
    let until = Instant::now() + Duration::from_secs(seconds);
    std::thread::scope(|scope| {
        for c in 0..connections {
            let sent = &sent;
            scope.spawn(move || {
                let Ok(mut stream) = TcpStream::connect(address) else {
                    return;
                };
                let mut n = c as u64 * 1_000_000_000;
                while Instant::now() < until {
                    let mut buffer = Vec::with_capacity(256 << 10);
                    let mut count = 0;
                    while buffer.len() < 240 << 10 {
                        buffer.extend_from_slice(syslog_message(n).as_bytes());
                        buffer.push(b'\n');
                        n += 1;
                        count += 1;
                    }
                    if stream.write_all(&buffer).is_err() {
                        return;
                    }
                    sent.fetch_add(count, Ordering::Relaxed);
                }
            });
        }
    });
    sent.load(Ordering::Relaxed)
}

/// Offers `rate` datagrams a second for `seconds`; returns datagrams sent.
fn udp_load(address: &str, rate: u64, seconds: u64) -> u64 {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return 0;
    };
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        if n >= due {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        while n < due {
            let _ = socket.send_to(syslog_message(n).as_bytes(), address);
            n += 1;
        }
    }
    n
}

/// One keep-alive HTTP/1.1 connection posting HEC batches.
struct HecClient {
    stream: BufReader<TcpStream>,
    address: String,
}

impl HecClient {
    fn connect(address: &str) -> std::io::Result<HecClient> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(HecClient {
            stream: BufReader::new(stream),
            address: address.to_string(),
        })
    }

    /// Posts `body`; the status code.
    fn post(&mut self, body: &[u8]) -> std::io::Result<u16> {
        let head = format!(
            "POST /services/collector/event HTTP/1.1\r\nHost: {}\r\nAuthorization: Splunk {TOKEN}\r\nContent-Length: {}\r\n\r\n",
            self.address,
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        let (mut status, mut length) = (0u16, 0usize);
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some(code) = trimmed.strip_prefix("HTTP/1.1 ") {
                status = code.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok(status)
    }
}

fn hec_body(first: u64, count: usize) -> Vec<u8> {
    let mut body = String::with_capacity(count * 220);
    for n in first..first + count as u64 {
        let at = stamp(n);
        body.push_str(&format!(
            r#"{{"time":{:.6},"host":"web{:02}","sourcetype":"_json","event":{{"@timestamp":"{at:.6}","seq":{n},"host":{{"name":"web{:02}"}},"process":{{"name":"nginx","pid":{}}},"message":"GET /api/orders/{n} 200"}}}}"#,
            at.as_microsecond() as f64 / 1e6,
            n % 50,
            n % 50,
            1000 + n % 5000
        ));
    }
    body.into_bytes()
}

/// HEC load until `until` or `stop`: events acknowledged, request latencies (ms), and the
/// acknowledged ranges (first, count).
fn hec_load(
    address: &str,
    base: u64,
    connections: usize,
    batch: usize,
    until: Instant,
    stop: &AtomicBool,
) -> (u64, Vec<f64>, Vec<(u64, usize)>) {
    let acked = AtomicU64::new(0);
    let latencies = Mutex::new(Vec::new());
    let ranges = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for c in 0..connections {
            let (acked, latencies, ranges) = (&acked, &latencies, &ranges);
            scope.spawn(move || {
                let Ok(mut client) = HecClient::connect(address) else {
                    return;
                };
                let (mut mine, mut times, mut first) =
                    (Vec::new(), Vec::new(), base + c as u64 * 1_000_000_000);
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    let body = hec_body(first, batch);
                    let sent = Instant::now();
                    match client.post(&body) {
                        Ok(200) => {
                            times.push(sent.elapsed().as_secs_f64() * 1e3);
                            mine.push((first, batch));
                            acked.fetch_add(batch as u64, Ordering::Relaxed);
                            first += batch as u64;
                        }
                        // Busy: the sender waits and sends the same events again.
                        Ok(503) => std::thread::sleep(Duration::from_millis(20)),
                        _ => break,
                    }
                }
                latencies.lock().expect("latencies").extend(times);
                ranges.lock().expect("ranges").extend(mine);
            });
        }
    });
    let mut latencies = latencies.into_inner().expect("latencies");
    latencies.sort_by(f64::total_cmp);
    (
        acked.load(Ordering::Relaxed),
        latencies,
        ranges.into_inner().expect("ranges"),
    )
}

/// Waits (up to `limit`) until `done` holds; the time it took.
fn wait_until(limit: Duration, done: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !done() && started.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

/// The discard baseline: how fast this machine moves the same syslog load into a socket
/// that only reads.
fn tcp_baseline(connections: usize, seconds: u64) -> f64 {
    let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
        return 0.0;
    };
    let Ok(address) = listener.local_addr() else {
        return 0.0;
    };
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = vec![0u8; 256 << 10];
                while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
            });
        }
    });
    let started = Instant::now();
    let sent = tcp_load(&address.to_string(), connections, seconds);
    sent as f64 / started.elapsed().as_secs_f64()
}

fn hec_ids(dir: &Path) -> Vec<u64> {
    let mut ids = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return ids;
    };
    for entry in entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
    {
        let Ok(text) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in text.lines() {
            if let Some(at) = line.find("\"seq\":") {
                let digits: String = line[at + 6..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(n) = digits.parse() {
                    ids.push(n);
                }
            }
        }
    }
    ids.sort_unstable();
    ids
}

/// The configuration the benchmark serves with: syslog over TCP and UDP, and HEC.
fn write_config(dir: &Path, durability: &str) -> Result<(), Failure> {
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| Failure::Internal(e.to_string()))
    };
    write("hec.tokens", format!("{TOKEN}\n"))?;
    write(
        "serve.toml",
        format!(
            "version = 1\n[spool]\ndurability = \"{durability}\"\n[[input]]\nkind = \"syslog_tcp\"\naddress = \"127.0.0.1:0\"\n[[input]]\nkind = \"syslog_udp\"\naddress = \"127.0.0.1:0\"\n[[input]]\nkind = \"hec\"\naddress = \"127.0.0.1:0\"\ntoken_file = \"hec.tokens\"\n"
        ),
    )
}

pub fn run(args: BenchLiveArgs) -> Result<ExitCode, Failure> {
    if !matches!(args.durability.as_str(), "fsync" | "write") {
        return Err(Failure::Usage("--durability is fsync or write".into()));
    }
    let dir = tempfile::tempdir().map_err(|e| Failure::Internal(e.to_string()))?;
    write_config(dir.path(), &args.durability)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "garrison bench live: {} s per phase, {} connections, spool durability {}, {cores} cores shared by the load and the server",
        args.seconds, args.connections, args.durability
    );

    let baseline = tcp_baseline(args.connections, args.seconds.min(5));
    println!(
        "baseline   discard sink, same syslog load over TCP: {:>9.0} messages/s",
        baseline
    );

    let server = Server::start(dir.path())?;
    let spool = |name: &str| server.state.join("spool").join(name);

    // Syslog over TCP, as fast as the server takes it.
    let started = Instant::now();
    let sent = tcp_load(
        &server.address("syslog-tcp")?,
        args.connections,
        args.seconds,
    );
    wait_until(Duration::from_secs(60), || {
        spooled(&spool("syslog-tcp")) >= sent
    });
    let elapsed = started.elapsed().as_secs_f64();
    let spooled_tcp = spooled(&spool("syslog-tcp"));
    println!(
        "syslog TCP {:>9} messages sent, {:>9} spooled: {:>9.0} messages/s accepted (target 50,000)",
        sent,
        spooled_tcp,
        spooled_tcp as f64 / elapsed
    );
    let (peak, anonymous) = server.memory();
    println!(
        "           server peak resident memory {:.0} MB; anonymous memory now {:.0} MB",
        peak as f64 / 1e6,
        anonymous as f64 / 1e6
    );

    // Syslog over UDP at a paced rate.
    let udp_sent = udp_load(&server.address("syslog-udp")?, args.udp_rate, args.seconds);
    wait_until(Duration::from_secs(10), || {
        spooled(&spool("syslog-udp")) >= udp_sent
    });
    let udp_spooled = spooled(&spool("syslog-udp"));
    println!(
        "syslog UDP {:>9} offered at {}/s, {:>9} spooled ({:.2}% lost in the kernel's buffers)",
        udp_sent,
        args.udp_rate,
        udp_spooled,
        100.0 * (udp_sent.saturating_sub(udp_spooled)) as f64 / udp_sent.max(1) as f64
    );

    // HEC.
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (acked, latencies, _) = hec_load(
        &server.address("hec")?,
        0,
        args.connections,
        args.batch,
        Instant::now() + Duration::from_secs(args.seconds),
        &stop,
    );
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "HEC        {:>9} events acknowledged: {:>9.0} events/s (target 20,000); request p50 {:.1} ms, p99 {:.1} ms ({} events a request)",
        acked,
        acked as f64 / elapsed,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        args.batch
    );
    let (peak, anonymous) = server.memory();
    println!(
        "           server peak resident memory {:.0} MB; anonymous memory now {:.0} MB",
        peak as f64 / 1e6,
        anonymous as f64 / 1e6
    );
    // The load has ended: the spools no longer grow, so they are counted once (counting
    // reads them whole, which would take a core from the server being measured).
    let all_spooled: Vec<(PathBuf, u64)> = ["syslog-tcp", "syslog-udp", "hec/json", "hec/text"]
        .iter()
        .map(|name| (spool(name), spooled(&spool(name))))
        .collect();
    let done = || {
        all_spooled
            .iter()
            .map(|(dir, _)| processed(dir))
            .sum::<u64>()
    };
    let total: u64 = all_spooled.iter().map(|(_, spooled)| spooled).sum();
    let done_before = done();
    let all_processed = || {
        all_spooled
            .iter()
            .all(|(dir, spooled)| processed(dir) >= *spooled)
    };
    // The write-ahead log's largest size while the backlog is processed: bounded when
    // checkpoints keep up with the evidence written.
    let wal = server
        .state
        .join(format!("{}-wal", garrison_store::sqlite::DATABASE_FILE));
    let wal_size = || std::fs::metadata(&wal).map_or(0, |m| m.len());
    let largest_wal = std::cell::Cell::new(wal_size());
    let caught_up = wait_until(Duration::from_secs(args.seconds * 3), || {
        largest_wal.set(largest_wal.get().max(wal_size()));
        all_processed()
    });
    let done_after = done();
    println!(
        "processing {total} records spooled, {} waiting when the load ended; {:.0} records/s processed over the next {:.0} s{}",
        total - done_before,
        (done_after - done_before) as f64 / caught_up.as_secs_f64().max(0.001),
        caught_up.as_secs_f64(),
        if done_after >= total {
            " (caught up)"
        } else {
            ""
        }
    );
    println!(
        "           evidence store's write-ahead log at most {:.0} MB meanwhile",
        largest_wal.get() as f64 / 1e6
    );
    let log = server.stop()?;
    if let Some(summary) = log.iter().find(|l| l.contains(" records -> ")) {
        println!("           {summary}");
    }

    // SIGKILL under HEC load, then a restart, on a fresh state (no backlog from above).
    let dir = tempfile::tempdir().map_err(|e| Failure::Internal(e.to_string()))?;
    write_config(dir.path(), &args.durability)?;
    let server = Server::start(dir.path())?;
    let before = hec_ids(&server.state.join("spool/hec/json")).len();
    let stop = Arc::new(AtomicBool::new(false));
    let address = server.address("hec")?;
    let (connections, batch, seconds) = (args.connections, args.batch, args.seconds);
    let load_stop = stop.clone();
    let load = std::thread::spawn(move || {
        hec_load(
            &address,
            1 << 40,
            connections,
            batch,
            Instant::now() + Duration::from_secs(seconds * 2),
            &load_stop,
        )
    });
    std::thread::sleep(Duration::from_secs(seconds / 2).max(Duration::from_secs(1)));
    let (peak, _) = server.memory();
    server.kill();
    let (acked, _, ranges) = load
        .join()
        .map_err(|_| Failure::Internal("the load panicked".into()))?;
    let server = Server::start(dir.path())?;
    let spool_dir = server.state.join("spool/hec/json");
    let spooled_after = spooled(&spool_dir);
    wait_until(Duration::from_secs(600), || {
        processed(&spool_dir) >= spooled_after
    });
    let ids = hec_ids(&spool_dir);
    let before = before.min(ids.len());
    let mut unique = ids.clone();
    unique.dedup();
    let duplicates = ids.len() - unique.len();
    let lost: u64 = ranges
        .iter()
        .flat_map(|&(first, count)| first..first + count as u64)
        .filter(|n| unique.binary_search(n).is_err())
        .count() as u64;
    let state = server.state.clone();
    let log = server.stop()?;
    let stored = garrison_store::SqliteStore::open(&state)
        .and_then(|store| garrison_store::EvidenceStore::event_count(&store))
        .map_err(|e| Failure::Store(e.to_string()))?;
    let records: u64 = ["syslog-tcp", "syslog-udp", "hec/json", "hec/text"]
        .iter()
        .map(|n| spooled(&state.join("spool").join(n)))
        .sum();
    println!(
        "kill -9    under HEC load after {} s: {} events acknowledged, {lost} of them lost; {duplicates} records spooled twice; {} new records after the restart (peak memory before the kill {:.0} MB)",
        (seconds / 2).max(1),
        acked,
        ids.len() - before,
        peak as f64 / 1e6
    );
    println!(
        "           evidence store: {stored} events for {records} spooled records ({})",
        if stored == records {
            "each once"
        } else {
            "MISMATCH"
        }
    );
    if let Some(summary) = log.iter().find(|l| l.contains(" records -> ")) {
        println!("           {summary}");
    }
    if lost > 0 || duplicates > 0 || stored != records {
        return Err(Failure::Internal(
            "acknowledged events were lost or records repeated".into(),
        ));
    }
    Ok(ExitCode::Success)
}
