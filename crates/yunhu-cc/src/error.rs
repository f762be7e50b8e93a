//! Errors of the services, in terms a skin can turn into its own codes.

use yunhu_store::StoreError;

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum CcError {
    /// The named thing does not exist for this tenant.
    #[error("not found: {0}")]
    NotFound(String),
    /// The input is malformed or inconsistent; the text says how.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The input collides with something that exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The request is well-formed but a rule refuses it (a do-not-call number, a rate limit).
    #[error("refused: {0}")]
    Refused(String),
    /// An outside service (an SMS provider) refused the request or could not be reached.
    #[error("upstream: {0}")]
    Upstream(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CcError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => CcError::Conflict(format!("{what} is already taken")),
            other => CcError::Store(other),
        }
    }
}
