//! A batch of stream records onto the event bus, in order, losing nothing.
//!
//! Lambda hands the function a batch of records from one shard, in order. The publisher maps
//! them to events and puts them with `PutEvents` (at most 10 entries a call, and never two events
//! of one user in the same call, so one user's events are accepted in order: a call is only made
//! once the previous one has been accepted). Entries EventBridge refuses are retried on their own,
//! with backoff. If an event still cannot be published, or a record cannot be read, the response
//! names that record's sequence number as the batch's failure: with `ReportBatchItemFailures`
//! Lambda then checkpoints everything before it and retries from it, so nothing after it is
//! skipped and nothing before it is published twice by this batch's retry.
//!
//! Size: a detail is at most ~1.5 KB (names and emails are bounded), so 10 entries stay far below
//! `PutEvents`' 256 KB per call.

use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use metrics::Counter;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::contract::{EventKind, UserEvent};
use super::stream::event_from_record;
use crate::ErrorChain;
use crate::trace;

/// Most entries `PutEvents` takes in one call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

/// One `PutEvents` entry, minus the bus and source the [`EventBus`] adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusEntry {
    pub detail_type: &'static str,
    /// The JSON `detail`.
    pub detail: String,
    /// When the change happened, in seconds since the epoch: the envelope's `time`.
    pub time: i64,
    /// The writer's trace, as X-Ray writes it: EventBridge hands it to the targets.
    pub trace_header: Option<String>,
}

impl BusEntry {
    pub fn of(event: &UserEvent) -> Self {
        Self {
            detail_type: event.kind.detail_type(),
            detail: serde_json::to_string(&event.detail)
                .expect("an event detail is plain data and always serialises"),
            time: event.occurred_at,
            trace_header: event.writer.as_ref().and_then(trace::to_xray),
        }
    }
}

/// Why the bus refused one entry of a call that otherwise went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// EventBridge's `ErrorCode` (`InternalFailure`, `ThrottlingException`, ...).
    pub code: String,
}

/// A call that failed as a whole (after the SDK's own retries): nothing in it was accepted.
#[derive(Debug, thiserror::Error)]
#[error("PutEvents failed")]
pub struct BusError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Where events go: EventBridge in production; scripted buses in tests.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Puts up to [`MAX_ENTRIES_PER_CALL`] entries in one call and says, entry by entry and in
    /// order, which were refused.
    async fn put(&self, entries: &[BusEntry]) -> Result<Vec<Option<EntryFailure>>, BusError>;
}

/// An EventBridge bus. The client is built once per process.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    source: String,
}

impl EventBridgeBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: String, source: String) -> Self {
        Self {
            client,
            bus_name,
            source,
        }
    }
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn put(&self, entries: &[BusEntry]) -> Result<Vec<Option<EntryFailure>>, BusError> {
        let request = entries.iter().map(|entry| {
            PutEventsRequestEntry::builder()
                .event_bus_name(&self.bus_name)
                .source(&self.source)
                .detail_type(entry.detail_type)
                .detail(&entry.detail)
                .time(DateTime::from_secs(entry.time))
                .set_trace_header(entry.trace_header.clone())
                .build()
        });
        let output = self
            .client
            .put_events()
            .set_entries(Some(request.collect()))
            .send()
            .await
            .map_err(|e| BusError(e.into()))?;
        let results = output.entries();
        // EventBridge answers one result per entry, in order; anything else cannot be trusted to
        // say which entries were accepted.
        if results.len() != entries.len() {
            return Err(BusError(
                format!("{} results for {} entries", results.len(), entries.len()).into(),
            ));
        }
        Ok(results
            .iter()
            .map(|result| {
                result.error_code().map(|code| EntryFailure {
                    code: code.to_owned(),
                })
            })
            .collect())
    }
}

/// How hard to try before giving a record back to Lambda.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishSettings {
    /// Put the user's name, email and age in created and updated events.
    pub include_user: bool,
    /// Calls per entry that EventBridge refuses (first included).
    pub entry_attempts: u32,
    /// Backoff before the first retry; doubled each time, with full jitter.
    pub first_backoff: Duration,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            include_user: false,
            entry_attempts: 3,
            first_backoff: Duration::from_millis(100),
        }
    }
}

/// The publisher's metrics, registered once (after the recorder is installed).
struct PublishMetrics {
    published: [Counter; 3],
    failed: Counter,
    unreadable: Counter,
}

impl PublishMetrics {
    fn register() -> Self {
        Self {
            published: EventKind::ALL.map(|kind| {
                metrics::counter!("events_published_total", "detail_type" => kind.detail_type())
            }),
            failed: metrics::counter!("events_failed_total"),
            unreadable: metrics::counter!("stream_records_unreadable_total"),
        }
    }

    fn published(&self, kind: EventKind) -> &Counter {
        &self.published[EventKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is in ALL")]
    }
}

/// Publishes batches of stream records on a bus.
pub struct Publisher<B> {
    bus: B,
    settings: PublishSettings,
    metrics: PublishMetrics,
}

impl<B: EventBus> Publisher<B> {
    pub fn new(bus: B, settings: PublishSettings) -> Self {
        Self {
            bus,
            settings,
            metrics: PublishMetrics::register(),
        }
    }

    /// Publishes the events of `records` in order and names the first record that failed, if any.
    pub async fn publish(&self, records: &[EventRecord]) -> DynamoDbEventResponse {
        let mut events = Vec::new();
        let mut unreadable_at = None;
        for (index, record) in records.iter().enumerate() {
            match event_from_record(record, self.settings.include_user) {
                Ok(Some(event)) => {
                    // The batch's span links to every write it publishes for: a batch has many
                    // causes, so they are links rather than one parent.
                    if let Some(writer) = &event.writer {
                        tracing::Span::current().add_link(writer.clone());
                    }
                    events.push((index, event));
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(%error, "unreadable stream record: it and the records after it are retried");
                    self.metrics.unreadable.increment(1);
                    unreadable_at = Some(index);
                    break;
                }
            }
        }
        let failed_at = self.put_in_order(&events).await.or(unreadable_at);
        // A record without a sequence number cannot be named: an empty identifier makes Lambda
        // retry the whole batch, which is still correct (consumers de-duplicate).
        let retry_from = failed_at.map(|index| {
            records[index]
                .change
                .sequence_number
                .clone()
                .unwrap_or_default()
        });
        tracing::info!(
            records = records.len(),
            events = events.len(),
            retry_from = retry_from.as_deref(),
            "batch done"
        );
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures.extend(retry_from.map(failure));
        response
    }

    /// Puts `events` call by call; returns the record index of the first event not published.
    async fn put_in_order(&self, events: &[(usize, UserEvent)]) -> Option<usize> {
        let mut rest = events;
        while !rest.is_empty() {
            let (call, tail) = rest.split_at(call_size(rest));
            if let Some(failed) = self.put_call(call).await {
                return Some(call[failed].0);
            }
            rest = tail;
        }
        None
    }

    /// One call's events, retrying refused entries; returns the position (in `call`) of the first
    /// entry still refused, or of the first entry when the call failed as a whole.
    async fn put_call(&self, call: &[(usize, UserEvent)]) -> Option<usize> {
        let entries: Vec<BusEntry> = call.iter().map(|(_, event)| BusEntry::of(event)).collect();
        let mut pending: Vec<usize> = (0..entries.len()).collect();
        let mut backoff = self.settings.first_backoff;
        for attempt in 1..=self.settings.entry_attempts.max(1) {
            let batch: Vec<BusEntry> = pending.iter().map(|&i| entries[i].clone()).collect();
            let results = match self.bus.put(&batch).await {
                Ok(results) => results,
                Err(error) => {
                    // The SDK has already retried this call within its own budget.
                    tracing::error!(error = %ErrorChain(&error), "PutEvents failed");
                    break;
                }
            };
            let mut refused = Vec::new();
            for (&i, result) in pending.iter().zip(results) {
                match result {
                    None => self.metrics.published(call[i].1.kind).increment(1),
                    Some(failure) => {
                        tracing::warn!(code = %failure.code, attempt, "PutEvents refused an entry");
                        refused.push(i);
                    }
                }
            }
            pending = refused;
            if pending.is_empty() {
                return None;
            }
            if attempt < self.settings.entry_attempts {
                tokio::time::sleep(backoff.mul_f64(fastrand::f64())).await;
                backoff *= 2;
            }
        }
        self.metrics.failed.increment(pending.len() as u64);
        pending.first().copied()
    }
}

/// How many of `events` the next call takes: up to [`MAX_ENTRIES_PER_CALL`], stopping before a
/// user already in the call, so a user's later event never races its earlier one.
fn call_size(events: &[(usize, UserEvent)]) -> usize {
    let mut users = Vec::with_capacity(MAX_ENTRIES_PER_CALL);
    for (_, event) in events.iter().take(MAX_ENTRIES_PER_CALL) {
        if users.contains(&event.user_id()) {
            break;
        }
        users.push(event.user_id());
    }
    users.len()
}

fn failure(sequence_number: String) -> DynamoDbBatchItemFailure {
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = Some(sequence_number);
    failure
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
