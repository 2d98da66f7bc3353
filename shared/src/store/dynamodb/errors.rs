//! Sorting SDK failures into "try again later" and "something is wrong".

use std::error::Error as StdError;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::store::StoreError;

/// Service error codes that mean DynamoDB is overloaded or briefly failing. The SDK's retry policy
/// has already retried these within its budget by the time they reach us.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Classifies an SDK error, keeping it whole as the source for the logs.
pub(super) fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(Box::new(error))
        }
        SdkError::ServiceError(service) if is_transient(service.err()) => {
            StoreError::Unavailable(Box::new(error))
        }
        _ => StoreError::Internal(Box::new(error)),
    }
}

/// Classifies a service error already taken out of its `SdkError`.
pub(super) fn classify_service<E>(error: E) -> StoreError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    if is_transient(&error) {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Internal(Box::new(error))
    }
}

fn is_transient(error: &impl ProvideErrorMetadata) -> bool {
    error
        .code()
        .is_some_and(|code| TRANSIENT_CODES.contains(&code))
}

/// A malformed item or a request we could not build: always a bug, never the client's fault.
pub(super) fn internal(error: impl StdError + Send + Sync + 'static) -> StoreError {
    StoreError::Internal(Box::new(error))
}
