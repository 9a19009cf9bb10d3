//! The CloudWatch alarms a deployment watches (`AutoRollbackConfiguration`), as the runtime reads
//! them: through [`AlarmStates`], which smemu wires to its alarm evaluator. Without one, no alarm
//! is ever in ALARM.

/// Reads alarm states for the deployment controller; called about once a second per deployment
/// that moves traffic or bakes, never on the invoke path.
pub trait AlarmStates: Send + Sync + 'static {
    /// The name of the first of `names` (alarms of `account` in `region`) whose state is ALARM, or
    /// that went into ALARM at or after `since_ms` (epoch milliseconds): a trip shorter than the
    /// poll counts.
    fn in_alarm(&self, account: &str, region: &str, names: &[String], since_ms: i64) -> Option<String>;
}

/// No alarms: what a runtime reads until it is given its [`AlarmStates`].
pub struct NoAlarms;

impl AlarmStates for NoAlarms {
    fn in_alarm(&self, _account: &str, _region: &str, _names: &[String], _since_ms: i64) -> Option<String> {
        None
    }
}

/// The alarms smemu evaluates (`smemu-telemetry`), read from memory: no await, no SQL.
impl AlarmStates for smemu_telemetry::alarms::Alarms {
    fn in_alarm(&self, account: &str, region: &str, names: &[String], since_ms: i64) -> Option<String> {
        names.iter().find(|name| self.alarmed_since(account, region, name, since_ms)).cloned()
    }
}
