//! Items as stored, converted with serde_dynamo rather than hand-written attribute maps.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

use super::errors::internal;
use super::schema::{COUNTER_PARTITION, EMAIL_PREFIX, IDEMPOTENCY_PREFIX, user_partition};
use crate::domain::{User, UserId, email_key};
use crate::store::StoreError;
use crate::trace::{self, SpanContext};

pub(super) type Item = HashMap<String, AttributeValue>;

/// A user as stored. `email_key` is the normalised email the claim item is keyed by; `version`
/// counts updates so a transaction can insist nothing changed since it read the user;
/// `write_token` names the write that last changed the item, so that a retry of that write
/// recognises it as its own (absent on items written before it existed); `trace` is the
/// `traceparent` of that write's span, so the event the change causes joins the writer's trace
/// (absent when the write was in no trace, and on items written before it existed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct UserItem {
    pub pk: String,
    pub sk: u64,
    pub name: String,
    pub email: String,
    pub email_key: String,
    pub age: u8,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

impl UserItem {
    /// The item a create writes in a table of `shards` shards: version 1, written by
    /// `write_token`.
    pub fn created(user: &User, write_token: &str, shards: u16) -> Self {
        Self {
            pk: user_partition(user.id.get(), shards),
            sk: user.id.get(),
            name: user.name.clone(),
            email: user.email.clone(),
            email_key: email_key(&user.email),
            age: user.age,
            version: 1,
            write_token: Some(write_token.to_owned()),
            trace: write_trace(),
        }
    }

    /// Whether the write named `write_token` is the one that last changed this item.
    pub fn written_by(&self, write_token: &str) -> bool {
        self.write_token.as_deref() == Some(write_token)
    }

    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        from_item(item).map_err(internal)
    }

    pub fn to_item(&self) -> Result<Item, StoreError> {
        to_item(self).map_err(internal)
    }

    pub fn to_user(&self) -> Result<User, StoreError> {
        let id = UserId::new(self.sk)
            .ok_or_else(|| StoreError::Internal("user item with id 0".into()))?;
        Ok(User {
            id,
            name: self.name.clone(),
            email: self.email.clone(),
            age: self.age,
            version: self.version,
        })
    }
}

/// The item that reserves an email: its existence is what makes an email taken.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EmailClaim {
    pub pk: String,
    pub sk: u64,
    pub user_id: u64,
}

impl EmailClaim {
    pub fn new(email_key: &str, user_id: UserId) -> Self {
        Self {
            pk: claim_partition(email_key),
            sk: 0,
            user_id: user_id.get(),
        }
    }

    pub fn to_item(&self) -> Result<Item, StoreError> {
        to_item(self).map_err(internal)
    }

    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        from_item(item).map_err(internal)
    }
}

#[derive(Serialize)]
struct Key<'a> {
    pk: &'a str,
    sk: u64,
}

fn key(pk: &str, sk: u64) -> Result<Item, StoreError> {
    to_item(Key { pk, sk }).map_err(internal)
}

/// The key of user `id` in a table of `shards` shards.
pub(super) fn user_key(id: UserId, shards: u16) -> Result<Item, StoreError> {
    key(&user_partition(id.get(), shards), id.get())
}

pub(super) fn claim_key(email_key: &str) -> Result<Item, StoreError> {
    key(&claim_partition(email_key), 0)
}

/// The record of an idempotent create: which user a key created, from which request, until when.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IdempotencyRecord {
    pub pk: String,
    pub sk: u64,
    pub fingerprint: String,
    pub user_id: u64,
    pub expires_at: u64,
}

impl IdempotencyRecord {
    pub fn new(key: &str, fingerprint: &str, user_id: UserId, expires_at: u64) -> Self {
        Self {
            pk: idempotency_partition(key),
            sk: 0,
            fingerprint: fingerprint.to_owned(),
            user_id: user_id.get(),
            expires_at,
        }
    }

    pub fn from_item(item: Item) -> Result<Self, StoreError> {
        from_item(item).map_err(internal)
    }

    pub fn to_item(&self) -> Result<Item, StoreError> {
        to_item(self).map_err(internal)
    }
}

pub(super) fn idempotency_key(scoped_key: &str) -> Result<Item, StoreError> {
    key(&idempotency_partition(scoped_key), 0)
}

fn idempotency_partition(scoped_key: &str) -> String {
    format!("{IDEMPOTENCY_PREFIX}{scoped_key}")
}

pub(super) fn counter_key() -> Result<Item, StoreError> {
    key(COUNTER_PARTITION, 0)
}

fn claim_partition(email_key: &str) -> String {
    format!("{EMAIL_PREFIX}{email_key}")
}

/// Any serialisable value as an attribute value, for expression parameters.
pub(super) fn value(value: impl Serialize) -> Result<AttributeValue, StoreError> {
    to_attribute_value(value).map_err(internal)
}

/// The trace of the write that made a stream image: `None` for an item written outside any
/// trace (or before items carried one).
pub fn trace_from_image(image: &serde_dynamo::Item) -> Option<SpanContext> {
    match image.get("trace") {
        Some(serde_dynamo::AttributeValue::S(traceparent)) => trace::from_traceparent(traceparent),
        _ => None,
    }
}

/// The `traceparent` a write leaves on the item: the span it runs in (the store call's).
pub(super) fn write_trace() -> Option<String> {
    trace::current().map(|span| trace::to_traceparent(&span))
}

/// A user as a table stream delivers it (`NewImage`/`OldImage`): the same item, so the same
/// serde mapping reads it.
pub fn user_from_image(image: serde_dynamo::Item) -> Result<User, StoreError> {
    serde_dynamo::from_item::<_, UserItem>(image)
        .map_err(internal)?
        .to_user()
}
