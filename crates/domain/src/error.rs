use thiserror::Error;

/// A broken rule of the domain, phrased for the person who broke it.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DomainError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{message}")]
    QuotaExceeded { message: String, resource: String },
    #[error("{0}")]
    NoCapacity(String),
    #[error("{0}")]
    VersionUnavailable(String),
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
}

impl DomainError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}
