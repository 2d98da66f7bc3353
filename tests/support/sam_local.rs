//! The real `sam local`: SAM's own API Gateway emulation (`sam local start-api`) and single
//! invocations (`sam local invoke`) over what `sam build` made, each function's arm64 `bootstrap`
//! in a Docker container of its own, run through the host's qemu binfmt handler, behind AWS's
//! Runtime Interface Emulator as on Lambda. The functions get the checked-in
//! `sam-local/env.json`, the file the README tells users to pass.
//!
//! What `./scripts/test` provides, and these helpers insist on (a missing piece fails, never
//! skips): a Docker engine, the `qemu-aarch64` binfmt handler with the F flag (so that it works
//! inside containers), and [`INVOKE_IMAGE`], since AWS's base image registry cannot be reached
//! from the test machines.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use shared::store::dynamodb::schema;

use crate::http_client::HttpClient;
use crate::sam::repo_root;
use crate::{Reply, Target, TestRequest};

/// The stand-in for `provided.al2023` (arm64) that `scripts/provided-al2023-standin` builds from
/// Debian's packages; users' `sam local` pulls AWS's own image instead.
pub const INVOKE_IMAGE: &str = "users-api/provided-al2023-standin:arm64";

/// The env-vars file the README's `sam local` commands use, from the repository's root.
pub const ENV_VARS_FILE: &str = "sam-local/env.json";

/// How the README's `sam local` commands let Linux containers reach this machine by the name
/// Docker Desktop gives it.
pub const ADD_HOST: [&str; 2] = ["--add-host", "host.docker.internal:host-gateway"];

/// One container per function, started up front and kept (the README says why).
pub const WARM_CONTAINERS: [&str; 2] = ["--warm-containers", "EAGER"];

/// [`ENV_VARS_FILE`]'s path.
pub fn env_vars_file() -> PathBuf {
    repo_root().join(ENV_VARS_FILE)
}

/// The `Parameters` (variables for every function) of an env-vars file.
pub fn env_vars(file: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("env-vars file is JSON");
    parsed["Parameters"]
        .as_object()
        .expect("env-vars file has Parameters")
        .clone()
}

/// Fails the test, saying what is missing, unless Docker answers, arm64 binaries run in
/// containers, and [`INVOKE_IMAGE`] exists. Returns the address containers reach this machine at
/// (the default bridge's gateway, where `host-gateway` points).
pub fn docker_host_address() -> IpAddr {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output();
    let answered = info.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        answered,
        "no Docker engine answers ({info:?}): ./scripts/test installs docker.io and starts dockerd"
    );
    let handler =
        std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64").unwrap_or_else(|e| {
            panic!(
                "no qemu-aarch64 binfmt handler ({e}): ./scripts/test registers qemu-user-static's"
            )
        });
    let flags = handler
        .lines()
        .find_map(|line| line.strip_prefix("flags: "))
        .unwrap_or_default();
    assert!(
        handler.starts_with("enabled") && flags.contains('F'),
        "the qemu-aarch64 binfmt handler must be enabled with the F flag to run arm64 binaries \
         inside containers:\n{handler}"
    );
    let image = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            INVOKE_IMAGE,
        ])
        .output()
        .expect("run docker");
    assert!(
        image.status.success() && String::from_utf8_lossy(&image.stdout).trim() == "arm64",
        "{INVOKE_IMAGE} (arm64) is missing: ./scripts/provided-al2023-standin builds it"
    );
    // The default bridge's interface (docker0) holds the gateway address; its IPAM section names
    // no gateway on every engine.
    let bridge = Command::new("docker")
        .args(["network", "inspect", "bridge", "--format"])
        .arg("{{index .Options \"com.docker.network.bridge.name\"}}")
        .output()
        .expect("run docker");
    let bridge = String::from_utf8_lossy(&bridge.stdout).trim().to_owned();
    let address = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", &bridge])
        .output()
        .expect("run ip (iproute2)");
    let address = String::from_utf8_lossy(&address.stdout);
    address
        .split_whitespace()
        .skip_while(|word| *word != "inet")
        .nth(1)
        .and_then(|cidr| cidr.split('/').next())
        .and_then(|ip| ip.parse().ok())
        .unwrap_or_else(|| panic!("Docker's bridge {bridge:?} has no IPv4 address: {address:?}"))
}

/// The port of the DynamoDB endpoint an env-vars file gives the functions
/// (`http://host.docker.internal:8000` -> 8000).
pub fn dynamodb_port(env_vars: &serde_json::Map<String, serde_json::Value>) -> u16 {
    let endpoint = env_vars["AWS_ENDPOINT_URL_DYNAMODB"]
        .as_str()
        .expect("the env-vars file sets AWS_ENDPOINT_URL_DYNAMODB");
    let uri: http::Uri = endpoint.parse().expect("the endpoint is a URL");
    assert_eq!(
        uri.host(),
        Some("host.docker.internal"),
        "containers reach this machine as host.docker.internal (sam local --add-host)"
    );
    uri.port_u16().expect("the endpoint names its port")
}

/// Variables for every `sam` process: no telemetry, and dummy credentials, so that SAM never hands
/// a container whatever real credentials this machine has.
const SAM_ENV: [(&str, &str); 5] = [
    ("SAM_CLI_TELEMETRY", "0"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    ("AWS_ACCESS_KEY_ID", "sam-local-test"),
    ("AWS_SECRET_ACCESS_KEY", "sam-local-test"),
];

/// The options every `sam local` command here shares with the README's: the built template, the
/// env-vars file, the name the functions' endpoint uses, and the stand-in image.
fn sam_local(subcommand: &str, env_vars: &Path) -> Command {
    let root = repo_root();
    let mut command = Command::new(root.join(".venv-sam/bin/sam"));
    command
        .current_dir(&root)
        .args(["local", subcommand])
        .arg("--template")
        .arg(root.join(".aws-sam/build/template.yaml"))
        .arg("--env-vars")
        .arg(env_vars)
        .args(ADD_HOST)
        .args(["--invoke-image", INVOKE_IMAGE, "--skip-pull-image"])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .envs(SAM_ENV)
        .stdin(Stdio::null());
    command
}

/// What `sam local invoke FUNCTION --event EVENT` printed: the function's answer on stdout, SAM's
/// and the function's logs on stderr.
///
/// SAM sends the event as soon as the container runs, and under arm64 emulation AWS's emulator
/// inside may not listen yet: SAM then says "No response from invoke container" without the
/// function having run. That one start-up race is tried once more; anything else is the answer.
pub fn invoke(function: &str, event: &Path, env_vars: &Path) -> std::process::Output {
    let run = || {
        sam_local("invoke", env_vars)
            .arg(function)
            .arg("--event")
            .arg(event)
            .output()
            .expect("run sam local invoke")
    };
    let output = run();
    let raced = String::from_utf8_lossy(&output.stderr)
        .contains("No response from invoke container")
        && !String::from_utf8_lossy(&output.stderr).contains("START RequestId");
    if raced { run() } else { output }
}

/// Held by each `sam local` test: two at once start arm64 containers side by side on a 2-core
/// machine, which slows both past SAM's start-up waits.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `sam local start-api` on a free loopback port, one warm container per function (EAGER), stopped
/// with its containers when dropped.
pub struct SamLocalApi {
    child: std::process::Child,
    log: PathBuf,
    pub client: HttpClient,
}

impl SamLocalApi {
    /// Starts it and waits until every function has a container and `GET /users` answers `200`.
    pub async fn start(env_vars: &Path) -> Self {
        let port = crate::free_port();
        let log = repo_root().join(format!(
            "target/sam-local-start-api-{}.log",
            std::process::id()
        ));
        let log_file = std::fs::File::create(&log).expect("create the sam log");
        let child = sam_local("start-api", env_vars)
            .args(WARM_CONTAINERS)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("run sam local start-api (./scripts/test installs the SAM CLI in .venv-sam)");
        let mut api = Self {
            child,
            log,
            // arm64 functions under emulation on a busy 2-core machine: slow, not lost.
            client: HttpClient::new(format!("http://127.0.0.1:{port}"))
                .with_timeout(Duration::from_secs(120)),
        };
        api.wait_until_serving().await;
        api
    }

    async fn wait_until_serving(&mut self) {
        // SAM builds its emulation image on its first run, then starts one arm64 container per
        // function. Until the emulator inside a container listens, SAM answers that function's
        // requests 502 ("No response from invoke container"): that is start-up, and only here is
        // it waited out, for every function, since each container starts on its own time.
        let deadline = Instant::now() + Duration::from_secs(300);
        for (probe, ready) in Self::probes() {
            loop {
                if let Some(status) = self.child.try_wait().expect("poll sam") {
                    panic!(
                        "sam local start-api exited ({status}):\n{}",
                        self.log_text()
                    );
                }
                let described = format!("{} {}", probe.method, probe.target);
                let answer = self.client.try_send(probe.clone()).await;
                match &answer {
                    Ok(reply) if reply.status == ready => break,
                    Ok(reply) if reply.status != 502 => panic!(
                        "{described} through sam local answered {} (waiting for {ready}): {}\n{}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body),
                        self.log_text()
                    ),
                    _ => {}
                }
                assert!(
                    Instant::now() < deadline,
                    "sam local start-api did not serve {described} within 300 s ({answer:?}):\n{}",
                    self.log_text()
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }

    /// One request per function of the template that changes nothing, and the status its
    /// function answers once it runs: an id that is no id (`0`) and bodies that are no user.
    fn probes() -> [(TestRequest, u16); 5] {
        use http::Method;
        let empty = || serde_json::json!({});
        [
            (TestRequest::new(Method::GET, "/users?limit=1"), 200),
            (TestRequest::new(Method::GET, "/users/0"), 400),
            (TestRequest::new(Method::POST, "/users").json(&empty()), 400),
            (
                TestRequest::new(Method::PUT, "/users/0").json(&empty()),
                400,
            ),
            (TestRequest::new(Method::DELETE, "/users/0"), 400),
        ]
    }

    /// Everything SAM and the functions have logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SamLocalApi {
    /// SIGINT, as Ctrl-C would; then removes whichever of its containers SAM left running (it
    /// logs each one's id), so no container outlives the test.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let containers: Vec<String> = self
            .log_text()
            .lines()
            .filter_map(|line| line.trim().strip_prefix("SAM_CONTAINER_ID: "))
            .map(str::to_owned)
            .collect();
        if !containers.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "--force"])
                .args(&containers)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Target for SamLocalApi {
    /// Sends a request; a failure shows the end of SAM's log, where its cause is.
    async fn send(&self, request: TestRequest) -> Reply {
        let described = format!("{} {}", request.method, request.target);
        match self.client.try_send(request).await {
            Ok(reply) => reply,
            Err(error) => {
                let log = self.log_text();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "{described} through sam local: {error}\n{}",
                    tail.join("\n")
                )
            }
        }
    }
}

/// Creates `table` on the server at `endpoint`, as `local-api --create-table` would.
pub async fn create_table(endpoint: &str, table: &str) -> Client {
    let client = crate::dynamo::client_for(endpoint);
    schema::create_table(&client, table)
        .await
        .unwrap_or_else(|e| panic!("create {table} at {endpoint}: {e:?}"));
    client
}

/// Deletes every user, email claim and idempotency record of `table`, keeping the id counter:
/// warm functions hold blocks of ids reserved from it, and a new counter would hand those ids
/// out again.
pub async fn remove_users(client: &Client, table: &str) {
    for item in crate::dynamo::scan_with(client, table).await {
        let partition = item[schema::PARTITION_KEY].as_s().expect("pk is a string");
        if partition == schema::COUNTER_PARTITION {
            continue;
        }
        let key = [schema::PARTITION_KEY, schema::SORT_KEY]
            .map(|name| (name.to_owned(), item[name].clone()));
        client
            .delete_item()
            .table_name(table)
            .set_key(Some(key.into_iter().collect()))
            .send()
            .await
            .expect("delete an item");
    }
}
