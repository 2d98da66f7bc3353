//! The in-memory backend: the default for local development and the reference the DynamoDB
//! backend is checked against.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::{
    Created, IdempotentCreate, StoreCreate, StoreDelete, StoreError, StoreFind, StoreGet,
    StoreList, StorePing, StoreUpdate,
};
use crate::domain::{
    NewUser, Page, PageLimit, PageStart, Precondition, User, UserChanges, UserId, email_key,
};

/// Users in a `BTreeMap` keyed by id (a page is a range scan: O(log n + limit)) plus a hash index
/// from normalised email to id (uniqueness checks in O(1)).
///
/// One `RwLock` guards both maps so they can never disagree; it is a blocking lock because no
/// operation awaits while holding it, so readers never wait on I/O.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<UserId, User>,
    ids_by_email: HashMap<String, UserId>,
    last_id: u64,
    /// Idempotency records by scoped key: the request's fingerprint, the user it created, and
    /// when the record expires. Expired ones are ignored, then replaced.
    creates_by_key: HashMap<String, (String, UserId, u64)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    // Every mutation checks before it changes anything, so a panic elsewhere cannot leave the maps
    // half-updated: recovering a poisoned lock is safe and keeps the process serving.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl StoreGet for MemoryStore {
    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.read().users.get(&id).cloned())
    }
}

#[async_trait]
impl StoreFind for MemoryStore {
    async fn find_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let state = self.read();
        let id = state.ids_by_email.get(&email_key(email));
        Ok(id.and_then(|id| state.users.get(id)).cloned())
    }
}

#[async_trait]
impl StoreCreate for MemoryStore {
    async fn create_idempotent(
        &self,
        new_user: NewUser,
        idempotency: Option<IdempotentCreate>,
    ) -> Result<Created, StoreError> {
        let key = email_key(&new_user.email);
        let mut state = self.write();
        let recorded = idempotency
            .as_ref()
            .and_then(|request| Some((request, state.creates_by_key.get(&request.key)?)))
            .filter(|(request, (_, _, expires_at))| *expires_at > request.now);
        if let Some((request, (fingerprint, id, _))) = recorded {
            if *fingerprint != request.fingerprint {
                return Err(StoreError::IdempotencyKeyReused);
            }
            return Ok(match state.users.get(id) {
                Some(user) => Created::Replayed(user.clone()),
                None => Created::ReplayedGone(*id),
            });
        }
        if state.ids_by_email.contains_key(&key) {
            return Err(StoreError::EmailTaken);
        }
        let id = state
            .last_id
            .checked_add(1)
            .and_then(UserId::new)
            .ok_or_else(|| StoreError::Internal("user ids exhausted".into()))?;
        state.last_id = id.get();
        let user = new_user.with_id(id);
        state.ids_by_email.insert(key, id);
        state.users.insert(id, user.clone());
        if let Some(request) = idempotency {
            let record = (request.fingerprint, id, request.expires_at);
            state.creates_by_key.insert(request.key, record);
        }
        Ok(Created::New(user))
    }
}

#[async_trait]
impl StoreUpdate for MemoryStore {
    async fn update(
        &self,
        id: UserId,
        changes: UserChanges,
        precondition: Precondition,
    ) -> Result<User, StoreError> {
        let mut guard = self.write();
        let state = &mut *guard;
        precondition.check(state.users.get(&id).map(|user| user.version))?;
        let current = state.users.get(&id).ok_or(StoreError::NotFound)?;
        let old_key = email_key(&current.email);
        let new_key = changes.email.as_deref().map(email_key);
        if let Some(new_key) = new_key.as_ref().filter(|k| **k != old_key) {
            if state.ids_by_email.contains_key(new_key) {
                return Err(StoreError::EmailTaken);
            }
            state.ids_by_email.remove(&old_key);
            state.ids_by_email.insert(new_key.clone(), id);
        }
        let user = state.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        changes.apply_to(user);
        user.version += 1;
        Ok(user.clone())
    }
}

#[async_trait]
impl StoreDelete for MemoryStore {
    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), StoreError> {
        let mut state = self.write();
        precondition.check(state.users.get(&id).map(|user| user.version))?;
        let user = state.users.remove(&id).ok_or(StoreError::NotFound)?;
        state.ids_by_email.remove(&email_key(&user.email));
        Ok(())
    }
}

#[async_trait]
impl StoreList for MemoryStore {
    async fn list(&self, start: PageStart, limit: PageLimit) -> Result<Page, StoreError> {
        let state = self.read();
        let take = limit.get() as usize + 1;
        let users: Vec<User> = match start {
            PageStart::First => state.users.values().take(take).cloned().collect(),
            PageStart::After(id) => state
                .users
                .range((Bound::Excluded(id), Bound::Unbounded))
                .map(|(_, user)| user)
                .take(take)
                .cloned()
                .collect(),
            PageStart::Skip(skip) => state
                .users
                .values()
                .skip(usize::try_from(skip.get()).unwrap_or(usize::MAX))
                .take(take)
                .cloned()
                .collect(),
        };
        Ok(Page::from_lookahead(users, limit))
    }
}

#[async_trait]
impl StorePing for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use super::*;

    fn new_user(email: &str) -> NewUser {
        NewUser {
            name: "Test".into(),
            email: email.into(),
            age: 1,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_creates_with_one_email_have_exactly_one_winner() {
        let store = Arc::new(MemoryStore::new());
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                // Same address in different cases: uniqueness is case-insensitive.
                let email = if i % 2 == 0 {
                    "Race@Example.com"
                } else {
                    "race@example.COM"
                };
                tokio::spawn(async move { store.create(new_user(email)).await })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => wins += 1,
                Err(StoreError::EmailTaken) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(wins, 1);
        let page = store
            .list(PageStart::First, PageLimit::new(100).unwrap())
            .await
            .unwrap();
        assert_eq!(page.users.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_creates_get_distinct_increasing_ids() {
        let store = Arc::new(MemoryStore::new());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(
                    async move { store.create(new_user(&format!("u{i}@example.com"))).await },
                )
            })
            .collect();
        let mut ids = HashSet::new();
        for task in tasks {
            ids.insert(task.await.unwrap().unwrap().id.get());
        }
        assert_eq!(ids.len(), 200);
        assert_eq!(ids.iter().min(), Some(&1));
        assert_eq!(ids.iter().max(), Some(&200));
    }

    #[tokio::test]
    async fn an_email_freed_by_update_or_delete_can_be_claimed_again() {
        let store = MemoryStore::new();
        let ann = store.create(new_user("ann@example.com")).await.unwrap();
        let bob = store.create(new_user("bob@example.com")).await.unwrap();
        let to_ann = UserChanges {
            email: Some("ANN@example.com".into()),
            ..Default::default()
        };
        assert!(matches!(
            store.update(bob.id, to_ann, Precondition::None).await,
            Err(StoreError::EmailTaken)
        ));
        assert_eq!(
            store.get(bob.id).await.unwrap().unwrap().email,
            "bob@example.com"
        );

        let respelled = UserChanges {
            email: Some("Ann@Example.com".into()),
            ..Default::default()
        };
        let ann = store
            .update(ann.id, respelled, Precondition::None)
            .await
            .unwrap();
        assert_eq!(ann.email, "Ann@Example.com");

        let moved = UserChanges {
            email: Some("carol@example.com".into()),
            ..Default::default()
        };
        store
            .update(ann.id, moved, Precondition::None)
            .await
            .unwrap();
        store.create(new_user("ann@example.com")).await.unwrap();

        store.delete(bob.id, Precondition::None).await.unwrap();
        store.create(new_user("bob@example.com")).await.unwrap();
        assert!(matches!(
            store.delete(bob.id, Precondition::None).await,
            Err(StoreError::NotFound)
        ));
    }
}
