//! One DynamoDB stream record to at most one [`UserEvent`].

use aws_lambda_events::event::dynamodb::EventRecord;
use serde::Deserialize;

use super::contract::{ChangedField, EventKind, UserEvent, UserValues};
use crate::domain::User;
use crate::store::dynamodb::schema::is_user_partition;
use crate::store::dynamodb::{trace_from_image, user_from_image};

/// A record that should hold a user change but cannot be read: it is reported as failed, never
/// skipped, so nothing is lost silently. Says what is wrong without quoting the item (which holds
/// names and emails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream record {event_id}: {problem}")]
pub struct UnreadableRecord {
    pub event_id: String,
    pub problem: String,
}

#[derive(Deserialize)]
struct Keys {
    pk: String,
}

/// The event a record means: `None` for items that are not users (email claims, the id counter,
/// idempotency records), which change with every create but are nobody's business outside.
///
/// With `include_user`, created and updated events carry the user's new name, email and age.
pub fn event_from_record(
    record: &EventRecord,
    include_user: bool,
) -> Result<Option<UserEvent>, UnreadableRecord> {
    let unreadable = |problem: String| UnreadableRecord {
        event_id: record.event_id.clone(),
        problem,
    };
    let keys: Keys = serde_dynamo::from_item(record.change.keys.clone())
        .map_err(|e| unreadable(format!("keys: {e}")))?;
    if !is_user_partition(&keys.pk) {
        return Ok(None);
    }
    let image = |image: &serde_dynamo::Item, which: &str| {
        if image.is_empty() {
            return Err(unreadable(format!(
                "no {which}: the stream must be NEW_AND_OLD_IMAGES"
            )));
        }
        user_from_image(image.clone()).map_err(|e| unreadable(format!("{which}: {e}")))
    };
    let occurred_at = record.change.approximate_creation_date_time.timestamp();
    let values = |user: &User| {
        include_user.then(|| UserValues {
            name: user.name.clone(),
            email: user.email.clone(),
            age: user.age,
        })
    };
    let event = match record.event_name.as_str() {
        "INSERT" => {
            let new = image(&record.change.new_image, "NewImage")?;
            UserEvent::new(
                EventKind::UserCreated,
                new.id,
                new.version,
                occurred_at,
                None,
                values(&new),
            )
            .in_trace(trace_from_image(&record.change.new_image))
        }
        "MODIFY" => {
            let old = image(&record.change.old_image, "OldImage")?;
            let new = image(&record.change.new_image, "NewImage")?;
            UserEvent::new(
                EventKind::UserUpdated,
                new.id,
                new.version,
                occurred_at,
                Some(changed_fields(&old, &new)),
                values(&new),
            )
            .in_trace(trace_from_image(&record.change.new_image))
        }
        // A deletion leaves no image of its own: its event is in no trace (the old image's is
        // the previous write's, not the deletion's).
        "REMOVE" => {
            let old = image(&record.change.old_image, "OldImage")?;
            UserEvent::new(
                EventKind::UserDeleted,
                old.id,
                old.version,
                occurred_at,
                None,
                None,
            )
        }
        other => return Err(unreadable(format!("unknown eventName {other:?}"))),
    };
    Ok(Some(event))
}

/// The fields whose values differ, in a fixed order. An email that only changed its spelling
/// (`Ann@X.org` to `ann@x.org`) did change: it is what the user sees and what mail goes to.
fn changed_fields(old: &User, new: &User) -> Vec<ChangedField> {
    [
        (ChangedField::Name, old.name != new.name),
        (ChangedField::Email, old.email != new.email),
        (ChangedField::Age, old.age != new.age),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}
