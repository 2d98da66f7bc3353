//! The backend configuration picks at start-up.

use async_trait::async_trait;

use super::{
    Created, DynamoStore, IdempotentCreate, MemoryStore, StoreCreate, StoreDelete, StoreError,
    StoreFind, StoreGet, StoreList, StorePing, StoreUpdate,
};
use crate::domain::{NewUser, Page, PageLimit, PageStart, Precondition, User, UserChanges, UserId};

/// One of the backends, chosen from configuration.
///
/// An enum rather than `Arc<dyn UserStore>`: a trait object's vtable names every operation of
/// the backend behind it, so every function binary would link every operation of both backends
/// and every DynamoDB call they make. Through an enum, a function that only reads links the two
/// `get`s and nothing else: smaller binaries, fewer pages to load on a cold start.
pub enum Backend {
    Memory(MemoryStore),
    DynamoDb(DynamoStore),
}

/// Makes the same call on whichever backend this is.
macro_rules! on_backend {
    ($backend:expr, $store:ident => $call:expr) => {
        match $backend {
            Backend::Memory($store) => $call,
            Backend::DynamoDb($store) => $call,
        }
    };
}

#[async_trait]
impl StoreGet for Backend {
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        on_backend!(self, store => store.get(id).await)
    }
}

#[async_trait]
impl StoreCreate for Backend {
    async fn create_idempotent(
        &self,
        user: NewUser,
        idempotency: Option<IdempotentCreate>,
    ) -> Result<Created, StoreError> {
        on_backend!(self, store => store.create_idempotent(user, idempotency).await)
    }
}

#[async_trait]
impl StoreUpdate for Backend {
    async fn update(
        &self,
        id: UserId,
        changes: UserChanges,
        precondition: Precondition,
    ) -> Result<User, StoreError> {
        on_backend!(self, store => store.update(id, changes, precondition).await)
    }
}

#[async_trait]
impl StoreDelete for Backend {
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), StoreError> {
        on_backend!(self, store => store.delete(id, precondition).await)
    }
}

#[async_trait]
impl StoreList for Backend {
    async fn list(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError> {
        on_backend!(self, store => store.list(start, limit).await)
    }
}

#[async_trait]
impl StoreFind for Backend {
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        on_backend!(self, store => store.find_by_email(email).await)
    }
}

#[async_trait]
impl StorePing for Backend {
    fn backend(&self) -> &'static str {
        on_backend!(self, store => store.backend())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, store => store.ping().await)
    }
}
