//! Surveys a CLIP over an image set, generic over burn's `Backend`: one streaming pass records
//! each neuron's dataset examples (top-k images and where they fired) and samples activation
//! vectors, from which an activation atlas is laid out, gridded and rendered. Results export
//! as static JSON + PNG files and import back, for the page, the CLI and articles.

pub mod atlas;
pub mod error;
pub mod export;
pub mod imageset;
pub mod pass;

pub use atlas::{AtlasConfig, Icon, IconConfig, build_atlas, centre_alignment, render_icons};
pub use error::{Result, SurveyError};
pub use export::{
    ExamplesDoc, ExportFile, Imported, Manifest, export_atlas, export_examples, import,
    manifest_file, write_dir, zip_files,
};
pub use imageset::{ImageSet, Skipped, decode};
pub use pass::{
    LayerExamples, Pass, PassConfig, PassProgress, Samples, Sampling, Survey, activation_map,
    check_image_layer, survey,
};
