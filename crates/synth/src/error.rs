//! Errors of generator configuration.

/// Why a [`crate::GeneratorConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SynthError {
    /// The image size is outside the supported range.
    #[error("image size {0} is outside the supported range 16..=1024")]
    ImageSize(u32),
    /// No concept is enabled.
    #[error("no concept is enabled")]
    NoConcepts,
    /// An enabled concept id is not in `CONCEPTS`.
    #[error("concept id {0} does not exist (there are {1} concepts)")]
    UnknownConcept(usize, usize),
    /// The weights of the sample kinds are negative, not finite or all zero.
    #[error(
        "the weights of drawn, written and mixed samples must be finite, non-negative and not all zero (drawn {0}, written {1}, mixed {2})"
    )]
    Probabilities(f32, f32, f32),
    /// The share of mixed samples captioned by their word alone is not in `[0, 1]`.
    #[error("the share of mixed samples captioned by their word alone must lie in [0, 1], not {0}")]
    WordOnlyShare(f32),
    /// The share of mixed samples labelled with their drawing's own name is not in `[0, 1]`.
    #[error("the share of mixed samples labelled with their own name must lie in [0, 1], not {0}")]
    LabelledShare(f32),
    /// The share of written samples in big letters is not in `[0, 1]`.
    #[error("the share of written samples in big letters must lie in [0, 1], not {0}")]
    BigWordsShare(f32),
    /// The share of written samples that show a decoy word is not in `[0, 1]`.
    #[error("the share of written samples that show a decoy word must lie in [0, 1], not {0}")]
    DecoyShare(f32),
    /// The weight of short names is not a positive finite number.
    #[error("the weight of short names must be a positive finite number, not {0}")]
    ShortWordsWeight(f32),
    /// Mixed samples need a second concept to write on the drawn one.
    #[error("mixed samples need at least two distinct enabled concepts")]
    MixedNeedsTwoConcepts,
}
