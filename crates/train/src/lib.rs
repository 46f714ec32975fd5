//! The built-in model: a small CLIP trained contrastively on procedural image–caption pairs
//! (drawn concepts, written words and mixtures), in which multimodal neurons emerge.

pub mod data;
pub mod decay;
pub mod init;
pub mod recipe;
pub mod trainer;
pub mod zeroshot;

pub use data::{Modality, builtin_tokenizer_files, heldout, tokenizer};
pub use init::{Mimetic, StructuredInit, apply_init};
pub use recipe::{
    Aligned, ModelShape, PatchDropout, Positives, Readout, ResNetShape, SharedConcepts, Sparsity,
    SparsityMeasure, Temperature, TrainConfig,
};
pub use trainer::{
    Event, Metrics, StepLog, Trainer, TrainingImages, contrastive_loss, draw_kept_patches,
    readout_penalty, train, training_loss, zero_shot,
};

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The model refused the configuration or a batch.
    #[error(transparent)]
    Model(#[from] modalscope_model::ModelError),
    /// The recipe cannot be trained.
    #[error("invalid recipe: {0}")]
    Recipe(String),
    /// A checkpoint could not be read or written.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A file could not be read or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
