//! The one fault-injecting store of the tests: a real in-memory store that, on command, fails
//! every call as unavailable, throttled or internal (with a cause that must never reach a client), or
//! hangs; and that counts the calls that reach it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use shared::domain::{
    NewUser, Page, PageLimit, PageStart, Precondition, User, UserChanges, UserId,
};
use shared::store::{
    Created, IdempotentCreate, MemoryStore, StoreCreate, StoreDelete, StoreError, StoreGet,
    StoreList, StorePing, StoreUpdate,
};

/// A cause with details that belong in logs only: an ARN and an SDK error name.
pub const SECRET_CAUSE: &str =
    "arn:aws:dynamodb:eu-west-1:123456789012:table/users ThrottlingException";

/// What every call does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Served by the in-memory store.
    #[default]
    None,
    /// Fails as a transient store failure ([`SECRET_CAUSE`] as its source).
    Unavailable,
    /// Refuses for capacity, as DynamoDB throttling does ([`SECRET_CAUSE`] as its source).
    Throttled,
    /// Fails as a permanent store failure ([`SECRET_CAUSE`] as its source).
    Internal,
    /// Never completes.
    Hang,
}

#[derive(Default)]
pub struct FaultyStore {
    inner: MemoryStore,
    fault: Mutex<Fault>,
    calls: AtomicUsize,
}

impl FaultyStore {
    /// A store that starts with every call doing `fault`.
    pub fn failing(fault: Fault) -> Self {
        let store = Self::default();
        store.set(fault);
        store
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Calls that reached this store so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    async fn fault(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = *self.fault.lock().unwrap();
        match fault {
            Fault::None => Ok(()),
            Fault::Unavailable => Err(StoreError::unavailable(SECRET_CAUSE)),
            Fault::Throttled => Err(StoreError::throttled(SECRET_CAUSE)),
            Fault::Internal => Err(StoreError::Internal(SECRET_CAUSE.into())),
            Fault::Hang => std::future::pending().await,
        }
    }
}

#[async_trait]
impl StoreGet for FaultyStore {
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.fault().await?;
        self.inner.get(id).await
    }
}

#[async_trait]
impl StoreCreate for FaultyStore {
    async fn create_idempotent(
        &self,
        user: NewUser,
        idempotency: Option<IdempotentCreate>,
    ) -> Result<Created, StoreError> {
        self.fault().await?;
        self.inner.create_idempotent(user, idempotency).await
    }
}

#[async_trait]
impl StoreUpdate for FaultyStore {
    async fn update(
        &self,
        id: UserId,
        changes: UserChanges,
        precondition: Precondition,
    ) -> Result<User, StoreError> {
        self.fault().await?;
        self.inner.update(id, changes, precondition).await
    }
}

#[async_trait]
impl StoreDelete for FaultyStore {
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), StoreError> {
        self.fault().await?;
        self.inner.delete(id, precondition).await
    }
}

#[async_trait]
impl StoreList for FaultyStore {
    async fn list(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError> {
        self.fault().await?;
        self.inner.list(start, limit).await
    }
}

#[async_trait]
impl StorePing for FaultyStore {
    fn backend(&self) -> &'static str {
        "faulty"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.fault().await
    }
}
