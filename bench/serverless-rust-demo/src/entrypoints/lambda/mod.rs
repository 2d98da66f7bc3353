pub mod apigateway;
pub mod dynamodb;
