//! The route table: the single source of truth for which (method, path) pairs exist.
//!
//! Ids are taken from the path itself rather than API Gateway's `pathParameters`, which do not
//! exist behind a function URL or `cargo lambda watch`.

use http::Method;

use crate::contract::USERS_PATH;
pub use crate::service::Operation;

/// One row of the route table. `path` uses `{id}` for the user id segment, as API Gateway does.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub operation: Operation,
}

const COLLECTION: &str = USERS_PATH;
const ITEM: &str = "/users/{id}";

/// Every route of the API. `template.yaml` is tested against this table.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: COLLECTION,
        operation: Operation::CreateUser,
    },
    Route {
        method: Method::GET,
        path: COLLECTION,
        operation: Operation::ListUsers,
    },
    Route {
        method: Method::GET,
        path: ITEM,
        operation: Operation::GetUser,
    },
    Route {
        method: Method::PUT,
        path: ITEM,
        operation: Operation::UpdateUser,
    },
    Route {
        method: Method::PATCH,
        path: ITEM,
        operation: Operation::UpdateUser,
    },
    Route {
        method: Method::DELETE,
        path: ITEM,
        operation: Operation::DeleteUser,
    },
];

/// What the handler found a request to be, attached to its response for the request observer
/// (`middleware::observe`) to log and count: the operation (`None` when no route matched) and the route pattern, never a raw path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routed {
    pub operation: Option<Operation>,
    pub route: &'static str,
}

impl Routed {
    /// A request that matched no route (or was refused before routing).
    pub const UNMATCHED: Routed = Routed {
        operation: None,
        route: "unmatched",
    };

    /// Names the operation and route on the current `request` span, so that every event the
    /// handler logs from here on carries them.
    pub fn record_in_current_span(self) {
        let span = tracing::Span::current();
        span.record("operation", operation_label(self.operation));
        span.record("route", self.route);
    }
}

/// The `operation` a request is logged and counted under: `none` when no route matched.
pub fn operation_label(operation: Option<Operation>) -> &'static str {
    operation.map_or("none", Operation::name)
}

/// What the route table says about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteMatch<'a> {
    /// A route matched; `id` is the raw `{id}` segment, still to be validated, and `route` the
    /// route's path pattern (for logs and metrics: it never holds an id).
    Found {
        operation: Operation,
        route: &'static str,
        id: Option<&'a str>,
    },
    /// The path exists but not with this method; `allow` lists the methods it has.
    MethodNotAllowed {
        allow: Vec<Method>,
    },
    NotFound,
}

/// Matches a request path (without query string) against [`ROUTES`]. One trailing slash is
/// tolerated, since clients add it casually.
pub fn match_route<'a>(method: &Method, path: &'a str) -> RouteMatch<'a> {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    let (pattern, id) = if path == COLLECTION {
        (COLLECTION, None)
    } else if let Some(id) = path.strip_prefix("/users/").filter(|id| !id.contains('/')) {
        (ITEM, Some(id))
    } else {
        return RouteMatch::NotFound;
    };
    let mut allow = Vec::new();
    for route in ROUTES.iter().filter(|r| r.path == pattern) {
        if route.method == *method {
            return RouteMatch::Found {
                operation: route.operation,
                route: route.path,
                id,
            };
        }
        allow.push(route.method.clone());
    }
    RouteMatch::MethodNotAllowed { allow }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_matches_itself() {
        for route in ROUTES {
            let path = route.path.replace("{id}", "7");
            let RouteMatch::Found { operation, id, .. } = match_route(&route.method, &path) else {
                panic!("{route:?} did not match");
            };
            assert_eq!(operation, route.operation);
            assert_eq!(id.is_some(), route.path.contains("{id}"));
        }
    }

    #[test]
    fn ids_come_from_the_path() {
        assert_eq!(
            match_route(&Method::GET, "/users/42/"),
            RouteMatch::Found {
                operation: Operation::GetUser,
                route: ITEM,
                id: Some("42")
            }
        );
        // An empty id segment is a bad id (400), not an unknown route.
        assert_eq!(
            match_route(&Method::GET, "/users//"),
            RouteMatch::Found {
                operation: Operation::GetUser,
                route: ITEM,
                id: Some("")
            }
        );
        assert_eq!(
            match_route(&Method::GET, "/users/abc"),
            RouteMatch::Found {
                operation: Operation::GetUser,
                route: ITEM,
                id: Some("abc")
            }
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_told_apart() {
        for path in ["/", "", "/user", "/users/1/2", "/userss", "/users///"] {
            assert_eq!(
                match_route(&Method::GET, path),
                RouteMatch::NotFound,
                "{path}"
            );
        }
        assert_eq!(
            match_route(&Method::DELETE, "/users"),
            RouteMatch::MethodNotAllowed {
                allow: vec![Method::POST, Method::GET]
            }
        );
        assert_eq!(
            match_route(&Method::POST, "/users/1"),
            RouteMatch::MethodNotAllowed {
                allow: vec![Method::GET, Method::PUT, Method::PATCH, Method::DELETE]
            }
        );
    }
}
