//! The benchmark's section 4b: user-space instructions per request, counted by callgrind.
//!
//! Section 4's requests per second drift by ±10% from run to run on a 2-core VM, more than most
//! changes to the request path move them, and much of what they measure is the kernel's loopback
//! TCP and the scheduling of wrk beside the server. The instructions a process executes in its own
//! user space for a request do not drift: each process runs under `valgrind --tool=callgrind` on
//! one worker thread and answers sequential requests; the count is zeroed after a warm-up and read
//! after a fixed number of requests. Valgrind runs the process's threads one at a time, so this
//! counts work, not contention; it sees no kernel time.

use std::future::Future;

use super::*;

/// Requests answered before counting starts: the metric handles, the allocator's pools and
/// valgrind's translations of the request path are all made by then.
const WARM_UP_REQUESTS: usize = 300;
/// Requests counted in each round.
const COUNTED_REQUESTS: usize = 2_000;
/// Rounds of counted requests per process; the published figure is the median.
const ROUNDS: usize = 3;

pub(crate) async fn instructions() -> Value {
    println!(
        "## 4b. User-space instructions per request (callgrind, one worker thread, median of \
         {ROUNDS} rounds of {COUNTED_REQUESTS} sequential requests after a warm-up)\n"
    );
    println!("| process, request | instructions per request | rounds |\n|---|---|---|");
    let mut rows = Vec::new();
    let mut row = |label: &str, mut rounds: Vec<f64>| {
        rounds.sort_by(f64::total_cmp);
        let median = rounds[ROUNDS / 2];
        println!(
            "| {label} | {median:.0} | {:.0}-{:.0} |",
            rounds[0],
            rounds[ROUNDS - 1]
        );
        rows.push(json!({"process": label, "per_request": median, "rounds": rounds}));
        median
    };

    let port = integration_tests::free_port().to_string();
    let (ceiling, client) = Counted::listening("ceiling-hyper", &[&port]).await;
    let ceiling_count = row(
        "ceiling-hyper: bare hyper hello, keep-alive GET",
        ceiling.count(|| get(&client, "/")).await,
    );
    let (api, client) = Counted::listening("local-api", &["--port", "0"]).await;
    let created = client
        .send(
            TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "Ada Lovelace", "email": "ada@example.com", "age": 36})),
        )
        .await;
    assert_eq!(created.status, 201, "create the user to read");
    let path = format!("/users/{}", created.json()["user"]["id"]);
    let get_count = row(
        "local-api: keep-alive GET /users/{id}",
        api.count(|| get(&client, &path)).await,
    );

    // The same GET as a warm invocation through the Runtime API loop, next to the bare
    // lambda_http floor answering the same event. In memory the function's store is its own and
    // empty, so both answer without a user: get-user with its 404.
    let event = fixture("get-user.json");
    let mut invocations = Vec::new();
    for (name, label) in [
        (
            "get-user",
            "get-user: warm invocation, GET /users/{id} (404)",
        ),
        (
            "floor-hello",
            "floor-hello: warm invocation, the same event",
        ),
    ] {
        let runtime = RuntimeApi::start().await;
        let function = Counted::function(name, &runtime).await;
        let rounds = function
            .count(|| async {
                runtime.invoke(event.clone()).await;
            })
            .await;
        invocations.push(row(label, rounds));
    }
    let [function_count, floor_count] = invocations[..] else {
        unreachable!("two functions counted")
    };
    println!(
        "\nlocal-api's GET executes {:.2}x the ceiling's user-space instructions ({:.0} more per \
         request: routing, the store, JSON, the request's span, trace context, headers and \
         metrics); a warm get-user invocation {:.2}x the floor's ({:.0} more)\n",
        get_count / ceiling_count,
        get_count - ceiling_count,
        function_count / floor_count,
        function_count - floor_count
    );
    json!({"rows": rows, "counted_requests_per_round": COUNTED_REQUESTS,
        "get_vs_ceiling": get_count / ceiling_count,
        "invocation_vs_floor": function_count / floor_count})
}

async fn get(client: &integration_tests::http_client::HttpClient, target: &str) {
    let reply = client.send(TestRequest::new(Method::GET, target)).await;
    assert_eq!(reply.status, 200, "GET {target}");
}

/// A process running under callgrind with instrumentation off until it is warm.
struct Counted {
    child: tokio::process::Child,
    out_dir: PathBuf,
}

impl Counted {
    /// The launcher that runs `name` under callgrind, writing its dumps to a directory of its own.
    fn launcher(name: &str) -> (Vec<String>, PathBuf) {
        let out_dir = std::env::temp_dir().join(format!("bench-callgrind-{name}"));
        let _ = std::fs::remove_dir_all(&out_dir);
        std::fs::create_dir_all(&out_dir).unwrap();
        let launcher = [
            "valgrind",
            "-q",
            "--tool=callgrind",
            "--instr-atstart=no",
            &format!(
                "--callgrind-out-file={}",
                out_dir.join("callgrind.out").display()
            ),
        ]
        .map(str::to_owned)
        .to_vec();
        (launcher, out_dir)
    }

    /// An HTTP server (local-api in memory, or the ceiling), and a client of it.
    async fn listening(
        name: &str,
        args: &[&str],
    ) -> (Self, integration_tests::http_client::HttpClient) {
        let (launcher, out_dir) = Self::launcher(name);
        let mut command = tokio::process::Command::new(&launcher[0]);
        command
            .args(&launcher[1..])
            .arg(binary(name))
            .args(args)
            .env("TOKIO_WORKER_THREADS", "1")
            .env("RUST_LOG", "warn")
            .env_remove("USERS_TABLE");
        let (child, url) = spawn_listening(command).await;
        let client = integration_tests::http_client::HttpClient::new(url);
        (Self { child, out_dir }, client)
    }

    /// A function, in memory, polling `runtime` for its invocations.
    async fn function(name: &str, runtime: &RuntimeApi) -> Self {
        let (launcher, out_dir) = Self::launcher(name);
        let launcher: Vec<&str> = launcher.iter().map(String::as_str).collect();
        let mut command = lambda_command_under(&launcher, name, runtime, IN_MEMORY);
        command
            .env("TOKIO_WORKER_THREADS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = command.spawn().unwrap();
        Self { child, out_dir }
    }

    /// Instructions per `request` in each of [`ROUNDS`] rounds after a warm-up, averaged over
    /// the round's [`COUNTED_REQUESTS`].
    async fn count<F, Fut>(&self, mut request: F) -> Vec<f64>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let pid = self.child.id().unwrap();
        repeat(&mut request, WARM_UP_REQUESTS).await;
        callgrind_control(pid, "--instr=on").await;
        repeat(&mut request, WARM_UP_REQUESTS).await;
        callgrind_control(pid, "--zero").await;
        let mut rounds = Vec::with_capacity(ROUNDS);
        for round in 1..=ROUNDS {
            // A dump zeroes the counters too: each round counts from the one before.
            repeat(&mut request, COUNTED_REQUESTS).await;
            callgrind_control(pid, "--dump").await;
            rounds.push(self.dumped_instructions(round) as f64 / COUNTED_REQUESTS as f64);
        }
        rounds
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

async fn repeat<F: FnMut() -> Fut, Fut: Future<Output = ()>>(request: &mut F, times: usize) {
    for _ in 0..times {
        request().await;
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
