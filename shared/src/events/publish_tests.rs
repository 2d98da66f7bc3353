//! The publisher against scripted buses (what EventBridge can answer but the test server never
//! does: refused entries, outages), and EventBridge's answers through the SDK's test HTTP client.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::dynamodb::EventRecord;
use serde_json::{Value, json};

use super::*;
use crate::store::dynamodb::schema::{USER_SHARDS, user_partition};
use crate::test_metrics::{moved, recorded};

/// What a scripted bus answers to one call.
#[derive(Debug, Clone)]
enum Answer {
    AcceptAll,
    /// Refuses the entries at these positions of the call.
    Refuse(Vec<usize>),
    Outage,
}

/// A bus that answers from a script (accepting everything once it runs out) and records every
/// call's entries as `(detail-type, event_id)`.
#[derive(Default)]
struct ScriptedBus {
    script: Mutex<VecDeque<Answer>>,
    calls: Mutex<Vec<Vec<(String, String)>>>,
}

impl ScriptedBus {
    fn new(script: Vec<Answer>) -> Self {
        Self {
            script: Mutex::new(script.into()),
            calls: Mutex::default(),
        }
    }

    fn calls(&self) -> Vec<Vec<(String, String)>> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventBus for &ScriptedBus {
    async fn put(&self, entries: &[BusEntry]) -> Result<Vec<Option<EntryFailure>>, BusError> {
        assert!(entries.len() <= MAX_ENTRIES_PER_CALL);
        self.calls.lock().unwrap().push(
            entries
                .iter()
                .map(|e| {
                    let detail: Value = serde_json::from_str(&e.detail).unwrap();
                    (
                        e.detail_type.to_owned(),
                        detail["event_id"].as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
        );
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::AcceptAll);
        match answer {
            Answer::AcceptAll => Ok(vec![None; entries.len()]),
            Answer::Refuse(positions) => Ok((0..entries.len())
                .map(|i| {
                    positions.contains(&i).then(|| EntryFailure {
                        code: "InternalFailure".into(),
                    })
                })
                .collect()),
            Answer::Outage => Err(BusError("connection refused".into())),
        }
    }
}

fn image(id: u64, version: u64, age: u8) -> Value {
    json!({
        "pk": {"S": user_partition(id, USER_SHARDS)}, "sk": {"N": id.to_string()}, "name": {"S": "Ada Lovelace"},
        "email": {"S": format!("user{id}@example.com")}, "email_key": {"S": format!("user{id}@example.com")},
        "age": {"N": age.to_string()}, "version": {"N": version.to_string()},
    })
}

fn record(
    sequence: u64,
    name: &str,
    keys: Value,
    new: Option<Value>,
    old: Option<Value>,
) -> EventRecord {
    let mut change = json!({
        "ApproximateCreationDateTime": 1_795_600_000,
        "Keys": keys,
        "SequenceNumber": sequence.to_string(),
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(new) = new {
        change["NewImage"] = new;
    }
    if let Some(old) = old {
        change["OldImage"] = old;
    }
    serde_json::from_value(json!({
        "eventID": format!("event-{sequence}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
    }))
    .unwrap()
}

fn user_key(id: u64) -> Value {
    json!({"pk": {"S": user_partition(id, USER_SHARDS)}, "sk": {"N": id.to_string()}})
}

fn created(sequence: u64, id: u64) -> EventRecord {
    record(
        sequence,
        "INSERT",
        user_key(id),
        Some(image(id, 1, 30)),
        None,
    )
}

fn aged(sequence: u64, id: u64, version: u64) -> EventRecord {
    let old = image(id, version - 1, 30);
    let new = image(id, version, 31);
    record(sequence, "MODIFY", user_key(id), Some(new), Some(old))
}

fn claim(sequence: u64, id: u64) -> EventRecord {
    let key = json!({"pk": {"S": format!("EMAIL#user{id}@example.com")}, "sk": {"N": "0"}});
    let mut item = key.clone();
    item["user_id"] = json!({"N": id.to_string()});
    record(sequence, "INSERT", key, Some(item), None)
}

fn settings() -> PublishSettings {
    PublishSettings {
        first_backoff: Duration::ZERO,
        ..PublishSettings::default()
    }
}

fn failed_records(response: &DynamoDbEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect()
}

/// Twelve users created (with their claims), then user 1 changed twice: 26 records.
fn sign_ups() -> Vec<EventRecord> {
    let mut records = Vec::new();
    for id in 1..=12 {
        records.push(created(id * 10, id));
        records.push(claim(id * 10 + 1, id));
    }
    records.push(aged(200, 1, 2));
    records.push(aged(210, 1, 3));
    records
}

#[test]
fn every_user_change_is_published_once_in_order_and_bookkeeping_items_are_not() {
    let bus = ScriptedBus::default();
    let (response, counters) =
        recorded(|| async { Publisher::new(&bus, settings()).publish(&sign_ups()).await });
    assert_eq!(failed_records(&response), Vec::<String>::new());
    let calls = bus.calls();
    // 10 creations, then 2 more and user 1's first change, then its second change (never two
    // events of one user in one call).
    assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [10, 3, 1]);
    let published: Vec<String> = calls.concat().into_iter().map(|(_, id)| id).collect();
    let mut expected: Vec<String> = (1..=12).map(|id| format!("user-{id}-v1-created")).collect();
    expected.extend(["user-1-v2-updated".into(), "user-1-v3-updated".into()]);
    assert_eq!(published, expected);
    assert_eq!(
        moved(&counters, "events_published_total"),
        [
            (vec!["detail_type=UserCreated".to_owned()], 12),
            (vec!["detail_type=UserUpdated".to_owned()], 2)
        ]
    );
    assert!(moved(&counters, "events_failed_total").is_empty());
}

#[test]
fn a_refused_entry_is_retried_alone() {
    let bus = ScriptedBus::new(vec![Answer::Refuse(vec![3])]);
    let (response, _) =
        recorded(|| async { Publisher::new(&bus, settings()).publish(&sign_ups()).await });
    assert_eq!(failed_records(&response), Vec::<String>::new());
    let calls = bus.calls();
    assert_eq!(
        calls[1],
        [("UserCreated".to_owned(), "user-4-v1-created".to_owned())]
    );
    assert_eq!(calls.len(), 4);
}

#[test]
fn an_entry_refused_on_every_attempt_is_where_lambda_resumes_and_nothing_after_it_is_sent() {
    // Users 4 and 8 refused; on the retry (those two alone) user 4 again; then user 4 alone.
    let bus = ScriptedBus::new(vec![
        Answer::Refuse(vec![3, 7]),
        Answer::Refuse(vec![0]),
        Answer::Refuse(vec![0]),
    ]);
    let (response, counters) =
        recorded(|| async { Publisher::new(&bus, settings()).publish(&sign_ups()).await });
    // User 4's creation is record 40; user 8's was accepted on its retry.
    assert_eq!(failed_records(&response), ["40"]);
    let calls = bus.calls();
    assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [10, 2, 1]);
    assert_eq!(moved(&counters, "events_failed_total"), [(vec![], 1)]);
}

#[test]
fn a_partial_failure_then_an_outage_names_the_first_record_of_the_call_that_failed() {
    let bus = ScriptedBus::new(vec![
        Answer::Refuse(vec![0, 9]),
        Answer::AcceptAll,
        Answer::Outage,
    ]);
    let records = sign_ups();
    let (response, _) =
        recorded(|| async { Publisher::new(&bus, settings()).publish(&records).await });
    // The first call's refused entries (users 1 and 10) went through on their retry; the second
    // call (users 11, 12 and user 1's first change, from record 110 on) met the outage.
    assert_eq!(failed_records(&response), ["110"]);

    // Lambda retries from record 110: the same records give the same events, ids included.
    let replay = ScriptedBus::default();
    let retried: Vec<EventRecord> = records
        .into_iter()
        .skip_while(|r| r.change.sequence_number.as_deref() != Some("110"))
        .collect();
    let (response, _) =
        recorded(|| async { Publisher::new(&replay, settings()).publish(&retried).await });
    assert_eq!(failed_records(&response), Vec::<String>::new());
    assert_eq!(replay.calls()[0], bus.calls()[2]);
    assert_eq!(
        replay
            .calls()
            .concat()
            .into_iter()
            .map(|(_, id)| id)
            .collect::<Vec<_>>(),
        [
            "user-11-v1-created",
            "user-12-v1-created",
            "user-1-v2-updated",
            "user-1-v3-updated"
        ]
    );
}

#[test]
fn an_unreadable_record_is_reported_after_the_events_before_it_are_published() {
    let broken = record(
        35,
        "INSERT",
        user_key(3),
        Some(json!({"pk": {"S": user_partition(3, USER_SHARDS)}})),
        None,
    );
    let records = vec![created(10, 1), created(20, 2), broken, created(40, 4)];
    let bus = ScriptedBus::default();
    let (response, counters) =
        recorded(|| async { Publisher::new(&bus, settings()).publish(&records).await });
    assert_eq!(failed_records(&response), ["35"]);
    assert_eq!(bus.calls().concat().len(), 2);
    assert_eq!(
        moved(&counters, "stream_records_unreadable_total"),
        [(vec![], 1)]
    );
}

#[test]
fn user_values_are_left_out_unless_asked_for() {
    let records = vec![created(10, 1), aged(20, 1, 2)];
    for include_user in [false, true] {
        let bus = ScriptedBus::default();
        let publisher = Publisher::new(
            &bus,
            PublishSettings {
                include_user,
                ..settings()
            },
        );
        let published: Vec<BusEntry> = records
            .iter()
            .filter_map(|r| event_from_record(r, include_user).unwrap())
            .map(|event| BusEntry::of(&event))
            .collect();
        recorded(|| async { publisher.publish(&records).await });
        for entry in &published {
            assert_eq!(entry.detail.contains("user1@example.com"), include_user);
            assert_eq!(entry.detail.contains("Ada Lovelace"), include_user);
        }
        let updated: Value = serde_json::from_str(&published[1].detail).unwrap();
        assert_eq!(updated["changed"], json!(["age"]));
    }
}

/// An EventBridge client whose HTTP requests get `answers` in order, SDK retries off; the
/// request bodies it sent are in the returned list.
fn eventbridge(answers: Vec<(u16, &'static str)>) -> (EventBridgeBus, Arc<Mutex<Vec<Value>>>) {
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
    let answers = Mutex::new(VecDeque::from(answers));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let requests = sent.clone();
    let http = aws_smithy_http_client::test_util::infallible_client_fn(move |request| {
        let body = request.body().bytes().unwrap_or_default();
        requests
            .lock()
            .unwrap()
            .push(serde_json::from_slice(body).unwrap_or(Value::Null));
        let (status, body) = answers
            .lock()
            .unwrap()
            .pop_front()
            .expect("a scripted answer");
        http::Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.1")
            .body(body)
            .unwrap()
    });
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::for_tests())
        .retry_config(aws_sdk_eventbridge::config::retry::RetryConfig::disabled())
        .http_client(http)
        .build();
    let bus = EventBridgeBus::new(
        aws_sdk_eventbridge::Client::from_conf(config),
        "users".into(),
        "users-api".into(),
    );
    (bus, sent)
}

fn entries(n: usize) -> Vec<BusEntry> {
    (0..n)
        .map(|i| BusEntry {
            detail_type: "UserCreated",
            detail: format!("{{\"n\":{i}}}"),
            time: 1_795_600_000,
            trace_header: None,
        })
        .collect()
}

#[tokio::test]
async fn eventbridge_answers_are_read_entry_by_entry() {
    let (bus, _) = eventbridge(vec![
        (
            200,
            r#"{"FailedEntryCount": 1, "Entries": [{"EventId": "a"},
                {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}, {"EventId": "c"}]}"#,
        ),
        (
            200,
            r#"{"FailedEntryCount": 0, "Entries": [{"EventId": "a"}]}"#,
        ),
        (
            500,
            r#"{"__type": "InternalException", "message": "Internal error"}"#,
        ),
    ]);
    let results = bus.put(&entries(3)).await.unwrap();
    assert_eq!(
        results,
        [
            None,
            Some(EntryFailure {
                code: "ThrottlingException".into()
            }),
            None
        ]
    );
    // One result for two entries cannot say which was accepted: the call counts as failed.
    assert!(bus.put(&entries(2)).await.is_err());
    assert!(bus.put(&entries(1)).await.is_err());
}

#[tokio::test]
async fn a_change_goes_out_in_its_writers_trace_and_a_deletion_in_none() {
    const WRITER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut written = image(7, 1, 30);
    written["trace"] = json!({"S": WRITER});
    let insert = record(1, "INSERT", user_key(7), Some(written.clone()), None);
    let remove = record(2, "REMOVE", user_key(7), None, Some(written));
    let untraced_record = created(3, 8);
    let created = event_from_record(&insert, false).unwrap().unwrap();
    assert_eq!(created.detail.traceparent.as_deref(), Some(WRITER));
    let xray = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1";
    assert_eq!(BusEntry::of(&created).trace_header.as_deref(), Some(xray));
    // The old image's trace is the create's, not the deletion's: no trace is better than a
    // wrong one.
    let deleted = event_from_record(&remove, false).unwrap().unwrap();
    assert_eq!((deleted.detail.traceparent, deleted.writer), (None, None));
    // An item written in no trace (or before items carried one) makes an event in none.
    let untraced = event_from_record(&untraced_record, false).unwrap().unwrap();
    assert_eq!(untraced.detail.traceparent, None);

    let (bus, sent) = eventbridge(vec![(
        200,
        r#"{"FailedEntryCount": 0, "Entries": [{"EventId": "a"}, {"EventId": "b"}]}"#,
    )]);
    let results = bus
        .put(&[BusEntry::of(&created), BusEntry::of(&untraced)])
        .await
        .unwrap();
    assert_eq!(results, [None, None]);
    let sent = sent.lock().unwrap();
    let entries = sent[0]["Entries"].as_array().unwrap();
    assert_eq!(entries[0]["TraceHeader"], xray, "{entries:?}");
    assert!(entries[1].get("TraceHeader").is_none(), "{entries:?}");
    let detail: Value = serde_json::from_str(entries[0]["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail["traceparent"], WRITER);
}
