//! Build errors, worded as Docker's classic builder words them.

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `dockerfile parse error line 2: unknown instruction: BOGUS`
    #[error("dockerfile parse error line {line}: {msg}")]
    Parse { line: usize, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    pub fn invalid(msg: impl Into<String>) -> BuildError {
        BuildError::Invalid(msg.into())
    }
}
