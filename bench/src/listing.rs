//! The benchmark's section 5: listing cost.

use super::*;

pub(crate) async fn listing() -> Value {
    println!("## 5. Listing cost in memory: median time per page of 10 users\n");
    println!("| users | first page | page 1000 (offset) | cursor deep in |\n|---|---|---|---|");
    let mut rows = Vec::new();
    for size in [10_000u64, 1_000_000] {
        let store = Arc::new(MemoryStore::new());
        for i in 0..size {
            store
                .create(NewUser {
                    name: "L".into(),
                    email: format!("l{i}@example.com"),
                    age: 1,
                })
                .await
                .unwrap();
        }
        let limit = PageLimit::new(10).unwrap();
        let time = |start: PageStart| {
            let store = store.clone();
            async move {
                let mut times = Vec::new();
                for _ in 0..201 {
                    let t = Instant::now();
                    std::hint::black_box(store.list(start, limit).await.unwrap());
                    times.push(t.elapsed());
                }
                times.sort();
                times[100]
            }
        };
        let first = time(PageStart::First).await;
        let offset = time(PageStart::Skip(NonZeroU64::new(999 * 10).unwrap())).await;
        let cursor = time(PageStart::After(UserId::new(size / 2).unwrap())).await;
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {size} | {:.1} µs | {:.1} µs | {:.1} µs |",
            us(first),
            us(offset),
            us(cursor)
        );
        rows.push(json!({"users": size, "first_us": us(first), "page_1000_us": us(offset), "cursor_deep_us": us(cursor)}));
    }
    println!();
    json!(rows)
}
