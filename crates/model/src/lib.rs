//! CLIP in burn: the ViT and modified-ResNet image towers, the text tower, loading of
//! Hugging Face and OpenAI checkpoints, named activations and compact int8 bundles.
//!
//! Everything is generic over a burn [`Backend`](burn::tensor::backend::Backend) and knows
//! nothing of the DOM, so native tools and the browser share it.

pub mod bundle;
pub mod capture;
pub mod clip;
pub mod config;
pub mod error;
pub mod export;
pub mod init;
pub mod layers;
pub mod lesion;
pub mod naming;
pub mod preprocess;
pub mod resnet;
pub mod text;
pub mod vit;
pub mod weights;

pub use capture::{Activation, Capture};
pub use clip::{Clip, canonical_store, is_neuron_layer, normalize};
pub use config::{Act, ClipConfig, ResNetConfig, TextConfig, VisionConfig, VitConfig};
pub use error::{ModelError, Result};
pub use init::{SeededRng, canonical_shapes, random_store};
pub use lesion::Lesion;
pub use naming::{Naming, infer_config};
pub use preprocess::Preprocessor;
pub use weights::{HostTensor, WeightStore};
