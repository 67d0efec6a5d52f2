//! Real services for the integration tests, each started on a free loopback port and stopped
//! when dropped: Debian's `redis-server`, and tansu (a Kafka-protocol broker with in-memory
//! storage), both installed by `xtask/prepare`. Plus the `live-shopper run` child process.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < timeout, "{what} did not come up within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A private `redis-server` on loopback, stopped when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    /// Where an append-only file lives when the server persists (survives a kill).
    dir: Option<PathBuf>,
}

impl RedisServer {
    pub fn start_on(port: u16) -> RedisServer {
        Self::spawn(port, None)
    }

    /// A server that fsyncs every write to an append-only file in `dir`: a restart on the same
    /// dir keeps every acknowledged write, as a production Redis with AOF would.
    pub fn start_persistent(port: u16, dir: &std::path::Path) -> RedisServer {
        Self::spawn(port, Some(dir.to_path_buf()))
    }

    fn spawn(port: u16, dir: Option<PathBuf>) -> RedisServer {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
        match &dir {
            Some(d) => cmd.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"]).arg(d),
            None => cmd.args(["--appendonly", "no"]),
        };
        let child =
            cmd.stdout(Stdio::null()).spawn().expect("redis-server is installed (xtask/prepare installs it)");
        let server = RedisServer { port, child, dir };
        wait_for("redis-server", Duration::from_secs(10), || server.connection().is_ok());
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let mut c = redis::Client::open(self.url())?.get_connection()?;
        redis::cmd("PING").query::<String>(&mut c)?;
        Ok(c)
    }

    /// Kills the server (SIGKILL, no shutdown save) and starts it again on the same port and dir.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn restart(&mut self) {
        let again = Self::spawn(self.port, self.dir.clone());
        *self = again;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tansu broker with in-memory storage on a free loopback port.
pub struct Broker {
    pub port: u16,
    child: Child,
}

impl Broker {
    pub fn start() -> Broker {
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu is installed (xtask/prepare installs it)");
        let broker = Broker { port, child };
        wait_for("tansu", Duration::from_secs(20), || TcpStream::connect(("127.0.0.1", port)).is_ok());
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tansu binary: `$TANSU` if set, else on PATH or in cargo's bin folder.
fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("TANSU") {
        return path.into();
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|c| c.join("bin/tansu"));
    match cargo_bin {
        Some(p) if p.exists() => p,
        _ => PathBuf::from("tansu"),
    }
}

/// A `live-shopper run` child process; its stderr is collected, and it is stopped when dropped.
pub struct Host {
    child: Child,
    stderr: Arc<Mutex<String>>,
    pub http: String,
}

impl Host {
    /// Starts `live-shopper run` with `env` (the `LIVE_SHOPPER_*` variables) and `args`, and
    /// waits until its HTTP API answers.
    pub fn start(env: &[(&str, String)], args: &[&str]) -> Host {
        Self::start_at("127.0.0.1:0", env, args)
    }

    /// Like [`Host::start`], with the HTTP API on `addr`.
    pub fn start_at(addr: &str, env: &[(&str, String)], args: &[&str]) -> Host {
        let run: Vec<&str> = ["run", "--http-addr", addr].into_iter().chain(args.iter().copied()).collect();
        Self::launch(&run, env, Duration::from_secs(30))
    }

    /// Starts `live-shopper <args>` (a command that serves the HTTP API: `run`, `dev`) and waits
    /// up to `startup` until the API answers.
    pub fn launch(args: &[&str], env: &[(&str, String)], startup: Duration) -> Host {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_live-shopper"));
        cmd.args(args).stderr(Stdio::piped()).stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        spawn_reader(child.stderr.take().unwrap(), stderr.clone(), tx);
        let http = rx.recv_timeout(startup).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the host did not announce its address: {}", stderr.lock().unwrap())
        });
        Host { child, stderr, http }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// GET `path` on the host's API: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        crate::cli::http_get(&self.http, path)
    }

    /// The `/healthz` JSON.
    pub fn health(&self) -> serde_json::Value {
        let (status, body) = self.get("/healthz");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until `/healthz` satisfies `done`, or fails with the host's log.
    pub fn wait_health(&self, what: &str, timeout: Duration, done: impl Fn(&serde_json::Value) -> bool) {
        let started = Instant::now();
        loop {
            let h = self.health();
            if done(&h) {
                return;
            }
            assert!(started.elapsed() < timeout, "timed out waiting for {what}: {h}\n{}", self.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGINT, then waits for a clean exit and returns the log.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                let log = self.stderr();
                assert!(status.success(), "host exited with {status}: {log}");
                return log;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "host did not stop: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_reader(stderr: ChildStderr, log: Arc<Mutex<String>>, addr: std::sync::mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("health    curl http://") {
                let _ = addr.send(rest.split('/').next().unwrap_or_default().to_string());
            }
            let mut l = log.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
}

/// A three-master Redis Cluster of `redis-server`s on loopback, made with `redis-cli --cluster
/// create`; stopped when dropped.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().unwrap();
        // Each node also needs its cluster-bus port, port + 10000.
        let mut ports = Vec::new();
        while ports.len() < 3 {
            let p = free_port();
            if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() && !ports.contains(&p) {
                ports.push(p);
            }
        }
        let children = ports
            .iter()
            .map(|p| {
                let node_dir = dir.path().join(p.to_string());
                std::fs::create_dir_all(&node_dir).unwrap();
                Command::new("redis-server")
                    .args([
                        "--port",
                        &p.to_string(),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ])
                    .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir"])
                    .arg(&node_dir)
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("redis-server is installed")
            })
            .collect();
        let cluster = RedisCluster { ports, children, _dir: dir };
        for p in &cluster.ports {
            wait_for("a cluster node", Duration::from_secs(10), || {
                TcpStream::connect(("127.0.0.1", *p)).is_ok()
            });
        }
        let nodes: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed with redis-server");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        wait_for("cluster_state:ok", Duration::from_secs(20), || {
            cluster.ports.iter().all(|p| {
                let info = Command::new("redis-cli").args(["-p", &p.to_string(), "cluster", "info"]).output();
                info.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
            })
        });
        cluster
    }

    /// The URL the host takes for a cluster: its seed nodes.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    pub fn connection(&self) -> redis::cluster::ClusterConnection {
        let nodes: Vec<String> = self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect();
        redis::cluster::ClusterClient::new(nodes).unwrap().get_connection().unwrap()
    }

    /// Keys held by each node.
    pub fn keys_per_node(&self) -> Vec<usize> {
        self.ports
            .iter()
            .map(|p| {
                let mut c =
                    redis::Client::open(format!("redis://127.0.0.1:{p}")).unwrap().get_connection().unwrap();
                redis::cmd("DBSIZE").query::<usize>(&mut c).unwrap()
            })
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
