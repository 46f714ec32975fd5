//! Errors raised while reading weights, bundles and configurations.

use thiserror::Error;

/// Everything that can go wrong when a model is loaded or queried.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The weights file has no tensor of this name.
    #[error("the weights have no tensor named `{0}`")]
    MissingTensor(String),
    /// A tensor exists but its shape does not fit the architecture.
    #[error("tensor `{name}` has shape {found:?}, but the model expects {expected:?}")]
    ShapeMismatch {
        /// Tensor name.
        name: String,
        /// Shape the architecture needs.
        expected: Vec<usize>,
        /// Shape found in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored in a number format the loader does not read.
    #[error(
        "tensor `{name}` is stored as {dtype}, which cannot be read (expected F32, F16 or BF16)"
    )]
    UnsupportedDtype {
        /// Tensor name.
        name: String,
        /// The dtype as the file names it.
        dtype: String,
    },
    /// The bytes are not a readable safetensors file.
    #[error("not a readable safetensors file: {0}")]
    Safetensors(String),
    /// The bytes do not start with the bundle magic.
    #[error("not a modalscope bundle: the file does not start with the `MSCPBNDL` magic")]
    BadMagic,
    /// The bundle was written by a newer format version.
    #[error(
        "bundle format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The file ends before the data it announces.
    #[error("the file is truncated: {what} needs {needed} bytes but only {available} are present")]
    Truncated {
        /// Which part was cut off.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// The checksum does not match the data.
    #[error("the file is corrupt: checksum {found:08x} does not match the recorded {expected:08x}")]
    Corrupt {
        /// Recorded checksum.
        expected: u32,
        /// Checksum of the bytes read.
        found: u32,
    },
    /// The header or configuration could not be parsed or is inconsistent.
    #[error("invalid model description: {0}")]
    InvalidConfig(String),
    /// The weights do not look like any CLIP this crate knows.
    #[error("cannot recognise the architecture: {0}")]
    UnknownArchitecture(String),
    /// A layer name that the model does not have.
    #[error("unknown layer `{name}`; this model has layers such as {examples}")]
    UnknownLayer {
        /// The name asked for.
        name: String,
        /// A few valid names, for the message.
        examples: String,
    },
    /// A unit index beyond the channels of its layer.
    #[error("unit {unit} does not exist: layer `{layer}` has {units} units (0 to {})", units.saturating_sub(1))]
    UnknownUnit {
        /// The layer.
        layer: String,
        /// The unit asked for.
        unit: usize,
        /// Units of the layer.
        units: usize,
    },
    /// Bytes that are not a decodable image.
    #[error("not an image this page can read (PNG, JPEG, GIF, WebP, BMP): {0}")]
    Image(String),
    /// Reading a file from disk failed.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
