//! The `publish-events` Lambda function: the users table's stream, published as domain events on
//! EventBridge by the shared runner.

fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_events()
}
