//! The HTTP contract, in one place: which routes exist, how requests are decoded, how results and
//! errors are encoded. It works on `lambda_http::Request` (an `http::Request`), so the Lambda
//! functions and `local-api` run exactly the same code.

mod conditional;
mod decode;
mod encode;
mod error;
mod handler;
mod routes;

pub use decode::MAX_BODY_BYTES;
pub use error::ApiError;
pub use handler::Api;
pub use routes::{Routed, operation_label};
