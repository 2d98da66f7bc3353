//! The `find-user` Lambda function: one operation of the users API, served by the shared runner.

use shared::transport::Api;

fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(Api::find_user)
}
