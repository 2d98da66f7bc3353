//! The benchmark's section 4: local-api over HTTP.

use super::*;

pub(crate) struct Wrk {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

pub(crate) fn wrk(url: &str, script: Option<&Path>) -> Wrk {
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

pub(crate) async fn http_throughput() -> Value {
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
    let mut ceiling = tokio::process::Command::new(binary("ceiling-hyper"));
    ceiling.arg(integration_tests::free_port().to_string());
    let (ceiling, ceiling_url) = spawn_listening(ceiling).await;
    let rss_loaded = status_kib(api.pid(), "VmRSS");
    // The machine's speed drifts over a minute: each round pairs a ceiling run with the GET run
    // right after it, and the ratio is the median of the rounds', so drift cancels within a round.
    // CPU per request, each server's own: where the requests/s ratio also carries how cheap this
    // machine's loopback TCP is (it is most of the ceiling's cost), this is the work itself.
    let ceiling_pid = ceiling.id().unwrap();
    let mut ceiling_runs = Vec::new();
    let mut get_runs = Vec::new();
    let mut ceiling_cpu = Vec::new();
    let mut get_cpu = Vec::new();
    for _ in 0..HTTP_ROUNDS {
        let (run, cpu) = wrk_with_cpu(ceiling_pid, &format!("{ceiling_url}/"));
        ceiling_runs.push(run);
        ceiling_cpu.push(cpu);
        let (run, cpu) = wrk_with_cpu(api.pid(), &format!("{base}/users/5000"));
        get_runs.push(run);
        get_cpu.push(cpu);
    }
    ceiling_cpu.sort_by(f64::total_cmp);
    get_cpu.sort_by(f64::total_cmp);
    let (ceiling_cpu, get_cpu) = (ceiling_cpu[HTTP_ROUNDS / 2], get_cpu[HTTP_ROUNDS / 2]);
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
    println!(
        "CPU per request (the server's own, kernel included; medians of the rounds): GET /users/{{id}} \
         {get_cpu:.1} us, ceiling {ceiling_cpu:.1} us\n"
    );
    json!({"cases": rows, "get_vs_ceiling": ratio, "get_vs_ceiling_rounds": round_ratios,
        "cpu_us_per_get": get_cpu, "cpu_us_per_ceiling_request": ceiling_cpu,
        "rss_kib_preloaded": rss_loaded, "rss_kib_after_reads": rss_after_reads})
}

/// A wrk run against `url` and the CPU time server `pid` spent per request in it, in
/// microseconds.
fn wrk_with_cpu(pid: u32, url: &str) -> (Wrk, f64) {
    let before = cpu_time(pid);
    let run = wrk(url, None);
    let requests = run.per_second * WRK_SECONDS as f64;
    let cpu = (cpu_time(pid) - before).as_secs_f64() * 1e6 / requests;
    (run, cpu)
}

/// The run with the median rate of several.
pub(crate) fn median_run(mut runs: Vec<Wrk>) -> Wrk {
    runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    runs.swap_remove(runs.len() / 2)
}
