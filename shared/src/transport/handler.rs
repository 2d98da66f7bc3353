//! The request handler: route, decode, call the service, encode. Every runtime calls
//! [`Api::handle`] (inside the request observer it wraps the API with); nothing about a request
//! is handled anywhere else.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use super::error::{ApiError, retry_after_header};
use super::routes::{RouteMatch, Routed, match_route};
use super::{conditional, decode, encode};
use crate::ErrorChain;
use crate::contract::Operation;
use crate::contract::headers;
use crate::domain::UserId;
use crate::service;
use crate::store::{
    DEFAULT_RETRY_AFTER, StoreCreate, StoreDelete, StoreError, StoreFind, StoreGet, StoreList,
    StorePing, StoreUpdate, Unavailable, UserStore,
};

/// The API over one store: all routes (for `local-api`) or one operation (for a Lambda function,
/// which answers other routes with 404 as API Gateway would never send them).
///
/// Each operation's handler holds only the store capability it needs, as each function's IAM
/// policy grants only the calls it makes. A function's `Api` is built by the constructor named
/// after its operation, so the other operations' store code is never referenced and the linker
/// drops it.
///
/// The API logs and counts nothing itself: runtimes serve it inside
/// [`RequestObserver::around`](crate::middleware::observe::RequestObserver::around), which reads
/// the [`Routed`] each response carries. A clone shares everything (a few reference counts), so
/// a runtime can hand each request its own.
#[derive(Clone)]
pub struct Api {
    handlers: Arc<[OperationHandler]>,
    ping: Arc<dyn StorePing>,
    /// How long an `Idempotency-Key` is remembered.
    idempotency_ttl: Duration,
}

/// One operation's handler, with the one store capability it needs: what an operation is served
/// with cannot disagree with which operation it is.
#[derive(Clone)]
enum OperationHandler {
    CreateUser(Arc<dyn StoreCreate>),
    GetUser(Arc<dyn StoreGet>),
    UpdateUser(Arc<dyn StoreUpdate>),
    DeleteUser(Arc<dyn StoreDelete>),
    ListUsers(Arc<dyn StoreList>),
    FindUser(Arc<dyn StoreFind>),
}

impl OperationHandler {
    /// `operation`'s handler over a store that has every capability.
    fn over<S: UserStore + 'static>(operation: Operation, store: &Arc<S>) -> Self {
        let store = store.clone();
        match operation {
            Operation::CreateUser => OperationHandler::CreateUser(store),
            Operation::GetUser => OperationHandler::GetUser(store),
            Operation::UpdateUser => OperationHandler::UpdateUser(store),
            Operation::DeleteUser => OperationHandler::DeleteUser(store),
            Operation::ListUsers => OperationHandler::ListUsers(store),
            Operation::FindUser => OperationHandler::FindUser(store),
        }
    }

    fn operation(&self) -> Operation {
        match self {
            OperationHandler::CreateUser(_) => Operation::CreateUser,
            OperationHandler::GetUser(_) => Operation::GetUser,
            OperationHandler::UpdateUser(_) => Operation::UpdateUser,
            OperationHandler::DeleteUser(_) => Operation::DeleteUser,
            OperationHandler::ListUsers(_) => Operation::ListUsers,
            OperationHandler::FindUser(_) => Operation::FindUser,
        }
    }

    async fn call(
        &self,
        id: Option<&str>,
        request: &Request,
        idempotency_ttl: Duration,
    ) -> Result<Response<Body>, ApiError> {
        match self {
            OperationHandler::CreateUser(store) => {
                create_user(&**store, request, idempotency_ttl).await
            }
            OperationHandler::GetUser(store) => {
                get_user(&**store, decode::user_id(id)?, request).await
            }
            OperationHandler::UpdateUser(store) => {
                update_user(&**store, decode::user_id(id)?, request).await
            }
            OperationHandler::DeleteUser(store) => {
                delete_user(&**store, decode::user_id(id)?, request).await
            }
            OperationHandler::ListUsers(store) => list_users(&**store, request).await,
            OperationHandler::FindUser(store) => find_user(&**store, request).await,
        }
    }
}

impl Api {
    /// Serves every route, and the health check.
    pub fn all_routes<S: UserStore + 'static>(store: Arc<S>) -> Self {
        let handlers = Operation::ALL.map(|operation| OperationHandler::over(operation, &store));
        Self::serving(&handlers, store)
    }

    /// `POST /users` alone: the create-user function.
    pub fn create_user<S: StoreCreate + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::serving(&[OperationHandler::CreateUser(store.clone())], store)
    }

    /// `GET /users/{id}` alone: the get-user function.
    pub fn get_user<S: StoreGet + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::serving(&[OperationHandler::GetUser(store.clone())], store)
    }

    /// `PUT`/`PATCH /users/{id}` alone: the update-user function.
    pub fn update_user<S: StoreUpdate + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::serving(&[OperationHandler::UpdateUser(store.clone())], store)
    }

    /// `DELETE /users/{id}` alone: the delete-user function.
    pub fn delete_user<S: StoreDelete + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::serving(&[OperationHandler::DeleteUser(store.clone())], store)
    }

    /// `GET /users` alone: the list-users function.
    pub fn list_users<S: StoreList + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::serving(&[OperationHandler::ListUsers(store.clone())], store)
    }

    /// `POST /users/find` alone: the find-user function.
    pub fn find_user<S: StoreFind + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::serving(&[OperationHandler::FindUser(store.clone())], store)
    }

    fn serving(handlers: &[OperationHandler], ping: Arc<dyn StorePing>) -> Self {
        Self {
            handlers: handlers.into(),
            ping,
            idempotency_ttl: service::DEFAULT_IDEMPOTENCY_TTL,
        }
    }

    /// Remembers `Idempotency-Key`s for `ttl` instead of the default day.
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_ttl = ttl;
        self
    }

    /// The store's short name (`memory`, `dynamodb`), for the observer's spans and the health
    /// output.
    pub fn backend(&self) -> &'static str {
        self.ping.backend()
    }

    /// Answers one request, and says what was routed ([`Routed`]) for the observer around the
    /// API. Never fails and never panics on input: every error becomes a response. Internal
    /// causes are logged here, once, with their full chain.
    pub async fn handle(&self, request: Request) -> (Response<Body>, Routed) {
        let routed = match_route(request.method(), routing_path(&request));
        let seen = match &routed {
            RouteMatch::Found {
                operation, route, ..
            } => Routed {
                operation: Some(*operation),
                route,
            },
            _ => Routed::UNMATCHED,
        };
        seen.record_in_current_span();
        let response = match self.route(routed, &request).await {
            Ok(response) => response,
            Err(error) => {
                if error.status().is_server_error() {
                    tracing::error!(error = %ErrorChain(&error), "request failed");
                }
                error.into_response()
            }
        };
        (response, seen)
    }

    /// 200 when the store answers, 503 (with `Retry-After`) when it does not: for load balancers
    /// and uptime checks in front of `local-api`.
    pub async fn health(&self) -> Response<Body> {
        let backend = self.backend();
        match self.ping.ping().await {
            Ok(()) => encode::health(StatusCode::OK, "ok", backend),
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "health check failed");
                let wait = match error {
                    StoreError::Unavailable(Unavailable { retry_after, .. })
                    | StoreError::Throttled { retry_after, .. }
                    | StoreError::Contended { retry_after } => retry_after,
                    _ => DEFAULT_RETRY_AFTER,
                };
                let mut response =
                    encode::health(StatusCode::SERVICE_UNAVAILABLE, "unavailable", backend);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_header(wait));
                response
            }
        }
    }

    async fn route(
        &self,
        routed: RouteMatch<'_>,
        request: &Request,
    ) -> Result<Response<Body>, ApiError> {
        match routed {
            RouteMatch::Found { operation, id, .. } => {
                let handler = self
                    .handlers
                    .iter()
                    .find(|handler| handler.operation() == operation)
                    .ok_or(ApiError::RouteNotFound)?;
                handler.call(id, request, self.idempotency_ttl).await
            }
            RouteMatch::NotFound => Err(ApiError::RouteNotFound),
            RouteMatch::MethodNotAllowed { allow } => Err(ApiError::MethodNotAllowed { allow }),
        }
    }
}

/// The path to route on. Under an API Gateway stage other than `$default`, lambda_http puts the
/// stage in front of the path (`/prod/users`); routes are defined without it.
///
/// lambda_http's own `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` does not cover this: it only stops
/// lambda_http from adding the stage, and an HTTP API's `rawPath` already carries it
/// (`/prod/users/2`), so the path would still start with the stage; and a setting read from the
/// environment on every request would misroute silently wherever it was forgotten.
fn routing_path(request: &Request) -> &str {
    let path = request.uri().path();
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.as_deref(),
        _ => None,
    };
    match stage {
        Some(stage) if stage != "$default" => path
            .strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(stage))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path),
        _ => path,
    }
}

// One handler per operation, each given only the store capability it needs.

async fn create_user(
    store: &dyn StoreCreate,
    request: &Request,
    ttl: Duration,
) -> Result<Response<Body>, ApiError> {
    let key = decode::idempotency_key(request.headers())?;
    let fields = decode::user_fields(request.body())?;
    let caller = caller(request);
    let idempotency = key.map(|key| service::Idempotency {
        key,
        caller: &caller,
        ttl,
    });
    Ok(
        match service::create_user(store, fields, idempotency).await? {
            service::CreateOutcome::Created(user) => encode::created(&user),
            service::CreateOutcome::Replayed(user) => {
                let mut response = encode::created(&user);
                response.headers_mut().insert(
                    headers::IDEMPOTENT_REPLAYED,
                    HeaderValue::from_static("true"),
                );
                response
            }
        },
    )
}

/// Who sent the request, as API Gateway authenticated them: the IAM principal's ARN (or caller
/// id), else a JWT's subject; empty where nothing authenticates (`local-api`). Idempotency keys
/// are scoped by it, hashed; it is never logged.
fn caller(request: &Request) -> String {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return String::new();
    };
    let Some(authorizer) = context.authorizer.as_ref() else {
        return String::new();
    };
    let iam = authorizer
        .iam
        .as_ref()
        .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone()));
    let jwt = || {
        let claims = &authorizer.jwt.as_ref()?.claims;
        claims.get("sub").map(|sub| format!("jwt:{sub}"))
    };
    iam.or_else(jwt).unwrap_or_default()
}

async fn get_user(
    store: &dyn StoreGet,
    id: UserId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let user = service::get_user(store, id).await?;
    if conditional::if_none_match(request.headers(), user.version)? {
        return Ok(encode::not_modified(user.version));
    }
    Ok(encode::user(Operation::GetUser.success(), &user))
}

async fn update_user(
    store: &dyn StoreUpdate,
    id: UserId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let precondition = conditional::if_match(request.headers())?;
    let fields = decode::user_fields(request.body())?;
    let user = service::update_user(store, id, fields, precondition).await?;
    Ok(encode::user(Operation::UpdateUser.success(), &user))
}

async fn delete_user(
    store: &dyn StoreDelete,
    id: UserId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let precondition = conditional::if_match(request.headers())?;
    service::delete_user(store, id, precondition).await?;
    Ok(encode::empty(Operation::DeleteUser.success()))
}

async fn list_users(store: &dyn StoreList, request: &Request) -> Result<Response<Body>, ApiError> {
    let (start, limit) = decode::list_query(request.uri().query())?;
    let page = service::list_users(store, start, limit).await?;
    Ok(encode::page(&page))
}

async fn find_user(store: &dyn StoreFind, request: &Request) -> Result<Response<Body>, ApiError> {
    let email = decode::find_email(request.body())?;
    let user = service::find_user(store, &email).await?;
    Ok(encode::user(Operation::FindUser.success(), &user))
}
