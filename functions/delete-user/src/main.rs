//! The `delete-user` Lambda function: one operation of the users API, served by the shared runner.

use shared::transport::Api;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run(Api::delete_user).await
}
