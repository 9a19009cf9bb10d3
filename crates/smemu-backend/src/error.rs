//! Errors of the backends, in their own words, each with the engine verb and container it concerns.

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No engine answers (not installed, not started, wrong `DOCKER_HOST`, or too slow).
    #[error("the Docker engine at {host} cannot be reached ({reason}); start one with scripts/ensure-docker.sh")]
    EngineUnavailable { host: String, reason: String },
    #[error("image {image} is not present in the local Docker engine (and no registry can be reached to pull it)")]
    ImageNotFound { image: String },
    #[error("creating container {container}: {source}")]
    Create { container: String, source: bollard::errors::Error },
    #[error("starting container {container}: {source}")]
    Start { container: String, source: bollard::errors::Error },
    #[error("inspecting {target}: {source}")]
    Inspect { target: String, source: bollard::errors::Error },
    #[error("listing containers: {0}")]
    List(bollard::errors::Error),
    #[error("removing container {container}: {source}")]
    Remove { container: String, source: bollard::errors::Error },
    #[error("reading the logs of container {container}: {source}")]
    Logs { container: String, source: bollard::errors::Error },
    /// Container `index` (`name_in_pipeline`) stopped while its instance was being placed.
    #[error("container {name_in_pipeline} exited with code {code}; its last log lines: {log_tail}")]
    Exited { index: usize, name_in_pipeline: String, code: i64, log_tail: String },
    /// The namespace owner runs but Docker reports no loopback port for a container.
    #[error("container {container} publishes no port on 127.0.0.1")]
    NoPort { container: String },
    /// No container has this id (any more).
    #[error("no such container: {container}")]
    NoSuchContainer { container: String },
    /// A local resource the backend needs (a socket, a file) failed.
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
}
