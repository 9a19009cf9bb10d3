//! The state every request handler shares: one cheap-to-clone struct.

use std::sync::Arc;

use smemu_store::Store;
use smemu_types::auth::AccessKeys;

use smemu_runtime::Runtime;
use smemu_telemetry::logs::LogStore;

/// Settings that shape answers.
#[derive(Clone)]
pub struct ApiConfig {
    /// The account used when a request's access key id is not a 12-digit account number.
    pub default_account: String,
    /// The region used when a request carries no SigV4 credential scope.
    pub default_region: String,
    /// `--auth strict`: the keys whose SigV4 signatures are accepted; `None` (`--auth any`):
    /// signatures are not checked.
    pub access_keys: Option<Arc<AccessKeys>>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig { default_account: "000000000000".into(), default_region: "us-east-1".into(), access_keys: None }
    }
}

/// By hand, so that no log line can ever print a secret key.
impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("default_account", &self.default_account)
            .field("default_region", &self.default_region)
            .field("access_keys", &self.access_keys.as_ref().map(|keys| keys.iter().count()))
            .finish()
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ApiConfig>,
    /// CloudWatch's metrics (`<data-dir>/metrics.sqlite`); `None`: the metric operations fail.
    pub metrics: Option<smemu_telemetry::metrics::MetricStore>,
    /// Deploys and runs the pipelines: endpoints, invocations, transform jobs.
    pub runtime: Runtime,
    /// Containers' captured output, which the CloudWatch Logs operations read (`None`: no group exists).
    pub logs: Option<LogStore>,
    /// CloudWatch's metric alarms (`None`: the alarm operations fail).
    pub alarms: Option<smemu_telemetry::alarms::Alarms>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ApiConfig, runtime: Runtime) -> Self {
        AppState { store, config: Arc::new(config), runtime, metrics: None, logs: None, alarms: None }
    }

    /// Serves the CloudWatch Logs operations from `logs`.
    pub fn with_logs(mut self, logs: LogStore) -> Self {
        self.logs = Some(logs);
        self
    }

    /// Serves CloudWatch's metric operations from `metrics`.
    pub fn with_metrics(mut self, metrics: smemu_telemetry::metrics::MetricStore) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Serves CloudWatch's alarm operations from `alarms`.
    pub fn with_alarms(mut self, alarms: smemu_telemetry::alarms::Alarms) -> Self {
        self.alarms = Some(alarms);
        self
    }
}
