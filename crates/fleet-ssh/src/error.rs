//! Errors building a [`crate::Context`], and the failure type sessions use
//! internally before it becomes an [`crate::Outcome`].

use fleet_proto::Status;
use std::path::PathBuf;

/// Why a [`crate::Context`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The known_hosts file exists but could not be read.
    #[error("failed to read known_hosts {path}")]
    KnownHosts {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// libssh2 could not be initialised.
    #[error("failed to initialise libssh2")]
    Init(#[from] ssh2::Error),
}

/// A session failure: its status class and a specific message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub status: Status,
    pub message: String,
}

impl Failure {
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// Classifies a libssh2 error raised while doing `what`.
pub(crate) fn ssh_failure(e: &ssh2::Error, what: &str) -> Failure {
    use ssh2::ErrorCode;
    let code = match e.code() {
        ErrorCode::Session(c) => c,
        ErrorCode::SFTP(c) => c,
    };
    let status = match code {
        -9 | -30 => Status::Timeout,
        -18 | -19 | -48 => Status::AuthFailed,
        _ => Status::ProtocolError,
    };
    let msg = e.message();
    if status == Status::Timeout {
        return Failure::new(status, format!("{what}: timed out"));
    }
    Failure::new(status, format!("{what}: {msg} (libssh2 error {code})"))
}
