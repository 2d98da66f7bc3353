use std::error::Error as StdError;

use crate::contract::InvalidCursor;
use crate::domain::{InvalidUserId, UserId, ValidationError};
use crate::store::{StoreError, Unavailable};

/// Everything an operation can fail with, in terms a client can act on.
///
/// Infrastructure failures keep their cause as `source` so the logs can show it; `Display` never
/// includes it, so the client-facing message stays generic.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is wrong and retrying it unchanged will not help.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("user {0} not found")]
    NotFound(UserId),
    /// A find by email that matched no user. The message never repeats the address.
    #[error("no user has this email")]
    NoUserWithEmail,
    #[error("email is already taken")]
    EmailTaken,
    /// A conditional request's precondition (`If-Match`) no longer holds: nothing was changed.
    #[error("the user has changed since the version given in If-Match")]
    PreconditionFailed,
    /// An `Idempotency-Key` already used for a different request: nothing was created.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// The store could not be reached or is shedding load: worth retrying after `retry_after`.
    #[error("the user store is temporarily unavailable")]
    Unavailable(#[source] Unavailable),
    /// A bug or corrupted data: not the client's fault, not worth retrying.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

impl From<InvalidCursor> for ServiceError {
    fn from(error: InvalidCursor) -> Self {
        Self::InvalidArgument(error.to_string())
    }
}

impl ServiceError {
    pub(crate) fn invalid(message: &str) -> Self {
        Self::InvalidArgument(message.to_owned())
    }

    /// Translates a store failure; `id` is the user the operation was about, if any.
    pub(crate) fn from_store(error: StoreError, id: Option<UserId>) -> Self {
        match (error, id) {
            (StoreError::NotFound, Some(id)) => Self::NotFound(id),
            (StoreError::EmailTaken, _) => Self::EmailTaken,
            (StoreError::PreconditionFailed, _) => Self::PreconditionFailed,
            (StoreError::IdempotencyKeyReused, _) => Self::IdempotencyKeyReused,
            (StoreError::Unavailable(unavailable), _) => Self::Unavailable(unavailable),
            // The same answer to the client; the log's cause chain starts with "store throttled".
            (throttled @ StoreError::Throttled { retry_after, .. }, _) => {
                Self::Unavailable(Unavailable {
                    retry_after,
                    source: Box::new(throttled),
                })
            }
            (contended @ StoreError::Contended { retry_after }, _) => {
                Self::Unavailable(Unavailable {
                    retry_after,
                    source: Box::new(contended),
                })
            }
            (StoreError::Internal(source), _) => Self::Internal(source),
            (StoreError::NotFound, None) => {
                Self::Internal("store reported a missing user for an operation on no user".into())
            }
        }
    }
}

impl From<ValidationError> for ServiceError {
    fn from(error: ValidationError) -> Self {
        Self::InvalidArgument(error.0)
    }
}

impl From<InvalidUserId> for ServiceError {
    fn from(error: InvalidUserId) -> Self {
        Self::InvalidArgument(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ErrorChain;

    /// The hint and the cause pass from store to service unchanged, and each layer's log line
    /// reads its own words, then the cause's: no link of the chain is added or lost on the way.
    #[test]
    fn an_unavailable_store_is_passed_on_with_its_cause_and_hint() {
        let cause = std::io::Error::other("connection refused");
        let store = StoreError::Unavailable(Unavailable {
            retry_after: Duration::from_secs(7),
            source: Box::new(cause),
        });
        assert_eq!(
            ErrorChain(&store).to_string(),
            "store unavailable: connection refused"
        );
        let service = ServiceError::from_store(store, None);
        assert_eq!(
            ErrorChain(&service).to_string(),
            "the user store is temporarily unavailable: connection refused"
        );
        let ServiceError::Unavailable(unavailable) = service else {
            panic!("{service:?}");
        };
        assert_eq!(unavailable.retry_after, Duration::from_secs(7));
    }
}
