//! The store contract through the typed client: a `UserStore` whose every call goes through
//! `client::UsersClient` to a real `local-api`, so the conformance cases that the HTTP API can
//! express (`conformance_tests!(@through_the_api ...)`) run end to end (client, HTTP, service,
//! store) on both backends. The client's own idempotent creates are tested in tests/api/client.rs.

use std::sync::Arc;

use async_trait::async_trait;
use client::{
    ClientConfig, CreateUser, ErrorKind, Precondition, UserRecord, UserUpdate, Users, UsersClient,
    UsersError,
};
use shared::contract::encode_cursor;
use shared::domain::{NewUser, Page, PageLimit, PageStart, User, UserChanges, UserId};
use shared::store::{
    Created, IdempotentCreate, StoreCreate, StoreDelete, StoreError, StoreFind, StoreGet,
    StoreList, StorePing, StoreUpdate,
};

use crate::dynamo::{as_pairs, fresh_table, process_env};
use crate::processes::LocalApi;

/// A store served by its own `local-api`, reached through the client.
pub struct ClientStore {
    client: UsersClient,
    _api: Arc<LocalApi>,
}

impl ClientStore {
    /// Over a `local-api` on the in-memory store.
    pub async fn in_memory() -> Self {
        Self::over(LocalApi::start(crate::IN_MEMORY).await)
    }

    /// Over a `local-api` on a fresh table of the DynamoDB test server.
    pub async fn on_dynamodb() -> Self {
        let env = process_env(&fresh_table("client-store").await);
        Self::over(LocalApi::start(&as_pairs(&env)).await)
    }

    fn over(api: LocalApi) -> Self {
        let urls = [api.client.base_url().to_owned()];
        let config = ClientConfig::new(client::discovery::from_list(&urls).expect("a URL"));
        Self {
            client: UsersClient::new(config, None).expect("a client"),
            _api: Arc::new(api),
        }
    }
}

fn user(record: UserRecord) -> User {
    User {
        id: record.id,
        name: record.name,
        email: record.email,
        age: record.age,
        version: record.version.unwrap_or_default(),
    }
}

fn store_error(error: UsersError) -> StoreError {
    match error.kind {
        ErrorKind::NotFound => StoreError::NotFound,
        ErrorKind::EmailTaken => StoreError::EmailTaken,
        ErrorKind::PreconditionFailed => StoreError::PreconditionFailed,
        ErrorKind::IdempotencyKeyReused => StoreError::IdempotencyKeyReused,
        ErrorKind::Unavailable { .. } => StoreError::unavailable(error.to_string()),
        _ => StoreError::Internal(error.to_string().into()),
    }
}

#[async_trait]
impl StoreGet for ClientStore {
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        match self.client.get(id).await {
            Ok(record) => Ok(Some(user(record))),
            Err(error) if error.kind == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(store_error(error)),
        }
    }
}

#[async_trait]
impl StoreCreate for ClientStore {
    async fn create_idempotent(
        &self,
        new: NewUser,
        idempotency: Option<IdempotentCreate>,
    ) -> Result<Created, StoreError> {
        assert!(
            idempotency.is_none(),
            "store-level idempotency records are not part of the HTTP API"
        );
        let request = CreateUser {
            name: new.name,
            email: new.email,
            age: Some(i64::from(new.age)),
        };
        let record = self
            .client
            .create(request, None)
            .await
            .map_err(store_error)?;
        Ok(Created::New(user(record)))
    }
}

#[async_trait]
impl StoreUpdate for ClientStore {
    async fn update(
        &self,
        id: UserId,
        changes: UserChanges,
        precondition: Precondition,
    ) -> Result<User, StoreError> {
        let update = UserUpdate {
            name: changes.name,
            email: changes.email,
            age: changes.age.map(i64::from),
        };
        let record = self
            .client
            .update(id, update, precondition)
            .await
            .map_err(store_error)?;
        Ok(user(record))
    }
}

#[async_trait]
impl StoreDelete for ClientStore {
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), StoreError> {
        self.client
            .delete(id, precondition)
            .await
            .map_err(store_error)
    }
}

#[async_trait]
impl StoreList for ClientStore {
    async fn list(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError> {
        let cursor = match start {
            PageStart::First => None,
            PageStart::After(id) => Some(encode_cursor(id)),
            PageStart::Skip(_) => panic!("offset pagination is not part of the client"),
        };
        let page = self
            .client
            .list(Some(limit.get()), cursor.as_deref())
            .await
            .map_err(store_error)?;
        let users: Vec<User> = page.users.into_iter().map(user).collect();
        // The wire's cursor is opaque; the store contract speaks of the last id instead.
        let next_after = page.next_cursor.and(users.last().map(|u| u.id));
        Ok(Page { users, next_after })
    }
}

#[async_trait]
impl StoreFind for ClientStore {
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        match self.client.find_by_email(email).await {
            Ok(record) => Ok(Some(user(record))),
            Err(error) if error.kind == ErrorKind::NotFound => Ok(None),
            Err(error) => Err(store_error(error)),
        }
    }
}

#[async_trait]
impl StorePing for ClientStore {
    fn backend(&self) -> &'static str {
        "client"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
