//! The SageMaker API of smemu: the wire protocols (`wire`), the operations (`ops`) and the
//! errors clients see (`error`).
//!
//! Only `wire` knows HTTP. Operations take a [`RequestContext`] and a generated input shape and
//! return a generated output shape or an [`ApiError`].

mod arn;
mod context;
mod error;
mod ops;
mod state;
pub mod wire;

pub use context::RequestContext;
pub use error::ApiError;

pub use state::{ApiConfig, AppState};
