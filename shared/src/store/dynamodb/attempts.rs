//! Optimistic attempts: an operation that lost a race is run again from a fresh read, a bounded
//! number of times.

use std::time::Duration;

use super::MAX_OPTIMISTIC_ROUNDS;
use crate::domain::{Precondition, UserId};
use crate::store::{DEFAULT_RETRY_AFTER, StoreError};

/// A write conditional on the version just read lost a race: read again, unless the client's own
/// precondition named a version, which the user has now left.
pub(super) fn moved_since_read<T>(precondition: Precondition) -> Result<Attempt<T>, StoreError> {
    match precondition {
        Precondition::Version(_) => Err(StoreError::PreconditionFailed),
        Precondition::None | Precondition::Exists => Ok(Attempt::Retry),
    }
}

pub(super) fn out_of_step(id: UserId, codes: &[Option<String>]) -> StoreError {
    StoreError::Internal(format!("user {id} and its email claim are out of step: {codes:?}").into())
}

/// The outcome of one optimistic attempt.
pub(super) enum Attempt<T> {
    Done(T),
    Retry,
}

/// Re-runs `attempt` while it lost a race, a bounded number of times.
pub(super) async fn with_retries<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, StoreError>>,
{
    for round in 0..MAX_OPTIMISTIC_ROUNDS {
        match attempt().await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Retry => tokio::time::sleep(Duration::from_millis(5 << round)).await,
        }
    }
    Err(StoreError::Contended {
        retry_after: DEFAULT_RETRY_AFTER,
    })
}
