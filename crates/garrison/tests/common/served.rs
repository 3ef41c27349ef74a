//! `garrison serve` with a configuration file as its own process, and plain HTTP/1.1 requests
//! to it, for tests that feed its inputs and call its console.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TOKEN: &str = "0123456789abcdef0123";

/// A running `garrison serve` and what it has said.
pub struct Served {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
    pub state: PathBuf,
}

impl Served {
    pub fn start(dir: &Path, config: &str) -> Served {
        Served::start_with(dir, config, &[])
    }

    /// As [`Served::start`], with more arguments for `serve`.
    pub fn start_with(dir: &Path, config: &str, more: &[&str]) -> Served {
        std::fs::write(dir.join("hec.tokens"), format!("{TOKEN}\n")).unwrap();
        std::fs::write(dir.join("serve.toml"), config).unwrap();
        let state = dir.join("state");
        let mut child = Command::new(env!("CARGO_BIN_EXE_garrison"))
            .args(["serve", "--http", "127.0.0.1:0", "--config"])
            .arg(dir.join("serve.toml"))
            .arg("--state")
            .arg(&state)
            .args(more)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("garrison serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (ready, is_ready) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let shared = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let done = line.starts_with("garrison serve: ready");
                shared.lock().unwrap().push_str(&(line + "\n"));
                if done {
                    let _ = ready.send(());
                }
            }
            let _ = ready.send(());
        });
        is_ready
            .recv_timeout(Duration::from_secs(60))
            .expect("serve gets ready");
        let served = Served { child, log, state };
        assert!(
            served.log().contains("ready"),
            "serve did not start:\n{}",
            served.log()
        );
        served
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The address the console (and its API) listens on.
    pub fn console(&self) -> String {
        let log = self.log();
        let line = log
            .lines()
            .find_map(|l| {
                l.strip_prefix("garrison serve: console on http://")
                    .or_else(|| l.strip_prefix("garrison serve: console on https://"))
            })
            .unwrap_or_else(|| panic!("no console:\n{log}"));
        line.split('/').next().unwrap().to_string()
    }

    /// The address input `name` listens on.
    pub fn address(&self, name: &str) -> String {
        let log = self.log();
        let prefix = format!("garrison serve: input {name} (");
        let line = log
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no input {name}:\n{log}"));
        line.rsplit(' ').next().unwrap().to_string()
    }

    /// SIGTERM, then the whole log once it exits.
    pub fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log();
        assert!(exit.success(), "serve failed: {exit:?}\n{log}");
        log
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Sends one HTTP/1.1 request and returns the status and body.
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    try_http(address, method, path, authorization, body).expect("an HTTP answer")
}

/// Calls the console's API at `address` with a bearer `token` and a JSON `body`: the status
/// and the answer as JSON (null when it is not).
pub fn api(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut stream = TcpStream::connect(address).expect("the console answers");
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    // Chunked answers: the JSON is the one chunk between its size line and the end marker.
    let text = match head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        true => rest
            .split_once("\r\n")
            .map(|(_, chunk)| {
                chunk
                    .rsplit_once("\r\n0\r\n")
                    .map_or(chunk, |(json, _)| json)
            })
            .unwrap_or(""),
        false => rest,
    };
    (
        status,
        serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
    )
}

/// As [`http`], `None` when the server is not there to answer.
pub fn try_http(
    address: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(address).ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(value) = authorization {
        request.push_str(&format!("Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// The console's live feed (`/api/v1/events`), each update's JSON as it comes.
pub fn event_stream(address: &str, token: &str) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let mut stream = TcpStream::connect(address).unwrap();
    // HTTP/1.0: the body comes as it is, not in chunks, until the server closes.
    write!(
        stream,
        "GET /api/v1/events HTTP/1.0\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data: ")
                && let Ok(update) = serde_json::from_str(data)
                && sender.send(update).is_err()
            {
                return;
            }
        }
    });
    receiver
}
