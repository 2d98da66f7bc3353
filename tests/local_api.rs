//! `local-api` as a process: flags, environment and shutdown behaviour.

use http::Method;
use integration_tests::processes::LocalApi;
use integration_tests::{TestRequest, free_port};

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
