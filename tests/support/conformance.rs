//! The `UserStore` contract as executable cases, run against every backend by
//! [`conformance_tests!`]: the same cases, the same expectations.

use std::collections::HashSet;
use std::num::NonZeroU64;
use std::sync::Arc;

use shared::domain::{NewUser, PageLimit, PageStart, Precondition, UserChanges, UserId};
use shared::store::{Created, IdempotentCreate, StoreError, UserStore};

/// Expands to one test per case, each on a fresh store built by `$make` (an async expression
/// yielding something that is a `UserStore`). `@through_the_api` expands only to the cases that
/// the HTTP API can express (tests/api/client_conformance.rs runs them through the typed client).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@through_the_api $make);
        // Beyond what a client of the HTTP API can state: store-level idempotency records (their
        // key, fingerprint and clock are the service's to set), offset pagination (`page=P`,
        // which the client does not use), and listed users' versions (the wire's listings carry
        // none; a single user's version is its `ETag`).
        $crate::conformance_tests!(@cases $make;
            list_pages_in_id_order_with_lookahead,
            list_after_a_deleted_id_continues,
            list_skips_by_offset,
            versions_start_at_1_and_grow_with_each_change,
            an_idempotent_create_replays_and_refuses_a_different_request,
            an_expired_idempotency_record_no_longer_counts,
            a_replay_of_a_deleted_user_says_so,
            racing_creates_under_one_key_make_one_user,
        );
    };
    (@through_the_api $make:expr) => {
        $crate::conformance_tests!(@cases $make;
            create_assigns_fresh_increasing_ids,
            get_of_a_missing_user_is_none,
            emails_are_unique_ignoring_case,
            racing_creates_of_one_email_have_one_winner,
            concurrent_creates_get_distinct_ids,
            update_changes_present_fields_only,
            update_moves_the_email_claim,
            update_to_a_taken_email_changes_nothing,
            update_and_delete_of_missing_users_are_not_found,
            racing_updates_to_one_email_have_one_winner,
            delete_frees_the_email,
            racing_deletes_have_one_winner,
            a_stale_version_changes_nothing,
            preconditions_on_a_missing_user_fail,
            the_matching_version_writes_including_an_email_move,
            racing_writes_from_one_version_have_one_winner,
            find_answers_the_holder_of_an_email_in_any_case,
            find_follows_the_email_as_it_moves_and_is_freed,
            finds_racing_an_email_move_answer_its_holder_or_no_one,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = std::sync::Arc::new($make);
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

/// Awaits racing tasks and counts the winners; the losers must have lost with `expected`.
async fn winners<T>(
    tasks: Vec<tokio::task::JoinHandle<Result<T, StoreError>>>,
    expected: fn(&StoreError) -> bool,
) -> usize {
    let mut winners = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => winners += 1,
            Err(error) if expected(&error) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    winners
}

fn user(name: &str, email: &str) -> NewUser {
    NewUser {
        name: name.into(),
        email: email.into(),
        age: 30,
    }
}

fn limit(n: u32) -> PageLimit {
    PageLimit::new(n).unwrap()
}

fn email(address: &str) -> UserChanges {
    UserChanges {
        email: Some(address.into()),
        ..Default::default()
    }
}

async fn ids(store: &dyn UserStore) -> Vec<u64> {
    let page = store.list(PageStart::First, limit(100)).await.unwrap();
    page.users.iter().map(|u| u.id.get()).collect()
}

pub async fn create_assigns_fresh_increasing_ids(store: Arc<impl UserStore>) {
    let mut last = 0;
    for i in 0..7 {
        let created = store
            .create(user("Ann", &format!("a{i}@example.com")))
            .await
            .unwrap();
        assert!(created.id.get() > last);
        last = created.id.get();
        assert_eq!(store.get(created.id).await.unwrap(), Some(created));
    }
}

pub async fn get_of_a_missing_user_is_none(store: Arc<impl UserStore>) {
    assert_eq!(
        store.get(UserId::new(987_654).unwrap()).await.unwrap(),
        None
    );
}

pub async fn emails_are_unique_ignoring_case(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "Ann@Example.com")).await.unwrap();
    assert_eq!(ann.email, "Ann@Example.com");
    for spelling in ["Ann@Example.com", "ann@example.com", "ANN@EXAMPLE.COM"] {
        assert!(matches!(
            store.create(user("Other", spelling)).await,
            Err(StoreError::EmailTaken)
        ));
    }
    assert_eq!(ids(&*store).await, vec![ann.id.get()]);
}

pub async fn racing_creates_of_one_email_have_one_winner(store: Arc<impl UserStore + 'static>) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            let spelling = if i % 2 == 0 {
                "race@example.com"
            } else {
                "RACE@example.com"
            };
            tokio::spawn(async move { store.create(user("Racer", spelling)).await })
        })
        .collect();
    assert_eq!(
        winners(tasks, |e| matches!(e, StoreError::EmailTaken)).await,
        1
    );
    assert_eq!(ids(&*store).await.len(), 1);
}

pub async fn concurrent_creates_get_distinct_ids(store: Arc<impl UserStore + 'static>) {
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create(user("Many", &format!("m{i}@example.com")))
                    .await
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for task in tasks {
        assert!(seen.insert(task.await.unwrap().unwrap().id));
    }
    assert_eq!(ids(&*store).await.len(), 40);
}

pub async fn update_changes_present_fields_only(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    let changes = UserChanges {
        age: Some(31),
        ..Default::default()
    };
    let updated = store
        .update(ann.id, changes, Precondition::None)
        .await
        .unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.email.as_str(), updated.age),
        ("Ann", "ann@example.com", 31)
    );
    let changes = UserChanges {
        name: Some("Annie".into()),
        ..Default::default()
    };
    let updated = store
        .update(ann.id, changes, Precondition::None)
        .await
        .unwrap();
    assert_eq!((updated.name.as_str(), updated.age), ("Annie", 31));
    assert_eq!(store.get(ann.id).await.unwrap(), Some(updated));
}

pub async fn update_moves_the_email_claim(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    let respelled = store
        .update(ann.id, email("ANN@example.com"), Precondition::None)
        .await
        .unwrap();
    assert_eq!(respelled.email, "ANN@example.com");
    let moved = store
        .update(ann.id, email("new@example.com"), Precondition::None)
        .await
        .unwrap();
    assert_eq!(moved.email, "new@example.com");
    assert!(matches!(
        store.create(user("X", "New@example.com")).await,
        Err(StoreError::EmailTaken)
    ));
    store
        .create(user("Reuse", "ann@example.com"))
        .await
        .expect("old email is free");
}

pub async fn update_to_a_taken_email_changes_nothing(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    let bob = store.create(user("Bob", "bob@example.com")).await.unwrap();
    let changes = UserChanges {
        email: Some("Ann@example.com".into()),
        age: Some(99),
        name: None,
    };
    assert!(matches!(
        store.update(bob.id, changes, Precondition::None).await,
        Err(StoreError::EmailTaken)
    ));
    assert_eq!(store.get(bob.id).await.unwrap(), Some(bob));
    assert_eq!(store.get(ann.id).await.unwrap(), Some(ann));
    store
        .create(user("Bob2", "BOB@example.com"))
        .await
        .expect_err("bob keeps his email");
}

pub async fn update_and_delete_of_missing_users_are_not_found(store: Arc<impl UserStore>) {
    let missing = UserId::new(424_242).unwrap();
    assert!(matches!(
        store
            .update(missing, email("x@example.com"), Precondition::None)
            .await,
        Err(StoreError::NotFound)
    ));
    let age = UserChanges {
        age: Some(1),
        ..Default::default()
    };
    assert!(matches!(
        store.update(missing, age, Precondition::None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete(missing, Precondition::None).await,
        Err(StoreError::NotFound)
    ));
    assert!(ids(&*store).await.is_empty(), "update never creates");
    store
        .create(user("X", "x@example.com"))
        .await
        .expect("a failed update claims nothing");
}

pub async fn racing_updates_to_one_email_have_one_winner(store: Arc<impl UserStore + 'static>) {
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(
            store
                .create(user("U", &format!("u{i}@example.com")))
                .await
                .unwrap(),
        );
    }
    let tasks: Vec<_> = users
        .iter()
        .map(|u| {
            let (store, id) = (store.clone(), u.id);
            tokio::spawn(async move {
                store
                    .update(id, email("prize@example.com"), Precondition::None)
                    .await
            })
        })
        .collect();
    assert_eq!(
        winners(tasks, |e| matches!(e, StoreError::EmailTaken)).await,
        1
    );
    let page = store.list(PageStart::First, limit(100)).await.unwrap();
    assert_eq!(
        page.users
            .iter()
            .filter(|u| u.email == "prize@example.com")
            .count(),
        1
    );
    // Losers keep their own email, still claimed.
    for u in page.users.iter().filter(|u| u.email != "prize@example.com") {
        assert!(matches!(
            store.create(user("Copy", &u.email)).await,
            Err(StoreError::EmailTaken)
        ));
    }
}

pub async fn delete_frees_the_email(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    store.delete(ann.id, Precondition::None).await.unwrap();
    assert_eq!(store.get(ann.id).await.unwrap(), None);
    assert!(matches!(
        store.delete(ann.id, Precondition::None).await,
        Err(StoreError::NotFound)
    ));
    let again = store.create(user("Ann", "ANN@example.com")).await.unwrap();
    assert!(again.id > ann.id, "ids are never reused");
}

pub async fn racing_deletes_have_one_winner(store: Arc<impl UserStore + 'static>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.delete(ann.id, Precondition::None).await })
        })
        .collect();
    assert_eq!(
        winners(tasks, |e| matches!(e, StoreError::NotFound)).await,
        1
    );
}

pub async fn list_pages_in_id_order_with_lookahead(store: Arc<impl UserStore>) {
    let empty = store.list(PageStart::First, limit(10)).await.unwrap();
    assert!(empty.users.is_empty() && empty.next_after.is_none());
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(
            store
                .create(user("L", &format!("l{i}@example.com")))
                .await
                .unwrap(),
        );
    }
    let first = store.list(PageStart::First, limit(2)).await.unwrap();
    assert_eq!(first.users, created[0..2]);
    assert_eq!(first.next_after, Some(created[1].id));
    let second = store
        .list(PageStart::After(created[1].id), limit(2))
        .await
        .unwrap();
    assert_eq!(second.users, created[2..4]);
    let last = store
        .list(PageStart::After(created[3].id), limit(2))
        .await
        .unwrap();
    assert_eq!(last.users, created[4..5]);
    assert_eq!(last.next_after, None);
    let exact = store.list(PageStart::First, limit(5)).await.unwrap();
    assert_eq!(exact.users, created);
    assert_eq!(exact.next_after, None, "no cursor when nothing follows");
}

pub async fn list_after_a_deleted_id_continues(store: Arc<impl UserStore>) {
    let mut created = Vec::new();
    for i in 0..4 {
        created.push(
            store
                .create(user("D", &format!("d{i}@example.com")))
                .await
                .unwrap(),
        );
    }
    store
        .delete(created[1].id, Precondition::None)
        .await
        .unwrap();
    let page = store
        .list(PageStart::After(created[1].id), limit(10))
        .await
        .unwrap();
    assert_eq!(page.users, created[2..4]);
}

pub async fn list_skips_by_offset(store: Arc<impl UserStore>) {
    let mut created = Vec::new();
    for i in 0..6 {
        created.push(
            store
                .create(user("S", &format!("s{i}@example.com")))
                .await
                .unwrap(),
        );
    }
    let skip = |n| PageStart::Skip(NonZeroU64::new(n).unwrap());
    let page = store.list(skip(2), limit(3)).await.unwrap();
    assert_eq!(page.users, created[2..5]);
    assert_eq!(page.next_after, Some(created[4].id));
    let tail = store.list(skip(5), limit(3)).await.unwrap();
    assert_eq!(tail.users, created[5..6]);
    assert_eq!(tail.next_after, None);
    for beyond in [6, 7, 1_000_000] {
        let page = store.list(skip(beyond), limit(3)).await.unwrap();
        assert!(
            page.users.is_empty() && page.next_after.is_none(),
            "skip {beyond}"
        );
    }
}

fn age(years: u8) -> UserChanges {
    UserChanges {
        age: Some(years),
        ..Default::default()
    }
}

pub async fn versions_start_at_1_and_grow_with_each_change(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    assert_eq!(ann.version, 1);
    let once = store
        .update(ann.id, age(2), Precondition::None)
        .await
        .unwrap();
    assert_eq!(once.version, 2);
    let twice = store
        .update(ann.id, email("ann2@example.com"), Precondition::None)
        .await
        .unwrap();
    assert_eq!(twice.version, 3, "an email move is one change too");
    assert_eq!(store.get(ann.id).await.unwrap().unwrap().version, 3);
    let listed = store.list(PageStart::First, limit(10)).await.unwrap();
    assert_eq!(listed.users[0].version, 3);
}

pub async fn a_stale_version_changes_nothing(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    let current = store
        .update(ann.id, age(5), Precondition::None)
        .await
        .unwrap();
    let stale = Precondition::Version(ann.version);
    for changes in [age(9), email("moved@example.com"), email("ANN@example.com")] {
        assert!(matches!(
            store.update(ann.id, changes, stale).await,
            Err(StoreError::PreconditionFailed)
        ));
    }
    assert!(matches!(
        store.delete(ann.id, stale).await,
        Err(StoreError::PreconditionFailed)
    ));
    assert_eq!(store.get(ann.id).await.unwrap(), Some(current));
    // The email the refused move asked for was not claimed.
    store.create(user("Mo", "moved@example.com")).await.unwrap();
}

pub async fn preconditions_on_a_missing_user_fail(store: Arc<impl UserStore>) {
    let missing = UserId::new(424_242).unwrap();
    for precondition in [Precondition::Exists, Precondition::Version(1)] {
        for changes in [age(1), email("x@example.com")] {
            assert!(matches!(
                store.update(missing, changes, precondition).await,
                Err(StoreError::PreconditionFailed)
            ));
        }
        assert!(matches!(
            store.delete(missing, precondition).await,
            Err(StoreError::PreconditionFailed)
        ));
    }
}

pub async fn the_matching_version_writes_including_an_email_move(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    let aged = store
        .update(ann.id, age(7), Precondition::Version(1))
        .await
        .unwrap();
    let moved = store
        .update(
            ann.id,
            email("new@example.com"),
            Precondition::Version(aged.version),
        )
        .await
        .unwrap();
    assert_eq!(
        (moved.email.as_str(), moved.version),
        ("new@example.com", 3)
    );
    let recased = store
        .update(ann.id, email("NEW@example.com"), Precondition::Exists)
        .await
        .unwrap();
    assert_eq!(recased.version, 4);
    // The old email is free again; the new one is taken.
    store
        .create(user("Other", "ann@example.com"))
        .await
        .unwrap();
    assert!(matches!(
        store.create(user("Dup", "new@example.com")).await,
        Err(StoreError::EmailTaken)
    ));
    store
        .delete(ann.id, Precondition::Version(recased.version))
        .await
        .unwrap();
    assert_eq!(store.get(ann.id).await.unwrap(), None);
}

/// The lost update: clients that read the same version and write conditionally on it. Exactly
/// one write lands; the others are refused and leave no trace.
pub async fn racing_writes_from_one_version_have_one_winner(store: Arc<impl UserStore + 'static>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    let tasks = (0..6u8)
        .map(|i| {
            let store = store.clone();
            let changes = if i % 2 == 0 {
                age(i + 10)
            } else {
                email(&format!("ann{i}@example.com"))
            };
            tokio::spawn(async move {
                store
                    .update(ann.id, changes, Precondition::Version(1))
                    .await
            })
        })
        .collect();
    let won = winners(tasks, |e| matches!(e, StoreError::PreconditionFailed)).await;
    assert_eq!(won, 1);
    assert_eq!(store.get(ann.id).await.unwrap().unwrap().version, 2);
}

fn keyed(key: &str, fingerprint: &str, now: u64) -> Option<IdempotentCreate> {
    Some(IdempotentCreate {
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        now,
        expires_at: now + 100,
    })
}

pub async fn an_idempotent_create_replays_and_refuses_a_different_request(
    store: Arc<impl UserStore>,
) {
    let Created::New(ann) = store
        .create_idempotent(user("Ann", "ann@example.com"), keyed("k", "ann", 1_000))
        .await
        .unwrap()
    else {
        panic!("the first create creates")
    };
    // The retry: same key, same request. Its email is taken by the first create, and still the
    // answer is the first create's user.
    let again = store
        .create_idempotent(user("Ann", "ann@example.com"), keyed("k", "ann", 1_050))
        .await
        .unwrap();
    assert_eq!(again, Created::Replayed(ann.clone()));
    // The same key for another request: refused, nothing written.
    assert!(matches!(
        store
            .create_idempotent(user("Bob", "bob@example.com"), keyed("k", "bob", 1_060))
            .await,
        Err(StoreError::IdempotencyKeyReused)
    ));
    assert_eq!(ids(store.as_ref()).await, [ann.id.get()]);
    store.create(user("Bob", "bob@example.com")).await.unwrap();
    // A replay shows the user as it is now.
    let older = store
        .update(ann.id, age(31), Precondition::None)
        .await
        .unwrap();
    let replayed = store
        .create_idempotent(user("Ann", "ann@example.com"), keyed("k", "ann", 1_070))
        .await
        .unwrap();
    assert_eq!(replayed, Created::Replayed(older));
}

pub async fn an_expired_idempotency_record_no_longer_counts(store: Arc<impl UserStore>) {
    store
        .create_idempotent(user("Ann", "ann@example.com"), keyed("k", "ann", 1_000))
        .await
        .unwrap();
    // 100 s later the record has expired: the key is free, for any request.
    let later = store
        .create_idempotent(user("Bob", "bob@example.com"), keyed("k", "bob", 1_100))
        .await
        .unwrap();
    assert!(matches!(later, Created::New(_)), "{later:?}");
    let replay = store
        .create_idempotent(user("Bob", "bob@example.com"), keyed("k", "bob", 1_150))
        .await
        .unwrap();
    assert!(matches!(replay, Created::Replayed(_)), "{replay:?}");
}

pub async fn a_replay_of_a_deleted_user_says_so(store: Arc<impl UserStore>) {
    let Created::New(ann) = store
        .create_idempotent(user("Ann", "ann@example.com"), keyed("k", "ann", 1_000))
        .await
        .unwrap()
    else {
        panic!("the first create creates")
    };
    store.delete(ann.id, Precondition::None).await.unwrap();
    let replay = store
        .create_idempotent(user("Ann", "ann@example.com"), keyed("k", "ann", 1_010))
        .await
        .unwrap();
    assert_eq!(replay, Created::ReplayedGone(ann.id));
    assert!(
        ids(store.as_ref()).await.is_empty(),
        "nothing created again"
    );
}

pub async fn racing_creates_under_one_key_make_one_user(store: Arc<impl UserStore + 'static>) {
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_idempotent(user("Ann", "ann@example.com"), keyed("k", "ann", 1_000))
                    .await
            })
        })
        .collect();
    let mut made = Vec::new();
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Created::New(user) => made.push(("new", user.id)),
            Created::Replayed(user) => made.push(("replayed", user.id)),
            Created::ReplayedGone(id) => panic!("{id} gone"),
        }
    }
    assert_eq!(
        made.iter().filter(|(kind, _)| *kind == "new").count(),
        1,
        "{made:?}"
    );
    assert!(
        made.iter().all(|(_, id)| *id == made[0].1),
        "one id for all: {made:?}"
    );
    assert_eq!(ids(store.as_ref()).await.len(), 1);
}

pub async fn find_answers_the_holder_of_an_email_in_any_case(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "Ann@Example.com")).await.unwrap();
    let bob = store.create(user("Bob", "bob@example.com")).await.unwrap();
    for spelling in ["Ann@Example.com", "ann@example.com", "ANN@EXAMPLE.COM"] {
        let found = store.find_by_email(spelling).await.unwrap();
        assert_eq!(found.as_ref(), Some(&ann), "{spelling}");
    }
    assert_eq!(
        store.find_by_email("BOB@example.com").await.unwrap(),
        Some(bob)
    );
    assert_eq!(
        store.find_by_email("nobody@example.com").await.unwrap(),
        None
    );
}

pub async fn find_follows_the_email_as_it_moves_and_is_freed(store: Arc<impl UserStore>) {
    let ann = store.create(user("Ann", "ann@example.com")).await.unwrap();
    let moved = store
        .update(ann.id, email("annie@example.com"), Precondition::None)
        .await
        .unwrap();
    assert_eq!(store.find_by_email("ann@example.com").await.unwrap(), None);
    let found = store.find_by_email("Annie@example.com").await.unwrap();
    assert_eq!(found, Some(moved), "the user at its new version");
    let other = store
        .create(user("Other", "ANN@example.com"))
        .await
        .unwrap();
    let found = store.find_by_email("ann@example.com").await.unwrap();
    assert_eq!(found, Some(other), "the old address's new holder");
    store.delete(ann.id, Precondition::None).await.unwrap();
    assert_eq!(
        store.find_by_email("annie@example.com").await.unwrap(),
        None
    );
}

/// A find that overlaps a move of the email away from its holder (and back) answers the holder
/// with that email, or no one: never the holder as it is once it holds another address.
pub async fn finds_racing_an_email_move_answer_its_holder_or_no_one(
    store: Arc<impl UserStore + 'static>,
) {
    let ann = store.create(user("Ann", "a@example.com")).await.unwrap();
    let mover = {
        let store = store.clone();
        tokio::spawn(async move {
            for round in 0..10 {
                let address = if round % 2 == 0 {
                    "b@example.com"
                } else {
                    "a@example.com"
                };
                store
                    .update(ann.id, email(address), Precondition::None)
                    .await
                    .unwrap();
            }
        })
    };
    while !mover.is_finished() {
        if let Some(found) = store.find_by_email("A@example.com").await.unwrap() {
            assert_eq!((found.id, found.email.as_str()), (ann.id, "a@example.com"));
        }
    }
    mover.await.unwrap();
    // Ten moves end with the address back with Ann.
    let last = store.find_by_email("a@example.com").await.unwrap();
    assert_eq!(last.map(|user| user.version), Some(11));
}
