//! The cold-start floor: a bare lambda_http function answering every request with a constant.

use std::convert::Infallible;

use lambda_http::{Body, Request, Response, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(|_: Request| async {
        let mut response = Response::new(Body::Text(r#"{"hello":"world"}"#.to_owned()));
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        Ok::<_, Infallible>(response)
    }))
    .await
}
