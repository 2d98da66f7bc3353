//! The business operations. Each takes only the store capability it needs, so "get" cannot write
//! by construction, mirroring the per-function IAM policies.

mod error;
mod idempotency;

use crate::contract::UserFields;
use crate::domain::{
    NewUser, Page, PageLimit, PageStart, Precondition, User, UserChanges, UserId, validate_age,
    validate_email, validate_name,
};
use crate::store::{
    Created, StoreCreate, StoreDelete, StoreFind, StoreGet, StoreList, StoreUpdate,
};

pub use error::ServiceError;
pub use idempotency::{DEFAULT_IDEMPOTENCY_TTL, IdempotencyKey};

/// A create its client may retry: the key it sent, who sent it (the authenticated principal, so
/// that one caller cannot replay another's create) and how long the key is remembered.
#[derive(Debug, Clone)]
pub struct Idempotency<'a> {
    pub key: IdempotencyKey,
    pub caller: &'a str,
    pub ttl: std::time::Duration,
}

/// What a create did for its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(User),
    /// A retry under the same key and request: the user the first create made, as it is now.
    Replayed(User),
}

/// Validates and creates a user; the store assigns the id and enforces email uniqueness. With
/// `idempotency`, a retry replays the first create instead of creating again.
pub async fn create_user(
    store: &dyn StoreCreate,
    fields: UserFields,
    idempotency: Option<Idempotency<'_>>,
) -> Result<CreateOutcome, ServiceError> {
    let name = fields
        .name
        .ok_or_else(|| ServiceError::invalid("name is required"))?;
    let email = fields
        .email
        .ok_or_else(|| ServiceError::invalid("email is required"))?;
    let new_user = NewUser {
        name: validate_name(&name)?,
        email: validate_email(&email)?,
        age: fields.age.map(validate_age).transpose()?.unwrap_or(0),
    };
    let record = idempotency.map(|request| {
        idempotency::record_for(&request.key, request.caller, &new_user, request.ttl)
    });
    match store.create_idempotent(new_user, record).await {
        Ok(Created::New(user)) => Ok(CreateOutcome::Created(user)),
        Ok(Created::Replayed(user)) => Ok(CreateOutcome::Replayed(user)),
        // The user this key created has been deleted since: say so, rather than create again.
        Ok(Created::ReplayedGone(id)) => Err(ServiceError::NotFound(id)),
        Err(error) => Err(ServiceError::from_store(error, None)),
    }
}

/// Reads one user.
pub async fn get_user(store: &dyn StoreGet, id: UserId) -> Result<User, ServiceError> {
    match store.get(id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(ServiceError::NotFound(id)),
        Err(e) => Err(ServiceError::from_store(e, Some(id))),
    }
}

/// The user holding `email`, compared as uniqueness compares it (in any case). An address that
/// could never be anyone's is refused, as a create would refuse it, without asking the store.
pub async fn find_user(store: &dyn StoreFind, email: &str) -> Result<User, ServiceError> {
    let email = validate_email(email)?;
    match store.find_by_email(&email).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(ServiceError::NoUserWithEmail),
        Err(e) => Err(ServiceError::from_store(e, None)),
    }
}

/// Changes the fields present in `fields`, leaving the rest as they are, if the user still meets
/// `precondition` (checked atomically with the write).
pub async fn update_user(
    store: &dyn StoreUpdate,
    id: UserId,
    fields: UserFields,
    precondition: Precondition,
) -> Result<User, ServiceError> {
    let changes = UserChanges {
        name: fields.name.as_deref().map(validate_name).transpose()?,
        email: fields.email.as_deref().map(validate_email).transpose()?,
        age: fields.age.map(validate_age).transpose()?,
    };
    if changes == UserChanges::default() {
        return Err(ServiceError::invalid(
            "at least one of name, email or age is required",
        ));
    }
    store
        .update(id, changes, precondition)
        .await
        .map_err(|e| ServiceError::from_store(e, Some(id)))
}

/// Removes a user and frees its email for reuse, if it still meets `precondition`.
pub async fn delete_user(
    store: &dyn StoreDelete,
    id: UserId,
    precondition: Precondition,
) -> Result<(), ServiceError> {
    store
        .delete(id, precondition)
        .await
        .map_err(|e| ServiceError::from_store(e, Some(id)))
}

/// One page of users in id order.
pub async fn list_users(
    store: &dyn StoreList,
    start: PageStart,
    limit: PageLimit,
) -> Result<Page, ServiceError> {
    store
        .list(start, limit)
        .await
        .map_err(|e| ServiceError::from_store(e, None))
}
