//! The request handler: route, decode, call the service, encode. Every runtime calls
//! [`Api::handle`]; nothing about a request is handled anywhere else.

use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use super::error::ApiError;
use super::routes::{Operation, RouteMatch, match_route};
use super::{decode, encode};
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
    /// response, and internal causes are logged here, once, with their full chain.
    pub async fn handle(&self, request: Request) -> Response<Body> {
        match self.route(&request).await {
            Ok(response) => response,
            Err(error) => {
                if error.status().is_server_error() {
                    tracing::error!(error = %ErrorChain(&error), status = error.status().as_u16(), "request failed");
                }
                error.into_response()
            }
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        match match_route(request.method(), routing_path(request)) {
            RouteMatch::Found { operation, id }
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
    Ok(encode::user(http::StatusCode::OK, &user))
}

async fn update_user(
    store: &dyn StoreUpdate,
    id: service::UserId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let input = decode::update_input(request.body())?;
    let user = service::update_user(store, id, input).await?;
    Ok(encode::user(http::StatusCode::OK, &user))
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
