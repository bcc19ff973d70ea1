//! The lab's errors: each says what failed and on which file or address.

/// Why the lab could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A file or socket operation failed.
    #[error("{what}")]
    Io {
        /// What was being done ("failed to bind 127.0.0.1:2201").
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The scenario file is invalid.
    #[error("invalid scenario: {message}")]
    Scenario {
        /// What is wrong, naming the rule and field.
        message: String,
    },
    /// The configuration (CLI flags) is invalid.
    #[error("invalid lab configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// Key generation or encoding failed.
    #[error("failed to {what}: {message}")]
    Key {
        /// What was being done.
        what: String,
        /// The key library's message.
        message: String,
    },
}

impl LabError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
        let what = what.into();
        move |source| LabError::Io { what, source }
    }
}
