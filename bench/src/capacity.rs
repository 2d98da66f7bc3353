//! The benchmark's section 8: partition capacity.

use super::*;

/// DynamoDB's per-partition limits divided by this in the capacity model: 10 write units a second
/// per key, which the test server outruns at 8 shards.
pub(crate) const CAPACITY_DIVISOR: f64 = 100.0;
/// Concurrent creators, and how long they run before and while creates are counted.
pub(crate) const CAPACITY_CREATORS: usize = 32;
pub(crate) const CAPACITY_WARMUP: Duration = Duration::from_secs(2);
pub(crate) const CAPACITY_MEASURED: Duration = Duration::from_secs(6);

/// Creates a second that one shard and `USER_SHARDS` sustain through the partition-capacity
/// model (tests/support/capacity.rs), and what a page costs in calls and read units at each.
pub(crate) async fn capacity() -> Value {
    use integration_tests::capacity::{Capacity, CapacityFront};
    use shared::store::StoreError;
    use shared::store::dynamodb::schema::USER_SHARDS;

    let model = Capacity::scaled(CAPACITY_DIVISOR);
    println!(
        "## 8. Partition capacity: creates a second through the capacity model \
         ({} WU/s per partition key, {CAPACITY_CREATORS} creators, {} s counted)\n",
        model.write_units,
        CAPACITY_MEASURED.as_secs()
    );
    println!(
        "| shards | ceiling (creates/s) | sustained (creates/s) | throttled calls | other failures |"
    );
    println!("|---|---|---|---|---|");
    let upstream = dynamo::endpoint().trim_start_matches("http://").to_owned();
    let mut rows = Vec::new();
    let mut sustained = BTreeMap::new();
    for shards in [1, USER_SHARDS] {
        let table = dynamo::fresh_table("bench-capacity").await;
        let front = CapacityFront::start(&upstream, model).await;
        let store = Arc::new(
            DynamoStore::new(dynamo::client_for(&front.endpoint()), table, 50)
                .with_user_shards(shards),
        );
        let started = Instant::now();
        let (counted_from, until) = (
            started + CAPACITY_WARMUP,
            started + CAPACITY_WARMUP + CAPACITY_MEASURED,
        );
        let creators = (0..CAPACITY_CREATORS).map(|creator| {
            let store = store.clone();
            tokio::spawn(async move {
                let (mut created, mut throttled, mut failed) = (0u64, 0u64, 0u64);
                let mut step = 0;
                while Instant::now() < until {
                    step += 1;
                    let user = NewUser {
                        name: "Load".into(),
                        email: format!("load{creator}-{step}@example.com"),
                        age: 1,
                    };
                    let outcome = store.create(user).await;
                    let counted = Instant::now() >= counted_from && Instant::now() < until;
                    match outcome {
                        Ok(_) if counted => created += 1,
                        Err(StoreError::Throttled { .. }) if counted => throttled += 1,
                        Err(StoreError::Throttled { .. }) | Ok(_) => {}
                        Err(_) => failed += 1,
                    }
                }
                (created, throttled, failed)
            })
        });
        let (mut created, mut throttled, mut failed) = (0, 0, 0);
        for outcome in join_all(creators).await {
            let (c, t, f) = outcome.unwrap();
            created += c;
            throttled += t;
            failed += f;
        }
        let rate = created as f64 / CAPACITY_MEASURED.as_secs_f64();
        // A create charges 2 units on its user's shard (its claim has a key of its own).
        let ceiling = f64::from(shards) * model.write_units / 2.0;
        println!("| {shards} | {ceiling:.0} | {rate:.1} | {throttled} | {failed} |");
        sustained.insert(shards, rate);
        rows.push(json!({"shards": shards, "ceiling_creates_per_s": ceiling, "creates_per_s": rate, "throttled_calls": throttled, "other_failures": failed}));
    }
    let ratio = sustained[&USER_SHARDS] / sustained[&1];
    println!("\n{USER_SHARDS} shards sustain {ratio:.1}x the creates of one.\n");

    println!(
        "Listing cost per page, by cursor from the middle of 400 users (read units as the model charges them):\n"
    );
    println!("| shards | limit | Query calls | read units |\n|---|---|---|---|");
    let mut pages = Vec::new();
    for shards in [1, USER_SHARDS] {
        let table = dynamo::fresh_table("bench-page-cost").await;
        let front = CapacityFront::start(&upstream, Capacity::scaled(0.001)).await;
        let store = DynamoStore::new(dynamo::client_for(&front.endpoint()), table, 50)
            .with_user_shards(shards);
        for i in 0..400 {
            store
                .create(NewUser {
                    name: "Page Cost".into(),
                    email: format!("page{i}@example.com"),
                    age: 1,
                })
                .await
                .unwrap();
        }
        for limit in [10, 100] {
            front.reset_usage();
            store
                .list(
                    PageStart::After(UserId::new(200).unwrap()),
                    PageLimit::new(limit).unwrap(),
                )
                .await
                .unwrap();
            let usage = front.usage();
            println!(
                "| {shards} | {limit} | {} | {} |",
                usage.forwarded,
                usage.total_read_units()
            );
            pages.push(json!({"shards": shards, "limit": limit, "calls": usage.forwarded, "read_units": usage.total_read_units()}));
        }
    }
    println!();
    json!({"divisor": CAPACITY_DIVISOR, "creates": rows, "ratio": ratio, "pages": pages})
}
