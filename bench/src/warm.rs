//! The benchmark's section 3: warm invocations.

use super::*;

pub(crate) async fn warm() -> Value {
    println!(
        "## 3. Warm invocations through the Runtime API loop, {WARM_INVOCATIONS} in one process\n"
    );
    println!(
        "| function | invocations/s | p50 | p99 | CPU per invocation | peak RSS after 1st | after 1k | after {WARM_INVOCATIONS} |\n|---|---|---|---|---|---|---|---|"
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
        let cpu_before = cpu_time(pid);
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
        let cpu_us = (cpu_time(pid) - cpu_before).as_secs_f64() * 1e6 / WARM_INVOCATIONS as f64;
        let rss_last = peak_rss_kib(pid);
        times.sort();
        let rate = WARM_INVOCATIONS as f64 / total.as_secs_f64();
        println!(
            "| {name} | {rate:.0} | {:.3} ms | {:.3} ms | {cpu_us:.1} us | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            rss_first as f64 / 1024.0,
            rss_1k as f64 / 1024.0,
            rss_last as f64 / 1024.0
        );
        rows.push(json!({
            "function": name, "per_second": rate.round(), "p50_ms": ms(percentile(&times, 0.5)),
            "p99_ms": ms(percentile(&times, 0.99)), "cpu_us_per_invocation": cpu_us,
            "peak_rss_kib_after_first": rss_first,
            "peak_rss_kib_after_1k": rss_1k, "peak_rss_kib_after_all": rss_last,
        }));
    }
    println!(
        "\n(latency includes the harness's own Runtime API round trip on loopback; CPU is the \
         function process's alone, kernel time included)\n"
    );
    json!(rows)
}
