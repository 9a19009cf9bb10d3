//! smemu-types: the SageMaker shapes, enums, validators and operation lists generated from `api-models/`
//! into `src/generated/` (by `smemu-codegen`), and the small hand-written runtime they use.
//!
//! - [`sagemaker`] / [`runtime`]: one type per structure and enum shape, the `Operation` list (generated).
//! - [`Validate`], [`Violation`], [`ValidationErrors`]: input validation with the real service's messages.
//! - [`Timestamp`]: the `timestamp` shape type (epoch seconds on the wire).

pub mod auth;
pub mod blob;
mod check;
mod enum_value;
mod generated;
pub mod limits;
mod pattern;
mod render;
pub mod timestamp;
pub mod validate;

pub use generated::{cloudwatch, logs, runtime, sagemaker};
pub use timestamp::Timestamp;
pub use validate::{Validate, ValidationErrors, Violation, violation_message};
