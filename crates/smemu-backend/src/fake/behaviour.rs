//! What a fake container does: the [`Behaviour`] scripted for its image.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use hyper::StatusCode;

/// How a container of one image behaves. Built from [`Behaviour::echo`] or [`Behaviour::fixed`],
/// then changed with the other methods.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub(super) ping: Ping,
    pub(super) answer: Answer,
    /// How long `/invocations` takes to answer.
    pub(super) answer_delay: Duration,
    /// `Some(code)`: every container of the image exits as soon as it starts.
    pub(super) exits_at_start: Option<i64>,
    /// `GET /execution-parameters` answers 200 with this body; 404 without one.
    pub(super) execution_parameters: Option<Bytes>,
    /// What [`crate::Backend::logs_tail`] returns (the last lines of these).
    pub(super) logs: Vec<String>,
}

#[derive(Debug, Clone)]
pub(super) enum Ping {
    /// 200 after this long.
    Answers(Duration),
    /// This status, at once.
    Fails(StatusCode),
}

#[derive(Debug, Clone)]
pub(super) enum Answer {
    /// The request's body, content type and custom attributes.
    Echo,
    Fixed {
        status: StatusCode,
        content_type: &'static str,
        body: Bytes,
    },
}

impl Behaviour {
    /// Healthy; `/invocations` answers 200 with the request's body, content type and custom
    /// attributes.
    pub fn echo() -> Self {
        Behaviour {
            ping: Ping::Answers(Duration::ZERO),
            answer: Answer::Echo,
            answer_delay: Duration::ZERO,
            exits_at_start: None,
            execution_parameters: None,
            logs: Vec::new(),
        }
    }

    /// Healthy; `/invocations` answers `status` with `body` (`text/plain`), whatever it is sent.
    pub fn fixed(status: u16, body: impl Into<Bytes>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Behaviour {
            answer: Answer::Fixed { status, content_type: "text/plain", body: body.into() },
            ..Behaviour::echo()
        }
    }

    /// `GET /ping` answers `status` (not 200: the container never becomes healthy).
    pub fn ping_fails(mut self, status: u16) -> Self {
        self.ping = Ping::Fails(StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE));
        self
    }

    /// `GET /ping` answers 200, after `delay`.
    pub fn slow_ping(mut self, delay: Duration) -> Self {
        self.ping = Ping::Answers(delay);
        self
    }

    /// `POST /invocations` answers after `delay`.
    pub fn answer_after(mut self, delay: Duration) -> Self {
        self.answer_delay = delay;
        self
    }

    /// The container exits with `code` as soon as it starts ([`crate::Backend::place`] reports `Exited`
    /// with its last log lines, as the Docker backend does for a container that dies at once).
    pub fn exits_at_start(mut self, code: i64) -> Self {
        self.exits_at_start = Some(code);
        self
    }

    /// `GET /execution-parameters` answers 200 with `body` (JSON, as a batch container would).
    pub fn execution_parameters(mut self, body: impl Into<Bytes>) -> Self {
        self.execution_parameters = Some(body.into());
        self
    }

    /// The lines the container "wrote": what [`crate::Backend::logs_tail`] returns.
    pub fn logs<I: IntoIterator<Item = S>, S: Into<String>>(mut self, lines: I) -> Self {
        self.logs = lines.into_iter().map(Into::into).collect();
        self
    }
}

/// An image's behaviour, shared by its containers and changed by [`FakeBackend::script`].
pub(super) type Script = Arc<RwLock<Behaviour>>;

/// What the script says now.
pub(super) fn now(script: &Script) -> Behaviour {
    script.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}
