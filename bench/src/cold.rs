//! The benchmark's section 2: cold start.

use super::*;

/// One spawn: exec to the first response posted to the Runtime API, and the process's peak RSS
/// right after it.
#[derive(Clone, Copy)]
pub(crate) struct ColdSample {
    /// Exec to the first response.
    total: Duration,
    /// Exec to the first poll for an invocation: Lambda's init phase.
    init: Duration,
    /// CPU time the process used until it answered: what a CPU share stretches.
    cpu: Duration,
    rss: Rss,
}

/// CPU time used so far by every thread of process `pid` (`/proc/<pid>/task/*/schedstat`, in
/// nanoseconds, where `/proc/<pid>/stat` counts in 10 ms ticks).
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    let nanos = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// Runs `name` once with `env` (at `share`'s CPU share, if any) until it answers `event`.
pub(crate) async fn cold_once(
    name: &str,
    env: &[(&'static str, String)],
    event: &Value,
    share: Option<&CpuShare>,
) -> ColdSample {
    let runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut command = lambda_command(name, &runtime, &env);
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    if let Some(share) = share {
        share.confine(&mut command);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn function");
    let response = runtime.invoke(event.clone()).await;
    let total = started.elapsed();
    // A crash or a failed invocation already stops the bench in `invoke`.
    assert_not_server_error(&response, name);
    let init = runtime
        .first_poll()
        .expect("the function polled before it answered")
        .duration_since(started);
    let pid = child.id().unwrap();
    let cpu = cpu_time(pid);
    let rss = Rss {
        peak: peak_rss_kib(pid),
        file: status_kib(pid, "RssFile"),
        anon: status_kib(pid, "RssAnon"),
    };
    // Reaped before the next spawn, so a CPU-share group holds one process at a time.
    let _ = child.kill().await;
    ColdSample {
        total,
        init,
        cpu,
        rss,
    }
}

/// Medians of a case's spawns.
pub(crate) struct ColdSummary {
    pub(crate) total: Duration,
    pub(crate) p90: Duration,
    pub(crate) init: Duration,
    pub(crate) first_invocation: Duration,
    pub(crate) cpu: Duration,
    pub(crate) peak_rss_kib: u64,
    pub(crate) rss_file_kib: u64,
    pub(crate) rss_anon_kib: u64,
}

impl ColdSummary {
    pub(crate) fn of(samples: &[ColdSample]) -> Self {
        fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
            values.sort();
            values[values.len() / 2]
        }
        let mut totals: Vec<Duration> = samples.iter().map(|s| s.total).collect();
        totals.sort();
        Self {
            total: percentile(&totals, 0.5),
            p90: percentile(&totals, 0.9),
            init: median(samples.iter().map(|s| s.init).collect()),
            first_invocation: median(samples.iter().map(|s| s.total - s.init).collect()),
            cpu: median(samples.iter().map(|s| s.cpu).collect()),
            peak_rss_kib: median(samples.iter().map(|s| s.rss.peak).collect()),
            rss_file_kib: median(samples.iter().map(|s| s.rss.file).collect()),
            rss_anon_kib: median(samples.iter().map(|s| s.rss.anon).collect()),
        }
    }
}

/// Resident memory of a process in KiB: its peak, and what is resident now split into pages of
/// files (the binary's code and read-only data, shared and reclaimable) and anonymous memory.
#[derive(Clone, Copy)]
pub(crate) struct Rss {
    peak: u64,
    file: u64,
    anon: u64,
}

/// A `kB` figure from `/proc/<pid>/status`: `VmHWM` (peak resident set), `RssFile` (pages of the
/// binary and libraries), `RssAnon` (heap, stacks, relocated data).
pub(crate) fn status_kib(pid: u32, field: &str) -> u64 {
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

pub(crate) fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// A cold-start case: label, binary, extra environment, event.
type ColdCase<'a> = (&'a str, &'a str, Vec<(&'static str, String)>, &'a Value);

pub(crate) async fn cold_starts() -> Value {
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
    // A collector that accepts and decodes every export, as the ADOT layer would.
    let collector = integration_tests::otlp::OtlpReceiver::start().await;
    let exporting = |env: &[(&'static str, String)]| {
        [
            env.to_vec(),
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())],
        ]
        .concat()
    };
    let cases: [ColdCase; 9] = [
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
        (
            "get-user, in-memory store, spans exported over OTLP",
            "get-user",
            exporting(&memory),
            &bad_id,
        ),
        (
            "get-user, first GET, DynamoDB (local server), spans exported over OTLP",
            "get-user",
            exporting(&dynamo),
            &real_get,
        ),
    ];
    println!(
        "| case | median | p90 | peak RSS (median) | resident after: binary pages / anonymous |\n|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    // Spawns go round the cases in turn rather than case after case, so a slow spell of the
    // machine lands on every case alike instead of skewing one side of a ratio.
    let mut runs: Vec<Vec<ColdSample>> = vec![Vec::new(); cases.len()];
    for _ in 0..COLD_SPAWNS {
        for ((_, name, env, event), samples) in cases.iter().zip(&mut runs) {
            samples.push(cold_once(name, env, event, None).await);
        }
    }
    for ((label, name, _, _), samples) in cases.iter().zip(runs) {
        let summary = ColdSummary::of(&samples);
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.1} MiB | {:.1} / {:.1} MiB |",
            ms(summary.total),
            ms(summary.p90),
            mib(summary.peak_rss_kib),
            mib(summary.rss_file_kib),
            mib(summary.rss_anon_kib)
        );
        rows.push(
            json!({"case": label, "binary": name, "median_ms": ms(summary.total),
            "p90_ms": ms(summary.p90), "init_ms": ms(summary.init),
            "peak_rss_kib": summary.peak_rss_kib, "rss_file_kib": summary.rss_file_kib,
            "rss_anon_kib": summary.rss_anon_kib}),
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
        "memory_exporting_vs_bare": ratio(7, 0), "memory_exporting_vs_memory": ratio(7, 1),
        "first_get_exporting_vs_not": ratio(8, 5),
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
    println!(
        "spans exported: cold start in-memory/bare {:.2}x, /not exporting {:.2}x; first DynamoDB GET \
         exporting/not {:.2}x ({} spans received)\n",
        ratios["memory_exporting_vs_bare"].as_f64().unwrap(),
        ratios["memory_exporting_vs_memory"].as_f64().unwrap(),
        ratios["first_get_exporting_vs_not"].as_f64().unwrap(),
        collector.spans().len()
    );
    json!({"cases": rows, "ratios": ratios})
}
