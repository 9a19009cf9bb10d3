//! The CloudWatch alarms a deployment watches (`AutoRollbackConfiguration`), as the runtime reads
//! them: through [`AlarmStates`], which smemu wires to its alarm evaluator. Without one, no alarm
//! is ever in ALARM.

/// Reads alarm states for the deployment controller; called about once a second per deployment
/// that moves traffic or bakes, never on the invoke path.
pub trait AlarmStates: Send + Sync + 'static {
    /// The name of the first of `names` (alarms of `account` in `region`) whose state is ALARM.
    fn in_alarm(&self, account: &str, region: &str, names: &[String]) -> Option<String>;
}

/// No alarms: what a runtime reads until it is given its [`AlarmStates`].
pub struct NoAlarms;

impl AlarmStates for NoAlarms {
    fn in_alarm(&self, _account: &str, _region: &str, _names: &[String]) -> Option<String> {
        None
    }
}
