//! Procedural image–caption data, pure Rust and deterministic by seed.
//!
//! Thirty concepts can each be DRAWN with vector shapes (tiny-skia) or WRITTEN as their name
//! (glyph outlines of the DejaVu fonts), or both at once: a drawing of one concept with
//! another's name written on it, the typographic attack. Captions come from a small fixed
//! vocabulary. A small CLIP trained on this develops multimodal neurons; the same generator
//! serves zero-shot evaluation, neuron search, attacks and the page's built-in images.
//!
//! ```
//! use modalscope_synth::{Generator, GeneratorConfig, CONCEPTS};
//! let generator = Generator::new(GeneratorConfig::default(), 7).unwrap();
//! let sample = generator.sample(42);
//! assert_eq!(sample.image.width(), 64);
//! if let Some(word) = sample.written {
//!     assert!(sample.caption.contains(CONCEPTS[word]));
//! }
//! ```

#![warn(missing_docs)]

mod attribute;
mod background;
mod canvas;
mod caption;
mod colour;
mod concept;
mod coverage;
mod draw;
mod error;
mod figure;
mod generator;
mod heldout;
mod rng;
mod scene;
mod text;

pub use attribute::{Position, Size, Style, Tone};
pub use background::{Background, BackgroundKind};
pub use caption::vocabulary;
pub use colour::Colour;
pub use concept::{BUILTIN_MODEL, CONCEPTS, DECOYS, SHORT_NAME, concept_id, is_short};
pub use draw::Drawing;
pub use error::SynthError;
pub use generator::{
    Generator, GeneratorConfig, Sample, SampleKind, render_drawn, render_mixed, render_written,
};
pub use heldout::{HELDOUT_SEED, Modality, ZERO_SHOT_TEMPLATES, render_concept};
pub use scene::{Backing, Lettering, Overlay, PALE_PAPER, Scene};
pub use text::{Typeface, WordBox, WordParams, write_word};
