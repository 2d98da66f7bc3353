//! The table layout, defined once: `--create-table` builds it, and a test holds `template.yaml`
//! to the same definition. The table has a stream of both images, which `publish-events` turns
//! into domain events.
//!
//! One table, three item types, all under a composite key `(pk: S, sk: N)`:
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | user | `USER#<id mod shards>` | the user id | `name`, `email`, `email_key`, `age`, `version`, `write_token`, `trace` (the last write's `traceparent`) |
//! | email claim | `EMAIL#<lower-cased email>` | `0` | `user_id` |
//! | id counter | `COUNTER` | `0` | `last_id`, `user_shards` |
//! | idempotency record | `IDEMPOTENCY#<hash>` | `0` | `fingerprint`, `user_id`, `expires_at` |
//!
//! Users are spread over [`USER_SHARDS`] partition keys by id. DynamoDB gives one partition key
//! at most 1,000 write units a second and will not split it for heat while its sort key only grows
//! (new ids always land at the end), so one key for all users would cap the whole deployment's
//! writes there; ids come from one counter in consecutive blocks, so `id mod shards` deals them out
//! evenly. A get, update or delete names its partition from the id; a page merges one bounded
//! `Query` per shard ([`listing`](super::listing)), still in id order, still no `Scan` or index.
//!
//! The counter carries the shard count it was first written with (`user_shards`), so that a
//! process never reads a table laid out another way ([`layout`](super::layout)).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};

/// Partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// Sort key attribute.
pub const SORT_KEY: &str = "sk";
/// How many partition keys users are spread over; see "Write ceiling" in docs/storage.md for the
/// arithmetic behind the default.
pub const USER_SHARDS: u16 = 8;
/// Prefix of every user item's partition key: `USER#<shard>`.
pub const USER_PREFIX: &str = "USER#";
/// The partition key every user had before users were sharded: a table with such items is refused.
pub const UNSHARDED_USER_PARTITION: &str = "USER";
/// The counter's attribute recording the shard count the table's users are laid out with.
pub const USER_SHARDS_ATTRIBUTE: &str = "user_shards";
/// Prefix of email-claim partition keys.
pub const EMAIL_PREFIX: &str = "EMAIL#";
/// Partition of the id counter.
pub const COUNTER_PARTITION: &str = "COUNTER";
/// Idempotency records: `IDEMPOTENCY#<hash of caller and key>`, sort key 0.
pub const IDEMPOTENCY_PREFIX: &str = "IDEMPOTENCY#";
/// The attribute DynamoDB's time to live reads (epoch seconds): expired idempotency records are
/// deleted by DynamoDB within days, and ignored by the code from the second they expire.
pub const EXPIRES_AT: &str = "expires_at";

/// The partition key of user `id` in a table of `shards` shards.
pub fn user_partition(id: u64, shards: u16) -> String {
    shard_partition(id % u64::from(shards.max(1)))
}

/// The partition key of one shard.
pub fn shard_partition(shard: u64) -> String {
    format!("{USER_PREFIX}{shard}")
}

/// Whether `pk` is a user item's partition key (a shard), as the stream filter also decides.
pub fn is_user_partition(pk: &str) -> bool {
    pk.strip_prefix(USER_PREFIX)
        .is_some_and(|shard| !shard.is_empty() && shard.bytes().all(|b| b.is_ascii_digit()))
}

/// The table definition in the terms CloudFormation and CreateTable share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// `(attribute, type)` pairs: `S`, `N` or `B`.
    pub attributes: Vec<(&'static str, &'static str)>,
    /// `(attribute, HASH | RANGE)` in order.
    pub key_schema: Vec<(&'static str, &'static str)>,
    pub billing_mode: &'static str,
    /// Names of global secondary indexes (none: listing uses the base table's sort key).
    pub global_secondary_indexes: Vec<&'static str>,
    /// What the table's stream records: `publish-events` needs both images (the old one for
    /// deletions and for the fields an update changed).
    pub stream_view_type: &'static str,
}

/// The users table.
pub fn table_definition() -> TableDefinition {
    TableDefinition {
        attributes: vec![(PARTITION_KEY, "S"), (SORT_KEY, "N")],
        key_schema: vec![(PARTITION_KEY, "HASH"), (SORT_KEY, "RANGE")],
        billing_mode: "PAY_PER_REQUEST",
        global_secondary_indexes: vec![],
        stream_view_type: "NEW_AND_OLD_IMAGES",
    }
}

/// What [`create_table`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableCreation {
    Created,
    AlreadyExisted,
    /// The table existed without the stream `publish-events` reads; it has one now.
    StreamEnabled,
}

/// Creates the table, with its stream, if it is missing, turns the stream on if the table has
/// none, and waits until the table is usable.
pub async fn create_table(
    client: &Client,
    table: &str,
) -> Result<TableCreation, Box<dyn std::error::Error + Send + Sync>> {
    let definition = table_definition();
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::from(definition.billing_mode));
    for (name, kind) in &definition.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(*name)
                .attribute_type(ScalarAttributeType::from(*kind))
                .build()?,
        );
    }
    for (name, kind) in &definition.key_schema {
        request = request.key_schema(
            KeySchemaElement::builder()
                .attribute_name(*name)
                .key_type(KeyType::from(*kind))
                .build()?,
        );
    }
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::from(definition.stream_view_type))
        .build()?;
    let mut outcome = match request.stream_specification(stream.clone()).send().await {
        Ok(_) => TableCreation::Created,
        Err(error) => match error.into_service_error() {
            e if e.is_resource_in_use_exception() => TableCreation::AlreadyExisted,
            e => return Err(Box::new(e)),
        },
    };
    let wait_for_table = || {
        client
            .wait_until_table_exists()
            .table_name(table)
            .wait(std::time::Duration::from_secs(60))
    };
    let described = wait_for_table().await?;
    let has_stream = described
        .as_result()
        .ok()
        .and_then(|output| output.table())
        .and_then(|table| table.stream_specification())
        .is_some_and(|stream| stream.stream_enabled());
    if !has_stream {
        client
            .update_table()
            .table_name(table)
            .stream_specification(stream)
            .send()
            .await?;
        wait_for_table().await?;
        outcome = TableCreation::StreamEnabled;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_are_dealt_over_every_shard() {
        let partitions = (1..=u64::from(USER_SHARDS))
            .map(|id| user_partition(id, USER_SHARDS))
            .collect::<std::collections::BTreeSet<_>>();
        assert_eq!(partitions.len(), usize::from(USER_SHARDS));
        assert_eq!(user_partition(9, 8), "USER#1");
        assert_eq!(user_partition(16, 8), "USER#0");
        assert_eq!(user_partition(5, 1), "USER#0");
    }

    #[test]
    fn only_shard_keys_are_user_partitions() {
        assert!(is_user_partition("USER#0"));
        assert!(is_user_partition("USER#17"));
        for other in [
            "USER",
            "USER#",
            "USER#x",
            "EMAIL#a@b",
            COUNTER_PARTITION,
            "IDEMPOTENCY#1",
        ] {
            assert!(!is_user_partition(other), "{other}");
        }
    }
}
