//! The request handler: route, decode, call the service, encode, inside the request logging and
//! metrics layer. Every runtime calls [`Api::handle`]; nothing about a request is handled
//! anywhere else.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use super::error::{ApiError, retry_after_header};
use super::routes::{Operation, RouteMatch, match_route};
use super::{conditional, decode, encode};
use crate::ErrorChain;
use crate::contract::headers;
use crate::domain::UserId;
use crate::middleware::observe::{RequestMetrics, RequestObserver, Routed};
use crate::service;
use crate::store::{
    DEFAULT_RETRY_AFTER, StoreCreate, StoreDelete, StoreError, StoreGet, StoreList, StorePing,
    StoreUpdate, UserStore,
};

/// The API over one store: all routes (for `local-api`) or one operation (for a Lambda function,
/// which answers other routes with 404 as API Gateway would never send them).
///
/// Each endpoint holds only the store capability it needs, as each function's IAM policy grants
/// only the calls it makes. A function's `Api` is built by the constructor named after its
/// operation, so the other operations' store code is never referenced and the linker drops it.
///
/// Built after the metrics recorder is installed: it registers its request metrics then. A clone
/// shares everything (a few reference counts), so a runtime can hand each request its own.
#[derive(Clone)]
pub struct Api {
    router: Router,
    observe: RequestObserver,
    backend: &'static str,
}

/// Routing, decoding, the service call and encoding: the handler inside the observe layer.
#[derive(Clone)]
struct Router {
    only: Option<Operation>,
    capabilities: Arc<Capabilities>,
    /// How long an `Idempotency-Key` is remembered.
    idempotency_ttl: Duration,
}

/// The store capabilities behind the routes this API serves, one per operation.
#[derive(Default)]
struct Capabilities {
    create: Option<Arc<dyn StoreCreate>>,
    get: Option<Arc<dyn StoreGet>>,
    update: Option<Arc<dyn StoreUpdate>>,
    delete: Option<Arc<dyn StoreDelete>>,
    list: Option<Arc<dyn StoreList>>,
    ping: Option<Arc<dyn StorePing>>,
}

impl Api {
    /// Serves every route, and the health check.
    pub fn all_routes<S: UserStore + 'static>(store: Arc<S>) -> Self {
        let backend = store.backend();
        let capabilities = Capabilities {
            create: Some(store.clone()),
            get: Some(store.clone()),
            update: Some(store.clone()),
            delete: Some(store.clone()),
            list: Some(store.clone()),
            ping: Some(store),
        };
        Self::serving(None, backend, capabilities)
    }

    /// `POST /users` alone: the create-user function.
    pub fn create_user<S: StoreCreate + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::single(Operation::CreateUser, store.backend(), |e| {
            e.create = Some(store)
        })
    }

    /// `GET /users/{id}` alone: the get-user function.
    pub fn get_user<S: StoreGet + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::single(Operation::GetUser, store.backend(), |e| e.get = Some(store))
    }

    /// `PUT`/`PATCH /users/{id}` alone: the update-user function.
    pub fn update_user<S: StoreUpdate + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::single(Operation::UpdateUser, store.backend(), |e| {
            e.update = Some(store)
        })
    }

    /// `DELETE /users/{id}` alone: the delete-user function.
    pub fn delete_user<S: StoreDelete + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::single(Operation::DeleteUser, store.backend(), |e| {
            e.delete = Some(store)
        })
    }

    /// `GET /users` alone: the list-users function.
    pub fn list_users<S: StoreList + StorePing + 'static>(store: Arc<S>) -> Self {
        Self::single(Operation::ListUsers, store.backend(), |e| {
            e.list = Some(store)
        })
    }

    fn single(
        operation: Operation,
        backend: &'static str,
        grant: impl FnOnce(&mut Capabilities),
    ) -> Self {
        let mut capabilities = Capabilities::default();
        grant(&mut capabilities);
        Self::serving(Some(operation), backend, capabilities)
    }

    fn serving(only: Option<Operation>, backend: &'static str, capabilities: Capabilities) -> Self {
        Self {
            router: Router {
                only,
                capabilities: Arc::new(capabilities),
                idempotency_ttl: service::DEFAULT_IDEMPOTENCY_TTL,
            },
            observe: RequestObserver::new(Arc::new(RequestMetrics::register()), backend),
            backend,
        }
    }

    /// Remembers `Idempotency-Key`s for `ttl` instead of the default day.
    pub fn with_idempotency_ttl(mut self, ttl: Duration) -> Self {
        self.router.idempotency_ttl = ttl;
        self
    }

    /// Answers one request. Never fails and never panics on input: every error becomes a
    /// response. The observe layer gives each request one span and one "request completed" event,
    /// its metrics and its `x-request-id`; internal causes are logged inside the span, once, with
    /// their full chain.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let router = &self.router;
        self.observe
            .around(request, |request| router.respond(request))
            .await
    }

    /// 200 when the store answers, 503 (with `Retry-After`) when it does not: for load balancers
    /// and uptime checks in front of `local-api`.
    pub async fn health(&self) -> Response<Body> {
        let Some(store) = &self.router.capabilities.ping else {
            return ApiError::RouteNotFound.into_response();
        };
        match store.ping().await {
            Ok(()) => encode::health(StatusCode::OK, "ok", self.backend),
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "health check failed");
                let wait = match error {
                    StoreError::Unavailable { retry_after, .. }
                    | StoreError::Throttled { retry_after, .. } => retry_after,
                    _ => DEFAULT_RETRY_AFTER,
                };
                let mut response =
                    encode::health(StatusCode::SERVICE_UNAVAILABLE, "unavailable", self.backend);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after_header(wait));
                response
            }
        }
    }
}

impl Router {
    async fn respond(&self, request: Request) -> Response<Body> {
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
        let mut response = match self.route(routed, &request).await {
            Ok(response) => response,
            Err(error) => {
                if error.status().is_server_error() {
                    tracing::error!(error = %ErrorChain(&error), "request failed");
                }
                error.into_response()
            }
        };
        response.extensions_mut().insert(seen);
        response
    }

    async fn route(
        &self,
        routed: RouteMatch<'_>,
        request: &Request,
    ) -> Result<Response<Body>, ApiError> {
        match routed {
            RouteMatch::Found { operation, id, .. }
                if self.only.is_none_or(|only| only == operation) =>
            {
                self.call(operation, id, request).await
            }
            RouteMatch::Found { .. } | RouteMatch::NotFound => Err(ApiError::RouteNotFound),
            RouteMatch::MethodNotAllowed { allow } => Err(ApiError::MethodNotAllowed { allow }),
        }
    }

    async fn call(
        &self,
        operation: Operation,
        id: Option<&str>,
        request: &Request,
    ) -> Result<Response<Body>, ApiError> {
        let capabilities = &self.capabilities;
        match operation {
            Operation::CreateUser => {
                let ttl = self.idempotency_ttl;
                create_user(served(&capabilities.create)?, request, ttl).await
            }
            Operation::GetUser => {
                get_user(served(&capabilities.get)?, decode::user_id(id)?, request).await
            }
            Operation::UpdateUser => {
                update_user(served(&capabilities.update)?, decode::user_id(id)?, request).await
            }
            Operation::DeleteUser => {
                delete_user(served(&capabilities.delete)?, decode::user_id(id)?, request).await
            }
            Operation::ListUsers => list_users(served(&capabilities.list)?, request).await,
        }
    }
}

/// The capability behind an operation, if this API serves it.
fn served<T: ?Sized>(endpoint: &Option<Arc<T>>) -> Result<&T, ApiError> {
    endpoint.as_deref().ok_or(ApiError::RouteNotFound)
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

// One endpoint per operation, each given only the store capability it needs.

async fn create_user(
    store: &dyn StoreCreate,
    request: &Request,
    ttl: Duration,
) -> Result<Response<Body>, ApiError> {
    let key = decode::idempotency_key(request.headers())?;
    let input = decode::user_input(request.body())?;
    let caller = caller(request);
    let idempotency = key.map(|key| service::Idempotency {
        key,
        caller: &caller,
        ttl,
    });
    Ok(
        match service::create_user(store, input, idempotency).await? {
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
    Ok(encode::user(StatusCode::OK, &user))
}

async fn update_user(
    store: &dyn StoreUpdate,
    id: UserId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let precondition = conditional::if_match(request.headers())?;
    let input = decode::user_input(request.body())?;
    let user = service::update_user(store, id, input, precondition).await?;
    Ok(encode::user(StatusCode::OK, &user))
}

async fn delete_user(
    store: &dyn StoreDelete,
    id: UserId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let precondition = conditional::if_match(request.headers())?;
    service::delete_user(store, id, precondition).await?;
    Ok(encode::no_content())
}

async fn list_users(store: &dyn StoreList, request: &Request) -> Result<Response<Body>, ApiError> {
    let (start, limit) = decode::list_query(request.uri().query())?;
    let page = service::list_users(store, start, limit).await?;
    Ok(encode::page(&page))
}
