//! Neuron analysis on any CLIP, generic over burn's `Backend`: how units respond to sets of
//! images, how well they separate concepts (AUROC) in each modality, and what is built on
//! that: multimodal-neuron rankings with text alignment, lesion experiments, typographic
//! attacks, neuron families, the rendered-text probe (which written words drive a unit) and
//! concept directions (whether a layer carries a concept at all when no one unit does).
//! [`concepts`] holds the concept study's inputs (the probe images drawn and written, the
//! zero-shot prompts) that the command line and the page share.

pub mod attack;
pub mod concepts;
pub mod direction;
pub mod error;
pub mod families;
pub mod lesion;
pub mod multimodal;
pub mod reading;
pub mod response;
pub mod stats;
pub mod zeroshot;

pub use attack::{
    AttackCase, AttackReport, ConceptAttack, UnitChange, attack_report, most_changed_units,
    typographic_attack,
};
pub use direction::{ConceptDirection, DirectionScore, concept_directions};
pub use error::{AnalysisError, Result};
pub use families::{Families, Family, concept_profiles, neuron_families};
pub use lesion::{
    ConceptChange, LesionReport, UnitCost, lesion_experiment, lesion_report, most_needed_first,
    unit_means, unit_sums, units_needed,
};
pub use multimodal::{
    Evidence, MultimodalNeuron, Probe, UnitScore, best_concepts, best_units, concept_margins,
    evidence, layer_responses, margin_lost, multimodal_neurons, rank_units, text_alignments,
    units_for_concept,
};
pub use reading::{WordReading, caption_words, rank_words, reading_responses};
pub use response::{Reduce, unit_responses};
pub use stats::auroc;
pub use zeroshot::{
    ClassAccuracy, ClassPrompts, Confusion, LabelledImages, ZeroShotReport, class_embeddings,
    classify, embed_images, predict, similarities, zero_shot_report,
};
