//! Command-line flags; every flag can also be given as an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

/// `smemu serve` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of the SageMaker API (control plane and runtime). Port 0 picks a free port.
    #[arg(long, env = "SMEMU_LISTEN", default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Directory for smemu's state (SQLite database, model artifacts, objects).
    #[arg(long, env = "SMEMU_DATA_DIR", default_value = ".smemu")]
    pub data_dir: PathBuf,
    /// Account used when a request's access key id is not a 12-digit account number.
    #[arg(long, env = "SMEMU_DEFAULT_ACCOUNT", default_value = "000000000000")]
    pub default_account: String,
    /// Region used for requests that carry no SigV4 credential scope.
    #[arg(long, env = "SMEMU_DEFAULT_REGION", default_value = "us-east-1")]
    pub default_region: String,
    /// Address of the embedded S3 server (model artifacts, batch data). Port 0 picks a free port.
    #[arg(long, env = "SMEMU_S3_LISTEN", default_value = "127.0.0.1:9091")]
    pub s3_listen: SocketAddr,
    /// Do not serve the embedded S3.
    #[arg(long, env = "SMEMU_NO_S3")]
    pub no_s3: bool,
    /// Use this S3 (AWS, MinIO, LocalStack...) for `s3://` URIs instead of the embedded one, with
    /// the usual AWS credential chain.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    pub s3_endpoint: Option<String>,
    /// Address buckets path-style (`http://host/bucket/key`) on the external S3.
    #[arg(long, env = "SMEMU_S3_PATH_STYLE")]
    pub s3_path_style: bool,
    /// Do not limit containers' CPU and memory by instance type.
    #[arg(long, env = "SMEMU_NO_RESOURCE_LIMITS")]
    pub no_resource_limits: bool,
    /// Log filter, e.g. `info` or `smemu_api=debug,info`.
    #[arg(long, env = "SMEMU_LOG", default_value = "info")]
    pub log_level: String,
    /// Log line format.
    #[arg(long, env = "SMEMU_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What [`crate::run`] needs, independent of how it was given.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub default_account: String,
    pub default_region: String,
    /// An external S3 for `s3://` URIs; `None` uses the embedded one.
    pub s3_endpoint: Option<String>,
    pub s3_path_style: bool,
    pub resource_limits: bool,
}

impl Config {
    /// Defaults for a data directory (tests, embedding).
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            default_account: "000000000000".into(),
            default_region: "us-east-1".into(),
            s3_endpoint: None,
            s3_path_style: false,
            resource_limits: true,
        }
    }
}

impl From<&ServeArgs> for Config {
    fn from(args: &ServeArgs) -> Self {
        Config {
            data_dir: args.data_dir.clone(),
            default_account: args.default_account.clone(),
            default_region: args.default_region.clone(),
            s3_endpoint: args.s3_endpoint.clone().filter(|e| !e.is_empty()),
            s3_path_style: args.s3_path_style,
            resource_limits: !args.no_resource_limits,
        }
    }
}
