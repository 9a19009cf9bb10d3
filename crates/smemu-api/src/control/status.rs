//! Endpoint statuses as stored and answered (the model's `EndpointStatus` values).

pub(crate) const CREATING: &str = "Creating";
pub(crate) const IN_SERVICE: &str = "InService";
pub(crate) const UPDATING: &str = "Updating";
pub(crate) const DELETING: &str = "Deleting";
pub(crate) const FAILED: &str = "Failed";
