//! What can go wrong while surveying, each with a message a user can act on.

/// Errors of the survey crate.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    /// The image set holds no decodable image.
    #[error("the image set has no images{}", skipped_note(.skipped, .examples))]
    NoImages {
        /// Files that were not images (or could not be read).
        skipped: usize,
        /// A few of them, `name: reason`.
        examples: Vec<String>,
    },
    /// A zip archive could not be read.
    #[error("cannot read the zip archive: {0}")]
    Zip(String),
    /// A file or folder could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// What was read.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// The layer cannot be surveyed (unknown, text tower, ...).
    #[error("{0}")]
    Layer(String),
    /// Settings that cannot work.
    #[error("invalid settings: {0}")]
    Config(String),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] modalscope_model::ModelError),
    /// The feature visualization failed.
    #[error(transparent)]
    Vis(#[from] modalscope_vis::VisError),
    /// The layout or the atlas grid failed.
    #[error("atlas: {0}")]
    Atlas(String),
    /// The caller cancelled the work.
    #[error("cancelled")]
    Cancelled,
    /// An export could not be written or an import read.
    #[error("export: {0}")]
    Export(String),
}

fn skipped_note(skipped: &usize, examples: &[String]) -> String {
    if *skipped == 0 {
        return String::new();
    }
    format!(
        " ({skipped} file{} skipped: {})",
        if *skipped == 1 { " was" } else { "s were" },
        examples.join("; ")
    )
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, SurveyError>;
