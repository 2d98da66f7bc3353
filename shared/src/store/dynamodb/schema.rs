//! The table layout, defined once: `--create-table` builds it, and a test holds `template.yaml`
//! to the same definition. The table has a stream of both images, which `publish-events` turns
//! into domain events.
//!
//! One table, three item types, all under a composite key `(pk: S, sk: N)`:
//!
//! | item | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | user | `USER` | the user id | `name`, `email`, `email_key`, `age`, `version` |
//! | email claim | `EMAIL#<lower-cased email>` | `0` | `user_id` |
//! | id counter | `COUNTER` | `0` | `last_id` |
//!
//! All users share one partition key so a page is a single `Query` in id order (no `Scan`, no
//! index). The price is that every user write lands on that one partition: see the README for the
//! resulting write ceiling.

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
/// Partition of every user item.
pub const USER_PARTITION: &str = "USER";
/// Prefix of email-claim partition keys.
pub const EMAIL_PREFIX: &str = "EMAIL#";
/// Partition of the id counter.
pub const COUNTER_PARTITION: &str = "COUNTER";
/// Idempotency records: `IDEMPOTENCY#<hash of caller and key>`, sort key 0.
pub const IDEMPOTENCY_PREFIX: &str = "IDEMPOTENCY#";
/// The attribute DynamoDB's time to live reads (epoch seconds): expired idempotency records are
/// deleted by DynamoDB within days, and ignored by the code from the second they expire.
pub const EXPIRES_AT: &str = "expires_at";

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
