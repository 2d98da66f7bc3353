//! The one fault-injecting store of the tests: a real in-memory store that, on command, fails
//! every call as unavailable, throttled or internal (with a cause that must never reach a client), or
//! hangs; and that counts the calls that reach it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::future::Future;

use shared::store::{MemoryStore, StoreCall, StoreError, StoreLayer};

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

impl StoreLayer for FaultyStore {
    type Inner = MemoryStore;

    fn inner(&self) -> &MemoryStore {
        &self.inner
    }

    async fn around<T: Send>(
        &self,
        _: StoreCall,
        future: impl Future<Output = Result<T, StoreError>> + Send,
    ) -> Result<T, StoreError> {
        self.fault().await?;
        future.await
    }
}
