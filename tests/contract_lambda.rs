//! The HTTP contract through lambda_http's API Gateway (payload 2.0) event handling, in-process.

use integration_tests::contract_tests;
use integration_tests::lambda_target::LambdaTarget;

contract_tests!(LambdaTarget::in_memory());
