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
