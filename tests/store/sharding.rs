//! Users spread over shards, against the DynamoDB test server: pages merged from shards of any
//! density, tables laid out another way refused untouched, and correctness at DynamoDB's
//! partition limits through the partition-capacity model (support/capacity.rs).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::capacity::{Capacity, CapacityFront};
use integration_tests::dynamo::{
    self, assert_users_and_claims_agree_with, client_for, fresh_table, scan,
};
use integration_tests::lossy_hop::LossyHop;
use shared::ErrorChain;
use shared::domain::{NewUser, PageLimit, PageStart, Precondition, UserChanges, UserId};
use shared::store::dynamodb::schema::{COUNTER_PARTITION, UNSHARDED_USER_PARTITION};
use shared::store::{
    DynamoStore, StoreCreate, StoreDelete, StoreError, StoreGet, StoreList, StorePing, StoreUpdate,
};
use tokio::time::Instant;

fn new_user(email: &str) -> NewUser {
    NewUser {
        name: "Shard".into(),
        email: email.into(),
        age: 30,
    }
}

/// Every id, in order, that a walk of pages of `limit` by cursor returns.
async fn walk(store: &DynamoStore, limit: u32) -> Vec<u64> {
    let limit = PageLimit::new(limit).unwrap();
    let (mut ids, mut start) = (Vec::new(), PageStart::First);
    loop {
        let page = store.list(start, limit).await.unwrap();
        ids.extend(page.users.iter().map(|user| user.id.get()));
        match page.next_after {
            Some(after) => start = PageStart::After(after),
            None => return ids,
        }
    }
}

#[tokio::test]
async fn pages_merge_shards_of_any_density_in_id_order() {
    let table = fresh_table("uneven").await;
    let store = DynamoStore::new(dynamo::client(), &table, 50);
    let mut kept = BTreeSet::new();
    for i in 0..120u64 {
        let user = store
            .create(new_user(&format!("u{i}@example.com")))
            .await
            .unwrap();
        kept.insert(user.id.get());
    }
    // Empty shard 3 and most of shard 5, and leave a long run with one shard only: the first
    // round of a page then falls short and only the shards at the bound are read further.
    for id in kept.clone() {
        let shard = id % 8;
        if shard == 3 || (shard == 5 && id % 3 != 0) || (id > 40 && id < 100 && shard != 6) {
            store
                .delete(UserId::new(id).unwrap(), Precondition::None)
                .await
                .unwrap();
            kept.remove(&id);
        }
    }
    let expected = kept.iter().copied().collect::<Vec<_>>();
    for limit in [1, 3, 7, 20, 100] {
        assert_eq!(walk(&store, limit).await, expected, "pages of {limit}");
    }
    // `page=P` skips by the same merge.
    let limit = PageLimit::new(4).unwrap();
    for skip in [1u64, 5, 13, 30] {
        let page = store
            .list(PageStart::Skip(NonZeroU64::new(skip).unwrap()), limit)
            .await
            .unwrap();
        let ids = page.users.iter().map(|u| u.id.get()).collect::<Vec<_>>();
        let want = expected.iter().skip(skip as usize).take(4).copied();
        assert_eq!(ids, want.collect::<Vec<_>>(), "skip {skip}");
    }
    let past_the_end = store
        .list(PageStart::Skip(NonZeroU64::new(1_000).unwrap()), limit)
        .await
        .unwrap();
    assert!(past_the_end.users.is_empty() && past_the_end.next_after.is_none());
    // The same users in one shard list the same way: the layout changes cost, not answers.
    let one =
        DynamoStore::new(dynamo::client(), fresh_table("one-shard").await, 50).with_user_shards(1);
    for i in 0..9 {
        one.create(new_user(&format!("o{i}@example.com")))
            .await
            .unwrap();
    }
    assert_eq!(walk(&one, 4).await, (1..=9).collect::<Vec<_>>());
}

/// The whole error chain of a failure, as the logs show it.
fn chain(error: &StoreError) -> String {
    ErrorChain(error).to_string()
}

/// Every operation against `store`, each of which must be refused naming `found` and the
/// README's upgrade section. They aim at user 12, which no table here holds where 8 shards look
/// for it (a get that finds its user is answered whatever the layout: see
/// `a_user_found_where_this_version_looks_is_answered_in_one_call_and_a_miss_waits_for_the_check`).
async fn assert_every_operation_refused(store: &DynamoStore, found: &str) {
    let id = UserId::new(12).unwrap();
    let limit = PageLimit::new(10).unwrap();
    let changes = |email: Option<&str>| UserChanges {
        age: Some(50),
        email: email.map(str::to_owned),
        ..Default::default()
    };
    let outcomes = vec![
        ("health check", store.ping().await),
        ("get", store.get(id).await.map(|_| ())),
        (
            "list",
            store.list(PageStart::First, limit).await.map(|_| ()),
        ),
        (
            "update",
            store
                .update(id, changes(None), Precondition::None)
                .await
                .map(|_| ()),
        ),
        (
            "update email",
            store
                .update(id, changes(Some("moved@example.com")), Precondition::None)
                .await
                .map(|_| ()),
        ),
        ("delete", store.delete(id, Precondition::None).await),
        (
            "create",
            store.create(new_user("new@example.com")).await.map(|_| ()),
        ),
    ];
    for (operation, outcome) in outcomes {
        let error = outcome.expect_err(operation);
        let text = chain(&error);
        assert!(
            matches!(error, StoreError::Internal(_)),
            "{operation}: {text}"
        );
        assert!(
            text.contains(found) && text.contains("Upgrading a table"),
            "{operation}: {text}"
        );
    }
}

fn items_by_key(
    items: Vec<HashMap<String, AttributeValue>>,
) -> BTreeMap<String, HashMap<String, AttributeValue>> {
    items
        .into_iter()
        .map(|item| (format!("{:?}/{:?}", item["pk"], item["sk"]), item))
        .collect()
}

#[tokio::test]
async fn a_table_from_before_sharding_is_refused_and_left_untouched() {
    let table = fresh_table("unsharded").await;
    let client = dynamo::client();
    let s = |v: &str| AttributeValue::S(v.into());
    let n = |v: u64| AttributeValue::N(v.to_string());
    // What the previous layout wrote for one user: every user under `USER`, a counter without a
    // shard count.
    let old_items = [
        vec![
            ("pk", s(UNSHARDED_USER_PARTITION)),
            ("sk", n(1)),
            ("name", s("Ada")),
            ("email", s("ada@example.com")),
            ("email_key", s("ada@example.com")),
            ("age", n(36)),
            ("version", n(1)),
        ],
        vec![
            ("pk", s("EMAIL#ada@example.com")),
            ("sk", n(0)),
            ("user_id", n(1)),
        ],
        vec![
            ("pk", s(COUNTER_PARTITION)),
            ("sk", n(0)),
            ("last_id", n(50)),
        ],
    ];
    for item in old_items {
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(
                item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ))
            .send()
            .await
            .unwrap();
    }
    let before = items_by_key(scan(&table).await);
    let store = DynamoStore::new(dynamo::client(), &table, 50);
    assert_every_operation_refused(&store, "in one partition").await;
    assert_eq!(items_by_key(scan(&table).await), before);
}

#[tokio::test]
async fn a_table_of_another_shard_count_is_refused_and_left_untouched() {
    let table = fresh_table("four-shards").await;
    let four = DynamoStore::new(dynamo::client(), &table, 50).with_user_shards(4);
    for i in 0..12 {
        four.create(new_user(&format!("f{i}@example.com")))
            .await
            .unwrap();
    }
    let before = items_by_key(scan(&table).await);
    let eight = DynamoStore::new(dynamo::client(), &table, 50);
    assert_every_operation_refused(&eight, "in 4 shards").await;
    assert_eq!(items_by_key(scan(&table).await), before);
    // The table still serves the layout it has.
    assert_eq!(walk(&four, 5).await, (1..=12).collect::<Vec<_>>());
    // A user the other layout keeps where this one looks (1 mod 4 = 1 mod 8) is that user.
    let one = UserId::new(1).unwrap();
    let found = eight
        .get(one)
        .await
        .unwrap()
        .expect("user 1 where 8 shards look");
    assert_eq!(Some(found), four.get(one).await.unwrap());
}

#[tokio::test]
async fn a_user_found_where_this_version_looks_is_answered_in_one_call_and_a_miss_waits_for_the_check()
 {
    let table = fresh_table("found-first").await;
    let writer = DynamoStore::new(dynamo::client(), &table, 50);
    let ada = writer.create(new_user("ada@example.com")).await.unwrap();
    let hop = LossyHop::start(dynamo::endpoint().trim_start_matches("http://"), Vec::new()).await;
    let process = || DynamoStore::new(client_for(&hop.endpoint()), &table, 50);
    let get_items = || hop.seen("GetItem");

    // A new process's first GET of a user that exists: the read alone.
    let first = process();
    assert_eq!(first.get(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(get_items(), 1, "no layout check before a found user");
    // Its first miss is checked after the read, once for the life of the process.
    let missing = UserId::new(49).unwrap();
    assert_eq!(first.get(missing).await.unwrap(), None);
    assert_eq!(get_items(), 3, "the read, then the check");
    assert_eq!(first.get(missing).await.unwrap(), None);
    assert_eq!(get_items(), 4, "confirmed: the read alone");

    // A list checks before it runs, once.
    let lister = process();
    let before = get_items();
    let limit = PageLimit::new(10).unwrap();
    assert_eq!(
        lister.list(PageStart::First, limit).await.unwrap().users,
        vec![ada.clone()]
    );
    assert_eq!(get_items() - before, 1, "the check");
    lister.list(PageStart::First, limit).await.unwrap();
    assert_eq!(get_items() - before, 1, "confirmed by the first list");

    // A miss on a table no user was ever written to stands, and is checked every time.
    let empty = fresh_table("found-first-empty").await;
    let fresh = DynamoStore::new(client_for(&hop.endpoint()), &empty, 50);
    let before = get_items();
    for _ in 0..2 {
        assert_eq!(fresh.get(ada.id).await.unwrap(), None);
    }
    assert_eq!(
        get_items() - before,
        4,
        "read and check, twice: nothing to confirm yet"
    );
}

#[tokio::test]
async fn a_table_stamped_in_another_layout_after_a_first_read_is_refused_not_half_served() {
    // A process reads an empty table first (nothing to refuse yet), then another version stamps
    // it with 16 shards: the first process must refuse it from then on, never serve it
    // half-visible (its first read once confirmed the layout for the life of the process).
    let table = fresh_table("stamped-later").await;
    let eight = DynamoStore::new(dynamo::client(), &table, 50);
    assert_eq!(eight.get(UserId::new(9).unwrap()).await.unwrap(), None);
    assert!(walk(&eight, 10).await.is_empty());
    let sixteen = DynamoStore::new(dynamo::client(), &table, 50).with_user_shards(16);
    for i in 0..12 {
        sixteen
            .create(new_user(&format!("s{i}@example.com")))
            .await
            .unwrap();
    }
    assert_every_operation_refused(&eight, "in 16 shards").await;
}

/// What one creator saw.
#[derive(Default)]
struct Outcomes {
    /// Acknowledged users: id and every email it may now have (one, unless an update's outcome
    /// was unknown).
    users: BTreeMap<u64, Vec<String>>,
    throttled: usize,
    wrong: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_partitions_throttle_but_never_answer_wrongly_or_half_write() {
    let table = fresh_table("saturated").await;
    let upstream = dynamo::endpoint();
    let upstream = upstream.trim_start_matches("http://");
    // 5 write units a second per partition key: 2.5 creates a second per shard. Every update is a
    // transaction, so the single requests are the reads (a get, and the read before each update):
    // 3 read units a second per key, a fifth of DynamoDB's ratio, so that they saturate too however
    // slowly the test server answers (at 15, a test server slowed by the suites beside it was seen
    // reading ~7.5 a second per shard for the whole minute, and nothing single was throttled).
    let capacity = Capacity {
        read_units: 3.0,
        ..Capacity::scaled(200.0)
    };
    let front = CapacityFront::start(upstream, capacity).await;
    let store = Arc::new(DynamoStore::new(client_for(&front.endpoint()), &table, 50));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    // The load runs until the model has throttled both single requests and transactions for a
    // while, however slow the machine: at least 2 s, at most 60 s.
    let started = Instant::now();
    let saturated = {
        let front = front.clone();
        move || {
            let (requests, transactions) = front.throttled();
            started.elapsed() >= Duration::from_secs(2) && requests >= 10 && transactions >= 10
        }
    };
    let mut workers = Vec::new();
    for worker in 0..12 {
        let (store, outcomes, saturated) = (store.clone(), outcomes.clone(), saturated.clone());
        workers.push(tokio::spawn(async move {
            let mut mine: Vec<(UserId, String)> = Vec::new();
            let mut step = 0u64;
            while !saturated() && started.elapsed() < Duration::from_secs(60) {
                step += 1;
                let email = format!("w{worker}-{step}@example.com");
                let judge = |outcome: Result<(), StoreError>, what: &str| {
                    let mut seen = outcomes.lock().unwrap();
                    match outcome {
                        Ok(()) => {}
                        Err(StoreError::Throttled { .. }) => seen.throttled += 1,
                        Err(other) => seen.wrong.push(format!("{what}: {}", chain(&other))),
                    }
                };
                match (step % 4, mine.last().cloned()) {
                    (0, Some((id, _))) => {
                        let outcome = store.get(id).await.map(|found| {
                            assert!(found.is_some(), "acknowledged user {id} not found");
                        });
                        judge(outcome, "get");
                    }
                    (1, Some((id, _))) => {
                        let age = UserChanges {
                            age: Some((step % 100) as u8),
                            ..Default::default()
                        };
                        judge(
                            store.update(id, age, Precondition::None).await.map(|_| ()),
                            "update age",
                        );
                    }
                    (2, Some((id, _))) => {
                        let change = UserChanges {
                            email: Some(email.clone()),
                            ..Default::default()
                        };
                        let outcome = store.update(id, change, Precondition::None).await;
                        let mut seen = outcomes.lock().unwrap();
                        let emails = seen.users.get_mut(&id.get()).unwrap();
                        match &outcome {
                            Ok(_) => *emails = vec![email.clone()],
                            Err(StoreError::Unavailable(_)) => emails.push(email.clone()),
                            Err(_) => {}
                        }
                        drop(seen);
                        judge(outcome.map(|_| ()), "update email");
                    }
                    _ => match store.create(new_user(&email)).await {
                        Ok(user) => {
                            mine.push((user.id, email.clone()));
                            outcomes
                                .lock()
                                .unwrap()
                                .users
                                .insert(user.id.get(), vec![email]);
                        }
                        Err(error) => judge(Err(error), "create"),
                    },
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let usage = front.usage();
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    assert!(
        outcomes.wrong.is_empty(),
        "wrong answers: {:#?}",
        outcomes.wrong
    );
    assert!(
        usage.throttled_transactions > 0 && usage.throttled_requests > 0 && outcomes.throttled > 0,
        "the model never saturated: {usage:?}"
    );
    assert!(!outcomes.users.is_empty(), "no create got through");
    // Read back past the front: every acknowledged user is there with an email it may have, is
    // listed once, and no refused create left anything behind.
    let direct = DynamoStore::new(dynamo::client(), &table, 50);
    for (id, emails) in &outcomes.users {
        let user = direct.get(UserId::new(*id).unwrap()).await.unwrap();
        let user = user.unwrap_or_else(|| panic!("acknowledged user {id} is missing"));
        assert!(
            emails.contains(&user.email),
            "{id}: {} not in {emails:?}",
            user.email
        );
    }
    let listed = walk(&direct, 25).await;
    assert_eq!(
        listed,
        outcomes.users.keys().copied().collect::<Vec<_>>(),
        "listed once each, and nothing else"
    );
    assert_eq!(
        assert_users_and_claims_agree_with(&dynamo::client(), &table).await,
        outcomes.users.len()
    );
}
