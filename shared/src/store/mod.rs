//! Persistence behind capability traits, over the [`domain`](crate::domain) types and knowing
//! nothing of the [`service`](crate::service) built on it.
//!
//! Each operation is its own trait (`StoreGet`, `StoreCreate`, ...) so a handler asks for exactly
//! what it uses, as the functions' IAM policies do; [`UserStore`] is all of them, for the code that
//! builds a backend. The traits use `async_trait` rather than native `async fn` because they must be
//! object-safe: each endpoint holds only its own capability as `Arc<dyn StoreGet>` (and so on), and
//! tests slide fault-injecting decorators under the same handlers. The boxed future costs one
//! allocation per store call, which is noise next to a DynamoDB round trip. The backend itself is
//! a concrete type ([`Backend`]) up to that point, so each binary links only the operations it
//! serves.
//!
//! Contract every backend keeps (checked by the conformance suite in `tests/`):
//! - `create` assigns a fresh id greater than any it assigned before and writes the user and its
//!   email claim atomically: of two racing creates with one email (in any case), exactly one wins.
//! - `update` and `delete` are conditional on the user existing and never leave the user and its
//!   email claim out of step.
//! - `list` returns users in ascending id order.
//! - `find_by_email` answers the user holding the email (in any case) at some moment during the
//!   call, or `None` if there was a moment when no user held it.

#[cfg(feature = "aws")]
mod backend;
#[cfg(feature = "aws")]
pub mod dynamodb;
mod layer;
mod memory;

use std::error::Error as StdError;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{NewUser, Page, PageLimit, PageStart, Precondition, User, UserChanges, UserId};

#[cfg(feature = "aws")]
pub use backend::Backend;
#[cfg(feature = "aws")]
pub use dynamodb::DynamoStore;
pub use layer::{StoreCall, StoreLayer};
pub use memory::MemoryStore;

/// Failures a backend reports; the service maps them onto client-facing errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such user")]
    NotFound,
    #[error("email is already taken")]
    EmailTaken,
    /// The write was conditional on a version (or on existence) that no longer holds; nothing
    /// was written.
    #[error("the user is not at the expected version")]
    PreconditionFailed,
    /// An idempotency key already recorded for a different request: nothing was written.
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    /// Transient: timeouts, the service being down, an open circuit breaker. A retry after
    /// `retry_after` may succeed: whoever knows better than the default says so here.
    #[error("store unavailable")]
    Unavailable(#[source] Unavailable),
    /// The store works but refused for capacity (DynamoDB throttled the table, an index or one
    /// partition) after its own retries: nothing was written, and a retry after `retry_after`
    /// may succeed. Apart from [`StoreError::Unavailable`] because it is no sign of a failing
    /// store: the answer came at once, and the breaker does not count it (see
    /// [`GuardedStore`](crate::middleware::GuardedStore)).
    #[error("store throttled")]
    Throttled {
        retry_after: Duration,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The store works, but one user's item was busy with other writes: the call lost its race
    /// to them on every attempt, and nothing of it was written. A retry after `retry_after` may
    /// succeed. Like throttling it is no sign of a failing store, so the breaker does not count
    /// it: one busy user must not turn every other user away.
    #[error("too much contention on one user")]
    Contended { retry_after: Duration },
    /// Permanent: a bug, a malformed item, a misconfiguration (missing table, denied access).
    #[error("store failure")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

/// A transient failure and when to try again: what [`StoreError::Unavailable`] reports and the
/// service's `Unavailable` passes on to the client unchanged. In an error chain it stands for its
/// cause: its text is the cause's, and the chain goes on with the cause's own source.
#[derive(Debug)]
pub struct Unavailable {
    pub retry_after: Duration,
    pub source: Box<dyn StdError + Send + Sync>,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl StdError for Unavailable {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.source()
    }
}

/// How long a client is asked to wait after an unavailable store, unless the failure knows better.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

impl StoreError {
    /// A transient failure worth retrying after [`DEFAULT_RETRY_AFTER`].
    pub fn unavailable(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        StoreError::Unavailable(Unavailable {
            retry_after: DEFAULT_RETRY_AFTER,
            source: source.into(),
        })
    }

    /// A refusal for capacity, worth retrying after [`DEFAULT_RETRY_AFTER`].
    pub fn throttled(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        StoreError::Throttled {
            retry_after: DEFAULT_RETRY_AFTER,
            source: source.into(),
        }
    }
}

/// Reads one user by id.
#[async_trait]
pub trait StoreGet: Send + Sync {
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError>;
}

/// Finds the user holding an email, compared as uniqueness compares it (in any case): at most
/// one user holds it, since creates and updates claim it atomically.
#[async_trait]
pub trait StoreFind: Send + Sync {
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
}

/// A create that its client may retry (HTTP's `Idempotency-Key`). The record is written with the
/// user and its email claim in one atomic step, so a retry finds either nothing (and creates) or
/// the record (and replays): never a user without its record, or two users for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentCreate {
    /// The client's key scoped to the caller, hashed (neither is stored in clear).
    pub key: String,
    /// A hash of the normalised request: a retry must send the same one.
    pub fingerprint: String,
    /// Seconds since the epoch: records that expired before now are ignored.
    pub now: u64,
    /// Seconds since the epoch when this record stops counting (and DynamoDB's TTL removes it).
    pub expires_at: u64,
}

/// What a create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new user.
    New(User),
    /// A retry of an earlier create with the same key and request: that create's user, as it is
    /// now. Nothing was written.
    Replayed(User),
    /// A retry of an earlier create whose user has since been deleted.
    ReplayedGone(UserId),
}

/// Creates a user with a fresh id; `EmailTaken` if another user has the email in any case. With
/// `idempotency`, a retry replays the first create instead, and a different request under the
/// same live key is `IdempotencyKeyReused`.
#[async_trait]
pub trait StoreCreate: Send + Sync {
    async fn create_idempotent(
        &self,
        user: NewUser,
        idempotency: Option<IdempotentCreate>,
    ) -> Result<Created, StoreError>;

    /// A create without an idempotency key.
    async fn create(&self, user: NewUser) -> Result<User, StoreError> {
        match self.create_idempotent(user, None).await? {
            Created::New(user) => Ok(user),
            Created::Replayed(_) | Created::ReplayedGone(_) => Err(StoreError::Internal(
                "a create without an idempotency key was replayed".into(),
            )),
        }
    }
}

impl Precondition {
    /// Whether a user at `version` (`None`: missing) satisfies this precondition; `Err` is the
    /// failure to report.
    pub fn check(self, version: Option<u64>) -> Result<(), StoreError> {
        match (self, version) {
            (Precondition::None, None) => Err(StoreError::NotFound),
            (Precondition::None, Some(_)) | (Precondition::Exists, Some(_)) => Ok(()),
            (Precondition::Version(expected), Some(actual)) if expected == actual => Ok(()),
            _ => Err(StoreError::PreconditionFailed),
        }
    }
}

/// Applies a partial update under `precondition`; `NotFound`, `PreconditionFailed` or
/// `EmailTaken` leave the user untouched. The user comes back at its new version.
#[async_trait]
pub trait StoreUpdate: Send + Sync {
    async fn update(
        &self,
        id: UserId,
        changes: UserChanges,
        precondition: Precondition,
    ) -> Result<User, StoreError>;
}

/// Removes a user and its email claim under `precondition`; `NotFound` if there was none.
#[async_trait]
pub trait StoreDelete: Send + Sync {
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), StoreError>;
}

/// Lists users in ascending id order.
#[async_trait]
pub trait StoreList: Send + Sync {
    async fn list(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError>;
}

/// What a health check asks of a store.
#[async_trait]
pub trait StorePing: Send + Sync {
    /// The backend's short name (`memory`, `dynamodb`), for logs and health output.
    fn backend(&self) -> &'static str;

    /// Checks, cheaply, that the store can be reached.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Every capability: what a backend implements and what configuration hands out.
pub trait UserStore:
    StoreGet + StoreCreate + StoreUpdate + StoreDelete + StoreList + StoreFind + StorePing
{
}

impl<
    T: StoreGet + StoreCreate + StoreUpdate + StoreDelete + StoreList + StoreFind + StorePing + ?Sized,
> UserStore for T
{
}
