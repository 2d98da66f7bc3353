//! The six operations as requests: path, body and headers; the method and the answer each
//! expects are the contract's ([`Operation`]).

use async_trait::async_trait;
use bytes::Bytes;
use shared::contract::{self, FindRequest, Operation};
use shared::domain::{Precondition, UserId};
use shared::users::{
    CreateUser, ErrorKind, UserFields, UserPage, UserRecord, UserUpdate, Users, UsersError,
};

use super::{Answer, Call, UsersClient};
use crate::wire;

/// The answer as the operation's result: its error by code when it failed.
fn expect(answer: Answer, operation: Operation) -> Result<Answer, UsersError> {
    if answer.status == operation.success() {
        return Ok(answer);
    }
    Err(UsersError {
        kind: wire::error(answer.status, &answer.headers, &answer.body),
        request_id: wire::request_id(&answer.headers),
    })
}

fn read<T>(
    answer: &Answer,
    parse: impl FnOnce(&Answer) -> Result<T, ErrorKind>,
) -> Result<T, UsersError> {
    parse(answer).map_err(|kind| UsersError {
        kind,
        request_id: wire::request_id(&answer.headers),
    })
}

fn json(value: &impl serde::Serialize) -> Option<Bytes> {
    Some(Bytes::from(
        serde_json::to_vec(value).expect("plain data serialises"),
    ))
}

/// A fresh idempotency key for one logical create ([`shared::token::random_token`]).
fn new_idempotency_key() -> Result<String, UsersError> {
    shared::token::random_token()
        .map(|token| format!("users-client-{token}"))
        .map_err(|error| {
            UsersError::new(ErrorKind::Internal {
                message: format!("no idempotency key: the OS gave no randomness ({error})"),
            })
        })
}

#[async_trait]
impl Users for UsersClient {
    /// Always sends an `Idempotency-Key` (the caller's, or a fresh one for this create), the same
    /// on every attempt: a create whose answer was lost is retried without creating twice.
    async fn create(
        &self,
        user: CreateUser,
        idempotency_key: Option<&str>,
    ) -> Result<UserRecord, UsersError> {
        let generated;
        let key = match idempotency_key {
            Some(key) => key,
            None => {
                generated = new_idempotency_key()?;
                &generated
            }
        };
        let answer = self
            .call(Call {
                operation: Operation::CreateUser,
                path: contract::USERS_PATH.into(),
                body: json(&UserFields::from(user)),
                precondition: Precondition::None,
                idempotency_key: Some(key),
            })
            .await?;
        let answer = expect(answer, Operation::CreateUser)?;
        read(&answer, |a| wire::user(a.status, &a.headers, &a.body))
    }

    async fn get(&self, id: UserId) -> Result<UserRecord, UsersError> {
        let answer = self
            .call(Call {
                operation: Operation::GetUser,
                path: contract::user_path(id),
                body: None,
                precondition: Precondition::None,
                idempotency_key: None,
            })
            .await?;
        let answer = expect(answer, Operation::GetUser)?;
        read(&answer, |a| wire::user(a.status, &a.headers, &a.body))
    }

    async fn update(
        &self,
        id: UserId,
        update: UserUpdate,
        precondition: Precondition,
    ) -> Result<UserRecord, UsersError> {
        let answer = self
            .call(Call {
                operation: Operation::UpdateUser,
                path: contract::user_path(id),
                body: json(&update),
                precondition,
                idempotency_key: None,
            })
            .await?;
        let answer = expect(answer, Operation::UpdateUser)?;
        read(&answer, |a| wire::user(a.status, &a.headers, &a.body))
    }

    async fn delete(&self, id: UserId, precondition: Precondition) -> Result<(), UsersError> {
        let answer = self
            .call(Call {
                operation: Operation::DeleteUser,
                path: contract::user_path(id),
                body: None,
                precondition,
                idempotency_key: None,
            })
            .await?;
        expect(answer, Operation::DeleteUser).map(drop)
    }

    async fn list(&self, limit: Option<u32>, cursor: Option<&str>) -> Result<UserPage, UsersError> {
        let query = {
            let mut query = form_urlencoded::Serializer::new(String::new());
            if let Some(limit) = limit {
                query.append_pair("limit", &limit.to_string());
            }
            if let Some(cursor) = cursor {
                query.append_pair("cursor", cursor);
            }
            query.finish()
        };
        let path = if query.is_empty() {
            contract::USERS_PATH.to_owned()
        } else {
            format!("{}?{query}", contract::USERS_PATH)
        };
        let answer = self
            .call(Call {
                operation: Operation::ListUsers,
                path,
                body: None,
                precondition: Precondition::None,
                idempotency_key: None,
            })
            .await?;
        let answer = expect(answer, Operation::ListUsers)?;
        read(&answer, |a| wire::page(a.status, &a.body))
    }

    /// The address goes in the body of a `POST`, never in the URL, so that no access log on the
    /// way keeps it.
    async fn find_by_email(&self, email: &str) -> Result<UserRecord, UsersError> {
        let answer = self
            .call(Call {
                operation: Operation::FindUser,
                path: contract::FIND_PATH.into(),
                body: json(&FindRequest { email }),
                precondition: Precondition::None,
                idempotency_key: None,
            })
            .await?;
        let answer = expect(answer, Operation::FindUser)?;
        read(&answer, |a| wire::user(a.status, &a.headers, &a.body))
    }
}
