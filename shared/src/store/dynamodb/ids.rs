//! Id allocation from an atomic counter item, a block at a time.
//!
//! Each process reserves `block_size` ids with one `UpdateItem ADD` and hands them out locally, so
//! a create usually costs no counter round trip at all. Trade-offs: ids are unique across all
//! processes and increasing within one, but two processes interleave (one hands out 1..=50 while
//! another hands out 51..=100), and ids reserved by a process that stops are never used (gaps).
//!
//! The reservation also stamps the counter with the shard count and is refused by a counter that
//! records another layout ([`layout`](super::layout)), so a create never writes a user where this
//! version would not read it.

use std::ops::Range;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use tokio::sync::Mutex;

use super::errors::classify;
use super::items::{counter_key, value};
use super::layout::LayoutCheck;
use super::schema::USER_SHARDS_ATTRIBUTE;
use crate::domain::UserId;
use crate::store::StoreError;

/// Hands out ids from the current block, reserving a new one when it runs out.
#[derive(Debug)]
pub(super) struct IdAllocator {
    block_size: u64,
    // An async mutex: a caller that finds the block empty holds it while reserving the next block,
    // so concurrent creates wait for one reservation instead of each making their own.
    block: Mutex<Range<u64>>,
}

impl IdAllocator {
    pub fn new(block_size: u64) -> Self {
        Self {
            block_size: block_size.max(1),
            block: Mutex::new(0..0),
        }
    }

    pub async fn next(
        &self,
        client: &Client,
        table: &str,
        layout: &LayoutCheck,
    ) -> Result<UserId, StoreError> {
        let mut block = self.block.lock().await;
        if block.is_empty() {
            let last = self.reserve(client, table, layout).await?;
            *block = (last + 1 - self.block_size)..(last + 1);
        }
        let id = block.start;
        block.start += 1;
        UserId::new(id).ok_or_else(|| StoreError::Internal("id counter handed out 0".into()))
    }

    /// Adds a block to the counter, if it records `layout`'s shard count or none yet, and returns
    /// the new last id of the table's id space.
    async fn reserve(
        &self,
        client: &Client,
        table: &str,
        layout: &LayoutCheck,
    ) -> Result<u64, StoreError> {
        let result = client
            .update_item()
            .table_name(table)
            .set_key(Some(counter_key()?))
            .update_expression("ADD last_id :block SET #shards = :shards")
            .condition_expression("attribute_not_exists(last_id) OR #shards = :shards")
            .expression_attribute_names("#shards", USER_SHARDS_ATTRIBUTE)
            .expression_attribute_values(":block", value(self.block_size)?)
            .expression_attribute_values(":shards", value(layout.shards())?)
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(SdkError::ServiceError(service))
                if service.err().is_conditional_check_failed_exception() =>
            {
                let counter = match service.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(failed) => failed.item,
                    _ => None,
                };
                layout.check(table, &counter.unwrap_or_default())?;
                return Err(StoreError::Internal(
                    "the id counter refused a reservation for no reason it gave".into(),
                ));
            }
            Err(other) => return Err(classify(other)),
        };
        layout.confirm();
        output
            .attributes()
            .and_then(|a| a.get("last_id"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Internal("id counter returned no last_id".into()))
    }
}
