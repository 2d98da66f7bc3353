//! Routing by the contract's operations ([`Operation::routes`]): which (method, path) pairs exist.
//!
//! Ids are taken from the path itself rather than API Gateway's `pathParameters`, which do not
//! exist behind a function URL or `cargo lambda watch`.

use http::Method;

use crate::contract::{Operation, USER_PATH_PATTERN};

/// What the handler found a request to be, returned beside its response for the request
/// observer (`middleware::observe`) to log and count: the operation (`None` when no route
/// matched) and the route pattern, never a raw path.
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

/// Matches a request path (without query string) against the operations' routes. One trailing
/// slash is tolerated, since clients add it casually.
pub fn match_route<'a>(method: &Method, path: &'a str) -> RouteMatch<'a> {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    // A path without a variable is matched as it is, before the one with `{id}` (as API
    // Gateway prefers the most specific route): `/users/find` is never user "find".
    let literal = Operation::ALL
        .map(Operation::path)
        .into_iter()
        .find(|pattern| !pattern.contains('{') && *pattern == path);
    let (pattern, id) = if let Some(pattern) = literal {
        (pattern, None)
    } else if let Some(id) = path.strip_prefix("/users/").filter(|id| !id.contains('/')) {
        (USER_PATH_PATTERN, Some(id))
    } else {
        return RouteMatch::NotFound;
    };
    let mut allow = Vec::new();
    for route in Operation::routes().filter(|r| r.path == pattern) {
        if route.method == *method {
            return RouteMatch::Found {
                operation: route.operation,
                route: route.path,
                id,
            };
        }
        allow.push(route.method);
    }
    RouteMatch::MethodNotAllowed { allow }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_matches_itself() {
        for route in Operation::routes() {
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
                route: USER_PATH_PATTERN,
                id: Some("42")
            }
        );
        // An empty id segment is a bad id (400), not an unknown route.
        assert_eq!(
            match_route(&Method::GET, "/users//"),
            RouteMatch::Found {
                operation: Operation::GetUser,
                route: USER_PATH_PATTERN,
                id: Some("")
            }
        );
        assert_eq!(
            match_route(&Method::GET, "/users/abc"),
            RouteMatch::Found {
                operation: Operation::GetUser,
                route: USER_PATH_PATTERN,
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
            match_route(&Method::GET, "/users/find"),
            RouteMatch::MethodNotAllowed {
                allow: vec![Method::POST]
            }
        );
        assert_eq!(
            match_route(&Method::POST, "/users/1"),
            RouteMatch::MethodNotAllowed {
                allow: vec![Method::GET, Method::PATCH, Method::PUT, Method::DELETE]
            }
        );
    }
}
