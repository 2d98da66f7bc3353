//! The benchmark behind `./scripts/bench`: prints one table and writes it as JSON.
//!
//! It expects release binaries next to itself (`target/release`), `wrk` on `PATH` and a
//! DynamoDB-compatible server at `MOTO_ENDPOINT`; `./scripts/bench` arranges all three. Figures
//! are medians and percentiles of repeated runs on this machine; nothing here is a pass/fail test.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use integration_tests::dynamo;
use integration_tests::lambda_target::{fixture, with_user_id};
use integration_tests::processes::{ALL_FUNCTIONS, LocalApi, binary};
use integration_tests::recording::{CallLog, recording_client};
use integration_tests::runtime_api::{RuntimeApi, assert_not_server_error, lambda_command};
use integration_tests::sam::zipped_size;
use integration_tests::{IN_MEMORY, TestRequest};
use lambda_http::http::Method;
use serde_json::{Value, json};
use shared::domain::{NewUser, PageLimit, PageStart, Precondition, UserChanges, UserId};
use shared::store::{
    DynamoStore, MemoryStore, StoreCreate, StoreDelete, StoreGet, StoreList, StoreUpdate,
};

const COLD_SPAWNS: usize = 40;
const WARM_INVOCATIONS: usize = 10_000;
/// Seconds of each wrk run.
const WRK_SECONDS: u64 = 5;
/// Rounds of a ceiling run followed by a `GET /users/{id}` run; the published ratio is the median
/// of the rounds' ratios.
const HTTP_ROUNDS: usize = 5;

#[tokio::main]
async fn main() {
    let mut report = BTreeMap::new();
    report.insert("machine", machine());
    println!("# users-api benchmark\n\n{}\n", report["machine"]);
    // Sections named on the command line run alone (`bench cold warm`): for tuning one figure
    // without waiting for the rest. The published table is always a full run.
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |section: &str| only.is_empty() || only.iter().any(|s| s == section);
    if wanted("sizes") {
        report.insert("sizes", sizes());
    }
    if wanted("cold") {
        report.insert("cold_start", cold_starts().await);
    }
    if wanted("warm") {
        report.insert("warm", warm().await);
    }
    if wanted("http") {
        report.insert("local_api_http", http_throughput().await);
    }
    if wanted("listing") {
        report.insert("listing", listing().await);
    }
    if wanted("calls") {
        report.insert("dynamodb_calls", dynamodb_calls().await);
    }
    if wanted("client") {
        report.insert("client", client_figures().await);
    }
    if wanted("capacity") {
        report.insert("capacity", capacity().await);
    }
    let out = repo().join("bench-results");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("latest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    println!("\nwritten to {}", path.display());
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    // "-dirty" when the tree has uncommitted changes: those figures belong to no commit.
    let commit = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--exclude", "*"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    json!({"cpu": cpu, "cores": cores, "arch": std::env::consts::ARCH, "commit": commit})
}

// ---- 1. sizes ------------------------------------------------------------------------------

fn sizes() -> Value {
    println!(
        "## 1. Binary sizes (release profile, stripped, {})\n",
        std::env::consts::ARCH
    );
    println!("| binary | size | zip |\n|---|---|---|");
    let mut rows = BTreeMap::new();
    for name in ALL_FUNCTIONS.iter().chain(&["floor-hello", "floor-sdk"]) {
        let path = binary(name);
        let size = std::fs::metadata(&path).unwrap().len();
        let zip = zipped_size(&path);
        println!("| {name} | {} | {} |", mb(size), mb(zip));
        rows.insert(name.to_string(), json!({"bytes": size, "zip_bytes": zip}));
    }
    println!();
    json!(rows)
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

// ---- 2. cold start -------------------------------------------------------------------------

/// One spawn: exec to the first response posted to the Runtime API, and the process's peak RSS
/// right after it.
async fn cold_once(name: &str, env: &[(&'static str, String)], event: &Value) -> (Duration, Rss) {
    let runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut command = lambda_command(name, &runtime, &env);
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let child = command.spawn().expect("spawn function");
    let response = runtime.invoke(event.clone()).await;
    let elapsed = started.elapsed();
    // A crash or a failed invocation already stops the bench in `invoke`.
    assert_not_server_error(&response, name);
    let pid = child.id().unwrap();
    let rss = Rss {
        peak: peak_rss_kib(pid),
        file: status_kib(pid, "RssFile"),
        anon: status_kib(pid, "RssAnon"),
    };
    (elapsed, rss)
}

/// Resident memory of a process in KiB: its peak, and what is resident now split into pages of
/// files (the binary's code and read-only data, shared and reclaimable) and anonymous memory.
#[derive(Clone, Copy)]
struct Rss {
    peak: u64,
    file: u64,
    anon: u64,
}

/// A `kB` figure from `/proc/<pid>/status`: `VmHWM` (peak resident set), `RssFile` (pages of the
/// binary and libraries), `RssAnon` (heap, stacks, relocated data).
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A cold-start case: label, binary, extra environment, event.
type ColdCase<'a> = (&'a str, &'a str, Vec<(&'static str, String)>, &'a Value);

async fn cold_starts() -> Value {
    println!("## 2. Cold start: exec to first response, {COLD_SPAWNS} spawns each\n");
    // The event is handled without touching the store (a bad id), so the figure is start-up cost;
    // the "first GET" rows add one real store read.
    let real_get = fixture("get-user.json");
    let bad_id = with_user_id(real_get.clone(), "abc");
    let dynamo = dynamo::process_env(&dynamo::fresh_table("bench-cold").await);
    let memory = vec![("USERS_STORE", "memory".to_owned())];
    let system_roots = [
        dynamo.clone(),
        vec![("TLS_TRUST_STORE", "system".to_owned())],
    ]
    .concat();
    let cases: [ColdCase; 7] = [
        ("floor: bare lambda_http", "floor-hello", vec![], &bad_id),
        (
            "get-user, in-memory store",
            "get-user",
            memory.clone(),
            &bad_id,
        ),
        (
            "floor: + aws-config + DynamoDB client",
            "floor-sdk",
            dynamo.clone(),
            &bad_id,
        ),
        (
            "get-user, DynamoDB configured",
            "get-user",
            dynamo.clone(),
            &bad_id,
        ),
        (
            "get-user, first GET, in-memory",
            "get-user",
            memory.clone(),
            &real_get,
        ),
        (
            "get-user, first GET, DynamoDB (local server)",
            "get-user",
            dynamo.clone(),
            &real_get,
        ),
        (
            "get-user, first GET, DynamoDB (local server), TLS_TRUST_STORE=system",
            "get-user",
            system_roots,
            &real_get,
        ),
    ];
    println!(
        "| case | median | p90 | peak RSS (median) | resident after: binary pages / anonymous |\n|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    // Spawns go round the cases in turn rather than case after case, so a slow spell of the
    // machine lands on every case alike instead of skewing one side of a ratio.
    let mut runs: Vec<Vec<(Duration, Rss)>> = vec![Vec::new(); cases.len()];
    for _ in 0..COLD_SPAWNS {
        for ((_, name, env, event), samples) in cases.iter().zip(&mut runs) {
            samples.push(cold_once(name, env, event).await);
        }
    }
    for ((label, name, _, _), samples) in cases.iter().zip(runs) {
        let mut times: Vec<Duration> = samples.iter().map(|(t, _)| *t).collect();
        let samples: Vec<Rss> = samples.into_iter().map(|(_, r)| r).collect();
        times.sort();
        let median_of = |field: fn(&Rss) -> u64| {
            let mut values: Vec<u64> = samples.iter().map(field).collect();
            values.sort();
            values[values.len() / 2]
        };
        let (peak, file, anon) = (
            median_of(|r| r.peak),
            median_of(|r| r.file),
            median_of(|r| r.anon),
        );
        let (median, p90) = (percentile(&times, 0.5), percentile(&times, 0.9));
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.1} MiB | {:.1} / {:.1} MiB |",
            ms(median),
            ms(p90),
            mib(peak),
            mib(file),
            mib(anon)
        );
        rows.push(
            json!({"case": label, "binary": name, "median_ms": ms(median), "p90_ms": ms(p90),
            "peak_rss_kib": peak, "rss_file_kib": file, "rss_anon_kib": anon}),
        );
    }
    let ratio = |a: usize, b: usize| {
        rows[a]["median_ms"].as_f64().unwrap() / rows[b]["median_ms"].as_f64().unwrap()
    };
    let rss_ratio = |a: usize, b: usize| {
        rows[a]["peak_rss_kib"].as_f64().unwrap() / rows[b]["peak_rss_kib"].as_f64().unwrap()
    };
    // DynamoDB-configured against in-memory, same binary, same run: what configuring the store
    // costs a cold start, with no floor that might share a hidden cost (a trust-store load).
    let ratios = json!({
        "memory_vs_bare": ratio(1, 0), "dynamodb_vs_sdk_floor": ratio(3, 2),
        "dynamodb_vs_memory": ratio(3, 1),
        "rss_memory_vs_bare": rss_ratio(1, 0), "rss_dynamodb_vs_sdk_floor": rss_ratio(3, 2),
    });
    println!(
        "\nratios: cold start in-memory/bare {:.2}x (target <= 1.15), DynamoDB/SDK floor {:.2}x (target <= 1.15), \
         DynamoDB/in-memory {:.2}x (target <= 1.3); peak RSS {:.2}x and {:.2}x (reported, no target)\n",
        ratios["memory_vs_bare"].as_f64().unwrap(),
        ratios["dynamodb_vs_sdk_floor"].as_f64().unwrap(),
        ratios["dynamodb_vs_memory"].as_f64().unwrap(),
        ratios["rss_memory_vs_bare"].as_f64().unwrap(),
        ratios["rss_dynamodb_vs_sdk_floor"].as_f64().unwrap()
    );
    json!({"cases": rows, "ratios": ratios})
}

// ---- 3. warm invocations ---------------------------------------------------------------------

async fn warm() -> Value {
    println!(
        "## 3. Warm invocations through the Runtime API loop, {WARM_INVOCATIONS} in one process\n"
    );
    println!(
        "| function | invocations/s | p50 | p99 | peak RSS after 1st | after 1k | after {WARM_INVOCATIONS} |\n|---|---|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    for (name, event) in [
        ("get-user", fixture("get-user.json")),
        ("floor-hello", fixture("get-user.json")),
    ] {
        let runtime = RuntimeApi::start().await;
        let mut command = lambda_command(name, &runtime, IN_MEMORY);
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = command.spawn().unwrap();
        let pid = child.id().unwrap();
        runtime.invoke(event.clone()).await;
        let rss_first = peak_rss_kib(pid);
        let mut rss_1k = 0;
        let mut times = Vec::with_capacity(WARM_INVOCATIONS);
        let started = Instant::now();
        for i in 0..WARM_INVOCATIONS {
            let t = Instant::now();
            runtime.invoke(event.clone()).await;
            times.push(t.elapsed());
            if i == 999 {
                rss_1k = peak_rss_kib(pid);
            }
        }
        let total = started.elapsed();
        let rss_last = peak_rss_kib(pid);
        times.sort();
        let rate = WARM_INVOCATIONS as f64 / total.as_secs_f64();
        println!(
            "| {name} | {rate:.0} | {:.3} ms | {:.3} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            rss_first as f64 / 1024.0,
            rss_1k as f64 / 1024.0,
            rss_last as f64 / 1024.0
        );
        rows.push(json!({
            "function": name, "per_second": rate.round(), "p50_ms": ms(percentile(&times, 0.5)),
            "p99_ms": ms(percentile(&times, 0.99)), "peak_rss_kib_after_first": rss_first,
            "peak_rss_kib_after_1k": rss_1k, "peak_rss_kib_after_all": rss_last,
        }));
    }
    println!("\n(latency includes the harness's own Runtime API round trip on loopback)\n");
    json!(rows)
}

// ---- 4. local-api over HTTP ------------------------------------------------------------------

struct Wrk {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn wrk(url: &str, script: Option<&Path>) -> Wrk {
    let mut command = std::process::Command::new("wrk");
    command.args(["-t2", "-c32", &format!("-d{WRK_SECONDS}s"), "--latency"]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command
        .arg(url)
        .output()
        .expect("wrk (./scripts/bench installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let latency = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
            .map(|v| {
                let (number, unit) =
                    v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
                let number: f64 = number.parse().unwrap_or(f64::NAN);
                match unit {
                    "us" => number / 1000.0,
                    "s" => number * 1000.0,
                    _ => number,
                }
            })
            .unwrap_or(f64::NAN)
    };
    let per_second = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN);
    Wrk {
        per_second,
        p50_ms: latency("50%"),
        p99_ms: latency("99%"),
    }
}

async fn http_throughput() -> Value {
    println!(
        "## 4. local-api over HTTP (wrk, 2 threads, 32 connections, {WRK_SECONDS} s per run), 10k users preloaded\n"
    );
    let api = integration_tests::processes::LocalApi::start(&[("RUST_LOG", "warn")]).await;
    let base = api.client.base_url().to_owned();
    // Preload in concurrent batches, as many clients would.
    for batch in (0..10_000).collect::<Vec<u32>>().chunks(64) {
        let creates = batch.iter().map(|i| {
            let body = json!({"name": format!("User {i}"), "email": format!("user{i}@example.com"), "age": 30});
            api.client.send(TestRequest::new(Method::POST, "/users").json(&body))
        });
        for reply in join_all(creates).await {
            assert_eq!(reply.status, 201);
        }
    }
    let script = std::env::temp_dir().join("bench-post.lua");
    std::fs::write(
        &script,
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
local tag = tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  return wrk.format(nil, "/users", nil, '{"name":"Bench","email":"b' .. tag .. '-' .. n .. '@example.com"}')
end
"#,
    )
    .unwrap();
    let mut ceiling = tokio::process::Command::new(binary("ceiling-hyper"))
        .arg(integration_tests::free_port().to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let ceiling_url = {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(ceiling.stdout.take().unwrap()).lines();
        let line = lines.next_line().await.unwrap().unwrap();
        line.split_whitespace().last().unwrap().to_owned()
    };
    let rss_loaded = status_kib(api.pid(), "VmRSS");
    // The machine's speed drifts over a minute: each round pairs a ceiling run with the GET run
    // right after it, and the ratio is the median of the rounds', so drift cancels within a round.
    let mut ceiling_runs = Vec::new();
    let mut get_runs = Vec::new();
    for _ in 0..HTTP_ROUNDS {
        ceiling_runs.push(wrk(&format!("{ceiling_url}/"), None));
        get_runs.push(wrk(&format!("{base}/users/5000"), None));
    }
    let list = wrk(&format!("{base}/users?limit=100"), None);
    let mut round_ratios: Vec<f64> = ceiling_runs
        .iter()
        .zip(&get_runs)
        .map(|(ceiling, get)| get.per_second / ceiling.per_second)
        .collect();
    round_ratios.sort_by(f64::total_cmp);
    let ratio = round_ratios[round_ratios.len() / 2];
    let reads = get_runs
        .iter()
        .chain([&list])
        .map(|run| run.per_second * WRK_SECONDS as f64)
        .sum::<f64>();
    // Past the exporter's upkeep interval, so queued metric samples have been folded in: reads
    // must leave memory where it was.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rss_after_reads = status_kib(api.pid(), "VmRSS");
    let cases = [
        ("ceiling: bare hyper hello", median_run(ceiling_runs)),
        ("GET /users/{id}", median_run(get_runs)),
        ("GET /users?limit=100", list),
        (
            "POST /users",
            wrk(&format!("{base}/users"), Some(script.as_path())),
        ),
    ];
    println!("| request | requests/s | p50 | p99 |\n|---|---|---|---|");
    let mut rows = Vec::new();
    for (label, result) in cases {
        println!(
            "| {label} | {:.0} | {:.3} ms | {:.3} ms |",
            result.per_second, result.p50_ms, result.p99_ms
        );
        rows.push(json!({"request": label, "per_second": result.per_second.round(), "p50_ms": result.p50_ms, "p99_ms": result.p99_ms}));
    }
    println!(
        "\nGET /users/{{id}} at {ratio:.2}x the hyper ceiling (target >= 0.8; median of {HTTP_ROUNDS} \
         rounds, {:.2}-{:.2}); local-api resident memory {:.1} MiB with 10k users, {:.1} MiB after ~{:.1}M reads\n",
        round_ratios[0],
        round_ratios[round_ratios.len() - 1],
        rss_loaded as f64 / 1024.0,
        rss_after_reads as f64 / 1024.0,
        reads / 1e6
    );
    json!({"cases": rows, "get_vs_ceiling": ratio, "get_vs_ceiling_rounds": round_ratios,
        "rss_kib_preloaded": rss_loaded, "rss_kib_after_reads": rss_after_reads})
}

/// The run with the median rate of several.
fn median_run(mut runs: Vec<Wrk>) -> Wrk {
    runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    runs.swap_remove(runs.len() / 2)
}

// ---- 5. listing cost -------------------------------------------------------------------------

async fn listing() -> Value {
    println!("## 5. Listing cost in memory: median time per page of 10 users\n");
    println!("| users | first page | page 1000 (offset) | cursor deep in |\n|---|---|---|---|");
    let mut rows = Vec::new();
    for size in [10_000u64, 1_000_000] {
        let store = Arc::new(MemoryStore::new());
        for i in 0..size {
            store
                .create(NewUser {
                    name: "L".into(),
                    email: format!("l{i}@example.com"),
                    age: 1,
                })
                .await
                .unwrap();
        }
        let limit = PageLimit::new(10).unwrap();
        let time = |start: PageStart| {
            let store = store.clone();
            async move {
                let mut times = Vec::new();
                for _ in 0..201 {
                    let t = Instant::now();
                    std::hint::black_box(store.list(start, limit).await.unwrap());
                    times.push(t.elapsed());
                }
                times.sort();
                times[100]
            }
        };
        let first = time(PageStart::First).await;
        let offset = time(PageStart::Skip(NonZeroU64::new(999 * 10).unwrap())).await;
        let cursor = time(PageStart::After(UserId::new(size / 2).unwrap())).await;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {size} | {:.1} µs | {:.1} µs | {:.1} µs |",
            us(first),
            us(offset),
            us(cursor)
        );
        rows.push(json!({"users": size, "first_us": us(first), "page_1000_us": us(offset), "cursor_deep_us": us(cursor)}));
    }
    println!();
    json!(rows)
}

// ---- 6. DynamoDB calls per operation -----------------------------------------------------------

async fn dynamodb_calls() -> Value {
    println!("## 6. DynamoDB requests per operation (recorded by an SDK interceptor)\n");
    let table = integration_tests::dynamo::fresh_table("bench-calls").await;
    let log = CallLog::default();
    let store = DynamoStore::new(recording_client(&log), table, 50);
    let new = |i: u32| NewUser {
        name: "C".into(),
        email: format!("c{i}@example.com"),
        age: 1,
    };
    for i in 0..30 {
        store.create(new(i)).await.unwrap();
    }
    log.take();
    let id = UserId::new(5).unwrap();
    let mut rows = Vec::new();
    let mut record = |operation: &str, documented: &str, log: &CallLog| {
        let calls = log.take();
        let apis: Vec<&str> = calls.iter().map(|c| c.api).collect();
        println!(
            "| {operation} | {} | {} | {documented} |",
            calls.len(),
            apis.join(" + ")
        );
        rows.push(json!({"operation": operation, "calls": calls.len(), "apis": apis, "documented": documented}));
    };
    println!("| operation | calls | APIs | documented |\n|---|---|---|---|");
    store.create(new(100)).await.unwrap();
    record(
        "create (id from the current block)",
        "1 TransactWriteItems",
        &log,
    );
    store.get(id).await.unwrap();
    record("get", "1 GetItem", &log);
    store
        .update(
            id,
            UserChanges {
                age: Some(9),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    record("update, no email change", "1 UpdateItem", &log);
    // The same address in other letter cases: no claim moves.
    let own_email = store
        .get(id)
        .await
        .unwrap()
        .expect("user 5")
        .email
        .to_uppercase();
    log.take();
    store
        .update(
            id,
            UserChanges {
                email: Some(own_email),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    record("update, email re-cased", "1 GetItem + 1 UpdateItem", &log);
    store
        .update(
            id,
            UserChanges {
                email: Some("new5@example.com".into()),
                ..Default::default()
            },
            Precondition::None,
        )
        .await
        .unwrap();
    record(
        "update, new email",
        "1 GetItem + 1 TransactWriteItems",
        &log,
    );
    store.delete(id, Precondition::None).await.unwrap();
    record("delete", "1 GetItem + 1 TransactWriteItems", &log);
    store
        .list(
            PageStart::After(UserId::new(10).unwrap()),
            PageLimit::new(10).unwrap(),
        )
        .await
        .unwrap();
    record("list by cursor", "8 Query (one per shard)", &log);
    store
        .list(
            PageStart::Skip(NonZeroU64::new(20).unwrap()),
            PageLimit::new(10).unwrap(),
        )
        .await
        .unwrap();
    record("list page=3 (limit 10)", "8 key-only Query + 8 Query", &log);
    println!();
    json!(rows)
}

// ---- 7. the typed client ---------------------------------------------------------------------

/// Sequential `GET /users/{id}` calls per round, for the client and for a bare hyper request.
const CLIENT_CALLS: usize = 20_000;
/// Alternating rounds of bare and client calls; the median of each is reported.
const CLIENT_ROUNDS: usize = 5;
/// Rows of the import benchmark.
const IMPORT_ROWS: usize = 10_000;

/// Mean time per call of `calls` sequential runs of `call`.
async fn per_call<F, Fut>(calls: usize, mut call: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    for _ in 0..calls {
        call().await;
    }
    started.elapsed() / calls as u32
}

async fn client_figures() -> Value {
    use client::{ClientConfig, Users, UsersClient};
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client as HyperClient;
    use hyper_util::rt::TokioExecutor;

    println!("## 7. The typed client\n");
    let api = LocalApi::start(IN_MEMORY).await;
    let base = api.client.base_url().to_owned();
    let created = api
        .client
        .send(
            TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "Bench", "email": "bench@example.com", "age": 1})),
        )
        .await;
    assert_eq!(created.status, 201);
    let id = UserId::new(1).unwrap();
    let bare: HyperClient<_, Empty<bytes::Bytes>> =
        HyperClient::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = format!("{base}/users/1").parse().unwrap();
    let endpoints = client::discovery::from_list(std::slice::from_ref(&base)).unwrap();
    let users = UsersClient::new(ClientConfig::new(endpoints), None).unwrap();
    let bare_call = || {
        let bare = bare.clone();
        let uri = uri.clone();
        async move {
            let response = bare.get(uri).await.unwrap();
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap();
        }
    };
    let client_call = || async {
        users.get(id).await.unwrap();
    };
    // Warm both connections and code paths.
    per_call(1_000, bare_call).await;
    per_call(1_000, client_call).await;
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let (mut bare_times, mut client_times, mut differences) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..CLIENT_ROUNDS {
        let bare = per_call(CLIENT_CALLS, bare_call).await;
        let client = per_call(CLIENT_CALLS, client_call).await;
        bare_times.push(bare);
        client_times.push(client);
        // Paired within a round, so a drift in machine speed cancels.
        differences.push(micros(client) - micros(bare));
    }
    bare_times.sort();
    client_times.sort();
    differences.sort_by(f64::total_cmp);
    let (bare_median, client_median) = (
        bare_times[CLIENT_ROUNDS / 2],
        client_times[CLIENT_ROUNDS / 2],
    );
    let overhead = differences[CLIENT_ROUNDS / 2];
    println!(
        "| sequential GET /users/{{id}} on loopback, local-api in memory | per call |\n|---|---|"
    );
    println!(
        "| bare hyper request (connection reused, body read) | {:.1} µs |",
        micros(bare_median)
    );
    println!(
        "| client.get (typed, breaker, retry policy, bulkhead, JSON decoded) | {:.1} µs |",
        micros(client_median)
    );
    println!(
        "| client overhead (median of {CLIENT_ROUNDS} paired rounds; range {:.1} to {:.1}) | {overhead:.1} µs |\n",
        differences[0],
        differences[CLIENT_ROUNDS - 1]
    );

    let mut csv = String::from("name,email,age\n");
    for i in 0..IMPORT_ROWS {
        csv.push_str(&format!("User {i},import{i}@example.com,{}\n", i % 100));
    }
    let file = std::env::temp_dir().join(format!("users-bench-{}.csv", std::process::id()));
    std::fs::write(&file, csv).unwrap();
    let mut rates = Vec::new();
    for _ in 0..3 {
        let target = LocalApi::start(IN_MEMORY).await;
        let started = Instant::now();
        let output = tokio::process::Command::new(binary("users"))
            .args(["--endpoint", target.client.base_url(), "import"])
            .arg(&file)
            .output()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        rates.push(IMPORT_ROWS as f64 / elapsed.as_secs_f64());
    }
    let _ = std::fs::remove_file(&file);
    rates.sort_by(f64::total_cmp);
    let rate = rates[1];
    println!(
        "users import of {IMPORT_ROWS} rows into an in-memory local-api (32 in flight, process start included): {rate:.0} users/s (median of 3)\n"
    );
    json!({
        "bare_hyper_us": micros(bare_median),
        "client_us": micros(client_median),
        "client_overhead_us": overhead,
        "client_overhead_range_us": [differences[0], differences[CLIENT_ROUNDS - 1]],
        "import_users_per_second": rate.round(),
    })
}

// ---- 8. partition capacity -------------------------------------------------------------------

/// DynamoDB's per-partition limits divided by this in the capacity model: 10 write units a second
/// per key, which the test server outruns at 8 shards.
const CAPACITY_DIVISOR: f64 = 100.0;
/// Concurrent creators, and how long they run before and while creates are counted.
const CAPACITY_CREATORS: usize = 32;
const CAPACITY_WARMUP: Duration = Duration::from_secs(2);
const CAPACITY_MEASURED: Duration = Duration::from_secs(6);

/// Creates a second that one shard and `USER_SHARDS` sustain through the partition-capacity
/// model (tests/support/capacity.rs), and what a page costs in calls and read units at each.
async fn capacity() -> Value {
    use integration_tests::capacity::{Capacity, CapacityFront};
    use shared::store::StoreError;
    use shared::store::dynamodb::schema::USER_SHARDS;

    let model = Capacity::scaled(CAPACITY_DIVISOR);
    println!(
        "## 8. Partition capacity: creates a second through the capacity model \
         ({} WU/s per partition key, {CAPACITY_CREATORS} creators, {} s counted)\n",
        model.write_units,
        CAPACITY_MEASURED.as_secs()
    );
    println!(
        "| shards | ceiling (creates/s) | sustained (creates/s) | throttled calls | other failures |"
    );
    println!("|---|---|---|---|---|");
    let upstream = dynamo::endpoint().trim_start_matches("http://").to_owned();
    let mut rows = Vec::new();
    let mut sustained = BTreeMap::new();
    for shards in [1, USER_SHARDS] {
        let table = dynamo::fresh_table("bench-capacity").await;
        let front = CapacityFront::start(&upstream, model).await;
        let store = Arc::new(
            DynamoStore::new(dynamo::client_for(&front.endpoint()), table, 50)
                .with_user_shards(shards),
        );
        let started = Instant::now();
        let (counted_from, until) = (
            started + CAPACITY_WARMUP,
            started + CAPACITY_WARMUP + CAPACITY_MEASURED,
        );
        let creators = (0..CAPACITY_CREATORS).map(|creator| {
            let store = store.clone();
            tokio::spawn(async move {
                let (mut created, mut throttled, mut failed) = (0u64, 0u64, 0u64);
                let mut step = 0;
                while Instant::now() < until {
                    step += 1;
                    let user = NewUser {
                        name: "Load".into(),
                        email: format!("load{creator}-{step}@example.com"),
                        age: 1,
                    };
                    let outcome = store.create(user).await;
                    let counted = Instant::now() >= counted_from && Instant::now() < until;
                    match outcome {
                        Ok(_) if counted => created += 1,
                        Err(StoreError::Throttled { .. }) if counted => throttled += 1,
                        Err(StoreError::Throttled { .. }) | Ok(_) => {}
                        Err(_) => failed += 1,
                    }
                }
                (created, throttled, failed)
            })
        });
        let (mut created, mut throttled, mut failed) = (0, 0, 0);
        for outcome in join_all(creators).await {
            let (c, t, f) = outcome.unwrap();
            created += c;
            throttled += t;
            failed += f;
        }
        let rate = created as f64 / CAPACITY_MEASURED.as_secs_f64();
        // A create charges 2 units on its user's shard (its claim has a key of its own).
        let ceiling = f64::from(shards) * model.write_units / 2.0;
        println!("| {shards} | {ceiling:.0} | {rate:.1} | {throttled} | {failed} |");
        sustained.insert(shards, rate);
        rows.push(json!({"shards": shards, "ceiling_creates_per_s": ceiling, "creates_per_s": rate, "throttled_calls": throttled, "other_failures": failed}));
    }
    let ratio = sustained[&USER_SHARDS] / sustained[&1];
    println!("\n{USER_SHARDS} shards sustain {ratio:.1}x the creates of one.\n");

    println!(
        "Listing cost per page, by cursor from the middle of 400 users (read units as the model charges them):\n"
    );
    println!("| shards | limit | Query calls | read units |\n|---|---|---|---|");
    let mut pages = Vec::new();
    for shards in [1, USER_SHARDS] {
        let table = dynamo::fresh_table("bench-page-cost").await;
        let front = CapacityFront::start(&upstream, Capacity::scaled(0.001)).await;
        let store = DynamoStore::new(dynamo::client_for(&front.endpoint()), table, 50)
            .with_user_shards(shards);
        for i in 0..400 {
            store
                .create(NewUser {
                    name: "Page Cost".into(),
                    email: format!("page{i}@example.com"),
                    age: 1,
                })
                .await
                .unwrap();
        }
        for limit in [10, 100] {
            front.reset_usage();
            store
                .list(
                    PageStart::After(UserId::new(200).unwrap()),
                    PageLimit::new(limit).unwrap(),
                )
                .await
                .unwrap();
            let usage = front.usage();
            println!(
                "| {shards} | {limit} | {} | {} |",
                usage.forwarded,
                usage.total_read_units()
            );
            pages.push(json!({"shards": shards, "limit": limit, "calls": usage.forwarded, "read_units": usage.total_read_units()}));
        }
    }
    println!();
    json!({"divisor": CAPACITY_DIVISOR, "creates": rows, "ratio": ratio, "pages": pages})
}
