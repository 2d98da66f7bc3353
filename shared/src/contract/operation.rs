//! The operations of the API, each described once: its name, how it is reached, what a request
//! carries (body, query, headers) and what it can answer. The server routes by it, observes
//! under its name and deploys one function per operation named by it; the client calls by it;
//! the tests list the functions, the template's routes and the OpenAPI document's paths from it.
//! An operation added to the enum must be described in every `match` here before anything
//! compiles, and then in `ALL` before the unit test below passes.

use enum_map::Enum;
use http::header::{IF_MATCH, IF_NONE_MATCH};
use http::{HeaderName, Method, StatusCode};

use super::{ErrorCode, USERS_PATH, headers};

/// The path of one user, with `{id}` for its id segment as API Gateway writes it.
pub const USER_PATH_PATTERN: &str = "/users/{id}";

/// Where a user is found by email: a `POST`, so that the address travels in the body, which no
/// access log records, rather than in a path or query string, which API Gateway's do. Never an
/// id (ids are digits), so no user's path is shadowed.
pub const FIND_PATH: &str = "/users/find";

/// The errors any routed request can meet, whatever its operation.
const ANY_REQUEST_ERRORS: [ErrorCode; 2] = [ErrorCode::Internal, ErrorCode::Unavailable];

/// The six operations of the API; each is one Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Enum)]
pub enum Operation {
    CreateUser,
    GetUser,
    UpdateUser,
    DeleteUser,
    ListUsers,
    FindUser,
}

/// One (method, path) pair that reaches an operation.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    /// The path pattern: [`USERS_PATH`], [`FIND_PATH`] or [`USER_PATH_PATTERN`].
    pub path: &'static str,
    pub operation: Operation,
}

impl Operation {
    pub const ALL: [Operation; 6] = [
        Operation::CreateUser,
        Operation::GetUser,
        Operation::UpdateUser,
        Operation::DeleteUser,
        Operation::ListUsers,
        Operation::FindUser,
    ];

    /// Its one name: in logs, metrics, spans and the client's calls, and the name of its
    /// function's binary and folder.
    pub const fn name(self) -> &'static str {
        match self {
            Operation::CreateUser => "create-user",
            Operation::GetUser => "get-user",
            Operation::UpdateUser => "update-user",
            Operation::DeleteUser => "delete-user",
            Operation::ListUsers => "list-users",
            Operation::FindUser => "find-user",
        }
    }

    /// The method the client sends it with.
    pub const fn method(self) -> Method {
        match self {
            Operation::CreateUser | Operation::FindUser => Method::POST,
            Operation::GetUser | Operation::ListUsers => Method::GET,
            Operation::UpdateUser => Method::PATCH,
            Operation::DeleteUser => Method::DELETE,
        }
    }

    /// Other methods that reach it and are answered alike: an update is a merge whether it
    /// comes as `PATCH` or as `PUT`.
    pub const fn also_answers(self) -> &'static [Method] {
        match self {
            Operation::UpdateUser => &[Method::PUT],
            Operation::CreateUser
            | Operation::GetUser
            | Operation::DeleteUser
            | Operation::ListUsers
            | Operation::FindUser => &[],
        }
    }

    /// Its path pattern: the collection, one user, or the find.
    pub const fn path(self) -> &'static str {
        match self {
            Operation::CreateUser | Operation::ListUsers => USERS_PATH,
            Operation::GetUser | Operation::UpdateUser | Operation::DeleteUser => USER_PATH_PATTERN,
            Operation::FindUser => FIND_PATH,
        }
    }

    /// The status it answers with when it does what was asked.
    pub const fn success(self) -> StatusCode {
        match self {
            Operation::CreateUser => StatusCode::CREATED,
            Operation::GetUser
            | Operation::UpdateUser
            | Operation::ListUsers
            | Operation::FindUser => StatusCode::OK,
            Operation::DeleteUser => StatusCode::NO_CONTENT,
        }
    }

    /// Whether a request carries a JSON body (a user's fields, or the email to find).
    pub const fn takes_body(self) -> bool {
        matches!(
            self,
            Operation::CreateUser | Operation::UpdateUser | Operation::FindUser
        )
    }

    /// The query parameters it reads.
    pub const fn query(self) -> &'static [&'static str] {
        match self {
            Operation::ListUsers => &["page", "limit", "cursor"],
            Operation::CreateUser
            | Operation::GetUser
            | Operation::UpdateUser
            | Operation::DeleteUser
            | Operation::FindUser => &[],
        }
    }

    /// The request headers of the contract it reads: the idempotency key of a create, the
    /// preconditions of a conditional read (answered `304`) or write (refused `412`).
    pub fn request_headers(self) -> &'static [HeaderName] {
        static IDEMPOTENT: [HeaderName; 1] = [headers::IDEMPOTENCY_KEY];
        static CONDITIONAL_READ: [HeaderName; 1] = [IF_NONE_MATCH];
        static CONDITIONAL_WRITE: [HeaderName; 1] = [IF_MATCH];
        match self {
            Operation::CreateUser => &IDEMPOTENT,
            Operation::GetUser => &CONDITIONAL_READ,
            Operation::UpdateUser | Operation::DeleteUser => &CONDITIONAL_WRITE,
            Operation::ListUsers | Operation::FindUser => &[],
        }
    }

    /// The errors particular to it, beside those any request can meet (`internal`,
    /// `unavailable`, and routing's `route_not_found` and `method_not_allowed`).
    pub const fn errors(self) -> &'static [ErrorCode] {
        match self {
            // A replayed create whose user was deleted since answers `user_not_found`.
            Operation::CreateUser => &[
                ErrorCode::InvalidJson,
                ErrorCode::InvalidArgument,
                ErrorCode::UserNotFound,
                ErrorCode::EmailTaken,
                ErrorCode::PayloadTooLarge,
                ErrorCode::IdempotencyKeyReused,
            ],
            Operation::GetUser => &[ErrorCode::InvalidArgument, ErrorCode::UserNotFound],
            Operation::UpdateUser => &[
                ErrorCode::InvalidJson,
                ErrorCode::InvalidArgument,
                ErrorCode::UserNotFound,
                ErrorCode::EmailTaken,
                ErrorCode::PreconditionFailed,
                ErrorCode::PayloadTooLarge,
            ],
            Operation::DeleteUser => &[
                ErrorCode::InvalidArgument,
                ErrorCode::UserNotFound,
                ErrorCode::PreconditionFailed,
            ],
            Operation::ListUsers => &[ErrorCode::InvalidArgument],
            Operation::FindUser => &[
                ErrorCode::InvalidJson,
                ErrorCode::InvalidArgument,
                ErrorCode::UserNotFound,
                ErrorCode::PayloadTooLarge,
            ],
        }
    }

    /// Every status it can answer with: its success, `304` for a conditional read, its errors'
    /// and those any request can meet.
    pub fn statuses(self) -> Vec<u16> {
        let mut statuses = vec![self.success().as_u16()];
        if self.request_headers().contains(&IF_NONE_MATCH) {
            statuses.push(StatusCode::NOT_MODIFIED.as_u16());
        }
        let errors = self.errors().iter().chain(&ANY_REQUEST_ERRORS);
        statuses.extend(errors.map(|code| code.status()));
        statuses.sort_unstable();
        statuses.dedup();
        statuses
    }

    /// Every route of the API, operation by operation: `template.yaml`, `openapi.yaml` and the
    /// server's routing are held to these.
    pub fn routes() -> impl Iterator<Item = Route> {
        Operation::ALL.into_iter().flat_map(|operation| {
            std::iter::once(operation.method())
                .chain(operation.also_answers().iter().cloned())
                .map(move |method| Route {
                    method,
                    path: operation.path(),
                    operation,
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one list that is not a `match`: an operation added to the enum must be given a
    /// position here (the match is exhaustive), and then fails this test until `ALL` holds it.
    #[test]
    fn all_holds_every_operation_once_in_order() {
        let position = |operation: Operation| match operation {
            Operation::CreateUser => 0,
            Operation::GetUser => 1,
            Operation::UpdateUser => 2,
            Operation::DeleteUser => 3,
            Operation::ListUsers => 4,
            Operation::FindUser => 5,
        };
        assert_eq!(Operation::ALL.map(position), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn no_two_operations_share_a_route() {
        let routes: Vec<(Method, &str)> = Operation::routes()
            .map(|route| (route.method, route.path))
            .collect();
        for (i, route) in routes.iter().enumerate() {
            assert!(!routes[i + 1..].contains(route), "{route:?} twice");
        }
    }
}
