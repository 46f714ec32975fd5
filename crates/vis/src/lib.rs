//! Feature visualization: synthesize the images that excite a neuron, a channel, a direction
//! or a text embedding, by gradient ascent on the input, as Lucid and Lucent do.
//!
//! Generic over burn's `AutodiffBackend`, so the same code runs natively (CPU) and in the
//! browser (WebGPU or the wasm CPU backend). Load the model with `Module::no_grad` so only the
//! image receives gradients.

pub mod adam;
pub mod color;
pub mod error;
pub mod objective;
pub mod param;
pub mod render;
pub mod transform;

pub use error::{Result, VisError};
pub use objective::{Objective, Place, Term, normalize_input, unit_values};
pub use param::ParamKind;
pub use render::{Progress, RenderConfig, Rendered, Session, render, to_rgb8};
pub use transform::{Affine, Transforms};
