//! The DynamoDB-compatible server the test command starts (moto), and helpers over it.
//!
//! `./scripts/test` starts the server (`scripts/dynamodb_test_server.py`: moto, one request at a
//! time, as DynamoDB isolates transactions) and exports its URL as `MOTO_ENDPOINT`. A test that needs
//! it and finds no server fails loudly: DynamoDB tests are never silently skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use shared::store::DynamoStore;
use shared::store::dynamodb::schema::{
    self, TableCreation, USER_SHARDS, is_user_partition, user_partition,
};

/// The server's URL.
pub fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set: DynamoDB tests need the server that ./scripts/test starts \
             (run ./scripts/test, or start moto_server yourself and export MOTO_ENDPOINT)"
        )
    })
}

/// A table name no other test uses, so tests run in parallel on one server.
pub fn unique_table(purpose: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{purpose}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The environment a process needs to use `table` on the test server: only the SDK's standard
/// variables and `USERS_TABLE`.
pub fn process_env(table: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![("USERS_TABLE", table.to_owned())];
    env.extend(sdk_env());
    env
}

/// The SDK's standard variables pointing a process at the test server.
pub fn sdk_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ]
}

/// Like [`process_env`], but pointing at a loopback port where nothing listens.
pub fn unreachable_env(table: &str) -> Vec<(&'static str, String)> {
    let mut env = process_env(table);
    env.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    env.push((
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", crate::free_port()),
    ));
    env
}

/// Borrowed form of [`process_env`] for the process helpers.
pub fn as_pairs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A client for the test server, configured explicitly rather than through process variables.
pub fn client() -> Client {
    client_for(&endpoint())
}

/// A client for any endpoint (a closed port, a server that will be killed...).
pub fn client_for(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::for_tests())
        .endpoint_url(endpoint)
        .http_client(shared::bootstrap::http_client(
            &shared::config::TrustRoots::default(),
        ))
        .build();
    Client::from_conf(config)
}

/// A fresh table on the test server.
pub async fn fresh_table(purpose: &str) -> String {
    let table = unique_table(purpose);
    let created = schema::create_table(&client(), &table)
        .await
        .unwrap_or_else(|e| panic!("create table {table} on {}: {e}", endpoint()));
    assert_eq!(created, TableCreation::Created);
    table
}

/// A store over a fresh table.
pub async fn fresh_store(id_block_size: u64) -> DynamoStore {
    DynamoStore::new(client(), fresh_table("store").await, id_block_size)
}

/// Every item of a table, for checking invariants behind the API's back.
pub async fn scan(table: &str) -> Vec<HashMap<String, AttributeValue>> {
    scan_with(&client(), table).await
}

/// Every item of `table` through `client` (a server of the test's own).
pub async fn scan_with(client: &Client, table: &str) -> Vec<HashMap<String, AttributeValue>> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(output.items.unwrap_or_default());
        match output.last_evaluated_key {
            Some(key) => start = Some(key),
            None => return items,
        }
    }
}

/// Asserts the table's core invariant: each user has exactly one email claim pointing back at it
/// under its normalised email, each claim belongs to an existing user, and nothing else is there
/// but the id counter and well-formed idempotency records. Returns the user count.
pub async fn assert_users_and_claims_agree(table: &str) -> usize {
    assert_users_and_claims_agree_with(&client(), table).await
}

/// [`assert_users_and_claims_agree`] on any server.
pub async fn assert_users_and_claims_agree_with(client: &Client, table: &str) -> usize {
    let items = scan_with(client, table).await;
    let text = |item: &HashMap<String, AttributeValue>, name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let number = |item: &HashMap<String, AttributeValue>, name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let mut users = HashMap::new();
    let mut claims = HashMap::new();
    for item in &items {
        let pk = text(item, "pk");
        if is_user_partition(&pk) {
            // A user lives in the shard its id names, and nowhere else.
            assert_eq!(
                pk,
                user_partition(number(item, "sk"), USER_SHARDS),
                "{item:?}"
            );
            users.insert(number(item, "sk"), text(item, "email_key"));
        } else if let Some(email) = pk.strip_prefix("EMAIL#") {
            claims.insert(email.to_owned(), number(item, "user_id"));
        } else if pk.starts_with("IDEMPOTENCY#") {
            // An idempotency record names the user its create made (which may since have been
            // deleted) and always has its fingerprint and expiry.
            assert!(
                number(item, "user_id") > 0 && number(item, "expires_at") > 0,
                "{item:?}"
            );
            assert_eq!(text(item, "fingerprint").len(), 64, "{item:?}");
        } else {
            assert_eq!(pk, "COUNTER", "unexpected item {item:?}");
        }
    }
    for (id, email_key) in &users {
        assert_eq!(email_key, &email_key.to_lowercase());
        assert_eq!(
            claims.get(email_key),
            Some(id),
            "user {id} has no claim on its email"
        );
    }
    for (email, owner) in &claims {
        assert_eq!(
            users.get(owner),
            Some(email),
            "claim on {email} belongs to no user"
        );
    }
    users.len()
}

/// A DynamoDB-compatible server of a test's own (`scripts/dynamodb_test_server.py`), to freeze,
/// kill and restart without touching the shared one.
pub struct OwnServer {
    child: std::process::Child,
    host: std::net::IpAddr,
    flags: &'static [&'static str],
    pub port: u16,
}

impl OwnServer {
    /// Starts the test server script with the project's `.venv` (which `./scripts/test` makes).
    pub async fn start() -> Self {
        Self::start_at(std::net::Ipv4Addr::LOCALHOST.into(), crate::free_port()).await
    }

    /// Starts it on `host`, `port`: an address other than loopback is for containers that this
    /// machine runs (Docker's bridge address), never for the network beyond.
    pub async fn start_at(host: std::net::IpAddr, port: u16) -> Self {
        Self::launch(host, port, &[]).await
    }

    /// Starts it on loopback as plain moto, which ignores transactions' `ClientRequestToken`:
    /// a repeat of a committed transaction is evaluated again.
    pub async fn start_ignoring_request_tokens() -> Self {
        let host = std::net::Ipv4Addr::LOCALHOST.into();
        Self::launch(host, crate::free_port(), &["--ignore-request-tokens"]).await
    }

    async fn launch(host: std::net::IpAddr, port: u16, flags: &'static [&'static str]) -> Self {
        let child = Self::spawn(host, port, flags).await;
        Self {
            child,
            host,
            flags,
            port,
        }
    }

    async fn spawn(host: std::net::IpAddr, port: u16, flags: &[&str]) -> std::process::Child {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let child = std::process::Command::new(repo.join(".venv/bin/python"))
            .arg(repo.join("scripts/dynamodb_test_server.py"))
            .arg(port.to_string())
            .arg(host.to_string())
            .args(flags)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect(".venv/bin/python with moto: ./scripts/test installs it");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect((host, port)).is_err() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "the DynamoDB test server did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        child
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", std::net::SocketAddr::new(self.host, self.port))
    }

    /// Freezes the server (SIGSTOP): connections stay open and requests hang.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// Starts a new, empty server on the same port, after [`kill`](Self::kill).
    pub async fn restart(&mut self) {
        self.kill();
        self.child = Self::spawn(self.host, self.port, self.flags).await;
    }

    /// Kills the server for good.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.thaw_quietly();
        self.kill();
    }
}

impl OwnServer {
    fn thaw_quietly(&self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
    }
}

/// The DynamoDB requests the test server received in the X-Ray trace `root` (`1-5759e988-...`):
/// each one's operation (`DynamoDB_20120810.GetItem`) and whole `X-Amzn-Trace-Id` header.
pub async fn requests_in_trace(root: &str) -> Vec<(String, String)> {
    let server = crate::http_client::HttpClient::new(endpoint());
    let reply = server
        .send(crate::TestRequest::new(
            http::Method::GET,
            format!("/_test/trace-headers?root={root}"),
        ))
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    reply
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|seen| {
            let field = |name: &str| seen[name].as_str().unwrap_or_default().to_owned();
            (field("target"), field("header"))
        })
        .collect()
}

/// A W3C trace id (32 hex digits) as X-Ray writes it: `1-<first 8>-<other 24>`.
pub fn xray_root(trace_id: &str) -> String {
    format!("1-{}-{}", &trace_id[..8], &trace_id[8..])
}
