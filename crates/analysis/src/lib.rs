//! Neuron analysis on any CLIP, generic over burn's `Backend`: how units respond to sets of
//! images, how well they separate concepts (AUROC) in each modality, and the scores built on
//! that.

pub mod multimodal;
pub mod response;
pub mod stats;

pub use multimodal::{Probe, UnitScore, best_concepts, best_units};
pub use response::{Reduce, unit_responses};
pub use stats::auroc;
