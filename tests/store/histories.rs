//! No wrong answer under concurrency, proven on recorded histories (support/history.rs): eight
//! clients run random creates, gets, partial updates (with and without `If-Match`, with and
//! without an email change, double submits), deletes and listings over a few users and a few
//! contested addresses, and the checker asks whether each user's history is linearizable and
//! whether every `409 email_taken` could be true.
//!
//! Where: both stores in process (behind the middleware the functions use); the DynamoDB store
//! through a hop that loses the answer of one write in ten (applied, answer dropped, the SDK sends
//! it again), through a slow hop, and through the partition-capacity model throttling it; and over
//! HTTP, through the client, to two `local-api` processes on one table, one killed and restarted
//! mid-run.
//!
//! The seeds are fixed; `HISTORY_SECONDS=S cargo test -p integration-tests --test store histories::` runs
//! each test over new seeds for S seconds ([`history::seeds`]; the README's "Consistency").

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use client::{ClientConfig, UsersClient, discovery};
use integration_tests::capacity::{Capacity, CapacityFront};
use integration_tests::dynamo::{
    as_pairs, assert_users_and_claims_agree, client_for, endpoint, fresh_table, process_env,
};
use integration_tests::free_port;
use integration_tests::history::{self, History, Workload};
use integration_tests::lossy_hop::{Loss, LossyHop, RandomLoss};
use integration_tests::processes::LocalApi;
use shared::middleware::{GuardedStore, ResilienceConfig};
use shared::store::{DynamoStore, MemoryStore, UserStore};
use shared::users::{InProcess, Users};

/// The functions' DynamoDB client settings: three attempts, each bounded (STORE_TIMEOUT_MS 3000
/// / DYNAMODB_MAX_ATTEMPTS 3).
fn sdk_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = client_for(endpoint)
        .config()
        .to_builder()
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// The operations in process over `store`, behind the timeout and breaker the functions use.
fn guarded<S: UserStore + 'static>(store: S) -> Arc<dyn Users> {
    let guarded = GuardedStore::new(Arc::new(store), ResilienceConfig::default());
    Arc::new(InProcess::new(Arc::new(guarded)))
}

/// A DynamoDB store on a fresh table, reached at `endpoint`.
async fn dynamo_at(endpoint: &str) -> (Arc<dyn Users>, String) {
    let table = fresh_table("history").await;
    let store = DynamoStore::new(sdk_client(endpoint), &table, 10);
    (guarded(store), table)
}

async fn run(users: Arc<dyn Users>, workload: Workload) -> History {
    history::record(users, workload, async {}).await
}

fn dynamo_workload(seed: u64) -> Workload {
    Workload::new(seed, 60, Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_histories_are_linearizable() {
    for seed in history::seeds(&[1, 2, 3]) {
        let users = guarded(MemoryStore::new());
        let history = run(users, Workload::new(seed, 400, Duration::from_secs(20))).await;
        history::check(&history).assert_none(&format!("memory, seed {seed}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_store_histories_are_linearizable() {
    for seed in history::seeds(&[11]) {
        let (users, table) = dynamo_at(&endpoint()).await;
        let history = run(users, dynamo_workload(seed)).await;
        history::check(&history).assert_none(&format!("dynamodb, seed {seed}"));
        assert_users_and_claims_agree(&table).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_hold_when_one_write_answer_in_ten_is_lost() {
    let hop = LossyHop::start(endpoint().trim_start_matches("http://"), Vec::new()).await;
    for seed in history::seeds(&[21]) {
        let (users, table) = dynamo_at(&hop.endpoint()).await;
        let lost_so_far = || hop.lost("UpdateItem") + hop.lost("TransactWriteItems");
        let lost_before = lost_so_far();
        hop.set_random_loss(RandomLoss {
            kinds: vec!["UpdateItem", "TransactWriteItems", "DeleteItem", "PutItem"],
            one_in: 10,
            loss: Loss::Drop,
            seed,
        });
        let history = run(users, dynamo_workload(seed)).await;
        let lost = lost_so_far() - lost_before;
        history::check(&history)
            .assert_none(&format!("dynamodb, seed {seed}, {lost} write answers lost"));
        assert!(
            lost >= 10,
            "the hop lost only {lost} answers: the run proved little"
        );
        assert_users_and_claims_agree(&table).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_hold_through_a_slow_hop() {
    let hop = LossyHop::start(endpoint().trim_start_matches("http://"), Vec::new()).await;
    for seed in history::seeds(&[31]) {
        let (users, table) = dynamo_at(&hop.endpoint()).await;
        // Answers held past the attempt timeout: the SDK sends the request again while the first
        // one has been applied, and the late answer arrives on a connection no one reads.
        hop.set_random_loss(RandomLoss {
            kinds: vec!["GetItem", "Query", "UpdateItem", "TransactWriteItems"],
            one_in: 8,
            loss: Loss::Delay(Duration::from_millis(1_200)),
            seed,
        });
        let history = run(users, dynamo_workload(seed)).await;
        history::check(&history).assert_none(&format!("dynamodb through a slow hop, seed {seed}"));
        assert_users_and_claims_agree(&table).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_hold_while_partitions_are_throttled() {
    for seed in history::seeds(&[41]) {
        throttled_history(seed).await;
    }
}

/// One history against partitions a hundredth of DynamoDB's size; on a machine so loaded that
/// the clients never outran them (seen with six history tests on two cores), the same seed again
/// against smaller partitions, so that every run proves something about throttling.
async fn throttled_history(seed: u64) {
    for divisor in [100.0, 400.0, 1600.0] {
        let front = CapacityFront::start(
            endpoint().trim_start_matches("http://"),
            Capacity::scaled(divisor),
        )
        .await;
        let (users, table) = dynamo_at(&front.endpoint()).await;
        let history = run(users, dynamo_workload(seed)).await;
        let (single, transactions) = front.throttled();
        history::check(&history).assert_none(&format!(
            "dynamodb throttled to 1/{divisor} ({single} requests, {transactions} transactions), \
             seed {seed}"
        ));
        assert_users_and_claims_agree(&table).await;
        if single + transactions >= 5 {
            return;
        }
    }
    panic!("seed {seed}: the capacity model never throttled: the runs proved little");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_histories_hold_across_a_killed_local_api() {
    for seed in history::seeds(&[51]) {
        http_history_across_a_killed_local_api(seed).await;
    }
}

async fn http_history_across_a_killed_local_api(seed: u64) {
    let table = fresh_table("history-http").await;
    let env = process_env(&table);
    let ports = [free_port(), free_port()];
    let launch = move |port: u16| {
        let env = env.clone();
        async move { LocalApi::launch(&as_pairs(&env), &["--port", &port.to_string()]).await }
    };
    let first = launch(ports[0]).await;
    let second = launch(ports[1]).await;
    let urls: Vec<String> = ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect();
    let config = ClientConfig::new(discovery::from_list(&urls).unwrap());
    let users: Arc<dyn Users> = Arc::new(UsersClient::new(config, None).unwrap());
    let victim_port = ports[1];
    // The restarted process serves until the run and its final listing are over.
    let restarted = Arc::new(tokio::sync::Mutex::new(None));
    let slot = restarted.clone();
    let faults = async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        second.kill().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        *slot.lock().await = Some(launch(victim_port).await);
    };
    let history = history::record(users, dynamo_workload(seed), faults).await;
    history::check(&history).assert_none(&format!(
        "over HTTP, one local-api killed and restarted, seed {seed}"
    ));
    assert!(
        restarted.lock().await.is_some(),
        "the killed process was restarted"
    );
    assert_users_and_claims_agree(&table).await;
    drop(first);
}
