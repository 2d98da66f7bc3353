//! Contract cases: List.

use super::*;

pub(crate) fn ids(users: &Value) -> Vec<u64> {
    users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect()
}

pub async fn list_defaults_to_page_1_limit_10_in_id_order(target: &impl Target) {
    let empty = get(target, "/users").await;
    assert_eq!(empty.status, 200);
    assert_json(&empty);
    assert_eq!(empty.json(), json!({"users": [], "next_cursor": null}));
    let mut created = Vec::new();
    for i in 0..12 {
        created.push(
            create(
                target,
                &format!("User {i}"),
                &format!("user{i}@example.com"),
                i,
            )
            .await,
        );
    }
    let body = get(target, "/users").await.json();
    assert_eq!(listed_users(&body), created[..10].to_vec());
    assert!(body["next_cursor"].is_string());
    let mut sorted = ids(&body["users"]);
    sorted.sort_unstable();
    assert_eq!(ids(&body["users"]), sorted);
}

pub async fn list_pages_by_number_and_limit(target: &impl Target) {
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(
            create(target, &format!("P{i}"), &format!("p{i}@example.com"), i).await["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let page = |n: u32| format!("/users?page={n}&limit=3");
    assert_eq!(
        ids(&get(target, &page(1)).await.json()["users"]),
        created[0..3]
    );
    assert_eq!(
        ids(&get(target, &page(2)).await.json()["users"]),
        created[3..6]
    );
    let last = get(target, &page(3)).await.json();
    assert_eq!(ids(&last["users"]), created[6..7]);
    assert_eq!(last["next_cursor"], Value::Null);
    assert_eq!(
        get(target, &page(4)).await.json(),
        json!({"users": [], "next_cursor": null})
    );
    let exact = get(target, "/users?limit=7").await.json();
    assert_eq!(ids(&exact["users"]), created);
    assert_eq!(
        exact["next_cursor"],
        Value::Null,
        "no cursor when nothing follows"
    );
    assert_eq!(
        ids(&get(target, "/users?limit=100").await.json()["users"]),
        created
    );
    assert_eq!(
        get(target, "/users?limit=1").await.json()["users"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

pub async fn list_rejects_bad_parameters(target: &impl Target) {
    create(target, "Listed", "listed@example.com", 1).await;
    for query in [
        "page=0",
        "page=-1",
        "page=abc",
        "page=1.5",
        "page=",
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "limit=",
        "cursor=not-a-cursor",
        "cursor=",
        "page=1&cursor=djE6MQ",
        "limit=5&limit=6",
    ] {
        assert_error(
            &get(target, &format!("/users?{query}")).await,
            400,
            "invalid_argument",
        );
    }
}

pub async fn offset_pages_stop_at_10000_skipped_users(target: &impl Target) {
    let user = create(target, "Deep", "deep@example.com", 1).await;
    // The first page, asked for either way, is the same page.
    let first = get(target, "/users?page=1&limit=5").await;
    assert_eq!(first.json(), get(target, "/users?limit=5").await.json());
    assert_eq!(listed_users(&first.json()), vec![user]);
    // Up to 10,000 skipped users is an ordinary (here empty) page; beyond, a 400 that points to
    // cursors, answered without reading the store.
    for deep_enough in [
        "page=1001&limit=10",
        "page=101&limit=100",
        "page=10001&limit=1",
    ] {
        let reply = get(target, &format!("/users?{deep_enough}")).await;
        assert_eq!(
            reply.json(),
            json!({"users": [], "next_cursor": null}),
            "{deep_enough}"
        );
    }
    for too_deep in [
        "page=1002&limit=10",
        "page=1000000",
        "page=18446744073709551615",
    ] {
        let reply = get(target, &format!("/users?{too_deep}")).await;
        assert_error(&reply, 400, "invalid_argument");
        let message = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains("next_cursor"), "{too_deep}: {message}");
    }
}

pub async fn cursor_walk_sees_every_stable_user_once_despite_churn(target: &impl Target) {
    let mut stable = BTreeSet::new();
    let mut doomed = Vec::new();
    for i in 0..25 {
        let user = create(target, &format!("W{i}"), &format!("w{i}@example.com"), 1).await;
        if i % 5 == 2 {
            doomed.push(user["id"].as_u64().unwrap());
        } else {
            stable.insert(user["id"].as_u64().unwrap());
        }
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut round = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/users?limit=4&cursor={c}"),
            None => "/users?limit=4".to_owned(),
        };
        let body = get(target, &path).await.json();
        seen.extend(ids(&body["users"]));
        // Churn between pages: delete users not yet reached and add new ones.
        if let Some(id) = doomed.pop() {
            let reply = target
                .send(TestRequest::new(Method::DELETE, format!("/users/{id}")))
                .await;
            assert_eq!(reply.status, 204);
        }
        create(target, "Late", &format!("late{round}@example.com"), 1).await;
        round += 1;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(round < 100, "walk does not end");
    }
    let seen_set: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(
        seen.len(),
        seen_set.len(),
        "no user is seen twice: {seen:?}"
    );
    assert!(
        stable.is_subset(&seen_set),
        "every stable user is seen: {seen:?}"
    );
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    assert_eq!(seen, sorted, "ascending id order across pages");
}
