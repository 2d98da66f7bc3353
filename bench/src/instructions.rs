//! The benchmark's section 4b: user-space instructions per request, counted by callgrind.
//!
//! Section 4's requests per second drift by ±10% from run to run on a 2-core VM, more than most
//! changes to the request path move them, and much of what they measure is the kernel's loopback
//! TCP and the scheduling of wrk beside the server. The instructions a server executes in its own
//! user space for a request do not drift: each server runs under `valgrind --tool=callgrind` on one
//! worker thread and answers sequential keep-alive requests; the count is zeroed after a warm-up
//! and read after a fixed number of requests. Valgrind runs the process's threads one at a time,
//! so this counts work, not contention; it sees no kernel time.

use super::*;

/// Requests answered before counting starts: the metric handles, the allocator's pools and
/// valgrind's translations of the request path are all made by then.
const WARM_UP_REQUESTS: usize = 300;
/// Requests counted in each round.
const COUNTED_REQUESTS: usize = 2_000;
/// Rounds of counted requests per server: the metrics upkeep runs on a 1 s timer, so how many of
/// its ticks fall in a round moves local-api's count by ~1%; the published figure is the median.
const ROUNDS: usize = 3;

pub(crate) async fn instructions() -> Value {
    println!(
        "## 4b. User-space instructions per request (callgrind, one worker thread, median of \
         {ROUNDS} rounds of {COUNTED_REQUESTS} sequential keep-alive requests after a warm-up)\n"
    );
    let ceiling = Counted::start(
        "ceiling-hyper",
        &[&integration_tests::free_port().to_string()],
    )
    .await;
    let ceiling_rounds = ceiling.per_request("/").await;
    let api = Counted::start("local-api", &["--port", "0"]).await;
    let created = api
        .client
        .send(
            TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "Ada Lovelace", "email": "ada@example.com", "age": 36})),
        )
        .await;
    assert_eq!(created.status, 201, "create the user to read");
    let id = created.json()["user"]["id"].clone();
    let get_rounds = api.per_request(&format!("/users/{id}")).await;
    println!("| request | instructions per request | rounds |\n|---|---|---|");
    let median = |label: &str, mut rounds: Vec<f64>| {
        rounds.sort_by(f64::total_cmp);
        println!(
            "| {label} | {:.0} | {:.0}-{:.0} |",
            rounds[ROUNDS / 2],
            rounds[0],
            rounds[ROUNDS - 1]
        );
        rounds[ROUNDS / 2]
    };
    let ceiling_count = median("ceiling: bare hyper hello", ceiling_rounds.clone());
    let get_count = median("local-api GET /users/{id}", get_rounds.clone());
    println!(
        "\nlocal-api's GET executes {:.2}x the ceiling's user-space instructions: {:.0} more per \
         request (routing, the store, JSON, the request's span, trace context, headers and metrics)\n",
        get_count / ceiling_count,
        get_count - ceiling_count
    );
    json!({"ceiling_per_request": ceiling_count, "get_per_request": get_count,
        "ceiling_rounds": ceiling_rounds, "get_rounds": get_rounds,
        "counted_requests_per_round": COUNTED_REQUESTS})
}

/// A server running under callgrind with instrumentation off until it is warm.
struct Counted {
    child: tokio::process::Child,
    client: integration_tests::http_client::HttpClient,
    out_dir: PathBuf,
}

impl Counted {
    async fn start(name: &str, args: &[&str]) -> Self {
        let out_dir = std::env::temp_dir().join(format!("bench-callgrind-{name}"));
        let _ = std::fs::remove_dir_all(&out_dir);
        std::fs::create_dir_all(&out_dir).unwrap();
        let mut command = tokio::process::Command::new("valgrind");
        command
            .args(["-q", "--tool=callgrind", "--instr-atstart=no"])
            .arg(format!(
                "--callgrind-out-file={}",
                out_dir.join("callgrind.out").display()
            ))
            .arg(binary(name))
            .args(args)
            .env("TOKIO_WORKER_THREADS", "1")
            .env("RUST_LOG", "warn")
            .env_remove("USERS_TABLE");
        let (child, url) = spawn_listening(command).await;
        Self {
            child,
            client: integration_tests::http_client::HttpClient::new(url),
            out_dir,
        }
    }

    /// Instructions per `GET target` in each of [`ROUNDS`] rounds after a warm-up, averaged
    /// over the round's [`COUNTED_REQUESTS`].
    async fn per_request(&self, target: &str) -> Vec<f64> {
        let pid = self.child.id().unwrap();
        self.get(target, WARM_UP_REQUESTS).await;
        callgrind_control(pid, "--instr=on").await;
        self.get(target, WARM_UP_REQUESTS).await;
        callgrind_control(pid, "--zero").await;
        let mut rounds = Vec::with_capacity(ROUNDS);
        for round in 1..=ROUNDS {
            // A dump zeroes the counters too: each round counts from the one before.
            self.get(target, COUNTED_REQUESTS).await;
            callgrind_control(pid, "--dump").await;
            rounds.push(self.dumped_instructions(round) as f64 / COUNTED_REQUESTS as f64);
        }
        rounds
    }

    async fn get(&self, target: &str, times: usize) {
        for _ in 0..times {
            let reply = self
                .client
                .send(TestRequest::new(Method::GET, target))
                .await;
            assert_eq!(reply.status, 200, "GET {target}");
        }
    }

    /// The instruction total of the `number`th dump.
    fn dumped_instructions(&self, number: usize) -> u64 {
        let dump = self.out_dir.join(format!("callgrind.out.{number}"));
        std::fs::read_to_string(&dump)
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("totals:"))
            .and_then(|total| total.trim().parse().ok())
            .unwrap_or_else(|| panic!("no totals line in {}", dump.display()))
    }
}

/// Runs `callgrind_control OPTION PID` (through vgdb, which reaches a process idle in a system
/// call) and fails loudly if it could not.
async fn callgrind_control(pid: u32, option: &str) {
    let output = tokio::process::Command::new("callgrind_control")
        .arg(option)
        .arg(pid.to_string())
        .output()
        .await
        .expect("callgrind_control (valgrind; ./scripts/bench installs it)");
    assert!(
        output.status.success(),
        "callgrind_control {option} {pid}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
