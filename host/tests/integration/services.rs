//! Real services for the integration tests, each started on a free loopback port and stopped
//! when dropped: Debian's `redis-server`, and tansu (a Kafka-protocol broker with in-memory
//! storage), both installed by `xtask/prepare`. Plus the `live-shopper run` child process.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A loopback port nobody listens on right now. Another process may take it before it is used,
/// so every service started on one checks that it came up itself and retries on a new port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How many ports a service tries before giving up.
const PORT_TRIES: usize = 5;

fn wait_for(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < timeout, "{what} did not come up within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `ready`, or returns false as soon as `child` exits (its port was taken).
fn came_up(child: &mut Child, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(started.elapsed() < timeout, "{what} did not come up within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where a test Redis listens.
#[derive(Clone)]
enum RedisAddr {
    Port(u16),
    /// A Unix socket: a path known before the server starts, with no port to race for.
    Socket(PathBuf),
}

/// A private `redis-server` on loopback, stopped when dropped.
pub struct RedisServer {
    addr: RedisAddr,
    child: Child,
    /// Where an append-only file lives when the server persists (survives a kill).
    dir: Option<PathBuf>,
}

impl RedisServer {
    /// A server on a free loopback port.
    pub fn start() -> RedisServer {
        Self::on_free_port(None)
    }

    /// A server on the Unix socket `path` (which may be named to a client before it exists).
    pub fn start_on_socket(path: &std::path::Path) -> RedisServer {
        Self::spawn(RedisAddr::Socket(path.to_path_buf()), None).expect("redis-server started on its socket")
    }

    /// A server that fsyncs every write to an append-only file in `dir`: a restart on the same
    /// dir keeps every acknowledged write, as a production Redis with AOF would.
    pub fn start_persistent(dir: &std::path::Path) -> RedisServer {
        Self::on_free_port(Some(dir.to_path_buf()))
    }

    fn on_free_port(dir: Option<PathBuf>) -> RedisServer {
        for _ in 0..PORT_TRIES {
            if let Some(server) = Self::spawn(RedisAddr::Port(free_port()), dir.clone()) {
                return server;
            }
        }
        panic!("redis-server did not start on any of {PORT_TRIES} free ports");
    }

    /// Starts a server; None when it exited at once (its port was taken meanwhile).
    fn spawn(addr: RedisAddr, dir: Option<PathBuf>) -> Option<RedisServer> {
        let mut cmd = Command::new("redis-server");
        match &addr {
            RedisAddr::Port(port) => cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]),
            RedisAddr::Socket(path) => cmd.args(["--port", "0", "--unixsocket"]).arg(path),
        };
        cmd.args(["--save", ""]);
        match &dir {
            Some(d) => cmd.args(["--appendonly", "yes", "--appendfsync", "always", "--dir"]).arg(d),
            None => cmd.args(["--appendonly", "no"]),
        };
        let child =
            cmd.stdout(Stdio::null()).spawn().expect("redis-server is installed (xtask/prepare installs it)");
        let mut server = RedisServer { addr, child, dir };
        let url = server.url();
        let up = came_up(&mut server.child, "redis-server", Duration::from_secs(10), || ping(&url).is_ok());
        up.then_some(server)
    }

    pub fn url(&self) -> String {
        match &self.addr {
            RedisAddr::Port(port) => format!("redis://127.0.0.1:{port}"),
            RedisAddr::Socket(path) => format!("redis+unix://{}", path.display()),
        }
    }

    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        ping(&self.url())
    }

    /// Kills the server (SIGKILL, no shutdown save).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the killed server again on the same address and dir. (The port was free a moment
    /// ago; should another process take it meanwhile, this fails loudly rather than moving.)
    pub fn restart(&mut self) {
        let again =
            Self::spawn(self.addr.clone(), self.dir.clone()).expect("redis-server restarted on its port");
        *self = again;
    }
}

fn ping(url: &str) -> redis::RedisResult<redis::Connection> {
    let mut c = redis::Client::open(url)?.get_connection()?;
    redis::cmd("PING").query::<String>(&mut c)?;
    Ok(c)
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
    /// A broker on a free loopback port (another is tried if that one was taken meanwhile).
    pub fn start() -> Broker {
        for _ in 0..PORT_TRIES {
            let port = free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let mut child = Command::new(tansu())
                .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                // Warnings only: at info a broker under these tests logs gigabytes.
                .env("RUST_LOG", "warn")
                .stdout(std::fs::File::create(log_of(port)).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .expect("tansu is installed (xtask/prepare installs it)");
            let ready = || TcpStream::connect(("127.0.0.1", port)).is_ok();
            if came_up(&mut child, "tansu", Duration::from_secs(20), ready) {
                return Broker { port, child };
            }
        }
        panic!("tansu did not start on any of {PORT_TRIES} free ports");
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(log_of(self.port));
    }
}

/// Where the broker on `port` logs (removed when it stops).
fn log_of(port: u16) -> String {
    format!("{}/tansu-{port}.log", std::env::temp_dir().display())
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
    /// The thread collecting stderr; it ends at the child's EOF.
    reader: Option<std::thread::JoinHandle<()>>,
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
        let reader = spawn_reader(child.stderr.take().unwrap(), stderr.clone(), tx);
        let http = rx.recv_timeout(startup).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the host did not announce its address: {}", stderr.lock().unwrap())
        });
        Host { child, stderr, reader: Some(reader), http }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The host's process id (its Redis connections are named `live-shopper-<pid>`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// GET `path` on the host's API: (status, body). A host that no longer answers fails the
    /// test with its log.
    pub fn get(&self, path: &str) -> (u16, String) {
        if std::net::TcpStream::connect(&self.http).is_err() {
            std::thread::sleep(Duration::from_millis(300)); // let the log of its exit arrive
            panic!("the host at {} no longer answers: {}", self.http, self.stderr());
        }
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
    pub fn stop(self) -> String {
        self.signal_and_wait("-INT")
    }

    /// SIGTERM (what an orchestrator sends), then waits for a clean exit and returns the log.
    pub fn terminate(self) -> String {
        self.signal_and_wait("-TERM")
    }

    /// SIGKILL: the process dies where it stands, nothing flushed. Returns the log so far.
    pub fn kill9(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.reader.take().unwrap().join().unwrap();
        self.stderr()
    }

    fn signal_and_wait(mut self, signal: &str) -> String {
        let pid = self.child.id().to_string();
        Command::new("kill").args([signal, &pid]).status().unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader ends at the child's EOF: then the log is complete.
                self.reader.take().unwrap().join().unwrap();
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

fn spawn_reader(
    stderr: ChildStderr,
    log: Arc<Mutex<String>>,
    addr: std::sync::mpsc::Sender<String>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.trim().strip_prefix("health    curl http://") {
                let _ = addr.send(rest.split('/').next().unwrap_or_default().to_string());
            }
            let mut l = log.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    })
}

/// A three-master Redis Cluster of `redis-server`s on loopback, made with `redis-cli --cluster
/// create`; stopped when dropped.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Three masters on free ports (and their bus ports); tried again on new ports if a node
    /// could not take its port.
    pub fn start() -> RedisCluster {
        for _ in 0..PORT_TRIES {
            if let Some(cluster) = Self::try_start() {
                return cluster;
            }
        }
        panic!("no Redis Cluster came up on {PORT_TRIES} sets of free ports");
    }

    fn try_start() -> Option<RedisCluster> {
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
        let mut cluster = RedisCluster { ports, children, _dir: dir };
        for (child, p) in cluster.children.iter_mut().zip(&cluster.ports) {
            let ready = || TcpStream::connect(("127.0.0.1", *p)).is_ok();
            if !came_up(child, "a cluster node", Duration::from_secs(10), ready) {
                return None;
            }
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
        Some(cluster)
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
