//! Endpoint statuses as stored and answered (the model's `EndpointStatus` values).

pub const CREATING: &str = "Creating";
pub const IN_SERVICE: &str = "InService";
pub const UPDATING: &str = "Updating";
pub const DELETING: &str = "Deleting";
pub const FAILED: &str = "Failed";
