//! SageMaker's shapes for smemu: generated from botocore's models (`generated/`, by
//! `smemu-codegen`), plus the small runtime they use (timestamps, validation).

pub mod generated;
mod timestamp;
mod validate;

pub use generated::{runtime, sagemaker};
pub use timestamp::Timestamp;
pub use validate::{Validate, ValidationErrors, Violation, check, violation_message};
