//! Why a deployment or a transform job failed, in the texts the service stores as
//! `FailureReason`.

/// The name smemu gives its instance quota in `ResourceLimitExceeded` texts and failure reasons.
pub const INSTANCE_QUOTA_NAME: &str =
    "Number of instances across all endpoints and transform jobs (smemu --max-instances)";

/// FailureReason allows at most this many characters.
const MAX_FAILURE_REASON: usize = 1024;

/// Why a transform job failed: its `FailureReason`. Container and data failures start as the real
/// service's do (`AlgorithmError: See job logs for more information`, `ClientError: `), then say
/// what smemu saw.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobFailure {
    /// A container answered an error, timed out or could not be reached while transforming an object.
    #[error(
        "AlgorithmError: See job logs for more information. Transforming {object} failed after {attempts} attempt(s): {cause}. Last log lines of {who}: {log_tail}"
    )]
    Algorithm { object: String, attempts: u32, cause: String, who: String, log_tail: String },
    /// An object could not be read, split, filtered, joined or written.
    #[error("ClientError: {object}: {reason}")]
    Data { object: String, reason: String },
    /// The inputs or settings cannot work (nothing to read, a bad manifest, bad execution parameters).
    #[error("ClientError: {0}")]
    Client(String),
    /// The containers did not start or never answered `/ping`.
    #[error("AlgorithmError: The model's containers did not start. {0}")]
    Startup(String),
    /// smemu stopped while the job ran; nothing resumes it.
    #[error(
        "smemu restarted while the job was running: its containers were removed and its outputs may be incomplete. Create a new transform job to run it again."
    )]
    Restarted,
}

impl JobFailure {
    /// A container's answer that was not 2xx, in the runtime's words.
    pub fn container_status(status: u16, who: &str, body: &str) -> String {
        let kind = if status >= 500 { "server" } else { "client" };
        format!("received {kind} error ({status}) from {who} with message \"{body}\"")
    }

    /// The text stored as FailureReason, cut to the length the API allows.
    pub fn reason(&self) -> String {
        let text = self.to_string();
        match text.char_indices().nth(MAX_FAILURE_REASON) {
            Some((cut, _)) => text[..cut].to_owned(),
            None => text,
        }
    }
}
