//! The DynamoDB client's trust roots, on real function processes: Mozilla's set compiled in by
//! default (no trust-store file read on a cold start), a private CA beside it through
//! `AWS_CA_BUNDLE` or the operating system's store on request (that CA is trusted then, and only
//! then), and a TLS failure is a `503` with its cause in the logs, never a hang. The OTLP
//! exporter trusts the same roots.

use std::path::PathBuf;
use std::process::Stdio;

use http::Method;
use integration_tests::TestRequest;
use integration_tests::dynamo::{endpoint, fresh_table};
use integration_tests::free_port;
use integration_tests::lambda_target::{fixture, reply_from_gateway_response, with_user_id};
use integration_tests::otlp::OtlpReceiver;
use integration_tests::processes::LocalApi;
use integration_tests::runtime_api::{FunctionProcess, RuntimeApi, lambda_command_under};
use integration_tests::tls::TlsFront;

/// A directory of this test run's own.
fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "users-api-tls-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The files get-user opened (traced by strace) through a cold start and its first two
/// invocations: one that needs no store call, then a GET that builds the TLS connector and tries
/// the endpoint (nothing listens there: a 503).
async fn files_opened_by_a_cold_start(env: &[(&str, &str)]) -> Vec<String> {
    let trace = scratch_dir().join("openat.trace");
    let trace_arg = trace.to_string_lossy().into_owned();
    let runtime = RuntimeApi::start().await;
    let launcher = [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=openat,open",
        "-o",
        &trace_arg,
    ];
    let mut child = lambda_command_under(&launcher, "get-user", &runtime, env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("strace (./scripts/test installs it)");
    let bad_id = with_user_id(fixture("get-user.json"), "abc");
    let response = runtime.invoke(bad_id).await;
    assert_eq!(response["statusCode"], 400, "{response}");
    let response = runtime.invoke(fixture("get-user.json")).await;
    assert_eq!(response["statusCode"], 503, "{response}");
    child.kill().await.unwrap();
    let text = std::fs::read_to_string(&trace).expect("the strace output");
    let opened: Vec<String> = text
        .lines()
        .filter_map(|line| line.split('"').nth(1).map(str::to_owned))
        .collect();
    assert!(
        opened
            .iter()
            .any(|path| path.contains("ld.so") || path.contains("libc")),
        "the trace must see the process's own opens: {text}"
    );
    opened
}

fn is_trust_store(path: &str) -> bool {
    path.starts_with("/etc/ssl") || path.starts_with("/etc/pki") || path.ends_with(".pem")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dynamodb_cold_start_reads_no_trust_store_unless_asked_to() {
    let ca = TlsFront::start("127.0.0.1:9".parse().unwrap())
        .await
        .write_ca(&scratch_dir());
    let ca = ca.to_string_lossy();
    let dynamodb = [
        ("USERS_TABLE", "users"),
        ("AWS_ENDPOINT_URL", "https://127.0.0.1:9"),
        ("SSL_CERT_FILE", ca.as_ref()),
        ("DYNAMODB_MAX_ATTEMPTS", "1"),
    ];
    let opened = files_opened_by_a_cold_start(&dynamodb).await;
    let stores: Vec<&String> = opened.iter().filter(|p| is_trust_store(p)).collect();
    assert!(
        stores.is_empty(),
        "trust-store files opened by default: {stores:?}"
    );

    // The same trace sees the system store being read when it is asked for (on the first store
    // call, when the TLS connector is built).
    let system = [dynamodb.as_slice(), &[("TLS_TRUST_STORE", "system")]].concat();
    let opened = files_opened_by_a_cold_start(&system).await;
    assert!(
        opened.iter().any(|path| path == ca.as_ref()),
        "SSL_CERT_FILE was not read with TLS_TRUST_STORE=system: {opened:?}"
    );

    // AWS_CA_BUNDLE is one file read at start-up, and no store of the system's.
    let bundle_dir = scratch_dir();
    let bundle = bundle_dir.join("bundle.pem");
    std::fs::copy(ca.as_ref(), &bundle).unwrap();
    let bundle = bundle.to_string_lossy();
    let with_bundle = [dynamodb.as_slice(), &[("AWS_CA_BUNDLE", bundle.as_ref())]].concat();
    let opened = files_opened_by_a_cold_start(&with_bundle).await;
    let stores: Vec<&String> = opened.iter().filter(|p| is_trust_store(p)).collect();
    assert_eq!(
        stores,
        [bundle.as_ref()],
        "with AWS_CA_BUNDLE, only the bundle is read"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_in_aws_ca_bundle_is_trusted_beside_the_root_store_and_only_then() {
    let (front, ca, table) = front_and_table().await;
    let url = front.url();
    let base = [
        ("USERS_TABLE", table.as_str()),
        ("AWS_ENDPOINT_URL", url.as_str()),
    ];
    let with_bundle = [base.as_slice(), &[("AWS_CA_BUNDLE", ca.as_str())]].concat();
    assert_answered_over_tls(&with_bundle).await;

    let function = FunctionProcess::start("get-user", &base).await;
    assert_eq!(get_user(&function).await.status, 503, "refused without it");

    // The bundle is added to the root store, not put in its place: with the system store
    // trusting the front's CA and the bundle naming another CA, the front is still trusted.
    let other_ca = TlsFront::start("127.0.0.1:9".parse().unwrap())
        .await
        .write_ca(&scratch_dir());
    let beside = [
        base.as_slice(),
        &[
            ("TLS_TRUST_STORE", "system"),
            ("SSL_CERT_FILE", ca.as_str()),
            ("AWS_CA_BUNDLE", other_ca.to_str().unwrap()),
        ],
    ]
    .concat();
    let function = FunctionProcess::start("get-user", &beside).await;
    assert_eq!(
        get_user(&function).await.status,
        404,
        "the store's roots are kept"
    );

    // A bundle the TLS stack could not use stops the process at start-up, naming the variable,
    // rather than panicking on its first store call.
    for path in &unusable_bundles() {
        let env = [base.as_slice(), &[("AWS_CA_BUNDLE", path.as_str())]].concat();
        let stderr = crate::functions::refused_start("get-user", &env).await;
        assert!(stderr.contains("AWS_CA_BUNDLE"), "{path}: {stderr}");
    }
}

/// Two `AWS_CA_BUNDLE`s the TLS stack cannot use: a file whose one certificate is not one, and
/// a path to nothing.
fn unusable_bundles() -> [String; 2] {
    let garbage = scratch_dir().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    [
        garbage.to_string_lossy().into_owned(),
        "/nonexistent/ca.pem".to_owned(),
    ]
}

/// The in-memory store opens no connection, so it reads no trust roots: `AWS_CA_BUNDLE`, which a
/// developer's shell may set for every AWS tool, does not stop the local API or a function over
/// memory, even where it names a bundle a DynamoDB-configured one refuses to start with (above).
#[tokio::test(flavor = "multi_thread")]
async fn the_in_memory_store_reads_no_aws_ca_bundle() {
    for path in &unusable_bundles() {
        let env = [("USERS_STORE", "memory"), ("AWS_CA_BUNDLE", path.as_str())];
        let function = FunctionProcess::start("get-user", &env).await;
        assert_eq!(get_user(&function).await.status, 404, "{path}");
        let api = LocalApi::start(&env).await;
        let health = api
            .client
            .send(TestRequest::new(Method::GET, "/health"))
            .await;
        assert_eq!(health.status, 200, "{path}");
    }
}

/// A TLS front to the test server with a certificate authority of its own (the path of that
/// CA's certificate), and a fresh table.
async fn front_and_table() -> (TlsFront, String, String) {
    let moto = endpoint();
    let front = TlsFront::start(moto.trim_start_matches("http://").parse().unwrap()).await;
    let ca = front
        .write_ca(&scratch_dir())
        .to_string_lossy()
        .into_owned();
    (front, ca, fresh_table("tls").await)
}

/// Starts get-user with `env` and checks that the store answered it through the front: the
/// fresh table's 404, not a 503.
async fn assert_answered_over_tls(env: &[(&str, &str)]) {
    let function = FunctionProcess::start("get-user", env).await;
    let reply = get_user(&function).await;
    assert_eq!(
        reply.status,
        404,
        "{env:?}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["code"], "user_not_found");
}

async fn get_user(function: &FunctionProcess) -> integration_tests::Reply {
    reply_from_gateway_response(&function.runtime.invoke(fixture("get-user.json")).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_ca_is_trusted_with_the_system_store_setting_and_only_then() {
    let (front, ca, table) = front_and_table().await;
    let url = front.url();
    let base = [
        ("USERS_TABLE", table.as_str()),
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("SSL_CERT_FILE", ca.as_str()),
    ];
    // The system store, with SSL_CERT_FILE naming the private CA: the store answers over TLS.
    let system = [base.as_slice(), &[("TLS_TRUST_STORE", "system")]].concat();
    assert_answered_over_tls(&system).await;

    // The builtin roots (the default) ignore SSL_CERT_FILE: the handshake fails, and that is a
    // 503 with the cause in the logs, not a hang and not a 500.
    let function = FunctionProcess::start("get-user", &base).await;
    let reply = get_user(&function).await;
    assert_eq!(
        reply.status,
        503,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["code"], "unavailable");
    assert!(reply.header("retry-after").is_some());
    assert!(
        !String::from_utf8_lossy(&reply.body).contains("certificate"),
        "the cause stays out of the response"
    );
    // The log line reaches the pipe before the response, but is collected from it on its own.
    let mut logs = String::new();
    for _ in 0..100 {
        logs.push_str(&function.take_stderr().join("\n"));
        if logs.contains("UnknownIssuer") || logs.contains("invalid peer certificate") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the TLS failure's cause is not in the logs: {logs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_reach_a_collector_behind_a_private_ca_in_aws_ca_bundle_and_only_then() {
    let collector = OtlpReceiver::start().await;
    let front = TlsFront::start(collector.address()).await;
    let ca = front.write_ca(&scratch_dir());
    let endpoint = front.url_by_name();
    let base = [
        integration_tests::IN_MEMORY,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())],
    ]
    .concat();

    let with_bundle = [base.as_slice(), &[("AWS_CA_BUNDLE", ca.to_str().unwrap())]].concat();
    let function = FunctionProcess::start("get-user", &with_bundle).await;
    assert_eq!(get_user(&function).await.status, 404);
    // Exported before the invocation answered.
    let received = collector.spans();
    assert!(
        received.iter().any(|span| span.name == "request"),
        "the request span arrived over TLS: {received:#?}"
    );

    let function = FunctionProcess::start("get-user", &base).await;
    assert_eq!(
        get_user(&function).await.status,
        404,
        "a collector that cannot be reached costs the caller nothing"
    );
    assert_eq!(
        collector.spans().len(),
        received.len(),
        "refused without the bundle"
    );
    let mut logs = String::new();
    for _ in 0..100 {
        logs.push_str(&function.take_stderr().join("\n"));
        if logs.contains("spans could not be exported") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the refused export is not in the logs: {logs}");
}
