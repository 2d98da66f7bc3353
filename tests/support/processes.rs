//! Finding and running the workspace's binaries as real processes.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use shared::contract::Operation;

use crate::http_client::HttpClient;
use crate::{Reply, Target, TestRequest};

/// The function that publishes the table's stream as events.
pub const EVENTS_FUNCTION: &str = "publish-events";

/// Every function binary `template.yaml` deploys: one per operation, named by it, and the
/// events function.
pub const ALL_FUNCTIONS: [&str; Operation::ALL.len() + 1] = {
    let mut names = [EVENTS_FUNCTION; Operation::ALL.len() + 1];
    let mut i = 0;
    while i < Operation::ALL.len() {
        names[i] = Operation::ALL[i].name();
        i += 1;
    }
    names
};

/// Path of a workspace binary in the same target directory as the running executable. The test
/// command builds every binary first (`cargo build --workspace`), so a missing one is a loud
/// failure.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    // A test runs from target/<profile>/deps/, the benchmark from target/<profile>/.
    let mut dir = exe.parent().expect("executable directory");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("target directory");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "binary {} not found: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

/// Spawns a server that prints its `http://` address in the first line on stdout (local-api, the
/// benchmark's HTTP ceiling), killed when the returned child is dropped, and waits for that
/// address.
pub async fn spawn_listening(mut command: Command) -> (Child, String) {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("spawn the server");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the server printed no address within 60 s")
        .expect("read the server's stdout")
        .expect("the server exited before listening");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// A running `local-api` on a free loopback port, killed when dropped.
pub struct LocalApi {
    child: Child,
    pub client: HttpClient,
}

impl LocalApi {
    /// Starts `local-api --port 0` with `env` added, and waits for its address line.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        Self::launch(env, &["--port", "0"]).await
    }

    /// Starts `local-api` with exactly `args` (plus `env`) and waits for its address line.
    pub async fn launch(env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut command = Command::new(binary("local-api"));
        command
            .env_remove("USERS_TABLE")
            .env_remove("PORT")
            .stderr(Stdio::inherit());
        Self::spawn(command, env, args).await
    }

    /// Like [`start`](Self::start), with its logs (stderr) appended to `log`.
    pub async fn start_logging_to(env: &[(&str, &str)], log: &std::path::Path) -> Self {
        let mut command = Command::new(binary("local-api"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open log file");
        command
            .env_remove("USERS_TABLE")
            .env_remove("PORT")
            .stderr(file);
        Self::spawn(command, env, &["--port", "0"]).await
    }

    /// Like [`launch`](Self::launch), with an environment holding nothing but `PATH` and `env`.
    pub async fn launch_clean(env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut command = Command::new(binary("local-api"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        Self::spawn(command, env, args).await
    }

    async fn spawn(mut command: Command, env: &[(&str, &str)], args: &[&str]) -> Self {
        command
            .args(args)
            // Quiet unless a test asks for more: its stderr is the test run's own.
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied());
        let (child, url) = spawn_listening(command).await;
        Self {
            child,
            client: HttpClient::new(url),
        }
    }

    /// The value of the counter or gauge `name` on its `/metrics` page.
    pub async fn metric(&self, name: &str) -> f64 {
        let page = self
            .client
            .send(TestRequest::new(http::Method::GET, "/metrics"))
            .await;
        String::from_utf8_lossy(&page.body)
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} in /metrics"))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name} in /metrics: {e}"))
    }

    /// Kills the process at once (SIGKILL), as a crash would, and waits for it.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill local-api");
    }

    /// The process id, for benchmarks that read its memory from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("running child")
    }

    /// Sends SIGTERM and waits for a clean exit, as a process manager would.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        send_sigterm(self.pid()).await;
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("local-api did not exit within 15 s of SIGTERM")
            .expect("wait for local-api")
    }
}

/// Sends process `pid` SIGTERM, as a process manager (or Lambda) does to stop it.
pub async fn send_sigterm(pid: u32) {
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {pid} failed");
}

impl Target for LocalApi {
    async fn send(&self, request: TestRequest) -> Reply {
        self.client.send(request).await
    }
}
