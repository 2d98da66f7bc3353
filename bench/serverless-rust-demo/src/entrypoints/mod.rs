#[cfg(feature = "lambda")]
pub mod lambda;
