//! The request handler: route, decode, call the service, encode. Every runtime calls
//! [`Api::handle`]; nothing about a request is handled anywhere else.

use std::sync::Arc;

use std::time::Instant;

use http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

use super::error::{ApiError, RETRY_AFTER_SECONDS};
use super::routes::{Operation, RouteMatch, match_route};
use super::{decode, encode};
use crate::middleware::observe;
use crate::service;
use crate::store::{StoreCreate, StoreDelete, StoreGet, StoreList, StoreUpdate, UserStore};

/// The API over one store: all routes (for `local-api`) or one operation (for a Lambda function,
/// which answers other routes with 404 as API Gateway would never send them).
#[derive(Clone)]
pub struct Api {
    store: Arc<dyn UserStore>,
    only: Option<Operation>,
}

impl Api {
    /// Serves every route.
    pub fn all_routes(store: Arc<dyn UserStore>) -> Self {
        Self { store, only: None }
    }

    /// Serves `operation` alone.
    pub fn single(operation: Operation, store: Arc<dyn UserStore>) -> Self {
        Self {
            store,
            only: Some(operation),
        }
    }

    /// Answers one request. Never fails and never panics on input: every error becomes a
    /// response. Each request gets one span (request id, operation, method, route, status,
    /// latency, cold start, store) and one "request completed" event; internal causes are logged
    /// inside it, once, with their full chain.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let request_id = observe::request_id(&request);
        let routed = match_route(request.method(), routing_path(&request));
        let (operation, route) = match &routed {
            RouteMatch::Found {
                operation, route, ..
            } => (operation.name(), *route),
            _ => ("none", "unmatched"),
        };
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            operation,
            method = %request.method(),
            route,
            cold_start = observe::take_cold_start(),
            store = self.store.backend(),
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let mut response = match self.route(routed, &request).instrument(span.clone()).await {
            Ok(response) => response,
            Err(error) => {
                if error.status().is_server_error() {
                    span.in_scope(
                        || tracing::error!(error = %ErrorChain(&error), "request failed"),
                    );
                }
                error.into_response()
            }
        };
        let latency = started.elapsed();
        span.record("status", response.status().as_u16());
        span.record("latency_ms", latency.as_secs_f64() * 1000.0);
        span.in_scope(|| tracing::info!("request completed"));
        observe::record_request(operation, response.status(), latency);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", value);
        }
        response
    }

    /// 200 when the store answers, 503 (with `Retry-After`) when it does not: for load balancers
    /// and uptime checks in front of `local-api`.
    pub async fn health(&self) -> Response<Body> {
        let backend = self.store.backend();
        match self.store.ping().await {
            Ok(()) => encode::health(StatusCode::OK, "ok", backend),
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "health check failed");
                let mut response =
                    encode::health(StatusCode::SERVICE_UNAVAILABLE, "unavailable", backend);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
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
        let store = &*self.store;
        match operation {
            Operation::CreateUser => create_user(store, request).await,
            Operation::GetUser => get_user(store, decode::user_id(id)?).await,
            Operation::UpdateUser => update_user(store, decode::user_id(id)?, request).await,
            Operation::DeleteUser => delete_user(store, decode::user_id(id)?).await,
            Operation::ListUsers => list_users(store, request).await,
        }
    }
}

/// The path to route on. Under an API Gateway stage other than `$default`, lambda_http puts the
/// stage in front of the path (`/prod/users`); routes are defined without it.
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
) -> Result<Response<Body>, ApiError> {
    let input = decode::create_input(request.body())?;
    let user = service::create_user(store, input).await?;
    Ok(encode::created(&user))
}

async fn get_user(store: &dyn StoreGet, id: service::UserId) -> Result<Response<Body>, ApiError> {
    let user = service::get_user(store, id).await?;
    Ok(encode::user(StatusCode::OK, &user))
}

async fn update_user(
    store: &dyn StoreUpdate,
    id: service::UserId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let input = decode::update_input(request.body())?;
    let user = service::update_user(store, id, input).await?;
    Ok(encode::user(StatusCode::OK, &user))
}

async fn delete_user(
    store: &dyn StoreDelete,
    id: service::UserId,
) -> Result<Response<Body>, ApiError> {
    service::delete_user(store, id).await?;
    Ok(encode::no_content())
}

async fn list_users(store: &dyn StoreList, request: &Request) -> Result<Response<Body>, ApiError> {
    let (start, limit) = decode::list_query(request.uri().query())?;
    let page = service::list_users(store, start, limit).await?;
    Ok(encode::page(&page))
}

/// Displays an error with every `source` below it, so logs show the root cause (an SDK error,
/// say) that the client-facing message leaves out.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}
