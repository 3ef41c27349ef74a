//! What `garrison chaos` runs and breaks: its own NATS server and PostgreSQL cluster (or ones
//! it is given, which it leaves alone), and the agent processes, which it kills and revives.

use crate::Failure;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The bus and store servers of a chaos run.
pub struct Engines {
    nats: Nats,
    postgres: Postgres,
    pub nats_restarts: u64,
    pub postgres_restarts: u64,
}

enum Nats {
    /// Given: used, never restarted.
    External(String),
    Own {
        child: Child,
        port: u16,
        dir: PathBuf,
    },
}

enum Postgres {
    /// Given: used, never restarted.
    External(String),
    Own {
        bin: PathBuf,
        data: PathBuf,
        port: u16,
        /// The user the server runs as (when this process is root).
        owner: Option<String>,
    },
}

fn io_failure(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |error| Failure::Internal(format!("{what}: {error}"))
}

/// Lets other users through `dir` (PostgreSQL started as `postgres` must reach its data).
pub fn open_to_others(dir: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(io_failure("cannot open the working folder"))
}

fn free_port() -> Result<u16, Failure> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(io_failure("no free port"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(io_failure("no free port"))
}

fn wait_listening(port: u16, what: &str) -> Result<(), Failure> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(Failure::Internal(format!(
        "{what} did not listen on port {port} within 30 s"
    )))
}

fn find(binary: &str, candidates: &[&str]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|path| path.is_file())
    });
    on_path.or_else(|| {
        candidates
            .iter()
            .map(PathBuf::from)
            .find(|path| path.is_file())
    })
}

/// The newest PostgreSQL server binaries installed the Debian way.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .or_else(|| find("pg_ctl", &[]).and_then(|p| p.parent().map(Path::to_path_buf)))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Runs a PostgreSQL tool, as `owner` when given (PostgreSQL refuses to run as root).
fn postgres_tool(
    bin: &Path,
    tool: &str,
    owner: &Option<String>,
    args: &[&str],
) -> Result<(), Failure> {
    let mut command = match owner {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(bin.join(tool));
            command
        }
        None => Command::new(bin.join(tool)),
    };
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(io_failure(tool))?;
    if !output.status.success() {
        return Err(Failure::Internal(format!(
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(())
}

impl Engines {
    pub fn start(
        work: &Path,
        nats: Option<String>,
        postgres: Option<String>,
    ) -> Result<Engines, Failure> {
        let nats = match nats {
            Some(url) => Nats::External(url),
            None => {
                let dir = work.join("nats");
                let port = free_port()?;
                let child = start_nats(&dir, port)?;
                Nats::Own { child, port, dir }
            }
        };
        let postgres = match postgres {
            Some(url) => Postgres::External(url),
            None => start_postgres(work)?,
        };
        Ok(Engines {
            nats,
            postgres,
            nats_restarts: 0,
            postgres_restarts: 0,
        })
    }

    pub fn nats_url(&self) -> String {
        match &self.nats {
            Nats::External(url) => url.clone(),
            Nats::Own { port, .. } => format!("nats://127.0.0.1:{port}"),
        }
    }

    pub fn postgres_url(&self) -> String {
        match &self.postgres {
            Postgres::External(url) => url.clone(),
            Postgres::Own { port, .. } => {
                format!("host=127.0.0.1 port={port} user=postgres dbname=postgres")
            }
        }
    }

    /// Kills our NATS server (SIGKILL) and starts it again on its data.
    pub fn restart_nats(&mut self) -> Result<(), Failure> {
        if let Nats::Own { child, port, dir } = &mut self.nats {
            eprintln!("chaos: killing NATS and starting it again");
            let _ = child.kill();
            let _ = child.wait();
            *child = start_nats(dir, *port)?;
            self.nats_restarts += 1;
        }
        Ok(())
    }

    /// Stops our PostgreSQL as a crash would (immediate mode: no checkpoint, recovery from
    /// the WAL at start) and starts it again.
    pub fn restart_postgres(&mut self) -> Result<(), Failure> {
        if let Postgres::Own {
            bin,
            data,
            port,
            owner,
        } = &self.postgres
        {
            eprintln!("chaos: crashing PostgreSQL and starting it again");
            let data_text = data.to_string_lossy().to_string();
            postgres_tool(
                bin,
                "pg_ctl",
                owner,
                &["-D", &data_text, "-m", "immediate", "-w", "stop"],
            )?;
            pg_start(bin, data, *port, owner)?;
            self.postgres_restarts += 1;
        }
        Ok(())
    }

    pub fn stop(&mut self) {
        if let Nats::Own { child, .. } = &mut self.nats {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Postgres::Own {
            bin, data, owner, ..
        } = &self.postgres
        {
            let data_text = data.to_string_lossy().to_string();
            let _ = postgres_tool(
                bin,
                "pg_ctl",
                owner,
                &["-D", &data_text, "-m", "fast", "-w", "stop"],
            );
        }
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_nats(dir: &Path, port: u16) -> Result<Child, Failure> {
    let binary = find(
        "nats-server",
        &["/usr/sbin/nats-server", "/usr/local/bin/nats-server"],
    )
    .ok_or_else(|| Failure::Internal("no nats-server to start (give --nats URL)".into()))?;
    std::fs::create_dir_all(dir).map_err(io_failure("cannot make the NATS folder"))?;
    let log = std::fs::File::create(dir.with_extension("log")).map_err(io_failure("NATS log"))?;
    let child = Command::new(binary)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(io_failure("cannot start nats-server"))?;
    wait_listening(port, "nats-server")?;
    Ok(child)
}

fn start_postgres(work: &Path) -> Result<Postgres, Failure> {
    let bin = postgres_bin().ok_or_else(|| {
        Failure::Internal("no PostgreSQL server binaries (give --postgres URL)".into())
    })?;
    let data = work.join("postgres");
    let owner = is_root().then(|| "postgres".to_string());
    std::fs::create_dir_all(&data).map_err(io_failure("cannot make the PostgreSQL folder"))?;
    if let Some(user) = &owner {
        let status = Command::new("chown")
            .args(["-R", &format!("{user}:{user}")])
            .arg(&data)
            .status()
            .map_err(io_failure("chown"))?;
        if !status.success() {
            return Err(Failure::Internal(format!(
                "cannot give {} to {user}",
                data.display()
            )));
        }
    }
    let data_text = data.to_string_lossy().to_string();
    postgres_tool(
        &bin,
        "initdb",
        &owner,
        &[
            "-D",
            &data_text,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        ],
    )?;
    let port = free_port()?;
    pg_start(&bin, &data, port, &owner)?;
    Ok(Postgres::Own {
        bin,
        data,
        port,
        owner,
    })
}

fn pg_start(bin: &Path, data: &Path, port: u16, owner: &Option<String>) -> Result<(), Failure> {
    let data_text = data.to_string_lossy().to_string();
    // Inside the data folder: the server's user can write there.
    let log = data.join("server.log").to_string_lossy().to_string();
    let options = format!("-p {port} -k {data_text} -c listen_addresses=127.0.0.1");
    postgres_tool(
        bin,
        "pg_ctl",
        owner,
        &["-D", &data_text, "-l", &log, "-o", &options, "-w", "start"],
    )?;
    wait_listening(port, "PostgreSQL")
}

/// The agent processes: started, killed at random, revived when they end.
pub struct Supervisor {
    binary: PathBuf,
    config: PathBuf,
    logs: PathBuf,
    /// Arguments every agent process gets.
    extra: Vec<String>,
    agents: Vec<(Vec<String>, Option<Child>)>,
    kills: u64,
    restarts: u64,
}

impl Supervisor {
    pub fn new(
        binary: &Path,
        config: &Path,
        logs: &Path,
        roles: &[&[&str]],
        extra: &[&str],
    ) -> Result<Supervisor, Failure> {
        std::fs::create_dir_all(logs).map_err(io_failure("cannot make the logs folder"))?;
        let mut supervisor = Supervisor {
            binary: binary.to_path_buf(),
            config: config.to_path_buf(),
            logs: logs.to_path_buf(),
            extra: extra.iter().map(|arg| arg.to_string()).collect(),
            agents: roles
                .iter()
                .map(|roles| (roles.iter().map(|r| r.to_string()).collect(), None))
                .collect(),
            kills: 0,
            restarts: 0,
        };
        for index in 0..supervisor.agents.len() {
            supervisor.spawn(index)?;
        }
        Ok(supervisor)
    }

    fn spawn(&mut self, index: usize) -> Result<(), Failure> {
        let (roles, slot) = &mut self.agents[index];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("agent-{index}.log")))
            .map_err(io_failure("agent log"))?;
        let mut command = Command::new(&self.binary);
        command.arg("agent").arg("--config").arg(&self.config);
        for role in roles.iter() {
            command.args(["--role", role]);
        }
        command.args(&self.extra);
        *slot = Some(
            command
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(io_failure("cannot start an agent"))?,
        );
        Ok(())
    }

    /// Starts again every agent process that ended (killed, or stopped on a lost lock).
    pub fn revive(&mut self) -> Result<(), Failure> {
        for index in 0..self.agents.len() {
            let ended = match &mut self.agents[index].1 {
                Some(child) => child.try_wait().ok().flatten().is_some(),
                None => true,
            };
            if ended {
                self.restarts += 1;
                self.spawn(index)?;
            }
        }
        Ok(())
    }

    /// SIGKILL to one agent process, picked at random (among those running `role` when
    /// given); whether one was killed.
    pub fn kill_one(&mut self, random: &mut fastrand::Rng, role: Option<&str>) -> bool {
        let candidates: Vec<usize> = (0..self.agents.len())
            .filter(|&index| role.is_none_or(|role| self.agents[index].0.iter().any(|r| r == role)))
            .collect();
        if candidates.is_empty() {
            return false;
        }
        let index = candidates[random.usize(..candidates.len())];
        let (roles, slot) = &mut self.agents[index];
        let Some(child) = slot else {
            return false;
        };
        eprintln!("chaos: SIGKILL to agent {index} ({})", roles.join("+"));
        let _ = child.kill();
        let _ = child.wait();
        self.kills += 1;
        true
    }

    /// Stops every agent with SIGTERM (they finish what they hold); kills and restarts made.
    pub fn stop(&mut self) -> (u64, u64) {
        for (_, slot) in &mut self.agents {
            if let Some(mut child) = slot.take() {
                let _ = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        (self.kills, self.restarts)
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for (_, slot) in &mut self.agents {
            if let Some(mut child) = slot.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
