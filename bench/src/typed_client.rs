//! The benchmark's section 7: the typed client.

use super::*;

/// Sequential `GET /users/{id}` calls per round, for the client and for a bare hyper request.
pub(crate) const CLIENT_CALLS: usize = 20_000;
/// Alternating rounds of bare and client calls; the median of each is reported.
pub(crate) const CLIENT_ROUNDS: usize = 5;
/// Rows of the import benchmark.
pub(crate) const IMPORT_ROWS: usize = 10_000;

/// Mean time per call of `calls` sequential runs of `call`.
pub(crate) async fn per_call<F, Fut>(calls: usize, mut call: F) -> Duration
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

pub(crate) async fn client_figures() -> Value {
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
