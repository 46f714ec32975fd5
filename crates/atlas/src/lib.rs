//! Data-side algorithms of two neuron views, on plain `f32` vectors (no model, no burn):
//!
//! - [`topk`]: "dataset examples", the images that drive each neuron most, found in one
//!   streaming pass with memory bounded by k per neuron;
//! - [`umap`]: 2-D UMAP layouts (and trustworthiness to judge them);
//! - [`atlas`]: activation-atlas grids (Carter et al. 2019) over a layout, with a JSON export.
//!
//! Everything is single-threaded, deterministic given a seed and builds for
//! `wasm32-unknown-unknown`, so it runs in a browser web worker.

#![warn(missing_docs)]

pub mod atlas;
mod linalg;
mod rng;
pub mod topk;
pub mod umap;

pub use atlas::{Atlas, AtlasError, AtlasParams, Cell, Level};
pub use topk::{Entry, NeuronStats, SpatialLayout, TopK, TopKError};
pub use umap::{Init, KnnMethod, Metric, UmapError, UmapParams, UmapStepper, fit, trustworthiness};
