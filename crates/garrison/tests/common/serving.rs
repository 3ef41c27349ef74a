//! `garrison serve --demo` as its own process on a free port, for tests that use the console
//! from outside (a browser, schemathesis); stopped with SIGTERM when dropped.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Serving {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `garrison serve --demo` on `state` and waits until the console listens.
pub fn serve_demo(state: &Path) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args(["serve", "--demo", "--http", "127.0.0.1:0", "--state"])
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("garrison serve starts");
    let stderr = child.stderr.take().unwrap();
    let (found, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if let Some(rest) = line.strip_prefix("garrison serve: console on ") {
                let url = rest.split(' ').next().unwrap_or("").trim_end_matches('/');
                let _ = found.send(url.to_string());
            }
        }
    });
    // Made first, so that a server that never listens is stopped all the same.
    let mut serving = Serving {
        child,
        url: String::new(),
    };
    serving.url = address
        .recv_timeout(Duration::from_secs(300))
        .expect("the console listens");
    serving
}

/// Adds a user to `state` with `garrison user add` (the password on standard input).
pub fn add_user(state: &Path, name: &str, role: &str, password: &str) {
    let mut add = Command::new(env!("CARGO_BIN_EXE_garrison"))
        .args(["user", "add", name, "--role", role, "--state"])
        .arg(state)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{password}").unwrap();
    assert!(add.wait().unwrap().success());
}
