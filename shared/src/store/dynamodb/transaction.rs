//! Transactions: sent under a request token, sent again while DynamoDB says so, and their
//! cancellations read item by item.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

use super::errors::{classify, classify_service, internal, throttled};
use super::items::{Item, UserItem, claim_key, value};
use super::{DynamoStore, MAX_OPTIMISTIC_ROUNDS};
use crate::domain::UserId;
use crate::store::StoreError;
use crate::token;

impl DynamoStore {
    /// Runs a transaction under `write_token` as its `ClientRequestToken`, and reports which
    /// items' conditions failed, if any.
    ///
    /// The token makes the SDK's own retries of this very request safe: DynamoDB answers a repeat
    /// of a transaction it has committed (within 10 minutes) with success instead of evaluating
    /// its conditions again, which would fail on the transaction's own writes. One that is still
    /// being committed is answered `TransactionInProgressException`: the same request is sent
    /// again, a bounded number of times. So is one DynamoDB cancelled because it throttled one
    /// of its items (reason `ThrottlingError` or `ProvisionedThroughputExceeded`), which the
    /// SDK does not retry: nothing of it was written, and its conditions say nothing, so it is
    /// neither a conflict nor a taken email; it ends as [`StoreError::Throttled`] when the
    /// rounds are spent. A transaction rebuilt from a new read is another write and gets
    /// another token.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        write_token: &str,
    ) -> Result<Transaction, StoreError> {
        let mut round = 0;
        let result = loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(write_token)
                .send()
                .await;
            let send_again = match &result {
                Err(SdkError::ServiceError(service)) => match service.err() {
                    TransactWriteItemsError::TransactionInProgressException(_) => true,
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        is_throttled(cancelled)
                    }
                    _ => false,
                },
                _ => false,
            };
            if !send_again || round + 1 >= MAX_OPTIMISTIC_ROUNDS {
                break result;
            }
            // Exponential, with full jitter so that throttled writers do not come back together.
            let ceiling = 20u64 << round;
            tokio::time::sleep(Duration::from_millis(fastrand::u64(ceiling / 2..=ceiling))).await;
            round += 1;
        };
        match result {
            Ok(_) => Ok(Transaction::Committed),
            Err(SdkError::ServiceError(service)) => match service.into_err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled)
                    if is_throttled(&cancelled) =>
                {
                    Err(throttled(cancelled))
                }
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let reasons = cancelled.cancellation_reasons();
                    let codes = reasons
                        .iter()
                        .map(|reason| reason.code().filter(|c| *c != "None").map(str::to_owned))
                        .collect::<Vec<_>>();
                    if codes.iter().flatten().any(|c| c == "TransactionConflict") {
                        return Ok(Transaction::Conflict);
                    }
                    // The first item is always the user's, asked to return itself when its
                    // condition fails.
                    let user = reasons
                        .first()
                        .and_then(|reason| reason.item())
                        .map(|item| UserItem::from_item(item.clone()).map(Box::new))
                        .transpose()?;
                    // A claim put whose condition failed returns the claim that is there.
                    let claim_owner = reasons
                        .iter()
                        .skip(1)
                        .filter_map(|reason| reason.item()?.get("user_id")?.as_n().ok())
                        .find_map(|owner| owner.parse().ok());
                    Ok(Transaction::Cancelled {
                        codes,
                        user,
                        claim_owner,
                    })
                }
                other => Err(classify_service(other)),
            },
            Err(other) => Err(classify(other)),
        }
    }

    pub(super) fn put(&self, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) fn delete_claim(
        &self,
        email_key: &str,
        owner: UserId,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(claim_key(email_key)?))
            .condition_expression("user_id = :owner")
            .expression_attribute_values(":owner", value(owner.get())?)
            .build()
            .map_err(internal)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

/// How a transaction ended.
pub(super) enum Transaction {
    Committed,
    /// Another transaction held one of the items: worth retrying at once.
    Conflict,
    /// A condition failed: one code per item, `None` for items whose condition held; the
    /// user's item as it is, when its own condition failed and it exists; and the owner of an
    /// email claim that a put found already there.
    Cancelled {
        codes: Vec<Option<String>>,
        user: Option<Box<UserItem>>,
        claim_owner: Option<u64>,
    },
}

/// Whether DynamoDB cancelled a transaction for capacity: one of its items was throttled.
fn is_throttled(cancelled: &TransactionCanceledException) -> bool {
    cancelled.cancellation_reasons().iter().any(|reason| {
        matches!(
            reason.code(),
            Some("ThrottlingError" | "ProvisionedThroughputExceeded")
        )
    })
}

/// A new name for one write: its transaction's `ClientRequestToken` and the `write_token` it
/// leaves on the user's item ([`token::random_token`]).
pub(super) fn write_token() -> Result<String, StoreError> {
    token::random_token().map_err(internal)
}
