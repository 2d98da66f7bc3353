//! The event contract consumers code against. Version 1; a change that could break a consumer
//! (a field removed or retyped) is a new `schema_version`, never an edit of this one.

use aws_sdk_eventbridge::primitives::{DateTime, DateTimeFormat};
use serde::Serialize;

use crate::domain::UserId;
use crate::trace::{self, SpanContext};

/// `detail.schema_version` of every event this code publishes.
pub const SCHEMA_VERSION: u32 = 1;

/// The default `source` of the events (`EVENT_SOURCE` overrides it).
pub const DEFAULT_SOURCE: &str = "users-api";

/// What happened to a user; the event's `detail-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::enum_variant_names,
    reason = "the variants are the detail-types consumers match on"
)]
pub enum EventKind {
    UserCreated,
    UserUpdated,
    UserDeleted,
}

impl EventKind {
    /// Every kind, for documentation and tests.
    pub const ALL: [EventKind; 3] = [
        EventKind::UserCreated,
        EventKind::UserUpdated,
        EventKind::UserDeleted,
    ];

    /// The EventBridge `detail-type`, which rules match on.
    pub fn detail_type(self) -> &'static str {
        match self {
            EventKind::UserCreated => "UserCreated",
            EventKind::UserUpdated => "UserUpdated",
            EventKind::UserDeleted => "UserDeleted",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            EventKind::UserCreated => "created",
            EventKind::UserUpdated => "updated",
            EventKind::UserDeleted => "deleted",
        }
    }
}

/// A field of a user that an update can change, as named in `detail.changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangedField {
    Name,
    Email,
    Age,
}

/// The user's values after the change: personal data, so only in events when the deployment asks
/// for them (`EVENTS_INCLUDE_USER=true`), for consumers such as a welcome mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserValues {
    pub name: String,
    pub email: String,
    pub age: u8,
}

/// The event's `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventDetail {
    pub schema_version: u32,
    /// Stable for a given change: a redelivered or replayed stream record yields the same id, so a
    /// consumer de-duplicates at-least-once delivery by it.
    pub event_id: String,
    pub user_id: UserId,
    /// The user's version (its ETag) after the change; for a deletion, the version deleted.
    /// Consumers order one user's events by it: EventBridge does not promise delivery order.
    pub version: u64,
    /// When DynamoDB recorded the change (RFC 3339 in UTC, whole seconds: the stream's precision).
    pub occurred_at: String,
    /// `UserUpdated` only: which fields differ from the previous version, sorted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed: Option<Vec<ChangedField>>,
    /// `UserCreated` and `UserUpdated` only, and only when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserValues>,
    /// `UserCreated` and `UserUpdated` only: the W3C `traceparent` of the write that made the
    /// change, when it was in a trace, so a consumer's work joins the writer's trace (EventBridge
    /// hands its own trace header to Lambda and SQS targets, but not inside the event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// One domain event, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEvent {
    pub kind: EventKind,
    /// `detail.occurred_at` in seconds since the epoch: the envelope's `time`.
    pub occurred_at: i64,
    pub detail: EventDetail,
    /// The span of the write that made the change, if it was in a trace.
    pub writer: Option<SpanContext>,
}

impl UserEvent {
    pub fn new(
        kind: EventKind,
        user_id: UserId,
        version: u64,
        occurred_at: i64,
        changed: Option<Vec<ChangedField>>,
        user: Option<UserValues>,
    ) -> Self {
        Self {
            kind,
            occurred_at,
            detail: EventDetail {
                schema_version: SCHEMA_VERSION,
                event_id: event_id(kind, user_id, version),
                user_id,
                version,
                occurred_at: DateTime::from_secs(occurred_at)
                    .fmt(DateTimeFormat::DateTime)
                    .expect("a stream timestamp is a date EventBridge can hold"),
                changed,
                user,
                traceparent: None,
            },
            writer: None,
        }
    }

    /// The event in the trace of the write that caused it.
    pub fn in_trace(mut self, writer: Option<SpanContext>) -> Self {
        self.detail.traceparent = writer.as_ref().map(trace::to_traceparent);
        self.writer = writer;
        self
    }

    /// The user this event is about: events of one user are published in order.
    pub fn user_id(&self) -> UserId {
        self.detail.user_id
    }
}

/// Ids are never reused and every change moves the version, so (user, version, kind) names one
/// change for ever: the same record read twice, or a replayed batch, yields the same id.
fn event_id(kind: EventKind, user_id: UserId, version: u64) -> String {
    format!("user-{}-v{version}-{}", user_id.get(), kind.verb())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> UserId {
        UserId::new(n).unwrap()
    }

    #[test]
    fn event_ids_name_one_change() {
        let a = UserEvent::new(EventKind::UserUpdated, id(7), 3, 10, None, None);
        let again = UserEvent::new(EventKind::UserUpdated, id(7), 3, 20, None, None);
        let next = UserEvent::new(EventKind::UserUpdated, id(7), 4, 10, None, None);
        let deleted = UserEvent::new(EventKind::UserDeleted, id(7), 3, 10, None, None);
        assert_eq!(a.detail.event_id, "user-7-v3-updated");
        assert_eq!(a.detail.event_id, again.detail.event_id);
        assert_ne!(a.detail.event_id, next.detail.event_id);
        assert_ne!(a.detail.event_id, deleted.detail.event_id);
    }

    #[test]
    fn detail_leaves_out_what_the_event_does_not_carry() {
        let created = UserEvent::new(EventKind::UserCreated, id(1), 1, 1_795_600_000, None, None);
        assert_eq!(
            serde_json::to_value(&created.detail).unwrap(),
            serde_json::json!({
                "schema_version": 1,
                "event_id": "user-1-v1-created",
                "user_id": 1,
                "version": 1,
                "occurred_at": "2026-11-25T09:46:40Z",
            })
        );
    }
}
