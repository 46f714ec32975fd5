//! What can go wrong when a visualization is asked for.

use thiserror::Error;

/// Errors raised while building or running a feature visualization.
#[derive(Debug, Error)]
pub enum VisError {
    /// The model refused something (an unknown layer name, typically).
    #[error(transparent)]
    Model(#[from] modalscope_model::ModelError),
    /// A unit index beyond the layer's channels.
    #[error("layer `{layer}` has {channels} units; there is no unit {unit}")]
    UnitOutOfRange {
        /// The layer.
        layer: String,
        /// The unit asked for.
        unit: usize,
        /// How many the layer has.
        channels: usize,
    },
    /// A spatial position outside the layer's grid.
    #[error("layer `{layer}` has a {rows}x{cols} grid; there is no position (x {x}, y {y})")]
    PositionOutOfRange {
        /// The layer.
        layer: String,
        /// Column asked for.
        x: usize,
        /// Row asked for.
        y: usize,
        /// Rows of the grid.
        rows: usize,
        /// Columns of the grid.
        cols: usize,
    },
    /// A direction whose length is not the layer's width.
    #[error("a direction for layer `{layer}` needs {channels} values, not {found}")]
    DirectionLength {
        /// The layer.
        layer: String,
        /// Its width.
        channels: usize,
        /// The length given.
        found: usize,
    },
    /// A text-tower layer cannot be driven by an input image.
    #[error(
        "layer `{0}` belongs to the text tower; feature visualization needs an image-tower layer"
    )]
    NotAnImageLayer(String),
    /// A term names a batch element the render does not have.
    #[error("the objective refers to image {index} of the batch, but the batch has {batch}")]
    BatchOutOfRange {
        /// The element asked for.
        index: usize,
        /// The batch size.
        batch: usize,
    },
    /// Settings that cannot produce an image.
    #[error("invalid render settings: {0}")]
    InvalidConfig(String),
}

/// Result alias for this crate.
pub type Result<T, E = VisError> = std::result::Result<T, E>;
