//! The benchmark's section on Lambda Managed Instances: one process sent many invocations at
//! once (`AWS_LAMBDA_MAX_CONCURRENCY`) next to as many separate one-at-a-time processes, reading
//! the DynamoDB test server.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Invocations per row.
const MANAGED_INVOCATIONS: usize = 3_000;

/// How a row runs: how many processes, and how many invocations each has in flight.
struct Shape {
    label: &'static str,
    processes: usize,
    concurrency: usize,
}

const SHAPES: [Shape; 5] = [
    Shape {
        label: "1 process, 1 at a time (on-demand)",
        processes: 1,
        concurrency: 1,
    },
    Shape {
        label: "1 process, 8 at once",
        processes: 1,
        concurrency: 8,
    },
    Shape {
        label: "1 process, 32 at once",
        processes: 1,
        concurrency: 32,
    },
    Shape {
        label: "8 processes, 1 at a time each",
        processes: 8,
        concurrency: 1,
    },
    Shape {
        label: "32 processes, 1 at a time each",
        processes: 32,
        concurrency: 1,
    },
];

/// CPU time (user + system) the process has used, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // Linux reports both in clock ticks of 1/100 s.
    Duration::from_millis(ticks * 10)
}

pub(crate) async fn managed_instances() -> Value {
    println!(
        "## 9. Managed Instances: many invocations per process, {MANAGED_INVOCATIONS} `GET /users/{{id}}` per row against the DynamoDB test server\n"
    );
    println!(
        "| shape | invocations/s | p50 | p99 | CPU per invocation | peak RSS, all processes |\n|---|---|---|---|---|---|"
    );
    let table = dynamo::fresh_table("bench-managed").await;
    let env = dynamo::process_env(&table);
    let event = fixture("get-user.json");
    let mut rows = Vec::new();
    for shape in SHAPES {
        let mut processes = Vec::new();
        for _ in 0..shape.processes {
            let runtime = RuntimeApi::start().await;
            let concurrency = shape.concurrency.to_string();
            let mut process_env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            process_env.push(("AWS_LAMBDA_MAX_CONCURRENCY", &concurrency));
            let mut command = lambda_command("get-user", &runtime, &process_env);
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true);
            let child = command.spawn().unwrap();
            // Warm: the SDK client, connections and the layout check, in every worker.
            join_all((0..shape.concurrency).map(|_| runtime.invoke(event.clone()))).await;
            processes.push((runtime, child));
        }
        let pids: Vec<u32> = processes.iter().map(|(_, c)| c.id().unwrap()).collect();
        let cpu_before: Duration = pids.iter().map(|&pid| cpu_time(pid)).sum();
        let left = AtomicUsize::new(MANAGED_INVOCATIONS);
        let started = Instant::now();
        let (left, event) = (&left, &event);
        let callers = processes.iter().flat_map(|(runtime, _)| {
            (0..shape.concurrency).map(move |_| async move {
                let mut times = Vec::new();
                while left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let t = Instant::now();
                    let response = runtime.invoke(event.clone()).await;
                    times.push(t.elapsed());
                    assert_not_server_error(&response, "a managed-instances GET");
                }
                times
            })
        });
        let mut times: Vec<Duration> = join_all(callers).await.into_iter().flatten().collect();
        let total = started.elapsed();
        let cpu = pids.iter().map(|&pid| cpu_time(pid)).sum::<Duration>() - cpu_before;
        let rss: u64 = pids.iter().map(|&pid| peak_rss_kib(pid)).sum();
        times.sort();
        let rate = MANAGED_INVOCATIONS as f64 / total.as_secs_f64();
        let cpu_per = cpu / MANAGED_INVOCATIONS as u32;
        println!(
            "| {} | {rate:.0} | {:.2} ms | {:.2} ms | {:.3} ms | {:.1} MiB |",
            shape.label,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(cpu_per),
            rss as f64 / 1024.0
        );
        rows.push(json!({
            "shape": shape.label, "processes": shape.processes, "concurrency": shape.concurrency,
            "per_second": rate.round(), "p50_ms": ms(percentile(&times, 0.5)),
            "p99_ms": ms(percentile(&times, 0.99)), "cpu_ms_per_invocation": ms(cpu_per),
            "peak_rss_kib_total": rss,
        }));
    }
    println!(
        "\n(the test server, one Python process, caps invocations/s for every shape alike; CPU per invocation is the function processes' own, from /proc, at 10 ms resolution over the row)\n"
    );
    json!(rows)
}
