//! Sorting SDK failures into "try again later" and "something is wrong".

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::store::StoreError;

/// Service error codes that mean DynamoDB is throttling this table, an index, a partition or the
/// account. The SDK's retry policy has already retried these within its budget by the time they
/// reach us.
const THROTTLING_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
];

/// Other service error codes that mean DynamoDB is briefly failing: worth a retry later.
const TRANSIENT_CODES: &[&str] = &[
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// A single-item write that met a transaction on the same item: the item is busy, the store is
/// not failing (and the SDK does not retry it).
const CONFLICT_CODE: &str = "TransactionConflictException";

/// Classifies an SDK error, keeping it whole as the source for the logs.
pub(super) fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::unavailable(error)
        }
        SdkError::ServiceError(service) if is_throttling(service.err()) => throttled(error),
        SdkError::ServiceError(service) if is_conflict(service.err()) => contended(),
        SdkError::ServiceError(service) if is_transient(service.err()) => {
            StoreError::unavailable(error)
        }
        _ => StoreError::Internal(Box::new(error)),
    }
}

/// Classifies a service error already taken out of its `SdkError`.
pub(super) fn classify_service<E>(error: E) -> StoreError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if is_throttling(&error) {
        throttled(error)
    } else if is_conflict(&error) {
        contended()
    } else if is_transient(&error) {
        StoreError::unavailable(error)
    } else {
        StoreError::Internal(Box::new(error))
    }
}

/// A refusal for capacity, counted in `dynamodb_throttles_total` (the alarm that says the table
/// needs more capacity) once per call that gave up on it.
pub(super) fn throttled(error: impl StdError + Send + Sync + 'static) -> StoreError {
    metrics::counter!("dynamodb_throttles_total").increment(1);
    StoreError::throttled(error)
}

/// A call that met another write on a busy item: counted as contention, never against the
/// breaker.
fn contended() -> StoreError {
    StoreError::Contended {
        retry_after: crate::store::DEFAULT_RETRY_AFTER,
    }
}

fn is_conflict(error: &impl ProvideErrorMetadata) -> bool {
    error.code() == Some(CONFLICT_CODE)
}

fn is_throttling(error: &impl ProvideErrorMetadata) -> bool {
    error
        .code()
        .is_some_and(|code| THROTTLING_CODES.contains(&code))
}

/// Whether `error` is a brief failure worth retrying later.
fn is_transient(error: &impl ProvideErrorMetadata) -> bool {
    error
        .code()
        .is_some_and(|code| TRANSIENT_CODES.contains(&code))
}

/// A malformed item or a request we could not build: always a bug, never the client's fault.
pub(super) fn internal(error: impl StdError + Send + Sync + 'static) -> StoreError {
    StoreError::Internal(Box::new(error))
}
