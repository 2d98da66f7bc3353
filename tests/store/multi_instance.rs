//! Two `local-api` processes sharing one table, standing in for many Lambda instances: every
//! guarantee must hold across processes, not just within one.

use std::collections::HashSet;

use futures::future::join_all;
use http::Method;
use integration_tests::contract::{all_users, create, get};
use integration_tests::dynamo::{
    as_pairs, assert_users_and_claims_agree, fresh_table, process_env,
};
use integration_tests::processes::LocalApi;
use integration_tests::{Target, TestRequest};
use serde_json::json;

async fn two_instances(table: &str) -> (LocalApi, LocalApi) {
    let env = process_env(table);
    let env = as_pairs(&env);
    (LocalApi::start(&env).await, LocalApi::start(&env).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_email_racing_across_instances_has_exactly_one_winner() {
    let table = fresh_table("race").await;
    let (a, b) = two_instances(&table).await;
    for round in 0..5 {
        let email = format!("race{round}@example.com");
        let requests = (0..12).map(|i| {
            let instance = if i % 2 == 0 { &a } else { &b };
            let spelling = if i % 3 == 0 {
                email.to_uppercase()
            } else {
                email.clone()
            };
            instance.send(
                TestRequest::new(Method::POST, "/users")
                    .json(&json!({"name": "Racer", "email": spelling})),
            )
        });
        let replies = join_all(requests).await;
        let created = replies.iter().filter(|r| r.status == 201).count();
        let conflicts = replies.iter().filter(|r| r.status == 409).count();
        assert_eq!(
            (created, conflicts),
            (1, 11),
            "round {round}: {:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
    }
    assert_eq!(assert_users_and_claims_agree(&table).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_across_instances_get_distinct_ids() {
    let table = fresh_table("ids").await;
    let (a, b) = two_instances(&table).await;
    let requests = (0..40).map(|i| {
        let instance = if i % 2 == 0 { &a } else { &b };
        instance.send(
            TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "Id", "email": format!("id{i}@example.com")})),
        )
    });
    let replies = join_all(requests).await;
    let ids: HashSet<u64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201);
            r.json()["user"]["id"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 40, "ids are unique across processes");
    let listed: Vec<u64> = all_users(&a)
        .await
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!(listed.len(), 40);
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "listing is in id order: {listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_created_on_one_instance_is_served_by_the_other() {
    let table = fresh_table("cross").await;
    let (a, b) = two_instances(&table).await;
    let user = create(&a, "Cross", "cross@example.com", 40).await;
    let path = format!("/users/{}", user["id"]);
    assert_eq!(get(&b, &path).await.json()["user"], user);
    let updated = b
        .send(TestRequest::new(Method::PUT, &path).json(&json!({"email": "moved@example.com"})))
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(
        get(&a, &path).await.json()["user"]["email"],
        "moved@example.com"
    );
    // The claim moved for both instances.
    let taken = a
        .send(
            TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "X", "email": "MOVED@example.com"})),
        )
        .await;
    assert_eq!(taken.status, 409);
    assert_eq!(
        b.send(TestRequest::new(Method::DELETE, &path)).await.status,
        204
    );
    assert_eq!(get(&a, &path).await.status, 404);
    create(&a, "Reuse", "moved@example.com", 1).await;
    assert_users_and_claims_agree(&table).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn data_survives_a_restart_of_both_instances() {
    let table = fresh_table("restart").await;
    let (a, b) = two_instances(&table).await;
    let ann = create(&a, "Ann", "ann@example.com", 1).await;
    let bob = create(&b, "Bob", "bob@example.com", 2).await;
    assert!(a.terminate().await.success());
    assert!(b.terminate().await.success());

    let (a, b) = two_instances(&table).await;
    assert_eq!(all_users(&a).await, vec![ann.clone(), bob.clone()]);
    assert_eq!(
        get(&b, &format!("/users/{}", ann["id"])).await.json()["user"],
        ann
    );
    // New ids after a restart never collide with ids from before it.
    let carol = create(&b, "Carol", "carol@example.com", 3).await;
    assert!(carol["id"].as_u64() > bob["id"].as_u64().max(ann["id"].as_u64()));
    let dup = a
        .send(
            TestRequest::new(Method::POST, "/users")
                .json(&json!({"name": "Ann", "email": "ANN@example.com"})),
        )
        .await;
    assert_eq!(dup.status, 409);
}

/// Retries of one create under one key, racing across two processes on one table: one user,
/// and every answer is that user (or a clear 409 while the first is in flight, which the
/// transaction makes impossible here).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_retries_under_one_key_across_instances_make_one_user() {
    let table = fresh_table("idempotent").await;
    let (a, b) = two_instances(&table).await;
    let requests = (0..20).map(|i| {
        let instance = if i % 2 == 0 { &a } else { &b };
        instance.send(
            TestRequest::new(Method::POST, "/users")
                .header("Idempotency-Key", "signup-42")
                .json(&json!({"name": "Once", "email": "once@example.com"})),
        )
    });
    let replies = join_all(requests).await;
    let ids: HashSet<String> = replies
        .iter()
        .map(|reply| {
            assert_eq!(
                reply.status,
                201,
                "{}",
                String::from_utf8_lossy(&reply.body)
            );
            reply.json()["user"]["id"].to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one user for every retry: {ids:?}");
    let replayed = replies
        .iter()
        .filter(|reply| reply.header("idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replayed, 19);
    assert_eq!(all_users(&a).await.len(), 1);
    assert_users_and_claims_agree(&table).await;
}
