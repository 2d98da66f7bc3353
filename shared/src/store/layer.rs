//! Decorators that do the same around every store call, written once for all seven capabilities.

use std::future::Future;

use async_trait::async_trait;
use enum_map::Enum;

use super::{
    Created, IdempotentCreate, StoreCreate, StoreDelete, StoreError, StoreFind, StoreGet,
    StoreList, StorePing, StoreUpdate,
};
use crate::domain::{NewUser, Page, PageLimit, PageStart, Precondition, User, UserChanges, UserId};

/// The store calls, one per capability trait: what a [`StoreLayer`] is told it wraps, and the
/// `call` label of the store metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum StoreCall {
    Get,
    Create,
    Update,
    Delete,
    List,
    Find,
    Ping,
}

impl StoreCall {
    /// The call's name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            StoreCall::Get => "get",
            StoreCall::Create => "create",
            StoreCall::Update => "update",
            StoreCall::Delete => "delete",
            StoreCall::List => "list",
            StoreCall::Find => "find",
            StoreCall::Ping => "ping",
        }
    }
}

/// A decorator that treats every call alike (bounds it, counts it, fails it on command).
/// Implement [`around`](Self::around) once and the capability traits come with it, each
/// forwarding to [`inner`](Self::inner) through `around`; a layer has a capability exactly where
/// its inner store has it, so a decorated function binary still links only its own operation.
/// A new store operation gets its forwarding here, once, for every layer.
pub trait StoreLayer: Send + Sync {
    type Inner: ?Sized + Send + Sync;

    /// The store this layer decorates.
    fn inner(&self) -> &Self::Inner;

    /// Runs `future`, the inner store's answer to `call`, inside this layer.
    fn around<T: Send>(
        &self,
        call: StoreCall,
        future: impl Future<Output = Result<T, StoreError>> + Send,
    ) -> impl Future<Output = Result<T, StoreError>> + Send;
}

#[async_trait]
impl<L: StoreLayer> StoreGet for L
where
    L::Inner: StoreGet,
{
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.around(StoreCall::Get, self.inner().get(id)).await
    }
}

#[async_trait]
impl<L: StoreLayer> StoreCreate for L
where
    L::Inner: StoreCreate,
{
    async fn create_idempotent(
        &self,
        user: NewUser,
        idempotency: Option<IdempotentCreate>,
    ) -> Result<Created, StoreError> {
        let create = self.inner().create_idempotent(user, idempotency);
        self.around(StoreCall::Create, create).await
    }
}

#[async_trait]
impl<L: StoreLayer> StoreUpdate for L
where
    L::Inner: StoreUpdate,
{
    async fn update(
        &self,
        id: UserId,
        changes: UserChanges,
        precondition: Precondition,
    ) -> Result<User, StoreError> {
        let update = self.inner().update(id, changes, precondition);
        self.around(StoreCall::Update, update).await
    }
}

#[async_trait]
impl<L: StoreLayer> StoreDelete for L
where
    L::Inner: StoreDelete,
{
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), StoreError> {
        let delete = self.inner().delete(id, precondition);
        self.around(StoreCall::Delete, delete).await
    }
}

#[async_trait]
impl<L: StoreLayer> StoreList for L
where
    L::Inner: StoreList,
{
    async fn list(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError> {
        self.around(StoreCall::List, self.inner().list(start, limit))
            .await
    }
}

#[async_trait]
impl<L: StoreLayer> StoreFind for L
where
    L::Inner: StoreFind,
{
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let find = self.inner().find_by_email(email);
        self.around(StoreCall::Find, find).await
    }
}

#[async_trait]
impl<L: StoreLayer> StorePing for L
where
    L::Inner: StorePing,
{
    fn backend(&self) -> &'static str {
        self.inner().backend()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.around(StoreCall::Ping, self.inner().ping()).await
    }
}
