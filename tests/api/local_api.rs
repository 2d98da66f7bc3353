//! `local-api` as a process: flags, environment and shutdown behaviour.

use std::time::{Duration, Instant};

use futures::future::join_all;
use http::Method;
use integration_tests::processes::{LocalApi, binary};
use integration_tests::{TestRequest, free_port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let api = LocalApi::start(&[]).await;
    assert_eq!(
        api.client
            .send(TestRequest::new(Method::GET, "/users"))
            .await
            .status,
        200
    );
    let status = api.terminate().await;
    assert!(status.success(), "exit status {status}");
}

#[tokio::test]
async fn sigterm_right_after_start_is_still_a_clean_exit() {
    // Process managers may stop a process as soon as it says it is listening.
    for _ in 0..5 {
        let api = LocalApi::start(&[]).await;
        let status = api.terminate().await;
        assert!(status.success(), "exit status {status}");
    }
}

#[tokio::test]
async fn port_comes_from_env_and_the_flag_wins() {
    let from_env = free_port();
    let api = LocalApi::launch(&[("PORT", &from_env.to_string())], &[]).await;
    assert_eq!(
        api.client.base_url(),
        format!("http://127.0.0.1:{from_env}")
    );
    drop(api);

    let flag = free_port();
    let api = LocalApi::launch(&[("PORT", "1")], &["--port", &flag.to_string()]).await;
    assert_eq!(api.client.base_url(), format!("http://127.0.0.1:{flag}"));
    assert_eq!(
        api.client
            .send(TestRequest::new(Method::GET, "/users"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn binds_loopback_by_default_and_host_is_configurable() {
    let api = LocalApi::start(&[]).await;
    assert!(api.client.base_url().starts_with("http://127.0.0.1:"));
    let api = LocalApi::launch(&[], &["--host", "127.0.0.2", "--port", "0"]).await;
    assert!(api.client.base_url().starts_with("http://127.0.0.2:"));
    assert_eq!(
        api.client
            .send(TestRequest::new(Method::GET, "/users"))
            .await
            .status,
        200
    );
}

/// A `POST /users` whose headers are sent and whose body is held back: the server has admitted it
/// and is waiting for the rest, so it counts as in flight until [`finish`] sends the body.
async fn held_create(address: &str, i: usize) -> (TcpStream, String) {
    let body = format!(r#"{{"name": "Held {i}", "email": "held{i}@example.com"}}"#);
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = format!(
        "POST /users HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    (stream, body)
}

/// Sends the held body and returns the response's status line.
async fn finish((mut stream, body): (TcpStream, String)) -> String {
    stream.write_all(body.as_bytes()).await.expect("send body");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("read response");
    response.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_beyond_max_in_flight_gets_fast_503s_while_admitted_requests_succeed() {
    const LIMIT: usize = 4;
    let api = LocalApi::start(&[("MAX_IN_FLIGHT", &LIMIT.to_string())]).await;
    let address = api
        .client
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    let mut held = Vec::new();
    for i in 0..LIMIT {
        held.push(held_create(&address, i).await);
    }
    // Wait until the server holds all of them in flight: then the next request is refused. A probe
    // can race a held request for the last slot and get it shed; such a one has an answer waiting
    // on its connection already, and is replaced.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut next = LIMIT;
    loop {
        let probe = api
            .client
            .send(TestRequest::new(Method::GET, "/users"))
            .await;
        if probe.status == 503 {
            break;
        }
        for request in held.iter_mut() {
            let mut byte = [0u8; 1];
            if !matches!(request.0.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            {
                *request = held_create(&address, next).await;
                next += 1;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the held requests never filled the limit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A flood while every slot is held: each request is refused at once, not queued (a queued
    // one could only be answered after the held ones, which are still waiting for their bodies).
    // Every third comes from a browser, which can read its refusal.
    let from_browser = |i: usize| i.is_multiple_of(3);
    let flood = (0..50).map(|i| {
        let client = api.client.clone();
        async move {
            let target = if i % 2 == 0 {
                "/users".to_owned()
            } else {
                format!("/users/{i}")
            };
            let mut request = TestRequest::new(Method::GET, target);
            if from_browser(i) {
                request = request.header("Origin", "http://localhost:5173");
            }
            client.send(request).await
        }
    });
    let refused = tokio::time::timeout(Duration::from_secs(10), join_all(flood))
        .await
        .expect("the flood was queued instead of refused");
    for (i, reply) in refused.iter().enumerate() {
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert_eq!(reply.json()["code"], "unavailable");
        let readable = from_browser(i).then_some("*");
        assert_eq!(reply.header("access-control-allow-origin"), readable, "{i}");
    }
    // A browser's preflight is answered outside the limit.
    let preflight = api
        .client
        .send(
            TestRequest::new(Method::OPTIONS, "/users")
                .header("Origin", "http://localhost:5173")
                .header("Access-Control-Request-Method", "POST"),
        )
        .await;
    assert_eq!(preflight.status, 200);
    // The operator's endpoints stay outside the limit.
    let health = api
        .client
        .send(TestRequest::new(Method::GET, "/health"))
        .await;
    assert_eq!(health.status, 200);
    // The admitted requests complete normally, and the limit frees up behind them.
    for request in held {
        assert_eq!(finish(request).await, "HTTP/1.1 201 Created");
    }
    let listed = api
        .client
        .send(TestRequest::new(Method::GET, "/users"))
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["users"].as_array().unwrap().len(), LIMIT);
    let shed = api.metric("http_requests_shed_total").await;
    assert!(shed >= 51.0, "{shed} requests counted as shed");
}

#[tokio::test]
async fn max_in_flight_must_be_a_positive_number() {
    for bad in ["0", "many"] {
        let output = tokio::process::Command::new(binary("local-api"))
            .env("MAX_IN_FLIGHT", bad)
            .args(["--port", "0"])
            .output()
            .await
            .expect("run local-api");
        assert!(!output.status.success(), "MAX_IN_FLIGHT={bad} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("max-in-flight"), "{stderr}");
    }
}

fn sorted_lowercase<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = names.map(|n| n.trim().to_ascii_lowercase()).collect();
    names.sort();
    names
}

/// A list-valued header as lower-cased names.
fn names(reply: &integration_tests::Reply, header: &str) -> Vec<String> {
    let value = reply
        .header(header)
        .unwrap_or_else(|| panic!("no {header}"));
    sorted_lowercase(value.split(','))
}

/// The template's CORS list `field`, lower-cased and sorted.
fn template_cors(field: &str) -> Vec<String> {
    let template = integration_tests::sam::template();
    let cors = &template["Resources"]["UsersApi"]["Properties"]["CorsConfiguration"];
    let list = cors[field]
        .as_sequence()
        .unwrap_or_else(|| panic!("{field} in template.yaml"));
    sorted_lowercase(list.iter().map(|v| v.as_str().unwrap()))
}

#[tokio::test]
async fn browsers_get_the_same_cors_answers_as_from_the_deployed_api() {
    let api = LocalApi::start(&[]).await;
    let preflight = api
        .client
        .send(
            TestRequest::new(Method::OPTIONS, "/users/1")
                .header("Origin", "http://localhost:5173")
                .header("Access-Control-Request-Method", "PUT")
                .header("Access-Control-Request-Headers", "if-match, content-type"),
        )
        .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        names(&preflight, "access-control-allow-headers"),
        template_cors("AllowHeaders")
    );
    let created = api
        .client
        .send(
            TestRequest::new(Method::POST, "/users")
                .header("Origin", "http://localhost:5173")
                .json(&serde_json::json!({"name": "Ann", "email": "ann@example.com"})),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        names(&created, "access-control-expose-headers"),
        template_cors("ExposeHeaders")
    );
    // Without a preflight's headers, OPTIONS is just a method no route has.
    let plain = api
        .client
        .send(TestRequest::new(Method::OPTIONS, "/users"))
        .await;
    assert_eq!(plain.status, 405);
}
