//! What the environment asks of this server: its role and the tag it stamps on lines.

/// The behaviour picked by `SMEMU_TEST_ROLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Echo,
    Transform,
    Predict,
    EchoEnv,
    Forward,
    Fail,
    Slow,
    Crash,
    PingFail,
    Stream,
    Flaky,
}

impl Role {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "echo" => Role::Echo,
            "transform" => Role::Transform,
            "predict" => Role::Predict,
            "echo-env" => Role::EchoEnv,
            "forward" => Role::Forward,
            "fail" => Role::Fail,
            "slow" => Role::Slow,
            "crash" => Role::Crash,
            "ping-fail" => Role::PingFail,
            "stream" => Role::Stream,
            "flaky" => Role::Flaky,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Echo => "echo",
            Role::Transform => "transform",
            Role::Predict => "predict",
            Role::EchoEnv => "echo-env",
            Role::Forward => "forward",
            Role::Fail => "fail",
            Role::Slow => "slow",
            Role::Crash => "crash",
            Role::PingFail => "ping-fail",
            Role::Stream => "stream",
            Role::Flaky => "flaky",
        }
    }
}

pub struct Settings {
    pub role: Role,
    pub tag: String,
    /// The kernel (UTS) hostname. Containers joining another's network namespace in Docker get
    /// that container's hostname, so `$HOSTNAME` (set per container by smemu) names them better.
    pub hostname: String,
}

impl Settings {
    pub fn from_env() -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|h| h.trim().to_owned())
            .unwrap_or_default();
        let role_name = env("SMEMU_TEST_ROLE").unwrap_or_else(|| "echo".into());
        let role = Role::parse(&role_name).unwrap_or_else(|| {
            // A typo in a test's environment should be loud, not an echo that half-passes.
            eprintln!("unknown SMEMU_TEST_ROLE {role_name:?}");
            std::process::exit(2);
        });
        let tag = env("SMEMU_TEST_TAG").or_else(|| env("HOSTNAME")).unwrap_or_else(|| hostname.clone());
        Settings { role, tag, hostname }
    }
}

/// A variable's value, unset and empty alike counting as absent.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub fn env_u64(name: &str, default: u64) -> u64 {
    env(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}
