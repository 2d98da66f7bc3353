//! The six operations as one interface, [`Users`], implemented twice: here in process, over a
//! store ([`InProcess`]), and over HTTP by the `client` crate. Go-kit's profilesvc taught it: a
//! client that returns the same interface as the service lets callers, and tests, swap one for the
//! other without noticing. The types are the API's, not the store's: what a caller sends (fields it
//! may get wrong) and what it gets back (a user with the version to send in `If-Match`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::contract::{decode_cursor, encode_cursor};
use crate::domain::{PageLimit, PageStart, Precondition, User, UserId};
use crate::service::{
    self, CreateOutcome, DEFAULT_IDEMPOTENCY_TTL, Idempotency, IdempotencyKey, ServiceError,
};
use crate::store::{Unavailable, UserStore};

pub use crate::contract::{UserFields, UserRecord};

/// The fields to change; absent ones stay as they are: the client API's name for the
/// [`UserFields`] a change sends.
pub type UserUpdate = UserFields;

impl From<User> for UserRecord {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            name: user.name,
            email: user.email,
            age: user.age,
            version: Some(user.version),
        }
    }
}

/// A user to create, as the caller wrote it: the service validates it. On the wire it is the
/// [`UserFields`] it converts to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CreateUser {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<i64>,
}

/// What a create sends: the fields a create requires, typed so.
impl From<CreateUser> for UserFields {
    fn from(user: CreateUser) -> Self {
        Self {
            name: Some(user.name),
            email: Some(user.email),
            age: user.age,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    pub users: Vec<UserRecord>,
    /// Pass to the next call to continue; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What went wrong, by the wire's error `code`, never by its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong (`invalid_argument`, `invalid_json`, `payload_too_large`): fix it.
    InvalidArgument { message: String },
    /// `user_not_found`.
    NotFound,
    /// `email_taken`.
    EmailTaken,
    /// `precondition_failed`: the user changed since the version given; nothing was written.
    PreconditionFailed,
    /// `idempotency_key_reused`: the key was used for a different create; nothing was written.
    IdempotencyKeyReused,
    /// `unavailable`, throttling, or no endpoint could be reached in the time allowed: try again,
    /// after `retry_after` when the server said.
    Unavailable {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// The caller is not allowed to call the operations: not authenticated, or not authorised.
    /// The in-process implementation authorises nothing and never returns it; over HTTP,
    /// `client` maps the gateway's 401 and 403 here.
    Forbidden { message: String },
    /// Anything else: a server bug (`internal`), or an answer that is not the API's (a proxy's
    /// error page, a route the server does not know).
    Internal { message: String },
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorKind::InvalidArgument { message } => write!(f, "invalid request: {message}"),
            ErrorKind::NotFound => write!(f, "user not found"),
            ErrorKind::EmailTaken => write!(f, "email is already taken"),
            ErrorKind::PreconditionFailed => {
                write!(f, "the user has changed since the version given")
            }
            ErrorKind::IdempotencyKeyReused => {
                write!(f, "the idempotency key was used for a different request")
            }
            ErrorKind::Unavailable {
                retry_after: Some(wait),
                reason,
            } => write!(
                f,
                "unavailable ({reason}); retry in {}s",
                wait.as_secs().max(1)
            ),
            ErrorKind::Unavailable { reason, .. } => write!(f, "unavailable ({reason})"),
            ErrorKind::Forbidden { message } => write!(f, "not allowed: {message}"),
            ErrorKind::Internal { message } => write!(f, "internal error: {message}"),
        }
    }
}

/// A failed operation: what went wrong, and the `x-request-id` of the answer that said so, to
/// quote when asking the operators (`None` when no server answered, or in process).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UsersError {
    pub kind: ErrorKind,
    pub request_id: Option<String>,
}

impl std::fmt::Display for UsersError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl UsersError {
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            request_id: None,
        }
    }
}

impl From<ServiceError> for UsersError {
    fn from(error: ServiceError) -> Self {
        let message = error.to_string();
        UsersError::new(match error {
            ServiceError::InvalidArgument(message) => ErrorKind::InvalidArgument { message },
            ServiceError::NotFound(_) | ServiceError::NoUserWithEmail => ErrorKind::NotFound,
            ServiceError::EmailTaken => ErrorKind::EmailTaken,
            ServiceError::PreconditionFailed => ErrorKind::PreconditionFailed,
            ServiceError::IdempotencyKeyReused => ErrorKind::IdempotencyKeyReused,
            ServiceError::Unavailable(Unavailable { retry_after, .. }) => ErrorKind::Unavailable {
                retry_after: Some(retry_after),
                reason: message,
            },
            ServiceError::Internal(_) => ErrorKind::Internal { message },
        })
    }
}

/// The users operations, wherever they run.
#[async_trait]
pub trait Users: Send + Sync {
    /// Creates a user. With `idempotency_key`, a repeat of the same create (after a lost answer)
    /// returns the user the first one made instead of creating another.
    async fn create(
        &self,
        user: CreateUser,
        idempotency_key: Option<&str>,
    ) -> Result<UserRecord, UsersError>;

    async fn get(&self, id: UserId) -> Result<UserRecord, UsersError>;

    /// Changes the given fields, if the user meets `precondition` (`If-Match`: a version, or `*`
    /// for "still exists"); `PreconditionFailed` otherwise, with nothing written.
    async fn update(
        &self,
        id: UserId,
        update: UserUpdate,
        precondition: Precondition,
    ) -> Result<UserRecord, UsersError>;

    /// Deletes a user, if it meets `precondition`.
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), UsersError>;

    /// A page of users in id order, of `limit` users (10 by default, at most 100), after `cursor`.
    async fn list(&self, limit: Option<u32>, cursor: Option<&str>) -> Result<UserPage, UsersError>;

    /// The user holding `email`, in any case; `NotFound` if none does.
    async fn find_by_email(&self, email: &str) -> Result<UserRecord, UsersError>;
}

/// The operations run in this process, on a store: the same service rules the API applies.
pub struct InProcess<S> {
    store: Arc<S>,
    /// Whose idempotency keys these are (a remote caller's IAM identity, on the API).
    caller: String,
    idempotency_ttl: Duration,
}

impl<S: UserStore> InProcess<S> {
    pub fn new(store: Arc<S>) -> Self {
        Self {
            store,
            caller: "in-process".to_owned(),
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
        }
    }
}

#[async_trait]
impl<S: UserStore + 'static> Users for InProcess<S> {
    async fn create(
        &self,
        user: CreateUser,
        idempotency_key: Option<&str>,
    ) -> Result<UserRecord, UsersError> {
        let key = idempotency_key.map(IdempotencyKey::parse).transpose()?;
        let idempotency = key.map(|key| Idempotency {
            key,
            caller: &self.caller,
            ttl: self.idempotency_ttl,
        });
        let fields = UserFields::from(user);
        match service::create_user(self.store.as_ref(), fields, idempotency).await? {
            CreateOutcome::Created(user) | CreateOutcome::Replayed(user) => {
                Ok(UserRecord::from(user))
            }
        }
    }

    async fn get(&self, id: UserId) -> Result<UserRecord, UsersError> {
        let user = service::get_user(self.store.as_ref(), id).await?;
        Ok(UserRecord::from(user))
    }

    async fn update(
        &self,
        id: UserId,
        update: UserUpdate,
        precondition: Precondition,
    ) -> Result<UserRecord, UsersError> {
        let user = service::update_user(self.store.as_ref(), id, update, precondition).await?;
        Ok(UserRecord::from(user))
    }

    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), UsersError> {
        Ok(service::delete_user(self.store.as_ref(), id, precondition).await?)
    }

    async fn list(&self, limit: Option<u32>, cursor: Option<&str>) -> Result<UserPage, UsersError> {
        let limit = limit
            .map(PageLimit::new)
            .transpose()
            .map_err(ServiceError::from)?
            .unwrap_or_default();
        let start = match cursor {
            Some(cursor) => PageStart::After(decode_cursor(cursor).map_err(ServiceError::from)?),
            None => PageStart::First,
        };
        let page = service::list_users(self.store.as_ref(), start, limit).await?;
        Ok(UserPage {
            users: page.users.into_iter().map(UserRecord::from).collect(),
            next_cursor: page.next_after.map(encode_cursor),
        })
    }

    async fn find_by_email(&self, email: &str) -> Result<UserRecord, UsersError> {
        let user = service::find_user(self.store.as_ref(), email).await?;
        Ok(UserRecord::from(user))
    }
}
