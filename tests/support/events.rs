//! The AWS services around `publish-events`, on the moto test server: the table's stream read as
//! Lambda reads it, and an EventBridge bus whose rule feeds an SQS queue, as a consumer subscribes.

use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::{Value, json};

use crate::dynamo::unique_table;

/// A stream event in the shape AWS documents, from a users table: a counter change, a user created
/// (with its email claim), changed twice and deleted.
pub fn stream_fixture() -> Value {
    let path = crate::sam::repo_root().join("tests/fixtures/dynamodb-stream/users-table.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the stream fixture"))
        .expect("the stream fixture is JSON")
}

/// The environment of a `publish-events` process putting on `bus` in the test server.
pub fn publisher_env(bus: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("EVENT_BUS_NAME", bus.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ];
    env.extend(crate::dynamo::sdk_env());
    env
}

/// A bus of its own, with a rule sending everything from `source` to a queue of its own.
pub struct Subscription {
    pub bus: String,
    pub queue_url: String,
    sqs: aws_sdk_sqs::Client,
}

impl Subscription {
    /// Creates the bus, the queue and the rule (pattern: `{"source": [source]}`).
    pub async fn create(purpose: &str, source: &str) -> Self {
        let (events, sqs) = (
            crate::moto_client!(aws_sdk_eventbridge),
            crate::moto_client!(aws_sdk_sqs),
        );
        let name = unique_table(purpose);
        events
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .expect("create bus");
        let queue_url = sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .expect("queue arn");
        events
            .put_rule()
            .name(&name)
            .event_bus_name(&name)
            .event_pattern(json!({"source": [source]}).to_string())
            .send()
            .await
            .expect("put rule");
        events
            .put_targets()
            .rule(&name)
            .event_bus_name(&name)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("target"),
            )
            .send()
            .await
            .expect("put targets");
        Self {
            bus: name,
            queue_url,
            sqs,
        }
    }

    /// The events the queue received, in arrival order: waits until `count` have arrived (and
    /// briefly for any more, which would be one too many), or fails after 20 s.
    pub async fn receive(&self, count: usize) -> Vec<Value> {
        let mut received = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut quiet_polls = 0;
        while quiet_polls < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {count} events arrived: {received:#?}",
                received.len()
            );
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive messages");
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                if received.len() >= count {
                    quiet_polls += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for message in messages {
                let body = message.body.expect("a body");
                received.push(serde_json::from_str(&body).expect("an event envelope"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle.expect("receipt handle"))
                    .send()
                    .await
                    .expect("delete message");
            }
        }
        received
    }
}

/// Every record of `table`'s stream so far, as the event Lambda would deliver them in (AWS's
/// documented DynamoDB event shape).
pub async fn stream_event(table: &str) -> Value {
    let stream_arn = crate::dynamo::client()
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe table")
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("the table has a stream");
    let streams = crate::moto_client!(aws_sdk_dynamodbstreams);
    let shards = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .expect("describe stream")
        .stream_description
        .and_then(|d| d.shards)
        .unwrap_or_default();
    let mut records = Vec::new();
    for shard in shards {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard.shard_id.expect("shard id"))
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("shard iterator")
            .shard_iterator;
        while let Some(current) = iterator {
            let output = streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .expect("get records");
            let batch = output.records.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            records.extend(batch.iter().map(|r| lambda_record(r, &stream_arn)));
            iterator = output.next_shard_iterator;
        }
    }
    json!({ "Records": records })
}

fn lambda_record(record: &aws_sdk_dynamodbstreams::types::Record, stream_arn: &str) -> Value {
    let change = record.dynamodb.as_ref().expect("a stream record");
    let image = |item: &Option<std::collections::HashMap<_, _>>| {
        item.clone()
            .map(|item| serde_json::to_value(serde_dynamo::Item::from(item)).expect("an image"))
    };
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change.approximate_creation_date_time.map_or(0, |t| t.secs()),
        "Keys": image(&change.keys).expect("keys"),
        "SequenceNumber": change.sequence_number,
        "SizeBytes": change.size_bytes,
        "StreamViewType": change.stream_view_type.as_ref().map(|v| v.as_str()),
    });
    for (field, item) in [
        ("NewImage", &change.new_image),
        ("OldImage", &change.old_image),
    ] {
        if let Some(item) = image(item) {
            dynamodb[field] = item;
        }
    }
    json!({
        "eventID": record.event_id,
        "eventName": record.event_name.as_ref().map(|n| n.as_str()),
        "eventVersion": record.event_version,
        "eventSource": record.event_source,
        "awsRegion": record.aws_region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}
