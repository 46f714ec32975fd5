//! Errors of the analyses.

use modalscope_model::ModelError;
use thiserror::Error;

/// Everything an analysis can refuse.
#[derive(Debug, Error)]
pub enum AnalysisError {
    /// The model refused a layer, unit or input.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The inputs do not fit together (lengths, counts, indices).
    #[error("{0}")]
    Input(String),
}

/// Result alias for this crate.
pub type Result<T, E = AnalysisError> = std::result::Result<T, E>;
