//! The one error type of aws-app: a message a user can act on, and which exit code it means.
//! Input errors (bad options, a missing prerequisite) exit 2; failed work exits 1. The message
//! is one line; `detail` carries what helps to see why (build output, container logs).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bad input or a missing prerequisite: exit 2, nothing was changed.
    Input,
    /// The work failed for a reason outside the commit (AWS, the network, a lock held too
    /// long, verification): exit 1; the same commit may succeed when tried again.
    Failed,
    /// The commit itself failed: its build, its smoke test or its rollout. Exit 1; `watch`
    /// does not try that commit again.
    CommitFailed,
    /// Stopped by SIGINT/SIGTERM after cleaning up what it had started: exit 130.
    Interrupted,
}

#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub detail: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn input(message: impl Into<String>) -> Self {
        Error { kind: Kind::Input, message: message.into(), detail: None }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Error { kind: Kind::Failed, message: message.into(), detail: None }
    }

    pub fn commit_failed(message: impl Into<String>) -> Self {
        Error { kind: Kind::CommitFailed, message: message.into(), detail: None }
    }

    pub fn interrupted(message: impl Into<String>) -> Self {
        Error { kind: Kind::Interrupted, message: message.into(), detail: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        if !detail.trim().is_empty() {
            self.detail = Some(detail);
        }
        self
    }

    pub fn exit_code(&self) -> i32 {
        match self.kind {
            Kind::Input => 2,
            Kind::Failed | Kind::CommitFailed => 1,
            Kind::Interrupted => 130,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
